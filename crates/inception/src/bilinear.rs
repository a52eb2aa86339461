//! The two bilinear resizes of the reference FID tools, on planar float32 channels.
//!
//! They differ only in where an output pixel samples the source: TensorFlow 1's
//! `ResizeBilinear` (the 2015 graph TTUR runs) maps output `o` to `o * in / out`, without
//! half-pixel centres, while PyTorch's `interpolate(mode="bilinear", align_corners=False)`
//! (pytorch-fid) maps it to `(o + 0.5) * in / out - 0.5`, clamped at 0. Neither antialiases.

/// Source coordinate convention of a bilinear resize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleGrid {
    /// TensorFlow 1 `ResizeBilinear(align_corners=False)`, before half-pixel centres existed.
    TopLeft,
    /// PyTorch `align_corners=False`: half-pixel centres.
    HalfPixel,
}

/// For one output index: the two source indices and the weight of the second.
#[derive(Debug, Clone, Copy)]
struct Tap {
    low: usize,
    high: usize,
    fraction: f32,
}

fn taps(in_size: usize, out_size: usize, grid: SampleGrid) -> Vec<Tap> {
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|o| {
            let source = match grid {
                SampleGrid::TopLeft => o as f32 * scale,
                SampleGrid::HalfPixel => ((o as f32 + 0.5) * scale - 0.5).max(0.0),
            };
            let low = (source.floor() as usize).min(in_size - 1);
            let high = match grid {
                SampleGrid::TopLeft => (source.ceil() as usize).min(in_size - 1),
                SampleGrid::HalfPixel => (low + 1).min(in_size - 1),
            };
            Tap {
                low,
                high,
                fraction: source - low as f32,
            }
        })
        .collect()
}

/// Resizes one `in_height x in_width` plane to `out_height x out_width`.
///
/// The arithmetic follows each library's float32 kernel: TensorFlow interpolates as
/// `a + (b - a) * f` along x, then along y; PyTorch weighs with `1 - f` and `f`.
pub fn resize_plane(
    plane: &[f32],
    in_height: usize,
    in_width: usize,
    out_height: usize,
    out_width: usize,
    grid: SampleGrid,
) -> Vec<f32> {
    let rows = taps(in_height, out_height, grid);
    let columns = taps(in_width, out_width, grid);
    let at = |y: usize, x: usize| plane[y * in_width + x];

    let mut out = Vec::with_capacity(out_height * out_width);
    for row in &rows {
        for column in &columns {
            let (tl, tr) = (at(row.low, column.low), at(row.low, column.high));
            let (bl, br) = (at(row.high, column.low), at(row.high, column.high));
            let value = match grid {
                SampleGrid::TopLeft => {
                    let top = tl + (tr - tl) * column.fraction;
                    let bottom = bl + (br - bl) * column.fraction;
                    top + (bottom - top) * row.fraction
                }
                SampleGrid::HalfPixel => {
                    let (x1, y1) = (column.fraction, row.fraction);
                    let (x0, y0) = (1.0 - x1, 1.0 - y1);
                    y0 * (x0 * tl + x1 * tr) + y1 * (x0 * bl + x1 * br)
                }
            };
            out.push(value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_left_grid_samples_first_pixel() {
        // Shrinking 4 -> 2 without half-pixel centres reads columns 0 and 2 exactly.
        let plane = [0.0, 10.0, 20.0, 30.0];
        let out = resize_plane(&plane, 1, 4, 1, 2, SampleGrid::TopLeft);
        assert_eq!(out, [0.0, 20.0]);
    }

    #[test]
    fn half_pixel_grid_averages_neighbours() {
        // With half-pixel centres, 4 -> 2 samples at 0.5 and 2.5: means of neighbours.
        let plane = [0.0, 10.0, 20.0, 30.0];
        let out = resize_plane(&plane, 1, 4, 1, 2, SampleGrid::HalfPixel);
        assert_eq!(out, [5.0, 25.0]);
    }

    #[test]
    fn upscale_clamps_last_source_index() {
        let plane = [0.0, 10.0];
        let out = resize_plane(&plane, 1, 2, 1, 4, SampleGrid::TopLeft);
        assert_eq!(out, [0.0, 5.0, 10.0, 10.0]);
    }
}
