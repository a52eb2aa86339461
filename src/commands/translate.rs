//! `pipeline translate`: applies a trained generator to a folder of images, once per centered
//! mask scale (`OUT/scale=0.80/<stem>.png`) or once per mask of a bank
//! (`OUT/<mask stem>/<stem>.png`).
//!
//! The flags map onto the `translate` stage's params and both run
//! `stages::translate::translate_folder`, so the same values give the same bytes either way.

use std::path::PathBuf;

use stages::translate::{
    checkpoint_file, translate_folder, Direction, TranslateParams, TranslatePaths,
};

use crate::exit::InvalidInput;

/// Arguments of `pipeline translate`.
#[derive(Debug, clap::Args)]
pub struct TranslateArgs {
    /// Checkpoint (.safetensors from training or `pipeline import-checkpoint`), or a train
    /// output folder holding checkpoint.safetensors.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: PathBuf,

    /// Folder of input images (.png, .jpg, .jpeg); subfolders are not read.
    #[arg(long, value_name = "DIR")]
    pub input: PathBuf,

    /// Output folder; one subfolder per mask is written into it.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Which generator translates: a2b or b2a.
    #[arg(long, value_name = "a2b|b2a")]
    pub direction: Direction,

    /// Centered-square mask scales in [0, 1], comma-separated [default: 0.5,0.8,1.0].
    #[arg(
        long,
        value_name = "S",
        value_delimiter = ',',
        conflicts_with = "masks"
    )]
    pub scale: Option<Vec<f64>>,

    /// Mask bank folder (masks.parquet and mask_NNNN.png) instead of centered squares.
    #[arg(long, value_name = "DIR")]
    pub masks: Option<PathBuf>,

    /// Image side in pixels [default: the checkpoint's training size, else the inputs' side].
    #[arg(long, value_name = "N")]
    pub size: Option<usize>,

    /// Images per forward pass; the outputs do not depend on it.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch: usize,
}

impl TranslateArgs {
    /// The stage params these flags stand for.
    pub fn params(&self) -> TranslateParams {
        let mut params = TranslateParams::new(self.direction);
        if let Some(scales) = &self.scale {
            params.scales = scales.clone();
        }
        params.size = self.size;
        params.batch = self.batch;
        params
    }
}

/// Translates the folder and prints what was written.
pub fn run(args: TranslateArgs) -> anyhow::Result<()> {
    let params = args.params();
    params
        .validate()
        .map_err(|reason| InvalidInput(format!("invalid translate flags: {reason}")))?;
    let checkpoint = checkpoint_file(&args.checkpoint);
    let device = stages::features::candle_device(dag::Device::Cpu)?;
    let paths = TranslatePaths {
        checkpoint: &checkpoint,
        images: &args.input,
        masks: args.masks.as_deref(),
        out_dir: &args.out,
    };
    let summary = translate_folder(&params, paths, &device, &mut |_| {}, &|| false)?;
    eprintln!(
        "translated {} images at {}x{} into {} folders under {}",
        summary.images,
        summary.size,
        summary.size,
        summary.folders.len(),
        args.out.display()
    );
    Ok(())
}
