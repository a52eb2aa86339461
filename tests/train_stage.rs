//! The `train` stage run by the binary: a run killed with SIGKILL mid-training resumes from
//! the checkpoint in its scratch directory when `pipeline run` is repeated.

mod engine_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use engine_support::Project;

/// Iterations of the whole run and the checkpoint interval.
const ITERATIONS: usize = 300;
const CHECKPOINT_EVERY: usize = 20;

fn fixture_images() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/inception/images");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

/// Writes a dataset folder in the CycleGAN layout with three photographs per training domain and
/// one per test domain.
fn write_dataset(images: &Path, dataset: &Path) {
    let layout = [
        ("trainA", 0..3),
        ("trainB", 6..9),
        ("testA", 3..4),
        ("testB", 9..10),
    ];
    for (folder, indices) in layout {
        std::fs::create_dir_all(dataset.join(folder)).unwrap();
        for index in indices {
            let name = format!("{index:02}.png");
            std::fs::copy(images.join(&name), dataset.join(folder).join(&name)).unwrap();
        }
    }
}

fn spec(dataset: &Path) -> String {
    format!(
        r#"
stages:
  tiny:
    kind: dataset
    params: {{name: tiny, archive: "{dataset}"}}
  train:
    kind: train
    inputs: {{dataset: tiny}}
    params:
      size: 16
      ngf: 4
      ndf: 4
      n_res: 1
      epochs: 1
      decay_from_epoch: 1
      iterations_per_epoch: {ITERATIONS}
      checkpoint_every: {CHECKPOINT_EVERY}
      sample_every: 0
"#,
        dataset = dataset.display()
    )
}

fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_named(&path, name));
        } else if path.file_name().is_some_and(|file| file == name) {
            found.push(path);
        }
    }
    found
}

/// Reads the log of the train stage's last run, found through its run record.
fn train_log(project: &Project) -> String {
    let name: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.cache().join("names/train.json")).unwrap())
            .unwrap();
    let key = name["key"].as_str().expect("names/train.json has a key");
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(project.cache().join(format!("runs/{key}.json"))).unwrap(),
    )
    .unwrap();
    let log = record["log"]
        .as_str()
        .expect("the run record names its log");
    let log = Path::new(log);
    let log = if log.is_absolute() {
        log.to_path_buf()
    } else {
        project.cache().join(log)
    };
    std::fs::read_to_string(&log).unwrap_or_else(|error| panic!("{}: {error}", log.display()))
}

#[test]
fn killed_training_resumes_from_checkpoint() {
    let Some(images) = fixture_images() else {
        return;
    };
    let dataset_dir = tempfile::tempdir().unwrap();
    write_dataset(&images, dataset_dir.path());
    let project = Project::new(&spec(dataset_dir.path()));

    let mut child = project
        .command(&["run", "--jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let scratch = project.cache().join("scratch");
    let deadline = Instant::now() + Duration::from_secs(300);
    while files_named(&scratch, "state.safetensors").is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("pipeline run ended ({status}) before the first checkpoint");
        }
        assert!(Instant::now() < deadline, "no checkpoint after 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Training runs in the pipeline process, so SIGKILL stops it at once.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !project.cache().join("names/train.json").exists(),
        "the killed run finished before the kill; raise ITERATIONS"
    );

    assert_eq!(
        project.run(&[]),
        (1, 1),
        "train runs again, the dataset is reused"
    );
    let log = train_log(&project);
    let finished = log
        .lines()
        .find(|line| line.contains("training finished"))
        .unwrap_or_else(|| panic!("no summary in the log:\n{log}"));
    assert!(
        finished.contains(&format!("iterations={ITERATIONS}")),
        "{finished}"
    );
    let resumed_from: usize = finished
        .split("resumed_from=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no resumed_from in {finished}"));
    assert!(resumed_from >= CHECKPOINT_EVERY, "{finished}");
    assert_eq!(resumed_from % CHECKPOINT_EVERY, 0, "{finished}");
    assert!(
        files_named(&scratch, "state.safetensors").is_empty(),
        "scratch is removed once the record exists"
    );
}
