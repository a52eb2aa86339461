//! Feature statistics: the mean and unbiased covariance that FID compares, and their
//! pytorch-fid `.npz` form.

use std::path::Path;

use faer::{Accum, Mat, Par};

use crate::error::{FidError, Result};
use crate::feature_table::FeatureTable;
use crate::npy::encode_npy;
use crate::npz::{read_npz_array, write_npz};

/// Mean and covariance of a set of feature vectors, in float64.
#[derive(Debug, Clone)]
pub struct Statistics {
    /// Mean of each feature.
    pub mean: Vec<f64>,
    /// Unbiased covariance (divided by `count - 1`), `dim x dim`.
    pub covariance: Mat<f64>,
    /// Number of feature vectors; `None` when read from an `.npz` file, which does not store it.
    pub count: Option<usize>,
}

impl Statistics {
    /// Computes the statistics of `features`, row-major `n x dim`, as TTUR and pytorch-fid do:
    /// values cast to float64 first, then `np.mean(axis=0)` and `np.cov(rowvar=False)`.
    pub fn from_features<T: Copy + Into<f64>>(features: &[T], dim: usize) -> Result<Self> {
        if dim == 0 || features.len() % dim != 0 {
            return Err(FidError::InvalidInput(format!(
                "{} feature values do not form rows of length {dim}",
                features.len()
            )));
        }
        let count = features.len() / dim;
        if count < 2 {
            return Err(FidError::InvalidInput(format!(
                "a covariance needs at least 2 feature vectors (one per image), got {count}"
            )));
        }
        if let Some(position) = features.iter().position(|&v| !v.into().is_finite()) {
            return Err(FidError::InvalidInput(format!(
                "feature value {} of row {} is not finite",
                position % dim,
                position / dim
            )));
        }

        let mut mean = vec![0.0f64; dim];
        for row in features.chunks_exact(dim) {
            for (sum, &value) in mean.iter_mut().zip(row) {
                *sum += value.into();
            }
        }
        for sum in &mut mean {
            *sum /= count as f64;
        }

        let centered = Mat::from_fn(count, dim, |i, j| features[i * dim + j].into() - mean[j]);
        let mut covariance = Mat::<f64>::zeros(dim, dim);
        faer::linalg::matmul::matmul(
            covariance.as_mut(),
            Accum::Replace,
            centered.transpose(),
            centered.as_ref(),
            1.0 / (count - 1) as f64,
            Par::rayon(0),
        );
        symmetrize(&mut covariance);

        Ok(Self {
            mean,
            covariance,
            count: Some(count),
        })
    }

    /// Computes the statistics of every row of a feature table.
    pub fn from_table(table: &FeatureTable) -> Result<Self> {
        Self::from_features(&table.features, table.dim)
    }

    /// Length of the feature vectors.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Writes `mu` and `sigma` (float64) as pytorch-fid's `--save-stats` does.
    pub fn write_npz(&self, path: &Path) -> Result<()> {
        let dim = self.dim();
        let mut sigma = Vec::with_capacity(dim * dim);
        for i in 0..dim {
            for j in 0..dim {
                sigma.push(self.covariance[(i, j)]);
            }
        }
        write_npz(
            path,
            &[
                ("mu", encode_npy(&[dim], &self.mean)),
                ("sigma", encode_npy(&[dim, dim], &sigma)),
            ],
        )
    }

    /// Reads `mu` and `sigma` from a pytorch-fid `.npz` statistics file.
    pub fn read_npz(path: &Path) -> Result<Self> {
        let mu = read_npz_array(path, "mu")?;
        let sigma = read_npz_array(path, "sigma")?;
        let dim = match mu.shape[..] {
            [dim] if dim > 0 => dim,
            _ => {
                return Err(FidError::invalid_file(
                    path,
                    ".npz",
                    format!("`mu` has shape {:?}, expected one dimension", mu.shape),
                ))
            }
        };
        if sigma.shape != [dim, dim] {
            return Err(FidError::invalid_file(
                path,
                ".npz",
                format!(
                    "`sigma` has shape {:?}, expected [{dim}, {dim}]",
                    sigma.shape
                ),
            ));
        }

        let mean = mu.into_f64();
        let sigma = sigma.into_f64();
        if mean.iter().chain(&sigma).any(|value| !value.is_finite()) {
            return Err(FidError::invalid_file(
                path,
                ".npz",
                "`mu` or `sigma` holds non-finite values",
            ));
        }
        let covariance = Mat::from_fn(dim, dim, |i, j| sigma[i * dim + j]);
        Ok(Self {
            mean,
            covariance,
            count: None,
        })
    }
}

/// Makes `matrix` exactly symmetric; a blocked product `X^T X` can differ across the diagonal
/// in the last bit.
fn symmetrize(matrix: &mut Mat<f64>) {
    let dim = matrix.nrows();
    for j in 0..dim {
        for i in j + 1..dim {
            let average = 0.5 * (matrix[(i, j)] + matrix[(j, i)]);
            matrix[(i, j)] = average;
            matrix[(j, i)] = average;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariance_is_unbiased() {
        // Two features over three samples: x = (1, 2, 3), y = (2, 4, 9).
        let features = [1.0f32, 2.0, 2.0, 4.0, 3.0, 9.0];
        let stats = Statistics::from_features(&features, 2).unwrap();
        assert_eq!(stats.mean, vec![2.0, 5.0]);
        // var x = (1 + 0 + 1) / 2; cov = ((-1)(-3) + 0 + (1)(4)) / 2; var y = (9 + 1 + 16) / 2.
        assert_eq!(stats.covariance[(0, 0)], 1.0);
        assert_eq!(stats.covariance[(0, 1)], 3.5);
        assert_eq!(stats.covariance[(1, 0)], 3.5);
        assert_eq!(stats.covariance[(1, 1)], 13.0);
        assert_eq!(stats.count, Some(3));
    }

    #[test]
    fn single_row_is_rejected() {
        assert!(Statistics::from_features(&[1.0f32, 2.0], 2).is_err());
    }

    #[test]
    fn non_finite_feature_is_rejected() {
        let error = Statistics::from_features(&[1.0f32, f32::NAN, 2.0, 3.0], 2).unwrap_err();
        assert!(error.to_string().contains("row 0"), "{error}");
    }

    #[test]
    fn npz_roundtrip_keeps_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.npz");
        let features = [0.5f32, 1.0, -2.0, 3.0, 0.25, 7.0, 1.5, -1.0, 2.0];
        let stats = Statistics::from_features(&features, 3).unwrap();
        stats.write_npz(&path).unwrap();
        let read = Statistics::read_npz(&path).unwrap();
        assert_eq!(read.mean, stats.mean);
        assert_eq!(read.covariance, stats.covariance);
    }

    #[test]
    fn npz_without_sigma_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.npz");
        write_npz(&path, &[("mu", encode_npy(&[2], &[1.0f64, 2.0]))]).unwrap();
        let error = Statistics::read_npz(&path).unwrap_err();
        assert!(error.to_string().contains("sigma"), "{error}");
    }

    #[test]
    fn garbage_npz_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.npz");
        std::fs::write(&path, b"PK\x03\x04 not really a zip").unwrap();
        assert!(Statistics::read_npz(&path).is_err());
    }
}
