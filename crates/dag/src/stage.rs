//! The stage API: what a stage kind implements and what it receives when it runs.
//!
//! The engine contains no concrete kind. The `stages` crate implements [`StageKind`] once per
//! kind and lists them in a [`Registry`](crate::Registry); the engine validates params with
//! [`StageKind::check_params`], keys stages with the canonical params it returns, and calls
//! [`StageKind::run`] on a worker thread with a [`StageContext`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::progress::Progress;

/// One stage kind (implemented in the `stages` crate).
pub trait StageKind: Send + Sync {
    /// Returns the name used as `kind:` in the spec, e.g. `mask-bank`.
    fn name(&self) -> &'static str;

    /// Returns the implementation fingerprint, derived at build time from the sources the kind
    /// uses.
    fn fingerprint(&self) -> &'static str;

    /// Deserializes `params` into the kind's typed params (unknown keys rejected) and returns
    /// their canonical JSON form with defaults filled in, or a message naming the bad key.
    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String>;

    /// Returns the input names this kind accepts, and which of them are required.
    fn inputs(&self) -> &'static [InputSpec];

    /// Checks canonical `params` against the names of the inputs a stage gives, for rules that
    /// join the two, such as a param that needs an optional input. The default accepts all.
    fn check_inputs(&self, params: &serde_json::Value, inputs: &[&str]) -> Result<(), String> {
        let _ = (params, inputs);
        Ok(())
    }

    /// Returns the files and folders outside the store that a run with these canonical params
    /// reads, as written (relative paths are relative to the pipeline file's folder). Their
    /// content digests enter the stage key, so changing, creating or deleting one makes the
    /// stage stale. A run resolves them with [`StageContext::resolve_path`].
    fn external_paths(&self, params: &serde_json::Value) -> Vec<PathBuf> {
        let _ = params;
        Vec::new()
    }

    /// What one run needs from the scheduler, given its canonical params.
    fn resources(&self, params: &serde_json::Value) -> Resources {
        let _ = params;
        Resources::default()
    }

    /// Runs the stage: reads its inputs and writes everything into `ctx.out_dir()`.
    ///
    /// Blocking, and called on a worker thread. Long loops must return early (with an error)
    /// once `ctx.cancelled()` is true.
    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()>;
}

/// One input name a kind accepts; the name [`InputSpec::ANY`] accepts every name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSpec {
    /// The name used under `inputs:` in the spec.
    pub name: &'static str,
    /// Whether a stage of this kind is invalid without it.
    pub required: bool,
}

impl InputSpec {
    /// The name that makes a kind accept inputs under any name (the `command` kind).
    pub const ANY: &'static str = "*";

    /// Creates an input the stage cannot run without.
    pub const fn required(name: &'static str) -> Self {
        Self {
            name,
            required: true,
        }
    }

    /// Creates an input the stage may be given.
    pub const fn optional(name: &'static str) -> Self {
        Self {
            name,
            required: false,
        }
    }
}

/// The CPU threads and GPUs one stage run needs from the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    /// CPU threads the run keeps busy; the scheduler clamps it to `--jobs`.
    pub threads: usize,
    /// GPUs the run needs when the device is CUDA (0 or 1 today).
    pub gpus: usize,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            threads: 1,
            gpus: 0,
        }
    }
}

/// The device a stage computes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Cpu,
    Cuda,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda => f.write_str("cuda"),
        }
    }
}

/// A resolved input: a read-only, verified view of another stage's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A single reference (`stage` or `stage:path`): the path of that output tree or entry.
    Path(PathBuf),
    /// A wildcard reference (`stage.*`): one `(stage name, path)` per match, sorted by name.
    List(Vec<(String, PathBuf)>),
}

impl Input {
    /// Returns the path of a single reference, or `None` for a list.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Input::Path(path) => Some(path),
            Input::List(_) => None,
        }
    }

    /// Returns every `(stage name, path)` of this input. A single reference gives one entry
    /// named "".
    pub fn entries(&self) -> Vec<(&str, &Path)> {
        match self {
            Input::Path(path) => vec![("", path.as_path())],
            Input::List(list) => list
                .iter()
                .map(|(name, path)| (name.as_str(), path.as_path()))
                .collect(),
        }
    }
}

/// Everything a stage run receives from the engine.
///
/// A run depends only on what is here (params, input paths, output and scratch directories),
/// never on state in the calling process, so that another executor can run it elsewhere.
pub struct StageContext {
    stage: String,
    key: String,
    params: serde_json::Value,
    inputs: Vec<(String, Input)>,
    out_dir: PathBuf,
    scratch_dir: PathBuf,
    log_path: PathBuf,
    device: Device,
    threads: usize,
    progress: Progress,
    cancelled: Arc<AtomicBool>,
    pipeline_root: PathBuf,
}

/// The parts of a [`StageContext`], given by the executor that builds it.
pub struct StageContextParts {
    pub stage: String,
    pub key: String,
    pub params: serde_json::Value,
    pub inputs: Vec<(String, Input)>,
    pub out_dir: PathBuf,
    pub scratch_dir: PathBuf,
    pub log_path: PathBuf,
    pub device: Device,
    pub threads: usize,
    pub progress: Progress,
    pub cancelled: Arc<AtomicBool>,
}

impl StageContext {
    /// Builds a context; the scratch directory is only created on first use.
    pub fn new(parts: StageContextParts) -> Self {
        Self {
            stage: parts.stage,
            key: parts.key,
            params: parts.params,
            inputs: parts.inputs,
            out_dir: parts.out_dir,
            scratch_dir: parts.scratch_dir,
            log_path: parts.log_path,
            device: parts.device,
            threads: parts.threads,
            progress: parts.progress,
            cancelled: parts.cancelled,
            pipeline_root: PathBuf::new(),
        }
    }

    /// Sets the folder relative paths in params are resolved against (default: the working
    /// directory).
    pub fn with_pipeline_root(mut self, root: &Path) -> Self {
        self.pipeline_root = root.to_path_buf();
        self
    }

    /// Resolves a path written in the params against the pipeline file's folder.
    pub fn resolve_path(&self, path: &Path) -> PathBuf {
        self.pipeline_root.join(path)
    }

    /// Returns the expanded stage name, e.g. `train.centered-square`.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// Returns the stage key (hex blake3).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Returns the canonical params as JSON.
    pub fn params_json(&self) -> &serde_json::Value {
        &self.params
    }

    /// Deserializes the canonical params into the kind's params struct.
    pub fn params<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_value(self.params.clone())
            .map_err(|error| anyhow::anyhow!("invalid params for stage {}: {error}", self.stage))
    }

    /// Returns the input given under `name`, if the spec gave one.
    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs
            .iter()
            .find(|(input_name, _)| input_name == name)
            .map(|(_, input)| input)
    }

    /// Returns the path of the single-reference input `name`, or an error naming the missing
    /// input.
    pub fn input_path(&self, name: &str) -> anyhow::Result<&Path> {
        match self.input(name) {
            Some(Input::Path(path)) => Ok(path),
            Some(Input::List(_)) => anyhow::bail!(
                "input `{name}` of stage {} is a list; give a single stage reference",
                self.stage
            ),
            None => anyhow::bail!("stage {} has no input `{name}`", self.stage),
        }
    }

    /// Returns all inputs, by name, in the order the spec wrote them.
    pub fn inputs(&self) -> &[(String, Input)] {
        &self.inputs
    }

    /// Returns the directory the stage writes its outputs into (empty at the start of a run).
    pub fn out_dir(&self) -> &Path {
        &self.out_dir
    }

    /// Returns the scratch directory of this key, creating it on first use.
    ///
    /// It survives failed and cancelled attempts of the same key (so training can resume from
    /// a checkpoint) and is removed once the run record is written.
    pub fn scratch_dir(&mut self) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(&self.scratch_dir).map_err(|error| {
            anyhow::anyhow!(
                "cannot create scratch directory {}: {error}",
                self.scratch_dir.display()
            )
        })?;
        Ok(self.scratch_dir.clone())
    }

    /// Returns the scratch directory path without creating it.
    pub fn scratch_path(&self) -> &Path {
        &self.scratch_dir
    }

    /// Returns the log file of this run, kept with its record. A stage may append to it, for
    /// example a child process's output.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Returns the device this run computes on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// CPU threads granted to this run by the scheduler.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Returns the progress handle of this run.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Returns whether the run has been cancelled (Ctrl-C, or a failure elsewhere without
    /// `--keep-going`).
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Returns an error if the run has been cancelled; handy at the top of a loop.
    pub fn check_cancelled(&self) -> anyhow::Result<()> {
        if self.cancelled() {
            anyhow::bail!("stage {} cancelled", self.stage);
        }
        Ok(())
    }
}
