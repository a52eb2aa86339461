//! The engine's error types.

use std::path::PathBuf;

use crate::position::Position;

/// One problem in a pipeline file, with where it is and which stage it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: PathBuf,
    pub position: Position,
    /// The stage (as written in the file) the problem belongs to, if any.
    pub stage: Option<String>,
    pub message: String,
    /// The `--set STAGE.PARAM=VALUE` argument that caused the problem; it is named in place of
    /// the line, because the value is not in the file.
    pub override_argument: Option<String>,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.override_argument {
            Some(argument) => write!(f, "{}: --set {argument}: ", self.file.display())?,
            None => write!(
                f,
                "{}:{}:{}: ",
                self.file.display(),
                self.position.line,
                self.position.column
            )?,
        }
        write!(f, "{}{}", stage_prefix(&self.stage), self.message)
    }
}

impl std::error::Error for SpecError {}

fn stage_prefix(stage: &Option<String>) -> String {
    match stage {
        Some(stage) => format!("stage `{stage}`: "),
        None => String::new(),
    }
}

/// Every problem found in a pipeline file; validation collects them all before failing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.0))]
pub struct SpecErrors(pub Vec<SpecError>);

fn render(errors: &[SpecError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// A failure of the engine outside the spec: the store, a stage run, the file system.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid record {}: {message}; `pipeline verify` removes it", path.display())]
    Record { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl EngineError {
    /// Wraps an I/O error with the action and the path it concerns.
    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| EngineError::Io {
            action,
            path,
            source,
        }
    }
}
