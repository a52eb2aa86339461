//! `pipeline gc`: keep what the project's pipeline files reach, remove the rest.

use std::path::PathBuf;

use clap::Args;

use crate::options::{load_pipeline, CacheOptions};

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Pipeline files whose stages to keep (default: pipeline.yaml and pipelines/*.yaml).
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub cache: CacheOptions,
}

pub fn run(args: GcArgs) -> anyhow::Result<()> {
    let files = if args.files.is_empty() {
        project_pipeline_files()?
    } else {
        args.files
    };
    if files.is_empty() {
        anyhow::bail!(
            "no pipeline files found (pipeline.yaml, pipelines/*.yaml); name them with -f so gc knows what to keep"
        );
    }
    let pipelines = files
        .iter()
        .map(|file| load_pipeline(file, &[]))
        .collect::<anyhow::Result<Vec<_>>>()?;

    let store = args.cache.open()?;
    let summary = dag::collect_garbage(&store, &pipelines)?;
    println!(
        "kept {} runs; removed {} runs, {} objects and {} scratch or tmp directories ({} bytes)",
        summary.records_kept,
        summary.records_removed,
        summary.objects_removed,
        summary.directories_removed,
        summary.bytes_freed
    );
    Ok(())
}

fn project_pipeline_files() -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if std::path::Path::new("pipeline.yaml").is_file() {
        files.push(PathBuf::from("pipeline.yaml"));
    }
    if let Ok(entries) = std::fs::read_dir("pipelines") {
        let mut more: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "yaml")
            })
            .collect();
        more.sort();
        files.extend(more);
    }
    Ok(files)
}
