//! The ResNet generator of CycleGAN, optionally wrapped by the mask encoder and the
//! context encoder of Mask CycleGAN.

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use crate::conv::{sorted_shapes, Conv2d, ConvTranspose2d};
use crate::instance_norm::{instance_norm, instance_norm_relu};
use crate::reflection_pad::reflection_pad2d;

/// Image channels in and out (RGB).
const IMAGE_CHANNELS: usize = 3;

/// Shape of a generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Channels of the first convolution; the widest layers have four times as many.
    pub ngf: usize,
    /// Residual blocks at the lowest resolution.
    pub n_res: usize,
    /// Whether the mask encoder and context encoder wrap the network.
    pub masked: bool,
}

impl Default for GeneratorConfig {
    /// The paper's runs: 64 base channels, 3 residual blocks, masks on.
    fn default() -> Self {
        Self {
            ngf: 64,
            n_res: 3,
            masked: true,
        }
    }
}

/// `x + conv_block(x)` with `conv_block` = pad, conv 3x3, IN, ReLU, pad, conv 3x3, IN.
#[derive(Debug, Clone)]
struct ResidualBlock {
    first: Conv2d,
    second: Conv2d,
}

impl ResidualBlock {
    fn new(vb: VarBuilder, channels: usize) -> Result<Self> {
        let vb = vb.pp("conv_block");
        Ok(Self {
            first: Conv2d::new(vb.pp(1), channels, channels, 3, 1, 0)?,
            second: Conv2d::new(vb.pp(5), channels, channels, 3, 1, 0)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.first.forward(&reflection_pad2d(x, 1)?)?;
        let h = instance_norm_relu(&h)?;
        let h = self.second.forward(&reflection_pad2d(&h, 1)?)?;
        x + instance_norm(&h)?
    }
}

/// The generator `G(x, m)`.
///
/// Layer indices in parameter names count every layer of the authors' `nn.Sequential`,
/// parameter-free ones included, so with `n` residual blocks the convolutions sit at
/// `model.1`, `model.4`, `model.7`, `model.10 .. 9+n`, `model.10+n`, `model.13+n` and
/// `model.17+n`.
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    stem: Conv2d,
    down: [Conv2d; 2],
    blocks: Vec<ResidualBlock>,
    up: [ConvTranspose2d; 2],
    head: Conv2d,
    mask_encoder: Option<Conv2d>,
    context_encoder: Option<Conv2d>,
}

impl Generator {
    /// Builds a generator whose parameters live under `vb` (`model.*`, `mask_model.*`,
    /// `context_model.*`).
    pub fn new(vb: VarBuilder, cfg: &GeneratorConfig) -> Result<Self> {
        let ngf = cfg.ngf;
        let n = cfg.n_res;
        let model = vb.pp("model");
        let stem = Conv2d::new(model.pp(1), IMAGE_CHANNELS, ngf, 7, 1, 0)?;
        let down = [
            Conv2d::new(model.pp(4), ngf, 2 * ngf, 3, 2, 1)?,
            Conv2d::new(model.pp(7), 2 * ngf, 4 * ngf, 3, 2, 1)?,
        ];
        let blocks = (0..n)
            .map(|i| ResidualBlock::new(model.pp(10 + i), 4 * ngf))
            .collect::<Result<Vec<_>>>()?;
        let up = [
            ConvTranspose2d::new(model.pp(10 + n), 4 * ngf, 2 * ngf, 3, 2, 1, 1)?,
            ConvTranspose2d::new(model.pp(13 + n), 2 * ngf, ngf, 3, 2, 1, 1)?,
        ];
        let head = Conv2d::new(model.pp(17 + n), ngf, IMAGE_CHANNELS, 7, 1, 0)?;
        let (mask_encoder, context_encoder) = if cfg.masked {
            let encoder_in = 2 * IMAGE_CHANNELS;
            (
                Some(Conv2d::new(
                    vb.pp("mask_model"),
                    encoder_in,
                    IMAGE_CHANNELS,
                    1,
                    1,
                    0,
                )?),
                Some(Conv2d::new(
                    vb.pp("context_model"),
                    encoder_in,
                    IMAGE_CHANNELS,
                    1,
                    1,
                    0,
                )?),
            )
        } else {
            (None, None)
        };
        Ok(Self {
            config: *cfg,
            stem,
            down,
            blocks,
            up,
            head,
            mask_encoder,
            context_encoder,
        })
    }

    /// Names and shapes of the parameters a generator of this shape has, in name order.
    pub fn parameter_shapes(cfg: &GeneratorConfig) -> Result<Vec<(String, Vec<usize>)>> {
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        Self::new(vb, cfg)?;
        Ok(sorted_shapes(&varmap))
    }

    /// The shape this generator was built with.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Translates a batch `x` in [-1, 1].
    ///
    /// With a mask (0/1, same shape as `x`) the output is
    /// `model(E(cat[x*m, m])) + C(cat[x*(1-m), 1-m])`, not bounded to [-1, 1]; without one it
    /// is the plain CycleGAN generator `model(x)`, also for a masked generator.
    pub fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let Some(mask) = mask else {
            return self.forward_plain(x);
        };
        let (Some(mask_encoder), Some(context_encoder)) =
            (&self.mask_encoder, &self.context_encoder)
        else {
            candle_core::bail!("a generator built without masks cannot take a mask");
        };
        let inverse = mask.affine(-1.0, 1.0)?;
        let masked_input = Tensor::cat(&[&(x * mask)?, mask], 1)?;
        let context_input = Tensor::cat(&[&(x * &inverse)?, &inverse], 1)?;
        let translated = self.forward_plain(&mask_encoder.forward(&masked_input)?)?;
        translated + context_encoder.forward(&context_input)?
    }

    /// The plain CycleGAN network `model(x)`.
    fn forward_plain(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.stem.forward(&reflection_pad2d(x, 3)?)?;
        h = instance_norm_relu(&h)?;
        for conv in &self.down {
            h = instance_norm_relu(&conv.forward(&h)?)?;
        }
        for block in &self.blocks {
            h = block.forward(&h)?;
        }
        for conv in &self.up {
            h = instance_norm_relu(&conv.forward(&h)?)?;
        }
        self.head.forward(&reflection_pad2d(&h, 3)?)?.tanh()
    }
}
