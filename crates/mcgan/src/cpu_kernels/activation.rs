//! Elementwise activations, applied on their own or fused into instance norm, each a single
//! pass forward and backward.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{contiguous_slice, with_f32};

/// Elements one task of an activation pass handles.
const CHUNK: usize = 1 << 14;

/// An elementwise function applied after a layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// The values unchanged.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `x` where positive, `slope * x` elsewhere.
    LeakyRelu(f32),
}

impl Activation {
    /// Returns the activation of `value`.
    pub fn apply(self, value: f32) -> f32 {
        match self {
            Activation::Identity => value,
            Activation::Relu => value.max(0.0),
            Activation::LeakyRelu(slope) => {
                if value > 0.0 {
                    value
                } else {
                    value * slope
                }
            }
        }
    }

    /// Returns the gradient at the input `value` from the gradient `grad` at its output. At
    /// zero it takes the negative side, as PyTorch's ReLU and LeakyReLU do.
    pub fn backward(self, value: f32, grad: f32) -> f32 {
        match self {
            Activation::Identity => grad,
            Activation::Relu => {
                if value > 0.0 {
                    grad
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu(slope) => {
                if value > 0.0 {
                    grad
                } else {
                    grad * slope
                }
            }
        }
    }
}

/// An [`Activation`] as a candle operation on float32 CPU tensors of any shape.
pub struct ActivationOp(pub Activation);

impl CustomOp1 for ActivationOp {
    fn name(&self) -> &'static str {
        "mcgan-activation"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_slice(storage, layout)?;
        let mut y = Vec::with_capacity(x.len());
        y.par_extend(x.par_iter().with_min_len(CHUNK).map(|&v| self.0.apply(v)));
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad_x = with_f32(x, |x| {
            with_f32(grad, |grad| {
                let mut grad_x = Vec::with_capacity(x.len());
                grad_x.par_extend(
                    x.par_iter()
                        .zip(grad)
                        .with_min_len(CHUNK)
                        .map(|(&v, &g)| self.0.backward(v, g)),
                );
                Ok(grad_x)
            })
        })?;
        Ok(Some(Tensor::from_vec(grad_x, x.shape(), x.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaky_relu_scales_the_negative_side() {
        let leaky = Activation::LeakyRelu(0.2);
        assert_eq!(leaky.apply(3.0), 3.0);
        assert_eq!(leaky.apply(-2.0), -2.0 * 0.2f32);
        assert_eq!(leaky.apply(0.0), 0.0);
        assert_eq!(leaky.backward(3.0, 5.0), 5.0);
        assert_eq!(leaky.backward(-2.0, 5.0), 5.0 * 0.2f32);
        assert_eq!(leaky.backward(0.0, 5.0), 5.0 * 0.2f32);
    }

    #[test]
    fn relu_passes_no_gradient_at_zero() {
        assert_eq!(Activation::Relu.apply(-1.0), 0.0);
        assert_eq!(Activation::Relu.backward(0.0, 4.0), 0.0);
        assert_eq!(Activation::Relu.backward(0.5, 4.0), 4.0);
        assert_eq!(Activation::Identity.backward(-1.0, 4.0), 4.0);
    }

    #[test]
    fn op_matches_candle_leaky_relu() -> Result<()> {
        let device = candle_core::Device::Cpu;
        let values: Vec<f32> = (0..40_000)
            .map(|i| ((i * 37) % 101) as f32 - 50.5)
            .collect();
        let x = candle_core::Var::from_vec(values, (4, 10, 1000), &device)?;
        let weights = Tensor::rand(0f32, 1f32, (4, 10, 1000), &device)?;

        let ours = x.apply_op1(ActivationOp(Activation::LeakyRelu(0.2)))?;
        let reference = candle_nn::ops::leaky_relu(&x, 0.2)?;
        let difference = (&ours - &reference)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert_eq!(difference, 0.0);

        // No input is exactly zero, where candle's gradient differs from PyTorch's.
        let ours = (ours * &weights)?.sum_all()?.backward()?;
        let reference = (reference * &weights)?.sum_all()?.backward()?;
        let (ours, reference) = (ours.get(&x).unwrap(), reference.get(&x).unwrap());
        let difference = (ours - reference)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(difference < 1e-6, "gradients differ by {difference}");
        Ok(())
    }
}
