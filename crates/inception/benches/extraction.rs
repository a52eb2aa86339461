//! Feature-extraction throughput: images per second of the network at batch 16 on the CPU.
//!
//! Run with `cargo bench -p inception --bench extraction`; `INCEPTION_BENCH_BATCHES` sets
//! how many timed batches follow the warm-up batch (default 3), and `RAYON_NUM_THREADS` the
//! thread count. The weights come from the user cache, downloaded on first use.

use std::time::Instant;

use candle_core::{Device, Tensor};
use inception::{ensure_weights, FeatureExtractor, INPUT_SIZE};

const BATCH: usize = 16;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batches: usize = std::env::var("INCEPTION_BENCH_BATCHES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3);
    let weights = ensure_weights(None)?;
    let extractor = FeatureExtractor::load(&weights, &Device::Cpu)?;

    // A smooth deterministic pattern in [-1, 1]; the network's cost does not depend on values.
    let count = BATCH * 3 * INPUT_SIZE * INPUT_SIZE;
    let values: Vec<f32> = (0..count)
        .map(|index| ((index % 509) as f32 / 254.0) - 1.0)
        .collect();
    let input = Tensor::from_vec(values, (BATCH, 3, INPUT_SIZE, INPUT_SIZE), &Device::Cpu)?;

    extractor.features_from_tensor(&input)?;
    let cpu_start = process_cpu_seconds();
    let start = Instant::now();
    for _ in 0..batches {
        extractor.features_from_tensor(&input)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds() - cpu_start;
    let images = (batches * BATCH) as f64;
    let threads = rayon::current_num_threads();
    println!(
        "inception features, batch {BATCH}, {threads} threads: {:.2} images/s wall clock \
         ({images} images in {seconds:.2} s), {:.3} CPU seconds per image",
        images / seconds,
        cpu_seconds / images,
    );
    // On a shared machine the wall clock includes time other processes held the cores;
    // CPU time does not, so this estimates the rate with the threads to themselves.
    println!(
        "estimate with {threads} idle cores: {:.2} images/s",
        images * threads as f64 / cpu_seconds
    );
    Ok(())
}

/// User plus system CPU time of this process so far, in seconds.
fn process_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 * 1e-6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
