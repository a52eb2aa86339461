//! Errors of the report crate.

use std::path::PathBuf;

/// Everything that can fail while writing a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading or writing a file failed.
    #[error("failed to access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// An input image could not be decoded, or a figure could not be encoded.
    #[error("failed to decode or encode image {path}: {source}")]
    Image {
        path: PathBuf,
        source: image::ImageError,
    },

    /// Plotters failed to draw a figure.
    #[error("failed to draw figure {path}: {reason}")]
    Drawing { path: PathBuf, reason: String },

    /// A table could not be built or written.
    #[error("failed to write table {path}: {reason}")]
    Table { path: PathBuf, reason: String },

    /// An input is inconsistent, such as a grid row with the wrong number of cells.
    #[error("invalid report input: {0}")]
    InvalidInput(String),
}

impl ReportError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn drawing(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        ReportError::Drawing {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn table(path: impl Into<PathBuf>, reason: impl ToString) -> Self {
        ReportError::Table {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
