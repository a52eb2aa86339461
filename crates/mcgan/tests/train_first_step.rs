//! The first training iteration against PyTorch's, from the stored fixtures: loss terms,
//! images, gradients and weights after the Adam steps, masked and plain.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use mcgan::trainer::Domain;
use mcgan::{
    DiscriminatorConfig, DiscriminatorVariant, GeneratorConfig, LossWeights, Trainer, TrainerConfig,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn fixture_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/model"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} not found", dir.display());
        None
    }
}

fn load(dir: &std::path::Path, file: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join(file), &Device::Cpu).unwrap()
}

fn trainer(dir: &std::path::Path, masked: bool, dtype: DType) -> Trainer {
    let config = TrainerConfig {
        generator: GeneratorConfig {
            ngf: 8,
            n_res: 3,
            masked,
        },
        discriminator: DiscriminatorConfig {
            ndf: 8,
            variant: DiscriminatorVariant::Simple,
        },
        weights: LossWeights::default(),
        adam: Default::default(),
        dtype,
    };
    let trainer = Trainer::new(config, &Device::Cpu).unwrap();
    let init = if masked {
        "train_init.safetensors"
    } else {
        "train_init_plain.safetensors"
    };
    let weights = load(dir, init);
    for (name, var) in trainer.networks.all_named_vars().unwrap() {
        var.set(&weights[&name].to_dtype(dtype).unwrap()).unwrap();
    }
    trainer
}

fn values(tensor: &Tensor) -> Vec<f32> {
    let tensor = tensor.to_dtype(DType::F32).unwrap();
    tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0.0, |max, v| max.max(v.abs()))
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    values(a)
        .iter()
        .zip(values(b))
        .fold(0.0, |max, (x, y)| max.max((x - y).abs()))
}

fn assert_loss(name: &str, actual: &Tensor, expected: &HashMap<String, Tensor>) {
    let actual = actual
        .to_dtype(DType::F32)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let expected = expected[name].to_scalar::<f32>().unwrap();
    let relative = (actual - expected).abs() / expected.abs().max(f32::MIN_POSITIVE);
    assert!(
        relative <= 1e-5 || (expected == 0.0 && actual == 0.0),
        "{name}: {actual} vs {expected} (relative {relative:e})"
    );
}

/// Whether the bias feeds an instance norm, so its exact gradient is zero and the fixture
/// contains float32 rounding noise.
fn is_zero_gradient_bias(name: &str) -> bool {
    let zero_biases = [
        "mask_model.bias",
        "model.1.bias",
        "model.4.bias",
        "model.7.bias",
        "model.13.bias",
        "model.16.bias",
    ];
    if name.starts_with("netG_") {
        let local = name.split_once('.').unwrap().1;
        return zero_biases.contains(&local)
            || (local.contains("conv_block") && local.ends_with(".bias"));
    }
    name.ends_with("model.2.bias")
}

fn weight_of(bias: &str) -> String {
    format!("{}.weight", bias.strip_suffix(".bias").unwrap())
}

/// Checks the gradients of every parameter whose name starts with one of `prefixes`.
fn assert_gradients(
    trainer: &Trainer,
    grads: &candle_core::backprop::GradStore,
    prefixes: &[&str],
    expected: &HashMap<String, Tensor>,
) {
    let vars = trainer.networks.named_vars(prefixes).unwrap();
    assert!(!vars.is_empty());
    for (name, var) in vars {
        let grad = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient"));
        let reference = &expected[&format!("grad.{name}")];
        let scale = if is_zero_gradient_bias(&name) {
            max_abs(&values(&expected[&format!("grad.{}", weight_of(&name))]))
        } else {
            max_abs(&values(reference))
        };
        let diff = max_abs_diff(grad, reference);
        if std::env::var("DEBUG_GRADS").is_ok() {
            eprintln!("{name} {diff:e} {scale:e}");
            continue;
        }
        assert!(
            diff <= 1e-4 * scale,
            "grad.{name}: max abs diff {diff:e}, scale {scale:e}"
        );
    }
}

fn assert_after_step(
    trainer: &Trainer,
    init: &HashMap<String, Tensor>,
    step: &HashMap<String, Tensor>,
) {
    for (name, var) in trainer.networks.all_named_vars().unwrap() {
        let actual = values(var.as_tensor());
        let before = values(&init[&name]);
        if is_zero_gradient_bias(&name) {
            for (a, b) in actual.iter().zip(&before) {
                assert!(
                    (a - b).abs() <= 2e-4 * (1.0 + 1e-5) + 1e-7,
                    "{name}: moved {}",
                    a - b
                );
            }
            continue;
        }
        let after = values(&step[&format!("after.{name}")]);
        let grad = values(&step[&format!("grad.{name}")]);
        let grad_max = max_abs(&grad);
        for i in 0..actual.len() {
            let tolerance = if grad[i].abs() >= 1e-3 * grad_max {
                1e-6
            } else {
                4e-4
            };
            let diff = (actual[i] - after[i]).abs();
            assert!(
                diff <= tolerance,
                "after.{name}[{i}]: {} vs {}",
                actual[i],
                after[i]
            );
        }
    }
}

/// Checks one iteration in `dtype`. With `all_gradients` false the generator gradients and the
/// weights after the step are left out.
fn check_first_step(masked: bool, dtype: DType, all_gradients: bool) {
    let Some(dir) = fixture_dir() else { return };
    let (init_file, step_file) = if masked {
        ("train_init.safetensors", "train_step.safetensors")
    } else {
        (
            "train_init_plain.safetensors",
            "train_step_plain.safetensors",
        )
    };
    let init = load(&dir, init_file);
    let step = load(&dir, step_file);
    let real_a = &step["real_A"].to_dtype(dtype).unwrap();
    let real_b = &step["real_B"].to_dtype(dtype).unwrap();
    let mask = masked.then(|| step["mask"].to_dtype(dtype).unwrap());

    let mut trainer = trainer(&dir, masked, dtype);
    let pass = trainer
        .generator_pass(real_a, real_b, mask.as_ref())
        .unwrap();
    for (name, image) in [
        ("same_A", &pass.same_a),
        ("same_B", &pass.same_b),
        ("fake_A", &pass.fake_a),
        ("fake_B", &pass.fake_b),
        ("recovered_A", &pass.recovered_a),
        ("recovered_B", &pass.recovered_b),
    ] {
        let diff = max_abs_diff(image, &step[name]);
        assert!(diff <= 1e-4, "{name}: max abs diff {diff:e}");
    }
    for (name, loss) in [
        ("loss.identity_A", &pass.identity_a),
        ("loss.identity_B", &pass.identity_b),
        ("loss.gan_A2B", &pass.gan_a2b),
        ("loss.gan_B2A", &pass.gan_b2a),
        ("loss.cycle_ABA", &pass.cycle_aba),
        ("loss.cycle_BAB", &pass.cycle_bab),
        ("loss.G", &pass.total),
    ] {
        assert_loss(name, loss, &step);
    }
    if all_gradients {
        let grads = pass.total.backward().unwrap();
        assert_gradients(&trainer, &grads, &["netG_A2B", "netG_B2A"], &step);
    }

    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for (domain, real, fake, prefixes, names) in [
        (
            Domain::A,
            real_a,
            pass.fake_a.detach(),
            ["netD_A", "netD_Am"],
            ["loss.D_A_full", "loss.D_A_mask", "loss.D_A"],
        ),
        (
            Domain::B,
            real_b,
            pass.fake_b.detach(),
            ["netD_B", "netD_Bm"],
            ["loss.D_B_full", "loss.D_B_mask", "loss.D_B"],
        ),
    ] {
        let losses = trainer
            .discriminator_pass(domain, real, &fake, mask.as_ref(), &mut rng)
            .unwrap();
        assert_loss(names[0], &losses.full, &step);
        assert_loss(names[1], &losses.mask, &step);
        assert_loss(names[2], &losses.total, &step);
        let grads = losses.total.backward().unwrap();
        assert_gradients(&trainer, &grads, &prefixes, &step);
    }

    if !all_gradients {
        return;
    }
    let mut fresh = self::trainer(&dir, masked, dtype);
    let outcome = fresh.step(real_a, real_b, mask.as_ref(), &mut rng).unwrap();
    let expected_g = step["loss.G"].to_scalar::<f32>().unwrap();
    assert!((outcome.losses.generator - expected_g).abs() <= 1e-5 * expected_g);
    assert_after_step(&fresh, &init, &step);
}

#[test]
fn masked_first_step_matches_pytorch() {
    check_first_step(true, DType::F32, true);
}

#[test]
fn plain_first_step_losses_match_pytorch() {
    check_first_step(false, DType::F32, false);
}

/// In float32 the plain step's generator gradients miss the fixture by about 3% of their
/// maximum: one element of `recovered_A - real_A` is 4.2e-7 in float64 and -7.8e-7 here (a
/// forward error of 1.2e-6, well inside the 1e-4 image tolerance), so the L1 gradient of that
/// pixel changes sign and the difference travels back through both generators. The same
/// arithmetic in float64 has no such tie and must match everywhere.
#[test]
fn plain_first_step_matches_pytorch_in_f64() {
    check_first_step(false, DType::F64, true);
}

#[test]
fn masked_first_step_matches_pytorch_in_f64() {
    check_first_step(true, DType::F64, true);
}
