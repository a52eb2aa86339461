//! Atomic file replacement: write a sibling temporary file, fsync it, rename it over the target
//! and fsync the directory, so a crash leaves either the old file or the new one.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use crate::train_error::TrainError;

/// Writes `path` through `fill` so that readers never see a partial file.
pub fn write_atomically<F>(path: &Path, fill: F) -> Result<(), TrainError>
where
    F: FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
{
    let io_error = |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{file_name}.partial"));
    let file = File::create(&temporary).map_err(io_error)?;
    let mut writer = BufWriter::new(file);
    fill(&mut writer).map_err(io_error)?;
    let file = writer
        .into_inner()
        .map_err(|error| io_error(error.into_error()))?;
    file.sync_all().map_err(io_error)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io_error)?;
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        // Persist the rename itself; opening a directory for fsync works on Unix only.
        if let Ok(directory) = File::open(parent) {
            let _ = directory.sync_all();
        }
    }
    Ok(())
}
