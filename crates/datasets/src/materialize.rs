//! Building a dataset output: the normalised layout plus `manifest.parquet`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::digest::ContentDigest;
use crate::idx::mnist_file;
use crate::layout::FOLDERS;
use crate::manifest::{write_manifest, ManifestRow, MANIFEST_FILE};
use crate::params::{DatasetKind, DatasetParams};
use crate::{download, read_mnist, read_svhn, DatasetError, Progress, SourceDataset};

/// Images per split and digit domain when `limit_per_split` is not set, as in the MNIST-SVHN
/// code of Mask CycleGAN's authors.
const DIGITS_PER_SPLIT: usize = 1000;

/// Unreadable images whose errors a failed build lists; the message gives the full count.
const UNREADABLE_EXAMPLES: usize = 3;

const MNIST_IMAGES: &str = "train-images-idx3-ubyte";
const MNIST_LABELS: &str = "train-labels-idx1-ubyte";

/// The result of a dataset build.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The content digest of the source (see [`ContentDigest`]).
    pub digest: String,
    /// Images written per layout folder (`trainA`, ...).
    pub images_per_folder: BTreeMap<String, usize>,
    /// Images skipped as unreadable (only with `skip_unreadable`).
    pub skipped: usize,
}

/// Writes the dataset described by `params` into `out_dir`: `trainA/ trainB/ testA/ testB/`
/// and `manifest.parquet`. Downloads the source first when it is missing, and checks the
/// content digest against `params.digest`.
pub fn materialize(
    params: &DatasetParams,
    out_dir: &Path,
    progress: &dyn Progress,
) -> Result<Summary, DatasetError> {
    for folder in FOLDERS {
        let path = out_dir.join(folder.name());
        std::fs::create_dir_all(&path).map_err(|source| DatasetError::Io { path, source })?;
    }

    let (digest, rows, skipped) = match params.kind() {
        DatasetKind::CycleGan => copy_images(params, out_dir, progress)?,
        DatasetKind::Mnist | DatasetKind::MnistSvhn => build_digits(params, out_dir, progress)?,
    };

    let source_name = params.archive_path().display().to_string();
    match &params.digest {
        Some(expected) if !expected.eq_ignore_ascii_case(&digest) => {
            return Err(DatasetError::DigestMismatch {
                source_name,
                expected: expected.clone(),
                actual: digest,
            });
        }
        Some(_) => tracing::debug!(dataset = %params.name, %digest, "content digest verified"),
        None => tracing::info!(
            dataset = %params.name,
            %digest,
            "content digest computed; set `digest` to pin this dataset"
        ),
    }

    write_manifest(&out_dir.join(MANIFEST_FILE), &rows)?;
    let mut images_per_folder: BTreeMap<String, usize> =
        FOLDERS.iter().map(|folder| (folder.name(), 0)).collect();
    for row in &rows {
        *images_per_folder
            .entry(format!("{}{}", row.split, row.domain))
            .or_default() += 1;
    }
    Ok(Summary {
        digest,
        images_per_folder,
        skipped,
    })
}

/// Downloads the source to its archive path when it does not exist yet.
fn ensure_source(
    params: &DatasetParams,
    path: &Path,
    url: Option<String>,
    progress: &dyn Progress,
) -> Result<(), DatasetError> {
    if path.exists() {
        return Ok(());
    }
    let Some(url) = url else {
        return Err(DatasetError::MissingSource {
            name: params.name.clone(),
            path: path.to_owned(),
        });
    };
    download(&url, path, progress)
}

/// Copies the images of a CycleGAN-style source, bytes and names unchanged, and returns the
/// source's content digest, the manifest rows and the number of skipped images.
fn copy_images(
    params: &DatasetParams,
    out_dir: &Path,
    progress: &dyn Progress,
) -> Result<(String, Vec<ManifestRow>, usize), DatasetError> {
    let archive = params.archive_path();
    ensure_source(params, &archive, params.download_url(), progress)?;
    let mut source = SourceDataset::open(&archive)?;

    let count = source.images().len();
    progress.set_message(&format!("reading {}", archive.display()));
    progress.set_length(count as u64);

    let mut digest = ContentDigest::new();
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut skipped = 0;
    let mut unreadable = Vec::new();
    for index in 0..count {
        if progress.cancelled() {
            return Err(DatasetError::Cancelled);
        }
        let bytes = source.read(index)?;
        let image = source.images()[index].clone();
        digest.add(&image.relative_name(), &bytes);
        progress.inc(1);

        let folder_count = taken.entry(image.folder.name()).or_default();
        if params
            .limit_per_split
            .is_some_and(|limit| *folder_count >= limit)
        {
            continue;
        }

        let name = source.describe(index);
        let decoded = match imaging::decode(&bytes, &name) {
            Ok(decoded) => decoded,
            Err(error) if params.skip_unreadable => {
                tracing::warn!(%error, "skipping an unreadable image");
                skipped += 1;
                continue;
            }
            Err(error) => {
                // The rest is still read, so that one run reports every unreadable image.
                unreadable.push(error);
                continue;
            }
        };
        *folder_count += 1;

        let path = out_dir.join(image.relative_name());
        std::fs::write(&path, &bytes).map_err(|source| DatasetError::Io {
            path: path.clone(),
            source,
        })?;
        rows.push(ManifestRow {
            split: image.folder.split.as_str().to_owned(),
            domain: image.folder.domain.as_str().to_owned(),
            file: image.file.clone(),
            width: decoded.rgb.width(),
            height: decoded.rgb.height(),
            channels: decoded.source_channels,
            bytes: bytes.len() as u64,
            blake3: blake3::hash(&bytes).to_hex().to_string(),
        });
    }
    if !unreadable.is_empty() {
        return Err(DatasetError::UnreadableImages {
            source_name: archive.display().to_string(),
            count: unreadable.len(),
            total: count,
            examples: unreadable
                .iter()
                .take(UNREADABLE_EXAMPLES)
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    if skipped > 0 {
        tracing::warn!(skipped, source = %archive.display(), "unreadable images skipped");
    }
    Ok((digest.finish(), rows, skipped))
}

/// Builds MNIST or MNIST-SVHN PNGs and returns the digest of the source files' contents
/// (decompressed IDX files, and the SVHN `.mat` file), the manifest rows and 0 skipped.
fn build_digits(
    params: &DatasetParams,
    out_dir: &Path,
    progress: &dyn Progress,
) -> Result<(String, Vec<ManifestRow>, usize), DatasetError> {
    let folder = params.archive_path();
    let base_url = params.download_url();
    for stem in [MNIST_IMAGES, MNIST_LABELS] {
        let url = base_url
            .as_ref()
            .map(|base| format!("{}/{stem}.gz", base.trim_end_matches('/')));
        if !mnist_file(&folder, stem).exists() {
            ensure_source(params, &folder.join(format!("{stem}.gz")), url, progress)?;
        }
    }
    let images_path = mnist_file(&folder, MNIST_IMAGES);
    let labels_path = mnist_file(&folder, MNIST_LABELS);
    let (images, _labels) = read_mnist(&images_path, &labels_path)?;

    let mut digest = ContentDigest::new();
    digest.add(MNIST_IMAGES, &crate::idx::read_maybe_gzip(&images_path)?);
    digest.add(MNIST_LABELS, &crate::idx::read_maybe_gzip(&labels_path)?);

    let count = params.limit_per_split.unwrap_or(DIGITS_PER_SPLIT);
    let rows = match params.kind() {
        DatasetKind::MnistSvhn => {
            let svhn_path = params.svhn_path();
            ensure_source(
                params,
                &svhn_path,
                Some(crate::SVHN_URL.to_owned()),
                progress,
            )?;
            let svhn_bytes = std::fs::read(&svhn_path).map_err(|source| DatasetError::Io {
                path: svhn_path.clone(),
                source,
            })?;
            digest.add("train_32x32.mat", &svhn_bytes);
            drop(svhn_bytes);
            let svhn = read_svhn(&svhn_path)?;
            progress.set_length(4 * count as u64);
            crate::write_mnist_svhn(&images, &svhn, out_dir, count, progress)?
        }
        _ => {
            progress.set_length(2 * count as u64);
            crate::write_mnist(&images, out_dir, count, progress)?
        }
    };
    Ok((digest.finish(), rows, 0))
}
