//! Convolution and transposed convolution layers with biases, in PyTorch's weight layouts.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::cpu_kernels::{
    self,
    conv::{Conv2dOp, ConvTranspose2dOp},
};

/// A 2D convolution with zero padding and a bias; weight `[out, in, kh, kw]`.
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    padding: usize,
}

impl Conv2d {
    /// Builds a square-kernel convolution with parameters `weight` and `bias` under `vb`.
    pub fn new(
        vb: VarBuilder,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let weight = vb.get((out_channels, in_channels, kernel, kernel), "weight")?;
        let bias = vb.get(out_channels, "bias")?;
        Ok(Self {
            weight,
            bias,
            stride,
            padding,
        })
    }

    /// Wraps existing parameters: `weight` `[out, in, kh, kw]` and `bias` `[out]`.
    pub fn from_tensors(weight: Tensor, bias: Tensor, stride: usize, padding: usize) -> Self {
        Self {
            weight,
            bias,
            stride,
            padding,
        }
    }

    /// Returns this convolution with its parameters detached from the variables, so that a
    /// backward pass through it computes no gradient for them.
    pub fn frozen(&self) -> Self {
        Self {
            weight: self.weight.detach(),
            bias: self.bias.detach(),
            ..*self
        }
    }

    /// Applies the convolution to an NCHW tensor.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if cpu_kernels::applies_to(x) {
            let op = Conv2dOp::new(self.stride, self.padding);
            return x.contiguous()?.apply_op3(&self.weight, &self.bias, op);
        }
        self.forward_tensor_ops(x)
    }

    /// [`Conv2d::forward`] with candle's convolution, for every device.
    pub fn forward_tensor_ops(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?;
        let bias = self.bias.reshape((1, self.bias.dim(0)?, 1, 1))?;
        y.broadcast_add(&bias)
    }
}

/// A 2D transposed convolution with a bias; weight `[in, out, kh, kw]` as in PyTorch.
#[derive(Debug, Clone)]
pub struct ConvTranspose2d {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    padding: usize,
    output_padding: usize,
}

impl ConvTranspose2d {
    /// Builds a square-kernel transposed convolution with parameters under `vb`.
    pub fn new(
        vb: VarBuilder,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        output_padding: usize,
    ) -> Result<Self> {
        let weight = vb.get((in_channels, out_channels, kernel, kernel), "weight")?;
        let bias = vb.get(out_channels, "bias")?;
        Ok(Self {
            weight,
            bias,
            stride,
            padding,
            output_padding,
        })
    }

    /// Wraps existing parameters: `weight` `[in, out, kh, kw]` and `bias` `[out]`.
    pub fn from_tensors(
        weight: Tensor,
        bias: Tensor,
        stride: usize,
        padding: usize,
        output_padding: usize,
    ) -> Self {
        Self {
            weight,
            bias,
            stride,
            padding,
            output_padding,
        }
    }

    /// Applies the transposed convolution to an NCHW tensor.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if cpu_kernels::applies_to(x) {
            let op = ConvTranspose2dOp {
                stride: self.stride,
                padding: self.padding,
                output_padding: self.output_padding,
            };
            return x.contiguous()?.apply_op3(&self.weight, &self.bias, op);
        }
        self.forward_tensor_ops(x)
    }

    /// [`ConvTranspose2d::forward`] with candle's transposed convolution, for every device.
    pub fn forward_tensor_ops(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.conv_transpose2d(
            &self.weight,
            self.padding,
            self.output_padding,
            self.stride,
            1,
        )?;
        let bias = self.bias.reshape((1, self.bias.dim(0)?, 1, 1))?;
        y.broadcast_add(&bias)
    }
}

/// Names and shapes of every variable in `varmap`, sorted by name.
pub(crate) fn sorted_shapes(varmap: &candle_nn::VarMap) -> Vec<(String, Vec<usize>)> {
    let variables = match varmap.data().lock() {
        Ok(variables) => variables,
        Err(poisoned) => poisoned.into_inner(),
    };
    let mut shapes: Vec<(String, Vec<usize>)> = variables
        .iter()
        .map(|(name, var)| (name.clone(), var.dims().to_vec()))
        .collect();
    shapes.sort();
    shapes
}
