//! Mask banks: N masks plus a table of each mask's parameters, reproducible from a seed.
//!
//! Mask `i` of a random scheme draws from its own ChaCha8 stream (the seed selects the
//! key, `i` the stream), so a bank's bytes do not depend on how many threads made it or
//! in which order.

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::bank_table;
use crate::{
    binary_attention, centered_square, round, BankParams, Mask, MaskError, Preset, Rect, Scheme,
};

/// File name of the parameter table inside a bank directory.
pub const TABLE_FILE: &str = "masks.parquet";

/// The parameters that made one mask of a bank; fields of other schemes are `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskRecord {
    pub index: u32,
    /// Image file name inside the bank directory, `mask_NNNN.png`.
    pub file: String,
    pub scheme: Scheme,
    /// Fraction of masked pixels.
    pub coverage: f64,
    pub scale: Option<f64>,
    pub radius: Option<f64>,
    pub preset: Option<Preset>,
    /// Whether a multi-rectangle draw gave the full mask.
    pub full: Option<bool>,
    pub target_rects: Option<u32>,
    pub summed_area: Option<f64>,
    /// Multi-rectangle rectangles in drawing order; empty for other schemes.
    pub rects: Vec<Rect>,
    /// Attention map file name (binary-attention only).
    pub source: Option<String>,
}

/// A generated or loaded bank: masks and their records, in index order.
#[derive(Debug, Clone, PartialEq)]
pub struct Bank {
    pub masks: Vec<Mask>,
    pub records: Vec<MaskRecord>,
}

/// File name of mask `index`.
pub fn mask_file_name(index: usize) -> String {
    format!("mask_{index:04}.png")
}

impl Bank {
    /// Generates the bank that `params` describe.
    pub fn generate(params: &BankParams) -> Result<Bank, MaskError> {
        params.validate()?;
        let size = params.size as usize;
        let entries: Vec<(Mask, MaskRecord)> = match params.scheme {
            Scheme::CenteredSquare => params
                .scales()
                .iter()
                .enumerate()
                .map(|(index, &scale)| {
                    let mask = centered_square(size, scale);
                    let mut record = base_record(index, Scheme::CenteredSquare, &mask);
                    record.scale = Some(scale);
                    (mask, record)
                })
                .collect(),
            Scheme::Round => params
                .radii()
                .iter()
                .enumerate()
                .map(|(index, &radius)| {
                    let mask = round(size, radius);
                    let mut record = base_record(index, Scheme::Round, &mask);
                    record.radius = Some(radius);
                    (mask, record)
                })
                .collect(),
            Scheme::MultiRectangles => {
                let settings = params.multi_rectangles()?;
                (0..params.count as usize)
                    .into_par_iter()
                    .map(|index| {
                        let mut rng = mask_rng(params.seed, index);
                        let sample = settings.sample(size, &mut rng);
                        let mut record = base_record(index, Scheme::MultiRectangles, &sample.mask);
                        record.preset = Some(settings.preset);
                        record.full = Some(sample.full);
                        record.target_rects = Some(sample.target_rects);
                        record.summed_area = Some(sample.summed_area);
                        record.rects = sample.rects;
                        (sample.mask, record)
                    })
                    .collect()
            }
            Scheme::BinaryAttention => {
                let dir = params.maps.as_deref().expect("validate requires maps");
                let threshold = params.threshold();
                binary_attention::attention_map_paths(dir)?
                    .par_iter()
                    .enumerate()
                    .map(|(index, path)| {
                        let map = binary_attention::read_attention_map(path)?;
                        let mask = binary_attention::binary_attention(&map, size, threshold);
                        let mut record = base_record(index, Scheme::BinaryAttention, &mask);
                        record.source = path
                            .file_name()
                            .map(|name| name.to_string_lossy().into_owned());
                        Ok((mask, record))
                    })
                    .collect::<Result<_, MaskError>>()?
            }
        };
        let (masks, records) = entries.into_iter().unzip();
        Ok(Bank { masks, records })
    }

    /// Writes `mask_NNNN.png` (8-bit, values 0 and 255) and `masks.parquet` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), MaskError> {
        tracing::debug!(masks = self.masks.len(), dir = %dir.display(), "writing mask bank");
        std::fs::create_dir_all(dir).map_err(|source| MaskError::io(dir, source))?;
        self.masks
            .par_iter()
            .zip(&self.records)
            .try_for_each(|(mask, record)| {
                let path = dir.join(&record.file);
                let bytes = mask.to_png().map_err(|source| MaskError::Image {
                    path: path.clone(),
                    source,
                })?;
                std::fs::write(&path, bytes).map_err(|source| MaskError::io(&path, source))
            })?;
        bank_table::write_table(&dir.join(TABLE_FILE), &self.records)
    }

    /// Reads a bank written by [`Bank::write`].
    pub fn read(dir: &Path) -> Result<Bank, MaskError> {
        let records = bank_table::read_table(&dir.join(TABLE_FILE))?;
        let masks = records
            .par_iter()
            .map(|record| Mask::read_png(&dir.join(&record.file)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Bank { masks, records })
    }

    /// Paths of the mask images of a bank in `dir`, in index order.
    pub fn mask_paths(&self, dir: &Path) -> Vec<PathBuf> {
        self.records
            .iter()
            .map(|record| dir.join(&record.file))
            .collect()
    }
}

/// The RNG of mask `index`: the seed picks the key and the index the stream.
pub fn mask_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

fn base_record(index: usize, scheme: Scheme, mask: &Mask) -> MaskRecord {
    MaskRecord {
        index: index as u32,
        file: mask_file_name(index),
        scheme,
        coverage: mask.coverage(),
        scale: None,
        radius: None,
        preset: None,
        full: None,
        target_rects: None,
        summed_area: None,
        rects: Vec::new(),
        source: None,
    }
}
