//! `pipeline status`: fresh or stale, and why, for each stage.

use clap::Args;

use crate::options::{load_pipeline, select, CacheOptions, OverrideOptions, SpecOptions};

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Targets or stage names to report, with their ancestors (default: every stage).
    pub targets: Vec<String>,
    #[command(flatten)]
    pub spec: SpecOptions,
    #[command(flatten)]
    pub cache: CacheOptions,
    #[command(flatten)]
    pub overrides: OverrideOptions,
    /// Print a JSON array of {stage, state, reason, resumable}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let overrides = args.overrides.parse()?;
    let pipeline = load_pipeline(&args.spec.file, &overrides)?;
    let selected = select(&pipeline, &args.targets)?;
    let store = args.cache.open_read_only()?;
    if !store.root().exists() {
        eprintln!(
            "note: cache {} does not exist, so every stage shows as never run; check --cache",
            args.cache.cache.display()
        );
    }
    let statuses = dag::pipeline_status(&store, &pipeline, &selected)?;

    if args.json {
        let rows: Vec<serde_json::Value> = statuses
            .iter()
            .map(|status| {
                serde_json::json!({
                    "stage": status.stage,
                    "state": if status.reason.is_some() { "stale" } else { "fresh" },
                    "reason": status.reason.as_ref().map(ToString::to_string),
                    "resumable": status.resumable,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }

    let width = statuses
        .iter()
        .map(|status| status.stage.len())
        .max()
        .unwrap_or(0);
    for status in &statuses {
        match &status.reason {
            None => println!("{:width$}  fresh", status.stage),
            Some(reason) if status.resumable => println!(
                "{:width$}  stale ({reason}; the next run resumes an interrupted one)",
                status.stage
            ),
            Some(reason) => println!("{:width$}  stale ({reason})", status.stage),
        }
    }
    Ok(())
}
