//! `pipeline run` on a spec with a `dataset` and a `resize` stage: the binary builds MNIST
//! digits, resizes them, records the outputs and reuses both stages on a second run.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Content digest of MNIST's decompressed training images and labels, computed independently
/// with Python's blake3 over the sorted (name length, name, byte length, bytes) records.
const MNIST_DIGEST: &str = "3f03808efaf24905c9799c721429e3cd5c80cbce9a7d705086ded2df63f585fc";

fn shared(relative: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(relative);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipped: {} not found", path.display());
        None
    }
}

/// Runs `pipeline run` in `project` and returns the last line of its standard output.
fn pipeline_run(project: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .current_dir(project)
        .args(["run", "--jobs", "1"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pipeline run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    stdout.lines().last().unwrap_or_default().to_owned()
}

/// Returns the (path, digest) of every file in the output of `stage`, from its run record.
fn recorded_files(project: &Path, stage: &str) -> Vec<(String, String)> {
    for entry in std::fs::read_dir(project.join("cache/runs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let record: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        if record["stage"] != stage {
            continue;
        }
        return record["manifest"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["kind"] == "file")
            .map(|entry| {
                let path = entry["path"].as_str().unwrap().to_owned();
                (path, entry["digest"].as_str().unwrap().to_owned())
            })
            .collect();
    }
    panic!("no run record for stage {stage}");
}

#[test]
fn mnist_spec_runs_then_reuses() {
    let Some(mnist) = shared("datasets/mnist") else {
        return;
    };
    let project = tempfile::tempdir().unwrap();
    let spec = format!(
        "stages:\n  \
           mnist:\n    \
             kind: dataset\n    \
             params: {{name: mnist, archive: \"{}\", digest: {MNIST_DIGEST}, limit_per_split: 20}}\n  \
           digits:\n    \
             kind: resize\n    \
             inputs: {{dataset: mnist}}\n    \
             params: {{size: 32}}\n",
        mnist.display()
    );
    std::fs::write(project.path().join("pipeline.yaml"), spec).unwrap();

    assert_eq!(
        pipeline_run(project.path()),
        "2 stages run, 0 reused from cache"
    );
    let files = recorded_files(project.path(), "digits");
    for folder in ["trainA/", "testA/"] {
        let count = files
            .iter()
            .filter(|(path, _)| path.starts_with(folder) && path.ends_with(".png"))
            .count();
        assert_eq!(count, 20, "{folder}");
    }
    assert!(files.iter().all(|(path, _)| !path.starts_with("trainB/")));

    let (_, digest) = files
        .iter()
        .find(|(path, _)| path == "testA/00039.png")
        .expect("the last test digit is recorded");
    let object = project
        .path()
        .join("cache/objects")
        .join(&digest[..2])
        .join(digest);
    let png = std::fs::read(object).unwrap();
    assert_eq!(&png[16..24], &[0, 0, 0, 32, 0, 0, 0, 32], "32x32 PNG");

    assert_eq!(
        pipeline_run(project.path()),
        "0 stages run, 2 reused from cache"
    );
}

#[test]
fn zero_limit_per_split_is_spec_error() {
    let project = tempfile::tempdir().unwrap();
    let spec = "stages:\n  digits:\n    kind: dataset\n    \
                params: {name: mnist, limit_per_split: 0}\n";
    std::fs::write(project.path().join("pipeline.yaml"), spec).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .current_dir(project.path())
        .args(["run", "--jobs", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`limit_per_split` must be at least 1"),
        "{stderr}"
    );
    assert!(!project.path().join("data").exists(), "{stderr}");
}
