//! Exit codes: which errors mean "invalid input" (2) rather than "failed" (1).

/// An invalid command line or spec detected after clap's own parsing.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// 2 for invalid command lines and specs, 1 for everything else.
pub fn code_for(error: &anyhow::Error) -> u8 {
    let invalid = error.downcast_ref::<InvalidInput>().is_some()
        || error.downcast_ref::<dag::LoadError>().is_some()
        || error.downcast_ref::<dag::SpecErrors>().is_some();
    if invalid {
        2
    } else {
        1
    }
}
