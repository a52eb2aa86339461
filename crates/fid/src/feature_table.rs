//! Feature tables: one Inception feature vector per image, as Arrow IPC or `.npy` files.
//!
//! The Arrow IPC file has two columns, `file` (utf8, the image's file name) and `features`
//! (fixed-size list of float32, 2048 for the FID network), one row per image in the order the
//! images were read. The `.npy` form is pytorch-fid's: a float32 `[N, d]` array without file
//! names.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, FixedSizeListArray, Float32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;

use crate::error::{FidError, Result};
use crate::npy::{decode_npy, encode_npy, NpyData};

/// The feature vectors of a set of images, row-major `n x dim`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureTable {
    /// The file name of each row; empty when the source has none (a `.npy` file).
    pub files: Vec<String>,
    /// `n * dim` values, row after row.
    pub features: Vec<f32>,
    /// Length of one feature vector.
    pub dim: usize,
}

impl FeatureTable {
    /// Builds a table, checking that `features` holds whole rows and that `files` names each
    /// row (or is empty).
    pub fn new(files: Vec<String>, features: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 || features.len() % dim != 0 {
            return Err(FidError::InvalidInput(format!(
                "{} feature values do not form rows of length {dim}",
                features.len()
            )));
        }
        let rows = features.len() / dim;
        if !files.is_empty() && files.len() != rows {
            return Err(FidError::InvalidInput(format!(
                "{} file names for {rows} feature rows",
                files.len()
            )));
        }
        Ok(Self {
            files,
            features,
            dim,
        })
    }

    /// Number of rows (images).
    pub fn len(&self) -> usize {
        self.features.len() / self.dim.max(1)
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The feature vector of row `index`.
    pub fn row(&self, index: usize) -> &[f32] {
        &self.features[index * self.dim..(index + 1) * self.dim]
    }

    /// Checks that every value is finite; the error names the first bad row and, when the
    /// table has file names, its image.
    pub fn check_finite(&self) -> Result<()> {
        let Some(position) = self.features.iter().position(|value| !value.is_finite()) else {
            return Ok(());
        };
        let row = position / self.dim.max(1);
        let image = match self.files.get(row) {
            Some(file) => format!(" (image {file})"),
            None => String::new(),
        };
        Err(FidError::InvalidInput(format!(
            "feature value {} of row {row}{image} is {}; extract the features again",
            position % self.dim.max(1),
            self.features[position]
        )))
    }

    /// Keeps the first `rows` rows.
    pub fn truncate(&mut self, rows: usize) {
        self.features.truncate(rows * self.dim);
        if !self.files.is_empty() {
            self.files.truncate(rows);
        }
    }

    /// Reads a `.arrow` or `.npy` feature file, chosen by extension.
    pub fn read(path: &Path) -> Result<Self> {
        match extension(path).as_deref() {
            Some("arrow") => Self::read_arrow(path),
            Some("npy") => Self::read_npy(path),
            _ => Err(FidError::UnsupportedExtension {
                path: path.to_path_buf(),
                expected: ".arrow or .npy",
            }),
        }
    }

    /// Writes a `.arrow` or `.npy` feature file, chosen by extension.
    pub fn write(&self, path: &Path) -> Result<()> {
        match extension(path).as_deref() {
            Some("arrow") => self.write_arrow(path),
            Some("npy") => self.write_npy(path),
            _ => Err(FidError::UnsupportedExtension {
                path: path.to_path_buf(),
                expected: ".arrow or .npy",
            }),
        }
    }

    /// Writes the table as an Arrow IPC file with columns `file` and `features`.
    pub fn write_arrow(&self, path: &Path) -> Result<()> {
        let table_error = |error: arrow::error::ArrowError| FidError::Table {
            action: "write",
            path: path.to_path_buf(),
            message: error.to_string(),
        };
        if self.files.len() != self.len() {
            return Err(FidError::InvalidInput(format!(
                "cannot write {} without a file name per row ({} names, {} rows)",
                path.display(),
                self.files.len(),
                self.len()
            )));
        }
        let list_size = i32::try_from(self.dim).map_err(|_| {
            FidError::InvalidInput(format!("feature dimension {} is too large", self.dim))
        })?;

        let item = Arc::new(Field::new_list_field(DataType::Float32, false));
        let schema = Arc::new(Schema::new(vec![
            Field::new("file", DataType::Utf8, false),
            Field::new(
                "features",
                DataType::FixedSizeList(item.clone(), list_size),
                false,
            ),
        ]));
        let files = StringArray::from_iter_values(&self.files);
        let values = Float32Array::from(self.features.clone());
        let features = FixedSizeListArray::try_new(item, list_size, Arc::new(values), None)
            .map_err(table_error)?;
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(files), Arc::new(features)])
            .map_err(table_error)?;

        let file = File::create(path).map_err(|error| FidError::io(path, error))?;
        let mut writer = FileWriter::try_new(BufWriter::new(file), &schema).map_err(table_error)?;
        writer.write(&batch).map_err(table_error)?;
        writer.finish().map_err(table_error)?;
        Ok(())
    }

    /// Reads an Arrow IPC file written by [`write_arrow`](Self::write_arrow) (or any file
    /// with the same two columns).
    pub fn read_arrow(path: &Path) -> Result<Self> {
        let invalid = |reason: String| FidError::invalid_file(path, "Arrow feature", reason);
        let file = File::open(path).map_err(|error| FidError::io(path, error))?;
        let reader = FileReader::try_new(file, None)
            .map_err(|error| invalid(format!("{error}; write it with `pipeline features`")))?;

        let mut files = Vec::new();
        let mut features = Vec::new();
        let mut dim = None;
        for batch in reader {
            let batch = batch.map_err(|error| invalid(error.to_string()))?;
            let batch_dim = append_batch(&batch, &mut files, &mut features).map_err(invalid)?;
            if *dim.get_or_insert(batch_dim) != batch_dim {
                return Err(invalid("record batches differ in feature length".into()));
            }
        }
        let dim = dim.ok_or_else(|| invalid("the file holds no record batch".into()))?;
        Self::new(files, features, dim).map_err(|error| invalid(error.to_string()))
    }

    /// Writes the features as a float32 `[N, d]` `.npy` array (file names are not stored).
    pub fn write_npy(&self, path: &Path) -> Result<()> {
        let bytes = encode_npy(&[self.len(), self.dim], &self.features);
        std::fs::write(path, bytes).map_err(|error| FidError::io(path, error))
    }

    /// Reads a `[N, d]` `.npy` array of float32 (or float64, rounded to float32) features.
    pub fn read_npy(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|error| FidError::io(path, error))?;
        let array =
            decode_npy(&bytes).map_err(|reason| FidError::invalid_file(path, ".npy", reason))?;
        let [rows, dim] = array.shape[..] else {
            return Err(FidError::invalid_file(
                path,
                ".npy",
                format!("shape {:?} is not [images, features]", array.shape),
            ));
        };
        let features = match array.data {
            NpyData::F32(values) => values,
            NpyData::F64(values) => values.into_iter().map(|value| value as f32).collect(),
        };
        if dim == 0 || rows == 0 {
            return Err(FidError::invalid_file(path, ".npy", "the array is empty"));
        }
        Self::new(Vec::new(), features, dim)
    }
}

/// Appends one record batch's rows and returns its feature length.
fn append_batch(
    batch: &RecordBatch,
    files: &mut Vec<String>,
    features: &mut Vec<f32>,
) -> std::result::Result<usize, String> {
    let file_column = batch
        .column_by_name("file")
        .ok_or("missing column `file`")?
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("column `file` is not utf8")?;
    let feature_column = batch
        .column_by_name("features")
        .ok_or("missing column `features`")?
        .as_any()
        .downcast_ref::<FixedSizeListArray>()
        .ok_or("column `features` is not a fixed-size list")?;
    if file_column.null_count() > 0 || feature_column.null_count() > 0 {
        return Err("null values in column `file` or `features`".into());
    }

    let dim = usize::try_from(feature_column.value_length())
        .map_err(|_| "negative list length in column `features`")?;
    for row in 0..batch.num_rows() {
        let vector = feature_column.value(row);
        let values = vector
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or("column `features` does not hold float32 values")?;
        if values.null_count() > 0 {
            return Err(format!("null feature value in row {row}"));
        }
        features.extend_from_slice(values.values());
        files.push(file_column.value(row).to_string());
    }
    Ok(dim)
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|extension| extension.to_str())
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_table() -> FeatureTable {
        let features: Vec<f32> = (0..3 * 4).map(|i| i as f32 * 0.5 - 1.0).collect();
        let files = vec!["a.png".into(), "b.jpg".into(), "c.png".into()];
        FeatureTable::new(files, features, 4).unwrap()
    }

    #[test]
    fn arrow_roundtrip_keeps_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.arrow");
        let table = sample_table();
        table.write(&path).unwrap();
        assert_eq!(FeatureTable::read(&path).unwrap(), table);
    }

    #[test]
    fn npy_roundtrip_keeps_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.npy");
        let table = sample_table();
        table.write(&path).unwrap();
        let read = FeatureTable::read(&path).unwrap();
        assert_eq!(read.features, table.features);
        assert_eq!(read.dim, 4);
        assert!(read.files.is_empty());
    }

    #[test]
    fn truncated_arrow_file_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("features.arrow");
        sample_table().write(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for end in [0, 6, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..end]).unwrap();
            let error = FeatureTable::read(&path).unwrap_err();
            assert!(error.to_string().contains("features.arrow"), "{error}");
        }
    }

    #[test]
    fn unknown_extension_is_error() {
        let error = FeatureTable::read(Path::new("features.csv")).unwrap_err();
        assert!(matches!(error, FidError::UnsupportedExtension { .. }));
    }

    #[test]
    fn partial_rows_are_rejected() {
        assert!(FeatureTable::new(Vec::new(), vec![1.0; 5], 2).is_err());
    }
}
