//! Breakdown of one training iteration into its phases (forward, backward, Adam,
//! discriminators), to find what dominates. Usage: `cargo bench -p mcgan --bench
//! train_profile [-- SIZE]`.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use mcgan::trainer::Domain;
use mcgan::{init_weights, GeneratorConfig, Trainer, TrainerConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn main() -> candle_core::Result<()> {
    mcgan::cpu_kernels::shorten_candle_spinning();
    let size: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(32);
    let device = Device::Cpu;
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
    let mask = Tensor::ones((1, 3, size, size), DType::F32, &device)?;
    for round in 0..4 {
        let real_a = Tensor::rand(-1f32, 1f32, (1, 3, size, size), &device)?;
        let real_b = Tensor::rand(-1f32, 1f32, (1, 3, size, size), &device)?;
        let t0 = Instant::now();
        let pass = trainer.generator_pass(&real_a, &real_b, Some(&mask))?;
        pass.total.to_scalar::<f32>()?;
        let t1 = Instant::now();
        let grads = pass.total.backward()?;
        let t2 = Instant::now();
        trainer.optimizer_g.step(&grads)?;
        let t3 = Instant::now();
        let fake_a = pass.fake_a.detach();
        let d = trainer.discriminator_pass(Domain::A, &real_a, &fake_a, Some(&mask), &mut rng)?;
        let grads = d.total.backward()?;
        trainer.optimizer_d_a.step(&grads)?;
        let t4 = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        println!(
            "round {round}: G forward {:.1} ms, G backward {:.1} ms, Adam G {:.1} ms, D_A {:.1} ms",
            ms(t0, t1),
            ms(t1, t2),
            ms(t2, t3),
            ms(t3, t4)
        );
    }
    Ok(())
}
