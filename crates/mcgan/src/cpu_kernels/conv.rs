//! Convolution and transposed convolution with bias as custom ops: one gemm per image
//! forward and two per image backward.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::im2col::{col2im, im2col, Window};
use super::{contiguous_slice, gemm, with_f32, Matrix};

/// `conv2d(x, weight) + bias` with zero padding; weight `[out, in, k, k]`.
pub struct Conv2dOp {
    pub stride: usize,
    pub padding: usize,
}

/// `conv_transpose2d(x, weight) + bias`; weight `[in, out, k, k]` as in PyTorch.
pub struct ConvTranspose2dOp {
    pub stride: usize,
    pub padding: usize,
    pub output_padding: usize,
}

fn dims4(layout: &Layout) -> Result<(usize, usize, usize, usize)> {
    layout.shape().dims4()
}

impl Conv2dOp {
    fn window(&self, x: &[usize], weight: &[usize]) -> Result<Window> {
        let (_, channels, height, width) = (x[0], x[1], x[2], x[3]);
        if weight[1] != channels || weight[2] != weight[3] {
            candle_core::bail!("conv2d: weight {weight:?} does not fit input {x:?}");
        }
        if height + 2 * self.padding < weight[2] || width + 2 * self.padding < weight[2] {
            candle_core::bail!("conv2d: input {x:?} is smaller than the kernel {weight:?}");
        }
        Ok(Window {
            channels,
            height,
            width,
            kernel: weight[2],
            stride: self.stride,
            padding: self.padding,
        })
    }
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "mcgan-conv2d"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        w_storage: &CpuStorage,
        w_layout: &Layout,
        b_storage: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x_dims = dims4(x_layout)?;
        let w_dims = dims4(w_layout)?;
        let window = self.window(x_layout.dims(), w_layout.dims())?;
        let (batch, out_channels) = (x_dims.0, w_dims.0);
        let x = contiguous_slice(x_storage, x_layout)?;
        let weight = contiguous_slice(w_storage, w_layout)?;
        let bias = contiguous_slice(b_storage, b_layout)?;
        let (rows, columns) = (window.rows(), window.columns());

        let mut y = vec![0f32; batch * out_channels * columns];
        let mut col = vec![
            0f32;
            if window.is_identity() {
                0
            } else {
                rows * columns
            }
        ];
        for (image, out) in x
            .chunks(window.image_len())
            .zip(y.chunks_mut(out_channels * columns))
        {
            for (plane, b) in out.chunks_mut(columns).zip(bias) {
                plane.fill(*b);
            }
            let windows = if window.is_identity() {
                image
            } else {
                im2col(&window, image, &mut col);
                &col
            };
            let lhs = Matrix::row_major(weight, rows);
            gemm(
                out_channels,
                columns,
                rows,
                out,
                true,
                lhs,
                Matrix::row_major(windows, columns),
            );
        }
        let shape = Shape::from((batch, out_channels, window.out_height(), window.out_width()));
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let window = self.window(x.dims(), weight.dims())?;
        let (batch, out_channels) = (x.dim(0)?, weight.dim(0)?);
        let (rows, columns) = (window.rows(), window.columns());
        let mut grad_x = vec![0f32; batch * window.image_len()];
        let mut grad_w = vec![0f32; out_channels * rows];
        let mut col = vec![
            0f32;
            if window.is_identity() {
                0
            } else {
                rows * columns
            }
        ];
        let mut grad_col = vec![0f32; rows * columns];

        with_f32(x, |x| {
            with_f32(weight, |weight| {
                with_f32(grad, |grad| {
                    let images = x.chunks(window.image_len());
                    let grads = grad.chunks(out_channels * columns);
                    let grad_images = grad_x.chunks_mut(window.image_len());
                    for ((image, dy), dx) in images.zip(grads).zip(grad_images) {
                        let windows = if window.is_identity() {
                            image
                        } else {
                            im2col(&window, image, &mut col);
                            &col
                        };
                        // dW += dy [O, P] @ windows^T [P, K]
                        gemm(
                            out_channels,
                            rows,
                            columns,
                            &mut grad_w,
                            true,
                            Matrix::row_major(dy, columns),
                            Matrix::transposed(windows, columns),
                        );
                        // d(windows) = W^T [K, O] @ dy [O, P], folded back onto the image.
                        let target = if window.is_identity() {
                            &mut dx[..]
                        } else {
                            &mut grad_col[..]
                        };
                        gemm(
                            rows,
                            columns,
                            out_channels,
                            target,
                            false,
                            Matrix::transposed(weight, rows),
                            Matrix::row_major(dy, columns),
                        );
                        if !window.is_identity() {
                            col2im(&window, &grad_col, dx);
                        }
                    }
                    Ok(())
                })
            })
        })?;

        let grad_b = grad.sum((0, 2, 3))?;
        let grad_x = Tensor::from_vec(grad_x, x.shape(), x.device())?;
        let grad_w = Tensor::from_vec(grad_w, weight.shape(), weight.device())?;
        Ok((
            Some(grad_x),
            Some(grad_w),
            Some(grad_b.reshape(bias.shape())?),
        ))
    }
}

impl ConvTranspose2dOp {
    /// The convolution this transposed convolution is the adjoint of, over the output.
    fn window(&self, x: &[usize], weight: &[usize]) -> Result<Window> {
        let (in_channels, height, width) = (x[1], x[2], x[3]);
        if weight[0] != in_channels || weight[2] != weight[3] {
            candle_core::bail!("conv_transpose2d: weight {weight:?} does not fit input {x:?}");
        }
        let kernel = weight[2];
        let out_size = |size: usize| {
            ((size - 1) * self.stride + kernel + self.output_padding).checked_sub(2 * self.padding)
        };
        let (Some(out_h), Some(out_w)) = (out_size(height), out_size(width)) else {
            candle_core::bail!("conv_transpose2d: padding {} is too large", self.padding);
        };
        let window = Window {
            channels: weight[1],
            height: out_h,
            width: out_w,
            kernel,
            stride: self.stride,
            padding: self.padding,
        };
        if window.out_height() != height || window.out_width() != width {
            candle_core::bail!(
                "conv_transpose2d: output padding {} must be below the stride {}",
                self.output_padding,
                self.stride
            );
        }
        Ok(window)
    }
}

impl CustomOp3 for ConvTranspose2dOp {
    fn name(&self) -> &'static str {
        "mcgan-conv-transpose2d"
    }

    fn cpu_fwd(
        &self,
        x_storage: &CpuStorage,
        x_layout: &Layout,
        w_storage: &CpuStorage,
        w_layout: &Layout,
        b_storage: &CpuStorage,
        b_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, in_channels, _, _) = dims4(x_layout)?;
        let window = self.window(x_layout.dims(), w_layout.dims())?;
        let x = contiguous_slice(x_storage, x_layout)?;
        let weight = contiguous_slice(w_storage, w_layout)?;
        let bias = contiguous_slice(b_storage, b_layout)?;
        let (rows, columns) = (window.rows(), window.columns());
        let out_plane = window.height * window.width;

        let mut y = vec![0f32; batch * window.image_len()];
        let mut col = vec![0f32; rows * columns];
        for (image, out) in x
            .chunks(in_channels * columns)
            .zip(y.chunks_mut(window.image_len()))
        {
            for (plane, b) in out.chunks_mut(out_plane).zip(bias) {
                plane.fill(*b);
            }
            // windows [K, P] = W^T [K, C_in] @ x [C_in, P], then folded onto the output.
            gemm(
                rows,
                columns,
                in_channels,
                &mut col,
                false,
                Matrix::transposed(weight, rows),
                Matrix::row_major(image, columns),
            );
            col2im(&window, &col, out);
        }
        let shape = Shape::from((batch, window.channels, window.height, window.width));
        Ok((CpuStorage::F32(y), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let window = self.window(x.dims(), weight.dims())?;
        let in_channels = x.dim(1)?;
        let (rows, columns) = (window.rows(), window.columns());
        let mut grad_x = vec![0f32; x.elem_count()];
        let mut grad_w = vec![0f32; in_channels * rows];
        let mut col = vec![0f32; rows * columns];

        with_f32(x, |x| {
            with_f32(weight, |weight| {
                with_f32(grad, |grad| {
                    let images = x.chunks(in_channels * columns);
                    let grads = grad.chunks(window.image_len());
                    let grad_images = grad_x.chunks_mut(in_channels * columns);
                    for ((image, dy), dx) in images.zip(grads).zip(grad_images) {
                        im2col(&window, dy, &mut col);
                        // dx [C_in, P] = W [C_in, K] @ windows(dy) [K, P]
                        gemm(
                            in_channels,
                            columns,
                            rows,
                            dx,
                            false,
                            Matrix::row_major(weight, rows),
                            Matrix::row_major(&col, columns),
                        );
                        // dW [C_in, K] += x [C_in, P] @ windows(dy)^T [P, K]
                        gemm(
                            in_channels,
                            rows,
                            columns,
                            &mut grad_w,
                            true,
                            Matrix::row_major(image, columns),
                            Matrix::transposed(&col, columns),
                        );
                    }
                    Ok(())
                })
            })
        })?;

        let grad_b = grad.sum((0, 2, 3))?;
        let grad_x = Tensor::from_vec(grad_x, x.shape(), x.device())?;
        let grad_w = Tensor::from_vec(grad_w, weight.shape(), weight.device())?;
        Ok((
            Some(grad_x),
            Some(grad_w),
            Some(grad_b.reshape(bias.shape())?),
        ))
    }
}
