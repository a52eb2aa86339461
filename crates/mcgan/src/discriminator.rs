//! PatchGAN discriminators reduced to one score per image by a spatial mean.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use crate::conv::{sorted_shapes, Conv2d};
use crate::cpu_kernels::activation::{Activation, ActivationOp};
use crate::instance_norm::instance_norm_leaky_relu;

/// Slope of the LeakyReLU activations.
const LEAKY_SLOPE: f64 = 0.2;

/// Which PatchGAN the discriminator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiscriminatorVariant {
    /// Two downsampling convolutions, then the score map (the paper's runs).
    #[default]
    Simple,
    /// The CycleGAN PatchGAN: three downsampling convolutions and one more at stride 1.
    Full,
}

impl std::fmt::Display for DiscriminatorVariant {
    /// Writes the name the `discriminator` training param uses: `simple` or `full`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DiscriminatorVariant::Simple => "simple",
            DiscriminatorVariant::Full => "full",
        })
    }
}

/// Shape of a discriminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscriminatorConfig {
    /// Channels of the first convolution.
    pub ndf: usize,
    /// Simple or full PatchGAN.
    pub variant: DiscriminatorVariant,
}

impl Default for DiscriminatorConfig {
    /// The paper's runs: 64 base channels, simple variant.
    fn default() -> Self {
        Self {
            ndf: 64,
            variant: DiscriminatorVariant::Simple,
        }
    }
}

/// A discriminator; parameters `model.N.*` as in the authors' `nn.Sequential`.
#[derive(Debug, Clone)]
pub struct Discriminator {
    /// The first convolution (no norm after it).
    first: Conv2d,
    /// Convolutions followed by instance norm and LeakyReLU.
    normed: Vec<Conv2d>,
    /// The final 1-channel convolution.
    score: Conv2d,
}

impl Discriminator {
    /// Builds a discriminator whose parameters live under `vb`.
    pub fn new(vb: VarBuilder, cfg: &DiscriminatorConfig) -> Result<Self> {
        let ndf = cfg.ndf;
        let model = vb.pp("model");
        let first = Conv2d::new(model.pp(0), 3, ndf, 4, 2, 1)?;
        let (normed, score) = match cfg.variant {
            DiscriminatorVariant::Simple => (
                vec![Conv2d::new(model.pp(2), ndf, 2 * ndf, 4, 2, 1)?],
                Conv2d::new(model.pp(5), 2 * ndf, 1, 4, 1, 1)?,
            ),
            DiscriminatorVariant::Full => (
                vec![
                    Conv2d::new(model.pp(2), ndf, 2 * ndf, 4, 2, 1)?,
                    Conv2d::new(model.pp(5), 2 * ndf, 4 * ndf, 4, 2, 1)?,
                    Conv2d::new(model.pp(8), 4 * ndf, 8 * ndf, 4, 1, 1)?,
                ],
                Conv2d::new(model.pp(11), 8 * ndf, 1, 4, 1, 1)?,
            ),
        };
        Ok(Self {
            first,
            normed,
            score,
        })
    }

    /// Names and shapes of the parameters a discriminator of this shape has, in name order.
    pub fn parameter_shapes(cfg: &DiscriminatorConfig) -> Result<Vec<(String, Vec<usize>)>> {
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        Self::new(vb, cfg)?;
        Ok(sorted_shapes(&varmap))
    }

    /// Returns this discriminator with its parameters detached from the variables, for
    /// scoring the generators' output: the generators' backward pass then computes no
    /// gradient for the discriminator, which their optimiser would not use.
    pub fn frozen(&self) -> Self {
        Self {
            first: self.first.frozen(),
            normed: self.normed.iter().map(Conv2d::frozen).collect(),
            score: self.score.frozen(),
        }
    }

    /// The score map before the mean, `[N, 1, h, w]`.
    pub fn forward_patch(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = leaky_relu(&self.first.forward(x)?)?;
        for conv in &self.normed {
            h = instance_norm_leaky_relu(&conv.forward(&h)?, LEAKY_SLOPE)?;
        }
        self.score.forward(&h)
    }

    /// One score per image, `[N, 1]`: the mean of the score map.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let patch = self.forward_patch(x)?;
        let batch = patch.dim(0)?;
        patch.flatten_from(1)?.mean_keepdim(1)?.reshape((batch, 1))
    }
}

/// LeakyReLU with slope [`LEAKY_SLOPE`], in one pass on the CPU.
fn leaky_relu(x: &Tensor) -> Result<Tensor> {
    if crate::cpu_kernels::applies_to(x) {
        let activation = Activation::LeakyRelu(LEAKY_SLOPE as f32);
        return x.contiguous()?.apply_op1(ActivationOp(activation));
    }
    candle_nn::ops::leaky_relu(x, LEAKY_SLOPE)
}
