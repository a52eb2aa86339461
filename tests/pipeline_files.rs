//! The project's pipeline files (`pipeline.yaml` and `pipelines/*.yaml`) validate and expand
//! to the stages they are meant to have, checked through `pipeline status --json` on an
//! empty cache. Nothing runs and nothing is downloaded.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

const REPOSITORY: &str = env!("CARGO_MANIFEST_DIR");

/// The four FID stages of horse2zebra, one per training scheme and side, named as the report
/// expects them.
const HORSE2ZEBRA_FID: [&str; 4] = [
    "fid.centered-square.A",
    "fid.centered-square.B",
    "fid.multi-rectangles.A",
    "fid.multi-rectangles.B",
];

/// Lists every project pipeline file: `pipeline.yaml`, then `pipelines/*.yaml` sorted.
fn project_files() -> Vec<PathBuf> {
    let mut files = vec![Path::new(REPOSITORY).join("pipeline.yaml")];
    let mut others: Vec<PathBuf> = std::fs::read_dir(Path::new(REPOSITORY).join("pipelines"))
        .expect("list pipelines/")
        .map(|entry| entry.expect("read pipelines/").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    others.sort();
    files.extend(others);
    files
}

fn status(file: &Path, cache: &Path, targets: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pipeline"));
    command
        .arg("status")
        .args(targets)
        .arg("--json")
        .arg("-f")
        .arg(file)
        .arg("--cache")
        .arg(cache)
        .current_dir(REPOSITORY)
        .env_remove("RUST_LOG");
    command.output().expect("start pipeline")
}

/// Runs `pipeline status --json` and returns its rows as (stage, state, reason). Panics,
/// naming the file, when it does not validate.
fn status_rows(file: &Path, targets: &[&str]) -> Vec<(String, String, Option<String>)> {
    let cache = tempfile::tempdir().unwrap();
    let output = status(file, cache.path(), targets);
    assert!(
        output.status.success(),
        "{} does not validate: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{}: status --json: {error}", file.display()));
    rows.as_array()
        .expect("status --json prints an array")
        .iter()
        .map(|row| {
            (
                row["stage"].as_str().expect("stage").to_string(),
                row["state"].as_str().expect("state").to_string(),
                row["reason"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn stage_names(rows: &[(String, String, Option<String>)]) -> BTreeSet<String> {
    rows.iter().map(|(stage, _, _)| stage.clone()).collect()
}

/// Stage names starting with `prefix`.
fn with_prefix<'a>(names: &'a BTreeSet<String>, prefix: &str) -> Vec<&'a str> {
    names
        .iter()
        .filter(|name| name.starts_with(prefix))
        .map(String::as_str)
        .collect()
}

#[test]
fn every_file_validates_with_every_stage_never_run() {
    let files = project_files();
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        let rows = status_rows(file, &[]);
        assert!(!rows.is_empty(), "{}: no stages", file.display());
        for (stage, state, reason) in &rows {
            assert_eq!(state, "stale", "{}: {stage}", file.display());
            assert_eq!(
                reason.as_deref(),
                Some("never run"),
                "{}: {stage}",
                file.display()
            );
        }
        assert_eq!(
            stage_names(&rows).len(),
            rows.len(),
            "{}: a stage is listed twice",
            file.display()
        );
    }
}

#[test]
fn default_and_ci_files_have_fid_matrix_stages() {
    for name in ["pipeline.yaml", "pipelines/ci.yaml"] {
        let file = Path::new(REPOSITORY).join(name);
        let names = stage_names(&status_rows(&file, &[]));
        // 1 dataset, 1 weights, 3 mask banks, 1 attention-map resize, 1 attention bank,
        // 2 training runs, 4 translations, 6 grids, 4 + 12 feature tables, 4 FID, 1 report.
        assert_eq!(names.len(), 40, "{name}: {names:?}");
        assert_eq!(with_prefix(&names, "fid."), HORSE2ZEBRA_FID, "{name}");
        assert!(names.contains("report"), "{name}");
        assert_eq!(with_prefix(&names, "features.").len(), 12, "{name}");

        // The target reaches every stage of the file: the report consumes them all.
        let target = stage_names(&status_rows(&file, &["fid-matrix"]));
        assert_eq!(target, names, "{name}");
    }
}

#[test]
fn paper_file_covers_four_datasets() {
    let file = Path::new(REPOSITORY).join("pipelines/paper.yaml");
    let names = stage_names(&status_rows(&file, &[]));
    // horse2zebra: the 40 stages of the default. monet2photo and vangogh2photo: per dataset
    // 1 dataset, 2 training runs, 4 translations, 6 grids, 4 + 12 feature tables, 4 FID and
    // 1 report. MNIST-SVHN: the same plus 3 mask banks of its own.
    assert_eq!(names.len(), 40 + 2 * 34 + 37, "{names:?}");
    for dataset in ["horse2zebra", "monet2photo", "vangogh2photo", "mnist-svhn"] {
        assert!(names.contains(dataset), "dataset stage {dataset}");
    }
    assert_eq!(with_prefix(&names, "fid."), HORSE2ZEBRA_FID);
    for prefix in [
        "painting-fid.monet2photo.",
        "painting-fid.vangogh2photo.",
        "digits-fid.",
    ] {
        let fid = with_prefix(&names, prefix);
        let sides: Vec<String> = fid
            .iter()
            .map(|name| name.strip_prefix(prefix).unwrap().to_string())
            .collect();
        assert_eq!(
            sides,
            [
                "centered-square.A",
                "centered-square.B",
                "multi-rectangles.A",
                "multi-rectangles.B"
            ],
            "{prefix}"
        );
    }
    for report in [
        "report",
        "painting-report.monet2photo",
        "painting-report.vangogh2photo",
        "digits-report",
    ] {
        assert!(names.contains(report), "{report}");
    }

    // `fid-matrix` stays the horse2zebra report, as in the default file.
    let horse2zebra = stage_names(&status_rows(&file, &["fid-matrix"]));
    assert_eq!(horse2zebra.len(), 40, "{horse2zebra:?}");
    for name in &horse2zebra {
        let other_dataset =
            name.starts_with("painting-") || name.starts_with("digits-") || name == "mnist-svhn";
        assert!(!other_dataset, "fid-matrix reaches {name}");
    }

    let everything = stage_names(&status_rows(&file, &["paper"]));
    assert_eq!(everything, names);
}

#[test]
fn paper_file_trains_at_paper_sizes() {
    let file = Path::new(REPOSITORY).join("pipelines/paper.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let spec: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    let vars = &spec["vars"];
    assert_eq!(vars["size"], 128);
    assert_eq!(vars["digit_size"], 32);
    assert_eq!(vars["width"], 64);
    assert_eq!(vars["epochs"], 200);
    assert_eq!(vars["decay_from_epoch"], 100);
    for stage in ["train", "painting-train", "digits-train"] {
        let params = &spec["stages"][stage]["params"];
        assert_eq!(params["n_res"], 3, "{stage}");
        assert_eq!(params["discriminator"], "simple", "{stage}");
        assert_eq!(params["ngf"], "${vars.width}", "{stage}");
        assert_eq!(params["ndf"], "${vars.width}", "{stage}");
        assert_eq!(params["epochs"], "${vars.epochs}", "{stage}");
        assert!(params.get("iterations_per_epoch").is_none(), "{stage}");
        assert!(params.get("train_limit").is_none(), "{stage}");
        let schemes = &spec["stages"][stage]["matrix"]["scheme"];
        assert_eq!(
            schemes,
            &serde_json::json!(["centered-square", "multi-rectangles"]),
            "{stage}"
        );
    }
}
