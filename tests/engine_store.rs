//! Store integrity: crashes, concurrent processes and damaged objects.

mod engine_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use engine_support::{files_under, run_counts, wait_for, Project};

#[test]
fn sigkill_mid_stage_keeps_store_consistent() {
    // The first attempt of `slow` leaves a marker in its scratch directory and sleeps. The
    // second finds the marker, because scratch survives a killed attempt, and finishes at once.
    let spec = r#"
stages:
  quick:
    kind: command
    params: {run: "printf quick > $OUT/q.txt"}
  slow:
    kind: command
    inputs: {quick: quick}
    params:
      run: >-
        if [ -f $SCRATCH/started ]; then cat $IN_QUICK/q.txt > $OUT/s.txt;
        else touch $SCRATCH/started; echo $$ > $SCRATCH/pid; exec sleep 30; fi
"#;
    let project = Project::new(spec);
    let mut child = project
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let scratch = project.cache().join("scratch");
    wait_for("the slow stage to start", || {
        files_under(&scratch)
            .iter()
            .any(|path| path.ends_with("pid"))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let pid_file = files_under(&scratch)
        .into_iter()
        .find(|path| path.ends_with("pid"))
        .unwrap();
    let sleeper = std::fs::read_to_string(&pid_file).unwrap();
    let _ = std::process::Command::new("kill")
        .arg("-9")
        .arg(sleeper.trim())
        .status();

    let records = files_under(&project.cache().join("runs"))
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .count();
    assert_eq!(records, 1, "only the finished stage may have a record");

    assert_eq!(project.run(&[]), (1, 1));
    assert!(
        files_under(&scratch).is_empty(),
        "scratch is removed once the record exists"
    );
}

#[test]
fn concurrent_runs_compute_each_stage_once() {
    let project = Project::new("");
    let counter = project.path().join("counter.txt");
    let spec = format!(
        r#"
stages:
  first:
    kind: command
    params: {{run: "echo first >> {counter}; sleep 0.5; echo 1 > $OUT/one"}}
  second:
    kind: command
    inputs: {{first: first}}
    params: {{run: "echo second >> {counter}; sleep 0.2; echo 2 > $OUT/two"}}
  third:
    kind: command
    params: {{run: "echo third >> {counter}; echo 3 > $OUT/three"}}
"#,
        counter = counter.display()
    );
    project.write_spec(&spec);

    let children: Vec<_> = (0..2)
        .map(|_| {
            project
                .command(&["run"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();

    let mut total_ran = 0;
    for output in &outputs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (ran, reused) = run_counts(output);
        assert_eq!(ran + reused, 3);
        total_ran += ran;
    }
    assert_eq!(total_ran, 3);
    let mut lines: Vec<String> = std::fs::read_to_string(&counter)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    assert_eq!(lines, ["first", "second", "third"]);
}

fn flip_first_byte(object: &Path) {
    let mut permissions = std::fs::metadata(object).unwrap().permissions();
    permissions.set_mode(0o644);
    std::fs::set_permissions(object, permissions).unwrap();
    let mut bytes = std::fs::read(object).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(object, bytes).unwrap();
}

const TWO_STAGES: &str = r#"
stages:
  producer:
    kind: command
    params: {run: "printf 'precious bytes' > $OUT/data.bin"}
  consumer:
    kind: command
    inputs: {data: "producer:data.bin"}
    params: {run: "cat $IN_DATA > $OUT/copy.bin"}
"#;

fn producer_object(project: &Project) -> PathBuf {
    let digest = blake3::hash(b"precious bytes").to_hex().to_string();
    project
        .cache()
        .join("objects")
        .join(&digest[..2])
        .join(&digest)
}

#[test]
fn flipped_byte_reported_by_verify() {
    let project = Project::new(TWO_STAGES);
    project.run(&[]);
    flip_first_byte(&producer_object(&project));

    let output = project.pipeline(&["verify"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("producer"),
        "verify did not name the stage: {stdout}"
    );
    assert!(
        stdout.contains("data.bin"),
        "verify did not name the file: {stdout}"
    );

    // Both stages wrote these bytes, so both records lose their object.
    assert_eq!(
        project.reason("producer").as_deref(),
        Some("output damaged")
    );
    let (ran, _) = project.run(&[]);
    assert!(ran >= 1);
    let consumer_copy = project.pipeline(&["verify"]);
    assert!(consumer_copy.status.success());
}

#[test]
fn flipped_byte_reruns_producer_without_verify() {
    let project = Project::new(TWO_STAGES);
    project.run(&[]);
    flip_first_byte(&producer_object(&project));

    assert_eq!(
        project.reason("producer").as_deref(),
        Some("output damaged")
    );
    let (ran, _) = project.run(&[]);
    assert!(ran >= 1, "the damaged stage must run again");
    let repaired = std::fs::read(producer_object(&project)).unwrap();
    assert_eq!(repaired, b"precious bytes");
}

#[test]
fn sigint_cancels_running_stage_cleanly() {
    let spec = r#"
stages:
  slow:
    kind: command
    params: {run: "touch $SCRATCH/started; sleep 30; echo done > $OUT/d"}
"#;
    let project = Project::new(spec);
    let child = project
        .command(&["run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let scratch = project.cache().join("scratch");
    wait_for("the slow stage to start", || {
        files_under(&scratch)
            .iter()
            .any(|path| path.ends_with("started"))
    });

    let started = Instant::now();
    let status = std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "Ctrl-C did not stop the run promptly"
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(run_counts(&output), (0, 0));

    assert!(
        files_under(&project.cache().join("tmp")).is_empty(),
        "tmp/ must be cleaned"
    );
    assert!(!files_under(&scratch).is_empty(), "scratch/ must be kept");
    assert!(files_under(&project.cache().join("runs"))
        .iter()
        .all(|path| path.extension().is_some_and(|extension| extension == "log")));
}

#[test]
fn run_waiting_on_lock_says_so_once() {
    let spec = r#"
stages:
  first:
    kind: command
    params: {run: "touch $SCRATCH/started; sleep 1; echo 1 > $OUT/a"}
  second:
    kind: command
    params: {run: "sleep 1; echo 2 > $OUT/b"}
"#;
    let project = Project::new(spec);
    let holder = project
        .command(&["run", "--jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let scratch = project.cache().join("scratch");
    wait_for("the first run to start", || {
        files_under(&scratch)
            .iter()
            .any(|path| path.ends_with("started"))
    });
    let waiter = project.pipeline(&["run", "--jobs", "2"]);
    let holder = holder.wait_with_output().unwrap();
    assert!(holder.status.success());

    let stderr = String::from_utf8_lossy(&waiter.stderr);
    assert!(waiter.status.success(), "{stderr}");
    assert_eq!(run_counts(&waiter), (0, 2));
    assert_eq!(
        stderr
            .matches("waiting for another pipeline process")
            .count(),
        1,
        "{stderr}"
    );
}
