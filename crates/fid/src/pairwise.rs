//! FID and KID between every requested pair of labelled feature sets, and the `fid.parquet`
//! table that holds them.
//!
//! This is the whole computation of the `fid` stage: the stage only turns its input list into
//! [`LabelledFeatures`] and calls [`compare_pairs`] and [`write_parquet`].

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde::{Deserialize, Serialize};

use crate::error::{FidError, Result};
use crate::feature_table::FeatureTable;
use crate::frechet::{frechet_distance_with_rows, CenteredRows};
use crate::kid::kid;
use crate::statistics::Statistics;

/// Parameters of the `fid` stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FidParams {
    /// Label pairs `[a, b]` to compare. Default: every unordered pair, in input order.
    #[serde(default)]
    pub pairs: Option<Vec<[String; 2]>>,
    /// One label per feature set, in input order (the `features` list, then the `real` list,
    /// each sorted by stage name). Default: the last component of each input's stage name
    /// (see [`stage_label`]).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Whether to compute KID beside FID. Default: true.
    #[serde(default = "default_kid")]
    pub kid: bool,
    /// Number of random KID subsets. Default: 100.
    #[serde(default = "default_kid_subsets")]
    pub kid_subsets: usize,
    /// Rows per KID subset, capped by the smaller set. Default: 100.
    #[serde(default = "default_kid_subset_size")]
    pub kid_subset_size: usize,
    /// Seed of the KID subset draws. Default: 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// TTUR compatibility: keep only the first `floor(n / N) * N` rows of each set, as TTUR's
    /// batches of `N` (50) did. Default: none, every row is used.
    #[serde(default)]
    pub drop_last_batch: Option<usize>,
}

fn default_kid() -> bool {
    true
}

fn default_kid_subsets() -> usize {
    100
}

fn default_kid_subset_size() -> usize {
    100
}

fn default_seed() -> u64 {
    1
}

impl Default for FidParams {
    fn default() -> Self {
        Self {
            pairs: None,
            labels: None,
            kid: default_kid(),
            kid_subsets: default_kid_subsets(),
            kid_subset_size: default_kid_subset_size(),
            seed: default_seed(),
            drop_last_batch: None,
        }
    }
}

/// A feature set with the label it has in the output table.
#[derive(Debug, Clone)]
pub struct LabelledFeatures {
    pub label: String,
    pub table: FeatureTable,
}

/// One row of `fid.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct PairResult {
    pub a: String,
    pub b: String,
    pub fid: f64,
    /// `None` when KID was not requested.
    pub kid_mean: Option<f64>,
    pub kid_std: Option<f64>,
    /// Rows of each set that entered the statistics (after `drop_last_batch`).
    pub n_a: usize,
    pub n_b: usize,
    /// Whether the eps offset on the covariance diagonals was needed.
    pub eps_offset_used: bool,
}

/// Returns the label of an input from its stage name: the last dot-separated component, where
/// a dot between two digits belongs to a number (`features.A.scale=0.50` gives `scale=0.50`).
pub fn stage_label(stage_name: &str) -> &str {
    let bytes = stage_name.as_bytes();
    let split = (1..bytes.len().saturating_sub(1)).rev().find(|&i| {
        bytes[i] == b'.' && !(bytes[i - 1].is_ascii_digit() && bytes[i + 1].is_ascii_digit())
    });
    match split {
        Some(i) => &stage_name[i + 1..],
        None => stage_name,
    }
}

/// Keeps the first `floor(n / batch) * batch` rows of `table`, as TTUR's batched extraction
/// did, and returns the number kept.
pub fn drop_last_batch(table: &mut FeatureTable, batch: usize) -> Result<usize> {
    if batch == 0 {
        return Err(FidError::InvalidParams(
            "drop_last_batch must be at least 1".into(),
        ));
    }
    let kept = table.len() / batch * batch;
    table.truncate(kept);
    Ok(kept)
}

/// Computes FID (and KID when `params.kid`) for every requested pair of `sets`.
pub fn compare_pairs(sets: Vec<LabelledFeatures>, params: &FidParams) -> Result<Vec<PairResult>> {
    let mut sets = sets;
    if let Some(labels) = &params.labels {
        if labels.len() != sets.len() {
            return Err(FidError::InvalidParams(format!(
                "{} labels for {} inputs; give one label per input, in stage-name order",
                labels.len(),
                sets.len()
            )));
        }
        for (set, label) in sets.iter_mut().zip(labels) {
            set.label = label.clone();
        }
    }
    if let Some(batch) = params.drop_last_batch {
        for set in &mut sets {
            let total = set.table.len();
            let kept = drop_last_batch(&mut set.table, batch)?;
            tracing::info!(label = %set.label, total, kept, "dropped the last partial batch");
            if kept < 2 && total >= 2 {
                return Err(FidError::InvalidParams(format!(
                    "`drop_last_batch` {batch} keeps {kept} of the {total} rows of feature set \
                     `{}`, and FID needs at least 2; lower it, or remove it to use every row",
                    set.label
                )));
            }
        }
    }

    let index = label_index(&sets)?;
    let pairs = resolve_pairs(params.pairs.as_deref(), &sets, &index)?;

    let statistics = sets
        .iter()
        .map(|set| {
            Statistics::from_table(&set.table).map_err(|error| {
                FidError::InvalidInput(format!("feature set `{}`: {error}", set.label))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let rows: Vec<CenteredRows> = sets
        .iter()
        .zip(&statistics)
        .map(|(set, statistics)| CenteredRows::new(&set.table.features, statistics))
        .collect();

    pairs
        .into_iter()
        .map(|(i, j)| {
            let (a, b) = (&sets[i], &sets[j]);
            let frechet =
                frechet_distance_with_rows(&statistics[i], &rows[i], &statistics[j], &rows[j])?;
            let kid_result = if params.kid {
                Some(kid(
                    &a.table.features,
                    &b.table.features,
                    a.table.dim,
                    params.kid_subsets,
                    params.kid_subset_size,
                    params.seed,
                )?)
            } else {
                None
            };
            tracing::info!(a = %a.label, b = %b.label, fid = frechet.value, "compared feature sets");
            Ok(PairResult {
                a: a.label.clone(),
                b: b.label.clone(),
                fid: frechet.value,
                kid_mean: kid_result.map(|k| k.mean),
                kid_std: kid_result.map(|k| k.std),
                n_a: a.table.len(),
                n_b: b.table.len(),
                eps_offset_used: frechet.eps_offset_used,
            })
        })
        .collect()
}

fn label_index(sets: &[LabelledFeatures]) -> Result<HashMap<&str, usize>> {
    let mut index = HashMap::new();
    for (position, set) in sets.iter().enumerate() {
        if index.insert(set.label.as_str(), position).is_some() {
            return Err(FidError::InvalidParams(format!(
                "two inputs have the label `{}`; set distinct `labels`",
                set.label
            )));
        }
    }
    Ok(index)
}

fn resolve_pairs(
    requested: Option<&[[String; 2]]>,
    sets: &[LabelledFeatures],
    index: &HashMap<&str, usize>,
) -> Result<Vec<(usize, usize)>> {
    let Some(requested) = requested else {
        let count = sets.len();
        return Ok((0..count)
            .flat_map(|i| (i + 1..count).map(move |j| (i, j)))
            .collect());
    };
    let lookup = |label: &str| {
        index.get(label).copied().ok_or_else(|| {
            let mut known: Vec<&str> = sets.iter().map(|set| set.label.as_str()).collect();
            known.sort_unstable();
            FidError::InvalidParams(format!(
                "pair label `{label}` matches no input; the labels are {}",
                known.join(", ")
            ))
        })
    };
    requested
        .iter()
        .map(|[a, b]| Ok((lookup(a)?, lookup(b)?)))
        .collect()
}

/// Writes the pair results as `fid.parquet`: columns `a`, `b` (utf8), `fid`, `kid_mean`,
/// `kid_std` (float64, KID columns null without KID), `n_a`, `n_b` (int64) and
/// `eps_offset_used` (bool).
pub fn write_parquet(path: &Path, results: &[PairResult]) -> Result<()> {
    let table_error = |message: String| FidError::Table {
        action: "write",
        path: path.to_path_buf(),
        message,
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Utf8, false),
        Field::new("b", DataType::Utf8, false),
        Field::new("fid", DataType::Float64, false),
        Field::new("kid_mean", DataType::Float64, true),
        Field::new("kid_std", DataType::Float64, true),
        Field::new("n_a", DataType::Int64, false),
        Field::new("n_b", DataType::Int64, false),
        Field::new("eps_offset_used", DataType::Boolean, false),
    ]));
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(results.iter().map(|r| &r.a))),
        Arc::new(StringArray::from_iter_values(results.iter().map(|r| &r.b))),
        Arc::new(Float64Array::from_iter_values(
            results.iter().map(|r| r.fid),
        )),
        Arc::new(Float64Array::from_iter(results.iter().map(|r| r.kid_mean))),
        Arc::new(Float64Array::from_iter(results.iter().map(|r| r.kid_std))),
        Arc::new(Int64Array::from_iter_values(
            results.iter().map(|r| count(r.n_a)),
        )),
        Arc::new(Int64Array::from_iter_values(
            results.iter().map(|r| count(r.n_b)),
        )),
        Arc::new(BooleanArray::from_iter(
            results.iter().map(|r| Some(r.eps_offset_used)),
        )),
    ];
    let batch =
        RecordBatch::try_new(schema.clone(), columns).map_err(|e| table_error(e.to_string()))?;

    let file = File::create(path).map_err(|error| FidError::io(path, error))?;
    let mut writer =
        ArrowWriter::try_new(file, schema, None).map_err(|e| table_error(e.to_string()))?;
    writer
        .write(&batch)
        .map_err(|e| table_error(e.to_string()))?;
    writer.close().map_err(|e| table_error(e.to_string()))?;
    Ok(())
}

/// Reads a table written by [`write_parquet`].
pub fn read_parquet(path: &Path) -> Result<Vec<PairResult>> {
    let invalid = |reason: String| FidError::invalid_file(path, "fid.parquet", reason);
    let file = File::open(path).map_err(|error| FidError::io(path, error))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|builder| builder.build())
        .map_err(|error| invalid(error.to_string()))?;

    let mut results = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|error| invalid(error.to_string()))?;
        let strings = |name: &str| column::<StringArray>(&batch, name).map_err(&invalid);
        let floats = |name: &str| column::<Float64Array>(&batch, name).map_err(&invalid);
        let counts = |name: &str| column::<Int64Array>(&batch, name).map_err(&invalid);
        let (a, b) = (strings("a")?, strings("b")?);
        let (fid, kid_mean, kid_std) = (floats("fid")?, floats("kid_mean")?, floats("kid_std")?);
        let (n_a, n_b) = (counts("n_a")?, counts("n_b")?);
        let eps: &BooleanArray = column(&batch, "eps_offset_used").map_err(&invalid)?;
        let optional =
            |array: &Float64Array, row: usize| array.is_valid(row).then(|| array.value(row));
        for row in 0..batch.num_rows() {
            results.push(PairResult {
                a: a.value(row).to_string(),
                b: b.value(row).to_string(),
                fid: fid.value(row),
                kid_mean: optional(kid_mean, row),
                kid_std: optional(kid_std, row),
                n_a: usize::try_from(n_a.value(row)).unwrap_or(0),
                n_b: usize::try_from(n_b.value(row)).unwrap_or(0),
                eps_offset_used: eps.value(row),
            });
        }
    }
    Ok(results)
}

fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
) -> std::result::Result<&'a T, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("missing column `{name}`"))?
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| format!("column `{name}` has an unexpected type"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_label_keeps_decimal_values() {
        assert_eq!(stage_label("features.A.scale=0.50"), "scale=0.50");
        assert_eq!(stage_label("features.centered-square.B.train"), "train");
        assert_eq!(stage_label("test"), "test");
        assert_eq!(stage_label("features.size.1.5"), "1.5");
    }

    #[test]
    fn drop_last_batch_keeps_whole_batches() {
        let mut table = FeatureTable::new(Vec::new(), vec![0.0; 120 * 2], 2).unwrap();
        assert_eq!(drop_last_batch(&mut table, 50).unwrap(), 100);
        assert_eq!(table.len(), 100);
    }

    #[test]
    fn params_default_when_empty() {
        let params: FidParams = serde_json::from_str("{}").unwrap();
        assert_eq!(params, FidParams::default());
        assert!(params.kid);
        assert_eq!(params.kid_subsets, 100);
        assert_eq!(params.seed, 1);
    }

    fn labelled(label: &str, rows: usize, shift: f32) -> LabelledFeatures {
        let dim = 4;
        let features = (0..rows * dim)
            .map(|i| ((i * 37 % 11) as f32) * 0.3 + shift * (i % dim) as f32)
            .collect();
        LabelledFeatures {
            label: label.to_string(),
            table: FeatureTable::new(Vec::new(), features, dim).unwrap(),
        }
    }

    #[test]
    fn default_pairs_cover_each_pair_once() {
        let sets = vec![
            labelled("x", 20, 0.0),
            labelled("y", 30, 1.0),
            labelled("z", 25, 2.0),
        ];
        let params = FidParams {
            kid_subset_size: 10,
            kid_subsets: 5,
            ..FidParams::default()
        };
        let results = compare_pairs(sets, &params).unwrap();
        let pairs: Vec<(&str, &str)> = results
            .iter()
            .map(|r| (r.a.as_str(), r.b.as_str()))
            .collect();
        assert_eq!(pairs, vec![("x", "y"), ("x", "z"), ("y", "z")]);
        assert_eq!((results[0].n_a, results[0].n_b), (20, 30));
        assert!(results.iter().all(|r| r.kid_mean.is_some() && r.fid > 0.0));
    }

    #[test]
    fn emptying_drop_last_batch_names_param_and_set() {
        let sets = vec![labelled("scale=0.50", 6, 0.0), labelled("test", 60, 1.0)];
        let params = FidParams {
            kid: false,
            drop_last_batch: Some(50),
            ..FidParams::default()
        };
        let error = compare_pairs(sets, &params).unwrap_err().to_string();
        assert!(error.contains("`drop_last_batch` 50"), "{error}");
        assert!(error.contains("keeps 0 of the 6 rows"), "{error}");
        assert!(error.contains("`scale=0.50`"), "{error}");
    }

    #[test]
    fn non_finite_value_names_image() {
        let mut features = vec![0.5f32; 3 * 2];
        features[3] = f32::NAN;
        let names = ["a.png", "b.png", "c.png"].map(String::from).to_vec();
        let table = FeatureTable::new(names, features, 2).unwrap();
        let error = table.check_finite().unwrap_err().to_string();
        assert!(
            error.contains("value 1 of row 1 (image b.png) is NaN"),
            "{error}"
        );
    }

    #[test]
    fn requested_pairs_and_labels_apply() {
        let sets = vec![labelled("x", 120, 0.0), labelled("y", 140, 1.0)];
        let params = FidParams {
            labels: Some(vec!["test".into(), "train".into()]),
            pairs: Some(vec![["train".into(), "test".into()]]),
            kid: false,
            drop_last_batch: Some(50),
            ..FidParams::default()
        };
        let results = compare_pairs(sets, &params).unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(
            (results[0].a.as_str(), results[0].b.as_str()),
            ("train", "test")
        );
        assert_eq!((results[0].n_a, results[0].n_b), (100, 100));
        assert_eq!(results[0].kid_mean, None);
    }

    #[test]
    fn unknown_pair_label_is_rejected() {
        let sets = vec![labelled("x", 10, 0.0), labelled("y", 10, 1.0)];
        let params = FidParams {
            pairs: Some(vec![["x".into(), "w".into()]]),
            ..FidParams::default()
        };
        let error = compare_pairs(sets, &params).unwrap_err();
        assert!(error.to_string().contains("`w`"), "{error}");
    }

    #[test]
    fn parquet_roundtrip_keeps_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fid.parquet");
        let rows = vec![
            PairResult {
                a: "scale=0.50".into(),
                b: "test".into(),
                fid: 101.17,
                kid_mean: Some(0.05),
                kid_std: Some(0.01),
                n_a: 140,
                n_b: 140,
                eps_offset_used: false,
            },
            PairResult {
                a: "train".into(),
                b: "test".into(),
                fid: 30.3,
                kid_mean: None,
                kid_std: None,
                n_a: 1334,
                n_b: 140,
                eps_offset_used: true,
            },
        ];
        write_parquet(&path, &rows).unwrap();
        assert_eq!(read_parquet(&path).unwrap(), rows);
    }

    #[test]
    fn unknown_param_is_rejected() {
        assert!(serde_json::from_str::<FidParams>(r#"{"kid_subset": 3}"#).is_err());
    }
}
