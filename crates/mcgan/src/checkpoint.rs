//! Checkpoint files: safetensors with the authors' tensor names under one prefix per network
//! (`netG_A2B.model.1.weight`, `netD_Am.model.0.bias`, ...) and the generator's shape and
//! training size in the header metadata.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::{Error, Generator, GeneratorConfig, Result};

/// Prefix of the A to B generator's tensors.
pub const GENERATOR_A2B: &str = "netG_A2B";
/// Prefix of the B to A generator's tensors.
pub const GENERATOR_B2A: &str = "netG_B2A";
/// Prefixes of the discriminators: whole images of A and B, masked images of A and B.
pub const DISCRIMINATORS: [&str; 4] = ["netD_A", "netD_B", "netD_Am", "netD_Bm"];

/// The safetensors header entry holding the metadata map.
const METADATA_KEY: &str = "__metadata__";

/// Header metadata key of the training image size in pixels.
pub const METADATA_SIZE: &str = "size";
/// Header metadata key of the generator's base width.
pub const METADATA_NGF: &str = "ngf";
/// Header metadata key of the generator's residual block count.
pub const METADATA_N_RES: &str = "n_res";
/// Header metadata key of whether the generators take masks (`true` or `false`).
pub const METADATA_MASKED: &str = "masked";

/// Which generator of a checkpoint translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Domain A to domain B (`netG_A2B`).
    #[serde(rename = "a2b")]
    AToB,
    /// Domain B to domain A (`netG_B2A`).
    #[serde(rename = "b2a")]
    BToA,
}

impl Direction {
    /// The tensor-name prefix of this direction's generator.
    pub fn prefix(self) -> &'static str {
        match self {
            Direction::AToB => GENERATOR_A2B,
            Direction::BToA => GENERATOR_B2A,
        }
    }
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::AToB => "a2b",
            Direction::BToA => "b2a",
        })
    }
}

impl std::str::FromStr for Direction {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "a2b" => Ok(Direction::AToB),
            "b2a" => Ok(Direction::BToA),
            other => Err(format!("invalid direction {other:?}: expected a2b or b2a")),
        }
    }
}

/// What a checkpoint's header records about its generators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointMetadata {
    /// Training image size in pixels; absent for imported checkpoints.
    pub size: Option<usize>,
    /// Shape of both generators.
    pub generator: GeneratorConfig,
}

impl CheckpointMetadata {
    /// The header entries recording this metadata.
    pub fn to_header(&self) -> HashMap<String, String> {
        let mut header = HashMap::from([
            (METADATA_NGF.to_owned(), self.generator.ngf.to_string()),
            (METADATA_N_RES.to_owned(), self.generator.n_res.to_string()),
            (
                METADATA_MASKED.to_owned(),
                self.generator.masked.to_string(),
            ),
        ]);
        if let Some(size) = self.size {
            header.insert(METADATA_SIZE.to_owned(), size.to_string());
        }
        header
    }

    /// Parses the header entries of the checkpoint at `path`.
    pub fn from_header(path: &Path, header: &HashMap<String, String>) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidCheckpoint {
            path: path.to_owned(),
            reason,
        };
        let number = |key: &str| -> Result<usize> {
            let text = header.get(key).ok_or_else(|| {
                invalid(format!(
                    "the header metadata has no {key:?}; write checkpoints with \
                     checkpoint::write_checkpoint or pipeline import-checkpoint"
                ))
            })?;
            text.parse()
                .map_err(|_| invalid(format!("metadata {key:?} is {text:?}, not a count")))
        };
        let masked = match header.get(METADATA_MASKED).map(String::as_str) {
            Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(invalid(format!(
                    "metadata {METADATA_MASKED:?} is {other:?}, expected \"true\" or \"false\""
                )))
            }
            None => {
                return Err(invalid(format!(
                    "the header metadata has no {METADATA_MASKED:?}; write checkpoints with \
                     checkpoint::write_checkpoint or pipeline import-checkpoint"
                )))
            }
        };
        let size = match header.get(METADATA_SIZE) {
            Some(_) => Some(number(METADATA_SIZE)?),
            None => None,
        };
        Ok(Self {
            size,
            generator: GeneratorConfig {
                ngf: number(METADATA_NGF)?,
                n_res: number(METADATA_N_RES)?,
                masked,
            },
        })
    }
}

/// Writes `tensors` and the header `metadata` to `path` as safetensors, through a temporary
/// file in the same folder, so a crash never leaves a partial checkpoint under that name.
///
/// The same tensors and metadata always give the same bytes: the header is written with its
/// keys sorted, because `safetensors` writes the metadata map in `HashMap` order, which
/// changes from one process to the next.
pub fn write_checkpoint(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    let folder = folder.unwrap_or_else(|| Path::new("."));
    let file_name = path.file_name().ok_or_else(|| Error::InvalidCheckpoint {
        path: path.to_owned(),
        reason: "the checkpoint path names no file".into(),
    })?;
    if !folder.is_dir() {
        return Err(Error::InvalidCheckpoint {
            path: path.to_owned(),
            reason: format!(
                "the folder {} does not exist; create it first",
                folder.display()
            ),
        });
    }
    let temporary = folder.join(format!(".{}.partial", file_name.to_string_lossy()));

    let contiguous: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(name, tensor)| Ok((name.clone(), tensor.contiguous()?)))
        .collect::<Result<_>>()?;
    let serialized = safetensors::serialize(contiguous, Some(metadata)).map_err(|e| {
        Error::InvalidCheckpoint {
            path: path.to_owned(),
            reason: format!("serializing the tensors failed: {e}"),
        }
    })?;
    let bytes = with_sorted_header(serialized).map_err(|reason| Error::InvalidCheckpoint {
        path: path.to_owned(),
        reason,
    })?;

    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(&bytes)?;
        file.sync_all()
    });
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(io_error(source));
    }
    std::fs::rename(&temporary, path).map_err(io_error)
}

/// Rewrites a serialized safetensors file with the JSON keys of its header (tensor names and
/// `__metadata__` entries) in sorted order. Tensor offsets are relative to the end of the
/// header, so the data bytes stay valid as they are.
fn with_sorted_header(serialized: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let length_bytes: [u8; 8] = serialized
        .get(..8)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or("the serialized file has no header length")?;
    let header_end = usize::try_from(u64::from_le_bytes(length_bytes))
        .ok()
        .and_then(|length| length.checked_add(8))
        .filter(|&end| end <= serialized.len())
        .ok_or("the serialized header length exceeds the file")?;
    let mut header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&serialized[8..header_end]).map_err(|e| e.to_string())?;
    if let Some(entries) = header.remove(METADATA_KEY) {
        // Collected into a BTreeMap so the order is sorted whatever map type serde_json uses.
        let sorted: BTreeMap<String, String> =
            serde_json::from_value(entries).map_err(|e| e.to_string())?;
        header.insert(
            METADATA_KEY.to_owned(),
            serde_json::to_value(sorted).map_err(|e| e.to_string())?,
        );
    }
    let mut text = serde_json::to_string(&header).map_err(|e| e.to_string())?;
    // safetensors pads the header with spaces to a multiple of 8 bytes, so the data is aligned.
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let data = &serialized[header_end..];
    let mut bytes = Vec::with_capacity(8 + text.len() + data.len());
    bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    Ok(bytes)
}

/// Reads the header metadata of a safetensors file.
pub fn read_header(path: &Path) -> Result<HashMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let (_, metadata) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| Error::InvalidCheckpoint {
            path: path.to_owned(),
            reason: format!("not a safetensors file: {e}"),
        })?;
    Ok(metadata.metadata().clone().unwrap_or_default())
}

/// Reads every tensor of a safetensors checkpoint.
pub fn read_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(Error::Io {
            path: path.to_owned(),
            source,
        });
    }
    candle_core::safetensors::load(path, device).map_err(|e| Error::InvalidCheckpoint {
        path: path.to_owned(),
        reason: format!("not a readable safetensors file: {e}"),
    })
}

/// Checks that the tensors under `prefix` in `tensors` are exactly `expected` (names relative
/// to the prefix, and shapes), naming the first tensor that is missing, extra or misshapen.
pub fn check_tensor_shapes(
    path: &Path,
    prefix: &str,
    tensors: &HashMap<String, Tensor>,
    expected: &[(String, Vec<usize>)],
) -> Result<()> {
    let full_name = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    for (name, shape) in expected {
        let key = full_name(name);
        let Some(tensor) = tensors.get(&key) else {
            return Err(Error::InvalidCheckpointTensor {
                path: path.to_owned(),
                key,
                reason: format!("missing (expected shape {shape:?})"),
            });
        };
        if tensor.dims() != shape.as_slice() {
            return Err(Error::InvalidCheckpointTensor {
                path: path.to_owned(),
                key,
                reason: format!("shape {:?}, expected {shape:?}", tensor.dims()),
            });
        }
    }
    let mut extra: Vec<&String> = tensors
        .keys()
        .filter(|key| prefix.is_empty() || key.starts_with(&format!("{prefix}.")))
        .filter(|key| !expected.iter().any(|(name, _)| full_name(name) == **key))
        .collect();
    extra.sort();
    if let Some(key) = extra.first() {
        return Err(Error::InvalidCheckpointTensor {
            path: path.to_owned(),
            key: (*key).clone(),
            reason: "unexpected for a network of this shape".into(),
        });
    }
    Ok(())
}

/// Loads the generator of `direction` from a checkpoint, with the metadata its header records.
pub fn load_generator(
    path: &Path,
    direction: Direction,
    device: &Device,
) -> Result<(Generator, CheckpointMetadata)> {
    let metadata = CheckpointMetadata::from_header(path, &read_header(path)?)?;
    let tensors = read_tensors(path, device)?;
    let prefix = direction.prefix();
    let expected = Generator::parameter_shapes(&metadata.generator)?;
    check_tensor_shapes(path, prefix, &tensors, &expected)?;

    let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
    let generator = Generator::new(vb.pp(prefix), &metadata.generator)?;
    Ok((generator, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the JSON text of a safetensors file's header.
    fn header_text(path: &Path) -> String {
        let bytes = std::fs::read(path).unwrap();
        let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        String::from_utf8(bytes[8..8 + length].to_vec()).unwrap()
    }

    #[test]
    fn written_header_has_sorted_keys() {
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join("weights.safetensors");
        let tensors = BTreeMap::from([
            (
                "b".to_owned(),
                Tensor::new(&[1f32, 2.0], &Device::Cpu).unwrap(),
            ),
            ("a".to_owned(), Tensor::new(&[3f32], &Device::Cpu).unwrap()),
        ]);
        let keys: Vec<String> = (0..20).map(|index| format!("key{index:02}")).collect();
        let metadata = keys
            .iter()
            .map(|key| (key.clone(), "1".to_owned()))
            .collect();
        write_checkpoint(&path, &tensors, metadata).unwrap();

        let text = header_text(&path);
        assert_eq!(text.len() % 8, 0, "header {text:?}");
        let positions: Vec<usize> = keys
            .iter()
            .map(|key| text.find(&format!("\"{key}\"")).unwrap())
            .collect();
        let mut sorted = positions.clone();
        sorted.sort();
        assert_eq!(positions, sorted, "header {text:?}");

        let read = read_tensors(&path, &Device::Cpu).unwrap();
        assert_eq!(read["a"].to_vec1::<f32>().unwrap(), vec![3.0]);
        assert_eq!(read["b"].to_vec1::<f32>().unwrap(), vec![1.0, 2.0]);
        assert_eq!(read_header(&path).unwrap()["key07"], "1");
    }

    #[test]
    fn header_without_masked_names_key() {
        let header = HashMap::from([
            (METADATA_NGF.to_owned(), "8".to_owned()),
            (METADATA_N_RES.to_owned(), "3".to_owned()),
        ]);
        let error = CheckpointMetadata::from_header(Path::new("c.safetensors"), &header)
            .unwrap_err()
            .to_string();
        assert!(error.contains("no \"masked\""), "{error}");
        assert!(!error.contains("None"), "{error}");
    }

    #[test]
    fn write_into_missing_folder_names_it() {
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join("missing").join("weights.safetensors");
        let tensors =
            BTreeMap::from([("a".to_owned(), Tensor::new(&[3f32], &Device::Cpu).unwrap())]);
        let error = write_checkpoint(&path, &tensors, HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing"), "{error}");
        assert!(!error.contains(".partial"), "{error}");
    }
}
