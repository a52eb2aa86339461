//! `pipeline import-checkpoint DIR --out FILE`: converts the authors' PyTorch checkpoint files
//! (`netG_A2B.pth`, `netG_B2A.pth`, optionally `netD_A.pth`, `netD_B.pth`, `netD_Am.pth`,
//! `netD_Bm.pth`) into one safetensors checkpoint that `pipeline translate` reads.

use std::path::PathBuf;

use anyhow::Context;
use stages::translate::{check_size, import_authors_checkpoint};

use crate::exit::InvalidInput;

/// Arguments of `pipeline import-checkpoint`.
#[derive(Debug, clap::Args)]
pub struct ImportCheckpointArgs {
    /// Folder with netG_A2B.pth and netG_B2A.pth (zip or pre-zip PyTorch format).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Output checkpoint (.safetensors); its folder is created with its parents.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Training image size in pixels to record in the checkpoint, a multiple of 4 from 8 to
    /// 1024; translation otherwise takes it from its own --size or from the input images.
    #[arg(long, value_name = "N")]
    pub size: Option<usize>,
}

/// Imports the checkpoint and prints the shapes it found.
pub fn run(args: ImportCheckpointArgs) -> anyhow::Result<()> {
    if let Some(size) = args.size {
        check_size(size).map_err(|reason| InvalidInput(format!("invalid --size: {reason}")))?;
    }
    if args.dir.is_file() {
        return Err(InvalidInput(format!(
            "{} is a file; give the folder that holds netG_A2B.pth and netG_B2A.pth",
            args.dir.display()
        ))
        .into());
    }
    let imported = import_authors_checkpoint(&args.dir)?;
    if let Some(folder) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create the folder {}", folder.display()))?;
    }
    imported.write(&args.out, args.size)?;
    let generator = imported.generator;
    let discriminators = match imported.discriminator {
        Some(config) => format!("{} discriminators, ndf {}", config.variant, config.ndf),
        None => "no discriminators".to_string(),
    };
    eprintln!(
        "wrote {} tensors to {}: generators ngf {}, {} residual blocks, masks {}; {discriminators}",
        imported.tensors.len(),
        args.out.display(),
        generator.ngf,
        generator.n_res,
        if generator.masked { "on" } else { "off" },
    );
    Ok(())
}
