//! `pipeline fid` run as a binary on the reference features in `../shared/fixtures/inception`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fid::FeatureTable;

/// The FID of fixture rows 0-5 vs 6-11 by the eigenvalue route (`fid.json`, `fid_eigen`).
/// numpy's value carries about 3e-5 of eigensolver rounding noise (the covariances have rank
/// 5), so it is compared within 1e-6 relative, the acceptance tolerance for this case.
const FID_SIX_VS_SIX: f64 = 288.94876530506525;

fn assert_fid_close(value: f64, what: &str) {
    let relative = (value - FID_SIX_VS_SIX).abs() / FID_SIX_VS_SIX;
    assert!(relative <= 1e-6, "{what}: FID {value} vs {FID_SIX_VS_SIX}");
}
/// clean-fid's KID of the same rows in float64 (`fid.json`, `kid_6_vs_6`).
const KID_SIX_VS_SIX: f64 = 0.15035690902045973;

fn fixture_features() -> Option<PathBuf> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/inception/features.npy"
    ));
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipping: {} is absent", path.display());
        None
    }
}

/// Writes fixture rows 0-5 (horses) and 6-11 (zebras) as two feature files in `dir`.
fn write_halves(features: &Path, dir: &Path, extension: &str) -> (PathBuf, PathBuf) {
    let table = FeatureTable::read(features).unwrap();
    let half = 6 * table.dim;
    let names = |range: std::ops::Range<usize>| range.map(|i| format!("{i:02}.png")).collect();
    let horses = FeatureTable::new(names(0..6), table.features[..half].to_vec(), table.dim);
    let zebras = FeatureTable::new(names(6..12), table.features[half..].to_vec(), table.dim);
    let (a, b) = (
        dir.join(format!("horses.{extension}")),
        dir.join(format!("zebras.{extension}")),
    );
    horses.unwrap().write(&a).unwrap();
    zebras.unwrap().write(&b).unwrap();
    (a, b)
}

fn pipeline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pipeline"))
        .args(args)
        .output()
        .expect("run pipeline")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn last_value(lines: &[String], prefix: &str) -> f64 {
    let line = lines.last().expect("no stdout");
    line.strip_prefix(prefix)
        .unwrap_or_else(|| panic!("last line {line:?} does not start with {prefix:?}"))
        .trim()
        .parse()
        .unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn fid_of_feature_files_matches_reference() {
    let Some(features) = fixture_features() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for extension in ["npy", "arrow"] {
        let (a, b) = write_halves(&features, dir.path(), extension);
        let output = pipeline(&["fid", path_str(&a), path_str(&b)]);
        assert!(output.status.success(), "{output:?}");
        let lines = stdout_lines(&output);
        assert_fid_close(last_value(&lines, "FID: "), extension);
        assert_eq!(lines.last().unwrap().split('.').nth(1).unwrap().len(), 6);
    }
}

#[test]
fn kid_line_precedes_fid_line() {
    let Some(features) = fixture_features() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = write_halves(&features, dir.path(), "npy");
    let output = pipeline(&["fid", path_str(&a), path_str(&b), "--kid"]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);
    assert!(lines.len() >= 2, "{lines:?}");

    let kid_line = &lines[lines.len() - 2];
    let kid_text = kid_line.strip_prefix("KID: ").expect(kid_line);
    let (mean, std) = kid_text.split_once(" +- ").expect(kid_line);
    let mean: f64 = mean.parse().unwrap();
    assert!((mean - KID_SIX_VS_SIX).abs() < 1e-6, "{kid_line}");
    assert_eq!(std.parse::<f64>().unwrap(), 0.0, "{kid_line}");
    assert_fid_close(last_value(&lines, "FID: "), "with --kid");
}

#[test]
fn saved_stats_give_same_fid() {
    let Some(features) = fixture_features() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = write_halves(&features, dir.path(), "npy");
    let stats = dir.path().join("horses.npz");
    let saved = pipeline(&["fid", "--save-stats", path_str(&a), path_str(&stats)]);
    assert!(saved.status.success(), "{saved:?}");
    assert!(stats.is_file());

    let output = pipeline(&["fid", path_str(&stats), path_str(&b)]);
    assert!(output.status.success(), "{output:?}");
    assert_fid_close(last_value(&stdout_lines(&output), "FID: "), "from .npz");
}

#[test]
fn kid_with_npz_input_fails() {
    let Some(features) = fixture_features() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = write_halves(&features, dir.path(), "npy");
    let stats = dir.path().join("horses.npz");
    assert!(
        pipeline(&["fid", "--save-stats", path_str(&a), path_str(&stats)])
            .status
            .success()
    );
    let output = pipeline(&["fid", path_str(&stats), path_str(&b), "--kid"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains(".npz"));
}

#[test]
fn missing_input_exits_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.npy");
    let output = pipeline(&["fid", path_str(&missing), path_str(&missing)]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.npy"));
}

#[test]
fn one_path_is_bad_usage() {
    let output = pipeline(&["fid", "only-one.npy"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

/// Copies fixture photographs `indices` into a new folder `dir/name`.
fn photo_folder(dir: &Path, name: &str, indices: std::ops::Range<usize>) -> Option<PathBuf> {
    let images = fixture_features()?.with_file_name("images");
    let folder = dir.join(name);
    std::fs::create_dir(&folder).unwrap();
    for index in indices {
        let file = format!("{index:02}.png");
        std::fs::copy(images.join(&file), folder.join(&file)).unwrap();
    }
    Some(folder)
}

#[test]
fn image_folders_match_reference() {
    let dir = tempfile::tempdir().unwrap();
    let Some(horses) = photo_folder(dir.path(), "horses", 0..6) else {
        return;
    };
    let Some(zebras) = photo_folder(dir.path(), "zebras", 6..12) else {
        return;
    };
    let output = pipeline(&[
        "fid",
        path_str(&horses),
        path_str(&zebras),
        "--kid",
        "--batch",
        "4",
    ]);
    assert!(output.status.success(), "{output:?}");
    let lines = stdout_lines(&output);

    let kid_line = &lines[lines.len() - 2];
    let kid_text = kid_line.strip_prefix("KID: ").expect(kid_line);
    let mean: f64 = kid_text
        .split_once(" +- ")
        .expect(kid_line)
        .0
        .parse()
        .unwrap();
    assert!((mean - KID_SIX_VS_SIX).abs() < 1e-6, "{kid_line}");
    assert_fid_close(last_value(&lines, "FID: "), "image folders");
}

#[test]
fn saved_stats_of_folder_give_same_fid() {
    let Some(features) = fixture_features() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(horses) = photo_folder(dir.path(), "horses", 0..6) else {
        return;
    };
    let (_, zebras) = write_halves(&features, dir.path(), "npy");
    let stats = dir.path().join("horses.npz");
    let saved = pipeline(&["fid", "--save-stats", path_str(&horses), path_str(&stats)]);
    assert!(saved.status.success(), "{saved:?}");
    assert!(stdout_lines(&saved).is_empty(), "{saved:?}");

    let output = pipeline(&["fid", path_str(&stats), path_str(&zebras)]);
    assert!(output.status.success(), "{output:?}");
    assert_fid_close(last_value(&stdout_lines(&output), "FID: "), "folder .npz");
}

#[test]
fn drop_last_batch_keeps_leading_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Four rows in general position, then one far-off row that --drop-last-batch 4 drops.
    let first_rows = [
        [0.0f32, 0.0, 0.0],
        [1.0, 0.0, 0.5],
        [0.0, 2.0, 1.0],
        [1.0, 1.0, 3.0],
    ];
    let shift = [1.0f32, 2.0, 2.0];
    let mut a = Vec::new();
    let mut b = Vec::new();
    for row in first_rows {
        a.extend(row);
        b.extend(row.iter().zip(shift).map(|(value, step)| value + step));
    }
    a.extend([100.0, -50.0, 7.0]);
    b.extend([-80.0, 30.0, 5.0]);
    let names = |set: &str| (0..5).map(|i| format!("{set}{i}.png")).collect();
    let (a_path, b_path) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    FeatureTable::new(names("a"), a, 3)
        .unwrap()
        .write(&a_path)
        .unwrap();
    FeatureTable::new(names("b"), b, 3)
        .unwrap()
        .write(&b_path)
        .unwrap();

    let output = pipeline(&[
        "fid",
        path_str(&a_path),
        path_str(&b_path),
        "--drop-last-batch",
        "4",
    ]);
    assert!(output.status.success(), "{output:?}");
    // The kept rows differ by a constant shift, so the covariances are equal and the FID is
    // the squared shift: 1 + 4 + 4.
    let value = last_value(&stdout_lines(&output), "FID: ");
    assert!((value - 9.0).abs() < 1e-6, "FID {value}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("using 4 of 5 images"), "{stderr}");

    let whole = pipeline(&["fid", path_str(&a_path), path_str(&b_path)]);
    let value = last_value(&stdout_lines(&whole), "FID: ");
    assert!(
        value > 100.0,
        "without the flag the far rows count: {value}"
    );
}

#[test]
fn drop_last_batch_beyond_rows_fails() {
    let Some(features) = fixture_features() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = write_halves(&features, dir.path(), "npy");
    let output = pipeline(&["fid", path_str(&a), path_str(&b), "--drop-last-batch", "50"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("horses.npy"), "{stderr}");
    assert!(stderr.contains("smaller N"), "{stderr}");
}

#[test]
fn zero_counts_are_bad_usage() {
    let cases: [&[&str]; 4] = [
        &["--batch", "0"],
        &["--drop-last-batch", "0"],
        &["--kid", "--kid-subsets", "0"],
        &["--kid", "--kid-subset-size", "1"],
    ];
    for flags in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_pipeline"))
            .args(["fid", "a.npy", "b.npy"])
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flags[flags.len() - 2]), "{stderr}");
    }
}

#[test]
fn identical_inputs_give_zero() {
    let Some(features) = fixture_features() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = write_halves(&features, dir.path(), "npy");
    let output = pipeline(&["fid", path_str(&a), path_str(&a)]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(stdout_lines(&output).last().unwrap(), "FID: 0.000000");
}

#[test]
fn save_stats_needs_npz_target() {
    let dir = tempfile::tempdir().unwrap();
    let features = dir.path().join("a.npy");
    FeatureTable::new(Vec::new(), vec![0.0, 1.0, 2.0, 4.0], 2)
        .unwrap()
        .write(&features)
        .unwrap();
    let kept = dir.path().join("b.arrow");
    std::fs::write(&kept, "features the user keeps\n").unwrap();
    for target in [kept.clone(), dir.path().join("stats.txt")] {
        let output = pipeline(&[
            "fid",
            "--save-stats",
            path_str(&features),
            path_str(&target),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("must end in .npz"), "{stderr}");
        assert!(stderr.contains(path_str(&target)), "{stderr}");
    }
    let kept_text = std::fs::read_to_string(&kept).unwrap();
    assert_eq!(kept_text, "features the user keeps\n");
    assert!(!dir.path().join("stats.txt").exists());
}

#[test]
fn single_row_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.npy");
    FeatureTable::new(Vec::new(), vec![0.5, 1.5], 2)
        .unwrap()
        .write(&one)
        .unwrap();
    let two = dir.path().join("two.npy");
    FeatureTable::new(Vec::new(), vec![0.5, 1.5, 2.5, 0.5], 2)
        .unwrap()
        .write(&two)
        .unwrap();
    let output = pipeline(&["fid", path_str(&one), path_str(&two)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(path_str(&one)), "{stderr}");
    assert!(stderr.contains("got 1"), "{stderr}");
}

#[test]
fn non_finite_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.arrow");
    let names = vec!["x.png".to_string(), "y.png".to_string()];
    FeatureTable::new(names, vec![0.5, f32::NAN, 2.5, 0.5], 2)
        .unwrap()
        .write(&broken)
        .unwrap();
    let output = pipeline(&["fid", path_str(&broken), path_str(&broken)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(path_str(&broken)), "{stderr}");
    assert!(stderr.contains("(image x.png) is NaN"), "{stderr}");
}
