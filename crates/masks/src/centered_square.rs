//! Centered square masks, the training masks of Mask CycleGAN's Figure 4 model.

use crate::Mask;

/// Half-open row (and column) range `lo..hi` of the centered square of `scale`.
///
/// With `mid = size / 2` (integer division), `lo = floor(mid - mid * scale)` and
/// `hi = floor(mid + mid * scale)`, as in the authors' code: size 128 and scale 0.5
/// give 32..96. For an odd size `mid` rounds down, so even scale 1.0 leaves the last
/// row and column out, as the authors' code does.
pub fn centered_square_range(size: usize, scale: f64) -> std::ops::Range<usize> {
    let mid = (size / 2) as f64;
    let lo = (mid - mid * scale).floor().max(0.0) as usize;
    let hi = (mid + mid * scale).floor().max(0.0) as usize;
    lo.min(size)..hi.min(size)
}

/// Builds a mask whose masked region is the centered square of `scale` (1.0 is the full
/// mask for an even size).
pub fn centered_square(size: usize, scale: f64) -> Mask {
    let range = centered_square_range(size, scale);
    let mut mask = Mask::empty(size);
    mask.fill_rect(range.clone(), range);
    mask
}
