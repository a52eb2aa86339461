//! The crate's error type.

use std::path::PathBuf;

/// Errors of the Mask CycleGAN crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (shape mismatch, missing variable, device error).
    #[error("{}", candle_message(.0))]
    Candle(candle_core::Error),

    /// Reading or writing a file failed; the cause follows in the error chain.
    #[error("cannot access {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A PyTorch checkpoint file is malformed, truncated or not a state dict.
    #[error(
        "{path}: not a readable PyTorch state dict ({reason}); \
         save it with torch.save(net.state_dict(), path)"
    )]
    InvalidPth { path: PathBuf, reason: String },

    /// One tensor of a checkpoint is missing, malformed or has an unexpected shape.
    #[error("{path}: tensor {key}: {reason}")]
    InvalidCheckpointTensor {
        path: PathBuf,
        key: String,
        reason: String,
    },

    /// A checkpoint lacks what the operation needs (a network, a setting).
    #[error("{path}: {reason}")]
    InvalidCheckpoint { path: PathBuf, reason: String },

    /// An input folder or file cannot be used as given.
    #[error("{path}: {reason}")]
    InvalidInput { path: PathBuf, reason: String },

    /// Parameters no run could use.
    #[error("invalid parameters: {reason}")]
    InvalidParams { reason: String },

    /// An image could not be decoded or written.
    #[error(transparent)]
    Image(#[from] imaging::ImageError),

    /// The caller cancelled the run.
    #[error("cancelled")]
    Cancelled,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<candle_core::Error> for Error {
    fn from(error: candle_core::Error) -> Self {
        Error::Candle(error)
    }
}

/// Renders a candle error on one line, without the backtrace candle attaches when
/// `RUST_BACKTRACE` is set: messages are for users, and the backtrace names only candle's
/// internals.
pub fn candle_message(error: &candle_core::Error) -> String {
    match error {
        candle_core::Error::WithBacktrace { inner, .. } => candle_message(inner),
        candle_core::Error::WithPath { inner, path } => {
            format!("{}: {}", path.display(), candle_message(inner))
        }
        candle_core::Error::Context { inner, context } => {
            format!("{context}: {}", candle_message(inner))
        }
        other => other.to_string().replace('\n', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candle_error_drops_backtrace() {
        let traced = candle_core::Error::WithBacktrace {
            inner: Box::new(candle_core::Error::Msg("shape mismatch in conv2d".into())),
            backtrace: Box::new(std::backtrace::Backtrace::force_capture()),
        };
        let message = Error::from(traced).to_string();
        assert_eq!(message, "shape mismatch in conv2d");
    }
}
