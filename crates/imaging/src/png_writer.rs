//! Atomic PNG writing.

use std::io::{BufWriter, Write};
use std::path::Path;

use image::codecs::png::PngEncoder;
use image::{ImageBuffer, ImageEncoder, Pixel, PixelWithColorType};

use crate::ImageError;

/// Writes an 8-bit image (RGB or gray) as PNG. The bytes go to a temporary file in the same
/// folder, which is renamed over `path` once complete, so a reader never sees a partial file.
pub fn write_png<P>(
    path: impl AsRef<Path>,
    image: &ImageBuffer<P, Vec<u8>>,
) -> Result<(), ImageError>
where
    P: Pixel<Subpixel = u8> + PixelWithColorType,
{
    let path = path.as_ref();
    let io_error = |source| ImageError::Io {
        path: path.to_owned(),
        source,
    };
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };

    let temporary = tempfile::Builder::new()
        .prefix(".png-")
        .tempfile_in(folder)
        .map_err(io_error)?;
    let mut writer = BufWriter::new(temporary.as_file());
    PngEncoder::new(&mut writer)
        .write_image(image.as_raw(), image.width(), image.height(), P::COLOR_TYPE)
        .map_err(|error| ImageError::Encode {
            path: path.to_owned(),
            detail: error.to_string(),
        })?;
    writer.flush().map_err(io_error)?;
    drop(writer);

    temporary
        .persist(path)
        .map_err(|error| io_error(error.error))?;
    Ok(())
}
