//! Import of the authors' PyTorch checkpoints: one `torch.save(net.state_dict(), "netX.pth")`
//! file per network, in PyTorch's zip format or the pre-zip (legacy) format of 2019.
//!
//! Both formats keep the state dict as a pickle whose tensors refer to storages by key: the
//! zip format stores storage `k` as the entry `<archive>/data/k`; the legacy format follows
//! the pickles (magic number, protocol version, system info, state dict, storage keys) with
//! each storage as an 8-byte little-endian element count and the raw data, in key order.
//! Pickles are read by [`crate::torch_pickle`], which executes nothing.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read};
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::checkpoint::{self, CheckpointMetadata, DISCRIMINATORS, GENERATOR_A2B, GENERATOR_B2A};
use crate::torch_pickle::{read_pickle, Value};
use crate::{
    Discriminator, DiscriminatorConfig, DiscriminatorVariant, Error, Generator, GeneratorConfig,
    Result,
};

/// The magic number 0x1950a86a20f9469cfc6c that opens a legacy PyTorch file, as the
/// little-endian bytes of the pickled integer.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// The protocol version a legacy PyTorch file records after the magic number.
const LEGACY_PROTOCOL_VERSION: i64 = 1001;

/// The networks of an imported checkpoint, with the authors' names under network prefixes.
#[derive(Debug, Clone)]
pub struct ImportedCheckpoint {
    /// Every tensor, named `netG_A2B.model.1.weight`, `netD_A.model.0.bias`, ...
    pub tensors: BTreeMap<String, Tensor>,
    /// Shape of both generators, inferred from their tensors.
    pub generator: GeneratorConfig,
    /// Shape of the discriminators, when their files were present.
    pub discriminator: Option<DiscriminatorConfig>,
}

impl ImportedCheckpoint {
    /// Writes the networks as a checkpoint; `size` is the training size, when known.
    pub fn write(&self, path: &Path, size: Option<usize>) -> Result<()> {
        let metadata = CheckpointMetadata {
            size,
            generator: self.generator,
        };
        checkpoint::write_checkpoint(path, &self.tensors, metadata.to_header())
    }
}

/// Reads a folder of the authors' checkpoint files: `netG_A2B.pth` and `netG_B2A.pth` are
/// required; `netD_A.pth`, `netD_B.pth`, `netD_Am.pth` and `netD_Bm.pth` are imported when
/// present. Shapes (base widths, residual blocks, masks, discriminator variant) come from the
/// tensors, and every file must hold exactly the tensors of a network of that shape.
pub fn import_authors_checkpoint(folder: &Path) -> Result<ImportedCheckpoint> {
    let mut tensors = BTreeMap::new();
    let generator = import_generator(folder, GENERATOR_A2B, &mut tensors)?;
    let other = import_generator(folder, GENERATOR_B2A, &mut tensors)?;
    if other != generator {
        return Err(Error::InvalidCheckpoint {
            path: folder.join(format!("{GENERATOR_B2A}.pth")),
            reason: format!(
                "the generator's shape {other:?} differs from {GENERATOR_A2B}'s {generator:?}"
            ),
        });
    }

    let mut discriminator = None;
    for prefix in DISCRIMINATORS {
        let path = folder.join(format!("{prefix}.pth"));
        if !path.exists() {
            continue;
        }
        let state = read_state_dict(&path)?;
        let config = infer_discriminator_config(&path, &state)?;
        let expected = Discriminator::parameter_shapes(&config)?;
        checkpoint::check_tensor_shapes(&path, "", &state, &expected)?;
        discriminator.get_or_insert(config);
        add_prefixed(&mut tensors, prefix, state);
    }

    Ok(ImportedCheckpoint {
        tensors,
        generator,
        discriminator,
    })
}

/// Reads `<prefix>.pth`, checks its tensors against the shape they imply and adds them under
/// `prefix`.
fn import_generator(
    folder: &Path,
    prefix: &str,
    tensors: &mut BTreeMap<String, Tensor>,
) -> Result<GeneratorConfig> {
    let path = folder.join(format!("{prefix}.pth"));
    if !path.is_file() {
        return Err(Error::InvalidInput {
            path,
            reason: format!(
                "not found; an authors' checkpoint folder holds {GENERATOR_A2B}.pth and \
                 {GENERATOR_B2A}.pth"
            ),
        });
    }
    let state = read_state_dict(&path)?;
    let config = infer_generator_config(&path, &state)?;
    let expected = Generator::parameter_shapes(&config)?;
    checkpoint::check_tensor_shapes(&path, "", &state, &expected)?;
    add_prefixed(tensors, prefix, state);
    Ok(config)
}

fn add_prefixed(
    tensors: &mut BTreeMap<String, Tensor>,
    prefix: &str,
    state: HashMap<String, Tensor>,
) {
    for (name, tensor) in state {
        tensors.insert(format!("{prefix}.{name}"), tensor);
    }
}

/// The generator shape a state dict's tensors imply.
fn infer_generator_config(path: &Path, state: &HashMap<String, Tensor>) -> Result<GeneratorConfig> {
    let stem = required_tensor(path, state, "model.1.weight")?;
    let ngf = stem.dim(0)?;
    let n_res = (0..)
        .take_while(|i| state.contains_key(&format!("model.{}.conv_block.1.weight", 10 + i)))
        .count();
    Ok(GeneratorConfig {
        ngf,
        n_res,
        masked: state.contains_key("mask_model.weight"),
    })
}

/// The discriminator shape a state dict's tensors imply.
fn infer_discriminator_config(
    path: &Path,
    state: &HashMap<String, Tensor>,
) -> Result<DiscriminatorConfig> {
    let first = required_tensor(path, state, "model.0.weight")?;
    let variant = if state.contains_key("model.11.weight") {
        DiscriminatorVariant::Full
    } else {
        DiscriminatorVariant::Simple
    };
    Ok(DiscriminatorConfig {
        ndf: first.dim(0)?,
        variant,
    })
}

fn required_tensor<'a>(
    path: &Path,
    state: &'a HashMap<String, Tensor>,
    key: &str,
) -> Result<&'a Tensor> {
    state
        .get(key)
        .ok_or_else(|| Error::InvalidCheckpointTensor {
            path: path.to_owned(),
            key: key.to_owned(),
            reason: "missing".into(),
        })
}

/// Reads a PyTorch state dict (zip or legacy format) as float32 tensors by name.
pub fn read_state_dict(path: &Path) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |error: FormatError| match error.key {
        Some(key) => Error::InvalidCheckpointTensor {
            path: path.to_owned(),
            key,
            reason: error.reason,
        },
        None => Error::InvalidPth {
            path: path.to_owned(),
            reason: error.reason,
        },
    };
    let (records, storages) = if bytes.starts_with(b"PK\x03\x04") {
        read_zip_format(&bytes).map_err(invalid)?
    } else if bytes.starts_with(&[0x80]) {
        read_legacy_format(&bytes).map_err(invalid)?
    } else {
        return Err(invalid(FormatError::from(
            "neither a zip archive nor a pickle (wrong file type?)",
        )));
    };

    let mut tensors = HashMap::with_capacity(records.len());
    for record in records {
        let tensor =
            record
                .to_tensor(&storages)
                .map_err(|reason| Error::InvalidCheckpointTensor {
                    path: path.to_owned(),
                    key: record.key.clone(),
                    reason,
                })?;
        tensors.insert(record.key, tensor);
    }
    Ok(tensors)
}

/// Raw storages by key: element type and little-endian bytes.
type Storages = HashMap<String, (StorageType, Vec<u8>)>;

/// The element types of storages this reader converts to float32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StorageType {
    F32,
    F64,
    F16,
    BF16,
}

impl StorageType {
    fn from_class(name: &str) -> Option<Self> {
        match name {
            "FloatStorage" => Some(Self::F32),
            "DoubleStorage" => Some(Self::F64),
            "HalfStorage" => Some(Self::F16),
            "BFloat16Storage" => Some(Self::BF16),
            _ => None,
        }
    }

    fn element_size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F64 => 8,
            Self::F16 | Self::BF16 => 2,
        }
    }

    fn dtype(self) -> DType {
        match self {
            Self::F32 => DType::F32,
            Self::F64 => DType::F64,
            Self::F16 => DType::F16,
            Self::BF16 => DType::BF16,
        }
    }
}

/// One tensor of a state dict: where its elements lie in which storage.
#[derive(Debug, Clone)]
struct TensorRecord {
    key: String,
    storage_key: String,
    storage_type: StorageType,
    storage_elements: usize,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
}

impl TensorRecord {
    /// Gathers the tensor's elements from its storage and converts them to float32.
    fn to_tensor(&self, storages: &Storages) -> std::result::Result<Tensor, String> {
        let Some((storage_type, bytes)) = storages.get(&self.storage_key) else {
            return Err(format!("its storage {:?} is missing", self.storage_key));
        };
        if *storage_type != self.storage_type {
            return Err(format!(
                "its storage {:?} is {:?}, the tensor expects {:?}",
                self.storage_key, storage_type, self.storage_type
            ));
        }
        let element_size = storage_type.element_size();
        let stored = bytes.len() / element_size;
        if stored < self.storage_elements {
            return Err(format!(
                "storage {:?} holds {stored} elements, {} expected (truncated file?)",
                self.storage_key, self.storage_elements
            ));
        }

        let count: usize = self.shape.iter().product();
        if count > 0 {
            let last = self
                .shape
                .iter()
                .zip(&self.strides)
                .map(|(size, stride)| (size - 1) * stride)
                .sum::<usize>()
                + self.offset;
            if last >= stored {
                return Err(format!(
                    "its view reaches element {last} of a storage of {stored} elements"
                ));
            }
        }
        let storage = Tensor::from_raw_buffer(
            &bytes[..stored * element_size],
            storage_type.dtype(),
            &[stored],
            &Device::Cpu,
        )
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| format!("cannot decode its storage: {e}"))?;

        let values = gather_strided(&storage, self.offset, &self.shape, &self.strides);
        Tensor::from_vec(values, self.shape.as_slice(), &Device::Cpu)
            .map_err(|e| format!("cannot build the tensor: {e}"))
    }
}

/// Elements of a strided view of `storage`, in row-major order. The caller has checked that
/// the view stays inside the storage.
fn gather_strided(storage: &[f32], offset: usize, shape: &[usize], strides: &[usize]) -> Vec<f32> {
    let count: usize = shape.iter().product();
    let mut values = Vec::with_capacity(count);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..count {
        let position = offset
            + index
                .iter()
                .zip(strides)
                .map(|(i, stride)| i * stride)
                .sum::<usize>();
        values.push(storage[position]);
        for dim in (0..shape.len()).rev() {
            index[dim] += 1;
            if index[dim] < shape[dim] {
                break;
            }
            index[dim] = 0;
        }
    }
    values
}

type Parsed = (Vec<TensorRecord>, Storages);

/// What is wrong with a checkpoint file, and the tensor concerned when there is one.
#[derive(Debug)]
struct FormatError {
    key: Option<String>,
    reason: String,
}

impl FormatError {
    fn at_key(key: &str, reason: String) -> Self {
        Self {
            key: Some(key.to_owned()),
            reason,
        }
    }
}

impl From<String> for FormatError {
    fn from(reason: String) -> Self {
        Self { key: None, reason }
    }
}

impl From<&str> for FormatError {
    fn from(reason: &str) -> Self {
        reason.to_owned().into()
    }
}

fn read_zip_format(bytes: &[u8]) -> std::result::Result<Parsed, FormatError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("unreadable zip archive (truncated file?): {e}"))?;
    let pickle_name = archive
        .file_names()
        .filter_map(|name| name.ok())
        .find(|name| name == "data.pkl" || name.ends_with("/data.pkl"))
        .map(|name| name.into_owned())
        .ok_or("the zip archive has no data.pkl entry")?;
    let archive_root = pickle_name.trim_end_matches("data.pkl").to_owned();

    let pickle = read_entry(&mut archive, &pickle_name)?;
    let (state, _) = read_pickle(&pickle).map_err(|e| format!("{pickle_name}: {e}"))?;
    let records = tensor_records(state)?;

    let mut storages = Storages::new();
    for record in &records {
        if storages.contains_key(&record.storage_key) {
            continue;
        }
        let entry = format!("{archive_root}data/{}", record.storage_key);
        let data =
            read_entry(&mut archive, &entry).map_err(|e| FormatError::at_key(&record.key, e))?;
        storages.insert(record.storage_key.clone(), (record.storage_type, data));
    }
    Ok((records, storages))
}

fn read_entry(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
) -> std::result::Result<Vec<u8>, String> {
    let mut entry = archive
        .by_name(name)
        .map_err(|e| format!("zip entry {name}: {e}"))?;
    let mut data = Vec::new();
    entry
        .read_to_end(&mut data)
        .map_err(|e| format!("zip entry {name} is unreadable (truncated file?): {e}"))?;
    Ok(data)
}

fn read_legacy_format(bytes: &[u8]) -> std::result::Result<Parsed, FormatError> {
    let mut position = 0;
    let mut next_pickle = |what: &str| -> std::result::Result<Value, String> {
        let (value, length) = read_pickle(&bytes[position..])
            .map_err(|e| format!("{what} at byte {position}: {e}"))?;
        position += length;
        Ok(value)
    };

    match next_pickle("magic number")? {
        Value::BigInt(digits) if digits == LEGACY_MAGIC => {}
        other => return Err(format!("no PyTorch magic number, found {other:?}").into()),
    }
    match next_pickle("protocol version")? {
        Value::Int(LEGACY_PROTOCOL_VERSION) => {}
        other => return Err(format!("unsupported legacy protocol version {other:?}").into()),
    }
    let system_info = next_pickle("system information")?;
    if dict_get(&system_info, "little_endian") == Some(&Value::Bool(false)) {
        return Err("the file was written on a big-endian machine".into());
    }
    let records = tensor_records(next_pickle("state dict")?)?;
    let keys = match next_pickle("storage key list")? {
        Value::List(keys) => keys,
        other => return Err(format!("the storage key list is {other:?}").into()),
    };

    let mut storages = Storages::new();
    for key in keys {
        let Value::String(key) = key else {
            return Err(format!("storage key {key:?} is not a string").into());
        };
        let Some(owner) = records.iter().find(|r| r.storage_key == key) else {
            return Err(format!("storage {key:?} belongs to no tensor").into());
        };
        let cut_off = |reason: String| FormatError::at_key(&owner.key, reason);

        let count_bytes = bytes
            .get(position..position + 8)
            .ok_or_else(|| cut_off(format!("its storage {key:?} is cut off (truncated file?)")))?;
        let mut count = [0u8; 8];
        count.copy_from_slice(count_bytes);
        let count = u64::from_le_bytes(count) as usize;
        position += 8;
        let length = count
            .checked_mul(owner.storage_type.element_size())
            .ok_or_else(|| {
                cut_off(format!(
                    "its storage {key:?} has an impossible size {count}"
                ))
            })?;
        let data = bytes.get(position..position + length).ok_or_else(|| {
            cut_off(format!(
                "its storage {key:?} needs {length} bytes at byte {position}, the file has {} \
                 (truncated file?)",
                bytes.len()
            ))
        })?;
        position += length;
        storages.insert(key, (owner.storage_type, data.to_vec()));
    }
    Ok((records, storages))
}

fn dict_get<'a>(dict: &'a Value, key: &str) -> Option<&'a Value> {
    match dict {
        Value::Dict(pairs) => pairs
            .iter()
            .find(|(k, _)| matches!(k, Value::String(s) if s == key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// The tensors of a pickled state dict, skipping its `_metadata` entry.
fn tensor_records(state: Value) -> std::result::Result<Vec<TensorRecord>, FormatError> {
    let Value::Dict(pairs) = state else {
        return Err("the pickle holds no dict (a whole model instead of its state_dict?)".into());
    };
    let mut records = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let Value::String(key) = key else {
            return Err(format!("a state dict key is {key:?}, not a string").into());
        };
        if key == "_metadata" {
            continue;
        }
        let record = tensor_record(&key, value).map_err(|e| FormatError::at_key(&key, e))?;
        records.push(record);
    }
    Ok(records)
}

/// Interprets `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`, also
/// wrapped in `_rebuild_parameter`.
fn tensor_record(key: &str, value: Value) -> std::result::Result<TensorRecord, String> {
    let (callable, args) = match value {
        Value::Call { callable, args } => (*callable, *args),
        other => return Err(format!("not a tensor but {other:?}")),
    };
    let Value::Global { module, name } = &callable else {
        return Err(format!("built by {callable:?}, not a tensor constructor"));
    };
    let Value::Tuple(mut args) = args else {
        return Err("its constructor arguments are not a tuple".into());
    };
    match (module.as_str(), name.as_str()) {
        ("torch._utils", "_rebuild_tensor_v2") => {}
        ("torch._utils", "_rebuild_parameter") if !args.is_empty() => {
            return tensor_record(key, args.swap_remove(0));
        }
        _ => {
            return Err(format!(
                "built by {module}.{name}, not a tensor constructor"
            ))
        }
    }
    if args.len() < 4 {
        return Err(format!(
            "{} constructor arguments, expected 4 or more",
            args.len()
        ));
    }
    let Value::PersistentId(storage) = &args[0] else {
        return Err("its first constructor argument is not a storage reference".into());
    };
    let Value::Tuple(storage) = storage.as_ref() else {
        return Err("its storage reference is not a tuple".into());
    };
    let (storage_type, storage_key, storage_elements) = match storage.as_slice() {
        [Value::String(tag), Value::Global { name, .. }, Value::String(storage_key), _, Value::Int(elements), ..]
            if tag == "storage" =>
        {
            let storage_type = StorageType::from_class(name)
                .ok_or_else(|| format!("unsupported storage type {name}"))?;
            (storage_type, storage_key.clone(), non_negative(*elements)?)
        }
        other => return Err(format!("unrecognised storage reference {other:?}")),
    };
    let offset = match &args[1] {
        Value::Int(offset) => non_negative(*offset)?,
        other => return Err(format!("storage offset {other:?} is not an integer")),
    };
    let shape = integer_tuple(&args[2]).map_err(|e| format!("size: {e}"))?;
    let strides = integer_tuple(&args[3]).map_err(|e| format!("stride: {e}"))?;
    if shape.len() != strides.len() {
        return Err(format!(
            "size {shape:?} and stride {strides:?} differ in rank"
        ));
    }
    Ok(TensorRecord {
        key: key.to_owned(),
        storage_key,
        storage_type,
        storage_elements,
        offset,
        shape,
        strides,
    })
}

fn non_negative(value: i64) -> std::result::Result<usize, String> {
    usize::try_from(value).map_err(|_| format!("{value} is negative"))
}

fn integer_tuple(value: &Value) -> std::result::Result<Vec<usize>, String> {
    let Value::Tuple(items) = value else {
        return Err(format!("{value:?} is not a tuple"));
    };
    items
        .iter()
        .map(|item| match item {
            Value::Int(v) => non_negative(*v),
            other => Err(format!("{other:?} is not an integer")),
        })
        .collect()
}
