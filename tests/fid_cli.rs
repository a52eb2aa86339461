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
