//! The `features` kind: Inception pool3 features of every image in one folder, as
//! `features.arrow` (columns `file` and `features`), rows in sorted file-name order.
//!
//! `pipeline features` runs the same [`extract_folder`] with the same [`FeaturesParams`], so
//! the stage and the command write identical bytes for identical values.

use std::path::Path;

use anyhow::Context;
use dag::{InputSpec, Progress, Resources, StageContext, StageKind};
use inception::{FeatureExtractor, Preprocess, FEATURE_DIM};
use serde::{Deserialize, Serialize};

/// File written into the output directory.
pub const FEATURES_OUTPUT: &str = "features.arrow";

/// Params of a `features` stage and of `pipeline features`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesParams {
    /// Preprocessing: `ttur` (default: TTUR, the tool behind the Mask CycleGAN paper's FID values), `pytorch-fid` or `clean`.
    #[serde(default)]
    pub mode: Preprocess,
    /// Images per forward pass (default 16); the features do not depend on it.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_batch() -> usize {
    16
}

impl Default for FeaturesParams {
    fn default() -> Self {
        Self {
            mode: Preprocess::default(),
            batch: default_batch(),
        }
    }
}

/// Extracts the features of every image directly inside `images` (sorted by file name) with
/// the network in `weights` on `device`. `progress` counts images; `cancelled` is polled
/// between batches.
pub fn extract_folder(
    images: &Path,
    weights: &Path,
    params: &FeaturesParams,
    device: &candle_core::Device,
    progress: &Progress,
    cancelled: &dyn Fn() -> bool,
) -> anyhow::Result<fid::FeatureTable> {
    if params.batch == 0 {
        anyhow::bail!("batch must be at least 1");
    }
    let files = inception::image_files(images)?;
    if files.is_empty() {
        anyhow::bail!(
            "no images (.png, .jpg, .jpeg) found in {}; pass the folder that contains them",
            images.display()
        );
    }
    let extractor = FeatureExtractor::load(weights, device)?;

    progress.set_length(files.len() as u64);
    let mut features = Vec::with_capacity(files.len() * FEATURE_DIM);
    for chunk in files.chunks(params.batch) {
        if cancelled() {
            anyhow::bail!("cancelled");
        }
        let rows = extractor.extract_files(chunk, params.mode, params.batch, &|count| {
            progress.inc(count as u64)
        })?;
        features.extend(rows.into_iter().flatten());
    }

    let names = files
        .iter()
        .map(|path| {
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    Ok(fid::FeatureTable::new(names, features, FEATURE_DIM)?)
}

/// Returns the candle device for the engine's device choice.
pub fn candle_device(device: dag::Device) -> anyhow::Result<candle_core::Device> {
    match device {
        dag::Device::Cpu => Ok(candle_core::Device::Cpu),
        dag::Device::Cuda => candle_core::Device::new_cuda(0)
            .context("CUDA is not available in this build; run the features stages on the CPU"),
    }
}

/// The `features` stage kind.
pub struct Features;

impl StageKind for Features {
    fn name(&self) -> &'static str {
        "features"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::FEATURES
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        dag::check_params::<FeaturesParams>(params)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        const INPUTS: &[InputSpec] = &[
            InputSpec::required("weights"),
            InputSpec::required("images"),
        ];
        INPUTS
    }

    fn resources(&self, _params: &serde_json::Value) -> dag::Resources {
        // The convolutions keep every core busy; the scheduler clamps this to --jobs.
        Resources {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            gpus: 0,
        }
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: FeaturesParams = ctx.params()?;
        let weights_input = ctx.input_path("weights")?;
        let weights = if weights_input.is_dir() {
            weights_input.join(crate::inception_weights::WEIGHTS_OUTPUT)
        } else {
            weights_input.to_path_buf()
        };
        let images = ctx.input_path("images")?.to_path_buf();
        let device = candle_device(ctx.device())?;

        let table = extract_folder(&images, &weights, &params, &device, ctx.progress(), &|| {
            ctx.cancelled()
        })?;
        table.write_arrow(&ctx.out_dir().join(FEATURES_OUTPUT))?;
        Ok(())
    }
}
