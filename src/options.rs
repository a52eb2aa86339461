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

/// `--set STAGE.PARAM=VALUE`, repeatable.
#[derive(Args, Debug, Clone)]
pub struct OverrideOptions {
    /// Override a param for this command: STAGE.PARAM=VALUE, VALUE parsed as YAML (repeatable).
    #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
    pub overrides: Vec<String>,
}

impl OverrideOptions {
    /// Parses every `--set`. A malformed one is an invalid-input error (exit code 2).
    pub fn parse(&self) -> anyhow::Result<Vec<dag::Override>> {
        let overrides = self
            .overrides
            .iter()
            .map(|text| dag::Override::parse(text).map_err(InvalidInput))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(overrides)
    }
}

impl CacheOptions {
    pub fn open(&self) -> anyhow::Result<dag::Store> {
        Ok(dag::Store::open(&self.cache)?)
    }

    /// Opens the store without creating or changing anything in it.
    pub fn open_read_only(&self) -> anyhow::Result<dag::Store> {
        Ok(dag::Store::open_read_only(&self.cache)?)
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
