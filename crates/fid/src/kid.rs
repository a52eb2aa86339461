//! KID: the kernel inception distance, an unbiased MMD^2 estimate averaged over subsets.
//!
//! The kernel is the cubic polynomial `k(x, y) = (x.y / d + 1)^3` and the estimator per subset
//! of `m` rows from each set is
//! `sum_{i!=j} k(x_i, x_j) / (m(m-1)) + sum_{i!=j} k(y_i, y_j) / (m(m-1)) - 2 sum_{i,j} k(x_i, y_j) / m^2`,
//! as in clean-fid's `kernel_distance` and torch-fidelity's KID. Unlike FID it has no bias
//! from the sample count, which matters for test sets of 100 to 140 images.

use faer::{Accum, Mat, Par};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{FidError, Result};

/// KID over random subsets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KidResult {
    /// Mean of the per-subset MMD^2 estimates.
    pub mean: f64,
    /// Population standard deviation of the per-subset estimates (torch-fidelity's `kid_std`).
    pub std: f64,
    /// Rows drawn from each set per subset: `min(subset_size, n_x, n_y)`.
    pub subset_size: usize,
}

/// Computes KID between the row-major feature sets `x` and `y` (`dim` values per row).
///
/// Each of `subsets` subsets draws `min(subset_size, n_x, n_y)` rows of each set without
/// replacement, from a ChaCha8 stream seeded with `seed`, so a seed gives the same value on
/// every machine.
pub fn kid<T: Copy + Into<f64>>(
    x: &[T],
    y: &[T],
    dim: usize,
    subsets: usize,
    subset_size: usize,
    seed: u64,
) -> Result<KidResult> {
    if dim == 0 || x.len() % dim != 0 || y.len() % dim != 0 {
        return Err(FidError::InvalidInput(format!(
            "feature sets of {} and {} values do not form rows of length {dim}",
            x.len(),
            y.len()
        )));
    }
    if subsets == 0 {
        return Err(FidError::InvalidParams(
            "KID needs at least one subset".into(),
        ));
    }
    let (rows_x, rows_y) = (x.len() / dim, y.len() / dim);
    let size = subset_size.min(rows_x).min(rows_y);
    if size < 2 {
        return Err(FidError::InvalidInput(format!(
            "KID needs subsets of at least 2 rows; the sets have {rows_x} and {rows_y} rows and \
             the subset size is {subset_size}"
        )));
    }

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let estimates: Vec<f64> = (0..subsets)
        .map(|_| {
            let picked_x = gather_rows(x, dim, &draw(&mut rng, rows_x, size));
            let picked_y = gather_rows(y, dim, &draw(&mut rng, rows_y, size));
            subset_mmd(&picked_x, &picked_y)
        })
        .collect();

    let mean = estimates.iter().sum::<f64>() / subsets as f64;
    let variance = estimates
        .iter()
        .map(|value| (value - mean) * (value - mean))
        .sum::<f64>()
        / subsets as f64;
    Ok(KidResult {
        mean,
        std: variance.sqrt(),
        subset_size: size,
    })
}

fn draw(rng: &mut ChaCha8Rng, rows: usize, size: usize) -> Vec<usize> {
    rand::seq::index::sample(rng, rows, size).into_vec()
}

fn gather_rows<T: Copy + Into<f64>>(values: &[T], dim: usize, rows: &[usize]) -> Mat<f64> {
    Mat::from_fn(rows.len(), dim, |i, j| values[rows[i] * dim + j].into())
}

/// Returns the unbiased MMD^2 estimate between two subsets of equal size.
fn subset_mmd(x: &Mat<f64>, y: &Mat<f64>) -> f64 {
    let size = x.nrows() as f64;
    let dim = x.ncols() as f64;
    let kernel_sum = |a: &Mat<f64>, b: &Mat<f64>, skip_diagonal: bool| -> f64 {
        let mut products = Mat::<f64>::zeros(a.nrows(), b.nrows());
        faer::linalg::matmul::matmul(
            products.as_mut(),
            Accum::Replace,
            a.as_ref(),
            b.transpose(),
            1.0 / dim,
            Par::rayon(0),
        );
        let mut sum = 0.0;
        for j in 0..products.ncols() {
            for i in 0..products.nrows() {
                if !(skip_diagonal && i == j) {
                    sum += (products[(i, j)] + 1.0).powi(3);
                }
            }
        }
        sum
    };

    let within = (kernel_sum(x, x, true) + kernel_sum(y, y, true)) / (size * (size - 1.0));
    let between = kernel_sum(x, y, false) / (size * size);
    within - 2.0 * between
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_single_subset_matches_hand_value() {
        // One feature, rows x = (0, 1), y = (1, 2), d = 1, so k(a, b) = (ab + 1)^3.
        // Off-diagonal within x: 2 k(0, 1) = 2; within y: 2 k(1, 2) = 54; divided by m(m-1) = 2.
        // Between: k(0,1) + k(0,2) + k(1,1) + k(1,2) = 1 + 1 + 8 + 27 = 37, divided by 4.
        let result = kid(&[0.0f64, 1.0], &[1.0f64, 2.0], 1, 3, 10, 7).unwrap();
        let expected = (2.0 + 54.0) / 2.0 - 2.0 * 37.0 / 4.0;
        assert!((result.mean - expected).abs() < 1e-12, "{}", result.mean);
        assert!(result.std.abs() < 1e-12);
        assert_eq!(result.subset_size, 2);
    }

    #[test]
    fn same_seed_gives_same_value() {
        let x: Vec<f32> = (0..40 * 3)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0)
            .collect();
        let y: Vec<f32> = (0..30 * 3)
            .map(|i| ((i * 104729) % 97) as f32 / 40.0)
            .collect();
        let first = kid(&x, &y, 3, 20, 10, 1).unwrap();
        let second = kid(&x, &y, 3, 20, 10, 1).unwrap();
        let other_seed = kid(&x, &y, 3, 20, 10, 2).unwrap();
        assert_eq!(first, second);
        assert_ne!(first.mean, other_seed.mean);
        assert!(first.std > 0.0);
    }

    #[test]
    fn one_row_sets_are_rejected() {
        assert!(kid(&[1.0f32, 2.0], &[1.0f32, 2.0, 3.0, 4.0], 2, 10, 10, 1).is_err());
    }
}
