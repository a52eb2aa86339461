//! `pipeline masks`: writes a mask bank for quick looks and scripts.
//!
//! The flags map one to one onto the `mask-bank` stage's params, and both go through
//! `stages::mask_bank::write_bank`, so the same values give the same bytes either way.

use std::path::PathBuf;

use stages::mask_bank::{write_bank, MaskBankParams, Preset, Scheme};

use crate::exit::InvalidInput;

/// Flags of `pipeline masks`.
#[derive(Debug, clap::Args)]
pub struct MasksArgs {
    /// Mask scheme: centered-square, multi-rectangles, round or binary-attention.
    #[arg(long)]
    pub scheme: Scheme,
    /// Side of every mask, in pixels.
    #[arg(long)]
    pub size: u32,
    /// Number of masks of a multi-rectangles bank [default: 100].
    #[arg(long)]
    pub count: Option<u32>,
    /// Seed of the multi-rectangle draws [default: 0].
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
    /// Output directory for mask_NNNN.png and masks.parquet.
    #[arg(long)]
    pub out: PathBuf,
}

impl MasksArgs {
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
    let params = args.params();
    params
        .validate()
        .map_err(|error| InvalidInput(error.to_string()))?;
    let bank = write_bank(&params, &args.out)?;
    println!(
        "{} {} masks written to {}",
        bank.masks.len(),
        args.scheme.name(),
        args.out.display()
    );
    Ok(())
}
