//! `pipeline verify`: rehash the whole store, dropping damaged entries.

use clap::Args;

use crate::options::CacheOptions;

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub cache: CacheOptions,
}

/// Exits 1 when damage was found (and dropped), so scripts notice.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let store = args.cache.open()?;
    let summary = dag::verify_store(&store)?;
    for damaged in &summary.damaged {
        println!(
            "damaged: stage {} (key {}): {}",
            damaged.stage,
            &damaged.key[..12.min(damaged.key.len())],
            damaged.paths.join(", ")
        );
    }
    println!(
        "verified {} runs, {} files; {} damaged",
        summary.records_checked,
        summary.files_checked,
        summary.damaged.len()
    );
    if !summary.damaged.is_empty() {
        anyhow::bail!(
            "{} run(s) had damaged outputs and were dropped; the next `pipeline run` recomputes them",
            summary.damaged.len()
        );
    }
    Ok(())
}
