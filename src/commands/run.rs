//! `pipeline run`: run what is stale, reuse the rest.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::bail;
use clap::{Args, ValueEnum};

use crate::exit::InvalidInput;
use crate::options::{load_pipeline, select, CacheOptions, OverrideOptions, SpecOptions};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Targets or stage names to run, with their ancestors (default: every stage).
    pub targets: Vec<String>,
    #[command(flatten)]
    pub spec: SpecOptions,
    #[command(flatten)]
    pub cache: CacheOptions,
    /// CPU threads shared by concurrently running stages (default: the number of cores).
    #[arg(short, long)]
    pub jobs: Option<usize>,
    /// Device for stages that can use a GPU.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[command(flatten)]
    pub overrides: OverrideOptions,
    /// Keep running branches that a failed stage does not feed.
    #[arg(long)]
    pub keep_going: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    /// CUDA when this binary was built with `--features cuda` and an NVIDIA device is
    /// present, otherwise CPU.
    Auto,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let overrides = args.overrides.parse()?;
    let pipeline = Arc::new(load_pipeline(&args.spec.file, &overrides)?);
    let selected = select(&pipeline, &args.targets)?;
    if args.jobs == Some(0) {
        return Err(InvalidInput("--jobs must be at least 1".to_string()).into());
    }
    let store = args.cache.open()?;

    let gpus = cuda_device_count();
    let device = match args.device {
        DeviceChoice::Cpu => dag::Device::Cpu,
        DeviceChoice::Cuda if !cfg!(feature = "cuda") => {
            return Err(InvalidInput(
                "--device cuda: this binary was built without CUDA; rebuild it with \
                 `cargo build --release --features cuda` or use --device cpu"
                    .into(),
            )
            .into());
        }
        DeviceChoice::Cuda if gpus == 0 => {
            bail!(
                "--device cuda: no NVIDIA device found (/dev/nvidia0 is missing); use --device cpu"
            )
        }
        DeviceChoice::Cuda => dag::Device::Cuda,
        DeviceChoice::Auto if gpus > 0 && cfg!(feature = "cuda") => dag::Device::Cuda,
        DeviceChoice::Auto => dag::Device::Cpu,
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let options = dag::RunOptions {
        jobs,
        device,
        gpus,
        keep_going: args.keep_going,
        show_progress: std::io::stderr().is_terminal(),
    };

    let summary = dag::run_pipeline(store.clone(), pipeline, selected, options)?;
    let counters = store.counters();
    tracing::debug!(
        records_read = counters.records_read.load(Ordering::Relaxed),
        objects_stated = counters.objects_stated.load(Ordering::Relaxed),
        objects_hashed = counters.objects_hashed.load(Ordering::Relaxed),
        "store access"
    );
    // A fixed form, `N stages run, M reused from cache`, also for 1: scripts parse this line.
    println!(
        "{} stages run, {} reused from cache",
        summary.ran.len(),
        summary.reused.len()
    );

    if summary.interrupted {
        bail!("interrupted; finished stages are cached, rerun to continue");
    }
    if !summary.failed.is_empty() {
        // Each failure was logged with its details when it happened.
        let names: Vec<&str> = summary
            .failed
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        bail!(
            "{} failed: {}; their errors and log files are listed above",
            count(names.len(), "stage", "stages"),
            names.join(", ")
        );
    }
    Ok(())
}

/// Counts the NVIDIA devices (`/dev/nvidia0`, `/dev/nvidia1`, ...).
fn cuda_device_count() -> usize {
    (0..64)
        .take_while(|index| std::path::Path::new(&format!("/dev/nvidia{index}")).exists())
        .count()
}

/// Writes `number` with the singular or plural noun: `1 stage`, `3 stages`.
fn count(number: usize, singular: &str, plural: &str) -> String {
    let noun = if number == 1 { singular } else { plural };
    format!("{number} {noun}")
}
