//! One Mask CycleGAN training iteration: the generator update, then both discriminator updates
//! on replay-buffered fakes.

use candle_core::{DType, Device, Result, Tensor};
use rand::Rng;

use crate::losses::{l1, mse_against, LossValues, LossWeights};
use crate::networks::{CycleGanNetworks, D_A, D_AM, D_B, D_BM, G_A2B, G_B2A};
use crate::optimizer::{Adam, AdamConfig};
use crate::replay_buffer::{ReplayBuffer, REPLAY_BUFFER_CAPACITY};
use crate::{Discriminator, DiscriminatorConfig, Generator, GeneratorConfig};

/// Weight of each half (real, fake) of a discriminator loss.
const DISCRIMINATOR_HALF: f64 = 0.5;

/// Shape and optimisation settings of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainerConfig {
    /// Generator shape; `masked` selects Mask CycleGAN over plain CycleGAN.
    pub generator: GeneratorConfig,
    /// Discriminator shape, the same for all discriminators.
    pub discriminator: DiscriminatorConfig,
    /// Loss weights.
    pub weights: LossWeights,
    /// Adam settings, shared by the three optimisers.
    pub adam: AdamConfig,
    /// Parameter type: float32 for training, float64 to check the arithmetic against a
    /// reference without float32 rounding.
    pub dtype: DType,
}

/// Images and weighted loss terms of the generator half of an iteration, still attached to the
/// graph so that `total` can be differentiated.
#[derive(Debug, Clone)]
pub struct GeneratorPass {
    /// `G_BA(a, m)`.
    pub same_a: Tensor,
    /// `G_AB(b, m)`.
    pub same_b: Tensor,
    /// `G_BA(b, m)`.
    pub fake_a: Tensor,
    /// `G_AB(a, m)`.
    pub fake_b: Tensor,
    /// `G_BA(fake_b, m)`.
    pub recovered_a: Tensor,
    /// `G_AB(fake_a, m)`.
    pub recovered_b: Tensor,
    /// `lambda_idt * L1(same_a, a)`.
    pub identity_a: Tensor,
    /// `lambda_idt * L1(same_b, b)`.
    pub identity_b: Tensor,
    /// GAN loss of `fake_b`.
    pub gan_a2b: Tensor,
    /// GAN loss of `fake_a`.
    pub gan_b2a: Tensor,
    /// Cycle loss of `recovered_a`.
    pub cycle_aba: Tensor,
    /// Cycle loss of `recovered_b`.
    pub cycle_bab: Tensor,
    /// Sum of the six terms.
    pub total: Tensor,
}

/// Weighted loss terms of one domain's discriminator update.
#[derive(Debug, Clone)]
pub struct DiscriminatorPass {
    /// Whole-image discriminator loss.
    pub full: Tensor,
    /// Masked-image discriminator loss (a zero scalar without masks).
    pub mask: Tensor,
    /// `full + mask`.
    pub total: Tensor,
}

/// Which domain a discriminator update is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// Domain A (horses in horse2zebra).
    A,
    /// Domain B (zebras in horse2zebra).
    B,
}

/// Replay buffers of the four discriminators.
#[derive(Debug, Clone)]
pub struct ReplayBuffers {
    /// Fakes for `D_A`.
    pub a_full: ReplayBuffer,
    /// Masked fakes for `D_Am`.
    pub a_mask: ReplayBuffer,
    /// Fakes for `D_B`.
    pub b_full: ReplayBuffer,
    /// Masked fakes for `D_Bm`.
    pub b_mask: ReplayBuffer,
}

impl Default for ReplayBuffers {
    fn default() -> Self {
        Self {
            a_full: ReplayBuffer::new(REPLAY_BUFFER_CAPACITY),
            a_mask: ReplayBuffer::new(REPLAY_BUFFER_CAPACITY),
            b_full: ReplayBuffer::new(REPLAY_BUFFER_CAPACITY),
            b_mask: ReplayBuffer::new(REPLAY_BUFFER_CAPACITY),
        }
    }
}

/// Networks, optimisers and replay buffers of a run.
pub struct Trainer {
    config: TrainerConfig,
    /// The six (or four) networks.
    pub networks: CycleGanNetworks,
    /// Optimiser over both generators.
    pub optimizer_g: Adam,
    /// Optimiser over `D_A` and `D_Am`.
    pub optimizer_d_a: Adam,
    /// Optimiser over `D_B` and `D_Bm`.
    pub optimizer_d_b: Adam,
    /// The four replay buffers.
    pub buffers: ReplayBuffers,
}

/// What [`Trainer::step`] returns: the loss values and the images of the generator half.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// Weighted loss terms.
    pub losses: LossValues,
    /// `G_AB(a, m)`, detached.
    pub fake_b: Tensor,
    /// `G_BA(b, m)`, detached.
    pub fake_a: Tensor,
    /// `G_BA(G_AB(a, m), m)`, detached.
    pub recovered_a: Tensor,
    /// `G_AB(G_BA(b, m), m)`, detached.
    pub recovered_b: Tensor,
}

impl Trainer {
    /// Builds the networks on `device` (parameters uninitialised until [`crate::init_weights`]
    /// or a load) and the three optimisers.
    pub fn new(config: TrainerConfig, device: &Device) -> Result<Self> {
        let networks = CycleGanNetworks::new(
            &config.generator,
            &config.discriminator,
            config.dtype,
            device,
        )?;
        let optimizer_g = Adam::new(networks.named_vars(&[G_A2B, G_B2A])?, config.adam);
        let optimizer_d_a = Adam::new(networks.named_vars(&[D_A, D_AM])?, config.adam);
        let optimizer_d_b = Adam::new(networks.named_vars(&[D_B, D_BM])?, config.adam);
        Ok(Self {
            config,
            networks,
            optimizer_g,
            optimizer_d_a,
            optimizer_d_b,
            buffers: ReplayBuffers::default(),
        })
    }

    /// The settings of this run.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// Sets the learning rate of all three optimisers.
    pub fn set_lr(&mut self, lr: f64) {
        self.optimizer_g.set_lr(lr);
        self.optimizer_d_a.set_lr(lr);
        self.optimizer_d_b.set_lr(lr);
    }

    /// The three optimisers with their checkpoint names.
    pub fn optimizers(&self) -> [(&'static str, &Adam); 3] {
        [
            ("G", &self.optimizer_g),
            ("D_A", &self.optimizer_d_a),
            ("D_B", &self.optimizer_d_b),
        ]
    }

    /// The three optimisers with their checkpoint names, mutable.
    pub fn optimizers_mut(&mut self) -> [(&'static str, &mut Adam); 3] {
        [
            ("G", &mut self.optimizer_g),
            ("D_A", &mut self.optimizer_d_a),
            ("D_B", &mut self.optimizer_d_b),
        ]
    }

    /// Runs one iteration on `real_a` and `real_b` (`[N, 3, H, W]` in [-1, 1]) with `mask`
    /// (same shape, 0/1; `None` for plain CycleGAN), drawing the replay-buffer choices from
    /// `rng`.
    ///
    /// The iteration runs on a thread of rayon's pool. The CPU kernels split every layer with
    /// rayon. From a pool thread each split hands work to the other threads directly, instead
    /// of waking the pool and blocking the caller, which cost a quarter of a step at 32 pixels
    /// on the 2-core machine.
    pub fn step<R: Rng + Send>(
        &mut self,
        real_a: &Tensor,
        real_b: &Tensor,
        mask: Option<&Tensor>,
        rng: &mut R,
    ) -> Result<StepOutcome> {
        rayon::scope(|_| self.step_on_this_thread(real_a, real_b, mask, rng))
    }

    fn step_on_this_thread<R: Rng>(
        &mut self,
        real_a: &Tensor,
        real_b: &Tensor,
        mask: Option<&Tensor>,
        rng: &mut R,
    ) -> Result<StepOutcome> {
        let pass = self.generator_pass(real_a, real_b, mask)?;
        let grads = pass.total.backward()?;
        self.optimizer_g.step(&grads)?;
        drop(grads);

        let fake_a = pass.fake_a.detach();
        let fake_b = pass.fake_b.detach();
        let d_a = self.discriminator_pass(Domain::A, real_a, &fake_a, mask, rng)?;
        let grads = d_a.total.backward()?;
        self.optimizer_d_a.step(&grads)?;
        drop(grads);

        let d_b = self.discriminator_pass(Domain::B, real_b, &fake_b, mask, rng)?;
        let grads = d_b.total.backward()?;
        self.optimizer_d_b.step(&grads)?;
        drop(grads);

        let losses = LossValues {
            identity_a: scalar(&pass.identity_a)?,
            identity_b: scalar(&pass.identity_b)?,
            gan_a2b: scalar(&pass.gan_a2b)?,
            gan_b2a: scalar(&pass.gan_b2a)?,
            cycle_aba: scalar(&pass.cycle_aba)?,
            cycle_bab: scalar(&pass.cycle_bab)?,
            generator: scalar(&pass.total)?,
            d_a_full: scalar(&d_a.full)?,
            d_a_mask: scalar(&d_a.mask)?,
            d_a: scalar(&d_a.total)?,
            d_b_full: scalar(&d_b.full)?,
            d_b_mask: scalar(&d_b.mask)?,
            d_b: scalar(&d_b.total)?,
        };
        Ok(StepOutcome {
            losses,
            fake_a,
            fake_b,
            recovered_a: pass.recovered_a.detach(),
            recovered_b: pass.recovered_b.detach(),
        })
    }

    /// The generator half of an iteration: six generator passes, run as three batches, and the
    /// weighted loss terms.
    pub fn generator_pass(
        &self,
        real_a: &Tensor,
        real_b: &Tensor,
        mask: Option<&Tensor>,
    ) -> Result<GeneratorPass> {
        let weights = &self.config.weights;
        let nets = &self.networks;

        // G_B2A's three inputs are ready once G_A2B has translated real B, so they run as
        // one batch; G_A2B's cycle input is G_B2A's output, so it runs apart.
        let [same_b, fake_b] = forward_together(&nets.g_a2b, [real_b, real_a], mask)?;
        let [same_a, fake_a, recovered_a] =
            forward_together(&nets.g_b2a, [real_a, real_b, &fake_b], mask)?;
        let recovered_b = nets.g_a2b.forward(&fake_a, mask)?;

        let identity_b = (l1(&same_b, real_b)? * weights.lambda_idt)?;
        let identity_a = (l1(&same_a, real_a)? * weights.lambda_idt)?;
        let gan_a2b = self.generator_gan_loss(&fake_b, &nets.d_b, nets.d_bm.as_ref(), mask)?;
        let gan_b2a = self.generator_gan_loss(&fake_a, &nets.d_a, nets.d_am.as_ref(), mask)?;
        let cycle_aba = self.cycle_loss(&recovered_a, real_a, mask)?;
        let cycle_bab = self.cycle_loss(&recovered_b, real_b, mask)?;

        let total = (((((&identity_a + &identity_b)? + &gan_a2b)? + &gan_b2a)? + &cycle_aba)?
            + &cycle_bab)?;
        Ok(GeneratorPass {
            same_a,
            same_b,
            fake_a,
            fake_b,
            recovered_a,
            recovered_b,
            identity_a,
            identity_b,
            gan_a2b,
            gan_b2a,
            cycle_aba,
            cycle_bab,
            total,
        })
    }

    /// The discriminator loss of one domain on `real` and this iteration's detached `fake`,
    /// passing the fakes through that domain's replay buffers first.
    pub fn discriminator_pass<R: Rng>(
        &mut self,
        domain: Domain,
        real: &Tensor,
        fake: &Tensor,
        mask: Option<&Tensor>,
        rng: &mut R,
    ) -> Result<DiscriminatorPass> {
        let (full_net, mask_net, full_buffer, mask_buffer) = match domain {
            Domain::A => (
                &self.networks.d_a,
                self.networks.d_am.as_ref(),
                &mut self.buffers.a_full,
                &mut self.buffers.a_mask,
            ),
            Domain::B => (
                &self.networks.d_b,
                self.networks.d_bm.as_ref(),
                &mut self.buffers.b_full,
                &mut self.buffers.b_mask,
            ),
        };
        let masked = mask.zip(mask_net);
        let full_weight = match masked {
            Some(_) => 1.0 - self.config.weights.lambda_mgan,
            None => 1.0,
        };

        let shown = full_buffer.push_and_pop(fake, rng)?;
        let full = (real_fake_loss(full_net, real, &shown)? * (full_weight * DISCRIMINATOR_HALF))?;
        let mask_loss = match masked {
            Some((mask, mask_net)) => {
                let shown = mask_buffer.push_and_pop(&(fake * mask)?, rng)?;
                let loss = real_fake_loss(mask_net, &(real * mask)?, &shown)?;
                (loss * (self.config.weights.lambda_mgan * DISCRIMINATOR_HALF))?
            }
            None => full.zeros_like()?,
        };
        let total = (&full + &mask_loss)?;
        Ok(DiscriminatorPass {
            full,
            mask: mask_loss,
            total,
        })
    }

    /// `lambda_mgan * MSE(D_M(fake * m), 1) + (1 - lambda_mgan) * MSE(D_F(fake), 1)`, or
    /// `MSE(D_F(fake), 1)` without masks.
    fn generator_gan_loss(
        &self,
        fake: &Tensor,
        full_net: &Discriminator,
        mask_net: Option<&Discriminator>,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let full = mse_against(&full_net.frozen().forward(fake)?, 1.0)?;
        let Some((mask, mask_net)) = mask.zip(mask_net) else {
            return Ok(full);
        };
        let lambda = self.config.weights.lambda_mgan;
        let masked = mse_against(&mask_net.frozen().forward(&(fake * mask)?)?, 1.0)?;
        (masked * lambda)? + (full * (1.0 - lambda))?
    }

    /// `lambda_cyc * (lambda_mcyc * L1(r*m, x*m) + (1 - lambda_mcyc) * L1(r*(1-m), x*(1-m)))`, or
    /// `lambda_cyc * L1(r, x)` without masks.
    fn cycle_loss(
        &self,
        recovered: &Tensor,
        real: &Tensor,
        mask: Option<&Tensor>,
    ) -> Result<Tensor> {
        let weights = &self.config.weights;
        let Some(mask) = mask else {
            return l1(recovered, real)? * weights.lambda_cyc;
        };
        let context = mask.affine(-1.0, 1.0)?;
        let masked_part = l1(&(recovered * mask)?, &(real * mask)?)?;
        let context_part = l1(&(recovered * &context)?, &(real * &context)?)?;
        let mixed =
            ((masked_part * weights.lambda_mcyc)? + (context_part * (1.0 - weights.lambda_mcyc))?)?;
        mixed * weights.lambda_cyc
    }
}

/// `MSE(D(real), 1) + MSE(D(fake), 0)`.
/// `MSE(D(real), 1) + MSE(D(fake), 0)`, with `real` and `fake` through `net` as one batch
/// (the discriminators score image by image, so the scores are the same).
fn real_fake_loss(net: &Discriminator, real: &Tensor, fake: &Tensor) -> Result<Tensor> {
    let (real_count, fake_count) = (real.dim(0)?, fake.dim(0)?);
    let scores = net.forward(&Tensor::cat(&[real, fake], 0)?)?;
    mse_against(&scores.narrow(0, 0, real_count)?, 1.0)?
        + mse_against(&scores.narrow(0, real_count, fake_count)?, 0.0)?
}

fn scalar(tensor: &Tensor) -> Result<f32> {
    tensor.to_dtype(DType::F32)?.to_scalar::<f32>()
}

/// Applies `generator` to each of `inputs` (batches of the same size) as one batch. Every
/// layer, instance norm included, works image by image, so the outputs are those of separate
/// calls, but the batch builds fewer graph nodes and sums each weight gradient fewer times.
fn forward_together<const N: usize>(
    generator: &Generator,
    inputs: [&Tensor; N],
    mask: Option<&Tensor>,
) -> Result<[Tensor; N]> {
    let batch = inputs[0].dim(0)?;
    let input = Tensor::cat(&inputs, 0)?;
    let mask = mask.map(|mask| Tensor::cat(&[mask; N], 0)).transpose()?;
    let output = generator.forward(&input, mask.as_ref())?;
    let parts = (0..N)
        .map(|index| output.narrow(0, index * batch, batch))
        .collect::<Result<Vec<_>>>()?;
    parts
        .try_into()
        .map_err(|_| candle_core::Error::Msg("a batched generator pass lost an input".into()))
}
