//! Log output: tracing to standard error, `info` for the engine by default.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; `RUST_LOG` wins over `-v`.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn,dag=info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
