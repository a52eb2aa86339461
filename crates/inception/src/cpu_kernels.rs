//! CPU kernels for the network's two hot operations, as candle custom ops: the folded
//! convolution unit (im2col, one gemm with the bias preloaded, ReLU in place) and padded
//! pooling.
//!
//! candle's own path costs a padded copy for the asymmetric 1x7 / 7x1 convolutions, an
//! im2col layout that needs a transpose back to NCHW, and separate passes for bias and ReLU.
//! Here each image's column matrix is laid out `[C*kh*kw, Ho*Wo]` so `W [O, C*kh*kw]` times
//! it is the NCHW output directly; 1x1 stride-1 convolutions use the input as is. Images run
//! in parallel, each gemm on one thread, and every image gets the same gemm shapes whatever
//! the batch size, so features do not depend on batching.

use std::cell::RefCell;

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};
use rayon::prelude::*;

use crate::architecture::{PoolKind, PoolSpec};

thread_local! {
    /// Each worker's im2col buffer, reused across calls: fresh multi-megabyte allocations
    /// cost page faults and kernel zeroing on every convolution.
    static COLUMNS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// A convolution with batch norm folded in, followed by ReLU.
#[derive(Debug, Clone)]
pub struct FoldedConv {
    pub out_channels: usize,
    pub in_channels: usize,
    /// `[height, width]`.
    pub kernel: [usize; 2],
    pub stride: usize,
    /// `[rows, columns]`.
    pub padding: [usize; 2],
    /// `[out, in * kh * kw]`, row-major.
    pub weight: Vec<f32>,
    /// `[out]`.
    pub bias: Vec<f32>,
}

/// Geometry of one image through a convolution or pool.
#[derive(Debug, Clone, Copy)]
struct Window {
    channels: usize,
    height: usize,
    width: usize,
    kernel: [usize; 2],
    stride: usize,
    padding: [usize; 2],
}

impl Window {
    fn out_height(&self) -> usize {
        (self.height + 2 * self.padding[0] - self.kernel[0]) / self.stride + 1
    }

    fn out_width(&self) -> usize {
        (self.width + 2 * self.padding[1] - self.kernel[1]) / self.stride + 1
    }

    /// Range of output indices whose tap `k` lands inside `0..size` along one axis.
    fn valid_outputs(&self, k: usize, pad: usize, size: usize, out_size: usize) -> (usize, usize) {
        let stride = self.stride;
        // Output o reads input o * stride + k - pad; keep 0 <= that < size.
        let first = pad.saturating_sub(k).div_ceil(stride);
        let last = if size + pad > k {
            (size + pad - k - 1) / stride + 1
        } else {
            0
        };
        (first.min(out_size), last.min(out_size))
    }
}

fn contiguous_input<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<(&'a [f32], [usize; 4])> {
    let data = storage.as_slice::<f32>()?;
    let Some((start, end)) = layout.contiguous_offsets() else {
        candle_core::bail!("the Inception CPU kernels need a contiguous input");
    };
    let (n, c, h, w) = layout.shape().dims4()?;
    Ok((&data[start..end], [n, c, h, w]))
}

/// Unfolds one `[C, H, W]` image into `[C*kh*kw, Ho*Wo]`, zeros where the window leaves it.
fn im2col(image: &[f32], window: &Window, columns: &mut Vec<f32>) {
    let (out_height, out_width) = (window.out_height(), window.out_width());
    let [kh, kw] = window.kernel;
    let [pad_rows, pad_columns] = window.padding;
    let (height, width, stride) = (window.height, window.width, window.stride);
    let spatial = out_height * out_width;
    // The buffer is reused, so every element is written below: taps that fall on padding
    // get explicit zeros instead of a zero fill of the whole matrix first.
    columns.resize(window.channels * kh * kw * spatial, 0.0);

    for (channel, plane) in image.chunks_exact(height * width).enumerate() {
        for ky in 0..kh {
            let (row_first, row_last) = window.valid_outputs(ky, pad_rows, height, out_height);
            for kx in 0..kw {
                let (column_first, column_last) =
                    window.valid_outputs(kx, pad_columns, width, out_width);
                let row = (channel * kh + ky) * kw + kx;
                let destination = &mut columns[row * spatial..(row + 1) * spatial];
                if column_first >= column_last || row_first >= row_last {
                    destination.fill(0.0);
                    continue;
                }
                destination[..row_first * out_width].fill(0.0);
                destination[row_last * out_width..].fill(0.0);
                for oy in row_first..row_last {
                    let iy = oy * stride + ky - pad_rows;
                    let source_row = &plane[iy * width..(iy + 1) * width];
                    let target = &mut destination[oy * out_width..(oy + 1) * out_width];
                    target[..column_first].fill(0.0);
                    target[column_last..].fill(0.0);
                    let ix_first = column_first * stride + kx - pad_columns;
                    if stride == 1 {
                        let count = column_last - column_first;
                        target[column_first..column_last]
                            .copy_from_slice(&source_row[ix_first..ix_first + count]);
                    } else {
                        for (offset, value) in
                            target[column_first..column_last].iter_mut().enumerate()
                        {
                            *value = source_row[ix_first + offset * stride];
                        }
                    }
                }
            }
        }
    }
}

impl CustomOp1 for FoldedConv {
    fn name(&self) -> &'static str {
        "inception-folded-conv"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (input, [batch, channels, height, width]) = contiguous_input(storage, layout)?;
        if channels != self.in_channels {
            candle_core::bail!(
                "convolution expects {} input channels, got {channels}",
                self.in_channels
            );
        }
        let window = Window {
            channels,
            height,
            width,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        };
        if height + 2 * self.padding[0] < self.kernel[0]
            || width + 2 * self.padding[1] < self.kernel[1]
        {
            candle_core::bail!(
                "input {height}x{width} is smaller than the {:?} kernel",
                self.kernel
            );
        }
        let (out_height, out_width) = (window.out_height(), window.out_width());
        let spatial = out_height * out_width;
        let depth = channels * self.kernel[0] * self.kernel[1];
        let direct = self.kernel == [1, 1] && self.stride == 1 && self.padding == [0, 0];
        // Split each gemm across threads only when there are fewer images than threads.
        let parallelism = if batch >= rayon::current_num_threads() {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(0)
        };

        let mut output = vec![0f32; batch * self.out_channels * spatial];
        output
            .par_chunks_mut(self.out_channels * spatial)
            .zip(input.par_chunks(channels * height * width))
            .for_each(|(destination, image)| {
                for (plane, &bias) in destination.chunks_exact_mut(spatial).zip(&self.bias) {
                    plane.fill(bias);
                }
                COLUMNS.with_borrow_mut(|buffer| {
                    let columns: &[f32] = if direct {
                        image
                    } else {
                        im2col(image, &window, buffer);
                        buffer
                    };
                    // SAFETY: `destination` is `out_channels x spatial`, `weight` is
                    // `out_channels x depth` and `columns` is `depth x spatial`, all row-major
                    // with the strides given, and the three buffers do not overlap.
                    unsafe {
                        gemm::gemm(
                            self.out_channels,
                            spatial,
                            depth,
                            destination.as_mut_ptr(),
                            1,
                            spatial as isize,
                            true,
                            self.weight.as_ptr(),
                            1,
                            depth as isize,
                            columns.as_ptr(),
                            1,
                            spatial as isize,
                            1.0,
                            1.0,
                            false,
                            false,
                            false,
                            parallelism,
                        );
                    }
                });
                destination
                    .iter_mut()
                    .for_each(|value| *value = value.max(0.0));
            });

        let shape = Shape::from((batch, self.out_channels, out_height, out_width));
        Ok((CpuStorage::F32(output), shape))
    }
}

/// A pooling layer as a custom op.
#[derive(Debug, Clone)]
pub struct Pool(pub PoolSpec);

impl CustomOp1 for Pool {
    fn name(&self) -> &'static str {
        "inception-pool"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (input, [batch, channels, height, width]) = contiguous_input(storage, layout)?;
        let spec = &self.0;
        let window = Window {
            channels,
            height,
            width,
            kernel: [spec.kernel; 2],
            stride: spec.stride,
            padding: [spec.padding; 2],
        };
        if height + 2 * spec.padding < spec.kernel || width + 2 * spec.padding < spec.kernel {
            candle_core::bail!(
                "input {height}x{width} is smaller than the {} pool window",
                spec.kernel
            );
        }
        let (out_height, out_width) = (window.out_height(), window.out_width());
        let mut output = vec![0f32; batch * channels * out_height * out_width];
        output
            .par_chunks_mut(out_height * out_width)
            .zip(input.par_chunks(height * width))
            .for_each(|(destination, plane)| pool_plane(plane, destination, &window, spec.kind));
        let shape = Shape::from((batch, channels, out_height, out_width));
        Ok((CpuStorage::F32(output), shape))
    }
}

/// Pools one plane. Padded positions are skipped: the max is over real pixels, and the
/// average divides by the real pixels in the window, as TensorFlow's SAME pooling does
/// (PyTorch's `count_include_pad=False`).
fn pool_plane(plane: &[f32], destination: &mut [f32], window: &Window, kind: PoolKind) {
    let (out_height, out_width) = (window.out_height(), window.out_width());
    let [k, _] = window.kernel;
    let [pad, _] = window.padding;
    for oy in 0..out_height {
        let row_start = (oy * window.stride).saturating_sub(pad);
        let row_end = (oy * window.stride + k - pad).min(window.height);
        for ox in 0..out_width {
            let column_start = (ox * window.stride).saturating_sub(pad);
            let column_end = (ox * window.stride + k - pad).min(window.width);
            let rows = row_start..row_end;
            let window_row =
                |y: usize| &plane[y * window.width + column_start..y * window.width + column_end];
            destination[oy * out_width + ox] = match kind {
                // Comparisons instead of f32::max: the inputs are ReLU outputs, never NaN.
                PoolKind::Max => {
                    rows.flat_map(window_row)
                        .fold(f32::NEG_INFINITY, |maximum, &value| {
                            if value > maximum {
                                value
                            } else {
                                maximum
                            }
                        })
                }
                PoolKind::Average => {
                    let count = (row_end - row_start) * (column_end - column_start);
                    let sum: f32 = rows.map(|y| window_row(y).iter().sum::<f32>()).sum();
                    sum / count as f32
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn pseudo_random(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// Compares the folded conv with candle's conv2d with explicit padding, bias and ReLU.
    fn check_conv(kernel: [usize; 2], stride: usize, padding: [usize; 2]) {
        let (batch, in_channels, out_channels, height, width) = (2, 3, 4, 9, 8);
        let weight = pseudo_random(out_channels * in_channels * kernel[0] * kernel[1], 1);
        let bias = pseudo_random(out_channels, 2);
        let input = pseudo_random(batch * in_channels * height * width, 3);
        let device = Device::Cpu;

        let x =
            Tensor::from_vec(input, (batch, in_channels, height, width), &device).expect("input");
        let w = Tensor::from_vec(
            weight.clone(),
            (out_channels, in_channels, kernel[0], kernel[1]),
            &device,
        )
        .expect("weight");
        let b = Tensor::from_vec(bias.clone(), (1, out_channels, 1, 1), &device).expect("bias");
        let padded = x
            .pad_with_zeros(2, padding[0], padding[0])
            .and_then(|x| x.pad_with_zeros(3, padding[1], padding[1]))
            .expect("pad");
        let expected = padded
            .conv2d(&w, 0, stride, 1, 1)
            .and_then(|y| y.broadcast_add(&b))
            .and_then(|y| y.relu())
            .expect("reference conv");

        let op = FoldedConv {
            out_channels,
            in_channels,
            kernel,
            stride,
            padding,
            weight,
            bias,
        };
        let actual = x.apply_op1_no_bwd(&op).expect("folded conv");
        assert_eq!(
            actual.dims(),
            expected.dims(),
            "{kernel:?} {stride} {padding:?}"
        );
        let difference = (actual - expected)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f32>())
            .expect("difference");
        assert!(
            difference < 1e-5,
            "{kernel:?} stride {stride} padding {padding:?}: {difference}"
        );
    }

    #[test]
    fn folded_conv_matches_candle_conv() {
        check_conv([1, 1], 1, [0, 0]);
        check_conv([3, 3], 2, [0, 0]);
        check_conv([3, 3], 1, [1, 1]);
        check_conv([5, 5], 1, [2, 2]);
        check_conv([1, 7], 1, [0, 3]);
        check_conv([7, 1], 1, [3, 0]);
        check_conv([3, 3], 2, [1, 1]);
    }

    #[test]
    fn average_pool_skips_padding() {
        let window = Window {
            channels: 1,
            height: 2,
            width: 2,
            kernel: [3, 3],
            stride: 1,
            padding: [1, 1],
        };
        let plane = [1.0, 2.0, 3.0, 4.0];
        let mut out = [0f32; 4];
        pool_plane(&plane, &mut out, &window, PoolKind::Average);
        // Every 3x3 window over a padded 2x2 image covers all four real pixels.
        assert_eq!(out, [2.5; 4]);
        pool_plane(&plane, &mut out, &window, PoolKind::Max);
        assert_eq!(out, [4.0; 4]);
    }
}
