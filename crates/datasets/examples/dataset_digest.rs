//! Prints the content digest of a dataset, the value to put in a `dataset` stage's `digest`.
//!
//! `cargo run --release -p datasets --example dataset_digest -- NAME [ARCHIVE]`, for example
//! `... -- horse2zebra data/horse2zebra.zip` or `... -- mnist data/mnist`. The dataset is
//! built into a temporary folder, so this also checks that every image decodes.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut arguments = std::env::args().skip(1);
    let name = arguments
        .next()
        .ok_or("usage: dataset_digest NAME [ARCHIVE]")?;
    let mut params = datasets::DatasetParams::named(&name);
    params.archive = arguments.next().map(PathBuf::from);

    let out = tempfile::tempdir()?;
    let summary = datasets::materialize(&params, out.path(), &datasets::NoProgress)?;
    println!("{}", summary.digest);
    for (folder, count) in &summary.images_per_folder {
        eprintln!("{folder}: {count} images");
    }
    Ok(())
}
