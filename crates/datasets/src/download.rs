//! Downloading a dataset file, resuming a partial download with an HTTP Range request.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::{DatasetError, Progress};

/// The folder address of the MNIST IDX files (the mirror torchvision uses; the original is
/// `http://yann.lecun.com/exdb/mnist/`).
pub const MNIST_URL: &str = "https://ossci-datasets.s3.amazonaws.com/mnist/";

/// SVHN's cropped-digit training file.
pub const SVHN_URL: &str = "http://ufldl.stanford.edu/housenumbers/train_32x32.mat";

/// The CycleGAN collection's unpaired sets, downloadable by name.
const CYCLEGAN_NAMES: [&str; 10] = [
    "apple2orange",
    "summer2winter_yosemite",
    "horse2zebra",
    "monet2photo",
    "cezanne2photo",
    "ukiyoe2photo",
    "vangogh2photo",
    "maps",
    "facades",
    "iphone2dslr_flower",
];

/// Returns the official address of a CycleGAN collection archive, or `None` for other names.
pub fn known_archive_url(name: &str) -> Option<String> {
    CYCLEGAN_NAMES.contains(&name).then(|| {
        format!("https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/{name}.zip")
    })
}

/// Downloads `url` to `target`. Bytes arrive in `<target>.part`, and a later call resumes that
/// file with a Range request. The part file is renamed to `target` once the length the server
/// announced is reached. The caller verifies the content by its digest.
pub fn download(url: &str, target: &Path, progress: &dyn Progress) -> Result<(), DatasetError> {
    let download_error = |detail: String| DatasetError::Download {
        url: url.to_owned(),
        detail,
    };
    let part = part_path(target);
    if let Some(folder) = target
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder).map_err(|source| DatasetError::Io {
            path: folder.to_owned(),
            source,
        })?;
    }
    let existing = std::fs::metadata(&part).map(|meta| meta.len()).unwrap_or(0);

    let mut request = ureq::get(url);
    if existing > 0 {
        request = request.header("Range", &format!("bytes={existing}-"));
    }
    let response = request
        .call()
        .map_err(|error| download_error(error.to_string()))?;
    let resumed = response.status() == 206;
    let remaining: Option<u64> = response
        .headers()
        .get("content-length")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    let start = if resumed { existing } else { 0 };
    tracing::info!(url, target = %target.display(), resumed_at = start, "downloading");

    progress.set_message(&format!("downloading {url}"));
    if let Some(remaining) = remaining {
        progress.set_length(start + remaining);
    }
    progress.inc(start);

    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&part)
        .map_err(|source| DatasetError::Io {
            path: part.clone(),
            source,
        })?;
    let mut reader = response.into_body().into_reader();
    let mut buffer = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        if progress.cancelled() {
            return Err(DatasetError::Cancelled);
        }
        let count = reader
            .read(&mut buffer)
            .map_err(|error| download_error(error.to_string()))?;
        if count == 0 {
            break;
        }
        file.write_all(&buffer[..count])
            .map_err(|source| DatasetError::Io {
                path: part.clone(),
                source,
            })?;
        received += count as u64;
        progress.inc(count as u64);
    }
    file.sync_all().map_err(|source| DatasetError::Io {
        path: part.clone(),
        source,
    })?;

    if let Some(remaining) = remaining {
        if received != remaining {
            return Err(download_error(format!(
                "received {received} of {remaining} bytes"
            )));
        }
    }
    std::fs::rename(&part, target).map_err(|source| DatasetError::Io {
        path: target.to_owned(),
        source,
    })
}

fn part_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}
