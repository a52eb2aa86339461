//! MNIST's IDX format, plain or gzip-compressed.
//!
//! Big-endian header: two zero bytes, the element type (0x08, unsigned byte, the only one
//! MNIST uses), the number of dimensions, then one u32 size per dimension, then the data in
//! row-major order. The data must be exactly the product of the sizes long.

use std::io::Read;
use std::path::{Path, PathBuf};

use imaging::GrayImage;

use crate::IdxError;

const UNSIGNED_BYTE: u8 = 0x08;
const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Images of an IDX file: `count` images of `rows` x `columns` bytes, 0 is background.
#[derive(Debug, Clone)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub columns: usize,
    pub pixels: Vec<u8>,
}

impl IdxImages {
    /// Returns image `index` as an 8-bit grayscale image.
    ///
    /// # Panics
    /// If `index >= count`.
    pub fn image(&self, index: usize) -> GrayImage {
        let size = self.rows * self.columns;
        let pixels = self.pixels[index * size..(index + 1) * size].to_vec();
        GrayImage::from_raw(self.columns as u32, self.rows as u32, pixels)
            .expect("an IDX image has rows x columns bytes")
    }
}

/// Reads an IDX image file (magic 0x00000803).
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxImages, IdxError> {
    let path = path.as_ref();
    let (sizes, pixels) = read_idx(path, IMAGES_MAGIC)?;
    Ok(IdxImages {
        count: sizes[0],
        rows: sizes[1],
        columns: sizes[2],
        pixels,
    })
}

/// Reads an IDX label file (magic 0x00000801).
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>, IdxError> {
    let (_, labels) = read_idx(path.as_ref(), LABELS_MAGIC)?;
    Ok(labels)
}

/// Reads an MNIST image and label pair, checking that the counts agree and every label is a
/// digit 0-9.
pub fn read_mnist(
    images_path: impl AsRef<Path>,
    labels_path: impl AsRef<Path>,
) -> Result<(IdxImages, Vec<u8>), IdxError> {
    let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
    let images = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path)?;
    if images.count != labels.len() {
        return Err(IdxError::CountMismatch {
            images_path: images_path.to_owned(),
            labels_path: labels_path.to_owned(),
            images: images.count,
            labels: labels.len(),
        });
    }
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &label)| label > 9) {
        return Err(IdxError::InvalidLabel {
            path: labels_path.to_owned(),
            index,
            label,
        });
    }
    Ok((images, labels))
}

/// Returns the file's bytes, decompressed when they start with the gzip magic number.
pub(crate) fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, IdxError> {
    let io_error = |source| IdxError::Io {
        path: path.to_owned(),
        source,
    };
    let raw = std::fs::read(path).map_err(io_error)?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(raw.as_slice())
        .read_to_end(&mut bytes)
        .map_err(|error| {
            if error.kind() == std::io::ErrorKind::UnexpectedEof {
                IdxError::Truncated {
                    path: path.to_owned(),
                    detail: "the gzip stream ends early".to_owned(),
                }
            } else {
                io_error(error)
            }
        })?;
    Ok(bytes)
}

fn read_idx(path: &Path, magic: u32) -> Result<(Vec<usize>, Vec<u8>), IdxError> {
    let bytes = read_maybe_gzip(path)?;
    let truncated = |detail: &str| IdxError::Truncated {
        path: path.to_owned(),
        detail: detail.to_owned(),
    };

    let header: [u8; 4] = bytes
        .get(..4)
        .and_then(|head| head.try_into().ok())
        .ok_or_else(|| truncated("shorter than the 4-byte magic number"))?;
    let found = u32::from_be_bytes(header);
    let dimensions = usize::from(header[3]);
    let expected_dimensions = usize::from((magic & 0xff) as u8);
    if header[0] != 0 || header[1] != 0 || dimensions != expected_dimensions {
        return Err(IdxError::WrongMagic {
            path: path.to_owned(),
            found,
            expected: magic,
        });
    }
    if header[2] != UNSIGNED_BYTE {
        return Err(IdxError::UnsupportedType {
            path: path.to_owned(),
            code: header[2],
        });
    }

    let data_start = 4 + 4 * dimensions;
    let size_bytes = bytes
        .get(4..data_start)
        .ok_or_else(|| truncated("the header ends inside the dimension sizes"))?;
    let sizes: Vec<usize> = size_bytes
        .chunks_exact(4)
        .map(|chunk| u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) as usize)
        .collect();
    let length = sizes
        .iter()
        .try_fold(1usize, |product, &size| product.checked_mul(size))
        .ok_or_else(|| truncated("the declared sizes overflow"))?;

    let data = &bytes[data_start..];
    if data.len() < length {
        return Err(IdxError::Truncated {
            path: path.to_owned(),
            detail: format!("{} data bytes, the header declares {length}", data.len()),
        });
    }
    if data.len() > length {
        return Err(IdxError::SizeMismatch {
            path: path.to_owned(),
            extra: data.len() - length,
        });
    }
    Ok((sizes, data.to_vec()))
}

/// Returns the path of an MNIST file in `folder`, preferring `<stem>.gz` when it exists.
pub(crate) fn mnist_file(folder: &Path, stem: &str) -> PathBuf {
    let compressed = folder.join(format!("{stem}.gz"));
    if compressed.exists() {
        compressed
    } else {
        folder.join(stem)
    }
}
