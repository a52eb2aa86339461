//! Properties FID and KID must have whatever the data: identical sets are at distance zero for
//! every sample count, and diagonal covariances follow the closed form.

use faer::Mat;
use fid::{frechet_distance, frechet_distance_with_rows, kid, CenteredRows, Statistics};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_features(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Inception features are non-negative with a long tail; squares of normals-like values
    // with per-feature scales mimic that.
    (0..rows * dim)
        .map(|i| {
            let scale = 1.0 + (i % dim) as f32 / dim as f32;
            let value: f32 = rng.random_range(-1.0..1.0);
            scale * value * value * 3.0
        })
        .collect()
}

fn trace(matrix: &Mat<f64>) -> f64 {
    (0..matrix.nrows()).map(|i| matrix[(i, i)]).sum()
}

#[test]
fn identical_sets_give_zero_for_every_count() {
    let dim = 96;
    for rows in [2, 3, 10, 95, 96, 97, 300] {
        let features = random_features(rows, dim, rows as u64);
        let stats = Statistics::from_features(&features, dim).unwrap();
        let result = frechet_distance(&stats, &stats).unwrap();
        let bound = 1e-6 * trace(&stats.covariance);
        assert!(
            result.value <= bound,
            "{rows} rows: FID(X, X) = {} > {bound}",
            result.value
        );
        assert!(!result.eps_offset_used, "{rows} rows needed the eps offset");
    }
}

#[test]
fn identical_sets_give_zero_at_2048() {
    let (rows, dim) = (120, 2048);
    let features = random_features(rows, dim, 7);
    let stats = Statistics::from_features(&features, dim).unwrap();
    let result = frechet_distance(&stats, &stats).unwrap();
    assert!(
        result.value <= 1e-6 * trace(&stats.covariance),
        "{}",
        result.value
    );
}

#[test]
fn rows_route_matches_covariance_route() {
    let dim = 128;
    for (rows_a, rows_b) in [
        (2, 2),
        (10, 40),
        (40, 10),
        (120, 300),
        (127, 128),
        (300, 200),
    ] {
        let x = random_features(rows_a, dim, 11);
        let y: Vec<f32> = random_features(rows_b, dim, 12)
            .iter()
            .enumerate()
            .map(|(i, value)| value * 1.3 + (i % dim) as f32 * 0.01)
            .collect();
        let a = Statistics::from_features(&x, dim).unwrap();
        let b = Statistics::from_features(&y, dim).unwrap();
        let expected = frechet_distance(&a, &b).unwrap().value;
        let actual = frechet_distance_with_rows(
            &a,
            &CenteredRows::new(&x, &a),
            &b,
            &CenteredRows::new(&y, &b),
        )
        .unwrap()
        .value;
        let difference = (actual - expected).abs() / expected;
        assert!(
            difference < 1e-9,
            "{rows_a} x {rows_b}: {actual} against {expected}"
        );
    }
}

#[test]
fn kid_of_shifted_sets_is_positive() {
    let dim = 32;
    let x = random_features(200, dim, 1);
    let y: Vec<f32> = random_features(200, dim, 2)
        .into_iter()
        .map(|v| v + 2.0)
        .collect();
    let same = kid(&x, &x, dim, 50, 50, 3).unwrap();
    let shifted = kid(&x, &y, dim, 50, 50, 3).unwrap();
    assert!(
        shifted.mean > 10.0 * same.mean.abs(),
        "{shifted:?} vs {same:?}"
    );
    assert!(shifted.mean > 0.0);
}

fn diagonal(mean: &[f64], variances: &[f64]) -> Statistics {
    let dim = variances.len();
    Statistics {
        mean: mean.to_vec(),
        covariance: Mat::from_fn(dim, dim, |i, j| if i == j { variances[i] } else { 0.0 }),
        count: None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn diagonal_covariances_follow_closed_form(
        entries in prop::collection::vec((-5.0f64..5.0, 0.0f64..10.0, -5.0f64..5.0, 0.0f64..10.0), 1..24)
    ) {
        let mean_a: Vec<f64> = entries.iter().map(|e| e.0).collect();
        let var_a: Vec<f64> = entries.iter().map(|e| e.1).collect();
        let mean_b: Vec<f64> = entries.iter().map(|e| e.2).collect();
        let var_b: Vec<f64> = entries.iter().map(|e| e.3).collect();
        let expected: f64 = entries
            .iter()
            .map(|e| (e.0 - e.2).powi(2) + (e.1.sqrt() - e.3.sqrt()).powi(2))
            .sum();
        let result = frechet_distance(&diagonal(&mean_a, &var_a), &diagonal(&mean_b, &var_b)).unwrap();
        prop_assert!((result.value - expected).abs() <= 1e-9 * (1.0 + expected),
            "{} vs {expected}", result.value);
    }
}
