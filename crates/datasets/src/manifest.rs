//! `manifest.parquet`: one row per image of a dataset output.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt32Array, UInt64Array, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;

use crate::DatasetError;

/// The manifest's file name inside a dataset output.
pub const MANIFEST_FILE: &str = "manifest.parquet";

/// One image of a dataset output.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestRow {
    /// `train` or `test`.
    pub split: String,
    /// `A` or `B`.
    pub domain: String,
    pub file: String,
    pub width: u32,
    pub height: u32,
    /// Channels stored in the file: 1 gray, 3 colour, 4 CMYK or with alpha.
    pub channels: u8,
    pub bytes: u64,
    /// blake3 of the file's bytes, 64 hex digits.
    pub blake3: String,
}

/// Writes the rows as a Parquet table with columns split, domain, file, width, height,
/// channels, bytes and blake3.
pub fn write_manifest(path: &Path, rows: &[ManifestRow]) -> Result<(), DatasetError> {
    let manifest_error = |detail: String| DatasetError::Manifest {
        path: path.to_owned(),
        detail,
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("split", DataType::Utf8, false),
        Field::new("domain", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("width", DataType::UInt32, false),
        Field::new("height", DataType::UInt32, false),
        Field::new("channels", DataType::UInt8, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("blake3", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|row| &row.split),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|row| &row.domain),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|row| &row.file),
        )),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|row| row.width),
        )),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|row| row.height),
        )),
        Arc::new(UInt8Array::from_iter_values(
            rows.iter().map(|row| row.channels),
        )),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|row| row.bytes),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|row| &row.blake3),
        )),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|error| manifest_error(error.to_string()))?;

    let file = std::fs::File::create(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut writer = ArrowWriter::try_new(file, schema, None)
        .map_err(|error| manifest_error(error.to_string()))?;
    writer
        .write(&batch)
        .map_err(|error| manifest_error(error.to_string()))?;
    writer
        .close()
        .map_err(|error| manifest_error(error.to_string()))?;
    Ok(())
}
