//! Options shared by several subcommands, and loading the pipeline they name.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::exit::InvalidInput;

/// `-f FILE`.
#[derive(Args, Debug, Clone)]
pub struct SpecOptions {
    /// The pipeline file.
    #[arg(short = 'f', long = "file", default_value = "pipeline.yaml")]
    pub file: PathBuf,
}

/// `--cache DIR`.
#[derive(Args, Debug, Clone)]
pub struct CacheOptions {
    /// The cache (store) directory.
    #[arg(long = "cache", default_value = "cache")]
    pub cache: PathBuf,
}

impl CacheOptions {
    pub fn open(&self) -> anyhow::Result<dag::Store> {
        Ok(dag::Store::open(&self.cache)?)
    }
}

/// Loads and validates a pipeline file with this build's stage kinds.
pub fn load_pipeline(file: &Path, overrides: &[dag::Override]) -> anyhow::Result<dag::Pipeline> {
    Ok(dag::Pipeline::load(file, &stages::registry(), overrides)?)
}

/// Selects `targets` in `pipeline`; an unknown name is an invalid-input error (exit code 2).
pub fn select(pipeline: &dag::Pipeline, targets: &[String]) -> anyhow::Result<Vec<bool>> {
    pipeline
        .select(targets)
        .map_err(|message| InvalidInput(message).into())
}
