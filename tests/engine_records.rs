//! Damaged run records, name records and objects: `status` reports them without changing the
//! cache, `verify` removes them, `gc` and `run` get past them.

mod engine_support;

use std::path::{Path, PathBuf};

use engine_support::Project;

const TWO_STAGES: &str = r#"
stages:
  producer:
    kind: command
    params: {run: "printf 'precious bytes' > $OUT/data.bin"}
  consumer:
    kind: command
    inputs: {data: "producer:data.bin"}
    params: {run: "cat $IN_DATA > $OUT/copy.bin; printf x >> $OUT/copy.bin"}
"#;

fn record_of(project: &Project, stage: &str) -> PathBuf {
    let runs = project.cache().join("runs");
    std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .find(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            text.contains(&format!("\"stage\": \"{stage}\""))
        })
        .unwrap_or_else(|| panic!("no record of stage {stage}"))
}

fn truncate(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

fn producer_object(project: &Project) -> PathBuf {
    let digest = blake3::hash(b"precious bytes").to_hex().to_string();
    project
        .cache()
        .join("objects")
        .join(&digest[..2])
        .join(&digest)
}

#[test]
fn truncated_record_is_damage_not_failure() {
    let project = Project::new(TWO_STAGES);
    project.run(&[]);
    let record = record_of(&project, "producer");
    truncate(&record);

    assert_eq!(
        project.reason("producer").as_deref(),
        Some("output damaged")
    );
    assert!(record.exists(), "status must not remove the record");

    let output = project.pipeline(&["verify"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&record.display().to_string()),
        "verify did not name the record: {stdout}"
    );
    assert!(!record.exists(), "verify must remove the record");
    assert_eq!(
        project.reason("producer").as_deref(),
        Some("output damaged")
    );
    assert_eq!(project.run(&[]), (1, 1));
    let gc = project.pipeline(&["gc", "-f", "pipeline.yaml"]);
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
}

#[test]
fn truncated_record_reruns_without_verify() {
    let project = Project::new(TWO_STAGES);
    project.run(&[]);
    truncate(&record_of(&project, "consumer"));
    let gc = project.pipeline(&["gc", "-f", "pipeline.yaml"]);
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert_eq!(project.run(&[]), (1, 1));
}

#[test]
fn truncated_name_record_keeps_status_working() {
    let project = Project::new(TWO_STAGES);
    project.run(&[]);
    let name = project.cache().join("names/producer.json");
    truncate(&name);
    assert_eq!(project.reason("producer"), None);

    project.write_spec(&TWO_STAGES.replace("precious bytes", "other bytes"));
    assert_eq!(
        project.reason("producer").as_deref(),
        Some("output damaged")
    );
    let output = project.pipeline(&["verify"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("names/producer.json"));
    assert!(!name.exists());
}

#[test]
fn object_replaced_by_folder_is_damage() {
    let project = Project::new(TWO_STAGES);
    project.run(&[]);
    let object = producer_object(&project);
    std::fs::remove_file(&object).unwrap();
    std::fs::create_dir(&object).unwrap();

    assert_eq!(
        project.reason("producer").as_deref(),
        Some("output damaged")
    );
    assert!(object.is_dir(), "status must not remove the object");

    let output = project.pipeline(&["verify"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("Is a directory"), "{stderr}");
    assert!(!object.exists(), "verify must remove the folder");

    // Only the producer's object was damaged; the consumer's own output is intact.
    assert_eq!(project.run(&[]), (1, 1));
    assert_eq!(std::fs::read(&object).unwrap(), b"precious bytes");
}

#[test]
fn object_folder_does_not_stop_gc_or_run() {
    let project = Project::new(TWO_STAGES);
    project.run(&[]);
    let object = producer_object(&project);
    std::fs::remove_file(&object).unwrap();
    std::fs::create_dir(&object).unwrap();

    let gc = project.pipeline(&["gc", "-f", "pipeline.yaml"]);
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert_eq!(project.run(&[]), (2, 0));
}

#[test]
fn status_leaves_damaged_object_in_place() {
    let project = Project::new(TWO_STAGES);
    project.run(&[]);
    let object = producer_object(&project);
    let mut permissions = std::fs::metadata(&object).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&object, permissions).unwrap();
    std::fs::write(&object, b"tampered bytes").unwrap();

    assert_eq!(
        project.reason("producer").as_deref(),
        Some("output damaged")
    );
    assert_eq!(std::fs::read(&object).unwrap(), b"tampered bytes");
}

#[test]
fn status_creates_no_missing_cache() {
    let project = Project::new(TWO_STAGES);
    let output = project.pipeline(&["status", "--cache", "typo/cache"]);
    assert!(output.status.success());
    assert!(!project.path().join("typo").exists());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("typo/cache"), "{stderr}");
}

#[test]
fn deleted_record_shows_never_run() {
    let project = Project::new(TWO_STAGES);
    project.run(&[]);
    std::fs::remove_file(record_of(&project, "producer")).unwrap();
    assert_eq!(project.reason("producer").as_deref(), Some("never run"));
}

#[test]
fn gc_counts_removed_scratch() {
    let spec = r#"
stages:
  resumable:
    kind: command
    params: {run: "head -c 1000 /dev/zero > $SCRATCH/state; exit 3"}
"#;
    let project = Project::new(spec);
    let failed = project.pipeline(&["run"]);
    assert_eq!(failed.status.code(), Some(1));
    project.write_spec(&spec.replace("exit 3", "exit 4"));

    let gc = project.pipeline(&["gc", "-f", "pipeline.yaml"]);
    let stdout = String::from_utf8_lossy(&gc.stdout);
    assert!(
        gc.status.success(),
        "{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert!(
        stdout.contains("1 scratch or tmp directories (1000 bytes)"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_dir(project.cache().join("scratch"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn cache_that_is_a_file_is_named_once() {
    let project = Project::new(TWO_STAGES);
    std::fs::write(project.path().join("not-a-folder"), "x").unwrap();
    for command in ["run", "status", "verify"] {
        for cache in ["not-a-folder", "not-a-folder/cache"] {
            let output = project.pipeline(&[command, "--cache", cache]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
            assert!(
                stderr.contains(&format!("cache {cache} is not a directory")),
                "{command}: {stderr}"
            );
            assert_eq!(stderr.matches("os error").count(), 0, "{stderr}");
        }
    }
}
