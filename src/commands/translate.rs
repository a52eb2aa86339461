//! `pipeline translate`: applies a trained generator to a folder of images, once per centered
//! mask scale (`OUT/scale=0.80/<stem>.png`) or once per mask of a bank
//! (`OUT/<mask stem>/<stem>.png`).
//!
//! The flags map onto the `translate` stage's params and both run
//! `stages::translate::translate_folder`, so the same values give the same bytes either way.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use stages::translate::{
    checkpoint_file, translate_folder, Direction, TranslateParams, TranslatePaths,
};

use crate::exit::InvalidInput;

/// Arguments of `pipeline translate`.
#[derive(Debug, clap::Args)]
pub struct TranslateArgs {
    /// Checkpoint (.safetensors from training or `pipeline import-checkpoint`), or a train
    /// output folder holding checkpoint.safetensors.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: PathBuf,

    /// Folder of input images (.png, .jpg, .jpeg); subfolders are not read.
    #[arg(long, value_name = "DIR")]
    pub input: PathBuf,

    /// Output folder, created with its parents; one subfolder per mask is written into it.
    /// The outputs appear only when every image is translated. An existing folder is replaced
    /// when it is empty or an earlier `pipeline translate` wrote it, and rejected otherwise.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Which generator translates: a2b or b2a.
    #[arg(long, value_name = "a2b|b2a")]
    pub direction: Direction,

    /// Centered-square mask scales in (0, 1], comma-separated: the square's side as a fraction
    /// of the image side (1 masks the whole image; 0, an empty mask, is rejected)
    /// [default: 0.5,0.8,1.0].
    #[arg(
        long,
        value_name = "S",
        value_delimiter = ',',
        conflicts_with = "masks"
    )]
    pub scale: Option<Vec<f64>>,

    /// Mask bank folder (masks.parquet and mask_NNNN.png) instead of centered squares.
    #[arg(long, value_name = "DIR")]
    pub masks: Option<PathBuf>,

    /// Image side in pixels, a multiple of 4 from 8 to 1024 [default: the checkpoint's
    /// training size, else the inputs' side].
    #[arg(long, value_name = "N")]
    pub size: Option<usize>,

    /// Images per forward pass, at least 1; the outputs do not depend on it.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub batch: usize,
}

impl TranslateArgs {
    /// The stage params these flags stand for.
    pub fn params(&self) -> TranslateParams {
        let mut params = TranslateParams::new(self.direction);
        if let Some(scales) = &self.scale {
            params.scales = scales.clone();
        }
        params.size = self.size;
        params.batch = self.batch;
        params
    }
}

/// Hidden file marking a folder that `pipeline translate` wrote, so a rerun may replace it.
const OUTPUT_MARKER: &str = ".pipeline-translate";

/// The flag that sets a [`TranslateParams`] field.
fn flag_of(param: &str) -> &'static str {
    match param {
        "scales" => "--scale",
        "size" => "--size",
        "batch" => "--batch",
        _ => "--direction",
    }
}

/// Set by SIGINT or SIGTERM: the translation stops after the current batch and deletes its
/// staging folder.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // A second signal ends the process at once; the next run deletes the staging folder.
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// Makes SIGINT and SIGTERM stop the translation cleanly instead of ending the process with
/// a half-written staging folder.
fn stop_on_interrupt() {
    let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only swaps an atomic and calls `_exit`, both async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Translates the folder and prints what was written.
pub fn run(args: TranslateArgs) -> anyhow::Result<()> {
    let params = args.params();
    params.validate().map_err(|error| {
        InvalidInput(format!(
            "invalid {}: {}",
            flag_of(error.param),
            error.reason
        ))
    })?;
    check_out_folder(&args.out)?;
    let checkpoint = checkpoint_file(&args.checkpoint);
    if checkpoint
        .extension()
        .is_some_and(|extension| extension == "pth")
    {
        return Err(InvalidInput(format!(
            "--checkpoint {} is a PyTorch file; convert the folder that holds it with \
             `pipeline import-checkpoint DIR --out FILE.safetensors` and pass that file",
            checkpoint.display()
        ))
        .into());
    }
    let device = stages::features::candle_device(dag::Device::Cpu)?;

    stop_on_interrupt();
    let staging = StagingFolder::create(&args.out)?;
    let paths = TranslatePaths {
        checkpoint: &checkpoint,
        images: &args.input,
        masks: args.masks.as_deref(),
        out_dir: staging.path(),
    };
    let interrupted = || INTERRUPTED.load(Ordering::SeqCst);
    let summary = match translate_folder(&params, paths, &device, &mut |_| {}, &interrupted) {
        Ok(summary) => summary,
        Err(_) if interrupted() => {
            anyhow::bail!(
                "interrupted; {} is unchanged, rerun to translate",
                args.out.display()
            )
        }
        Err(error) => return Err(error),
    };
    staging.publish()?;
    eprintln!(
        "translated {} images at {}x{} into {} folders under {}",
        summary.images,
        summary.size,
        summary.size,
        summary.folders.len(),
        args.out.display()
    );
    Ok(())
}

/// Rejects an `--out` that exists and holds files an earlier `pipeline translate` did not
/// write, so a translation never mixes with or deletes other files.
fn check_out_folder(out: &Path) -> anyhow::Result<()> {
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(InvalidInput(format!(
            "--out {} is a file, not a folder; give a folder path",
            out.display()
        ))
        .into());
    }
    let mut entries = std::fs::read_dir(out)
        .with_context(|| format!("cannot read the --out folder {}", out.display()))?;
    let empty = entries.next().is_none();
    if empty || out.join(OUTPUT_MARKER).is_file() {
        return Ok(());
    }
    Err(InvalidInput(format!(
        "--out {} already contains files that pipeline translate did not write; give a new \
         folder, or delete this one to write there",
        out.display()
    ))
    .into())
}

/// A hidden sibling of the output folder that receives the translation; it replaces the
/// output folder only once every image is written, and is deleted if the run fails.
struct StagingFolder {
    out: PathBuf,
    staging: PathBuf,
    published: bool,
}

impl StagingFolder {
    fn create(out: &Path) -> anyhow::Result<Self> {
        let name = out
            .file_name()
            .with_context(|| format!("--out {} names no folder", out.display()))?
            .to_string_lossy()
            .into_owned();
        let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
        let parent = parent.unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
        remove_stale_staging(parent, &name);
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).with_context(|| {
                format!("cannot remove the leftover folder {}", staging.display())
            })?;
        }
        std::fs::create_dir(&staging)
            .with_context(|| format!("cannot create a folder next to {}", out.display()))?;
        Ok(Self {
            out: out.to_path_buf(),
            staging,
            published: false,
        })
    }

    fn path(&self) -> &Path {
        &self.staging
    }

    /// Marks the staged folder as written by this command and moves it to the output path,
    /// replacing an earlier output there.
    fn publish(mut self) -> anyhow::Result<()> {
        let out = self.out.clone();
        let failed = || format!("cannot write the output folder {}", out.display());
        std::fs::write(
            self.staging.join(OUTPUT_MARKER),
            "written by pipeline translate\n",
        )
        .with_context(failed)?;
        let previous = PathBuf::from(format!("{}.previous", self.staging.display()));
        let replaced = out.exists();
        if replaced {
            std::fs::rename(&out, &previous).with_context(failed)?;
        }
        std::fs::rename(&self.staging, &out).with_context(failed)?;
        self.published = true;
        if replaced {
            std::fs::remove_dir_all(&previous).with_context(|| {
                format!("cannot delete the earlier output {}", previous.display())
            })?;
        }
        Ok(())
    }
}

/// Deletes the staging folders of `name` in `parent` whose process no longer exists, as when
/// a translation was ended by SIGKILL.
fn remove_stale_staging(parent: &Path, name: &str) {
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name
            .strip_prefix(&prefix)
            .and_then(|pid| pid.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 sends nothing; it only checks that the process exists.
        let exited = unsafe { libc::kill(pid, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH);
        if exited {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for StagingFolder {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}
