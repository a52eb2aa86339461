//! Binary masks for Mask CycleGAN: each scheme is a pure function of its parameters, the
//! size and a seed, and a bank is N masks plus a parquet table of their parameters.
//!
//! Schemes: [`centered_square`] (the Figure 4 training masks), multi-rectangles
//! ([`MultiRectangles`], Algorithm 1 or the authors' code variant), [`round`] (centered
//! discs) and [`binary_attention`] (a thresholded attention map). [`MaskSampler`] draws
//! one mask per training iteration; [`Bank`] generates, writes and reads banks.

mod bank;
mod bank_params;
mod bank_table;
pub mod binary_attention;
mod centered_square;
mod error;
mod mask;
mod multi_rectangles;
mod round;
mod sampler;

pub use bank::{mask_file_name, mask_rng, Bank, MaskRecord, TABLE_FILE};
pub use bank_params::{
    BankParams, Scheme, DEFAULT_COUNT, DEFAULT_RADII, DEFAULT_SCALES, DEFAULT_THRESHOLD,
    MAX_BANK_PIXELS, MAX_SIZE,
};
pub use binary_attention::binary_attention;
pub use centered_square::{centered_square, centered_square_range};
pub use error::MaskError;
pub use mask::Mask;
pub use multi_rectangles::{
    MultiRectangles, MultiRectanglesParams, Preset, Rect, RectanglesSample,
};
pub use round::round;
pub use sampler::{MaskSampler, SamplerConfig};
