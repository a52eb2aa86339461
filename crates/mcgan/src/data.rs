//! Unaligned training pairs: domain A in a shuffled order, each image paired with a uniformly
//! random image of domain B, both augmented (resize to `int(1.12 * size)`, random crop, random
//! horizontal flip) and scaled to [-1, 1].
//!
//! Images are decoded and resized once when the dataset is opened; an iteration only crops and
//! flips. The resize does not depend on the random draws, so this gives the same pixels as
//! resizing every time, which the reference loader does.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use imaging::RgbImage;
use rand::seq::SliceRandom;
use rand::Rng;
use rayon::prelude::*;

use crate::train_error::TrainError;

/// File extensions read as training images.
const IMAGE_EXTENSIONS: [&str; 4] = ["jpg", "jpeg", "png", "bmp"];

/// The training images of both domains, resized for augmentation.
#[derive(Debug, Clone)]
pub struct UnalignedDataset {
    size: u32,
    domain_a: Vec<RgbImage>,
    domain_b: Vec<RgbImage>,
}

/// Lists the image files of `dir` sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TrainError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| TrainError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        let is_image = path
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| {
                IMAGE_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
            });
        if is_image {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

fn load_domain(dir: &Path, size: u32, limit: Option<usize>) -> Result<Vec<RgbImage>, TrainError> {
    let mut paths = list_images(dir)?;
    if paths.is_empty() {
        return Err(TrainError::Data {
            path: dir.to_path_buf(),
            message: "no images (.jpg, .jpeg, .png, .bmp) found; point the dataset input at a \
                      folder holding trainA/ and trainB/"
                .into(),
        });
    }
    if let Some(limit) = limit {
        paths.truncate(limit);
    }
    let side = imaging::loader_resize_side(size).max(size);
    paths
        .par_iter()
        .map(|path| {
            let image = imaging::decode_rgb(path).map_err(|error| TrainError::Data {
                path: path.clone(),
                message: error.to_string(),
            })?;
            Ok(imaging::resize_shorter_side(&image, side))
        })
        .collect()
}

impl UnalignedDataset {
    /// Reads `dataset/trainA` and `dataset/trainB` (the first `limit` images of each, by name,
    /// when set) for training at `size`.
    pub fn open(dataset: &Path, size: u32, limit: Option<usize>) -> Result<Self, TrainError> {
        if size == 0 {
            return Err(TrainError::Data {
                path: dataset.to_path_buf(),
                message: "the training size is 0; set a positive size".into(),
            });
        }
        Ok(Self {
            size,
            domain_a: load_domain(&dataset.join("trainA"), size, limit)?,
            domain_b: load_domain(&dataset.join("trainB"), size, limit)?,
        })
    }

    /// Builds a dataset from decoded images (already at any size of at least `size`).
    pub fn from_images(size: u32, domain_a: Vec<RgbImage>, domain_b: Vec<RgbImage>) -> Self {
        let side = imaging::loader_resize_side(size).max(size);
        let resize = |images: Vec<RgbImage>| -> Vec<RgbImage> {
            images
                .iter()
                .map(|image| imaging::resize_shorter_side(image, side))
                .collect()
        };
        Self {
            size,
            domain_a: resize(domain_a),
            domain_b: resize(domain_b),
        }
    }

    /// Training image size.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Images in domain A and in domain B.
    pub fn len(&self) -> (usize, usize) {
        (self.domain_a.len(), self.domain_b.len())
    }

    /// Returns whether either domain is empty.
    pub fn is_empty(&self) -> bool {
        self.domain_a.is_empty() || self.domain_b.is_empty()
    }

    /// Iterations of a full epoch: `max(|A|, |B|)`.
    pub fn epoch_len(&self) -> usize {
        self.domain_a.len().max(self.domain_b.len())
    }

    /// Shuffles the order of one epoch: a permutation of `0..epoch_len`, read modulo `|A|`.
    pub fn epoch_order<R: Rng>(&self, rng: &mut R) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.epoch_len()).collect();
        order.shuffle(rng);
        order
    }

    /// Draws the pair at `position` of an epoch's `order`: A image `order[position] % |A|` and a
    /// uniformly drawn B image, each augmented, as `[1, 3, size, size]` tensors in [-1, 1].
    /// Draws, in order: the B index, A's crop and flip, B's crop and flip.
    pub fn pair<R: Rng>(
        &self,
        order: &[usize],
        position: usize,
        rng: &mut R,
        device: &Device,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let index_a = order[position % order.len()] % self.domain_a.len();
        let index_b = rng.random_range(0..self.domain_b.len());
        let image_a = imaging::augment(&self.domain_a[index_a], self.size, rng);
        let image_b = imaging::augment(&self.domain_b[index_b], self.size, rng);
        Ok((
            self.to_tensor(&image_a, device)?,
            self.to_tensor(&image_b, device)?,
        ))
    }

    fn to_tensor(&self, image: &RgbImage, device: &Device) -> candle_core::Result<Tensor> {
        let side = self.size as usize;
        Tensor::from_vec(imaging::to_tensor_data(image), (1, 3, side, side), device)
    }
}
