//! Translation of an image folder with a trained generator, once per mask: each centered
//! square scale (`scale=0.50/<stem>.png`, ...) or each mask of a bank (`mask_0000/<stem>.png`).
//!
//! Inputs are resized to the translation size with antialiased bicubic resampling and scaled
//! to [-1, 1]; outputs are saved as 8-bit PNG with `clamp(floor((y*0.5 + 0.5)*255 + 0.5), 0,
//! 255)`, the authors' conversion. Every image runs through its own gemm calls, so the
//! written bytes do not depend on `batch`.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{load_generator, Direction};
use crate::{Error, Generator, Result};

/// Settings of a translation run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranslateParams {
    /// Which generator translates: `a2b` or `b2a`.
    pub direction: Direction,
    /// Centered-square scales, one output folder each, used when no mask bank is given.
    /// Default: 0.5, 0.8 and 1.0.
    #[serde(default = "default_scales")]
    pub scales: Vec<f64>,
    /// Side of the translated images in pixels. Default: the training size the checkpoint
    /// records, else the side of the (square) input images.
    #[serde(default)]
    pub size: Option<usize>,
    /// Images per forward pass. Default: 8.
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_scales() -> Vec<f64> {
    vec![0.5, 0.8, 1.0]
}

fn default_batch() -> usize {
    8
}

impl TranslateParams {
    /// Parameters with the defaults for everything but the direction.
    pub fn new(direction: Direction) -> Self {
        Self {
            direction,
            scales: default_scales(),
            size: None,
            batch: default_batch(),
        }
    }

    /// Rejects values no run could use, naming the param at fault.
    pub fn validate(&self) -> std::result::Result<(), InvalidParam> {
        if self.batch == 0 {
            return Err(InvalidParam::new("batch", "must be at least 1"));
        }
        if let Some(size) = self.size {
            check_size(size).map_err(|reason| InvalidParam::new("size", reason))?;
        }
        if self.scales.is_empty() {
            return Err(InvalidParam::new(
                "scales",
                "is empty; give at least one scale in (0, 1]",
            ));
        }
        if let Some(scale) = self.scales.iter().find(|s| !(**s > 0.0 && **s <= 1.0)) {
            return Err(InvalidParam::new(
                "scales",
                format!(
                    "{scale} is outside (0, 1]; a scale is the side of the centered square \
                     as a fraction of the image side, and 0 would be an empty mask"
                ),
            ));
        }
        let mut folders: Vec<String> = self.scales.iter().map(|&s| scale_folder(s)).collect();
        folders.sort();
        if let Some(pair) = folders.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(InvalidParam::new(
                "scales",
                format!(
                    "two scales round to the output folder {}; give scales that differ in \
                     the first two decimals",
                    pair[0]
                ),
            ));
        }
        Ok(())
    }
}

/// A translate param whose value no run can use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("param `{param}`: {reason}")]
pub struct InvalidParam {
    /// The param's name in [`TranslateParams`] (`scales`, `size`, `batch`).
    pub param: &'static str,
    /// What is wrong with its value and what to give instead.
    pub reason: String,
}

impl InvalidParam {
    fn new(param: &'static str, reason: impl Into<String>) -> Self {
        Self {
            param,
            reason: reason.into(),
        }
    }
}

/// Smallest image side a generator translates: its two stride-2 convolutions leave a
/// quarter of the side, and the residual blocks' reflection padding of 1 needs at least 2.
pub const MIN_SIZE: usize = 8;

/// Largest image side translated or trained. One 64-channel f32 activation at this side takes
/// 256 MiB per image, and a layer keeps several alive for every image of a batch.
pub const MAX_SIZE: usize = 1024;

/// Checks an image side for translation, returning the reason it cannot be used.
pub fn check_size(size: usize) -> std::result::Result<(), String> {
    if size < MIN_SIZE {
        return Err(format!(
            "{size} is too small; use at least {MIN_SIZE} pixels"
        ));
    }
    if size > MAX_SIZE {
        return Err(format!(
            "{size} is too large; use at most {MAX_SIZE} pixels"
        ));
    }
    if size % 4 != 0 {
        return Err(format!(
            "{size} is not a multiple of 4, which the generator's two stride-2 stages need; \
             use a multiple of 4 such as {}",
            size / 4 * 4
        ));
    }
    Ok(())
}

/// Where a translation reads and writes.
#[derive(Debug, Clone, Copy)]
pub struct TranslatePaths<'a> {
    /// A checkpoint with `netG_A2B.*` and `netG_B2A.*` tensors.
    pub checkpoint: &'a Path,
    /// A folder of PNG or JPEG images.
    pub images: &'a Path,
    /// A mask bank folder (`masks.parquet` and `mask_NNNN.png`); centered squares when absent.
    pub masks: Option<&'a Path>,
    /// The folder receiving one subfolder per mask.
    pub out_dir: &'a Path,
}

/// What a translation run wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct TranslateSummary {
    /// Image side in pixels.
    pub size: usize,
    /// Output subfolder names, one per mask, in mask order.
    pub folders: Vec<String>,
    /// Input images translated per mask.
    pub images: usize,
}

/// One mask of the run: its output folder and its 0/1 values (`size * size`).
struct MaskJob {
    folder: String,
    values: Vec<f32>,
}

/// Translates every image of `paths.images` with every mask, on `device`.
///
/// `progress` receives the number of images written since its last call; the run stops with
/// an error as soon as `cancelled` returns true.
pub fn translate(
    params: &TranslateParams,
    paths: TranslatePaths,
    device: &Device,
    progress: &mut dyn FnMut(u64),
    cancelled: &dyn Fn() -> bool,
) -> Result<TranslateSummary> {
    params.validate().map_err(|error| Error::InvalidParams {
        reason: error.to_string(),
    })?;
    let (generator, metadata) = load_generator(paths.checkpoint, params.direction, device)?;
    let inputs = list_images(paths.images)?;
    let size = match (params.size, metadata.size) {
        (Some(size), _) => size,
        (None, Some(size)) => {
            check_size(size).map_err(|reason| Error::InvalidCheckpoint {
                path: paths.checkpoint.to_owned(),
                reason: format!(
                    "the recorded training size {reason}; give the size with --size \
                     (params: size), or import the checkpoint again with a valid --size"
                ),
            })?;
            size
        }
        (None, None) => side_of_inputs(paths.images, &inputs)?,
    };
    let jobs = mask_jobs(params, paths.masks, size)?;
    tracing::info!(
        checkpoint = %paths.checkpoint.display(),
        images = inputs.len(),
        masks = jobs.len(),
        size,
        "translating"
    );

    let mut folders = Vec::with_capacity(jobs.len());
    for job in &jobs {
        let folder = paths.out_dir.join(&job.folder);
        std::fs::create_dir_all(&folder).map_err(|source| Error::Io {
            path: folder.clone(),
            source,
        })?;
        folders.push(job.folder.clone());
    }

    for chunk in inputs.chunks(params.batch) {
        if cancelled() {
            return Err(Error::Cancelled);
        }
        let batch = load_batch(chunk, size, device)?;
        for job in &jobs {
            let translated = translate_batch(&generator, &batch, job, size, device)?;
            write_outputs(&translated, chunk, &paths.out_dir.join(&job.folder), size)?;
        }
        progress(chunk.len() as u64);
    }

    Ok(TranslateSummary {
        size,
        folders,
        images: inputs.len(),
    })
}

/// The output folder of a centered square of `scale`: `scale=0.50`.
pub fn scale_folder(scale: f64) -> String {
    format!("scale={scale:.2}")
}

/// Image files of a folder (PNG or JPEG, by extension), sorted by name; output names are their
/// stems, so two files with one stem are rejected.
pub fn list_images(folder: &Path) -> Result<Vec<PathBuf>> {
    let io_error = |source| Error::Io {
        path: folder.to_owned(),
        source,
    };
    let mut images = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let is_image = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"));
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if is_image && !hidden && path.is_file() {
            images.push(path);
        }
    }
    images.sort();
    if images.is_empty() {
        return Err(Error::InvalidInput {
            path: folder.to_owned(),
            reason: "holds no PNG or JPEG images".into(),
        });
    }
    for pair in images.windows(2) {
        if pair[0].file_stem() == pair[1].file_stem() {
            return Err(Error::InvalidInput {
                path: pair[1].clone(),
                reason: format!(
                    "has the same stem as {}, so both would be written to one output file",
                    pair[0].display()
                ),
            });
        }
    }
    Ok(images)
}

/// The side of the input images, which must be square and all alike, for checkpoints that do
/// not record a training size.
fn side_of_inputs(folder: &Path, inputs: &[PathBuf]) -> Result<usize> {
    let mut side = None;
    for path in inputs {
        let image = imaging::decode_rgb(path)?;
        let (width, height) = image.dimensions();
        if width != height || side.is_some_and(|s| s != width) {
            return Err(Error::InvalidInput {
                path: folder.to_owned(),
                reason: format!(
                    "the checkpoint records no training size and {} is {width}x{height}, so the \
                     size cannot be taken from the inputs; give it with --size (params: size)",
                    path.display()
                ),
            });
        }
        side = Some(width);
    }
    let side = side
        .map(|s| s as usize)
        .ok_or_else(|| Error::InvalidInput {
            path: folder.to_owned(),
            reason: "holds no images".into(),
        })?;
    check_size(side).map_err(|reason| Error::InvalidInput {
        path: folder.to_owned(),
        reason: format!(
            "the checkpoint records no training size and the input side {reason}; give the \
             size with --size (params: size)"
        ),
    })?;
    Ok(side)
}

fn mask_jobs(params: &TranslateParams, bank: Option<&Path>, size: usize) -> Result<Vec<MaskJob>> {
    let Some(bank_dir) = bank else {
        return Ok(params
            .scales
            .iter()
            .map(|&scale| MaskJob {
                folder: scale_folder(scale),
                values: masks::centered_square(size, scale).to_f32(),
            })
            .collect());
    };
    let bank = masks::Bank::read(bank_dir).map_err(|e| Error::InvalidInput {
        path: bank_dir.to_owned(),
        reason: format!("not a readable mask bank: {e}"),
    })?;
    bank.masks
        .iter()
        .zip(&bank.records)
        .map(|(mask, record)| {
            if mask.size() != size {
                return Err(Error::InvalidInput {
                    path: bank_dir.join(&record.file),
                    reason: format!(
                        "the mask is {0}x{0} but images are translated at {size}x{size}; \
                         write the bank at size {size}",
                        mask.size()
                    ),
                });
            }
            let folder = Path::new(&record.file)
                .file_stem()
                .map_or_else(|| record.file.clone(), |s| s.to_string_lossy().into_owned());
            Ok(MaskJob {
                folder,
                values: mask.to_f32(),
            })
        })
        .collect()
}

/// Decodes, resizes and stacks images into a `[N, 3, size, size]` tensor in [-1, 1].
fn load_batch(paths: &[PathBuf], size: usize, device: &Device) -> Result<Tensor> {
    let side = u32::try_from(size).map_err(|_| Error::InvalidParams {
        reason: format!("size {size} is too large"),
    })?;
    let mut data = Vec::with_capacity(paths.len() * 3 * size * size);
    for path in paths {
        let image = imaging::decode_rgb(path)?;
        let image = if image.dimensions() == (side, side) {
            image
        } else {
            imaging::resize_square(&image, side)
        };
        data.extend(imaging::to_tensor_data(&image));
    }
    Ok(Tensor::from_vec(
        data,
        (paths.len(), 3, size, size),
        device,
    )?)
}

/// Translates `batch` with the mask of `job`, on a thread of rayon's pool for the reason
/// [`crate::Trainer::step`] gives.
fn translate_batch(
    generator: &Generator,
    batch: &Tensor,
    job: &MaskJob,
    size: usize,
    device: &Device,
) -> Result<Tensor> {
    rayon::scope(|_| translate_batch_on_this_thread(generator, batch, job, size, device))
}

fn translate_batch_on_this_thread(
    generator: &Generator,
    batch: &Tensor,
    job: &MaskJob,
    size: usize,
    device: &Device,
) -> Result<Tensor> {
    if !generator.config().masked {
        // NOTE: a plain CycleGAN generator ignores masks, so every folder gets the same images.
        return Ok(generator.forward(batch, None)?);
    }
    let mask = Tensor::from_slice(&job.values, (1, 1, size, size), device)?
        .broadcast_as(batch.shape())?
        .contiguous()?;
    Ok(generator.forward(batch, Some(&mask))?)
}

/// Converts generator outputs to 8-bit RGB and writes `<stem>.png` for each input.
fn write_outputs(
    translated: &Tensor,
    inputs: &[PathBuf],
    folder: &Path,
    size: usize,
) -> Result<()> {
    let values = translated.flatten_all()?.to_vec1::<f32>()?;
    let plane = size * size;
    for (path, image) in inputs.iter().zip(values.chunks(3 * plane)) {
        let mut pixels = vec![0u8; 3 * plane];
        for (index, pixel) in pixels.chunks_mut(3).enumerate() {
            for (channel, value) in pixel.iter_mut().enumerate() {
                *value = to_8bit(image[channel * plane + index]);
            }
        }
        let side = size as u32;
        let Some(rgb) = imaging::RgbImage::from_raw(side, side, pixels) else {
            unreachable!("the pixel buffer holds exactly size * size RGB pixels");
        };
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        imaging::write_png(folder.join(format!("{stem}.png")), &rgb)?;
    }
    Ok(())
}

/// `clamp(floor((y*0.5 + 0.5)*255 + 0.5), 0, 255)`; generator outputs with masks are not
/// bounded to [-1, 1], hence the clamp.
pub fn to_8bit(y: f32) -> u8 {
    ((y * 0.5 + 0.5) * 255.0 + 0.5).floor().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_rounds_and_clamps() {
        assert_eq!(to_8bit(-1.0), 0);
        assert_eq!(to_8bit(1.0), 255);
        assert_eq!(to_8bit(1.7), 255);
        assert_eq!(to_8bit(-3.0), 0);
        // (0 * 0.5 + 0.5) * 255 + 0.5 = 128.0 exactly.
        assert_eq!(to_8bit(0.0), 128);
        assert_eq!(to_8bit(f32::NAN), 0);
    }

    #[test]
    fn scale_folders_have_two_decimals() {
        assert_eq!(scale_folder(0.5), "scale=0.50");
        assert_eq!(scale_folder(1.0), "scale=1.00");
    }
}
