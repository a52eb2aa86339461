//! Locating and reading the PyTorch reference tensors shared by the model tests.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

/// The model fixture folder, or `None` (with a message) when the shared data is absent.
pub fn fixture_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/model");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: the model fixtures are not at {}", dir.display());
        None
    }
}

/// Every tensor of a fixture file, by name.
pub fn load(dir: &Path, file: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(dir.join(file), &Device::Cpu)
        .unwrap_or_else(|e| panic!("cannot read fixture {file}: {e}"))
}

/// The tensor `name` of a loaded fixture file.
pub fn get<'a>(tensors: &'a HashMap<String, Tensor>, name: &str) -> &'a Tensor {
    tensors
        .get(name)
        .unwrap_or_else(|| panic!("fixture tensor {name} is missing"))
}

/// Largest absolute elementwise difference between two tensors of the same shape.
pub fn max_abs_diff(actual: &Tensor, expected: &Tensor) -> f32 {
    assert_eq!(actual.dims(), expected.dims(), "shapes differ");
    (actual - expected)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}
