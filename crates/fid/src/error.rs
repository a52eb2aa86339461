//! The error type of the `fid` crate.

use std::path::PathBuf;

/// Everything that can go wrong while reading feature files or computing FID and KID.
#[derive(Debug, thiserror::Error)]
pub enum FidError {
    /// A file could not be opened, read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file exists but its content is not what its extension promises.
    #[error("invalid {kind} file {path}: {reason}")]
    InvalidFile {
        path: PathBuf,
        kind: &'static str,
        reason: String,
    },

    /// A file extension that no reader or writer handles.
    #[error("unsupported extension of {path}: expected {expected}")]
    UnsupportedExtension {
        path: PathBuf,
        expected: &'static str,
    },

    /// An Arrow or Parquet library error while encoding or decoding a table.
    #[error("cannot {action} {path}: {message}")]
    Table {
        action: &'static str,
        path: PathBuf,
        message: String,
    },

    /// Two inputs whose feature dimensions differ.
    #[error("feature dimensions differ: {left} vs {right}; both sets must come from the same network layer")]
    DimensionMismatch { left: usize, right: usize },

    /// Input values that a computation cannot use (too few rows, non-finite values, bad shape).
    #[error("{0}")]
    InvalidInput(String),

    /// The eigenvalue solver did not converge, even after the eps offset.
    #[error("eigendecomposition of a {dim}x{dim} covariance did not converge")]
    EigenNoConvergence { dim: usize },

    /// Stage or command parameters that contradict each other or the inputs.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
}

/// The result type of this crate.
pub type Result<T, E = FidError> = std::result::Result<T, E>;

impl FidError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FidError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid_file(
        path: impl Into<PathBuf>,
        kind: &'static str,
        reason: impl Into<String>,
    ) -> Self {
        FidError::InvalidFile {
            path: path.into(),
            kind,
            reason: reason.into(),
        }
    }
}
