//! Instance norm, optionally followed by ReLU, in one pass over each plane forward and two
//! backward.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{contiguous_slice, with_f32};

/// Affine-free instance norm over the last two dimensions of an NCHW tensor.
pub struct InstanceNormOp {
    pub eps: f64,
    /// Apply ReLU to the normalised values.
    pub relu: bool,
}

/// Mean and `1 / sqrt(variance + eps)` of a plane, the variance from squared deviations
/// (two passes) and accumulated in float64.
fn statistics(plane: &[f32], eps: f64) -> (f32, f32) {
    let count = plane.len() as f64;
    let mean = plane.iter().map(|&v| f64::from(v)).sum::<f64>() / count;
    let variance = plane
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / count;
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
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(plane_len)
            .zip(x.par_chunks(plane_len))
            .for_each(|(out, plane)| {
                let (mean, inverse_std) = statistics(plane, self.eps);
                for (o, &v) in out.iter_mut().zip(plane) {
                    let normalised = (v - mean) * inverse_std;
                    *o = if self.relu {
                        normalised.max(0.0)
                    } else {
                        normalised
                    };
                }
            });
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    /// `dx = (g - mean(g) - n * mean(g * n)) / std` with `n` the normalised input and `g` the
    /// gradient reaching it (zero where ReLU clipped).
    fn bwd(&self, x: &Tensor, _y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, height, width) = x.dims4()?;
        let plane_len = height * width;
        let mut grad_x = vec![0f32; x.elem_count()];
        with_f32(x, |x| {
            with_f32(grad, |grad| {
                grad_x
                    .par_chunks_mut(plane_len)
                    .zip(x.par_chunks(plane_len).zip(grad.par_chunks(plane_len)))
                    .for_each(|(dx, (plane, dy))| {
                        self.plane_backward(plane, dy, dx);
                    });
                Ok(())
            })
        })?;
        Ok(Some(Tensor::from_vec(grad_x, x.shape(), x.device())?))
    }
}

impl InstanceNormOp {
    fn plane_backward(&self, plane: &[f32], dy: &[f32], dx: &mut [f32]) {
        let (mean, inverse_std) = statistics(plane, self.eps);
        let count = plane.len() as f64;
        let mut sum_g = 0f64;
        let mut sum_gn = 0f64;
        for ((d, &v), &g) in dx.iter_mut().zip(plane).zip(dy) {
            let normalised = (v - mean) * inverse_std;
            let g = if self.relu && normalised <= 0.0 {
                0.0
            } else {
                g
            };
            // Park g in dx; the second pass needs it with the two means.
            *d = g;
            sum_g += f64::from(g);
            sum_gn += f64::from(g) * f64::from(normalised);
        }
        let mean_g = (sum_g / count) as f32;
        let mean_gn = (sum_gn / count) as f32;
        for (d, &v) in dx.iter_mut().zip(plane) {
            let normalised = (v - mean) * inverse_std;
            *d = (*d - mean_g - normalised * mean_gn) * inverse_std;
        }
    }
}
