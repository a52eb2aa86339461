//! `publish:` never deletes files the tool did not write, and reports what it did.

mod engine_support;

use std::os::unix::fs::PermissionsExt;

use engine_support::{run_counts, Project};

fn spec_publishing_to(dir: &str) -> String {
    format!(
        r#"
stages:
  make:
    kind: command
    params: {{run: "mkdir -p $OUT/sub && printf 'data' > $OUT/sub/f.txt"}}
    publish: {dir}
"#
    )
}

#[test]
fn publish_keeps_foreign_files() {
    let project = Project::new(&spec_publishing_to("out"));
    std::fs::create_dir_all(project.path().join("out")).unwrap();
    std::fs::write(project.path().join("out/keep.txt"), "mine").unwrap();

    let output = project.pipeline(&["run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("out"), "{stderr}");
    assert!(
        stderr.contains("choose another `publish:` path"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/keep.txt")).unwrap(),
        "mine"
    );
    // The stage itself ran and is cached; only publishing failed.
    assert_eq!(run_counts(&output), (1, 0));
}

#[test]
fn publish_replaces_its_own_earlier_tree() {
    let project = Project::new(&spec_publishing_to("out"));
    project.run(&[]);
    assert!(project.path().join("out/.pipeline-published").is_file());

    project.write_spec(&spec_publishing_to("out").replace("sub/f.txt", "sub/g.txt"));
    project.run(&[]);
    assert!(!project.path().join("out/sub/f.txt").exists());
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/sub/g.txt")).unwrap(),
        "data"
    );
}

#[test]
fn publish_rejects_file_added_to_earlier_tree() {
    let project = Project::new(&spec_publishing_to("out"));
    project.run(&[]);
    std::fs::write(project.path().join("out/sub/notes.txt"), "mine").unwrap();

    let output = project.pipeline(&["run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("sub/notes.txt"), "{stderr}");
    assert_eq!(run_counts(&output), (0, 1));
    assert!(project.path().join("out/sub/notes.txt").exists());
}

#[test]
fn publish_into_empty_folder() {
    let project = Project::new(&spec_publishing_to("out"));
    std::fs::create_dir_all(project.path().join("out")).unwrap();
    project.run(&[]);
    assert!(project.path().join("out/sub/f.txt").is_file());
}

#[test]
fn publish_to_pipeline_folder_or_ancestor_exits_2() {
    for dir in [".", "..", "sub/../..", "''"] {
        let project = Project::new(&spec_publishing_to(dir));
        let output = project.pipeline(&["run"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "publish: {dir}: {stderr}");
        assert!(stderr.contains("pipeline.yaml:6:"), "{stderr}");
        assert!(project.path().join("pipeline.yaml").exists());
    }
}

#[test]
fn published_files_follow_umask() {
    let project = Project::new(&spec_publishing_to("out"));
    let output = project
        .command(&["run"])
        .env("SHELL", "/bin/sh")
        .output()
        .unwrap();
    assert!(output.status.success());
    let mode = std::fs::metadata(project.path().join("out/sub/f.txt"))
        .unwrap()
        .permissions()
        .mode();
    // The test process's umask is inherited; with the usual 022 this is 0644, and no umask
    // leaves a published file world-writable unless it allows it.
    // SAFETY: umask(2) only reads and restores this process's mask.
    let umask = unsafe {
        let old = libc::umask(0o022);
        libc::umask(old);
        old
    };
    assert_eq!(mode & 0o777, 0o666 & !(umask as u32));
}

#[test]
fn nested_publish_survives_outer_publish() {
    let spec = r#"
stages:
  outer:
    kind: command
    params: {run: "printf 'outer' > $OUT/report.md"}
    publish: out
  inner:
    kind: command
    params: {run: "printf 'inner' > $OUT/report.md"}
    publish: out/ci
"#;
    let project = Project::new(spec);
    project.run(&["inner"]);
    project.run(&["outer"]);
    project.run(&[]);
    project.write_spec(&spec.replace("'outer'", "'outer 2'"));
    project.run(&[]);
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/report.md")).unwrap(),
        "outer 2"
    );
    assert_eq!(
        std::fs::read_to_string(project.path().join("out/ci/report.md")).unwrap(),
        "inner"
    );
}
