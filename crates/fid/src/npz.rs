//! NumPy `.npz` archives: a zip of `.npy` files, one per named array (`np.savez`).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::error::{FidError, Result};
use crate::npy::{decode_npy, NpyArray};

/// The largest array read from an archive (1 GiB), so that a corrupt or hostile size field
/// cannot make the reader allocate without bound; a 2048 x 2048 float64 covariance is 32 MiB.
const MAX_ARRAY_BYTES: u64 = 1 << 30;

/// Reads the array stored as `<name>.npy` in the `.npz` archive at `path`.
pub fn read_npz_array(path: &Path, name: &str) -> Result<NpyArray> {
    let invalid = |reason: String| FidError::invalid_file(path, ".npz", reason);
    let file = File::open(path).map_err(|error| FidError::io(path, error))?;
    let mut archive = ZipArchive::new(file).map_err(|error| {
        invalid(format!(
            "not a zip archive ({error}); write it with np.savez"
        ))
    })?;

    let entry_name = format!("{name}.npy");
    let mut entry = archive
        .by_name(&entry_name)
        .map_err(|_| invalid(format!("no array named `{name}` (entry {entry_name})")))?;
    if entry.size() > MAX_ARRAY_BYTES {
        return Err(invalid(format!(
            "array `{name}` claims {} bytes, more than the {MAX_ARRAY_BYTES} this reader accepts",
            entry.size()
        )));
    }

    let mut bytes = Vec::new();
    (&mut entry)
        .take(MAX_ARRAY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| invalid(format!("cannot read array `{name}`: {error}")))?;
    decode_npy(&bytes).map_err(|reason| invalid(format!("array `{name}`: {reason}")))
}

/// Writes `arrays` (name and encoded `.npy` bytes) as an uncompressed `.npz` archive, as
/// `np.savez` does.
pub fn write_npz(path: &Path, arrays: &[(&str, Vec<u8>)]) -> Result<()> {
    let write_error = |error: zip::result::ZipError| FidError::Table {
        action: "write",
        path: path.to_path_buf(),
        message: error.to_string(),
    };
    let file = File::create(path).map_err(|error| FidError::io(path, error))?;
    let mut writer = ZipWriter::new(BufWriter::new(file));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, bytes) in arrays {
        writer
            .start_file(format!("{name}.npy"), options)
            .map_err(write_error)?;
        writer
            .write_all(bytes)
            .map_err(|error| FidError::io(path, error))?;
    }
    let mut inner = writer.finish().map_err(write_error)?;
    inner.flush().map_err(|error| FidError::io(path, error))
}
