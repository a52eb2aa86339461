//! Errors of training runs.

use std::path::PathBuf;

/// Errors of a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A tensor operation failed.
    #[error("{}", crate::error::candle_message(.0))]
    Candle(candle_core::Error),

    /// Reading or writing a checkpoint failed.
    #[error(transparent)]
    Model(#[from] crate::Error),

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A loss history table could not be written or read.
    #[error("loss history {path}: {message}")]
    History {
        /// The table.
        path: PathBuf,
        /// Description of the problem.
        message: String,
    },

    /// A training state file is unreadable or belongs to another configuration. A run that
    /// meets one logs a warning and starts over from iteration 0.
    #[error("training state {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// A loss became NaN or infinite.
    #[error(
        "loss {term} became {value} at iteration {iteration}; the last good checkpoint is kept \
         at iteration {last_checkpoint} (try a lower learning rate)"
    )]
    NonFiniteLoss {
        /// 1-based iteration at which it happened.
        iteration: u64,
        /// Name of the loss term.
        term: &'static str,
        /// The value (NaN or infinite).
        value: f32,
        /// Iteration of the last checkpoint written (0: none).
        last_checkpoint: u64,
    },

    /// The training images are missing or unreadable.
    #[error("training data {path}: {message}")]
    Data {
        /// The file or folder at fault.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The run was cancelled; the last checkpoint is kept for a resume.
    #[error("training cancelled at iteration {iteration}")]
    Cancelled {
        /// Iterations completed.
        iteration: u64,
    },
}

impl From<candle_core::Error> for TrainError {
    fn from(error: candle_core::Error) -> Self {
        TrainError::Candle(error)
    }
}
