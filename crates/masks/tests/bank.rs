//! Banks: reproducible from the seed, independent of threads, and readable after writing.

use std::collections::BTreeMap;
use std::path::Path;

use masks::{Bank, BankParams, Preset, Scheme};

fn directory_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

fn write_with_threads(params: &BankParams, threads: usize, dir: &Path) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| Bank::generate(params).unwrap().write(dir).unwrap());
}

fn multi_rectangles(seed: u64) -> BankParams {
    let mut params = BankParams::new(Scheme::MultiRectangles, 48);
    params.count = 40;
    params.seed = seed;
    params
}

#[test]
fn same_seed_gives_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let params = multi_rectangles(5);
    write_with_threads(&params, 1, &dir.path().join("one"));
    write_with_threads(&params, 3, &dir.path().join("three"));
    let one = directory_bytes(&dir.path().join("one"));
    let three = directory_bytes(&dir.path().join("three"));
    assert_eq!(one.len(), 41, "40 masks and the table");
    assert_eq!(one, three);
}

#[test]
fn different_seeds_give_different_masks() {
    let first = Bank::generate(&multi_rectangles(1)).unwrap();
    let second = Bank::generate(&multi_rectangles(2)).unwrap();
    assert_ne!(first.masks, second.masks);
}

#[test]
fn bank_round_trips_through_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut params = multi_rectangles(9);
    params.preset = Some(Preset::Paper);
    let bank = Bank::generate(&params).unwrap();
    bank.write(dir.path()).unwrap();
    assert_eq!(Bank::read(dir.path()).unwrap(), bank);
}

#[test]
fn centered_bank_keeps_scale_order() {
    let mut params = BankParams::new(Scheme::CenteredSquare, 64);
    params.scales = Some(vec![1.0, 0.5, 0.8]);
    let bank = Bank::generate(&params).unwrap();
    let scales: Vec<Option<f64>> = bank.records.iter().map(|r| r.scale).collect();
    assert_eq!(scales, [Some(1.0), Some(0.5), Some(0.8)]);
    assert_eq!(bank.masks[0].coverage(), 1.0);
    assert_eq!(bank.masks[1], masks::centered_square(64, 0.5));
}

#[test]
fn foreign_parameter_is_rejected() {
    let mut params = BankParams::new(Scheme::Round, 32);
    params.scales = Some(vec![0.5]);
    let error = Bank::generate(&params).unwrap_err().to_string();
    assert!(error.contains("scales"), "{error}");
}

#[test]
fn oversized_bank_is_rejected() {
    let mut params = multi_rectangles(0);
    params.size = 8192;
    params.count = 129;
    let error = Bank::generate(&params).unwrap_err().to_string();
    assert!(error.contains("count"), "{error}");
    assert!(error.contains("8.1 GiB"), "{error}");
}

#[test]
fn largest_bank_passes_validation() {
    let mut params = multi_rectangles(0);
    params.size = 8192;
    params.count = 128;
    assert!(params.validate().is_ok());
}

#[test]
fn attention_maps_are_thresholded() {
    let dir = tempfile::tempdir().unwrap();
    let maps = dir.path().join("maps");
    std::fs::create_dir(&maps).unwrap();
    let gradient =
        image::GrayImage::from_fn(16, 16, |column, _| image::Luma([(column * 17) as u8]));
    gradient.save(maps.join("b.png")).unwrap();
    image::GrayImage::from_pixel(16, 16, image::Luma([255]))
        .save(maps.join("a.png"))
        .unwrap();

    let mut params = BankParams::new(Scheme::BinaryAttention, 16);
    params.maps = Some(maps);
    params.threshold = Some(0.5);
    let bank = Bank::generate(&params).unwrap();

    assert_eq!(bank.records[0].source.as_deref(), Some("a.png"));
    assert_eq!(bank.masks[0].coverage(), 1.0);
    // Columns 8..16 hold 136 and above, which is at least half of 255.
    assert_eq!(bank.masks[1].get(0, 7), 0);
    assert_eq!(bank.masks[1].get(0, 8), 1);
    assert_eq!(bank.masks[1].coverage(), 0.5);
}

#[test]
fn malformed_table_names_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("masks.parquet"), b"not parquet").unwrap();
    let error = Bank::read(dir.path()).unwrap_err().to_string();
    assert!(error.contains("masks.parquet"), "{error}");
}
