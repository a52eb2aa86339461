//! `pipeline masks`: writes a mask bank for quick looks and scripts.
//!
//! The flags map one to one onto the `mask-bank` stage's params, and both go through
//! `stages::mask_bank::write_bank`, so the same values give the same bytes either way.

use std::path::PathBuf;

use stages::mask_bank::{write_bank, MaskBankParams, MaskError, Preset, Scheme, TABLE_FILE};

use crate::exit::InvalidInput;
use crate::output_folder::OutputFolder;

/// Flags of `pipeline masks`.
#[derive(Debug, clap::Args)]
pub struct MasksArgs {
    /// Mask scheme: centered-square, multi-rectangles, round or binary-attention.
    #[arg(long)]
    pub scheme: Scheme,
    /// Side of every mask, in pixels, 1 to 8192.
    #[arg(long)]
    pub size: u32,
    /// Number of masks, at least 1 (multi-rectangles only; other schemes reject it) [default: 100].
    #[arg(long)]
    pub count: Option<u32>,
    /// Seed of the multi-rectangle draws (multi-rectangles only; other schemes reject it) [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Centered-square scales, one mask each, in this order [default: 0.5,0.8,1.0].
    #[arg(long, value_delimiter = ',')]
    pub scales: Option<Vec<f64>>,
    /// Round-mask radii as fractions of half the side, one mask each [default: 0.3,0.6,0.9].
    #[arg(long, value_delimiter = ',')]
    pub radii: Option<Vec<f64>>,
    /// Multi-rectangle algorithm: paper (Algorithm 1) or authors-code [default: authors-code].
    #[arg(long)]
    pub preset: Option<Preset>,
    /// Inclusive lower bound of the drawn rectangle count [default: 1].
    #[arg(long)]
    pub min_rects: Option<u32>,
    /// Exclusive upper bound of the drawn rectangle count [default: 5].
    #[arg(long)]
    pub max_rects: Option<u32>,
    /// Minimum summed rectangle area, a fraction of the image [default: 0.15 paper, 0.2 authors-code].
    #[arg(long)]
    pub min_area: Option<f64>,
    /// Minimum rectangle side, a fraction of the size [default: 0.1 paper, 0.15 authors-code].
    #[arg(long)]
    pub min_side: Option<f64>,
    /// Maximum rectangle side, a fraction of the size [default: 1.0].
    #[arg(long)]
    pub max_side: Option<f64>,
    /// Probability of a full mask instead of rectangles [default: 0 paper, 0.2 authors-code].
    #[arg(long)]
    pub full_probability: Option<f64>,
    /// Directory of grayscale attention maps (binary-attention), one mask per map.
    #[arg(long)]
    pub maps: Option<PathBuf>,
    /// Attention threshold, a fraction of 255 (binary-attention) [default: 0.5].
    #[arg(long)]
    pub threshold: Option<f64>,
    /// Output folder for mask_NNNN.png and masks.parquet, replaced as a whole. An existing
    /// folder must be empty or a bank.
    #[arg(long)]
    pub out: PathBuf,
}

impl MasksArgs {
    /// Rejects `--count` and `--seed` for the schemes that ignore them. A stage accepts them
    /// for every scheme, so that one set of params can expand over several schemes in a
    /// matrix, but on the command line they can only be a mistake.
    fn reject_ignored_flags(&self) -> Result<(), InvalidInput> {
        if self.scheme == Scheme::MultiRectangles {
            return Ok(());
        }
        let given = [
            ("--count", self.count.is_some()),
            ("--seed", self.seed.is_some()),
        ];
        match given.into_iter().find(|(_, is_given)| *is_given) {
            Some((flag, _)) => Err(InvalidInput(format!(
                "{flag} applies only to scheme multi-rectangles, not {}; remove it",
                self.scheme.name()
            ))),
            None => Ok(()),
        }
    }

    /// The stage params these flags stand for.
    pub fn params(&self) -> MaskBankParams {
        let mut params = MaskBankParams::new(self.scheme, self.size);
        if let Some(count) = self.count {
            params.count = count;
        }
        if let Some(seed) = self.seed {
            params.seed = seed;
        }
        params.scales = self.scales.clone();
        params.radii = self.radii.clone();
        params.preset = self.preset;
        params.min_rects = self.min_rects;
        params.max_rects = self.max_rects;
        params.min_area = self.min_area;
        params.min_side = self.min_side;
        params.max_side = self.max_side;
        params.full_probability = self.full_probability;
        params.maps = self.maps.clone();
        params.threshold = self.threshold;
        params
    }
}

/// Writes the bank and prints where it went. Flags that no bank can use (a foreign flag, a
/// scale outside [0, 1], binary-attention without `--maps`) are bad usage (exit code 2).
pub fn run(args: MasksArgs) -> anyhow::Result<()> {
    args.reject_ignored_flags()?;
    let params = args.params();
    params.validate().map_err(flag_error)?;
    let out = OutputFolder::check("--out", &args.out, is_bank_file)?;
    let bank = out.replace_with(|staging| write_bank(&params, staging))?;
    println!(
        "{} {} masks written to {}",
        bank.masks.len(),
        args.scheme.name(),
        args.out.display()
    );
    Ok(())
}

/// Whether `name` is a file that a bank consists of: its table or a mask image.
fn is_bank_file(name: &str) -> bool {
    name == TABLE_FILE || (name.starts_with("mask_") && name.ends_with(".png"))
}

/// Turns a params error into a bad-usage error that names the flag (`--min-area`) rather
/// than the param (`min_area`).
fn flag_error(error: MaskError) -> InvalidInput {
    match error {
        MaskError::InvalidParam { param, reason } => {
            InvalidInput(format!("--{} {reason}", param.replace('_', "-")))
        }
        other => InvalidInput(other.to_string()),
    }
}
