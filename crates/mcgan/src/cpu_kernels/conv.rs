//! Convolution and transposed convolution with bias as custom ops, their products computed
//! by gemm.
//!
//! A convolution lays its gemm out in one of three ways. By windows (im2col): the column
//! matrix contains every input window, `[C_in*k*k, P_out]`, and the output is `W @ columns`.
//! By taps: each input pixel is multiplied by every tap of every filter, `[C_out*k*k, P_in]`,
//! and each output pixel sums its taps from that matrix. Both cost the same multiply-adds at
//! stride 1, but the second matrix is `C_in / C_out` times smaller. That decides it for a
//! layer that narrows many channels to few, such as the generator's last 7x7 convolution
//! (64 channels to 3), whose window matrix at 128 pixels would take 200 MB. Wide 3x3 layers
//! with large outputs go by Winograd's transform ([`super::winograd`]), which needs fewer
//! multiply-adds than either.

use std::sync::{Mutex, MutexGuard, PoisonError};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::im2col::{col2im, im2col, spread_taps, sum_taps, Window};
use super::winograd;
use super::{blocked_sum, by_planes, contiguous_slice, gemm, with_f32, zeroed, Matrix, Scratch};

/// `conv2d(x, weight) + bias` with zero padding; weight `[out, in, k, k]`.
///
/// Each call builds its own op. candle keeps the op in the graph until the backward pass, so
/// a forward pass by Winograd's method leaves its transforms here for the backward pass.
pub struct Conv2dOp {
    stride: usize,
    padding: usize,
    saved: Mutex<Option<winograd::Transformed>>,
}

/// `conv_transpose2d(x, weight) + bias`; weight `[in, out, k, k]` as in PyTorch.
#[derive(Debug, Clone, Copy)]
pub struct ConvTranspose2dOp {
    pub stride: usize,
    pub padding: usize,
    pub output_padding: usize,
}

/// The layout of a convolution's products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// One gemm over the window matrix (im2col).
    Windows,
    /// One gemm over the tap matrix, for layers that narrow many channels to few.
    Taps,
    /// Sixteen gemms over Winograd-transformed tiles, for wide 3x3 layers at stride 1.
    Winograd,
}

/// Sizes of one convolution call, shared by its forward and backward passes.
struct ConvShape {
    window: Window,
    batch: usize,
    out_channels: usize,
}

impl ConvShape {
    fn out_plane(&self) -> usize {
        self.window.columns()
    }

    fn in_plane(&self) -> usize {
        self.window.height * self.window.width
    }

    fn taps(&self) -> usize {
        self.window.kernel * self.window.kernel
    }

    /// Returns whether the gemm goes by taps: at stride 1 with at least four input channels
    /// per output channel, the tap matrix is at most a quarter of the window matrix.
    fn by_taps(&self) -> bool {
        self.window.stride == 1
            && !self.window.is_identity()
            && 4 * self.out_channels <= self.window.channels
    }

    /// Picks the layout of this convolution's products.
    fn method(&self) -> Method {
        if winograd::applies(&self.window, self.batch, self.out_channels) {
            Method::Winograd
        } else if self.by_taps() {
            Method::Taps
        } else {
            Method::Windows
        }
    }
}

impl Conv2dOp {
    /// Builds the op of one call, with `stride` and zero `padding` on each side.
    pub fn new(stride: usize, padding: usize) -> Self {
        Self {
            stride,
            padding,
            saved: Mutex::new(None),
        }
    }

    fn shape(&self, x: &[usize], weight: &[usize]) -> Result<ConvShape> {
        let [batch, channels, height, width] = *x else {
            candle_core::bail!("conv2d: input {x:?} is not NCHW");
        };
        if weight.len() != 4 || weight[1] != channels || weight[2] != weight[3] {
            candle_core::bail!("conv2d: weight {weight:?} does not fit input {x:?}");
        }
        if height + 2 * self.padding < weight[2] || width + 2 * self.padding < weight[2] {
            candle_core::bail!("conv2d: input {x:?} is smaller than the kernel {weight:?}");
        }
        Ok(ConvShape {
            window: Window {
                channels,
                height,
                width,
                kernel: weight[2],
                stride: self.stride,
                padding: self.padding,
            },
            batch,
            out_channels: weight[0],
        })
    }
}

/// Locks `mutex`, also when a thread panicked holding it: the saved transforms stay valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Regroups the weight `[O, C, T]` by tap as `[O*T, C]`, whose row `o*T + t` is tap `t` of
/// every input channel of filter `o`.
fn weights_by_tap(weight: &[f32], shape: &ConvShape) -> Vec<f32> {
    transpose_blocks(weight, shape.window.channels, shape.taps())
}

/// Reverses [`weights_by_tap`], from `[O*T, C]` back to `[O, C, T]`.
fn weights_from_taps(by_tap: &[f32], shape: &ConvShape) -> Vec<f32> {
    transpose_blocks(by_tap, shape.taps(), shape.window.channels)
}

/// Transposes each consecutive `[rows, columns]` block of `data` to `[columns, rows]`.
fn transpose_blocks(data: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    let mut transposed = vec![0f32; data.len()];
    for (block, out) in data
        .chunks(rows * columns)
        .zip(transposed.chunks_mut(rows * columns))
    {
        for (row, values) in block.chunks(columns).enumerate() {
            for (column, &value) in values.iter().enumerate() {
                out[column * rows + row] = value;
            }
        }
    }
    transposed
}

/// Returns `planes` planes of `plane` elements (`[N, C, plane]`), each filled with its
/// channel's bias.
fn bias_planes(bias: &[f32], planes: usize, plane: usize) -> Vec<f32> {
    by_planes(planes * plane, plane, |index, values| {
        values.fill(bias[index % bias.len()]);
    })
}

/// Computes the bias gradient, the sum of `grad` (`[N, C, plane]`) per channel over images and
/// pixels.
fn bias_grad(grad: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    (0..channels)
        .into_par_iter()
        .map(|channel| {
            let sum: f64 = grad
                .chunks(channels * plane)
                .map(|image| blocked_sum(&image[channel * plane..(channel + 1) * plane]))
                .sum();
            sum as f32
        })
        .collect()
}

/// The gradients a backward pass computes: those of the inputs that depend on a variable.
/// An image entering a discriminator needs none, and neither do the weights of a
/// discriminator that only scores the generators' output.
#[derive(Debug, Clone, Copy)]
struct Needed {
    x: bool,
    weight: bool,
    bias: bool,
}

impl Needed {
    fn of(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Self {
        Self {
            x: x.track_op(),
            weight: weight.track_op(),
            bias: bias.track_op(),
        }
    }
}

/// The gradients of a convolution's input, weight and bias, each computed only when needed.
type Gradients = (Option<Vec<f32>>, Option<Vec<f32>>, Option<Vec<f32>>);

/// Wraps the gradients as tensors shaped like `x`, `weight` and `bias`.
fn gradients(
    (grad_x, grad_w, grad_b): Gradients,
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
    let wrap = |values: Option<Vec<f32>>, like: &Tensor| {
        values
            .map(|values| Tensor::from_vec(values, like.shape(), like.device()))
            .transpose()
    };
    Ok((wrap(grad_x, x)?, wrap(grad_w, weight)?, wrap(grad_b, bias)?))
}

impl Conv2dOp {
    /// Computes `y += W @ windows(x)` per image.
    fn forward_by_windows(&self, shape: &ConvShape, x: &[f32], weight: &[f32], y: &mut [f32]) {
        let window = &shape.window;
        let (rows, columns) = (window.rows(), window.columns());
        let mut col = Scratch::take(if window.is_identity() {
            0
        } else {
            rows * columns
        });
        for (image, out) in x
            .chunks(window.image_len())
            .zip(y.chunks_mut(shape.out_channels * columns))
        {
            let windows = if window.is_identity() {
                image
            } else {
                im2col(window, image, &mut col);
                &col
            };
            let lhs = Matrix::row_major(weight, rows);
            let rhs = Matrix::row_major(windows, columns);
            gemm(shape.out_channels, columns, rows, out, true, lhs, rhs);
        }
    }

    /// Computes `y[o] += sum over taps t of (W_t @ x)[o, t]`, read at tap `t`'s offset, per
    /// image.
    fn forward_by_taps(&self, shape: &ConvShape, x: &[f32], weight: &[f32], y: &mut [f32]) {
        let window = &shape.window;
        let (channels, in_plane) = (window.channels, shape.in_plane());
        let tap_rows = shape.out_channels * shape.taps();
        let by_tap = weights_by_tap(weight, shape);
        let mut products = Scratch::take(tap_rows * in_plane);
        for (image, out) in x
            .chunks(window.image_len())
            .zip(y.chunks_mut(shape.out_channels * shape.out_plane()))
        {
            let lhs = Matrix::row_major(&by_tap, channels);
            let rhs = Matrix::row_major(image, in_plane);
            gemm(tap_rows, in_plane, channels, &mut products, false, lhs, rhs);
            sum_taps(window, &products, out);
        }
    }

    /// Computes the needed gradients by windows: `dW += dy @ windows(x)^T` and
    /// `dx = col2im(W^T @ dy)`.
    fn backward_by_windows(
        &self,
        shape: &ConvShape,
        needed: Needed,
        x: &[f32],
        weight: &[f32],
        grad: &[f32],
    ) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let window = &shape.window;
        let (rows, columns, out_channels) = (window.rows(), window.columns(), shape.out_channels);
        let image_len = window.image_len();
        let mut grad_x = needed.x.then(|| zeroed(shape.batch * image_len));
        let mut grad_w = needed.weight.then(|| zeroed(out_channels * rows));
        let identity = window.is_identity();
        let col_len = |used: bool| {
            if identity || !used {
                0
            } else {
                rows * columns
            }
        };
        let mut col = Scratch::take(col_len(needed.weight));
        let mut grad_col = Scratch::take(col_len(needed.x));
        let images = x.chunks(image_len);
        let grads = grad.chunks(out_channels * columns);
        for (index, (image, dy)) in images.zip(grads).enumerate() {
            let dy_matrix = Matrix::row_major(dy, columns);
            if let Some(grad_w) = &mut grad_w {
                let windows = if identity {
                    image
                } else {
                    im2col(window, image, &mut col);
                    &col
                };
                // dW [O, K] += dy [O, P] @ windows^T [P, K]
                let windows_t = Matrix::transposed(windows, columns);
                gemm(
                    out_channels,
                    rows,
                    columns,
                    grad_w,
                    true,
                    dy_matrix,
                    windows_t,
                );
            }
            if let Some(grad_x) = &mut grad_x {
                // d(windows) [K, P] = W^T [K, O] @ dy [O, P], folded back onto the image.
                let dx = &mut grad_x[index * image_len..][..image_len];
                let target = if identity {
                    &mut *dx
                } else {
                    &mut grad_col[..]
                };
                let weight_t = Matrix::transposed(weight, rows);
                gemm(
                    rows,
                    columns,
                    out_channels,
                    target,
                    false,
                    weight_t,
                    dy_matrix,
                );
                if !identity {
                    col2im(window, &grad_col, dx);
                }
            }
        }
        (grad_x, grad_w)
    }

    /// Computes the needed gradients by taps: `d(products)` spreads each output gradient over
    /// its taps, then `dx = W_t^T @ d(products)` and `dW_t += d(products) @ x^T`.
    fn backward_by_taps(
        &self,
        shape: &ConvShape,
        needed: Needed,
        x: &[f32],
        weight: &[f32],
        grad: &[f32],
    ) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
        let window = &shape.window;
        let (channels, in_plane, image_len) =
            (window.channels, shape.in_plane(), window.image_len());
        let tap_rows = shape.out_channels * shape.taps();
        let by_tap = weights_by_tap(weight, shape);
        let mut grad_x = needed.x.then(|| zeroed(shape.batch * image_len));
        let mut grad_by_tap = needed.weight.then(|| vec![0f32; tap_rows * channels]);
        let mut grad_products = Scratch::take(tap_rows * in_plane);
        let images = x.chunks(image_len);
        let grads = grad.chunks(shape.out_channels * shape.out_plane());
        for (index, (image, dy)) in images.zip(grads).enumerate() {
            spread_taps(window, dy, &mut grad_products);
            let grad_products = Matrix::row_major(&grad_products, in_plane);
            if let Some(grad_x) = &mut grad_x {
                // dx [C, P_in] = W_t^T [C, O*T] @ d(products) [O*T, P_in]
                let dx = &mut grad_x[index * image_len..][..image_len];
                let by_tap_t = Matrix::transposed(&by_tap, channels);
                gemm(
                    channels,
                    in_plane,
                    tap_rows,
                    dx,
                    false,
                    by_tap_t,
                    grad_products,
                );
            }
            if let Some(grad_by_tap) = &mut grad_by_tap {
                // dW_t [O*T, C] += d(products) [O*T, P_in] @ x^T [P_in, C]
                let image_t = Matrix::transposed(image, in_plane);
                gemm(
                    tap_rows,
                    channels,
                    in_plane,
                    grad_by_tap,
                    true,
                    grad_products,
                    image_t,
                );
            }
        }
        let grad_w = grad_by_tap.map(|grad_by_tap| weights_from_taps(&grad_by_tap, shape));
        (grad_x, grad_w)
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
        let shape = self.shape(x_layout.dims(), w_layout.dims())?;
        let x = contiguous_slice(x_storage, x_layout)?;
        let weight = contiguous_slice(w_storage, w_layout)?;
        let bias = contiguous_slice(b_storage, b_layout)?;
        let planes = shape.batch * shape.out_channels;
        let mut y = bias_planes(bias, planes, shape.out_plane());
        match shape.method() {
            Method::Windows => self.forward_by_windows(&shape, x, weight, &mut y),
            Method::Taps => self.forward_by_taps(&shape, x, weight, &mut y),
            Method::Winograd => {
                let (window, batch) = (&shape.window, shape.batch);
                let transformed =
                    winograd::forward(window, batch, shape.out_channels, x, weight, &mut y);
                *lock(&self.saved) = Some(transformed);
            }
        }
        let window = &shape.window;
        let dims = (
            shape.batch,
            shape.out_channels,
            window.out_height(),
            window.out_width(),
        );
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let shape = self.shape(x.dims(), weight.dims())?;
        let needed = Needed::of(x, weight, bias);
        let grads = with_f32(x, |x| {
            with_f32(weight, |weight| {
                with_f32(grad, |grad| {
                    let (grad_x, grad_w) = match shape.method() {
                        Method::Windows => {
                            self.backward_by_windows(&shape, needed, x, weight, grad)
                        }
                        Method::Taps => self.backward_by_taps(&shape, needed, x, weight, grad),
                        Method::Winograd => winograd::backward(
                            &shape.window,
                            shape.batch,
                            shape.out_channels,
                            (needed.x, needed.weight),
                            lock(&self.saved).take(),
                            x,
                            weight,
                            grad,
                        ),
                    };
                    let grad_b = needed
                        .bias
                        .then(|| bias_grad(grad, shape.out_channels, shape.out_plane()));
                    Ok((grad_x, grad_w, grad_b))
                })
            })
        })?;
        gradients(grads, x, weight, bias)
    }
}

impl ConvTranspose2dOp {
    /// Returns the sizes of the convolution whose adjoint this transposed convolution is. Its
    /// window runs over the output, and `out_channels` counts the input's channels.
    fn shape(&self, x: &[usize], weight: &[usize]) -> Result<ConvShape> {
        let [batch, in_channels, height, width] = *x else {
            candle_core::bail!("conv_transpose2d: input {x:?} is not NCHW");
        };
        if weight.len() != 4 || weight[0] != in_channels || weight[2] != weight[3] {
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
        Ok(ConvShape {
            window,
            batch,
            out_channels: in_channels,
        })
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
        let shape = self.shape(x_layout.dims(), w_layout.dims())?;
        let window = &shape.window;
        let x = contiguous_slice(x_storage, x_layout)?;
        let weight = contiguous_slice(w_storage, w_layout)?;
        let bias = contiguous_slice(b_storage, b_layout)?;
        let (rows, columns, in_channels) = (window.rows(), window.columns(), shape.out_channels);

        let planes = shape.batch * window.channels;
        let mut y = bias_planes(bias, planes, shape.in_plane());
        let mut col = Scratch::take(rows * columns);
        for (image, out) in x
            .chunks(in_channels * columns)
            .zip(y.chunks_mut(window.image_len()))
        {
            // windows [K, P] = W^T [K, C_in] @ x [C_in, P], then folded onto the output.
            let weight_t = Matrix::transposed(weight, rows);
            let image = Matrix::row_major(image, columns);
            gemm(rows, columns, in_channels, &mut col, false, weight_t, image);
            col2im(window, &col, out);
        }
        let dims = (shape.batch, window.channels, window.height, window.width);
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let shape = self.shape(x.dims(), weight.dims())?;
        let needed = Needed::of(x, weight, bias);
        let window = &shape.window;
        let (rows, columns, in_channels) = (window.rows(), window.columns(), shape.out_channels);
        let image_len = in_channels * columns;
        let mut grad_x = needed.x.then(|| zeroed(x.elem_count()));
        let mut grad_w = needed.weight.then(|| zeroed(in_channels * rows));
        let mut col = Scratch::take(rows * columns);

        let grad_b = with_f32(x, |x| {
            with_f32(weight, |weight| {
                with_f32(grad, |grad| {
                    let images = x.chunks(image_len);
                    let grads = grad.chunks(window.image_len());
                    for (index, (image, dy)) in images.zip(grads).enumerate() {
                        im2col(window, dy, &mut col);
                        if let Some(grad_x) = &mut grad_x {
                            // dx [C_in, P] = W [C_in, K] @ windows(dy) [K, P]
                            let dx = &mut grad_x[index * image_len..][..image_len];
                            let weight = Matrix::row_major(weight, rows);
                            let windows = Matrix::row_major(&col, columns);
                            gemm(in_channels, columns, rows, dx, false, weight, windows);
                        }
                        if let Some(grad_w) = &mut grad_w {
                            // dW [C_in, K] += x [C_in, P] @ windows(dy)^T [P, K]
                            let image = Matrix::row_major(image, columns);
                            let windows_t = Matrix::transposed(&col, columns);
                            gemm(in_channels, rows, columns, grad_w, true, image, windows_t);
                        }
                    }
                    Ok(needed
                        .bias
                        .then(|| bias_grad(grad, window.channels, shape.in_plane())))
                })
            })
        })?;
        gradients((grad_x, grad_w, grad_b), x, weight, bias)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    const ALL: Needed = Needed {
        x: true,
        weight: true,
        bias: true,
    };

    /// Unwraps the input and weight gradients of a backward pass that computed both.
    fn both((grad_x, grad_w): (Option<Vec<f32>>, Option<Vec<f32>>)) -> (Vec<f32>, Vec<f32>) {
        (
            grad_x.expect("input gradient"),
            grad_w.expect("weight gradient"),
        )
    }

    /// A convolution computes the gradients of the inputs that depend on a variable only, and
    /// those it computes equal the ones of a call where every input is a variable.
    #[test]
    fn untracked_inputs_get_no_gradient() {
        let device = Device::Cpu;
        for (channels, out_channels, size) in [(3, 8, 12), (32, 32, 34), (16, 2, 9)] {
            let x = Tensor::rand(-1f32, 1f32, (2, channels, size, size), &device).unwrap();
            let weight =
                Tensor::rand(-1f32, 1f32, (out_channels, channels, 3, 3), &device).unwrap();
            let bias = Tensor::rand(-1f32, 1f32, out_channels, &device).unwrap();
            let (x_var, w_var, b_var) = (
                Var::from_tensor(&x).unwrap(),
                Var::from_tensor(&weight).unwrap(),
                Var::from_tensor(&bias).unwrap(),
            );
            let loss = |x: &Tensor, weight: &Tensor, bias: &Tensor| {
                x.apply_op3(weight, bias, Conv2dOp::new(1, 0))
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
            };
            let all = loss(&x_var, &w_var, &b_var).backward().unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();

            let weight_only = loss(&x, &w_var, &bias).backward().unwrap();
            assert!(weight_only.get(&x).is_none());
            assert!(weight_only.get(&bias).is_none());
            assert_eq!(
                flat(weight_only.get(&w_var).unwrap()),
                flat(all.get(&w_var).unwrap())
            );

            let input_only = loss(&x_var, &weight, &bias).backward().unwrap();
            assert!(input_only.get(&weight).is_none());
            assert_eq!(
                flat(input_only.get(&x_var).unwrap()),
                flat(all.get(&x_var).unwrap())
            );
        }
    }

    /// The taps layout gives the windows layout's outputs and gradients, on a layer that
    /// narrows 8 channels to 2 with a 3x3 kernel and padding 1.
    #[test]
    fn taps_and_windows_agree() {
        let device = Device::Cpu;
        let ramp = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 37) % 23) as f32 * scale - 0.3)
                .collect()
        };
        let (batch, channels, height, width, out_channels) = (2, 8, 5, 6, 2);
        let x = Tensor::from_vec(
            ramp(batch * channels * height * width, 0.05),
            (batch, channels, height, width),
            &device,
        )
        .unwrap();
        let weight = Tensor::from_vec(
            ramp(out_channels * channels * 9, 0.01),
            (out_channels, channels, 3, 3),
            &device,
        )
        .unwrap();
        let bias = Tensor::new(&[0.1f32, -0.2], &device).unwrap();
        let op = Conv2dOp::new(1, 1);
        let shape = op.shape(x.dims(), weight.dims()).unwrap();
        assert!(shape.by_taps());

        let x_values = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let w_values = weight.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let out_len = batch * out_channels * shape.out_plane();
        let mut by_taps = vec![0f32; out_len];
        let mut by_windows = vec![0f32; out_len];
        op.forward_by_taps(&shape, &x_values, &w_values, &mut by_taps);
        op.forward_by_windows(&shape, &x_values, &w_values, &mut by_windows);
        assert_close(&by_taps, &by_windows);

        // candle's own convolution is an independent reference.
        let reference = x
            .conv2d(&weight, 1, 1, 1, 1)
            .unwrap()
            .broadcast_add(&bias.reshape((1, 2, 1, 1)).unwrap())
            .unwrap();
        let ours = x.apply_op3(&weight, &bias, Conv2dOp::new(1, 1)).unwrap();
        assert_close(
            &ours.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            &reference.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );

        let grad = ramp(out_len, 0.02);
        let (dx_taps, dw_taps) =
            both(op.backward_by_taps(&shape, ALL, &x_values, &w_values, &grad));
        let (dx_windows, dw_windows) =
            both(op.backward_by_windows(&shape, ALL, &x_values, &w_values, &grad));
        assert_close(&dx_taps, &dx_windows);
        assert_close(&dw_taps, &dw_windows);

        // So is candle's autograd through its own convolution.
        let x_var = Var::from_tensor(&x).unwrap();
        let w_var = Var::from_tensor(&weight).unwrap();
        let grad_tensor = Tensor::from_vec(grad, reference.shape(), &device).unwrap();
        let loss = (x_var.conv2d(&w_var, 1, 1, 1, 1).unwrap() * &grad_tensor)
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_close(&dx_taps, &flat(grads.get(&x_var).unwrap()));
        assert_close(&dw_taps, &flat(grads.get(&w_var).unwrap()));
    }

    /// Winograd's method and the windows layout both stay within float32 rounding of a
    /// float64 convolution, forward and backward, for even and odd output sizes, with and
    /// without zero padding, on a batch of two. The bound is 1e-6 of the largest sum of
    /// absolute terms behind an element of each tensor.
    #[test]
    fn winograd_matches_float64_reference() {
        for (height, width, padding) in [(34, 34, 0), (33, 35, 1), (23, 41, 0)] {
            let (batch, channels, out_channels) = (2, 32, 40);
            let sizes = (batch, channels, height, width);
            let op = Conv2dOp::new(1, padding);
            let x_dims = [batch, channels, height, width];
            let shape = op.shape(&x_dims, &[out_channels, channels, 3, 3]).unwrap();
            assert_eq!(shape.method(), Method::Winograd);

            let wave = |n: usize, step: f32| -> Vec<f32> {
                (0..n).map(|i| (i as f32 * step).sin()).collect()
            };
            let absolute =
                |values: &[f32]| -> Vec<f32> { values.iter().map(|v| v.abs()).collect() };
            let x = wave(batch * channels * height * width, 0.37);
            let weight = wave(out_channels * channels * 9, 0.71);
            let grad = wave(batch * out_channels * shape.out_plane(), 0.53);
            let exact = Float64Conv::new(&x, &weight, &grad, sizes, out_channels, padding);
            let (x_abs, weight_abs, grad_abs) = (absolute(&x), absolute(&weight), absolute(&grad));
            let terms =
                Float64Conv::new(&x_abs, &weight_abs, &grad_abs, sizes, out_channels, padding);

            let window = &shape.window;
            let mut by_winograd = vec![0f32; grad.len()];
            let mut by_windows = vec![0f32; grad.len()];
            let saved =
                winograd::forward(window, batch, out_channels, &x, &weight, &mut by_winograd);
            op.forward_by_windows(&shape, &x, &weight, &mut by_windows);
            let backward = |saved| {
                both(winograd::backward(
                    window,
                    batch,
                    out_channels,
                    (true, true),
                    saved,
                    &x,
                    &weight,
                    &grad,
                ))
            };
            let (dx_saved, dw_saved) = backward(Some(saved));
            let (dx_winograd, dw_winograd) = backward(None);
            let (dx_windows, dw_windows) =
                both(op.backward_by_windows(&shape, ALL, &x, &weight, &grad));

            let cases = [
                ("Winograd output", &by_winograd, &exact.y, &terms.y),
                ("windows output", &by_windows, &exact.y, &terms.y),
                ("Winograd dx", &dx_winograd, &exact.dx, &terms.dx),
                (
                    "Winograd dx from saved transforms",
                    &dx_saved,
                    &exact.dx,
                    &terms.dx,
                ),
                ("windows dx", &dx_windows, &exact.dx, &terms.dx),
                ("Winograd dW", &dw_winograd, &exact.dw, &terms.dw),
                (
                    "Winograd dW from saved transforms",
                    &dw_saved,
                    &exact.dw,
                    &terms.dw,
                ),
                ("windows dW", &dw_windows, &exact.dw, &terms.dw),
            ];
            for (name, ours, exact, magnitudes) in cases {
                let bound = 1e-6 * magnitudes.iter().fold(0f64, |max, &v| max.max(v));
                for (i, (&value, &expected)) in ours.iter().zip(exact).enumerate() {
                    let error = (f64::from(value) - expected).abs();
                    assert!(
                        error <= bound,
                        "{name} element {i} at {height}x{width}, padding {padding}: \
                         {value} against {expected}, bound {bound:e}"
                    );
                }
            }
        }
    }

    /// A 3x3 stride-1 convolution and its gradients, computed term by term in float64.
    struct Float64Conv {
        y: Vec<f64>,
        dx: Vec<f64>,
        dw: Vec<f64>,
    }

    impl Float64Conv {
        fn new(
            x: &[f32],
            weight: &[f32],
            grad: &[f32],
            (batch, channels, height, width): (usize, usize, usize, usize),
            out_channels: usize,
            padding: usize,
        ) -> Self {
            let (out_height, out_width) = (height + 2 * padding - 2, width + 2 * padding - 2);
            let mut y = vec![0f64; grad.len()];
            let mut dx = vec![0f64; x.len()];
            let mut dw = vec![0f64; weight.len()];
            let outputs = (0..batch * out_channels)
                .flat_map(|plane| (0..out_height * out_width).map(move |pixel| (plane, pixel)));
            for (plane, pixel) in outputs {
                let (image, filter) = (plane / out_channels, plane % out_channels);
                let (row, column) = (pixel / out_width, pixel % out_width);
                let out = plane * out_height * out_width + pixel;
                let g = f64::from(grad[out]);
                for channel in 0..channels {
                    for tap in 0..9 {
                        let source_row = (row + tap / 3).checked_sub(padding);
                        let source_column = (column + tap % 3).checked_sub(padding);
                        let (Some(r), Some(c)) = (source_row, source_column) else {
                            continue;
                        };
                        if r >= height || c >= width {
                            continue;
                        }
                        let input = ((image * channels + channel) * height + r) * width + c;
                        let w = (filter * channels + channel) * 9 + tap;
                        y[out] += f64::from(x[input]) * f64::from(weight[w]);
                        dx[input] += f64::from(weight[w]) * g;
                        dw[w] += f64::from(x[input]) * g;
                    }
                }
            }
            Self { y, dx, dw }
        }
    }

    fn assert_close(left: &[f32], right: &[f32]) {
        assert_eq!(left.len(), right.len());
        for (i, (a, b)) in left.iter().zip(right).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "element {i}: {a} vs {b}"
            );
        }
    }
}
