//! Generator and discriminator outputs against PyTorch, from the stored weights.

mod model_fixtures;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use mcgan::{Discriminator, DiscriminatorConfig, DiscriminatorVariant, Generator, GeneratorConfig};
use model_fixtures::{fixture_dir, get, load, max_abs_diff};

const TOLERANCE: f32 = 1e-4;

fn fixture_generator(dir: &std::path::Path) -> Generator {
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[dir.join("generator.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }
    .unwrap();
    let config = GeneratorConfig {
        ngf: 8,
        n_res: 3,
        masked: true,
    };
    Generator::new(vb.pp("netG_A2B"), &config).unwrap()
}

#[test]
fn generator_outputs_match_pytorch() {
    let Some(dir) = fixture_dir() else { return };
    let io = load(&dir, "generator_io.safetensors");
    let generator = fixture_generator(&dir);
    for (x, mask, masked, plain) in [
        ("x", "mask", "y_masked", "y_plain"),
        ("x64", "mask64", "y64_masked", "y64_plain"),
    ] {
        let y = generator
            .forward(get(&io, x), Some(get(&io, mask)))
            .unwrap();
        let d = max_abs_diff(&y, get(&io, masked));
        assert!(d <= TOLERANCE, "{masked} differs by {d}");

        let y = generator.forward(get(&io, x), None).unwrap();
        let d = max_abs_diff(&y, get(&io, plain));
        assert!(d <= TOLERANCE, "{plain} differs by {d}");
    }
}

#[test]
fn discriminator_outputs_match_pytorch() {
    let Some(dir) = fixture_dir() else { return };
    let io = load(&dir, "discriminator_io.safetensors");
    let vb = unsafe {
        VarBuilder::from_mmaped_safetensors(
            &[dir.join("discriminator.safetensors")],
            DType::F32,
            &Device::Cpu,
        )
    }
    .unwrap();
    for (prefix, variant) in [
        ("simple", DiscriminatorVariant::Simple),
        ("full", DiscriminatorVariant::Full),
    ] {
        let config = DiscriminatorConfig { ndf: 8, variant };
        let discriminator = Discriminator::new(vb.pp(prefix), &config).unwrap();
        for (input, output) in [("x", "y"), ("x64", "y64")] {
            let y = discriminator.forward(get(&io, input)).unwrap();
            let d = max_abs_diff(&y, get(&io, &format!("{prefix}.{output}")));
            assert!(d <= TOLERANCE, "{prefix}.{output} differs by {d}");
        }
        let patch = discriminator.forward_patch(get(&io, "x")).unwrap();
        let d = max_abs_diff(&patch, get(&io, &format!("{prefix}.patch")));
        assert!(d <= TOLERANCE, "{prefix}.patch differs by {d}");
    }
}
