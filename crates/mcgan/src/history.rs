//! Loss history of a training run, one row per iteration, stored as a parquet table with the
//! columns `iteration`, every loss term (see [`LOSS_TERMS`]), `lr` and `seconds`.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float32Array, Float64Array, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;

use crate::atomic_file::write_atomically;
use crate::losses::{LossValues, LOSS_TERMS};
use crate::train_error::TrainError;

/// One iteration's row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryRow {
    /// 1-based iteration number.
    pub iteration: u64,
    /// Loss terms of that iteration.
    pub losses: LossValues,
    /// Learning rate used.
    pub lr: f64,
    /// Seconds since the start of the run, including earlier attempts before a resume.
    pub seconds: f64,
}

/// The rows recorded so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LossHistory {
    rows: Vec<HistoryRow>,
}

fn schema() -> Arc<Schema> {
    let mut fields = vec![Field::new("iteration", DataType::UInt64, false)];
    fields.extend(
        LOSS_TERMS
            .iter()
            .map(|name| Field::new(*name, DataType::Float32, false)),
    );
    fields.push(Field::new("lr", DataType::Float64, false));
    fields.push(Field::new("seconds", DataType::Float64, false));
    Arc::new(Schema::new(fields))
}

impl LossHistory {
    /// Appends a row.
    pub fn push(&mut self, row: HistoryRow) {
        self.rows.push(row);
    }

    /// Rows in iteration order.
    pub fn rows(&self) -> &[HistoryRow] {
        &self.rows
    }

    /// Drops rows after `iteration`, as when resuming from a checkpoint written then.
    pub fn truncate_after(&mut self, iteration: u64) {
        self.rows.retain(|row| row.iteration <= iteration);
    }

    /// Builds the table as one record batch.
    pub fn to_record_batch(&self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt64Array::from_iter_values(
            self.rows.iter().map(|row| row.iteration),
        ))];
        for index in 0..LOSS_TERMS.len() {
            columns.push(Arc::new(Float32Array::from_iter_values(
                self.rows.iter().map(|row| row.losses.to_array()[index]),
            )));
        }
        columns.push(Arc::new(Float64Array::from_iter_values(
            self.rows.iter().map(|row| row.lr),
        )));
        columns.push(Arc::new(Float64Array::from_iter_values(
            self.rows.iter().map(|row| row.seconds),
        )));
        RecordBatch::try_new(schema(), columns)
    }

    /// Writes the table to `path` atomically (a temporary file renamed over it).
    pub fn write(&self, path: &Path) -> Result<(), TrainError> {
        let batch = self
            .to_record_batch()
            .map_err(|source| TrainError::History {
                path: path.to_path_buf(),
                message: source.to_string(),
            })?;
        write_atomically(path, |file| {
            let mut writer =
                ArrowWriter::try_new(file, batch.schema(), None).map_err(std::io::Error::other)?;
            writer.write(&batch).map_err(std::io::Error::other)?;
            writer.close().map_err(std::io::Error::other)?;
            Ok(())
        })
    }

    /// Reads a table written by [`LossHistory::write`].
    pub fn read(path: &Path) -> Result<Self, TrainError> {
        let invalid = |message: String| TrainError::History {
            path: path.to_path_buf(),
            message,
        };
        let file = File::open(path).map_err(|source| TrainError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|builder| builder.build())
            .map_err(|error| invalid(error.to_string()))?;
        let mut history = Self::default();
        for batch in reader {
            let batch = batch.map_err(|error| invalid(error.to_string()))?;
            history.append_batch(&batch).map_err(invalid)?;
        }
        Ok(history)
    }

    fn append_batch(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let iterations = column::<UInt64Array>(batch, "iteration")?;
        let terms = LOSS_TERMS
            .iter()
            .map(|name| column::<Float32Array>(batch, name))
            .collect::<Result<Vec<_>, _>>()?;
        let lr = column::<Float64Array>(batch, "lr")?;
        let seconds = column::<Float64Array>(batch, "seconds")?;
        for row in 0..batch.num_rows() {
            let value = |index: usize| terms[index].value(row);
            self.rows.push(HistoryRow {
                iteration: iterations.value(row),
                losses: LossValues {
                    identity_a: value(0),
                    identity_b: value(1),
                    gan_a2b: value(2),
                    gan_b2a: value(3),
                    cycle_aba: value(4),
                    cycle_bab: value(5),
                    generator: value(6),
                    d_a_full: value(7),
                    d_a_mask: value(8),
                    d_a: value(9),
                    d_b_full: value(10),
                    d_b_mask: value(11),
                    d_b: value(12),
                },
                lr: lr.value(row),
                seconds: seconds.value(row),
            });
        }
        Ok(())
    }
}

fn column<'a, T: Array + 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
    batch
        .column_by_name(name)
        .and_then(|array| array.as_any().downcast_ref::<T>())
        .ok_or_else(|| format!("column {name} is missing or has the wrong type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_round_trips_through_parquet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("losses.parquet");
        let mut history = LossHistory::default();
        for iteration in 1..=3 {
            history.push(HistoryRow {
                iteration,
                losses: LossValues {
                    cycle_aba: iteration as f32,
                    d_b: -1.5,
                    ..Default::default()
                },
                lr: 2e-4,
                seconds: 0.25 * iteration as f64,
            });
        }
        history.write(&path).unwrap();
        let read = LossHistory::read(&path).unwrap();
        assert_eq!(read, history);
    }

    #[test]
    fn truncate_drops_later_rows() {
        let mut history = LossHistory::default();
        for iteration in 1..=5 {
            history.push(HistoryRow {
                iteration,
                losses: LossValues::default(),
                lr: 1.0,
                seconds: 0.0,
            });
        }
        history.truncate_after(3);
        assert_eq!(history.rows().len(), 3);
    }
}
