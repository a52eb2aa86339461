//! 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016), forward and backward.
//!
//! Each 2x2 block of outputs comes from a 4x4 input tile. The tile and the kernel are
//! transformed to 4x4 (`V = B^T d B`, `U = G g G^T`) and multiplied element by element. The
//! sum over input channels is then 16 independent products `M[e] = U[e] @ V[e]`, which are
//! transformed back (`Y = A^T M A`). That takes 16 multiply-adds per 2x2 outputs where the
//! direct convolution takes 36, so the residual blocks' gemms shrink 2.25 times. Every
//! transform is a fixed linear map, so the backward pass applies their adjoints.

use rayon::prelude::*;

use super::im2col::Window;
use super::{by_planes, gemm_serial, Matrix, Scratch};

/// Elements of a transformed tile (4x4); each is one of the independent products.
const POINTS: usize = 16;

/// Tiles below which the 16 products are too narrow to beat one im2col gemm: on the 2-core
/// machine a 256-channel layer with 256 tiles (a 32x32 output) ran 20% faster by tiles, and
/// with 64 tiles about twice as slow.
const MIN_TILES: usize = 256;

/// Channels below which the products are too small to beat one im2col gemm (an estimate).
const MIN_CHANNELS: usize = 32;

/// Returns whether a convolution of `window` with `out_channels` filters runs by
/// Winograd's method: a 3x3 kernel at stride 1, with enough tiles and channels.
pub fn applies(window: &Window, batch: usize, out_channels: usize) -> bool {
    window.kernel == 3
        && window.stride == 1
        && window.channels >= MIN_CHANNELS
        && out_channels >= MIN_CHANNELS
        && batch * window.out_height().div_ceil(2) * window.out_width().div_ceil(2) >= MIN_TILES
}

/// `B^T v` for the input tiles, along one axis.
fn input_1d(v: [f32; 4]) -> [f32; 4] {
    [v[0] - v[2], v[1] + v[2], v[2] - v[1], v[1] - v[3]]
}

/// `B w`, the adjoint of [`input_1d`].
fn input_1d_adjoint(w: [f32; 4]) -> [f32; 4] {
    [w[0], w[1] - w[2] + w[3], w[2] + w[1] - w[0], -w[3]]
}

/// `G g` for the kernels, along one axis.
fn kernel_1d(g: [f32; 3]) -> [f32; 4] {
    [
        g[0],
        0.5 * (g[0] + g[1] + g[2]),
        0.5 * (g[0] - g[1] + g[2]),
        g[2],
    ]
}

/// `G^T w`, the adjoint of [`kernel_1d`].
fn kernel_1d_adjoint(w: [f32; 4]) -> [f32; 3] {
    [
        w[0] + 0.5 * (w[1] + w[2]),
        0.5 * (w[1] - w[2]),
        0.5 * (w[1] + w[2]) + w[3],
    ]
}

/// `A^T m` for the products, along one axis.
fn output_1d(m: [f32; 4]) -> [f32; 2] {
    [m[0] + m[1] + m[2], m[1] - m[2] - m[3]]
}

/// `A y`, the adjoint of [`output_1d`].
fn output_1d_adjoint(y: [f32; 2]) -> [f32; 4] {
    [y[0], y[0] + y[1], y[0] - y[1], -y[1]]
}

/// Applies the one-axis map `f` along the columns and then the rows of the `R x C` block
/// `x`, giving an `S x D` block: `F x F^T` for the matrix `F` of `f`.
fn both_axes<const R: usize, const C: usize, const S: usize, const D: usize>(
    x: [[f32; C]; R],
    f_rows: impl Fn([f32; R]) -> [f32; S],
    f_columns: impl Fn([f32; C]) -> [f32; D],
) -> [[f32; D]; S] {
    let mut mixed = [[0f32; C]; S];
    for column in 0..C {
        let mapped = f_rows(std::array::from_fn(|row| x[row][column]));
        for row in 0..S {
            mixed[row][column] = mapped[row];
        }
    }
    mixed.map(f_columns)
}

/// Sizes of one call: images, channels, input and output planes, tiles.
struct Tiles {
    batch: usize,
    channels: usize,
    out_channels: usize,
    height: usize,
    width: usize,
    padding: usize,
    out_height: usize,
    out_width: usize,
    rows: usize,
    columns: usize,
}

impl Tiles {
    fn new(window: &Window, batch: usize, out_channels: usize) -> Self {
        let (out_height, out_width) = (window.out_height(), window.out_width());
        Self {
            batch,
            channels: window.channels,
            out_channels,
            height: window.height,
            width: window.width,
            padding: window.padding,
            out_height,
            out_width,
            rows: out_height.div_ceil(2),
            columns: out_width.div_ceil(2),
        }
    }

    /// Tiles of the whole batch: the width of each of the 16 products.
    fn count(&self) -> usize {
        self.batch * self.rows * self.columns
    }

    /// Index of the first tile of tile row `tile_row` of image `image`.
    fn first(&self, image: usize, tile_row: usize) -> usize {
        (image * self.rows + tile_row) * self.columns
    }

    fn in_plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height * self.out_width
    }

    /// Width of a padded input row: tile column `c` reads its columns `2c .. 2c + 4`, and
    /// padded column `k` is input column `k - padding`.
    fn padded_width(&self) -> usize {
        2 * self.columns + 2
    }

    /// Returns the image row at padded row `padded_row`, or `None` in the zero padding.
    fn image_row(&self, padded_row: usize) -> Option<usize> {
        padded_row
            .checked_sub(self.padding)
            .filter(|&row| row < self.height)
    }

    /// Copies padded row `padded_row` of `plane` into `line`, zero in the padding.
    fn padded_row(&self, plane: &[f32], padded_row: usize, line: &mut [f32]) {
        line.fill(0.0);
        let Some(row) = self.image_row(padded_row) else {
            return;
        };
        let end = (self.padding + self.width).min(line.len());
        let source = &plane[row * self.width..][..end - self.padding];
        line[self.padding..end].copy_from_slice(source);
    }

    /// Adds padded row `line` to row `padded_row` of `plane`, dropping the padding.
    fn add_padded_row(&self, line: &[f32], padded_row: usize, plane: &mut [f32]) {
        let Some(row) = self.image_row(padded_row) else {
            return;
        };
        let end = (self.padding + self.width).min(line.len());
        let target = &mut plane[row * self.width..][..end - self.padding];
        for (value, &add) in target.iter_mut().zip(&line[self.padding..end]) {
            *value += add;
        }
    }
}

/// Returns `B^T d B` of every input tile `d` of `x`, `[C, 16, T]`.
///
/// Each tile row is done as whole rows: `B^T` mixes the four input rows element by element,
/// then each tile's four columns are mixed and stored, contiguous over the tile row.
fn transform_inputs(tiles: &Tiles, x: &[f32]) -> Vec<f32> {
    let (channels, count, plane) = (tiles.channels, tiles.count(), tiles.in_plane());
    let width = tiles.padded_width();
    by_planes(
        channels * POINTS * count,
        POINTS * count,
        |channel, transformed| {
            let mut rows = vec![0f32; 4 * width];
            let mut mixed = vec![0f32; 4 * width];
            for image in 0..tiles.batch {
                let source = &x[(image * channels + channel) * plane..][..plane];
                for tile_row in 0..tiles.rows {
                    for (i, line) in rows.chunks_mut(width).enumerate() {
                        tiles.padded_row(source, 2 * tile_row + i, line);
                    }
                    for k in 0..width {
                        let column = input_1d([0, 1, 2, 3].map(|i| rows[i * width + k]));
                        for (i, value) in column.into_iter().enumerate() {
                            mixed[i * width + k] = value;
                        }
                    }
                    let first = tiles.first(image, tile_row);
                    for (i, line) in mixed.chunks(width).enumerate() {
                        for tile_column in 0..tiles.columns {
                            let k = 2 * tile_column;
                            let values = input_1d([line[k], line[k + 1], line[k + 2], line[k + 3]]);
                            for (j, value) in values.into_iter().enumerate() {
                                transformed[(4 * i + j) * count + first + tile_column] = value;
                            }
                        }
                    }
                }
            }
        },
    )
}

/// Returns `G g G^T` of every 3x3 kernel `g` of `weight`, `[O, 16, C]`, each filter's
/// channels at once: its taps are gathered into nine rows over the channels, mixed down the
/// kernel rows, then across the kernel columns.
fn transform_kernels(tiles: &Tiles, weight: &[f32]) -> Vec<f32> {
    let channels = tiles.channels;
    let len = tiles.out_channels * POINTS * channels;
    by_planes(len, POINTS * channels, |filter, transformed| {
        let kernels = &weight[filter * channels * 9..][..channels * 9];
        // taps[t * C + c] = tap t of channel c; down[(4 * i + v) * C + c] after G.
        let mut taps = vec![0f32; 9 * channels];
        for (channel, kernel) in kernels.chunks(9).enumerate() {
            for (tap, &value) in kernel.iter().enumerate() {
                taps[tap * channels + channel] = value;
            }
        }
        let tap = |t: usize| &taps[t * channels..][..channels];
        let mut down = vec![0f32; 12 * channels];
        for v in 0..3 {
            let (g0, g1, g2) = (tap(v), tap(3 + v), tap(6 + v));
            for c in 0..channels {
                let values = kernel_1d([g0[c], g1[c], g2[c]]);
                for (i, value) in values.into_iter().enumerate() {
                    down[(3 * i + v) * channels + c] = value;
                }
            }
        }
        for i in 0..4 {
            let row = |v: usize| &down[(3 * i + v) * channels..][..channels];
            let (t0, t1, t2) = (row(0), row(1), row(2));
            for c in 0..channels {
                let values = kernel_1d([t0[c], t1[c], t2[c]]);
                for (j, value) in values.into_iter().enumerate() {
                    transformed[(4 * i + j) * channels + c] = value;
                }
            }
        }
    })
}

/// Adds `A^T m A` of every tile of the products `m` (`[16, O, T]`) to `y` (`[N, O, Ho, Wo]`),
/// a tile row at a time: `A^T` across each tile's columns, then down its rows.
fn transform_outputs(tiles: &Tiles, products: &[f32], y: &mut [f32]) {
    let (out_channels, count, columns) = (tiles.out_channels, tiles.count(), tiles.columns);
    let point_stride = out_channels * count;
    y.par_chunks_mut(tiles.out_plane())
        .enumerate()
        .for_each(|(index, out)| {
            let (image, filter) = (index / out_channels, index % out_channels);
            // across[(2 * i + j) * columns + c]: row i of the 4x4, output column j, tile c.
            let mut across = vec![0f32; 8 * columns];
            for tile_row in 0..tiles.rows {
                let first = filter * count + tiles.first(image, tile_row);
                let point = |p: usize| &products[p * point_stride + first..][..columns];
                for i in 0..4 {
                    let m = [
                        point(4 * i),
                        point(4 * i + 1),
                        point(4 * i + 2),
                        point(4 * i + 3),
                    ];
                    let (left, right) =
                        across[2 * i * columns..(2 * i + 2) * columns].split_at_mut(columns);
                    for c in 0..columns {
                        [left[c], right[c]] = output_1d([m[0][c], m[1][c], m[2][c], m[3][c]]);
                    }
                }
                for r in 0..2 {
                    let row = 2 * tile_row + r;
                    if row >= tiles.out_height {
                        continue;
                    }
                    let line = &mut out[row * tiles.out_width..][..tiles.out_width];
                    for j in 0..2 {
                        let part = |i: usize| &across[(2 * i + j) * columns..][..columns];
                        let parts = [part(0), part(1), part(2), part(3)];
                        // Output columns j, j + 2, ... inside the image, tile c for each.
                        for (c, value) in line.iter_mut().skip(j).step_by(2).enumerate() {
                            let block =
                                output_1d([parts[0][c], parts[1][c], parts[2][c], parts[3][c]]);
                            *value += block[r];
                        }
                    }
                }
            }
        });
}

/// Fills `grad_products` (`[O, 16, T]`) with `A dy A^T` of every 2x2 output block of `grad`,
/// the adjoint of [`transform_outputs`], a tile row at a time.
fn transform_output_grads(tiles: &Tiles, grad: &[f32], grad_products: &mut [f32]) {
    let (out_channels, count, out_plane) = (tiles.out_channels, tiles.count(), tiles.out_plane());
    let width = 2 * tiles.columns;
    grad_products
        .par_chunks_mut(POINTS * count)
        .enumerate()
        .for_each(|(filter, grad_products)| {
            let mut pair = vec![0f32; 2 * width];
            let mut down = vec![0f32; 4 * width];
            for image in 0..tiles.batch {
                let dy = &grad[(image * out_channels + filter) * out_plane..][..out_plane];
                for tile_row in 0..tiles.rows {
                    for (r, line) in pair.chunks_mut(width).enumerate() {
                        line.fill(0.0);
                        let row = 2 * tile_row + r;
                        if row < tiles.out_height {
                            let source = &dy[row * tiles.out_width..][..tiles.out_width];
                            line[..tiles.out_width].copy_from_slice(source);
                        }
                    }
                    for k in 0..width {
                        let column = output_1d_adjoint([pair[k], pair[width + k]]);
                        for (i, value) in column.into_iter().enumerate() {
                            down[i * width + k] = value;
                        }
                    }
                    let first = tiles.first(image, tile_row);
                    for (i, line) in down.chunks(width).enumerate() {
                        for c in 0..tiles.columns {
                            let values = output_1d_adjoint([line[2 * c], line[2 * c + 1]]);
                            for (j, value) in values.into_iter().enumerate() {
                                grad_products[(4 * i + j) * count + first + c] = value;
                            }
                        }
                    }
                }
            }
        });
}

/// Returns the input gradient `[N, C, H, W]`: `B dv B^T` of every tile gradient of
/// `grad_inputs` (`[16, C, T]`) summed onto the input positions of its tile, the adjoint of
/// [`transform_inputs`], a tile row at a time: `B` across each tile's columns, then down its
/// rows.
fn transform_input_grads(tiles: &Tiles, grad_inputs: &[f32]) -> Vec<f32> {
    let (channels, count, columns) = (tiles.channels, tiles.count(), tiles.columns);
    let point_stride = channels * count;
    let width = tiles.padded_width();
    let len = tiles.batch * channels * tiles.in_plane();
    by_planes(len, tiles.in_plane(), |index, target| {
        let (image, channel) = (index / channels, index % channels);
        let mut across = vec![0f32; 4 * width];
        let mut line = vec![0f32; width];
        for tile_row in 0..tiles.rows {
            across.fill(0.0);
            let first = channel * count + tiles.first(image, tile_row);
            let point = |p: usize| &grad_inputs[p * point_stride + first..][..columns];
            for (i, mixed) in across.chunks_mut(width).enumerate() {
                let v = [
                    point(4 * i),
                    point(4 * i + 1),
                    point(4 * i + 2),
                    point(4 * i + 3),
                ];
                for c in 0..columns {
                    let values = input_1d_adjoint([v[0][c], v[1][c], v[2][c], v[3][c]]);
                    for (j, value) in values.into_iter().enumerate() {
                        mixed[2 * c + j] += value;
                    }
                }
            }
            for r in 0..4 {
                for (k, value) in line.iter_mut().enumerate() {
                    let column = [0, 1, 2, 3].map(|i| across[i * width + k]);
                    *value = input_1d_adjoint(column)[r];
                }
                tiles.add_padded_row(&line, 2 * tile_row + r, target);
            }
        }
    })
}

/// Returns the weight gradient `[O, C, 3, 3]` from the gradient of the transformed kernels
/// (`[16, O, C]`), the adjoint of [`transform_kernels`].
fn transform_kernel_grads(tiles: &Tiles, grad_kernels: &[f32]) -> Vec<f32> {
    let (channels, out_channels) = (tiles.channels, tiles.out_channels);
    let point_stride = out_channels * channels;
    let mut grad_w = vec![0f32; out_channels * channels * 9];
    grad_w
        .par_chunks_mut(9)
        .enumerate()
        .for_each(|(index, kernel)| {
            let u: [[f32; 4]; 4] = std::array::from_fn(|i| {
                std::array::from_fn(|j| grad_kernels[(i * 4 + j) * point_stride + index])
            });
            let values = both_axes(u, kernel_1d_adjoint, kernel_1d_adjoint);
            for (value, &g) in kernel.iter_mut().zip(values.iter().flatten()) {
                *value = g;
            }
        });
    grad_w
}

/// Runs the 16 products `dst[e] = lhs(e) @ rhs(e)` side by side, one per task.
fn products<'a>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    operands: impl Fn(usize) -> (Matrix<'a>, Matrix<'a>) + Sync,
) {
    dst.par_chunks_mut(m * n)
        .enumerate()
        .for_each(|(point, dst)| {
            let (lhs, rhs) = operands(point);
            gemm_serial(m, n, k, dst, false, lhs, rhs);
        });
}

/// Returns the `[rows, columns]` matrix of point `point` inside a `[rows, 16, columns]`
/// buffer.
fn interleaved(data: &[f32], point: usize, columns: usize) -> Matrix<'_> {
    Matrix {
        data: &data[point * columns..],
        row_stride: POINTS * columns,
        column_stride: 1,
    }
}

/// Returns the transpose of [`interleaved`], `[columns, rows]`.
fn interleaved_transposed(data: &[f32], point: usize, columns: usize) -> Matrix<'_> {
    Matrix {
        data: &data[point * columns..],
        row_stride: 1,
        column_stride: POINTS * columns,
    }
}

/// The transformed kernels and input tiles of one forward call, which its backward pass
/// reuses instead of transforming the same weight and input again.
pub struct Transformed {
    /// `U`, `[O, 16, C]`.
    kernels: Vec<f32>,
    /// `V`, `[C, 16, T]`.
    inputs: Vec<f32>,
}

/// Adds the convolution of `x` (`[N, C, H, W]`) with `weight` (`[O, C, 3, 3]`) to `y`, and
/// returns the transforms for [`backward`].
pub fn forward(
    window: &Window,
    batch: usize,
    out_channels: usize,
    x: &[f32],
    weight: &[f32],
    y: &mut [f32],
) -> Transformed {
    let tiles = Tiles::new(window, batch, out_channels);
    let (channels, count) = (tiles.channels, tiles.count());
    let kernels = transform_kernels(&tiles, weight);
    let inputs = transform_inputs(&tiles, x);
    let mut outputs = Scratch::take(POINTS * out_channels * count);
    // M[e] [O, T] = U[e] [O, C] @ V[e] [C, T]
    products((out_channels, count, channels), &mut outputs, |point| {
        (
            interleaved(&kernels, point, channels),
            interleaved(&inputs, point, count),
        )
    });
    transform_outputs(&tiles, &outputs, y);
    Transformed { kernels, inputs }
}

/// Returns the gradients of [`forward`] with respect to `x` and `weight` given `grad`
/// (`[N, O, Ho, Wo]`), each only if its flag in `needed` (input, weight) is set. The
/// transforms come from `saved` when the forward call kept them, and are recomputed otherwise.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    window: &Window,
    batch: usize,
    out_channels: usize,
    needed: (bool, bool),
    saved: Option<Transformed>,
    x: &[f32],
    weight: &[f32],
    grad: &[f32],
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let tiles = Tiles::new(window, batch, out_channels);
    let (channels, count) = (tiles.channels, tiles.count());
    let (kernels, inputs) = match saved {
        Some(Transformed { kernels, inputs }) => (Some(kernels), Some(inputs)),
        None => (None, None),
    };
    let mut grad_outputs = Scratch::take(POINTS * out_channels * count);
    transform_output_grads(&tiles, grad, &mut grad_outputs);
    let grad_outputs = &*grad_outputs;

    let grad_w = needed.1.then(|| {
        let inputs = inputs.unwrap_or_else(|| transform_inputs(&tiles, x));
        // dU[e] [O, C] = dM[e] [O, T] @ V[e]^T [T, C]
        let mut grad_kernels = vec![0f32; POINTS * out_channels * channels];
        products(
            (out_channels, channels, count),
            &mut grad_kernels,
            |point| {
                (
                    interleaved(grad_outputs, point, count),
                    interleaved_transposed(&inputs, point, count),
                )
            },
        );
        transform_kernel_grads(&tiles, &grad_kernels)
    });
    let grad_x = needed.0.then(|| {
        let kernels = kernels.unwrap_or_else(|| transform_kernels(&tiles, weight));
        // dV[e] [C, T] = U[e]^T [C, O] @ dM[e] [O, T]
        let mut grad_inputs = Scratch::take(POINTS * channels * count);
        products((channels, count, out_channels), &mut grad_inputs, |point| {
            (
                interleaved_transposed(&kernels, point, channels),
                interleaved(grad_outputs, point, count),
            )
        });
        transform_input_grads(&tiles, &grad_inputs)
    });
    (grad_x, grad_w)
}
