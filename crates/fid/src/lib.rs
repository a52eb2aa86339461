//! FID and KID between sets of Inception features, and the files they travel in.
//!
//! - [`FeatureTable`]: one feature vector per image, read and written as Arrow IPC (`file`,
//!   `features`) or pytorch-fid `.npy` arrays.
//! - [`Statistics`]: mean and unbiased covariance in float64, with pytorch-fid `.npz` files.
//! - [`frechet_distance`]: FID by symmetric eigendecompositions (faer).
//! - [`kid`]: the kernel inception distance over random subsets.
//! - [`pairwise`]: every pair of a list of labelled feature sets, as the `fid` stage computes
//!   and writes it (`fid.parquet`).

mod error;
mod feature_table;
mod frechet;
mod kid;
pub mod npy;
mod npz;
pub mod pairwise;
mod statistics;

pub use error::{FidError, Result};
pub use feature_table::FeatureTable;
pub use frechet::{
    frechet_distance, frechet_distance_with_rows, trace_sqrt_product, CenteredRows, FrechetResult,
    EPS_OFFSET,
};
pub use kid::{kid, KidResult};
pub use statistics::Statistics;
