//! Instance normalisation without affine parameters (per sample and channel, biased variance).

use candle_core::{Result, Tensor};

use crate::cpu_kernels::activation::Activation;
use crate::cpu_kernels::instance_norm::InstanceNormOp;

/// The epsilon PyTorch's `InstanceNorm2d` adds to the variance by default.
pub const INSTANCE_NORM_EPS: f64 = 1e-5;

/// Normalises each (sample, channel) plane of an NCHW tensor to zero mean and unit variance.
pub fn instance_norm(x: &Tensor) -> Result<Tensor> {
    if crate::cpu_kernels::applies_to(x) {
        return normalise_then(x, Activation::Identity);
    }
    instance_norm_tensor_ops(x)
}

/// `relu(instance_norm(x))`, in one pass on the CPU.
pub fn instance_norm_relu(x: &Tensor) -> Result<Tensor> {
    if crate::cpu_kernels::applies_to(x) {
        return normalise_then(x, Activation::Relu);
    }
    instance_norm_tensor_ops(x)?.relu()
}

/// `leaky_relu(instance_norm(x), slope)`, in one pass on the CPU.
pub fn instance_norm_leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if crate::cpu_kernels::applies_to(x) {
        return normalise_then(x, Activation::LeakyRelu(slope as f32));
    }
    candle_nn::ops::leaky_relu(&instance_norm_tensor_ops(x)?, slope)
}

/// Runs the CPU kernel of instance norm followed by `activation`.
fn normalise_then(x: &Tensor, activation: Activation) -> Result<Tensor> {
    x.contiguous()?.apply_op1(InstanceNormOp {
        eps: INSTANCE_NORM_EPS,
        activation,
    })
}

/// [`instance_norm`] from candle tensor operations, for every device; candle derives its
/// backward pass.
///
/// The variance is the mean of squared deviations from the mean, not `E[x^2] - E[x]^2`: in the
/// masked generator the first norm sees channels whose mean is tens of times their standard
/// deviation, and the one-pass formula loses about 11 bits there in float32.
pub fn instance_norm_tensor_ops(x: &Tensor) -> Result<Tensor> {
    let (batch, channels, height, width) = x.dims4()?;
    let planes = x.reshape((batch, channels, height * width))?;
    let mean = planes.mean_keepdim(2)?;
    let centered = planes.broadcast_sub(&mean)?;
    let variance = centered.sqr()?.mean_keepdim(2)?;
    let inverse_std = (variance + INSTANCE_NORM_EPS)?.sqrt()?.recip()?;
    centered
        .broadcast_mul(&inverse_std)?
        .reshape((batch, channels, height, width))
}
