//! The network's input layout for an image.

use image::RgbImage;

/// Returns the image as channel-major (CHW) `f32` samples in [-1, 1]: `x / 127.5 - 1`, the
/// result of torchvision's `ToTensor()` then `Normalize((0.5,) * 3, (0.5,) * 3)`.
pub fn to_tensor_data(image: &RgbImage) -> Vec<f32> {
    let plane = (image.width() * image.height()) as usize;
    let mut data = vec![0.0f32; 3 * plane];
    for (index, pixel) in image.pixels().enumerate() {
        for channel in 0..3 {
            data[channel * plane + index] = f32::from(pixel.0[channel]) / 127.5 - 1.0;
        }
    }
    data
}
