//! Bicubic resizing that reproduces Pillow's `Image.resize(size, Image.BICUBIC)` exactly.
//!
//! Pillow's algorithm (`libImaging/Resample.c`): a cubic kernel with a = -0.5, stretched by
//! the scale factor when downscaling (antialiasing); weights normalised to sum 1 and rounded to
//! 22-bit fixed point; the horizontal pass first, its result rounded and clipped to 8 bits,
//! then the vertical pass.
//!
//! This is hand-written because fast_image_resize 5.5 (whose `CatmullRom` filter is the same
//! kernel) does not match within one grey level, for two reasons. It runs the vertical pass
//! first on 8-bit images, and the kernel's overshoot next to strong edges then gives results up
//! to 13 levels away from Pillow's. Running it once per axis fixes that, but its i16 weights
//! keep only 14 fractional bits when upscaling, which leaves 2-level differences on 256 -> 299.

use image::{GrayImage, RgbImage};

/// Fractional bits of the fixed-point weights, Pillow's `PRECISION_BITS` (32 - 8 - 2).
const PRECISION_BITS: u32 = 22;

/// Support of the bicubic kernel at scale 1.
const BICUBIC_SUPPORT: f64 = 2.0;

/// Resizes to `side` x `side` with Pillow's antialiased bicubic filter, ignoring the aspect ratio.
///
/// # Panics
/// If `side` is 0 or the image is empty; decoded images are never empty.
pub fn resize_square(image: &RgbImage, side: u32) -> RgbImage {
    resize_to(image, side, side)
}

/// Resizes to `width` x `height` with Pillow's antialiased bicubic filter.
///
/// # Panics
/// If a target side is 0 or the image is empty.
pub fn resize_to(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let samples = resize_samples::<3>(
        image.as_raw(),
        (image.width(), image.height()),
        (width, height),
    );
    RgbImage::from_raw(width, height, samples).expect("the resizer fills width x height pixels")
}

/// Resizes so that the shorter side becomes `side`, keeping the aspect ratio the way
/// torchvision's `Resize(int)` does: the longer side is `int(side * long / short)`.
///
/// # Panics
/// If `side` is 0 or the image is empty.
pub fn resize_shorter_side(image: &RgbImage, side: u32) -> RgbImage {
    let (width, height) = (image.width(), image.height());
    if width <= height {
        let long = (u64::from(side) * u64::from(height) / u64::from(width)) as u32;
        resize_to(image, side, long)
    } else {
        let long = (u64::from(side) * u64::from(width) / u64::from(height)) as u32;
        resize_to(image, long, side)
    }
}

/// Resizes a grayscale image to `side` x `side`, with the same filter as [`resize_square`].
///
/// # Panics
/// If `side` is 0 or the image is empty.
pub fn resize_gray_square(image: &GrayImage, side: u32) -> GrayImage {
    let samples = resize_samples::<1>(
        image.as_raw(),
        (image.width(), image.height()),
        (side, side),
    );
    GrayImage::from_raw(side, side, samples).expect("the resizer fills side x side pixels")
}

/// The taps of one output sample: the first input index and the fixed-point weights.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

fn bicubic(x: f64) -> f64 {
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

/// Computes the taps of every output sample along one axis, as Pillow's `precompute_coeffs`
/// and `normalize_coeffs_8bpc` do.
fn taps(input_size: usize, output_size: usize) -> Vec<Taps> {
    let scale = input_size as f64 / output_size as f64;
    let filter_scale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filter_scale;

    (0..output_size)
        .map(|output| {
            let centre = (output as f64 + 0.5) * scale;
            // `as i64` truncates toward zero like Pillow's C cast.
            let first = ((centre - support + 0.5) as i64).max(0) as usize;
            let end = ((centre + support + 0.5) as i64).min(input_size as i64) as usize;
            let raw: Vec<f64> = (first..end)
                .map(|x| bicubic((x as f64 - centre + 0.5) / filter_scale))
                .collect();
            let total: f64 = raw.iter().sum();
            let one = f64::from(1u32 << PRECISION_BITS);
            let weights = raw
                .iter()
                .map(|&weight| {
                    let normalised = if total == 0.0 { weight } else { weight / total };
                    // Rounded half away from zero, as Pillow does.
                    (normalised * one).round() as i32
                })
                .collect();
            Taps { first, weights }
        })
        .collect()
}

fn clip_to_u8(accumulator: i64) -> u8 {
    (accumulator >> PRECISION_BITS).clamp(0, 255) as u8
}

fn resize_samples<const CHANNELS: usize>(
    samples: &[u8],
    (width, height): (u32, u32),
    (target_width, target_height): (u32, u32),
) -> Vec<u8> {
    assert!(
        width > 0 && height > 0 && target_width > 0 && target_height > 0,
        "cannot resize {width}x{height} to {target_width}x{target_height}: a side is zero"
    );
    let (width, height) = (width as usize, height as usize);
    let (target_width, target_height) = (target_width as usize, target_height as usize);
    let half = 1i64 << (PRECISION_BITS - 1);

    let horizontal = if target_width == width {
        samples.to_vec()
    } else {
        let columns = taps(width, target_width);
        let mut out = vec![0u8; target_width * height * CHANNELS];
        for y in 0..height {
            let row = &samples[y * width * CHANNELS..(y + 1) * width * CHANNELS];
            for (x, tap) in columns.iter().enumerate() {
                for channel in 0..CHANNELS {
                    let mut accumulator = half;
                    for (k, &weight) in tap.weights.iter().enumerate() {
                        let sample = row[(tap.first + k) * CHANNELS + channel];
                        accumulator += i64::from(sample) * i64::from(weight);
                    }
                    out[(y * target_width + x) * CHANNELS + channel] = clip_to_u8(accumulator);
                }
            }
        }
        out
    };

    if target_height == height {
        return horizontal;
    }
    let rows = taps(height, target_height);
    let stride = target_width * CHANNELS;
    let mut out = vec![0u8; target_height * stride];
    for (y, tap) in rows.iter().enumerate() {
        for i in 0..stride {
            let mut accumulator = half;
            for (k, &weight) in tap.weights.iter().enumerate() {
                let sample = horizontal[(tap.first + k) * stride + i];
                accumulator += i64::from(sample) * i64::from(weight);
            }
            out[y * stride + i] = clip_to_u8(accumulator);
        }
    }
    out
}
