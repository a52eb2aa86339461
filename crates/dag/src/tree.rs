//! Output trees: the Merkle digest and the manifest of a stage's output directory.
//!
//! A file's digest is blake3 of its bytes. A directory's digest is blake3 over its entries
//! sorted by name, each encoded as the name's length (u64 LE), the name, a kind byte (`f` or
//! `d`) and the 32-byte digest. Two trees with the same names and bytes have the same digest
//! wherever and whenever they were written, which is what early cut-off relies on.

use std::fs;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// One entry of an output tree; `path` is relative to the output root with `/` separators
/// (`""` is the root directory itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub path: String,
    pub kind: EntryKind,
    /// Hex blake3 digest (Merkle digest for directories).
    pub digest: String,
    /// File size in bytes (0 for directories).
    pub size: u64,
    /// Modification time of the stored object when it was last verified, in nanoseconds since
    /// the Unix epoch (0 for directories and for entries not yet stored).
    #[serde(default)]
    pub mtime_ns: i64,
}

/// Whether an entry is a file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
}

/// Hashes the tree at `root`, returning every entry (directories after their contents, the
/// root last).
pub fn hash_tree(root: &Path) -> Result<Vec<ManifestEntry>, EngineError> {
    let mut entries = Vec::new();
    hash_dir(root, "", &mut entries)?;
    Ok(entries)
}

fn hash_dir(
    dir: &Path,
    relative: &str,
    entries: &mut Vec<ManifestEntry>,
) -> Result<[u8; 32], EngineError> {
    let mut children: Vec<(String, std::path::PathBuf)> = fs::read_dir(dir)
        .map_err(EngineError::io("read directory", dir))?
        .map(|entry| {
            let entry = entry.map_err(EngineError::io("read directory", dir))?;
            let name = entry.file_name().into_string().map_err(|name| {
                EngineError::Invalid(format!(
                    "output file name {name:?} in {} is not UTF-8; rename it",
                    dir.display()
                ))
            })?;
            Ok((name, entry.path()))
        })
        .collect::<Result<_, EngineError>>()?;
    children.sort();

    let mut hasher = blake3::Hasher::new();
    for (name, path) in children {
        let child_relative = if relative.is_empty() {
            name.clone()
        } else {
            format!("{relative}/{name}")
        };
        let metadata =
            fs::symlink_metadata(&path).map_err(EngineError::io("read metadata of", &path))?;
        let (kind_byte, digest) = if metadata.is_dir() {
            (b'd', hash_dir(&path, &child_relative, entries)?)
        } else if metadata.is_file() {
            let digest = hash_file(&path)?;
            entries.push(ManifestEntry {
                path: child_relative,
                kind: EntryKind::File,
                digest: hex(&digest),
                size: metadata.len(),
                mtime_ns: 0,
            });
            (b'f', digest)
        } else {
            return Err(EngineError::Invalid(format!(
                "output {} is neither a file nor a directory (symbolic links are not stored); \
                 write a regular file",
                path.display()
            )));
        };
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&[kind_byte]);
        hasher.update(&digest);
    }

    let digest = *hasher.finalize().as_bytes();
    entries.push(ManifestEntry {
        path: relative.to_string(),
        kind: EntryKind::Dir,
        digest: hex(&digest),
        size: 0,
        mtime_ns: 0,
    });
    Ok(digest)
}

/// Blake3 of a file's bytes.
pub fn hash_file(path: &Path) -> Result<[u8; 32], EngineError> {
    let mut file = fs::File::open(path).map_err(EngineError::io("open", path))?;
    let mut hasher = blake3::Hasher::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(EngineError::io("read", path))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(*hasher.finalize().as_bytes())
}

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8; 32]) -> String {
    blake3::Hash::from_bytes(*digest).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_trees_share_digest() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        for root in [first.path(), second.path()] {
            fs::create_dir(root.join("sub")).unwrap();
            fs::write(root.join("sub/a.txt"), b"alpha").unwrap();
            fs::write(root.join("b.txt"), b"beta").unwrap();
        }
        let first_root = hash_tree(first.path()).unwrap().pop().unwrap();
        let second_root = hash_tree(second.path()).unwrap().pop().unwrap();
        assert_eq!(first_root.digest, second_root.digest);
    }

    #[test]
    fn renamed_file_changes_digest() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        fs::write(first.path().join("a.txt"), b"alpha").unwrap();
        fs::write(second.path().join("c.txt"), b"alpha").unwrap();
        let first_root = hash_tree(first.path()).unwrap().pop().unwrap();
        let second_root = hash_tree(second.path()).unwrap().pop().unwrap();
        assert_ne!(first_root.digest, second_root.digest);
    }

    #[test]
    fn file_digest_is_blake3_of_bytes() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), b"alpha").unwrap();
        let entries = hash_tree(dir.path()).unwrap();
        assert_eq!(
            entries[0].digest,
            blake3::hash(b"alpha").to_hex().to_string()
        );
    }
}
