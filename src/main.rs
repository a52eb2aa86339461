//! `pipeline`: reproduces Mask CycleGAN as a graph of content-hashed, cached stages.
//!
//! This file only parses the command line, dispatches to a subcommand and maps the result to
//! an exit code: 0 success, 1 a stage or operation failed, 2 an invalid command line or spec.

mod commands;
mod exit;
mod logging;
mod options;
mod output_folder;
mod stage_log;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Reproduces Mask CycleGAN as a graph of content-hashed, cached stages.
#[derive(Parser)]
#[command(name = "pipeline", version, about)]
struct Cli {
    /// More log output (-v debug, -vv trace); RUST_LOG overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the stages of targets (or all stages), reusing cached results.
    Run(commands::run::RunArgs),
    /// Show whether each stage is fresh or stale, and why; reads the cache without changing it.
    Status(commands::status::StatusArgs),
    /// Print the stage graph.
    Dag(commands::dag::DagArgs),
    /// Remove from the cache what no pipeline file reaches, including the resumable training
    /// state (scratch) of stages not in those files.
    Gc(commands::gc::GcArgs),
    /// Rehash every stored object; drop the records of damaged objects and unreadable records.
    Verify(commands::verify::VerifyArgs),
    /// Write a mask bank (PNG masks and masks.parquet) to a directory.
    Masks(commands::masks::MasksArgs),
    /// FID (and KID) between two image folders, feature files or .npz statistics.
    Fid(commands::fid::FidArgs),
    /// Write the Inception features of every image in a folder (.npy or .arrow).
    Features(commands::features::FeaturesArgs),
    /// Translate an image folder with a trained generator, once per mask.
    Translate(commands::translate::TranslateArgs),
    /// Convert the authors' PyTorch checkpoint files into one safetensors checkpoint.
    ImportCheckpoint(commands::import_checkpoint::ImportCheckpointArgs),
}

fn main() -> ExitCode {
    mcgan::cpu_kernels::shorten_candle_spinning();
    restore_default_sigpipe();
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Dag(args) => commands::dag::run(args),
        Command::Gc(args) => commands::gc::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Masks(args) => commands::masks::run(args),
        Command::Fid(args) => commands::fid::run(args),
        Command::Features(args) => commands::features::run(args),
        Command::Translate(args) => commands::translate::run(args),
        Command::ImportCheckpoint(args) => commands::import_checkpoint::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", exit::message_for(&error));
            ExitCode::from(exit::code_for(&error))
        }
    }
}

/// Restores the default SIGPIPE action, which Rust's runtime ignores, so that
/// `pipeline status | head` ends quietly instead of panicking on a closed pipe.
fn restore_default_sigpipe() {
    // SAFETY: called first thing in main, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
