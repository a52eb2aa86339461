//! Parameters of a mask bank, shared by the `mask-bank` stage and `pipeline masks`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{MaskError, MultiRectangles, MultiRectanglesParams, Preset};

/// Mask scheme of a bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    CenteredSquare,
    MultiRectangles,
    Round,
    BinaryAttention,
}

impl Scheme {
    /// The scheme's name as written in params and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::CenteredSquare => "centered-square",
            Scheme::MultiRectangles => "multi-rectangles",
            Scheme::Round => "round",
            Scheme::BinaryAttention => "binary-attention",
        }
    }
}

impl std::str::FromStr for Scheme {
    type Err = MaskError;

    /// Parses a scheme name as written in params, such as `multi-rectangles`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let schemes = [
            Scheme::CenteredSquare,
            Scheme::MultiRectangles,
            Scheme::Round,
            Scheme::BinaryAttention,
        ];
        schemes
            .into_iter()
            .find(|scheme| scheme.name() == name)
            .ok_or_else(|| {
                MaskError::InvalidParams(format!(
                    "unknown scheme `{name}`; expected centered-square, multi-rectangles, \
                     round or binary-attention"
                ))
            })
    }
}

/// Default number of masks of a multi-rectangles bank.
pub const DEFAULT_COUNT: u32 = 100;
/// Default centered-square scales, those of Mask CycleGAN's Figure 4.
pub const DEFAULT_SCALES: [f64; 3] = [0.5, 0.8, 1.0];
/// Default round-mask radii as fractions of half the side.
pub const DEFAULT_RADII: [f64; 3] = [0.3, 0.6, 0.9];
/// Default attention threshold, as a fraction of 255.
pub const DEFAULT_THRESHOLD: f64 = 0.5;
/// Largest mask side, in pixels. A bank keeps every mask in memory at one byte a pixel, so
/// the bound keeps a bank of the default 100 masks under 7 GB.
pub const MAX_SIZE: u32 = 8192;
/// Largest number of pixels in a bank, all masks together: 8 GiB at one byte a pixel.
pub const MAX_BANK_PIXELS: u64 = 1 << 33;

/// Everything that decides a bank's bytes.
///
/// `count` and `seed` apply to multi-rectangles and are ignored by the deterministic
/// schemes, so one set of params can be expanded over several schemes. The other
/// optional fields belong to one scheme each and are rejected for the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankParams {
    pub scheme: Scheme,
    /// Side of every mask, in pixels.
    pub size: u32,
    /// Number of multi-rectangle masks; default 100.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Seed of the multi-rectangle draws; default 0.
    #[serde(default)]
    pub seed: u64,
    /// Centered-square scales, one mask each in this order; default 0.5, 0.8, 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scales: Option<Vec<f64>>,
    /// Round-mask radii as fractions of half the side, one mask each, at most sqrt(2)
    /// (the whole image); default 0.3, 0.6, 0.9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radii: Option<Vec<f64>>,
    /// Multi-rectangle algorithm; default `authors-code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// See [`MultiRectanglesParams::min_rects`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_rects: Option<u32>,
    /// See [`MultiRectanglesParams::max_rects`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rects: Option<u32>,
    /// See [`MultiRectanglesParams::min_area`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_area: Option<f64>,
    /// See [`MultiRectanglesParams::min_side`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_side: Option<f64>,
    /// See [`MultiRectanglesParams::max_side`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_side: Option<f64>,
    /// See [`MultiRectanglesParams::full_probability`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_probability: Option<f64>,
    /// Directory of grayscale attention maps (binary-attention only), one mask per map
    /// in name order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maps: Option<PathBuf>,
    /// Attention threshold as a fraction of 255 (binary-attention only); default 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

fn default_count() -> u32 {
    DEFAULT_COUNT
}

impl BankParams {
    /// Params of `scheme` at `size` with every optional value at its default.
    pub fn new(scheme: Scheme, size: u32) -> Self {
        BankParams {
            scheme,
            size,
            count: DEFAULT_COUNT,
            seed: 0,
            scales: None,
            radii: None,
            preset: None,
            min_rects: None,
            max_rects: None,
            min_area: None,
            min_side: None,
            max_side: None,
            full_probability: None,
            maps: None,
            threshold: None,
        }
    }

    /// Checks every value against the scheme and the size.
    pub fn validate(&self) -> Result<(), MaskError> {
        if self.size == 0 {
            return Err(MaskError::param("size", "must be at least 1"));
        }
        if self.size > MAX_SIZE {
            return Err(MaskError::param(
                "size",
                format!("must be at most {MAX_SIZE} pixels, got {}", self.size),
            ));
        }
        if self.count == 0 {
            return Err(MaskError::param(
                "count",
                "must be at least 1, because a bank needs masks",
            ));
        }
        let pixels = u64::from(self.count) * u64::from(self.size) * u64::from(self.size);
        if pixels > MAX_BANK_PIXELS {
            return Err(MaskError::param(
                "count",
                format!(
                    "{} masks of {size}x{size} pixels would take {:.1} GiB in memory, more than \
                     the 8 GiB a bank may hold: lower count or size",
                    self.count,
                    pixels as f64 / f64::from(1u32 << 30),
                    size = self.size,
                ),
            ));
        }
        self.reject_foreign_fields()?;
        match self.scheme {
            Scheme::CenteredSquare => check_fractions("scales", &self.scales(), 1.0),
            Scheme::Round => check_fractions("radii", &self.radii(), std::f64::consts::SQRT_2),
            Scheme::MultiRectangles => self.multi_rectangles()?.check_size(self.size as usize),
            Scheme::BinaryAttention => {
                if self.maps.is_none() {
                    return Err(MaskError::param(
                        "maps",
                        "is required by binary-attention: a directory of attention map images",
                    ));
                }
                let threshold = self.threshold();
                if !(0.0..=1.0).contains(&threshold) {
                    return Err(MaskError::param(
                        "threshold",
                        format!("must lie in [0, 1] (a fraction of 255), got {threshold}"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Centered-square scales, defaulted.
    pub fn scales(&self) -> Vec<f64> {
        self.scales
            .clone()
            .unwrap_or_else(|| DEFAULT_SCALES.to_vec())
    }

    /// Round-mask radii, defaulted.
    pub fn radii(&self) -> Vec<f64> {
        self.radii.clone().unwrap_or_else(|| DEFAULT_RADII.to_vec())
    }

    /// Attention threshold, defaulted.
    pub fn threshold(&self) -> f64 {
        self.threshold.unwrap_or(DEFAULT_THRESHOLD)
    }

    /// Multi-rectangle settings with the preset's defaults filled in.
    pub fn multi_rectangles(&self) -> Result<MultiRectangles, MaskError> {
        MultiRectanglesParams {
            preset: self.preset.unwrap_or_default(),
            min_rects: self.min_rects,
            max_rects: self.max_rects,
            min_area: self.min_area,
            min_side: self.min_side,
            max_side: self.max_side,
            full_probability: self.full_probability,
        }
        .resolve()
    }

    fn reject_foreign_fields(&self) -> Result<(), MaskError> {
        let given = [
            ("scales", self.scales.is_some(), Scheme::CenteredSquare),
            ("radii", self.radii.is_some(), Scheme::Round),
            ("preset", self.preset.is_some(), Scheme::MultiRectangles),
            (
                "min_rects",
                self.min_rects.is_some(),
                Scheme::MultiRectangles,
            ),
            (
                "max_rects",
                self.max_rects.is_some(),
                Scheme::MultiRectangles,
            ),
            ("min_area", self.min_area.is_some(), Scheme::MultiRectangles),
            ("min_side", self.min_side.is_some(), Scheme::MultiRectangles),
            ("max_side", self.max_side.is_some(), Scheme::MultiRectangles),
            (
                "full_probability",
                self.full_probability.is_some(),
                Scheme::MultiRectangles,
            ),
            ("maps", self.maps.is_some(), Scheme::BinaryAttention),
            (
                "threshold",
                self.threshold.is_some(),
                Scheme::BinaryAttention,
            ),
        ];
        for (name, is_given, owner) in given {
            if is_given && owner != self.scheme {
                return Err(MaskError::param(
                    name,
                    format!(
                        "applies only to scheme {}, not {}; remove it",
                        owner.name(),
                        self.scheme.name()
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn check_fractions(name: &'static str, values: &[f64], max: f64) -> Result<(), MaskError> {
    if values.is_empty() {
        return Err(MaskError::param(name, "needs at least one value"));
    }
    if let Some(value) = values.iter().find(|&&value| !(value > 0.0 && value <= max)) {
        return Err(MaskError::param(
            name,
            format!("values must lie in (0, {max}], got {value}"),
        ));
    }
    Ok(())
}
