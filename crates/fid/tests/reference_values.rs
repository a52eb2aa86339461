//! FID and KID against the values the reference tools (numpy, scipy, clean-fid) computed on
//! the fixture features in `../shared/fixtures/inception`.

use std::path::PathBuf;

use fid::npy::decode_npy;
use fid::{
    frechet_distance, frechet_distance_with_rows, kid, CenteredRows, FeatureTable, Statistics,
};

fn fixture_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/inception"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

fn fixture_json(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("fid.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn number(value: &serde_json::Value, path: &[&str]) -> f64 {
    path.iter()
        .fold(value, |node, key| &node[*key])
        .as_f64()
        .unwrap_or_else(|| panic!("fid.json has no number at {path:?}"))
}

fn assert_relative(actual: f64, expected: f64, tolerance: f64, what: &str) {
    let relative = (actual - expected).abs() / expected.abs();
    assert!(
        relative <= tolerance,
        "{what}: {actual} vs {expected} (relative {relative:e} > {tolerance:e})"
    );
}

/// Splits the 12 fixture rows into the first six (horses) and the last six (zebras).
fn six_vs_six(table: &FeatureTable) -> (Vec<f32>, Vec<f32>) {
    let half = 6 * table.dim;
    (
        table.features[..half].to_vec(),
        table.features[half..].to_vec(),
    )
}

#[test]
fn fid_six_vs_six_matches_eigen_reference() {
    let Some(dir) = fixture_dir() else { return };
    let json = fixture_json(&dir);
    let table = FeatureTable::read(&dir.join("features.npy")).unwrap();
    let (horses, zebras) = six_vs_six(&table);
    let a = Statistics::from_features(&horses, table.dim).unwrap();
    let b = Statistics::from_features(&zebras, table.dim).unwrap();

    let trace_a: f64 = (0..a.dim()).map(|i| a.covariance[(i, i)]).sum();
    let trace_b: f64 = (0..b.dim()).map(|i| b.covariance[(i, i)]).sum();
    assert_relative(
        trace_a,
        number(&json, &["images_6_vs_6", "trace_s1"]),
        1e-12,
        "tr S1",
    );
    assert_relative(
        trace_b,
        number(&json, &["images_6_vs_6", "trace_s2"]),
        1e-12,
        "tr S2",
    );

    let result = frechet_distance(&a, &b).unwrap();
    let expected = number(&json, &["images_6_vs_6", "fid_eigen"]);
    assert_relative(result.value, expected, 1e-6, "FID 6 vs 6");
    assert!(!result.eps_offset_used);
    assert!(!result.clamped_negative);

    // The reference values carry eigensolver noise from the 2043 zero eigenvalues of each
    // covariance (numpy's eigenvalue route is 3.4e-5 above and scipy's sqrtm 6.8e-5 above the
    // value here). With that noise cut off, both orders of the arguments agree far closer.
    let reversed = frechet_distance(&b, &a).unwrap();
    assert_relative(reversed.value, result.value, 1e-12, "FID 6 vs 6 reversed");
}

#[test]
fn fid_from_rows_matches_eigen_reference() {
    let Some(dir) = fixture_dir() else { return };
    let json = fixture_json(&dir);
    let table = FeatureTable::read(&dir.join("features.npy")).unwrap();
    let (horses, zebras) = six_vs_six(&table);
    let a = Statistics::from_features(&horses, table.dim).unwrap();
    let b = Statistics::from_features(&zebras, table.dim).unwrap();
    let a_rows = CenteredRows::new(&horses, &a);
    let b_rows = CenteredRows::new(&zebras, &b);

    let result = frechet_distance_with_rows(&a, &a_rows, &b, &b_rows).unwrap();
    let expected = number(&json, &["images_6_vs_6", "fid_eigen"]);
    assert_relative(result.value, expected, 1e-6, "FID 6 vs 6 from rows");
    let by_covariances = frechet_distance(&a, &b).unwrap();
    assert_relative(
        result.value,
        by_covariances.value,
        1e-10,
        "rows against covariances",
    );
}

#[test]
fn fid_other_modes_match_references() {
    let Some(dir) = fixture_dir() else { return };
    let json = fixture_json(&dir);
    for file in ["features_pytorch_fid.npy", "features_clean.npy"] {
        let table = FeatureTable::read(&dir.join(file)).unwrap();
        let (horses, zebras) = six_vs_six(&table);
        let a = Statistics::from_features(&horses, table.dim).unwrap();
        let b = Statistics::from_features(&zebras, table.dim).unwrap();
        let expected = number(&json, &["images_6_vs_6", "other_modes_fid_eigen", file]);
        assert_relative(
            frechet_distance(&a, &b).unwrap().value,
            expected,
            1e-6,
            file,
        );
    }
}

#[test]
fn kid_six_vs_six_matches_clean_fid() {
    let Some(dir) = fixture_dir() else { return };
    let json = fixture_json(&dir);
    let table = FeatureTable::read(&dir.join("features.npy")).unwrap();
    let (horses, zebras) = six_vs_six(&table);
    // With 6 rows per set every subset holds all rows, so the value does not depend on the seed.
    let result = kid(&horses, &zebras, table.dim, 100, 100, 1).unwrap();
    let expected = number(&json, &["kid_6_vs_6", "kid"]);
    assert_relative(result.mean, expected, 1e-9, "KID 6 vs 6");
    assert!(result.std < 1e-12 * expected, "std {}", result.std);
}

#[test]
fn small_full_rank_case_matches() {
    let Some(dir) = fixture_dir() else { return };
    let json = fixture_json(&dir);
    let read = |name: &str| {
        let array = decode_npy(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        assert_eq!(array.shape, vec![256, 64]);
        array.into_f64()
    };
    let (x, y) = (read("fid_small_set1.npy"), read("fid_small_set2.npy"));
    let a = Statistics::from_features(&x, 64).unwrap();
    let b = Statistics::from_features(&y, 64).unwrap();

    let result = frechet_distance(&a, &b).unwrap();
    let expected = number(&json, &["small_256x64", "fid_eigen"]);
    assert_relative(result.value, expected, 1e-10, "FID 256x64");

    // Full rank takes the Cholesky route above; the eigenvector route must agree with it.
    let trace_sqrt = fid::trace_sqrt_product(&a.covariance, &b.covariance).unwrap();
    let expected_trace_sqrt = number(&json, &["small_256x64", "tr_sqrt_eigen"]);
    assert_relative(
        trace_sqrt,
        expected_trace_sqrt,
        1e-12,
        "tr sqrt 256x64 eigen route",
    );

    let kid_result = kid(&x, &y, 64, 10, 256, 1).unwrap();
    let expected_kid = number(&json, &["small_256x64", "kid"]);
    assert_relative(kid_result.mean, expected_kid, 1e-9, "KID 256x64");
}

#[test]
fn npz_written_stats_give_same_fid() {
    let Some(dir) = fixture_dir() else { return };
    let json = fixture_json(&dir);
    let table = FeatureTable::read(&dir.join("features.npy")).unwrap();
    let (horses, zebras) = six_vs_six(&table);
    let out = tempfile::tempdir().unwrap();
    let (path_a, path_b) = (out.path().join("a.npz"), out.path().join("b.npz"));
    Statistics::from_features(&horses, table.dim)
        .unwrap()
        .write_npz(&path_a)
        .unwrap();
    Statistics::from_features(&zebras, table.dim)
        .unwrap()
        .write_npz(&path_b)
        .unwrap();

    let a = Statistics::read_npz(&path_a).unwrap();
    let b = Statistics::read_npz(&path_b).unwrap();
    let expected = number(&json, &["images_6_vs_6", "fid_eigen"]);
    assert_relative(
        frechet_distance(&a, &b).unwrap().value,
        expected,
        1e-6,
        "FID via npz",
    );
}

#[path = "common/synthetic.rs"]
mod synthetic;

#[test]
fn synthetic_2048_case_matches() {
    let Some(dir) = fixture_dir() else { return };
    let json = fixture_json(&dir);
    let case = &json["synthetic_3000x2048"];
    for (seed, key) in [(1, "first_normals_seed1"), (2, "first_normals_seed2")] {
        let expected: Vec<f64> = case[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        // Box-Muller goes through libm's cos and sin, which may differ from numpy's in the
        // last bit; a wrong stream would differ in the first digit.
        for (actual, expected) in synthetic::normals(seed, expected.len())
            .iter()
            .zip(&expected)
        {
            assert!(
                (actual - expected).abs() <= 1e-15,
                "{key}: {actual} vs {expected}"
            );
        }
    }

    let (rows, dim) = (3000, 2048);
    let a = Statistics::from_features(&synthetic::first_set(rows, dim, 1), dim).unwrap();
    let b = Statistics::from_features(&synthetic::second_set(rows, dim, 2), dim).unwrap();
    let trace_b: f64 = (0..dim).map(|i| b.covariance[(i, i)]).sum();
    assert_relative(trace_b, number(case, &["trace_s2"]), 1e-12, "tr S2");

    let result = frechet_distance(&a, &b).unwrap();
    assert_relative(
        result.value,
        number(case, &["fid_eigen"]),
        1e-10,
        "FID 3000x2048",
    );
}
