//! Multi-rectangle masks: Algorithm 1 of the Mask CycleGAN paper (Wang et al., 2019) and
//! the variant in the authors' code (github.com/minfawang/mask-cgan).
//!
//! Algorithm 1 draws a target count of rectangles, then adds random rectangles until
//! both the count and the summed area reach their minimums. `uniform(a, b)` there draws
//! an integer `n` with `a <= n < b`, with real bounds allowed, and every rectangle covers
//! the half-open ranges `[i0, i1) x [j0, j1)`. Read literally, the draws never reach the
//! last row or column, and the summed area counts overlaps twice.
//!
//! The authors' code differs: a full mask with probability 0.2, then start positions
//! in `[0, int(0.85 N) - 1]` and side fractions drawn from a continuous uniform, with the
//! area summed from those fractions. Their Figure 5 model was trained with it, so that
//! preset is the default.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{Mask, MaskError};

/// Multi-rectangle algorithm, which also supplies the defaults of unset constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Algorithm 1 as printed: min_rects 1, max_rects 5, min_area 0.15,
    /// min_side 0.1, max_side 1.0, no full masks.
    Paper,
    /// The variant in the authors' code: 20% full masks, 1 to 4 rectangles, summed area
    /// at least 0.2, sides at least 0.15 of the size.
    #[default]
    AuthorsCode,
}

impl Preset {
    /// Returns the preset's name as written in params and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::AuthorsCode => "authors-code",
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = MaskError;

    /// Parses `paper` or `authors-code`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [Preset::Paper, Preset::AuthorsCode]
            .into_iter()
            .find(|preset| preset.name() == name)
            .ok_or_else(|| {
                MaskError::InvalidParams(format!(
                    "unknown preset `{name}`; expected paper or authors-code"
                ))
            })
    }
}

/// Multi-rectangle settings as written by a user: unset values take the preset's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiRectanglesParams {
    /// Algorithm; default `authors-code`.
    #[serde(default)]
    pub preset: Preset,
    /// Inclusive lower bound of the drawn rectangle count; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rects: Option<u32>,
    /// Exclusive upper bound of the drawn rectangle count; default 5 (so 1 to 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rects: Option<u32>,
    /// Minimum summed rectangle area as a fraction of the image; default 0.15 for
    /// `paper`, 0.2 for `authors-code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_area: Option<f64>,
    /// Minimum side as a fraction of the size; default 0.1 for `paper`, 0.15 for
    /// `authors-code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_side: Option<f64>,
    /// Maximum side as a fraction of the size; default 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_side: Option<f64>,
    /// Probability of drawing the full mask instead of rectangles; default 0 for
    /// `paper`, 0.2 for `authors-code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_probability: Option<f64>,
}

impl MultiRectanglesParams {
    /// Fills unset values from the preset and checks the ranges.
    pub fn resolve(&self) -> Result<MultiRectangles, MaskError> {
        let (min_area, min_side, full_probability) = match self.preset {
            Preset::Paper => (0.15, 0.1, 0.0),
            Preset::AuthorsCode => (0.2, 0.15, 0.2),
        };
        let resolved = MultiRectangles {
            preset: self.preset,
            min_rects: self.min_rects.unwrap_or(1),
            max_rects: self.max_rects.unwrap_or(5),
            min_area: self.min_area.unwrap_or(min_area),
            min_side: self.min_side.unwrap_or(min_side),
            max_side: self.max_side.unwrap_or(1.0),
            full_probability: self.full_probability.unwrap_or(full_probability),
        };
        resolved.validate(self)?;
        Ok(resolved)
    }
}

/// Multi-rectangle settings with every constant resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultiRectangles {
    pub preset: Preset,
    pub min_rects: u32,
    pub max_rects: u32,
    pub min_area: f64,
    pub min_side: f64,
    pub max_side: f64,
    pub full_probability: f64,
}

/// One rectangle of a mask: rows `top..bottom`, columns `left..right`, half-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub top: u32,
    pub left: u32,
    pub bottom: u32,
    pub right: u32,
}

impl Rect {
    /// Area in pixels.
    pub fn area(&self) -> u64 {
        u64::from(self.bottom - self.top) * u64::from(self.right - self.left)
    }
}

/// One drawn multi-rectangle mask with the values that decided when drawing stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct RectanglesSample {
    pub mask: Mask,
    /// Rectangles in drawing order; empty for a full mask.
    pub rects: Vec<Rect>,
    /// The drawn minimum count; 0 for a full mask.
    pub target_rects: u32,
    /// The area the algorithm summed, overlaps counted twice: pixel areas over `size^2`
    /// for `paper`, products of the drawn side fractions for `authors-code`.
    pub summed_area: f64,
    /// Whether the full mask was drawn instead of rectangles.
    pub full: bool,
}

impl MultiRectangles {
    /// Checks the ranges. When the two rectangle-count bounds contradict each other, the
    /// error names `max_rects` if `written` sets it and `min_rects` otherwise.
    fn validate(&self, written: &MultiRectanglesParams) -> Result<(), MaskError> {
        if self.min_rects >= self.max_rects {
            let (min, max) = (self.min_rects, self.max_rects);
            return Err(if written.max_rects.is_some() {
                MaskError::param(
                    "max_rects",
                    format!(
                        "must exceed the minimum rectangle count {min}, because it is \
                         exclusive; got {max}"
                    ),
                )
            } else {
                MaskError::param(
                    "min_rects",
                    format!("must be below the exclusive maximum rectangle count {max}, got {min}"),
                )
            });
        }
        if !(self.min_side > 0.0 && self.min_side < 1.0) {
            return Err(MaskError::param(
                "min_side",
                format!("must lie in (0, 1), got {}", self.min_side),
            ));
        }
        if !(self.max_side > self.min_side && self.max_side <= 1.0) {
            return Err(MaskError::param(
                "max_side",
                format!(
                    "must lie in (minimum side {}, 1], got {}",
                    self.min_side, self.max_side
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_area) {
            return Err(MaskError::param(
                "min_area",
                format!("must lie in [0, 1], got {}", self.min_area),
            ));
        }
        if !(0.0..=1.0).contains(&self.full_probability) {
            return Err(MaskError::param(
                "full_probability",
                format!("must lie in [0, 1], got {}", self.full_probability),
            ));
        }
        Ok(())
    }

    /// Checks that rectangles of the configured sides fit in a `size` image.
    pub fn check_size(&self, size: usize) -> Result<(), MaskError> {
        let n = size as f64;
        let min_pixels = ceil_tolerant(self.min_side * n);
        let max_end = ceil_tolerant((self.max_side * n).min(n));
        if size == 0 || min_pixels >= max_end {
            return Err(MaskError::param(
                "size",
                format!(
                    "{size} leaves no room for a rectangle with sides between {} and {} of \
                     the size; raise the size or the maximum side",
                    self.min_side, self.max_side
                ),
            ));
        }
        Ok(())
    }

    /// Draws one mask for a `size` image; call [`MultiRectangles::check_size`] first.
    pub fn sample<R: Rng + ?Sized>(&self, size: usize, rng: &mut R) -> RectanglesSample {
        match self.preset {
            Preset::Paper => self.sample_paper(size, rng),
            Preset::AuthorsCode => self.sample_authors_code(size, rng),
        }
    }

    fn sample_paper<R: Rng + ?Sized>(&self, size: usize, rng: &mut R) -> RectanglesSample {
        if rng.random_bool(self.full_probability) {
            return full_sample(size);
        }
        let n = size as f64;
        let min_pixels = self.min_side * n;
        let max_pixels = self.max_side * n;
        let target_rects = self.min_rects + rng.random_range(0..self.max_rects - self.min_rects);

        let mut mask = Mask::empty(size);
        let mut rects = Vec::new();
        let mut summed_area = 0.0;
        while (rects.len() as u32) < target_rects || summed_area < self.min_area {
            // NOTE: Algorithm 1 leaves the end draw empty when a start lies within
            // min_side of the edge and no integer fits, as for size 128 and start 115
            // (ends in [127.8, 128)). Such starts are drawn again, which keeps the
            // relative odds of every start that can finish a rectangle.
            let (i0, j0) = loop {
                let i0 = uniform_integer(rng, 0.0, n - min_pixels);
                let j0 = uniform_integer(rng, 0.0, n - min_pixels);
                let fits = |start: usize| {
                    let start = start as f64;
                    ceil_tolerant(start + min_pixels) < ceil_tolerant((start + max_pixels).min(n))
                };
                if fits(i0) && fits(j0) {
                    break (i0, j0);
                }
            };
            let i1 = uniform_integer(rng, i0 as f64 + min_pixels, (i0 as f64 + max_pixels).min(n));
            let j1 = uniform_integer(rng, j0 as f64 + min_pixels, (j0 as f64 + max_pixels).min(n));

            mask.fill_rect(i0..i1, j0..j1);
            let rect = rect(i0, j0, i1, j1);
            summed_area += rect.area() as f64 / (n * n);
            rects.push(rect);
        }
        RectanglesSample {
            mask,
            rects,
            target_rects,
            summed_area,
            full: false,
        }
    }

    fn sample_authors_code<R: Rng + ?Sized>(&self, size: usize, rng: &mut R) -> RectanglesSample {
        if rng.random_bool(self.full_probability) {
            return full_sample(size);
        }
        let n = size as f64;
        let target_rects = self.min_rects + rng.random_range(0..self.max_rects - self.min_rects);
        // The code draws starts with randint(0, int(0.85 N) - 1), inclusive, where 0.85 is
        // one minus the minimum side.
        let last_start = (floor_tolerant((1.0 - self.min_side) * n) as usize).max(1) - 1;

        let mut mask = Mask::empty(size);
        let mut rects = Vec::new();
        let mut summed_area = 0.0;
        while (rects.len() as u32) < target_rects || summed_area < self.min_area {
            let h1 = rng.random_range(0..=last_start);
            let w1 = rng.random_range(0..=last_start);
            let height = uniform_real(rng, self.min_side, self.max_side.min(1.0 - h1 as f64 / n));
            let width = uniform_real(rng, self.min_side, self.max_side.min(1.0 - w1 as f64 / n));
            let h2 = (ceil_tolerant(h1 as f64 + height * n) as usize).min(size);
            let w2 = (ceil_tolerant(w1 as f64 + width * n) as usize).min(size);

            mask.fill_rect(h1..h2, w1..w2);
            rects.push(rect(h1, w1, h2, w2));
            summed_area += height * width;
        }
        RectanglesSample {
            mask,
            rects,
            target_rects,
            summed_area,
            full: false,
        }
    }
}

fn full_sample(size: usize) -> RectanglesSample {
    RectanglesSample {
        mask: Mask::full(size),
        rects: Vec::new(),
        target_rects: 0,
        summed_area: 0.0,
        full: true,
    }
}

fn rect(top: usize, left: usize, bottom: usize, right: usize) -> Rect {
    Rect {
        top: top as u32,
        left: left as u32,
        bottom: bottom as u32,
        right: right as u32,
    }
}

/// Algorithm 1's `uniform(a, b)`: an integer `n` with `a <= n < b`, uniformly.
/// The caller guarantees that such an integer exists.
fn uniform_integer<R: Rng + ?Sized>(rng: &mut R, low: f64, high: f64) -> usize {
    let first = ceil_tolerant(low).max(0.0) as usize;
    let end = ceil_tolerant(high) as usize;
    rng.random_range(first..end.max(first + 1))
}

/// Draws a uniform real in `[low, high)`, or returns `low` when the interval is empty.
fn uniform_real<R: Rng + ?Sized>(rng: &mut R, low: f64, high: f64) -> f64 {
    if high <= low {
        return low;
    }
    rng.random_range(low..high)
}

// Side bounds are fractions times the size, and 0.7 * 90 comes out as 62.99999999999999.
// Rounding within 1e-9 first keeps such products on the integer they mean.
const ROUNDING_SLACK: f64 = 1e-9;

fn ceil_tolerant(value: f64) -> f64 {
    (value - ROUNDING_SLACK).ceil()
}

fn floor_tolerant(value: f64) -> f64 {
    (value + ROUNDING_SLACK).floor()
}
