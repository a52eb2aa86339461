//! The `resize` kind: every image of a `dataset` output as a `size` x `size` 8-bit RGB PNG,
//! in the same layout and under the same stem (`n02381460_1001.jpg` becomes
//! `n02381460_1001.png`).
//!
//! Resizing is Pillow's bicubic filter with antialiasing, ignoring the aspect ratio, which is
//! what the reference FID and translation scripts do with square CycleGAN images.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use dag::{InputSpec, Resources, StageContext, StageKind};
use serde::{Deserialize, Serialize};

/// Params of a `resize` stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResizeParams {
    /// The output side in pixels (required, at least 1).
    pub size: u32,
}

/// The `resize` stage kind.
pub struct Resize;

const INPUTS: &[InputSpec] = &[InputSpec::required("dataset")];

const FOLDERS: [&str; 4] = ["trainA", "trainB", "testA", "testB"];

impl StageKind for Resize {
    fn name(&self) -> &'static str {
        "resize"
    }

    fn fingerprint(&self) -> &'static str {
        crate::fingerprints::RESIZE
    }

    fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        let canonical = dag::check_params::<ResizeParams>(params)?;
        if canonical.get("size").and_then(serde_json::Value::as_u64) == Some(0) {
            return Err("`size` must be at least 1 pixel".to_owned());
        }
        Ok(canonical)
    }

    fn inputs(&self) -> &'static [InputSpec] {
        INPUTS
    }

    fn resources(&self, _params: &serde_json::Value) -> Resources {
        // Images are independent, so the run uses every thread the scheduler grants; it
        // clamps this request to `--jobs`.
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Resources {
            threads,
            ..Resources::default()
        }
    }

    fn run(&self, ctx: &mut StageContext) -> anyhow::Result<()> {
        let params: ResizeParams = ctx.params()?;
        let input = ctx.input_path("dataset")?.to_owned();
        let work = plan(&input, ctx.out_dir())?;
        ctx.progress().set_length(work.len() as u64);

        // Worker k takes images k, k + threads, ... Each output file depends only on its
        // source, so the output is the same for any thread count.
        let threads = ctx.threads().clamp(1, work.len().max(1));
        let context: &StageContext = ctx;
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|first| {
                    let work = &work;
                    scope.spawn(move || -> anyhow::Result<()> {
                        for (source, target) in work.iter().skip(first).step_by(threads) {
                            context.check_cancelled()?;
                            let image = imaging::decode_rgb(source)?;
                            let resized = imaging::resize_square(&image, params.size);
                            imaging::write_png(target, &resized)?;
                            context.progress().inc(1);
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        })?;

        tracing::info!(
            images = work.len(),
            size = params.size,
            threads,
            "images resized"
        );
        Ok(())
    }
}

/// Creates the output folders and lists (source, target) pairs in name order.
fn plan(input: &Path, out_dir: &Path) -> anyhow::Result<Vec<(PathBuf, PathBuf)>> {
    let mut work = Vec::new();
    for folder in FOLDERS {
        let source_folder = input.join(folder);
        let target_folder = out_dir.join(folder);
        std::fs::create_dir_all(&target_folder)
            .with_context(|| format!("cannot create {}", target_folder.display()))?;
        if !source_folder.is_dir() {
            continue;
        }

        let mut stems = BTreeSet::new();
        for file in sorted_files(&source_folder)? {
            let Some(stem) = Path::new(&file).file_stem().and_then(|stem| stem.to_str()) else {
                continue;
            };
            if !stems.insert(stem.to_owned()) {
                bail!(
                    "{}: another file in {folder} has the stem `{stem}`, and both would be \
                     written as {stem}.png; rename one of them",
                    source_folder.join(&file).display()
                );
            }
            work.push((
                source_folder.join(&file),
                target_folder.join(format!("{stem}.png")),
            ));
        }
    }
    Ok(work)
}

fn sorted_files(folder: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(folder).with_context(|| format!("cannot list {}", folder.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", folder.display()))?;
        if !entry.path().is_file() {
            continue;
        }
        match entry.file_name().into_string() {
            Ok(name) if !name.starts_with('.') => files.push(name),
            Ok(_) => {}
            Err(name) => bail!("{}: file name {name:?} is not UTF-8", folder.display()),
        }
    }
    files.sort();
    Ok(files)
}
