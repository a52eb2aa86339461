//! Import of the authors' PyTorch checkpoints: exact tensors from both file formats, a working
//! generator, and errors that name the file and the tensor at fault.

mod model_fixtures;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use mcgan::checkpoint::{load_generator, CheckpointMetadata, Direction};
use mcgan::import::{import_authors_checkpoint, read_state_dict};
use mcgan::{DiscriminatorVariant, Error, GeneratorConfig};
use model_fixtures::{fixture_dir, get, load, max_abs_diff};

fn bits(tensor: &Tensor) -> Vec<u32> {
    tensor
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

fn assert_same_bits(actual: &Tensor, expected: &Tensor, name: &str) {
    assert_eq!(actual.dims(), expected.dims(), "{name}: shapes differ");
    assert!(bits(actual) == bits(expected), "{name}: values differ");
}

/// Every tensor of `expected` whose name starts with `prefix` equals the imported one.
fn assert_prefix_matches(
    imported: &HashMap<String, Tensor>,
    expected: &HashMap<String, Tensor>,
    prefix: &str,
) -> usize {
    let mut compared = 0;
    for (name, tensor) in expected.iter().filter(|(n, _)| n.starts_with(prefix)) {
        let actual = imported
            .get(name)
            .unwrap_or_else(|| panic!("{name} was not imported"));
        assert_same_bits(actual, tensor, name);
        compared += 1;
    }
    compared
}

#[test]
fn zip_checkpoint_imports_exact_tensors() {
    let Some(dir) = fixture_dir() else { return };
    let imported = import_authors_checkpoint(&dir.join("authors_checkpoint")).unwrap();
    let tensors: HashMap<String, Tensor> = imported.tensors.clone().into_iter().collect();

    let generator = load(&dir, "generator.safetensors");
    assert_eq!(assert_prefix_matches(&tensors, &generator, "netG_A2B."), 28);
    let init = load(&dir, "train_init.safetensors");
    assert_eq!(assert_prefix_matches(&tensors, &init, "netG_B2A."), 28);
    for prefix in ["netD_A.", "netD_B.", "netD_Am.", "netD_Bm."] {
        assert_eq!(
            assert_prefix_matches(&tensors, &init, prefix),
            6,
            "{prefix}"
        );
    }
    assert_eq!(
        tensors.len(),
        init.len(),
        "imported tensors beyond train_init's"
    );

    let expected_generator = GeneratorConfig {
        ngf: 8,
        n_res: 3,
        masked: true,
    };
    assert_eq!(imported.generator, expected_generator);
    let discriminator = imported.discriminator.expect("discriminators were present");
    assert_eq!(discriminator.ndf, 8);
    assert_eq!(discriminator.variant, DiscriminatorVariant::Simple);
}

#[test]
fn legacy_checkpoint_imports_exact_tensors() {
    let Some(dir) = fixture_dir() else { return };
    let state = read_state_dict(&dir.join("authors_checkpoint_legacy/netG_A2B.pth")).unwrap();
    let generator = load(&dir, "generator.safetensors");
    assert_eq!(state.len(), generator.len());
    for (name, tensor) in &state {
        let expected = get(&generator, &format!("netG_A2B.{name}"));
        assert_same_bits(tensor, expected, name);
    }
}

#[test]
fn imported_generator_reproduces_outputs() {
    let Some(dir) = fixture_dir() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("imported.safetensors");
    let imported = import_authors_checkpoint(&dir.join("authors_checkpoint")).unwrap();
    imported.write(&path, None).unwrap();

    let (generator, metadata) = load_generator(&path, Direction::AToB, &Device::Cpu).unwrap();
    assert_eq!(metadata.size, None);
    assert_eq!(metadata.generator, imported.generator);
    let io = load(&dir, "generator_io.safetensors");
    let y = generator
        .forward(get(&io, "x"), Some(get(&io, "mask")))
        .unwrap();
    let d = max_abs_diff(&y, get(&io, "y_masked"));
    assert!(d <= 1e-4, "y_masked differs by {d}");
    let y = generator.forward(get(&io, "x64"), None).unwrap();
    let d = max_abs_diff(&y, get(&io, "y64_plain"));
    assert!(d <= 1e-4, "y64_plain differs by {d}");
}

#[test]
fn generators_only_folder_imports() {
    let Some(dir) = fixture_dir() else { return };
    let scratch = tempfile::tempdir().unwrap();
    for name in ["netG_A2B.pth", "netG_B2A.pth"] {
        std::fs::copy(
            dir.join("authors_checkpoint").join(name),
            scratch.path().join(name),
        )
        .unwrap();
    }
    let imported = import_authors_checkpoint(scratch.path()).unwrap();
    assert!(imported.discriminator.is_none());
    assert_eq!(imported.tensors.len(), 56);
}

#[test]
fn checkpoint_metadata_round_trips() {
    let metadata = CheckpointMetadata {
        size: Some(128),
        generator: GeneratorConfig {
            ngf: 64,
            n_res: 9,
            masked: false,
        },
    };
    let parsed = CheckpointMetadata::from_header(Path::new("x"), &metadata.to_header()).unwrap();
    assert_eq!(parsed, metadata);
}

/// A scratch folder holding the fixture generators, with `netG_A2B.pth` replaced by `bytes`.
fn folder_with_broken_generator(dir: &Path, bytes: &[u8]) -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.join("authors_checkpoint/netG_B2A.pth"),
        scratch.path().join("netG_B2A.pth"),
    )
    .unwrap();
    std::fs::write(scratch.path().join("netG_A2B.pth"), bytes).unwrap();
    scratch
}

#[test]
fn truncated_zip_checkpoint_names_file() {
    let Some(dir) = fixture_dir() else { return };
    let bytes = std::fs::read(dir.join("authors_checkpoint/netG_A2B.pth")).unwrap();
    let scratch = folder_with_broken_generator(&dir, &bytes[..bytes.len() / 2]);
    let error = import_authors_checkpoint(scratch.path()).unwrap_err();
    assert!(matches!(error, Error::InvalidPth { .. }), "{error}");
    assert!(error.to_string().contains("netG_A2B.pth"), "{error}");
}

#[test]
fn truncated_legacy_checkpoint_names_tensor() {
    let Some(dir) = fixture_dir() else { return };
    let bytes = std::fs::read(dir.join("authors_checkpoint_legacy/netG_A2B.pth")).unwrap();
    let scratch = folder_with_broken_generator(&dir, &bytes[..bytes.len() - 100]);
    let error = import_authors_checkpoint(scratch.path()).unwrap_err();
    let generator = load(&dir, "generator.safetensors");
    match &error {
        Error::InvalidCheckpointTensor { path, key, .. } => {
            assert!(path.ends_with("netG_A2B.pth"), "{error}");
            let name = format!("netG_A2B.{key}");
            assert!(
                generator.contains_key(&name),
                "{key} is no generator tensor"
            );
        }
        other => panic!("expected a tensor error, got {other}"),
    }
}

#[test]
fn discriminator_as_generator_names_key() {
    let Some(dir) = fixture_dir() else { return };
    let bytes = std::fs::read(dir.join("authors_checkpoint/netD_A.pth")).unwrap();
    let scratch = folder_with_broken_generator(&dir, &bytes);
    let error = import_authors_checkpoint(scratch.path()).unwrap_err();
    match &error {
        Error::InvalidCheckpointTensor { path, key, .. } => {
            assert!(path.ends_with("netG_A2B.pth"), "{error}");
            assert_eq!(key, "model.1.weight");
        }
        other => panic!("expected a tensor error, got {other}"),
    }
}

#[test]
fn text_file_is_not_a_checkpoint() {
    let Some(dir) = fixture_dir() else { return };
    let scratch = folder_with_broken_generator(&dir, b"not a checkpoint\n");
    let error = import_authors_checkpoint(scratch.path()).unwrap_err();
    assert!(matches!(error, Error::InvalidPth { .. }), "{error}");
    assert!(error.to_string().contains("netG_A2B.pth"), "{error}");
}

#[test]
fn missing_generator_file_names_it() {
    let scratch = tempfile::tempdir().unwrap();
    let error = import_authors_checkpoint(scratch.path()).unwrap_err();
    assert!(matches!(error, Error::InvalidInput { .. }), "{error}");
    assert!(error.to_string().contains("netG_A2B.pth"), "{error}");
}
