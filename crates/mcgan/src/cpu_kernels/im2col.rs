//! Column matrices of convolution windows (im2col) and their adjoint (col2im), and the
//! tap sums of a convolution laid out by taps with their adjoint.

use rayon::prelude::*;

/// Geometry of one image through a square-kernel convolution with zero padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Window {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Rows of the column matrix: one per channel and kernel tap.
    pub fn rows(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Columns of the column matrix: one per output position.
    pub fn columns(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Elements of one input image.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether the column matrix is the image itself (1x1 kernel, stride 1, no padding).
    pub fn is_identity(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.padding == 0
    }

    /// Outputs `first..last` along an axis of `size` inputs whose tap `k` reads inside the
    /// image: output `o` reads input `o * stride + k - padding`.
    fn valid_outputs(&self, k: usize, size: usize, out_size: usize) -> (usize, usize) {
        let first = self.padding.saturating_sub(k).div_ceil(self.stride);
        let last = if size + self.padding > k {
            ((size + self.padding - k - 1) / self.stride + 1).min(out_size)
        } else {
            0
        };
        (first.min(last), last)
    }
}

/// Fills `col` (`[rows, columns]`, row-major) with the windows of `image` (`[C, H, W]`).
pub fn im2col(window: &Window, image: &[f32], col: &mut [f32]) {
    let (out_h, out_w) = (window.out_height(), window.out_width());
    let taps = window.kernel * window.kernel;
    let plane = window.height * window.width;
    col[..window.rows() * window.columns()]
        .par_chunks_mut(taps * out_h * out_w)
        .zip(image[..window.image_len()].par_chunks(plane))
        .for_each(|(rows, channel)| {
            for (tap, row) in rows.chunks_mut(out_h * out_w).enumerate() {
                gather_tap(window, channel, tap, row);
            }
        });
}

fn gather_tap(window: &Window, channel: &[f32], tap: usize, row: &mut [f32]) {
    let (out_h, out_w) = (window.out_height(), window.out_width());
    let (ki, kj) = (tap / window.kernel, tap % window.kernel);
    let (y0, y1) = window.valid_outputs(ki, window.height, out_h);
    let (x0, x1) = window.valid_outputs(kj, window.width, out_w);
    let stride = window.stride;
    for (oy, out_row) in row.chunks_mut(out_w).enumerate() {
        if oy < y0 || oy >= y1 || x0 >= x1 {
            out_row.fill(0.0);
            continue;
        }
        let iy = oy * stride + ki - window.padding;
        let source = &channel[iy * window.width..(iy + 1) * window.width];
        out_row[..x0].fill(0.0);
        out_row[x1..].fill(0.0);
        let ix0 = x0 * stride + kj - window.padding;
        if stride == 1 {
            out_row[x0..x1].copy_from_slice(&source[ix0..ix0 + (x1 - x0)]);
        } else {
            let sources = source[ix0..].iter().step_by(stride);
            for (value, &read) in out_row[x0..x1].iter_mut().zip(sources) {
                *value = read;
            }
        }
    }
}

/// Adds the column matrix `col` back into `image` (`[C, H, W]`): the adjoint of [`im2col`].
pub fn col2im(window: &Window, col: &[f32], image: &mut [f32]) {
    let (out_h, out_w) = (window.out_height(), window.out_width());
    let taps = window.kernel * window.kernel;
    let plane = window.height * window.width;
    image[..window.image_len()]
        .par_chunks_mut(plane)
        .zip(col[..window.rows() * window.columns()].par_chunks(taps * out_h * out_w))
        .for_each(|(channel, rows)| {
            for (tap, row) in rows.chunks(out_h * out_w).enumerate() {
                scatter_tap(window, row, tap, channel);
            }
        });
}

/// The stretches of one tap's reads: for each output row whose tap lands inside the image,
/// the start of its run of outputs, the input position of the first, and the run's length.
/// Successive outputs of a run read inputs `window.stride` apart.
fn tap_runs(window: &Window, tap: usize) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let out_w = window.out_width();
    let (ki, kj) = (tap / window.kernel, tap % window.kernel);
    let (y0, y1) = window.valid_outputs(ki, window.height, window.out_height());
    let (x0, x1) = window.valid_outputs(kj, window.width, out_w);
    let rows = if x0 < x1 { y0..y1 } else { 0..0 };
    rows.map(move |oy| {
        let iy = oy * window.stride + ki - window.padding;
        let ix0 = x0 * window.stride + kj - window.padding;
        (oy * out_w + x0, iy * window.width + ix0, x1 - x0)
    })
}

/// Adds `row` (`[Ho*Wo]`, one row of a column matrix) onto the image plane `channel` at the
/// input positions tap `tap` reads.
fn scatter_tap(window: &Window, row: &[f32], tap: usize, channel: &mut [f32]) {
    for (out_start, in_start, len) in tap_runs(window, tap) {
        let source = &row[out_start..out_start + len];
        if window.stride == 1 {
            // Contiguous slices, so that the loop vectorises.
            let target = &mut channel[in_start..in_start + len];
            for (value, &add) in target.iter_mut().zip(source) {
                *value += add;
            }
        } else {
            let targets = channel[in_start..].iter_mut().step_by(window.stride);
            for (value, &add) in targets.zip(source) {
                *value += add;
            }
        }
    }
}

/// Adds to each output plane `o` of `out` (`[O, Ho*Wo]`) the `k*k` planes `o*k*k + t` of
/// `products` (`[O*k*k, H*W]`), plane `t` read where tap `t` of each output window lands.
///
/// With `products` = (weights by tap) @ image this is the convolution; the adjoint of
/// [`spread_taps`].
pub fn sum_taps(window: &Window, products: &[f32], out: &mut [f32]) {
    let (out_h, out_w) = (window.out_height(), window.out_width());
    let taps = window.kernel * window.kernel;
    let plane = window.height * window.width;
    out.par_chunks_mut(out_h * out_w)
        .zip(products.par_chunks(taps * plane))
        .for_each(|(out, tap_planes)| {
            for (tap, source) in tap_planes.chunks(plane).enumerate() {
                add_tap(window, source, tap, out);
            }
        });
}

/// Adds the image plane `channel` (`[H, W]`), read at tap `tap` of every window, to `out`
/// (`[Ho, Wo]`). Positions whose tap falls in the zero padding get nothing.
fn add_tap(window: &Window, channel: &[f32], tap: usize, out: &mut [f32]) {
    for (out_start, in_start, len) in tap_runs(window, tap) {
        let target = &mut out[out_start..out_start + len];
        if window.stride == 1 {
            // Contiguous slices, so that the loop vectorises.
            let source = &channel[in_start..in_start + len];
            for (value, &add) in target.iter_mut().zip(source) {
                *value += add;
            }
        } else {
            let sources = channel[in_start..].iter().step_by(window.stride);
            for (value, &add) in target.iter_mut().zip(sources) {
                *value += add;
            }
        }
    }
}

/// Writes into each plane `o*k*k + t` of `spread` (`[O*k*k, H*W]`) the output gradient
/// plane `o` of `grad` (`[O, Ho*Wo]`) placed where tap `t` of each window lands, zero
/// elsewhere: the adjoint of [`sum_taps`].
pub fn spread_taps(window: &Window, grad: &[f32], spread: &mut [f32]) {
    let (out_h, out_w) = (window.out_height(), window.out_width());
    let taps = window.kernel * window.kernel;
    let plane = window.height * window.width;
    spread
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(row, target)| {
            let (o, tap) = (row / taps, row % taps);
            target.fill(0.0);
            scatter_tap(
                window,
                &grad[o * out_h * out_w..(o + 1) * out_h * out_w],
                tap,
                target,
            );
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `<im2col(x), c> == <x, col2im(c)>` for all x and c, checked on ramps.
    #[test]
    fn col2im_is_adjoint_of_im2col() {
        for (kernel, stride, padding) in [(3, 1, 0), (3, 2, 1), (4, 2, 1), (4, 1, 1), (7, 1, 0)] {
            let window = Window {
                channels: 2,
                height: 9,
                width: 8,
                kernel,
                stride,
                padding,
            };
            let image: Vec<f32> = (0..window.image_len())
                .map(|i| (i % 7) as f32 - 3.0)
                .collect();
            let size = window.rows() * window.columns();
            let col: Vec<f32> = (0..size).map(|i| (i % 5) as f32 - 2.0).collect();
            let mut windows = vec![0.0; size];
            im2col(&window, &image, &mut windows);
            let mut back = vec![0.0; window.image_len()];
            col2im(&window, &col, &mut back);
            let left: f32 = windows.iter().zip(&col).map(|(a, b)| a * b).sum();
            let right: f32 = image.iter().zip(&back).map(|(a, b)| a * b).sum();
            assert_eq!(
                left, right,
                "kernel {kernel} stride {stride} padding {padding}"
            );
        }
    }

    /// `<sum_taps(p), g> == <p, spread_taps(g)>`, checked on ramps.
    #[test]
    fn spread_taps_is_adjoint_of_sum_taps() {
        for (kernel, stride, padding) in [(3, 1, 1), (4, 1, 1), (7, 1, 0), (3, 2, 1)] {
            let window = Window {
                channels: 2,
                height: 9,
                width: 8,
                kernel,
                stride,
                padding,
            };
            let planes = 2 * kernel * kernel;
            let products: Vec<f32> = (0..planes * 72).map(|i| (i % 7) as f32 - 3.0).collect();
            let out_len = 2 * window.columns();
            let grad: Vec<f32> = (0..out_len).map(|i| (i % 5) as f32 - 2.0).collect();
            let mut summed = vec![0.0; out_len];
            sum_taps(&window, &products, &mut summed);
            let mut spread = vec![1.0; planes * 72];
            spread_taps(&window, &grad, &mut spread);
            let left: f32 = summed.iter().zip(&grad).map(|(a, b)| a * b).sum();
            let right: f32 = products.iter().zip(&spread).map(|(a, b)| a * b).sum();
            assert_eq!(
                left, right,
                "kernel {kernel} stride {stride} padding {padding}"
            );
        }
    }
}
