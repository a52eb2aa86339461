//! The binary mask type shared by every scheme.

use std::path::Path;

use crate::MaskError;

/// A square binary mask: `size * size` values of 0 or 1, row-major.
///
/// The masked region (value 1) is what the mask encoder sees; the rest is context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    size: usize,
    values: Vec<u8>,
}

impl Mask {
    /// Creates a mask with no masked pixel.
    pub fn empty(size: usize) -> Self {
        Mask {
            size,
            values: vec![0; size * size],
        }
    }

    /// Creates a mask whose every pixel is masked.
    pub fn full(size: usize) -> Self {
        Mask {
            size,
            values: vec![1; size * size],
        }
    }

    /// Builds a mask from row-major 0/1 values.
    pub fn from_values(size: usize, values: Vec<u8>) -> Result<Self, MaskError> {
        if values.len() != size * size {
            return Err(MaskError::InvalidParams(format!(
                "a {size}x{size} mask needs {} values, got {}",
                size * size,
                values.len()
            )));
        }
        if let Some(value) = values.iter().find(|&&value| value > 1) {
            return Err(MaskError::InvalidParams(format!(
                "mask values must be 0 or 1, found {value}"
            )));
        }
        Ok(Mask { size, values })
    }

    /// Side length in pixels.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Row-major values, each 0 or 1.
    pub fn values(&self) -> &[u8] {
        &self.values
    }

    /// Value at `row`, `column`.
    pub fn get(&self, row: usize, column: usize) -> u8 {
        self.values[row * self.size + column]
    }

    /// Sets the half-open ranges `rows` x `columns` to 1, clipped to the mask.
    pub fn fill_rect(&mut self, rows: std::ops::Range<usize>, columns: std::ops::Range<usize>) {
        let rows = rows.start.min(self.size)..rows.end.min(self.size);
        let columns = columns.start.min(self.size)..columns.end.min(self.size);
        for row in rows {
            let start = row * self.size;
            self.values[start + columns.start..start + columns.end].fill(1);
        }
    }

    /// Fraction of masked pixels, in [0, 1].
    pub fn coverage(&self) -> f64 {
        if self.values.is_empty() {
            return 0.0;
        }
        let masked = self.values.iter().filter(|&&value| value == 1).count();
        masked as f64 / self.values.len() as f64
    }

    /// Values as `f32` 0.0/1.0, row-major, ready for a `[1, 1, size, size]` tensor.
    pub fn to_f32(&self) -> Vec<f32> {
        self.values.iter().map(|&value| f32::from(value)).collect()
    }

    /// The mask as an 8-bit grayscale image with values 0 and 255.
    pub fn to_gray_image(&self) -> image::GrayImage {
        let pixels = self.values.iter().map(|&value| value * 255).collect();
        let side = self.size as u32;
        image::GrayImage::from_raw(side, side, pixels)
            .expect("a mask always holds size * size values")
    }

    /// Encodes the mask as an 8-bit single-channel PNG with values 0 and 255.
    pub fn to_png(&self) -> Result<Vec<u8>, image::ImageError> {
        let mut bytes = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut bytes);
        self.to_gray_image().write_with_encoder(encoder)?;
        Ok(bytes)
    }

    /// Reads a mask PNG written by [`Mask::to_png`]: square, one channel, values 0 and 255.
    pub fn read_png(path: &Path) -> Result<Self, MaskError> {
        let decoded = image::open(path).map_err(|source| MaskError::Image {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |reason: String| MaskError::InvalidMaskImage {
            path: path.to_path_buf(),
            reason,
        };
        let image::DynamicImage::ImageLuma8(gray) = decoded else {
            return Err(invalid(format!(
                "expected an 8-bit single-channel PNG, found {:?}; write masks with `pipeline masks`",
                decoded.color()
            )));
        };
        if gray.width() != gray.height() {
            return Err(invalid(format!(
                "expected a square image, found {}x{}",
                gray.width(),
                gray.height()
            )));
        }
        let size = gray.width() as usize;
        let mut values = Vec::with_capacity(size * size);
        for &pixel in gray.as_raw() {
            match pixel {
                0 => values.push(0),
                255 => values.push(1),
                other => {
                    return Err(invalid(format!(
                        "found pixel value {other}, but a mask holds only 0 and 255"
                    )))
                }
            }
        }
        Ok(Mask { size, values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_rect_is_half_open() {
        let mut mask = Mask::empty(4);
        mask.fill_rect(1..3, 2..4);
        let expected = [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0];
        assert_eq!(mask.values(), &expected);
        assert_eq!(mask.coverage(), 4.0 / 16.0);
    }

    #[test]
    fn png_round_trip_keeps_values() {
        let mut mask = Mask::empty(8);
        mask.fill_rect(2..5, 1..7);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mask.png");
        std::fs::write(&path, mask.to_png().unwrap()).unwrap();
        assert_eq!(Mask::read_png(&path).unwrap(), mask);
    }

    #[test]
    fn from_values_rejects_non_binary() {
        assert!(Mask::from_values(2, vec![0, 1, 2, 0]).is_err());
        assert!(Mask::from_values(2, vec![0, 1, 1]).is_err());
    }
}
