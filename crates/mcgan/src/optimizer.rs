//! Adam without weight decay, following PyTorch's `torch.optim.Adam` update element by element.
//!
//! candle-nn's `AdamW` applies decoupled weight decay (0.01 by default) and orders the bias
//! corrections differently, so the trainer uses this optimiser instead. The update, per element,
//! in float32 with the scalars computed in float64 and then rounded, as PyTorch's single-tensor
//! CPU path does it:
//!
//! ```text
//! m = lerp(m, g, 1 - beta1)
//! v = v * beta2 + (1 - beta2) * g * g
//! denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//! p = p + (-lr / (1 - beta1^t)) * m / denom
//! ```

use std::cell::RefCell;

use candle_core::{CpuStorage, DType, InplaceOp1, Layout, Result, Storage, Tensor, Var};
use rayon::prelude::*;

/// Adam hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// Decay rate of the first-moment estimate.
    pub beta1: f64,
    /// Decay rate of the second-moment estimate.
    pub beta2: f64,
    /// Term added to the denominator for numerical stability.
    pub eps: f64,
}

impl Default for AdamConfig {
    /// Returns the Mask CycleGAN settings: lr 2e-4, betas (0.5, 0.999), eps 1e-8.
    fn default() -> Self {
        Self {
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Moment estimates of one parameter, created at its first update.
#[derive(Debug, Clone)]
pub struct AdamMoments {
    /// Number of updates applied to the parameter.
    pub step: u64,
    /// First-moment estimate `m`.
    pub exp_avg: Tensor,
    /// Second-moment estimate `v`.
    pub exp_avg_sq: Tensor,
}

/// Adam over named variables.
#[derive(Debug)]
pub struct Adam {
    config: AdamConfig,
    params: Vec<(String, Var)>,
    moments: Vec<Option<AdamMoments>>,
}

impl Adam {
    /// Creates an optimiser over `params`; names key the state in checkpoints.
    pub fn new(params: Vec<(String, Var)>, config: AdamConfig) -> Self {
        let moments = vec![None; params.len()];
        Self {
            config,
            params,
            moments,
        }
    }

    /// Hyperparameters, with the current learning rate.
    pub fn config(&self) -> AdamConfig {
        self.config
    }

    /// Sets the learning rate of the following steps.
    pub fn set_lr(&mut self, lr: f64) {
        self.config.lr = lr;
    }

    /// Parameters with their names, in the order given to [`Adam::new`].
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// Moment estimates per parameter, aligned with [`Adam::params`].
    pub fn moments(&self) -> &[Option<AdamMoments>] {
        &self.moments
    }

    /// Replaces the moment estimates of the parameter at `index`, as when resuming.
    pub fn set_moments(&mut self, index: usize, moments: AdamMoments) {
        self.moments[index] = Some(moments);
    }

    /// Applies one update from `grads`. Parameters without a gradient keep their value and
    /// state, as in PyTorch when `p.grad is None`.
    pub fn step(&mut self, grads: &candle_core::backprop::GradStore) -> Result<()> {
        for index in 0..self.params.len() {
            let Some(grad) = grads.get(self.params[index].1.as_tensor()) else {
                continue;
            };
            self.update_one(index, grad)?;
        }
        Ok(())
    }

    fn update_one(&mut self, index: usize, grad: &Tensor) -> Result<()> {
        let param = &self.params[index].1;
        let mut moments = match self.moments[index].take() {
            Some(moments) => moments,
            None => AdamMoments {
                step: 0,
                exp_avg: param.zeros_like()?,
                exp_avg_sq: param.zeros_like()?,
            },
        };
        moments.step += 1;
        let scalars = StepScalars::new(&self.config, moments.step);
        let on_host = [param.as_tensor(), &moments.exp_avg, &moments.exp_avg_sq]
            .iter()
            .all(|tensor| tensor.device().is_cpu() && tensor.dtype() == DType::F32);
        update(param, grad, &mut moments, &scalars, on_host)?;
        self.moments[index] = Some(moments);
        Ok(())
    }
}

/// Applies one update to `param` and `moments`, whose step count is already advanced: in
/// place on the host when `on_host` (every tensor float32 in host memory), by tensor
/// operations otherwise.
fn update(
    param: &Var,
    grad: &Tensor,
    moments: &mut AdamMoments,
    scalars: &StepScalars,
    on_host: bool,
) -> Result<()> {
    if on_host {
        return update_cpu(param, grad, moments, scalars);
    }
    let (exp_avg, exp_avg_sq) = update_tensors(param, grad, moments, scalars)?;
    moments.exp_avg = exp_avg;
    moments.exp_avg_sq = exp_avg_sq;
    Ok(())
}

/// Per-step scalars, rounded to float32 where PyTorch multiplies them into float32 tensors.
struct StepScalars {
    lerp_weight: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
    neg_step_size: f32,
}

impl StepScalars {
    fn new(config: &AdamConfig, step: u64) -> Self {
        let exponent = step as i32;
        let bias_correction1 = 1.0 - config.beta1.powi(exponent);
        let bias_correction2 = 1.0 - config.beta2.powi(exponent);
        Self {
            lerp_weight: (1.0 - config.beta1) as f32,
            beta2: config.beta2 as f32,
            one_minus_beta2: (1.0 - config.beta2) as f32,
            bias_correction2_sqrt: bias_correction2.sqrt() as f32,
            eps: config.eps as f32,
            neg_step_size: (-config.lr / bias_correction1) as f32,
        }
    }
}

/// PyTorch's CPU `lerp`, which switches formula at weight 0.5 to stay exact at both ends.
fn lerp(start: f32, end: f32, weight: f32) -> f32 {
    if weight.abs() < 0.5 {
        start + weight * (end - start)
    } else {
        end - (end - start) * (1.0 - weight)
    }
}

/// Elements per parallel task of the host update.
const HOST_CHUNK: usize = 1 << 14;

/// Runs `f` on the float32 elements of a contiguous CPU tensor without copying them, or on a
/// copy otherwise.
fn with_host_slice<R>(tensor: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    {
        let (storage, layout) = tensor.storage_and_layout();
        if let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
            return Ok(f(&cpu.as_slice::<f32>()?[start..end]));
        }
    }
    Ok(f(&tensor.flatten_all()?.to_vec1::<f32>()?))
}

/// Runs `f` on the float32 elements of a contiguous CPU tensor, in place.
fn with_host_slice_mut<R>(tensor: &Tensor, f: impl FnOnce(&mut [f32]) -> R) -> Result<R> {
    /// Hands the tensor's storage to `f` as candle's in-place operation.
    struct InPlace<F, R> {
        f: RefCell<Option<F>>,
        result: RefCell<Option<R>>,
    }

    impl<F: FnOnce(&mut [f32]) -> R, R> InplaceOp1 for InPlace<F, R> {
        fn name(&self) -> &'static str {
            "mcgan-adam-in-place"
        }

        fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
            let (CpuStorage::F32(values), Some((start, end))) =
                (storage, layout.contiguous_offsets())
            else {
                candle_core::bail!("Adam's host update needs contiguous float32 tensors");
            };
            if let Some(f) = self.f.borrow_mut().take() {
                *self.result.borrow_mut() = Some(f(&mut values[start..end]));
            }
            Ok(())
        }
    }

    let op = InPlace {
        f: RefCell::new(Some(f)),
        result: RefCell::new(None),
    };
    tensor.inplace_op1(&op)?;
    match op.result.into_inner() {
        Some(result) => Ok(result),
        None => candle_core::bail!("Adam's host update needs tensors in host memory"),
    }
}

/// Fused update on the host: one parallel pass over the parameter and its moments, each
/// written in place, instead of a dozen tensor operations.
fn update_cpu(
    param: &Var,
    grad: &Tensor,
    moments: &AdamMoments,
    scalars: &StepScalars,
) -> Result<()> {
    let count = param.elem_count();
    if grad.elem_count() != count
        || moments.exp_avg.elem_count() != count
        || moments.exp_avg_sq.elem_count() != count
    {
        candle_core::bail!("Adam: the gradient or moments do not match the parameter's size");
    }
    with_host_slice(grad, |grad_values| {
        with_host_slice_mut(param.as_tensor(), |values| {
            with_host_slice_mut(&moments.exp_avg, |exp_avg| {
                with_host_slice_mut(&moments.exp_avg_sq, |exp_avg_sq| {
                    values
                        .par_chunks_mut(HOST_CHUNK)
                        .zip(exp_avg.par_chunks_mut(HOST_CHUNK))
                        .zip(exp_avg_sq.par_chunks_mut(HOST_CHUNK))
                        .zip(grad_values.par_chunks(HOST_CHUNK))
                        .for_each(|(((values, exp_avg), exp_avg_sq), grad_values)| {
                            let elements = values
                                .iter_mut()
                                .zip(exp_avg.iter_mut())
                                .zip(exp_avg_sq.iter_mut())
                                .zip(grad_values);
                            for (((value, m), v), &g) in elements {
                                *m = lerp(*m, g, scalars.lerp_weight);
                                *v = *v * scalars.beta2 + scalars.one_minus_beta2 * g * g;
                                let denom = v.sqrt() / scalars.bias_correction2_sqrt + scalars.eps;
                                *value += scalars.neg_step_size * *m / denom;
                            }
                        });
                })
            })
        })
    })????;
    Ok(())
}

/// Applies the same update as tensor operations, for accelerators and float64.
fn update_tensors(
    param: &Var,
    grad: &Tensor,
    moments: &AdamMoments,
    scalars: &StepScalars,
) -> Result<(Tensor, Tensor)> {
    let weight = f64::from(scalars.lerp_weight);
    let exp_avg = (grad - ((grad - &moments.exp_avg)? * (1.0 - weight))?)?;
    let exp_avg_sq = ((&moments.exp_avg_sq * f64::from(scalars.beta2))?
        + ((grad * f64::from(scalars.one_minus_beta2))? * grad)?)?;
    let denom = ((exp_avg_sq.sqrt()? / f64::from(scalars.bias_correction2_sqrt))?
        + f64::from(scalars.eps))?;
    let delta = ((&exp_avg * f64::from(scalars.neg_step_size))? / denom)?;
    param.set(&(param.as_tensor() + delta)?)?;
    Ok((exp_avg, exp_avg_sq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Runs `steps` updates of a one-element parameter with a fixed gradient, in float64.
    fn reference_adam(p0: f64, gradients: &[f64], config: &AdamConfig) -> f64 {
        let (mut p, mut m, mut v) = (p0, 0.0, 0.0);
        for (t, g) in gradients.iter().enumerate() {
            let t = (t + 1) as i32;
            m = config.beta1 * m + (1.0 - config.beta1) * g;
            v = config.beta2 * v + (1.0 - config.beta2) * g * g;
            let m_hat = m / (1.0 - config.beta1.powi(t));
            let v_hat = v / (1.0 - config.beta2.powi(t));
            p -= config.lr * m_hat / (v_hat.sqrt() + config.eps);
        }
        p
    }

    fn run_steps(device_path_tensors: bool, gradients: &[f32]) -> f32 {
        let device = Device::Cpu;
        let param = Var::from_tensor(&Tensor::new(&[0.3f32], &device).unwrap()).unwrap();
        let mut adam = Adam::new(vec![("w".into(), param.clone())], AdamConfig::default());
        for &g in gradients {
            let grad = Tensor::new(&[g], &device).unwrap();
            let mut moments = adam.moments[0].take().unwrap_or(AdamMoments {
                step: 0,
                exp_avg: param.zeros_like().unwrap(),
                exp_avg_sq: param.zeros_like().unwrap(),
            });
            moments.step += 1;
            let scalars = StepScalars::new(&adam.config, moments.step);
            update(&param, &grad, &mut moments, &scalars, !device_path_tensors).unwrap();
            adam.moments[0] = Some(moments);
        }
        param.as_tensor().to_vec1::<f32>().unwrap()[0]
    }

    #[test]
    fn adam_matches_textbook_update() {
        let gradients = [0.5f32, -0.25, 1.5, 0.01, -2.0];
        let expected = reference_adam(0.3, &gradients.map(f64::from), &AdamConfig::default());
        let host = run_steps(false, &gradients);
        assert!(
            (f64::from(host) - expected).abs() < 1e-7,
            "{host} vs {expected}"
        );
    }

    #[test]
    fn tensor_path_matches_host_path() {
        let gradients = [0.5f32, -0.25, 1.5, 0.01, -2.0];
        let host = run_steps(false, &gradients);
        let tensors = run_steps(true, &gradients);
        assert!((host - tensors).abs() < 1e-7, "{host} vs {tensors}");
    }

    #[test]
    fn first_step_moves_by_lr() {
        let param = Var::from_tensor(&Tensor::new(&[1.0f32, 1.0], &Device::Cpu).unwrap()).unwrap();
        let loss = (param.as_tensor() * &Tensor::new(&[3.0f32, -1e-3], &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let mut adam = Adam::new(vec![("w".into(), param.clone())], AdamConfig::default());
        adam.step(&grads).unwrap();
        let values = param.as_tensor().to_vec1::<f32>().unwrap();
        assert!((values[0] - (1.0 - 2e-4)).abs() < 1e-7);
        assert!((values[1] - (1.0 + 2e-4)).abs() < 1e-7);
    }
}
