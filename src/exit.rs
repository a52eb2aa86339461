//! Exit codes (which errors mean "invalid input", 2, rather than "failed", 1) and the one-line
//! rendering of an error chain for stderr.

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

/// Renders `error` and its causes on one line, joined by ": ". A cause whose text the message
/// already contains is skipped: many library errors put their source into their own message
/// (`failed to access PATH: No such file`), so printing the chain in full would repeat it.
pub fn message_for(error: &anyhow::Error) -> String {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("failed to access data.bin: {source}")]
    struct AccessError {
        source: std::io::Error,
    }

    fn not_found() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
    }

    #[test]
    fn message_skips_repeated_cause() {
        let error = anyhow::Error::new(AccessError {
            source: not_found(),
        })
        .context("cannot read the features");
        assert_eq!(
            message_for(&error),
            "cannot read the features: failed to access data.bin: no such file"
        );
    }

    #[test]
    fn message_keeps_new_causes() {
        let error = anyhow::Error::new(not_found()).context("cannot open data.bin");
        assert_eq!(message_for(&error), "cannot open data.bin: no such file");
    }

    #[test]
    fn invalid_input_exits_2() {
        let error = anyhow::Error::new(InvalidInput("--batch must be at least 1".into()));
        assert_eq!(code_for(&error), 2);
        assert_eq!(code_for(&anyhow::Error::new(not_found())), 1);
    }
}
