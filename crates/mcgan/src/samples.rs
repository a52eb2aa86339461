//! Sample images written during training: one PNG per sample iteration with the row
//! `real A | fake B | recovered A | mask` above `real B | fake A | recovered B | mask`.

use std::path::Path;

use candle_core::{DType, Tensor};
use imaging::RgbImage;

use crate::train_error::TrainError;

/// Converts the first image of a `[N, 3, H, W]` batch to 8-bit RGB with the translation rule
/// `clamp(floor((y * 0.5 + 0.5) * 255 + 0.5), 0, 255)`.
pub fn tensor_to_image(batch: &Tensor) -> candle_core::Result<RgbImage> {
    let image = batch.get(0)?.to_dtype(DType::F32)?;
    let (_, height, width) = image.dims3()?;
    let values = image.flatten_all()?.to_vec1::<f32>()?;
    let plane = height * width;
    let mut pixels = vec![0u8; 3 * plane];
    for index in 0..plane {
        for channel in 0..3 {
            let y = values[channel * plane + index];
            let level = ((y * 0.5 + 0.5) * 255.0 + 0.5).floor().clamp(0.0, 255.0);
            pixels[3 * index + channel] = level as u8;
        }
    }
    Ok(RgbImage::from_raw(width as u32, height as u32, pixels)
        .expect("the buffer contains exactly width * height RGB pixels"))
}

/// Lays `rows` of equally sized images out as one grid image.
fn grid(rows: &[Vec<RgbImage>]) -> RgbImage {
    let tile_width = rows[0][0].width();
    let tile_height = rows[0][0].height();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let mut canvas = RgbImage::new(columns * tile_width, rows.len() as u32 * tile_height);
    for (row, images) in rows.iter().enumerate() {
        for (column, image) in images.iter().enumerate() {
            let x = i64::from(column as u32 * tile_width);
            let y = i64::from(row as u32 * tile_height);
            image::imageops::replace(&mut canvas, image, x, y);
        }
    }
    canvas
}

/// The images of one iteration's sample grid, each `[1, 3, H, W]` (the mask in [0, 1]).
pub struct SampleImages<'a> {
    /// Input of domain A.
    pub real_a: &'a Tensor,
    /// `G_AB(real_a, m)`.
    pub fake_b: &'a Tensor,
    /// `G_BA(fake_b, m)`.
    pub recovered_a: &'a Tensor,
    /// Input of domain B.
    pub real_b: &'a Tensor,
    /// `G_BA(real_b, m)`.
    pub fake_a: &'a Tensor,
    /// `G_AB(fake_a, m)`.
    pub recovered_b: &'a Tensor,
    /// The iteration's mask, if any.
    pub mask: Option<&'a Tensor>,
}

/// Writes the sample grid of one iteration to `path` as PNG.
pub fn write_sample(images: &SampleImages, path: &Path) -> Result<(), TrainError> {
    let mut top = vec![
        tensor_to_image(images.real_a)?,
        tensor_to_image(images.fake_b)?,
        tensor_to_image(images.recovered_a)?,
    ];
    let mut bottom = vec![
        tensor_to_image(images.real_b)?,
        tensor_to_image(images.fake_a)?,
        tensor_to_image(images.recovered_b)?,
    ];
    if let Some(mask) = images.mask {
        // Shown in [-1, 1] terms so that the masked region is white.
        let mask_image = tensor_to_image(&mask.affine(2.0, -1.0)?)?;
        top.push(mask_image.clone());
        bottom.push(mask_image);
    }
    let canvas = grid(&[top, bottom]);
    imaging::write_png(path, &canvas).map_err(|error| TrainError::Data {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}
