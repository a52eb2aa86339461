//! The training-time augmentation of the reference CycleGAN loader.
//!
//! The loader is torchvision's `Resize(int(1.12 * size), BICUBIC)`, `RandomCrop(size)`,
//! `RandomHorizontalFlip()`. RNG draw order, fixed so that a seed gives one sequence of crops:
//! first the crop's top row (uniform in `0..=h - size`), then its left column
//! (`0..=w - size`), then the flip (`random_bool(0.5)`), the order torchvision draws them in.

use image::imageops;
use image::RgbImage;
use rand::Rng;

use crate::resize::resize_shorter_side;

/// Returns the side the loader resizes to before cropping: `int(1.12 * size)`, computed in
/// `f64` like Python, so that 128 gives 143.
pub fn loader_resize_side(size: u32) -> u32 {
    (1.12 * f64::from(size)) as u32
}

/// Resizes the shorter side to `int(1.12 * size)` (bicubic), crops a random `size` x `size`
/// square and flips it horizontally with probability 1/2.
///
/// # Panics
/// If `size` is 0 or the image is empty.
pub fn augment(image: &RgbImage, size: u32, rng: &mut impl Rng) -> RgbImage {
    let resized = resize_shorter_side(image, loader_resize_side(size).max(size));
    let top = rng.random_range(0..=resized.height() - size);
    let left = rng.random_range(0..=resized.width() - size);
    let flip = rng.random_bool(0.5);

    let cropped = imageops::crop_imm(&resized, left, top, size, size).to_image();
    if flip {
        imageops::flip_horizontal(&cropped)
    } else {
        cropped
    }
}
