//! Instance norm, optionally followed by an activation, in a few vectorised passes over each
//! plane.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::activation::Activation;
use super::{blocked_sum, blocked_sum_of, by_planes, contiguous_slice, with_f32};

/// Affine-free instance norm over the last two dimensions of an NCHW tensor.
pub struct InstanceNormOp {
    pub eps: f64,
    /// The function applied to the normalised values.
    pub activation: Activation,
}

/// Returns the mean and `1 / sqrt(variance + eps)` of a plane, the variance from squared
/// deviations (two passes), each sum blocked as [`blocked_sum_of`] does.
fn statistics(plane: &[f32], eps: f64) -> (f32, f32) {
    let count = plane.len() as f64;
    let mean = blocked_sum(plane) / count;
    let centre = mean as f32;
    let variance = blocked_sum_of(plane, plane, |v, _| (v - centre) * (v - centre)) / count;
    (mean as f32, (1.0 / (variance + eps).sqrt()) as f32)
}

impl CustomOp1 for InstanceNormOp {
    fn name(&self) -> &'static str {
        "mcgan-instance-norm"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, _, height, width) = layout.shape().dims4()?;
        let x = contiguous_slice(storage, layout)?;
        let plane_len = height * width;
        let y = by_planes(x.len(), plane_len, |index, out| {
            let plane = &x[index * plane_len..][..plane_len];
            let (mean, inverse_std) = statistics(plane, self.eps);
            for (o, &v) in out.iter_mut().zip(plane) {
                *o = self.activation.apply((v - mean) * inverse_std);
            }
        });
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    /// `dx = (g - mean(g) - n * mean(g * n)) / std` with `n` the normalised input and `g` the
    /// gradient reaching it through the activation.
    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, height, width) = x.dims4()?;
        let plane_len = height * width;
        let grad_x = with_f32(x, |x| {
            with_f32(grad, |grad| {
                Ok(by_planes(x.len(), plane_len, |index, dx| {
                    let start = index * plane_len;
                    let (plane, dy) = (&x[start..][..plane_len], &grad[start..][..plane_len]);
                    self.plane_backward(plane, dy, dx);
                }))
            })
        })?;
        Ok(Some(Tensor::from_vec(grad_x, x.shape(), x.device())?))
    }
}

impl InstanceNormOp {
    fn plane_backward(&self, plane: &[f32], dy: &[f32], dx: &mut [f32]) {
        let (mean, inverse_std) = statistics(plane, self.eps);
        let count = plane.len() as f64;
        // Park the normalised input in dx and take the gradient back through the activation.
        let mut gated = Vec::new();
        let grad: &[f32] = if self.activation == Activation::Identity {
            dy
        } else {
            gated.extend(
                plane
                    .iter()
                    .zip(dy)
                    .map(|(&v, &g)| self.activation.backward((v - mean) * inverse_std, g)),
            );
            &gated
        };
        for (d, &v) in dx.iter_mut().zip(plane) {
            *d = (v - mean) * inverse_std;
        }
        let mean_g = (blocked_sum(grad) / count) as f32;
        let mean_gn = (blocked_sum_of(dx, grad, |n, g| n * g) / count) as f32;
        for (d, &g) in dx.iter_mut().zip(grad) {
            *d = (g - mean_g - *d * mean_gn) * inverse_std;
        }
    }
}
