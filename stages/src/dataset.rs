//! The `dataset` kind: a dataset in the normalised layout, `trainA/ trainB/ testA/ testB/`
//! with the original image files (or PNGs for the digit sets) and `manifest.parquet`.
//!
//! The params are [`datasets::DatasetParams`]: `name`, `archive`, `url`, `digest`,
//! `limit_per_split`, `skip_unreadable` and `svhn`. `archive` and `svhn` (and their defaults,
//! `data/...`) are relative to the pipeline file's folder. A missing archive is downloaded to
//! its `archive` path, resuming an earlier partial download.
//!
//! The archive's and SVHN file's contents are part of the stage key. A key must be known
//! before the stage runs, so a missing archive is keyed as missing, together with the params
//! (`name`, which fixes the official address, `url` and `digest`). After the download the
//! archive exists and its content enters the key, so the stage runs once more, from the local
//! file; its output is the same, so its dependants stay fresh.

use dag::{InputSpec, StageContext, StageKind};
use datasets::DatasetParams;

/// The `dataset` stage kind.
pub struct Dataset;

impl StageKind for Dataset {
    fn name(&self) -> &'static str {
        "dataset"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::DATASET
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        dag::check_params::<DatasetParams>(params)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        &[]
    }

    fn external_paths(&self, params: &serde_json::Value) -> Vec<std::path::PathBuf> {
        let Ok(params) = serde_json::from_value::<DatasetParams>(params.clone()) else {
            return Vec::new();
        };
        let mut paths = vec![params.archive_path()];
        if params.kind() == datasets::DatasetKind::MnistSvhn {
            paths.push(params.svhn_path());
        }
        paths
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let mut params: DatasetParams = ctx.params()?;
        params.archive = Some(ctx.resolve_path(&params.archive_path()));
        params.svhn = Some(ctx.resolve_path(&params.svhn_path()));
        let summary = datasets::materialize(&params, ctx.out_dir(), &StageProgress(ctx))?;
        tracing::info!(
            dataset = %params.name,
            digest = %summary.digest,
            images = ?summary.images_per_folder,
            skipped = summary.skipped,
            "dataset written"
        );
        Ok(())
    }
}

/// Forwards a domain crate's progress and cancellation checks to the engine.
pub(crate) struct StageProgress<'a>(pub(crate) &'a StageContext);

impl datasets::Progress for StageProgress<'_> {
    fn set_length(&self, length: u64) {
        self.0.progress().set_length(length);
    }

    fn inc(&self, delta: u64) {
        self.0.progress().inc(delta);
    }

    fn set_message(&self, message: &str) {
        self.0.progress().set_message(message.to_owned());
    }

    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}
