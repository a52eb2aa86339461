//! Times generating and writing mask banks of the sizes the pipeline uses.
//!
//! `cargo bench -p masks --bench bank` prints one line per case: masks, size, and the
//! seconds to generate and to write (PNG encoding and the parquet table).

use std::time::Instant;

use masks::{Bank, BankParams, Preset, Scheme};

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (preset, size, count) in [
        (Preset::AuthorsCode, 128, 500),
        (Preset::Paper, 128, 500),
        (Preset::AuthorsCode, 256, 500),
    ] {
        let mut params = BankParams::new(Scheme::MultiRectangles, size);
        params.count = count;
        params.seed = 1;
        params.preset = Some(preset);

        let start = Instant::now();
        let bank = Bank::generate(&params).expect("valid params");
        let generated = start.elapsed().as_secs_f64();

        let out = dir.path().join(format!("{}_{size}", preset.name()));
        let start = Instant::now();
        bank.write(&out).expect("a writable directory");
        let written = start.elapsed().as_secs_f64();

        println!(
            "{} masks {size}x{size} ({}): generate {generated:.3} s, write {written:.3} s",
            count,
            preset.name()
        );
    }
}
