//! SIGTERM stops a run like Ctrl-C, and a `command` stage's child dies with the pipeline.

mod engine_support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use engine_support::{files_under, run_counts, wait_for, Project};

const SLOW: &str = r#"
stages:
  slow:
    kind: command
    params: {run: "echo $$ > $SCRATCH/pid; exec sleep 30"}
"#;

fn child_pid(project: &Project) -> u32 {
    let scratch = project.cache().join("scratch");
    let mut pid = None;
    wait_for("the slow stage to start", || {
        pid = files_under(&scratch)
            .iter()
            .find(|path| path.ends_with("pid"))
            .and_then(|path| std::fs::read_to_string(path).ok())
            .and_then(|text| text.trim().parse().ok());
        pid.is_some()
    });
    pid.unwrap()
}

/// Whether `pid` runs (a zombie waiting for its reaper counts as gone).
fn is_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn sigterm_cancels_running_stage_cleanly() {
    let project = Project::new(SLOW);
    let child = project
        .command(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sleeper = child_pid(&project);

    let started = Instant::now();
    // SAFETY: kill(2) on the child this test started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let output = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        output.status.code(),
        Some(1),
        "SIGTERM must end with exit 1"
    );
    assert_eq!(run_counts(&output), (0, 0));
    assert!(files_under(&project.cache().join("tmp")).is_empty());
    assert!(!files_under(&project.cache().join("scratch")).is_empty());
    assert!(!is_running(sleeper));

    // The scratch folder the stage left is what its next run resumes from.
    let status = project.pipeline(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("slow  stale (never run; the next run resumes an interrupted one)"),
        "{text}"
    );
    let json = project.pipeline(&["status", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows[0]["resumable"], serde_json::Value::Bool(true));
}

#[test]
fn sigkill_takes_command_child_along() {
    let project = Project::new(SLOW);
    let mut child = project
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sleeper = child_pid(&project);
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for("the command's process to die", || !is_running(sleeper));
}

/// Three stages of which `--jobs 1` runs one at a time.
const QUEUED: &str = r#"
stages:
  one:
    kind: command
    params: {run: "echo $$ > $SCRATCH/pid; exec sleep 30"}
  two:
    kind: command
    params: {run: "echo $$ > $SCRATCH/pid; exec sleep 31"}
  three:
    kind: command
    params: {run: "echo $$ > $SCRATCH/pid; exec sleep 32"}
"#;

#[test]
fn interrupt_starts_no_waiting_stage() {
    let project = Project::new(QUEUED);
    let child = project
        .command(&["run", "--jobs", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child_pid(&project);
    // SAFETY: kill(2) on the child this test started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let started = files_under(&project.cache().join("scratch"))
        .iter()
        .filter(|path| path.ends_with("pid"))
        .count();
    assert_eq!(started, 1, "{stderr}");
    assert!(stderr.matches("ERROR").count() <= 1, "{stderr}");
    assert!(files_under(&project.cache().join("tmp")).is_empty());
}
