//! The `fid` kind: pairwise FID and KID among named lists of feature files, as `fid.parquet`.
//!
//! The input `features` is usually a wildcard reference such as
//! `features.centered-square.A.*`, which the engine resolves to `(stage name, path)` entries
//! sorted by name; the optional input `real` adds a second list (the real train and test sets
//! of the same side, shared by every scheme). Each entry's label is the last component of its
//! stage name (`features.centered-square.A.scale=0.50` gives `scale=0.50`), or the `labels`
//! param in input order (`features` first, then `real`). With the paper's five sets per side
//! and scheme (`scale=0.50`, `scale=0.80`, `scale=1.00`, `test`, `train`), the default pairs
//! give the ten distinct entries of the symmetric 5x5 matrix.

use std::path::{Path, PathBuf};

use anyhow::Context;
use dag::{Input, InputSpec, Resources, StageContext, StageKind};
use fid::pairwise::{compare_pairs, stage_label, write_parquet, FidParams, LabelledFeatures};
use fid::FeatureTable;

/// File written into the output directory.
pub const FID_OUTPUT: &str = "fid.parquet";

/// The `fid` stage kind.
pub struct Fid;

impl StageKind for Fid {
    fn name(&self) -> &'static str {
        "fid"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::FID
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        let canonical = dag::check_params::<FidParams>(params)?;
        let typed: FidParams =
            serde_json::from_value(canonical.clone()).map_err(|error| error.to_string())?;
        if typed.drop_last_batch == Some(0) {
            return Err("`drop_last_batch` must be at least 1; remove it to use every row".into());
        }
        if typed.kid_subsets == 0 {
            return Err("`kid_subsets` must be at least 1".into());
        }
        // The unbiased MMD estimate divides by m (m - 1), so a subset needs two rows.
        if typed.kid_subset_size < 2 {
            return Err("`kid_subset_size` must be at least 2".into());
        }
        Ok(canonical)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        const INPUTS: &[InputSpec] = &[
            InputSpec::required("features"),
            InputSpec::optional("real"),
        ];
        INPUTS
    }

    fn resources(&self, _params: &serde_json::Value) -> Resources {
        // faer's products and eigendecompositions use every core through rayon.
        Resources {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            gpus: 0,
        }
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: FidParams = ctx.params()?;
        let entries: Vec<(String, PathBuf)> = ["features", "real"]
            .into_iter()
            .filter_map(|name| ctx.input(name))
            .flat_map(Input::entries)
            .map(|(stage, path)| (stage.to_string(), path.to_path_buf()))
            .collect();
        if entries.len() < 2 {
            anyhow::bail!(
                "stage {} needs at least two feature sets in `features`, got {}; use a \
                 wildcard reference such as `features.A.*`",
                ctx.stage(),
                entries.len()
            );
        }

        ctx.progress().set_length(entries.len() as u64 + 1);
        let mut sets = Vec::with_capacity(entries.len());
        for (stage, path) in &entries {
            ctx.check_cancelled()?;
            let file = feature_file(path);
            let table = FeatureTable::read(&file)?;
            check_feature_set(&table, &file, stage)?;
            sets.push(LabelledFeatures {
                label: stage_label(stage).to_string(),
                table,
            });
            ctx.progress().inc(1);
        }

        let results = compare_pairs(sets, &params)?;
        write_parquet(&ctx.out_dir().join(FID_OUTPUT), &results)?;
        ctx.progress().inc(1);
        Ok(())
    }
}

/// Checks that the features of input `stage`, read from `file`, can enter a covariance: at
/// least 2 rows, every value finite.
fn check_feature_set(table: &FeatureTable, file: &Path, stage: &str) -> anyhow::Result<()> {
    if table.len() < 2 {
        anyhow::bail!(
            "FID needs at least 2 feature rows, but {} (input {stage}) has {}; give that \
             stage a folder of 2 or more images",
            file.display(),
            table.len()
        );
    }
    table
        .check_finite()
        .with_context(|| format!("{} (input {stage})", file.display()))
}

/// The feature file of an input: the `features.arrow` of a `features` stage's output tree, or
/// the file itself for a `stage:path` reference.
fn feature_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(crate::features::FEATURES_OUTPUT)
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use dag::{Device, Progress, StageContextParts};

    use super::*;

    fn write_features(dir: &Path, name: &str, rows: usize, shift: f32) -> PathBuf {
        let stage_dir = dir.join(name);
        std::fs::create_dir_all(&stage_dir).unwrap();
        let dim = 8;
        let features = (0..rows * dim)
            .map(|i| ((i * 31 % 17) as f32) * 0.2 + shift * (i % dim) as f32)
            .collect();
        let files = (0..rows).map(|i| format!("{i:04}.png")).collect();
        FeatureTable::new(files, features, dim)
            .unwrap()
            .write_arrow(&stage_dir.join(crate::features::FEATURES_OUTPUT))
            .unwrap();
        stage_dir
    }

    #[test]
    fn stage_writes_every_pair_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let fakes = ["features.cs.A.scale=0.50", "features.cs.A.scale=1.00"]
            .map(|name| (name.to_string(), write_features(dir.path(), name, 30, 1.0)));
        let reals = ["features-real.A.test", "features-real.A.train"]
            .map(|name| (name.to_string(), write_features(dir.path(), name, 40, 0.5)));
        let out_dir = dir.path().join("out");
        std::fs::create_dir_all(&out_dir).unwrap();

        let params = Fid
            .check_params(&serde_json::json!({"kid_subsets": 4, "kid_subset_size": 10}))
            .unwrap();
        let mut ctx = StageContext::new(StageContextParts {
            stage: "fid.cs.A".into(),
            key: "0".into(),
            params,
            inputs: vec![
                ("features".into(), Input::List(fakes.to_vec())),
                ("real".into(), Input::List(reals.to_vec())),
            ],
            out_dir: out_dir.clone(),
            scratch_dir: dir.path().join("scratch"),
            log_path: dir.path().join("run.log"),
            device: Device::Cpu,
            threads: 1,
            progress: Progress::hidden(),
            cancelled: Arc::new(AtomicBool::new(false)),
        });
        Fid.run(&mut ctx).unwrap();

        let rows = fid::pairwise::read_parquet(&out_dir.join(FID_OUTPUT)).unwrap();
        let pairs: Vec<(&str, &str)> = rows.iter().map(|r| (r.a.as_str(), r.b.as_str())).collect();
        assert_eq!(
            pairs,
            vec![
                ("scale=0.50", "scale=1.00"),
                ("scale=0.50", "test"),
                ("scale=0.50", "train"),
                ("scale=1.00", "test"),
                ("scale=1.00", "train"),
                ("test", "train"),
            ]
        );
        assert!(rows.iter().all(|row| row.kid_mean.is_some()));
        assert_eq!((rows[1].n_a, rows[1].n_b), (30, 40));
    }

    #[test]
    fn non_finite_feature_names_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("features.arrow");
        let mut features = vec![0.25f32; 3 * 4];
        features[5] = f32::INFINITY;
        let names = ["a.png", "b.png", "c.png"].map(String::from).to_vec();
        let table = FeatureTable::new(names, features, 4).unwrap();

        let error = check_feature_set(&table, &file, "features.A.test").unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains(&*file.to_string_lossy()), "{message}");
        assert!(message.contains("features.A.test"), "{message}");
        assert!(message.contains("(image b.png) is inf"), "{message}");
    }

    #[test]
    fn single_row_names_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("features.arrow");
        let table = FeatureTable::new(vec!["a.png".into()], vec![0.5; 4], 4).unwrap();

        let message = check_feature_set(&table, &file, "features.A.test")
            .unwrap_err()
            .to_string();
        assert!(message.contains(&*file.to_string_lossy()), "{message}");
        assert!(message.contains("at least 2 feature rows"), "{message}");
        assert!(message.contains("has 1;"), "{message}");
    }

    #[test]
    fn unusable_counts_are_rejected() {
        let cases = [
            (serde_json::json!({"drop_last_batch": 0}), "`drop_last_batch`"),
            (serde_json::json!({"kid_subsets": 0}), "`kid_subsets`"),
            (serde_json::json!({"kid_subset_size": 1}), "`kid_subset_size`"),
        ];
        for (params, expected) in cases {
            let error = Fid.check_params(&params).unwrap_err();
            assert!(error.contains(expected), "{params}: {error}");
        }
        assert!(Fid.check_params(&serde_json::json!({"drop_last_batch": 50})).is_ok());
    }

    #[test]
    fn unknown_param_is_rejected() {
        let error = Fid.check_params(&serde_json::json!({"subsets": 3})).unwrap_err();
        assert!(error.contains("subsets"), "{error}");
    }
}
