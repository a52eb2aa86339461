//! The digit datasets: MNIST alone, and MNIST-SVHN as the authors' code builds it.
//!
//! Both take images from the training files only: the first `count` become `trainX`, the next
//! `count` become `testX`. A file is named after its index in the source file
//! (`00000.png`, ...), so a name identifies the source digit.

use std::path::Path;

use imaging::{GrayImage, RgbImage};

use crate::layout::{Domain, Folder, Split};
use crate::manifest::ManifestRow;
use crate::{DatasetError, IdxImages, Progress, SvhnDigits};

/// The side of the MNIST-SVHN images.
pub const DIGIT_SIDE: u32 = 32;

/// Writes MNIST images as domain A, 28x28 8-bit gray PNGs with the stored values.
pub fn write_mnist(
    mnist: &IdxImages,
    out_dir: &Path,
    count: usize,
    progress: &dyn Progress,
) -> Result<Vec<ManifestRow>, DatasetError> {
    check_count("MNIST training images", mnist.count, count)?;
    write_domain(out_dir, Domain::A, count, progress, |index| {
        Digit::Gray(mnist.image(index))
    })
}

/// Writes MNIST as domain A and SVHN as domain B, 32x32 RGB PNGs. MNIST digits are resized
/// 28 -> 32 with Pillow's bicubic filter and replicated to R=G=B, which is what the authors'
/// torchvision pipeline (`Resize(32, BICUBIC)`, `ToTensor`, `save_image`) writes.
pub fn write_mnist_svhn(
    mnist: &IdxImages,
    svhn: &SvhnDigits,
    out_dir: &Path,
    count: usize,
    progress: &dyn Progress,
) -> Result<Vec<ManifestRow>, DatasetError> {
    check_count("MNIST training images", mnist.count, count)?;
    check_count("SVHN training images", svhn.count, count)?;
    let mut rows = write_domain(out_dir, Domain::A, count, progress, |index| {
        let resized = imaging::resize_gray_square(&mnist.image(index), DIGIT_SIDE);
        Digit::Rgb(image::DynamicImage::ImageLuma8(resized).into_rgb8())
    })?;
    rows.extend(write_domain(
        out_dir,
        Domain::B,
        count,
        progress,
        |index| Digit::Rgb(svhn.image(index)),
    )?);
    Ok(rows)
}

enum Digit {
    Gray(GrayImage),
    Rgb(RgbImage),
}

fn check_count(what: &str, available: usize, count: usize) -> Result<(), DatasetError> {
    if 2 * count > available {
        return Err(DatasetError::NotEnoughImages {
            source_name: what.to_owned(),
            requested: count,
            available: available / 2,
        });
    }
    Ok(())
}

fn write_domain(
    out_dir: &Path,
    domain: Domain,
    count: usize,
    progress: &dyn Progress,
    digit: impl Fn(usize) -> Digit,
) -> Result<Vec<ManifestRow>, DatasetError> {
    let mut rows = Vec::with_capacity(2 * count);
    for (split, offset) in [(Split::Train, 0), (Split::Test, count)] {
        let folder = Folder::new(split, domain);
        for index in offset..offset + count {
            if progress.cancelled() {
                return Err(DatasetError::Cancelled);
            }
            let file = format!("{index:05}.png");
            let path = out_dir.join(folder.name()).join(&file);
            let (width, height, channels) = match digit(index) {
                Digit::Gray(image) => {
                    imaging::write_png(&path, &image)?;
                    (image.width(), image.height(), 1)
                }
                Digit::Rgb(image) => {
                    imaging::write_png(&path, &image)?;
                    (image.width(), image.height(), 3)
                }
            };
            let bytes = std::fs::read(&path).map_err(|source| DatasetError::Io {
                path: path.clone(),
                source,
            })?;
            rows.push(ManifestRow {
                split: split.as_str().to_owned(),
                domain: domain.as_str().to_owned(),
                file,
                width,
                height,
                channels,
                bytes: bytes.len() as u64,
                blake3: blake3::hash(&bytes).to_hex().to_string(),
            });
            progress.inc(1);
        }
    }
    Ok(rows)
}
