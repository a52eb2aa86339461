//! `pipeline import-checkpoint DIR --out FILE`: converts the authors' PyTorch checkpoint files
//! (`netG_A2B.pth`, `netG_B2A.pth`, optionally `netD_A.pth`, `netD_B.pth`, `netD_Am.pth`,
//! `netD_Bm.pth`) into one safetensors checkpoint that `pipeline translate` reads.

use std::path::PathBuf;

use stages::translate::import_authors_checkpoint;

/// Arguments of `pipeline import-checkpoint`.
#[derive(Debug, clap::Args)]
pub struct ImportCheckpointArgs {
    /// Folder with netG_A2B.pth and netG_B2A.pth (zip or pre-zip PyTorch format).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Output checkpoint (.safetensors).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,

    /// Training image size in pixels to record in the checkpoint; translation otherwise takes
    /// it from --size or from the input images.
    #[arg(long, value_name = "N")]
    pub size: Option<usize>,
}

/// Imports the checkpoint and prints the shapes it found.
pub fn run(args: ImportCheckpointArgs) -> anyhow::Result<()> {
    let imported = import_authors_checkpoint(&args.dir)?;
    imported.write(&args.out, args.size)?;
    let generator = imported.generator;
    let discriminators = match imported.discriminator {
        Some(config) => format!("discriminators ndf {} ({:?})", config.ndf, config.variant),
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
