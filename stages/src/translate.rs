//! The `translate` kind: a trained generator applied to an image folder once per mask, each
//! centered scale (`scale=0.50/`, ...) or each mask of a bank (`mask_0000/`, ...).
//!
//! Its params are [`TranslateParams`], the struct `pipeline translate` maps its flags to, and
//! both run [`translate_folder`], so a stage and the command line with the same values write
//! the same bytes. Inputs: `checkpoint` (a `checkpoint.safetensors` file, or a `train` output
//! holding one), `images` (a folder) and optionally `masks` (a mask bank).

use std::path::{Path, PathBuf};

use anyhow::Context;
use dag::{InputSpec, StageContext, StageKind};

pub use mcgan::checkpoint::Direction;
pub use mcgan::import::{import_authors_checkpoint, ImportedCheckpoint};
pub use mcgan::translate::{
    check_size, InvalidParam, TranslateParams, TranslatePaths, TranslateSummary,
};

/// File name of the checkpoint inside a `train` stage's output.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// The `translate` stage kind.
pub struct Translate;

impl StageKind for Translate {
    fn name(&self) -> &'static str {
        "translate"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::TRANSLATE
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        let canonical = dag::check_params::<TranslateParams>(params)?;
        let typed: TranslateParams =
            serde_json::from_value(canonical.clone()).map_err(|error| error.to_string())?;
        // The message names the param (`param `size`: ...`), which the spec error points at.
        typed.validate().map_err(|error| error.to_string())?;
        Ok(canonical)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        const INPUTS: &[InputSpec] = &[
            InputSpec::required("checkpoint"),
            InputSpec::required("images"),
            InputSpec::optional("masks"),
        ];
        INPUTS
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: TranslateParams = ctx.params()?;
        let checkpoint = checkpoint_file(ctx.input_path("checkpoint")?);
        let images = ctx.input_path("images")?.to_path_buf();
        let masks = match ctx.input("masks") {
            Some(_) => Some(ctx.input_path("masks")?.to_path_buf()),
            None => None,
        };
        let device = crate::features::candle_device(ctx.device())?;
        let paths = TranslatePaths {
            checkpoint: &checkpoint,
            images: &images,
            masks: masks.as_deref(),
            out_dir: ctx.out_dir(),
        };
        let count = mcgan::translate::list_images(&images)?.len();
        ctx.progress().set_length(count as u64);
        ctx.progress().set_message(params.direction.to_string());
        let progress = ctx.progress();
        translate_folder(&params, paths, &device, &mut |n| progress.inc(n), &|| {
            ctx.cancelled()
        })?;
        Ok(())
    }
}

/// The checkpoint file a `checkpoint` reference names: the path itself, or the
/// `checkpoint.safetensors` inside it when it is a folder.
pub fn checkpoint_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(CHECKPOINT_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Translates a folder; the command line and the stage both come through here.
pub fn translate_folder(
    params: &TranslateParams,
    paths: TranslatePaths,
    device: &candle_core::Device,
    progress: &mut dyn FnMut(u64),
    cancelled: &dyn Fn() -> bool,
) -> anyhow::Result<TranslateSummary> {
    mcgan::translate::translate(params, paths, device, progress, cancelled).with_context(|| {
        format!(
            "cannot translate {} with {}",
            paths.images.display(),
            paths.checkpoint.display()
        )
    })
}
