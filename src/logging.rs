//! Log output: tracing to standard error (`info` for the engine by default), and each stage's
//! own events to its run's log file.

use std::io::IsTerminal;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::stage_log::StageLogLayer;

/// Installs the subscriber; `RUST_LOG` wins over `-v` for standard error.
pub fn init(verbose: u8) {
    let default = match verbose {
        0 => "warn,dag=info",
        1 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(StageLogLayer.with_filter(LevelFilter::INFO))
        .try_init();
}
