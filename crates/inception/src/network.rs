//! The FID Inception v3 forward pass in candle, with batch norm folded into the convolutions.
//!
//! Each unit computes `relu((conv(x, w) - mean) / sqrt(var + eps) + beta)`. With
//! `s = 1 / sqrt(var + eps)` that equals `relu(conv(x, w * s) + (beta - mean * s))`, so the
//! scale is folded into the weights once at load time (in float64, then rounded). A unit then
//! costs one convolution and one bias add, and the result differs from the unfused form only
//! by float32 rounding.

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};

use crate::architecture::{
    inception_v3_layers, BranchSpec, ConvSpec, LayerSpec, OpSpec, PoolKind, PoolSpec,
    BATCH_NORM_EPS, FEATURE_DIM, INPUT_SIZE, PARAM_PREFIX,
};
use crate::cpu_kernels::{FoldedConv, Pool};
use crate::error::{InceptionError, Result};
use crate::torchscript::ConvGeometry;

/// A convolution unit with batch norm folded in.
#[derive(Debug, Clone)]
struct ConvUnit {
    spec: ConvSpec,
    /// The same unit as a fused CPU kernel.
    cpu: FoldedConv,
    /// `[out, in, kh, kw]`, already multiplied by the batch-norm scale.
    weight: Tensor,
    /// `[1, out, 1, 1]`: `beta - mean * s`.
    bias: Tensor,
}

#[derive(Debug, Clone)]
enum Op {
    Conv(ConvUnit),
    Pool(Pool),
}

#[derive(Debug, Clone)]
struct Branch {
    stem: Vec<Op>,
    fork: Vec<ConvUnit>,
}

#[derive(Debug, Clone)]
enum Layer {
    Op(Op),
    Block(Vec<Branch>),
}

/// The network, ready to run on one device.
#[derive(Debug, Clone)]
pub struct InceptionV3 {
    layers: Vec<Layer>,
}

/// Parameters as loaded from a weight file, before folding.
pub struct WeightSet<'a> {
    /// float32 tensors by full name (`net.layers.<conv>.<weight|beta|mean|var>`).
    pub tensors: &'a HashMap<String, Tensor>,
    /// Convolution geometry recorded in the file, by conv path under `net.layers.`, when
    /// the file records it.
    pub geometry: &'a HashMap<String, ConvGeometry>,
    /// Names the file in errors.
    pub source: &'a std::path::Path,
}

impl InceptionV3 {
    /// Builds the network from `weights`, checking every tensor's shape and, where recorded,
    /// every convolution's stride and padding against the layer table.
    pub fn new(weights: &WeightSet<'_>, device: &Device) -> Result<Self> {
        let layers = inception_v3_layers()
            .into_iter()
            .map(|layer| match layer {
                LayerSpec::Op(op) => Ok(Layer::Op(load_op(op, weights, device)?)),
                LayerSpec::Block { branches, .. } => Ok(Layer::Block(
                    branches
                        .into_iter()
                        .map(|branch| load_branch(branch, weights, device))
                        .collect::<Result<_>>()?,
                )),
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    /// Runs the network on `[N, 3, 299, 299]` float32 input in [-1, 1] and returns the
    /// `[N, 2048]` pool3 features.
    pub fn forward(&self, input: &Tensor) -> Result<Tensor> {
        let dims = input.dims();
        if dims.len() != 4 || dims[1..] != [3, INPUT_SIZE, INPUT_SIZE] {
            return Err(InceptionError::InvalidInput(format!(
                "expected shape [N, 3, {INPUT_SIZE}, {INPUT_SIZE}], got {dims:?}"
            )));
        }
        if input.dtype() != DType::F32 {
            return Err(InceptionError::InvalidInput(format!(
                "expected float32, got {:?}",
                input.dtype()
            )));
        }

        let mut x = input.contiguous()?;
        for layer in &self.layers {
            x = match layer {
                Layer::Op(op) => op.forward(&x)?,
                Layer::Block(branches) => {
                    let outputs = branches
                        .iter()
                        .map(|branch| branch.forward(&x))
                        .collect::<Result<Vec<_>>>()?
                        .concat();
                    Tensor::cat(&outputs, 1)?
                }
            };
        }
        Ok(x.reshape(((), FEATURE_DIM))?)
    }
}

impl Branch {
    fn forward(&self, input: &Tensor) -> Result<Vec<Tensor>> {
        let mut x = input.clone();
        for op in &self.stem {
            x = op.forward(&x)?;
        }
        if self.fork.is_empty() {
            return Ok(vec![x]);
        }
        self.fork.iter().map(|conv| conv.forward(&x)).collect()
    }
}

impl Op {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Op::Conv(conv) => conv.forward(x),
            Op::Pool(pool) if x.device().is_cpu() => Ok(x.contiguous()?.apply_op1_no_bwd(pool)?),
            Op::Pool(pool) => pool_forward(&pool.0, x),
        }
    }
}

impl ConvUnit {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() {
            return Ok(x.contiguous()?.apply_op1_no_bwd(&self.cpu)?);
        }
        let [pad_rows, pad_columns] = self.spec.padding;
        let [stride, _] = self.spec.stride;
        // candle pads both axes alike, so asymmetric (1x7, 7x1) padding is added by hand.
        let y = if pad_rows == pad_columns {
            x.conv2d(&self.weight, pad_rows, stride, 1, 1)?
        } else {
            let padded = x.pad_with_zeros(2, pad_rows, pad_rows)?.pad_with_zeros(
                3,
                pad_columns,
                pad_columns,
            )?;
            padded.conv2d(&self.weight, 0, stride, 1, 1)?
        };
        Ok(y.broadcast_add(&self.bias)?.relu()?)
    }
}

fn pool_forward(pool: &PoolSpec, x: &Tensor) -> Result<Tensor> {
    let (k, stride, pad) = (pool.kernel, pool.stride, pool.padding);
    let padded = if pad > 0 {
        // Zero padding is exact for the max pools: their inputs come out of ReLUs, so every
        // window contains a real value >= 0 that the zeros cannot exceed.
        x.pad_with_zeros(2, pad, pad)?.pad_with_zeros(3, pad, pad)?
    } else {
        x.clone()
    };
    match pool.kind {
        PoolKind::Max => Ok(padded.max_pool2d_with_stride(k, stride)?),
        PoolKind::Average if pad == 0 => Ok(padded.avg_pool2d_with_stride(k, stride)?),
        PoolKind::Average => {
            // TensorFlow's SAME average pool divides by the number of real pixels in the
            // window (PyTorch's count_include_pad=False), so rescale the padded mean.
            let mean = padded.avg_pool2d_with_stride(k, stride)?;
            let (_, _, height, width) = mean.dims4()?;
            let scale =
                window_count_scale(x.dims4()?.2, x.dims4()?.3, height, width, k, stride, pad);
            let scale = Tensor::from_vec(scale, (1, 1, height, width), x.device())?;
            Ok(mean.broadcast_mul(&scale)?)
        }
    }
}

/// `k * k / (real pixels in the window)` for every output position of a padded pool.
fn window_count_scale(
    in_height: usize,
    in_width: usize,
    out_height: usize,
    out_width: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Vec<f32> {
    let covered = |start: usize, size: usize| {
        let begin = start.max(pad);
        let end = (start + k).min(size + pad);
        end.saturating_sub(begin)
    };
    let mut scale = Vec::with_capacity(out_height * out_width);
    for row in 0..out_height {
        let rows = covered(row * stride, in_height);
        for column in 0..out_width {
            let columns = covered(column * stride, in_width);
            scale.push((k * k) as f32 / (rows * columns).max(1) as f32);
        }
    }
    scale
}

fn load_branch(branch: BranchSpec, weights: &WeightSet<'_>, device: &Device) -> Result<Branch> {
    Ok(Branch {
        stem: branch
            .stem
            .into_iter()
            .map(|op| load_op(op, weights, device))
            .collect::<Result<_>>()?,
        fork: branch
            .fork
            .into_iter()
            .map(|conv| load_conv(conv, weights, device))
            .collect::<Result<_>>()?,
    })
}

fn load_op(op: OpSpec, weights: &WeightSet<'_>, device: &Device) -> Result<Op> {
    Ok(match op {
        OpSpec::Conv(conv) => Op::Conv(load_conv(conv, weights, device)?),
        OpSpec::Pool(pool) => Op::Pool(Pool(pool)),
    })
}

fn load_conv(spec: ConvSpec, weights: &WeightSet<'_>, device: &Device) -> Result<ConvUnit> {
    let invalid = |reason: String| InceptionError::InvalidWeights {
        path: weights.source.to_path_buf(),
        reason,
    };
    if let Some(geometry) = weights.geometry.get(&spec.name) {
        if geometry.stride != spec.stride || geometry.padding != spec.padding {
            return Err(invalid(format!(
                "{} has stride {:?} and padding {:?}, the FID network needs {:?} and {:?}",
                spec.name, geometry.stride, geometry.padding, spec.stride, spec.padding
            )));
        }
    }

    let read = |field: &str, shape: &[usize]| -> Result<Vec<f32>> {
        let name = format!("{PARAM_PREFIX}{}.{field}", spec.name);
        let tensor = weights
            .tensors
            .get(&name)
            .ok_or_else(|| invalid(format!("tensor {name} is missing")))?;
        if tensor.dims() != shape {
            return Err(invalid(format!(
                "tensor {name} has shape {:?}, expected {shape:?}",
                tensor.dims()
            )));
        }
        Ok(tensor
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    };
    let out = spec.out_channels;
    let weight_shape = [out, spec.in_channels, spec.kernel[0], spec.kernel[1]];
    let weight = read("weight", &weight_shape)?;
    let beta = read("beta", &[out])?;
    let mean = read("mean", &[out])?;
    let var = read("var", &[out])?;

    let per_channel = weight.len() / out;
    let mut folded = Vec::with_capacity(weight.len());
    let mut bias = Vec::with_capacity(out);
    for channel in 0..out {
        let scale = 1.0 / (f64::from(var[channel]) + BATCH_NORM_EPS).sqrt();
        let row = &weight[channel * per_channel..(channel + 1) * per_channel];
        folded.extend(row.iter().map(|&w| (f64::from(w) * scale) as f32));
        bias.push((f64::from(beta[channel]) - f64::from(mean[channel]) * scale) as f32);
    }

    let cpu = FoldedConv {
        out_channels: out,
        in_channels: spec.in_channels,
        kernel: spec.kernel,
        stride: spec.stride[0],
        padding: spec.padding,
        weight: folded.clone(),
        bias: bias.clone(),
    };
    Ok(ConvUnit {
        weight: Tensor::from_vec(folded, weight_shape.as_slice(), device)?,
        bias: Tensor::from_vec(bias, (1, out, 1, 1), device)?,
        cpu,
        spec,
    })
}

impl Module for InceptionV3 {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        InceptionV3::forward(self, xs).map_err(|error| candle_core::Error::Msg(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn border_windows_count_real_pixels() {
        // 3x3 input, 3x3 window, stride 1, pad 1: corners see 4 pixels, edges 6, centre 9.
        let scale = window_count_scale(3, 3, 3, 3, 3, 1, 1);
        let expected = [
            9.0 / 4.0,
            9.0 / 6.0,
            9.0 / 4.0,
            9.0 / 6.0,
            1.0,
            9.0 / 6.0,
            9.0 / 4.0,
            9.0 / 6.0,
            9.0 / 4.0,
        ];
        assert_eq!(scale, expected.map(|value: f64| value as f32));
    }
}
