//! Parameters of a training run as a user writes them: the `train` stage's params and the
//! flags of the command line map to this one struct.

use candle_core::DType;
use masks::{MultiRectanglesParams, SamplerConfig};
use serde::{Deserialize, Serialize};

use crate::optimizer::AdamConfig;
use crate::run::RunConfig;
use crate::trainer::TrainerConfig;
use crate::{DiscriminatorConfig, DiscriminatorVariant, GeneratorConfig, LossWeights};

/// Source of the masks drawn during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
pub enum MaskScheme {
    /// No masks: plain CycleGAN (no mask encoders, no masked discriminators).
    None,
    /// A centered square per iteration, its scale drawn uniformly from `scales`.
    CenteredSquare {
        /// Scales to draw from; default 0.5, 0.8, 1.0.
        #[serde(default = "default_scales")]
        scales: Vec<f64>,
    },
    /// A fresh multi-rectangle mask per iteration.
    MultiRectangles(MultiRectanglesParams),
    /// One mask of the `masks` input's bank per iteration, drawn uniformly.
    Bank,
}

fn default_scales() -> Vec<f64> {
    vec![0.5, 0.8, 1.0]
}

/// Discriminator architecture of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiscriminatorKind {
    /// Two downsampling convolutions, as in the Mask CycleGAN authors' runs.
    #[default]
    Simple,
    /// The full PatchGAN of CycleGAN.
    Full,
}

/// Smallest training size the full PatchGAN takes: its three stride-2 convolutions leave an
/// eighth of the side, and its two 4x4 stride-1 convolutions take one pixel off each.
const MIN_SIZE_FULL_DISCRIMINATOR: usize = 24;

/// Parameters of a training run. Every field has a default: the settings of the Mask CycleGAN
/// paper (Wang et al., 2019), except
/// `checkpoint_every` and `sample_every`, which only concern bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainParams {
    /// Training image size in pixels; default 128.
    pub size: usize,
    /// Base channels of the generators; default 64.
    pub ngf: usize,
    /// Residual blocks of the generators; default 3.
    pub n_res: usize,
    /// Discriminator architecture; default `simple`.
    pub discriminator: DiscriminatorKind,
    /// Base channels of the discriminators; default 64.
    pub ndf: usize,
    /// Number of epochs; default 200.
    pub epochs: usize,
    /// First epoch (0-based) of the linear learning-rate decay; default 100.
    pub decay_from_epoch: usize,
    /// Iterations per epoch; default none, a full pass of `max(|trainA|, |trainB|)`.
    pub iterations_per_epoch: Option<usize>,
    /// Weight of the cycle loss; default 10.
    pub lambda_cyc: f64,
    /// Weight of the identity loss; default 5.
    pub lambda_idt: f64,
    /// Share of the masked discriminator in the GAN loss; default 0.7.
    pub lambda_mgan: f64,
    /// Share of the masked region in the cycle loss; default 0.3.
    pub lambda_mcyc: f64,
    /// Adam learning rate; default 2e-4.
    pub lr: f64,
    /// Adam betas; default [0.5, 0.999].
    pub betas: [f64; 2],
    /// Mask source; default none given: the `masks` input's bank when the stage has one,
    /// otherwise centered squares of scales 0.5, 0.8 and 1.0.
    pub masks: Option<MaskScheme>,
    /// Images read per domain (the first ones by file name); default none, all of them.
    pub train_limit: Option<usize>,
    /// Iterations between checkpoints; default 500 (0: only at the end).
    pub checkpoint_every: u64,
    /// Iterations between sample images; default 500 (0: none).
    pub sample_every: u64,
    /// Seed of the weight initialisation and of every random draw; default 0.
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        let weights = LossWeights::default();
        let adam = AdamConfig::default();
        Self {
            size: 128,
            ngf: 64,
            n_res: 3,
            discriminator: DiscriminatorKind::Simple,
            ndf: 64,
            epochs: 200,
            decay_from_epoch: 100,
            iterations_per_epoch: None,
            lambda_cyc: weights.lambda_cyc,
            lambda_idt: weights.lambda_idt,
            lambda_mgan: weights.lambda_mgan,
            lambda_mcyc: weights.lambda_mcyc,
            lr: adam.lr,
            betas: [adam.beta1, adam.beta2],
            masks: None,
            train_limit: None,
            checkpoint_every: 500,
            sample_every: 500,
            seed: 0,
        }
    }
}

impl TrainParams {
    /// Resolves the mask scheme in effect, given whether a mask bank is supplied.
    pub fn mask_scheme(&self, has_bank: bool) -> Result<MaskScheme, String> {
        match (&self.masks, has_bank) {
            (None, true) => Ok(MaskScheme::Bank),
            (None, false) => Ok(MaskScheme::CenteredSquare {
                scales: default_scales(),
            }),
            (Some(MaskScheme::Bank), false) => {
                Err("masks scheme `bank` needs a mask bank as the input `masks`".into())
            }
            (Some(MaskScheme::Bank), true) => Ok(MaskScheme::Bank),
            (Some(_), true) => Err(
                "a mask bank is given as the input `masks`, so leave the param `masks` unset \
                 or set its scheme to `bank`"
                    .into(),
            ),
            (Some(scheme), false) => Ok(scheme.clone()),
        }
    }

    /// Checks values a run cannot start with.
    pub fn validate(&self) -> Result<(), String> {
        if self.size < 8 {
            return Err(format!(
                "size {} is too small: use at least 8 pixels",
                self.size
            ));
        }
        if self.size % 4 != 0 {
            return Err(format!(
                "size {} is not a multiple of 4, so the generator's two stride-2 stages cannot \
                 restore it; use a multiple of 4",
                self.size
            ));
        }
        if self.size > crate::translate::MAX_SIZE {
            return Err(format!(
                "size {} is too large; use at most {} pixels",
                self.size,
                crate::translate::MAX_SIZE
            ));
        }
        if self.discriminator == DiscriminatorKind::Full && self.size < MIN_SIZE_FULL_DISCRIMINATOR
        {
            return Err(format!(
                "`size` {} is too small for the full discriminator: use at least \
                 {MIN_SIZE_FULL_DISCRIMINATOR} pixels, or `discriminator: simple`",
                self.size
            ));
        }
        let counts = [
            ("ngf", Some(self.ngf)),
            ("ndf", Some(self.ndf)),
            ("epochs", Some(self.epochs)),
            ("iterations_per_epoch", self.iterations_per_epoch),
            ("train_limit", self.train_limit),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, value)| *value == Some(0)) {
            return Err(format!("`{name}` is 0; use a positive whole number"));
        }
        if self.decay_from_epoch > self.epochs {
            return Err(format!(
                "`decay_from_epoch` {} is after the last epoch ({}); use at most `epochs`",
                self.decay_from_epoch, self.epochs
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(format!(
                "`lr` {} must be a positive number, such as the paper's 0.0002",
                self.lr
            ));
        }
        if let Some(beta) = self.betas.iter().find(|beta| !(0.0..1.0).contains(*beta)) {
            return Err(format!(
                "`betas` {beta} is outside [0, 1); Adam's betas are decay rates, such as the \
                 paper's [0.5, 0.999]"
            ));
        }
        for (name, value) in [
            ("lambda_cyc", self.lambda_cyc),
            ("lambda_idt", self.lambda_idt),
        ] {
            if !(value >= 0.0 && value.is_finite()) {
                return Err(format!("`{name}` {value} must be a number of at least 0"));
            }
        }
        for (name, value) in [
            ("lambda_mgan", self.lambda_mgan),
            ("lambda_mcyc", self.lambda_mcyc),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!(
                    "`{name}` {value} is outside [0, 1]; it is a share, and the other part \
                     gets 1 - `{name}`"
                ));
            }
        }
        if let Some(MaskScheme::CenteredSquare { scales }) = &self.masks {
            if scales.is_empty() || scales.iter().any(|s| !(0.0..=1.0).contains(s) || *s == 0.0) {
                return Err("centered-square scales must be in (0, 1] and not empty".into());
            }
        }
        if let Some(MaskScheme::MultiRectangles(settings)) = &self.masks {
            settings.resolve().map_err(|error| error.to_string())?;
        }
        Ok(())
    }

    /// Builds the run settings these parameters describe, for masks of `scheme`.
    pub fn run_config(&self, scheme: &MaskScheme) -> RunConfig {
        let variant = match self.discriminator {
            DiscriminatorKind::Simple => DiscriminatorVariant::Simple,
            DiscriminatorKind::Full => DiscriminatorVariant::Full,
        };
        let adam = AdamConfig {
            lr: self.lr,
            beta1: self.betas[0],
            beta2: self.betas[1],
            ..AdamConfig::default()
        };
        RunConfig {
            trainer: TrainerConfig {
                generator: GeneratorConfig {
                    ngf: self.ngf,
                    n_res: self.n_res,
                    masked: *scheme != MaskScheme::None,
                },
                discriminator: DiscriminatorConfig {
                    ndf: self.ndf,
                    variant,
                },
                weights: LossWeights {
                    lambda_cyc: self.lambda_cyc,
                    lambda_idt: self.lambda_idt,
                    lambda_mgan: self.lambda_mgan,
                    lambda_mcyc: self.lambda_mcyc,
                },
                adam,
                dtype: DType::F32,
            },
            size: self.size,
            epochs: self.epochs,
            decay_from_epoch: self.decay_from_epoch,
            iterations_per_epoch: self.iterations_per_epoch,
            checkpoint_every: self.checkpoint_every,
            sample_every: self.sample_every,
            seed: self.seed,
        }
    }
}

/// Builds the sampler configuration of `scheme` (`None` for plain CycleGAN), with the bank's masks
/// when the scheme is `bank`.
pub fn sampler_config(
    scheme: &MaskScheme,
    bank: Option<Vec<masks::Mask>>,
) -> Result<Option<SamplerConfig>, String> {
    Ok(Some(match scheme {
        MaskScheme::None => return Ok(None),
        MaskScheme::CenteredSquare { scales } => SamplerConfig::CenteredSquare {
            scales: scales.clone(),
        },
        MaskScheme::MultiRectangles(settings) => {
            SamplerConfig::MultiRectangles(settings.resolve().map_err(|error| error.to_string())?)
        }
        MaskScheme::Bank => {
            SamplerConfig::Bank(bank.ok_or("masks scheme `bank` needs a mask bank")?)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_params_take_paper_defaults() {
        let params: TrainParams = serde_json::from_str("{}").unwrap();
        assert_eq!(params, TrainParams::default());
        assert_eq!(params.betas, [0.5, 0.999]);
    }

    #[test]
    fn sizes_outside_range_are_rejected() {
        for (size, expected) in [(4, "too small"), (30, "multiple of 4"), (1028, "too large")] {
            let params = TrainParams {
                size,
                ..TrainParams::default()
            };
            let error = params.validate().unwrap_err();
            assert!(error.contains(expected), "size {size}: {error}");
        }
        let largest = TrainParams {
            size: crate::translate::MAX_SIZE,
            ..TrainParams::default()
        };
        assert!(largest.validate().is_ok());
    }

    #[test]
    fn full_discriminator_needs_24_pixels() {
        let params = |size, discriminator| TrainParams {
            size,
            discriminator,
            ..TrainParams::default()
        };
        let error = params(20, DiscriminatorKind::Full).validate().unwrap_err();
        assert!(error.contains("full discriminator"), "{error}");
        assert!(error.contains("24"), "{error}");
        assert!(params(24, DiscriminatorKind::Full).validate().is_ok());
        assert!(params(8, DiscriminatorKind::Simple).validate().is_ok());
    }

    #[test]
    fn zero_count_names_its_param() {
        let cases: [(&str, fn(&mut TrainParams)); 5] = [
            ("ngf", |params| params.ngf = 0),
            ("ndf", |params| params.ndf = 0),
            ("epochs", |params| params.epochs = 0),
            ("iterations_per_epoch", |params| {
                params.iterations_per_epoch = Some(0)
            }),
            ("train_limit", |params| params.train_limit = Some(0)),
        ];
        for (name, zero) in cases {
            let mut params = TrainParams::default();
            zero(&mut params);
            let error = params.validate().unwrap_err();
            assert_eq!(error, format!("`{name}` is 0; use a positive whole number"));
        }
    }

    #[test]
    fn unknown_key_is_rejected() {
        let error = serde_json::from_str::<TrainParams>(r#"{"epoch": 3}"#).unwrap_err();
        assert!(error.to_string().contains("epoch"), "{error}");
    }

    #[test]
    fn mask_schemes_parse_by_tag() {
        let params: TrainParams = serde_json::from_str(
            r#"{"masks": {"scheme": "multi-rectangles", "preset": "paper", "min_rects": 2}}"#,
        )
        .unwrap();
        let Some(MaskScheme::MultiRectangles(settings)) = &params.masks else {
            panic!("{params:?}");
        };
        assert_eq!(settings.min_rects, Some(2));
        let params: TrainParams =
            serde_json::from_str(r#"{"masks": {"scheme": "centered-square"}}"#).unwrap();
        assert_eq!(
            params.masks,
            Some(MaskScheme::CenteredSquare {
                scales: vec![0.5, 0.8, 1.0]
            })
        );
        let plain: TrainParams = serde_json::from_str(r#"{"masks": {"scheme": "none"}}"#).unwrap();
        assert!(!plain.run_config(&MaskScheme::None).trainer.generator.masked);
    }

    #[test]
    fn bank_input_conflicts_with_explicit_scheme() {
        let params = TrainParams {
            masks: Some(MaskScheme::None),
            ..TrainParams::default()
        };
        assert!(params.mask_scheme(true).is_err());
        assert_eq!(
            TrainParams::default().mask_scheme(true),
            Ok(MaskScheme::Bank)
        );
    }
}
