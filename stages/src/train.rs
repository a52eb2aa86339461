//! The `train` kind: Mask CycleGAN (or plain CycleGAN) training on a dataset's `trainA/` and
//! `trainB/`, writing `checkpoint.safetensors`, `losses.parquet` and `samples/`.
//!
//! Its params are [`mcgan::TrainParams`]. The training state is checkpointed in the key's
//! scratch directory, which the engine keeps across failed and cancelled attempts, so rerunning
//! an interrupted stage resumes where its last checkpoint left off.

use anyhow::Context;
use dag::{InputSpec, Resources, StageContext, StageKind};
use mcgan::train_params::sampler_config;
use mcgan::{MaskScheme, RunHooks, RunPaths, TrainError, TrainParams, UnalignedDataset};

pub use mcgan::TrainParams as TrainStageParams;

/// The `train` stage kind.
pub struct Train;

/// Threads a training run can keep busy (the scheduler clamps it to `--jobs`).
const TRAIN_THREADS: usize = 16;

impl StageKind for Train {
    fn name(&self) -> &'static str {
        "train"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::TRAIN
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        let canonical = dag::check_params::<TrainParams>(params)?;
        let typed: TrainParams =
            serde_json::from_value(canonical.clone()).map_err(|error| error.to_string())?;
        typed.validate()?;
        Ok(canonical)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        const INPUTS: &[InputSpec] =
            &[InputSpec::required("dataset"), InputSpec::optional("masks")];
        INPUTS
    }

    fn check_inputs(&self, params: &serde_json::Value, inputs: &[&str]) -> Result<(), String> {
        let typed: TrainParams =
            serde_json::from_value(params.clone()).map_err(|error| error.to_string())?;
        typed.mask_scheme(inputs.contains(&"masks")).map(|_| ())
    }

    fn resources(&self, _params: &serde_json::Value) -> Resources {
        Resources {
            threads: TRAIN_THREADS,
            gpus: 1,
        }
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: TrainParams = ctx.params()?;
        let dataset = ctx.input_path("dataset")?.to_path_buf();
        let bank_dir = match ctx.input("masks") {
            Some(_) => Some(ctx.input_path("masks")?.to_path_buf()),
            None => None,
        };
        let scheme = params
            .mask_scheme(bank_dir.is_some())
            .map_err(anyhow::Error::msg)?;
        let bank = match (&scheme, &bank_dir) {
            (MaskScheme::Bank, Some(dir)) => Some(
                masks::Bank::read(dir)
                    .with_context(|| format!("cannot read the mask bank {}", dir.display()))?
                    .masks,
            ),
            _ => None,
        };
        let sampler = match sampler_config(&scheme, bank).map_err(anyhow::Error::msg)? {
            Some(config) => Some(masks::MaskSampler::new(config, params.size)?),
            None => None,
        };

        let device = match ctx.device() {
            dag::Device::Cpu => candle_core::Device::Cpu,
            dag::Device::Cuda => candle_core::Device::new_cuda(0).context(
                "cannot open CUDA device 0; build with `--features cuda` on a machine with CUDA",
            )?,
        };
        check_domains(&dataset)?;
        ctx.progress().set_message("reading images");
        let data = UnalignedDataset::open(&dataset, params.size as u32, params.train_limit)?;
        let paths = RunPaths {
            scratch_dir: ctx.scratch_dir()?,
            out_dir: ctx.out_dir().to_path_buf(),
        };
        let config = params.run_config(&scheme);
        let iterations_per_epoch = config.iterations_per_epoch.unwrap_or(data.epoch_len());
        ctx.progress()
            .set_length((config.epochs * iterations_per_epoch) as u64);
        ctx.progress().set_message("training");

        let progress = ctx.progress().clone();
        let mut on_progress = |update: mcgan::ProgressUpdate| {
            progress.set_position(update.iteration);
        };
        let cancelled = || ctx.cancelled();
        let hooks = RunHooks {
            progress: &mut on_progress,
            cancelled: &cancelled,
        };
        let span = tracing::info_span!("train", stage = ctx.stage(), key = ctx.key());
        let _entered = span.enter();
        match mcgan::train(&config, &data, sampler.as_ref(), &paths, &device, hooks) {
            Ok(summary) => {
                tracing::info!(
                    iterations = summary.iterations,
                    resumed_from = summary.resumed_from,
                    "training finished"
                );
                Ok(())
            }
            Err(TrainError::Cancelled { iteration }) => {
                anyhow::bail!("cancelled at iteration {iteration}; rerun to resume from its checkpoint")
            }
            // The engine's message already names the stage.
            Err(error) => Err(error.into()),
        }
    }
}

/// Rejects a `dataset` input without images in `trainA/` or `trainB/`. The message names the
/// input rather than its path, which is internal to the cache.
fn check_domains(dataset: &std::path::Path) -> anyhow::Result<()> {
    for domain in ["trainA", "trainB"] {
        let has_images = mcgan::data::list_images(&dataset.join(domain))
            .is_ok_and(|images| !images.is_empty());
        if !has_images {
            anyhow::bail!(
                "the `dataset` input has no images (.jpg, .jpeg, .png, .bmp) in {domain}/; when \
                 a `dataset` stage makes it, give that stage a `limit_per_split` of at least 1 \
                 and an archive with {domain}/ images"
            );
        }
    }
    Ok(())
}
