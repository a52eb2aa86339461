//! Errors of the masks crate.

use std::path::PathBuf;

/// Everything that can fail while building, reading or writing masks.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// Values that no mask can be built from, not tied to one bank parameter.
    #[error("invalid mask parameters: {0}")]
    InvalidParams(String),

    /// A bank parameter is out of range or does not apply to the chosen scheme. `reason`
    /// follows the name, so that the stage can print `` `min_area` `` and the command line
    /// `--min-area` before it.
    #[error("`{param}` {reason}")]
    InvalidParam { param: &'static str, reason: String },

    /// Reading or writing a file failed.
    #[error("failed to access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// An image could not be decoded or encoded.
    #[error("failed to decode or encode image {path}: {source}")]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },

    /// A mask image holds a value other than 0 and 255, or has the wrong shape.
    #[error("invalid mask image {path}: {reason}")]
    InvalidMaskImage { path: PathBuf, reason: String },

    /// The parquet table of a bank could not be written or read.
    #[error("failed to read or write mask table {path}: {reason}")]
    Table { path: PathBuf, reason: String },
}

impl MaskError {
    pub(crate) fn param(param: &'static str, reason: impl Into<String>) -> Self {
        MaskError::InvalidParam {
            param,
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MaskError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn table(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        MaskError::Table {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
