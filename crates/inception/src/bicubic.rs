//! Pillow's antialiased bicubic resize (`Image.resize(..., BICUBIC)`) on float32 (`F` mode)
//! planes, as clean-fid's `clean` mode applies it to each channel.
//!
//! Pillow (`libImaging/Resample.c`) widens the cubic filter (a = -0.5) by the shrink factor,
//! normalises each output's weights to sum to 1, accumulates in float64 and stores float32.
//! It runs the horizontal pass first, then the vertical one, and skips a pass whose size
//! does not change.

/// Pillow's bicubic kernel with a = -0.5, written in Pillow's operation order.
fn cubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// The source window and normalised weights of one output index.
struct Window {
    first: usize,
    weights: Vec<f64>,
}

fn windows(in_size: usize, out_size: usize) -> Vec<Window> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = 2.0 * filter_scale;
    (0..out_size)
        .map(|o| {
            let centre = (o as f64 + 0.5) * scale;
            // C's (int) cast truncates toward zero, then Pillow clamps to the image.
            let first = ((centre - support + 0.5) as i64).max(0) as usize;
            let end = ((centre + support + 0.5) as i64).clamp(0, in_size as i64) as usize;
            let mut weights: Vec<f64> = (first..end.max(first))
                .map(|i| cubic((i as f64 - centre + 0.5) / filter_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|weight| *weight /= total);
            }
            Window { first, weights }
        })
        .collect()
}

/// Resizes one `in_height x in_width` float32 plane to `out_height x out_width`.
pub fn resize_plane(
    plane: &[f32],
    in_height: usize,
    in_width: usize,
    out_height: usize,
    out_width: usize,
) -> Vec<f32> {
    let horizontal = if in_width == out_width {
        plane.to_vec()
    } else {
        let columns = windows(in_width, out_width);
        let mut out = Vec::with_capacity(in_height * out_width);
        for row in plane.chunks_exact(in_width) {
            for window in &columns {
                let source = &row[window.first..window.first + window.weights.len()];
                let sum: f64 = source
                    .iter()
                    .zip(&window.weights)
                    .map(|(&v, &w)| f64::from(v) * w)
                    .sum();
                out.push(sum as f32);
            }
        }
        out
    };
    if in_height == out_height {
        return horizontal;
    }

    let rows = windows(in_height, out_height);
    let mut out = Vec::with_capacity(out_height * out_width);
    let mut sums = vec![0f64; out_width];
    for window in &rows {
        sums.iter_mut().for_each(|sum| *sum = 0.0);
        for (offset, &weight) in window.weights.iter().enumerate() {
            let row = &horizontal[(window.first + offset) * out_width..][..out_width];
            for (sum, &value) in sums.iter_mut().zip(row) {
                *sum += f64::from(value) * weight;
            }
        }
        out.extend(sums.iter().map(|&sum| sum as f32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_kernel_interpolates() {
        assert_eq!(cubic(0.0), 1.0);
        assert_eq!(cubic(1.0), 0.0);
        assert_eq!(cubic(2.0), 0.0);
        assert_eq!(cubic(0.5), 0.5625);
    }

    #[test]
    fn constant_plane_stays_constant() {
        let plane = vec![7.5f32; 13 * 17];
        let out = resize_plane(&plane, 13, 17, 29, 5);
        assert!(
            out.iter().all(|&value| (value - 7.5).abs() < 1e-5),
            "{out:?}"
        );
    }

    #[test]
    fn halving_uses_widened_window() {
        // 4 -> 2 doubles the support to 4 pixels: output 0 (centre 1.0) reads source 0..=3.
        let columns = windows(4, 2);
        assert_eq!(columns[0].first, 0);
        assert_eq!(columns[0].weights.len(), 4);
    }
}
