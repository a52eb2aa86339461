//! Loss functions and loss weights of Mask CycleGAN training.

use candle_core::{Result, Tensor};
use serde::{Deserialize, Serialize};

/// Mean squared error against a constant target, `mean((prediction - target)^2)`: the
/// least-squares GAN loss with target 1 for real and 0 for fake.
pub fn mse_against(prediction: &Tensor, target: f64) -> Result<Tensor> {
    prediction.affine(1.0, -target)?.sqr()?.mean_all()
}

/// Mean absolute error over all elements, `mean(|a - b|)`.
///
/// Masked terms call this on `a * m` and `b * m`, so they divide by the full element count, not
/// by the area of the mask, as the reference code does.
pub fn l1(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    (a - b)?.abs()?.mean_all()
}

/// Weights of the loss terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LossWeights {
    /// Weight of each direction's cycle loss. Default 10.
    pub lambda_cyc: f64,
    /// Weight of each domain's identity loss. Default 5.
    pub lambda_idt: f64,
    /// Share of the masked discriminator in the GAN losses; the whole-image discriminator gets
    /// `1 - lambda_mgan`. Default 0.7.
    pub lambda_mgan: f64,
    /// Share of the masked region in the cycle loss; the contextual region gets
    /// `1 - lambda_mcyc`. Default 0.3.
    pub lambda_mcyc: f64,
}

impl Default for LossWeights {
    fn default() -> Self {
        Self {
            lambda_cyc: 10.0,
            lambda_idt: 5.0,
            lambda_mgan: 0.7,
            lambda_mcyc: 0.3,
        }
    }
}

/// Names of the loss terms recorded per iteration, in table order.
pub const LOSS_TERMS: [&str; 13] = [
    "identity_A",
    "identity_B",
    "gan_A2B",
    "gan_B2A",
    "cycle_ABA",
    "cycle_BAB",
    "G",
    "D_A_full",
    "D_A_mask",
    "D_A",
    "D_B_full",
    "D_B_mask",
    "D_B",
];

/// Weighted loss terms of one iteration, as scalars.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LossValues {
    /// `lambda_idt * L1(G_BA(a), a)`.
    pub identity_a: f32,
    /// `lambda_idt * L1(G_AB(b), b)`.
    pub identity_b: f32,
    /// GAN loss of the A to B generator.
    pub gan_a2b: f32,
    /// GAN loss of the B to A generator.
    pub gan_b2a: f32,
    /// Cycle loss A -> B -> A.
    pub cycle_aba: f32,
    /// Cycle loss B -> A -> B.
    pub cycle_bab: f32,
    /// Total generator loss.
    pub generator: f32,
    /// Whole-image discriminator loss of domain A.
    pub d_a_full: f32,
    /// Masked discriminator loss of domain A (0 without masks).
    pub d_a_mask: f32,
    /// Total discriminator loss of domain A.
    pub d_a: f32,
    /// Whole-image discriminator loss of domain B.
    pub d_b_full: f32,
    /// Masked discriminator loss of domain B (0 without masks).
    pub d_b_mask: f32,
    /// Total discriminator loss of domain B.
    pub d_b: f32,
}

impl LossValues {
    /// The values in the order of [`LOSS_TERMS`].
    pub fn to_array(&self) -> [f32; 13] {
        [
            self.identity_a,
            self.identity_b,
            self.gan_a2b,
            self.gan_b2a,
            self.cycle_aba,
            self.cycle_bab,
            self.generator,
            self.d_a_full,
            self.d_a_mask,
            self.d_a,
            self.d_b_full,
            self.d_b_mask,
            self.d_b,
        ]
    }

    /// The first term that is NaN or infinite, with its name.
    pub fn first_non_finite(&self) -> Option<(&'static str, f32)> {
        LOSS_TERMS
            .iter()
            .zip(self.to_array())
            .find(|(_, value)| !value.is_finite())
            .map(|(name, value)| (*name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn mse_against_target_averages_squares() {
        let prediction = Tensor::new(&[[0.0f32], [3.0]], &Device::Cpu).unwrap();
        let loss = mse_against(&prediction, 1.0).unwrap();
        assert_eq!(loss.to_scalar::<f32>().unwrap(), 2.5);
    }

    #[test]
    fn l1_averages_over_all_elements() {
        let a = Tensor::new(&[1.0f32, -1.0, 0.0, 0.0], &Device::Cpu).unwrap();
        let b = Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert_eq!(l1(&a, &b).unwrap().to_scalar::<f32>().unwrap(), 0.5);
    }

    #[test]
    fn non_finite_term_is_named() {
        let values = LossValues {
            cycle_bab: f32::NAN,
            d_b: f32::INFINITY,
            ..Default::default()
        };
        assert_eq!(
            values.first_non_finite().map(|(name, _)| name),
            Some("cycle_BAB")
        );
    }
}
