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
    for unreadable in &summary.unreadable {
        println!(
            "damaged: record {} removed: {}",
            unreadable.path.display(),
            unreadable.message
        );
    }
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
        summary.damaged.len() + summary.unreadable.len()
    );
    if summary.found_damage() {
        anyhow::bail!(
            "{} damaged record(s) were dropped; the next `pipeline run` recomputes their stages",
            summary.damaged.len() + summary.unreadable.len()
        );
    }
    Ok(())
}
