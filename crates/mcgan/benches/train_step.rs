//! Median wall time of one Mask CycleGAN training iteration (batch 1, ngf 64, 3 residual
//! blocks, simple discriminators, masks on) at 32, 64 and 128 pixels, the setting of the
//! PyTorch reference script `pytorch_train_step.py`.
//!
//! Usage: `cargo bench -p mcgan --bench train_step [-- --sizes 32 64 --iters 5 --warmup 2]`.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use mcgan::{init_weights, GeneratorConfig, Trainer, TrainerConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

struct Options {
    sizes: Vec<usize>,
    iters: usize,
    warmup: usize,
}

fn parse_options() -> Options {
    let mut options = Options {
        sizes: vec![32, 64, 128],
        iters: 10,
        warmup: 2,
    };
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--sizes" => {
                options.sizes.clear();
                while let Some(value) = args.peek().and_then(|v| v.parse().ok()) {
                    options.sizes.push(value);
                    args.next();
                }
            }
            "--iters" => options.iters = args.next().and_then(|v| v.parse().ok()).unwrap_or(10),
            "--warmup" => options.warmup = args.next().and_then(|v| v.parse().ok()).unwrap_or(2),
            // cargo bench passes `--bench`; other flags are ignored too.
            _ => {}
        }
    }
    options
}

fn centered_mask(size: usize, scale: f64, device: &Device) -> candle_core::Result<Tensor> {
    let range = masks::centered_square_range(size, scale);
    let mut values = vec![0f32; size * size];
    for row in range.clone() {
        for column in range.clone() {
            values[row * size + column] = 1.0;
        }
    }
    Tensor::from_vec(values, (1, 1, size, size), device)?.repeat((1, 3, 1, 1))
}

fn main() -> candle_core::Result<()> {
    mcgan::cpu_kernels::shorten_candle_spinning();
    let options = parse_options();
    let device = Device::Cpu;
    println!(
        "candle CPU, ngf 64, n_res 3, batch 1, masks on, simple D, warmup {}, iters {}",
        options.warmup, options.iters
    );
    for &size in &options.sizes {
        let config = TrainerConfig {
            generator: GeneratorConfig::default(),
            discriminator: Default::default(),
            weights: Default::default(),
            adam: Default::default(),
            dtype: DType::F32,
        };
        let mut trainer = Trainer::new(config, &device)?;
        init_weights(&trainer.networks.varmap, 0)?;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let scales = [0.5, 0.8, 1.0];
        let mut times = Vec::new();
        for i in 0..options.warmup + options.iters {
            let real_a = Tensor::rand(-1f32, 1f32, (1, 3, size, size), &device)?;
            let real_b = Tensor::rand(-1f32, 1f32, (1, 3, size, size), &device)?;
            let mask = centered_mask(size, scales[i % scales.len()], &device)?;
            let start = Instant::now();
            trainer.step(&real_a, &real_b, Some(&mask), &mut rng)?;
            let ms = start.elapsed().as_secs_f64() * 1e3;
            if i >= options.warmup {
                times.push(ms);
            }
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "size {size:4}: median {median:9.1} ms/iter (min {:.1}, max {:.1}, n={})",
            times[0],
            times[times.len() - 1],
            times.len()
        );
    }
    Ok(())
}
