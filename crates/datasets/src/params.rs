//! The parameters of a dataset, shared by the `dataset` stage and library callers.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::download::known_archive_url;

/// The source of a dataset and how much of it to take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetParams {
    /// A CycleGAN collection name (`horse2zebra`, `monet2photo`, ...), `mnist` or
    /// `mnist-svhn`. Other names need `archive` or `url`.
    pub name: String,

    /// A local zip archive or folder (for `mnist` and `mnist-svhn`, the folder holding the IDX
    /// files). Default: `data/<name>.zip`, or `data/mnist` for the digit sets. The `dataset`
    /// stage resolves a relative path against the pipeline file's folder before calling this
    /// crate, which reads it as given. When it exists it is used without network access.
    #[serde(default)]
    pub archive: Option<PathBuf>,

    /// The download address of `archive`, used when it is missing (for the digit sets, the
    /// folder address of the IDX files). Default: the official address for known names.
    #[serde(default)]
    pub url: Option<String>,

    /// The expected content digest (64 hex digits); a mismatch is an error. Default: none,
    /// and the computed digest is logged so that it can be pinned.
    #[serde(default)]
    pub digest: Option<String>,

    /// Take only the first K images, in name order, of each split and domain. Default: all
    /// for CycleGAN sets; 1000 for the digit sets, as in the authors' MNIST-SVHN code. At
    /// least 1: a limit of 0 would leave every split empty.
    #[serde(default, deserialize_with = "positive_limit")]
    pub limit_per_split: Option<usize>,

    /// Skip images that fail to decode, with a warning and a count, instead of failing.
    /// Default: false.
    #[serde(default)]
    pub skip_unreadable: bool,

    /// For `mnist-svhn`: SVHN's `train_32x32.mat`. Default: `data/svhn/train_32x32.mat`.
    #[serde(default)]
    pub svhn: Option<PathBuf>,
}

/// Reads `limit_per_split`, rejecting 0 at validation rather than when training finds the
/// splits empty.
fn positive_limit<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<usize>, D::Error> {
    let limit = Option::<usize>::deserialize(deserializer)?;
    if limit == Some(0) {
        return Err(serde::de::Error::custom(
            "`limit_per_split` must be at least 1; remove it to take every image",
        ));
    }
    Ok(limit)
}

impl DatasetParams {
    /// Parameters for `name` with every default.
    pub fn named(name: &str) -> DatasetParams {
        DatasetParams {
            name: name.to_owned(),
            archive: None,
            url: None,
            digest: None,
            limit_per_split: None,
            skip_unreadable: false,
            svhn: None,
        }
    }

    pub fn kind(&self) -> DatasetKind {
        match self.name.as_str() {
            "mnist" => DatasetKind::Mnist,
            "mnist-svhn" => DatasetKind::MnistSvhn,
            _ => DatasetKind::CycleGan,
        }
    }

    /// Returns the archive or folder path, with the default filled in.
    pub fn archive_path(&self) -> PathBuf {
        if let Some(archive) = &self.archive {
            return archive.clone();
        }
        match self.kind() {
            DatasetKind::CycleGan => PathBuf::from(format!("data/{}.zip", self.name)),
            DatasetKind::Mnist | DatasetKind::MnistSvhn => PathBuf::from("data/mnist"),
        }
    }

    /// Returns the download address, with the default filled in, or `None` for an unknown
    /// name without `url`.
    pub fn download_url(&self) -> Option<String> {
        if let Some(url) = &self.url {
            return Some(url.clone());
        }
        match self.kind() {
            DatasetKind::CycleGan => known_archive_url(&self.name),
            DatasetKind::Mnist | DatasetKind::MnistSvhn => Some(crate::MNIST_URL.to_owned()),
        }
    }

    /// Returns the SVHN file path, with the default filled in.
    pub fn svhn_path(&self) -> PathBuf {
        self.svhn
            .clone()
            .unwrap_or_else(|| PathBuf::from("data/svhn/train_32x32.mat"))
    }
}

/// The reading method of a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// Image files in a CycleGAN or `train/A`-style layout, in a zip or a folder.
    CycleGan,
    /// MNIST alone, as domain A (B stays empty): 28x28 gray PNGs.
    Mnist,
    /// MNIST (A) and SVHN (B) at 32x32 RGB, as the authors' MNIST-SVHN experiment.
    MnistSvhn,
}
