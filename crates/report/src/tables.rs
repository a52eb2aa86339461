//! Report tables, each written as CSV and as parquet from one arrow record batch.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt8Array};
use arrow::datatypes::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::{find_matrix, ClaimCheck, PairwiseMatrix, ReportError, Side, SET_LABELS};

/// Builds the long table of FID values beside the paper's: one row per pair below the
/// diagonal of every (training scheme, side) in either set.
pub fn fid_table(ours: &[PairwiseMatrix], paper: &[PairwiseMatrix]) -> RecordBatch {
    let mut rows = Vec::new();
    for (training_masks, side) in matrix_keys(&[ours, paper]) {
        let ours = find_matrix(ours, &training_masks, side);
        let paper = find_matrix(paper, &training_masks, side);
        for (row, column) in lower_pairs() {
            rows.push((
                training_masks.clone(),
                side,
                row,
                column,
                ours.and_then(|matrix| matrix.at(row, column)),
                paper.and_then(|matrix| matrix.at(row, column)),
            ));
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("training_masks", strings(rows.iter().map(|r| r.0.clone()))),
        ("side", strings(rows.iter().map(|r| r.1.to_string()))),
        (
            "row",
            strings(rows.iter().map(|r| SET_LABELS[r.2].to_string())),
        ),
        (
            "column",
            strings(rows.iter().map(|r| SET_LABELS[r.3].to_string())),
        ),
        (
            "fid",
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.4))),
        ),
        (
            "paper_fid",
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.5))),
        ),
    ];
    batch(columns)
}

/// Builds the long table of one score (such as KID) with no paper values.
pub fn score_table(matrices: &[PairwiseMatrix], score: &str) -> RecordBatch {
    let mut rows = Vec::new();
    for (training_masks, side) in matrix_keys(&[matrices]) {
        let matrix = find_matrix(matrices, &training_masks, side);
        for (row, column) in lower_pairs() {
            let value = matrix.and_then(|matrix| matrix.at(row, column));
            rows.push((training_masks.clone(), side, row, column, value));
        }
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("training_masks", strings(rows.iter().map(|r| r.0.clone()))),
        ("side", strings(rows.iter().map(|r| r.1.to_string()))),
        (
            "row",
            strings(rows.iter().map(|r| SET_LABELS[r.2].to_string())),
        ),
        (
            "column",
            strings(rows.iter().map(|r| SET_LABELS[r.3].to_string())),
        ),
        (
            score,
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.4))),
        ),
    ];
    batch(columns)
}

/// Builds the table of claim verdicts with their deciding comparisons.
pub fn claims_table(claims: &[ClaimCheck]) -> RecordBatch {
    let deciding = claims.iter().map(|claim| {
        let comparisons: Vec<String> = claim.comparisons.iter().map(ToString::to_string).collect();
        comparisons.join("; ")
    });
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "claim",
            Arc::new(UInt8Array::from_iter_values(
                claims.iter().map(|c| c.number),
            )),
        ),
        (
            "verdict",
            strings(claims.iter().map(|c| c.verdict().to_string())),
        ),
        (
            "statement",
            strings(claims.iter().map(|c| c.statement.to_string())),
        ),
        ("deciding_values", strings(deciding)),
    ];
    batch(columns)
}

/// Writes `batch` as `dir/name.csv` and `dir/name.parquet`, returning both paths.
pub fn write_table(
    batch: &RecordBatch,
    dir: &Path,
    name: &str,
) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::io(dir, source))?;

    let csv_path = dir.join(format!("{name}.csv"));
    let file = File::create(&csv_path).map_err(|source| ReportError::io(&csv_path, source))?;
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(file);
    writer
        .write(batch)
        .map_err(|error| ReportError::table(&csv_path, error))?;

    let parquet_path = dir.join(format!("{name}.parquet"));
    let file =
        File::create(&parquet_path).map_err(|source| ReportError::io(&parquet_path, source))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties))
        .map_err(|error| ReportError::table(&parquet_path, error))?;
    writer
        .write(batch)
        .map_err(|error| ReportError::table(&parquet_path, error))?;
    writer
        .close()
        .map_err(|error| ReportError::table(&parquet_path, error))?;
    Ok(vec![csv_path, parquet_path])
}

/// Lists the (training scheme, side) pairs present in any of `sets`, in first-seen order.
pub(crate) fn matrix_keys(sets: &[&[PairwiseMatrix]]) -> Vec<(String, Side)> {
    let mut keys: Vec<(String, Side)> = Vec::new();
    for matrix in sets.iter().flat_map(|set| set.iter()) {
        let key = (matrix.training_masks.clone(), matrix.side);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

fn lower_pairs() -> impl Iterator<Item = (usize, usize)> {
    (1..5).flat_map(|row| (0..row).map(move |column| (row, column)))
}

fn strings(values: impl Iterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, array)| array).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .expect("every column has one value per row")
}
