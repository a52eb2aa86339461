//! Datasets for the pipeline. This crate reads CycleGAN-style archives and folders, MNIST IDX
//! files and SVHN MATLAB files, downloads them and pins them by content. It writes them in the
//! normalised layout (`trainA/ trainB/ testA/ testB/` plus `manifest.parquet`) that later
//! stages read.

mod digest;
mod digits;
mod download;
mod error;
mod idx;
mod layout;
mod manifest;
mod mat;
mod materialize;
mod params;
mod progress;
mod source;

pub use digest::ContentDigest;
pub use digits::{write_mnist, write_mnist_svhn, DIGIT_SIDE};
pub use download::{download, known_archive_url, MNIST_URL, SVHN_URL};
pub use error::{DatasetError, IdxError, MatError};
pub use idx::{read_idx_images, read_idx_labels, read_mnist, IdxImages};
pub use layout::{classify_member, Domain, Folder, Split, FOLDERS};
pub use manifest::{write_manifest, ManifestRow, MANIFEST_FILE};
pub use mat::{read_mat, read_svhn, MatArray, MatData, SvhnDigits};
pub use materialize::{materialize, Summary};
pub use params::{DatasetKind, DatasetParams};
pub use progress::{NoProgress, Progress};
pub use source::{SourceDataset, SourceImage};
