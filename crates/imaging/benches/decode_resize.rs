//! Decode + resize throughput: every image of horse2zebra.zip decoded and resized to 128x128.
//!
//! Run with `cargo bench -p imaging --bench decode_resize`. The archive is read into memory
//! first, so the timing covers decoding and resizing only, on one thread and then on all.

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

const SIDE: u32 = 128;

fn main() {
    let archive =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/horse2zebra.zip");
    let Ok(file) = std::fs::File::open(&archive) else {
        eprintln!("skipped: {} not found", archive.display());
        return;
    };
    let mut zip = zip::ZipArchive::new(file).expect("horse2zebra.zip is a zip archive");
    let mut images = Vec::new();
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).expect("zip entry is readable");
        let name = entry.name().expect("zip entry name is UTF-8").into_owned();
        if !name.ends_with(".jpg") {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .expect("zip entry is readable");
        images.push((name, bytes));
    }

    let decode_and_resize = |(name, bytes): &(String, Vec<u8>)| {
        let rgb = imaging::decode_rgb_bytes(bytes, name).expect("horse2zebra images decode");
        imaging::resize_square(&rgb, SIDE)
    };

    let start = Instant::now();
    images.iter().for_each(|image| {
        std::hint::black_box(decode_and_resize(image));
    });
    let one_thread = start.elapsed().as_secs_f64();

    let start = Instant::now();
    images.par_iter().for_each(|image| {
        std::hint::black_box(decode_and_resize(image));
    });
    let all_threads = start.elapsed().as_secs_f64();

    let count = images.len() as f64;
    println!(
        "decode + resize to {SIDE}x{SIDE}, {} images: 1 thread {:.0} images/s ({one_thread:.2} s), \
         {} threads {:.0} images/s ({all_threads:.2} s)",
        images.len(),
        count / one_thread,
        rayon::current_num_threads(),
        count / all_threads
    );
}
