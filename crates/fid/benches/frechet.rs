//! Times one 2048-d Frechet distance between two full-rank covariances (3000 samples each,
//! the fixtures' synthetic case), and the statistics and KID that come with it.
//!
//! Run: `cargo bench -p fid --bench frechet`. Threads: faer uses rayon's pool, so
//! `RAYON_NUM_THREADS` sets how many cores it takes.

#[path = "../tests/common/synthetic.rs"]
mod synthetic;

use std::time::Instant;

use fid::{frechet_distance, kid, trace_sqrt_product, Statistics};

const ROWS: usize = 3000;
const DIM: usize = 2048;
const REPEATS: usize = 3;

fn main() {
    let x = synthetic::first_set(ROWS, DIM, 1);
    let y = synthetic::second_set(ROWS, DIM, 2);

    let start = Instant::now();
    let a = Statistics::from_features(&x, DIM).expect("statistics of set 1");
    let b = Statistics::from_features(&y, DIM).expect("statistics of set 2");
    let statistics_seconds = start.elapsed().as_secs_f64() / 2.0;

    let mut frechet_seconds = Vec::new();
    let mut value = 0.0;
    for _ in 0..REPEATS {
        let start = Instant::now();
        value = frechet_distance(&a, &b).expect("frechet distance").value;
        frechet_seconds.push(start.elapsed().as_secs_f64());
    }

    let start = Instant::now();
    let _ = trace_sqrt_product(&a.covariance, &b.covariance);
    let trace_sqrt_seconds = start.elapsed().as_secs_f64();

    let x32: Vec<f32> = x[..1000 * DIM].iter().map(|&v| v as f32).collect();
    let y32: Vec<f32> = y[..1000 * DIM].iter().map(|&v| v as f32).collect();
    let start = Instant::now();
    let kid_result = kid(&x32, &y32, DIM, 100, 100, 1).expect("kid");
    let kid_seconds = start.elapsed().as_secs_f64();

    let best = frechet_seconds
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    println!("threads: {}", rayon_threads());
    println!("statistics of {ROWS} x {DIM}: {statistics_seconds:.3} s per set");
    println!("frechet distance {DIM}-d: best {best:.3} s of {frechet_seconds:.3?} (FID {value})");
    println!("eigenvector route (rank-deficient sets): {trace_sqrt_seconds:.3} s");
    println!(
        "KID 100 subsets of 100: {kid_seconds:.3} s (mean {:.6})",
        kid_result.mean
    );
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}
