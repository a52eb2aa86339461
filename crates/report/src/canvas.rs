//! An RGB pixel buffer that figures are composed in: images are copied in directly and
//! plotters draws text and shapes on top, then the buffer is saved as PNG.

use std::path::Path;

use image::imageops::FilterType;
use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::font::register_font;
use crate::ReportError;

/// Result of a drawing closure; plotters' errors are boxed and turned into text.
pub(crate) type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A white RGB canvas of fixed size.
pub(crate) struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    /// Creates a white canvas.
    pub(crate) fn new(width: u32, height: u32) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![255; (width * height * 3) as usize],
        }
    }

    /// Copies `image` with its top-left corner at `x`, `y`, clipped to the canvas.
    pub(crate) fn blit(&mut self, image: &RgbImage, x: u32, y: u32) {
        for (column, row, pixel) in image.enumerate_pixels() {
            let (target_x, target_y) = (x + column, y + row);
            if target_x >= self.width || target_y >= self.height {
                continue;
            }
            let offset = ((target_y * self.width + target_x) * 3) as usize;
            self.pixels[offset..offset + 3].copy_from_slice(&pixel.0);
        }
    }

    /// Runs plotters drawing code on the canvas; `path` only names the figure in errors.
    pub(crate) fn draw<F>(&mut self, path: &Path, draw: F) -> Result<(), ReportError>
    where
        F: FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> DrawResult,
    {
        register_font().map_err(|reason| ReportError::drawing(path, reason))?;
        let root = BitMapBackend::with_buffer(&mut self.pixels, (self.width, self.height))
            .into_drawing_area();
        draw(&root).map_err(|error| ReportError::drawing(path, error))?;
        root.present()
            .map_err(|error| ReportError::drawing(path, error))?;
        Ok(())
    }

    /// Saves the canvas as an 8-bit RGB PNG, creating the parent directory.
    pub(crate) fn save(self, path: &Path) -> Result<(), ReportError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ReportError::io(parent, source))?;
        }
        let image = RgbImage::from_raw(self.width, self.height, self.pixels)
            .expect("the buffer holds width * height RGB pixels");
        image.save(path).map_err(|source| ReportError::Image {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Reads an image and scales it to `side x side`: nearest neighbour when enlarging, so
/// mask edges stay sharp, and a triangle filter when shrinking.
pub(crate) fn load_tile(path: &Path, side: u32) -> Result<RgbImage, ReportError> {
    let image = image::open(path)
        .map_err(|source| ReportError::Image {
            path: path.to_path_buf(),
            source,
        })?
        .into_rgb8();
    let filter = if image.width() < side {
        FilterType::Nearest
    } else {
        FilterType::Triangle
    };
    Ok(image::imageops::resize(&image, side, side, filter))
}

/// Returns a black text style of `size` pixels in the shipped font.
pub(crate) fn text_style(size: f64) -> TextStyle<'static> {
    (crate::font::FONT_FAMILY, size).into_font().color(&BLACK)
}
