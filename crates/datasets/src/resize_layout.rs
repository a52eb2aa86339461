//! Resizing every image of a dataset output: the `resize` stage's work.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::layout::FOLDERS;
use crate::{DatasetError, Progress};

/// Parameters of a resize.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeParams {
    /// The output side in pixels; every image becomes `size` x `size` (no default).
    pub size: u32,
}

/// Decodes every image of the four layout folders of `input_dir`, resizes it to a square with
/// Pillow's bicubic filter and writes it as an 8-bit RGB PNG named `<stem>.png` into the same
/// folder of `out_dir`. Returns the number of images written.
pub fn resize_layout(
    input_dir: &Path,
    out_dir: &Path,
    params: &ResizeParams,
    progress: &dyn Progress,
) -> Result<usize, DatasetError> {
    if params.size == 0 {
        return Err(DatasetError::InvalidInput {
            path: out_dir.to_owned(),
            detail: "resize size must be at least 1 pixel".to_owned(),
        });
    }

    let mut work = Vec::new();
    for folder in FOLDERS {
        let source_folder = input_dir.join(folder.name());
        let target_folder = out_dir.join(folder.name());
        std::fs::create_dir_all(&target_folder).map_err(|source| DatasetError::Io {
            path: target_folder.clone(),
            source,
        })?;
        if !source_folder.is_dir() {
            continue;
        }
        let mut stems = BTreeSet::new();
        for file in sorted_files(&source_folder)? {
            let Some(stem) = Path::new(&file).file_stem().and_then(|stem| stem.to_str()) else {
                continue;
            };
            if !stems.insert(stem.to_owned()) {
                return Err(DatasetError::InvalidInput {
                    path: source_folder.join(&file),
                    detail: format!("another file in this folder also becomes {stem}.png"),
                });
            }
            let target = target_folder.join(format!("{stem}.png"));
            work.push((source_folder.join(&file), target));
        }
    }

    progress.set_length(work.len() as u64);
    for (source, target) in &work {
        let image = imaging::decode_rgb(source)?;
        let resized = imaging::resize_square(&image, params.size);
        imaging::write_png(target, &resized)?;
        progress.inc(1);
    }
    Ok(work.len())
}

fn sorted_files(folder: &Path) -> Result<Vec<String>, DatasetError> {
    let io_error = |source| DatasetError::Io {
        path: folder.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        if !entry.file_type().map_err(io_error)?.is_file() {
            continue;
        }
        match entry.file_name().into_string() {
            Ok(name) if !name.starts_with('.') => files.push(name),
            Ok(_) => {}
            Err(name) => tracing::warn!(?name, "skipping a file whose name is not UTF-8"),
        }
    }
    files.sort();
    Ok(files)
}
