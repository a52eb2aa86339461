//! Binary-attention masks: a grayscale attention map thresholded into a mask.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::{Mask, MaskError};

/// Thresholds an attention map: a pixel is masked when `value / 255 >= threshold`.
///
/// A map of another shape is first resized to `size x size` with a triangle filter,
/// so the threshold applies to the resized values.
pub fn binary_attention(map: &image::GrayImage, size: usize, threshold: f64) -> Mask {
    let side = size as u32;
    let resized;
    let map = if map.width() == side && map.height() == side {
        map
    } else {
        resized = image::imageops::resize(map, side, side, FilterType::Triangle);
        &resized
    };
    let values = map
        .as_raw()
        .iter()
        .map(|&value| u8::from(f64::from(value) / 255.0 >= threshold))
        .collect();
    Mask::from_values(size, values).expect("values are 0 or 1 and size * size long")
}

/// Lists the attention maps in `dir`: every PNG or JPEG file, sorted by name.
pub fn attention_map_paths(dir: &Path) -> Result<Vec<PathBuf>, MaskError> {
    let entries = std::fs::read_dir(dir).map_err(|source| MaskError::io(dir, source))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| MaskError::io(dir, source))?.path();
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase);
        if matches!(extension.as_deref(), Some("png" | "jpg" | "jpeg")) {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(MaskError::InvalidParams(format!(
            "no PNG or JPEG attention maps found in {}",
            dir.display()
        )));
    }
    Ok(paths)
}

/// Reads one attention map as 8-bit grayscale (colour maps are converted to luma).
pub fn read_attention_map(path: &Path) -> Result<image::GrayImage, MaskError> {
    let decoded = image::open(path).map_err(|source| MaskError::Image {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(decoded.into_luma8())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_splits_at_value() {
        let map = image::GrayImage::from_raw(2, 2, vec![0, 127, 128, 255]).unwrap();
        let mask = binary_attention(&map, 2, 128.0 / 255.0);
        assert_eq!(mask.values(), &[0, 0, 1, 1]);
    }
}
