//! JPEG decoding through zune-jpeg in strict mode.
//!
//! The `image` crate decodes JPEG with zune-jpeg too, but in lenient mode: a file cut inside its
//! scan comes back as `Ok` with the missing part filled with grey. A half-grey training image is
//! never what a user wants, so this module drives zune-jpeg itself with strict mode on.

use image::metadata::Orientation;
use image::RgbImage;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::errors::DecodeErrors;
use zune_jpeg::JpegDecoder;

use crate::decode::check_dimensions;
use crate::ImageError;

/// A decoded JPEG before orientation: RGB pixels, the stored component count and the EXIF
/// orientation.
pub(crate) struct JpegImage {
    pub(crate) rgb: RgbImage,
    pub(crate) components: u8,
    pub(crate) orientation: Orientation,
}

/// Decodes a JPEG to RGB. Gray files are replicated (R=G=B); Adobe CMYK and YCCK files are
/// converted with zune-jpeg's rule, `R = stored_C * stored_K / 255`, which is Pillow's.
pub(crate) fn decode_jpeg(bytes: &[u8], name: &str) -> Result<JpegImage, ImageError> {
    // Our own pixel limit is checked from the header below, so zune-jpeg's side limit
    // (16384) must not reject a file first with a less precise message.
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|error| jpeg_error(error, name))?;

    let (width, height) = decoder.dimensions().ok_or_else(|| ImageError::Invalid {
        name: name.to_owned(),
        detail: "JPEG header has no frame size".to_owned(),
    })?;
    check_dimensions(width as u64, height as u64, name)?;

    let input_colorspace = decoder.input_colorspace().unwrap_or(ColorSpace::YCbCr);
    let components = input_colorspace.num_components() as u8;
    let output_colorspace = if input_colorspace == ColorSpace::Luma {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(output_colorspace));

    let samples = decoder.decode().map_err(|error| jpeg_error(error, name))?;
    let rgb_samples = if output_colorspace == ColorSpace::Luma {
        samples.iter().flat_map(|&y| [y, y, y]).collect()
    } else {
        samples
    };
    let rgb = RgbImage::from_raw(width as u32, height as u32, rgb_samples).ok_or_else(|| {
        ImageError::Invalid {
            name: name.to_owned(),
            detail: "decoded sample count does not match the frame size".to_owned(),
        }
    })?;

    let orientation = decoder
        .exif()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);

    Ok(JpegImage {
        rgb,
        components,
        orientation,
    })
}

fn jpeg_error(error: DecodeErrors, name: &str) -> ImageError {
    // Some zune-jpeg messages end in a newline ("Not enough bytes, expected 64 but found 6\n"),
    // but an error is printed as one line, so line breaks become spaces.
    let words: Vec<String> = error
        .to_string()
        .split_whitespace()
        .map(String::from)
        .collect();
    let detail = format!("JPEG: {}", words.join(" "));
    match error {
        DecodeErrors::ExhaustedData | DecodeErrors::IoErrors(_) => ImageError::Truncated {
            name: name.to_owned(),
            detail,
        },
        _ => ImageError::Invalid {
            name: name.to_owned(),
            detail,
        },
    }
}
