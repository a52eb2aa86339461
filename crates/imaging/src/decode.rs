//! Decoding image files to upright 8-bit RGB, the way Pillow's `convert("RGB")` does.

use std::io::Cursor;
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, RgbImage};

use crate::jpeg::decode_jpeg;
use crate::ImageError;

/// The maximum pixel count of a decoded image: Pillow's `MAX_IMAGE_PIXELS`, about 89.5
/// million (a 256 MiB RGB buffer). Larger headers are rejected before any pixel buffer is allocated.
pub const MAX_PIXELS: u64 = 89_478_485;

/// The container format, detected from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Png,
    Jpeg,
}

/// A decoded image with facts about the stored file.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Upright 8-bit RGB pixels.
    pub rgb: RgbImage,
    /// The number of channels stored in the file: 1 gray, 2 gray with alpha, 3 colour,
    /// 4 colour with alpha or CMYK/YCCK.
    pub source_channels: u8,
    pub format: SourceFormat,
}

/// Reads and decodes an image file to upright 8-bit RGB.
pub fn decode_rgb(path: impl AsRef<Path>) -> Result<RgbImage, ImageError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| ImageError::Io {
        path: path.to_owned(),
        source,
    })?;
    decode_rgb_bytes(&bytes, &path.display().to_string())
}

/// Decodes an in-memory image to upright 8-bit RGB. `name` identifies the image in errors.
pub fn decode_rgb_bytes(bytes: &[u8], name: &str) -> Result<RgbImage, ImageError> {
    decode(bytes, name).map(|decoded| decoded.rgb)
}

/// Decodes an in-memory image, keeping the stored channel count and format.
///
/// The format comes from the bytes, never the name, and EXIF orientation is applied. Gray is
/// replicated, palettes are expanded, and alpha is dropped without compositing, so a
/// transparent pixel keeps its stored colour as in Pillow. 16-bit samples become
/// `round(v * 255 / 65535)`. ICC profiles are ignored.
pub fn decode(bytes: &[u8], name: &str) -> Result<Decoded, ImageError> {
    let format = image::guess_format(bytes).map_err(|_| ImageError::Unrecognized {
        name: name.to_owned(),
    })?;
    match format {
        ImageFormat::Jpeg => {
            let jpeg = decode_jpeg(bytes, name)?;
            let mut upright = DynamicImage::ImageRgb8(jpeg.rgb);
            upright.apply_orientation(jpeg.orientation);
            Ok(Decoded {
                rgb: upright.into_rgb8(),
                source_channels: jpeg.components,
                format: SourceFormat::Jpeg,
            })
        }
        ImageFormat::Png => decode_png(bytes, name),
        _ => Err(ImageError::Unrecognized {
            name: name.to_owned(),
        }),
    }
}

fn decode_png(bytes: &[u8], name: &str) -> Result<Decoded, ImageError> {
    let mut decoder = image::codecs::png::PngDecoder::new(Cursor::new(bytes))
        .map_err(|error| png_error(error, name))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(u64::from(width), u64::from(height), name)?;

    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let source_channels = decoder.color_type().channel_count();
    let mut image = DynamicImage::from_decoder(decoder).map_err(|error| png_error(error, name))?;
    image.apply_orientation(orientation);

    // `into_rgb8` drops alpha without compositing and maps 16-bit samples with
    // `(v + 128) / 257`, the rounded scaling (image 0.25).
    Ok(Decoded {
        rgb: image.into_rgb8(),
        source_channels,
        format: SourceFormat::Png,
    })
}

fn png_error(error: image::ImageError, name: &str) -> ImageError {
    let detail = error.to_string();
    let truncated = match &error {
        image::ImageError::IoError(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        image::ImageError::Decoding(_) => {
            let lower = detail.to_lowercase();
            lower.contains("eof") || lower.contains("end of") || lower.contains("truncat")
        }
        _ => false,
    };
    if truncated {
        ImageError::Truncated {
            name: name.to_owned(),
            detail: format!("PNG: {detail}"),
        }
    } else {
        ImageError::Invalid {
            name: name.to_owned(),
            detail: format!("PNG: {detail}"),
        }
    }
}

/// Rejects a declared size over [`MAX_PIXELS`], or an empty one.
pub(crate) fn check_dimensions(width: u64, height: u64, name: &str) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Invalid {
            name: name.to_owned(),
            detail: format!("the header declares an empty {width}x{height} image"),
        });
    }
    if width.saturating_mul(height) > MAX_PIXELS {
        return Err(ImageError::TooLarge {
            name: name.to_owned(),
            width,
            height,
            limit: MAX_PIXELS,
        });
    }
    Ok(())
}
