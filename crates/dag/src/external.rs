//! Files and folders outside the store that a stage reads (a dataset archive, a weight file),
//! and their content digests for the stage key.
//!
//! A kind names them with [`StageKind::external_paths`](crate::StageKind::external_paths),
//! relative to the pipeline file's folder. A file's digest is blake3 of its bytes, a folder's
//! is the Merkle digest of its tree (the same encoding as an output tree), and a missing path
//! digests to [`MISSING`], so creating it makes the stage stale.
//!
//! Hashing a large archive on every no-op run would be slow, so digests are cached in
//! `externals/<blake3 of the absolute path>.json` by (relative path, size, modification time,
//! inode). An entry whose stat differs, and a cache file that cannot be parsed, are just
//! hashed again. A read-only store (`status`) uses the cache but does not write it.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::store::{write_json_atomically, Store};
use crate::tree::{hash_file, hex};

/// The digest of a path that does not exist.
pub const MISSING: &str = "missing";

/// The stat a cached file digest is valid for, and the digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CachedFile {
    size: u64,
    mtime_ns: i64,
    inode: u64,
    digest: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct DigestCache {
    path: String,
    files: BTreeMap<String, CachedFile>,
}

/// Returns the content digest of the file or folder at `path` ([`MISSING`] when absent).
pub fn external_digest(store: &Store, path: &Path) -> Result<String, EngineError> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(MISSING.to_string())
        }
        Err(error) => return Err(EngineError::io("read metadata of", path)(error)),
    };
    let absolute = fs::canonicalize(path).map_err(EngineError::io("resolve", path))?;
    let cache_path = store.root().join("externals").join(format!(
        "{}.json",
        blake3::hash(absolute.to_string_lossy().as_bytes()).to_hex()
    ));
    let old: DigestCache = fs::read(&cache_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let mut new = DigestCache {
        path: absolute.to_string_lossy().to_string(),
        files: BTreeMap::new(),
    };

    let digest = if metadata.is_dir() {
        hex(&digest_dir(&absolute, "", &old, &mut new)?)
    } else {
        hex(&digest_file(&absolute, "", &metadata, &old, &mut new)?)
    };

    if !store.is_read_only() && new.files != old.files {
        let parent = store.root().join("externals");
        fs::create_dir_all(&parent).map_err(EngineError::io("create", &parent))?;
        write_json_atomically(&cache_path, &new)?;
    }
    Ok(digest)
}

fn digest_file(
    path: &Path,
    relative: &str,
    metadata: &fs::Metadata,
    old: &DigestCache,
    new: &mut DigestCache,
) -> Result<[u8; 32], EngineError> {
    let stat = CachedFile {
        size: metadata.len(),
        mtime_ns: metadata.mtime() * 1_000_000_000 + metadata.mtime_nsec(),
        inode: metadata.ino(),
        digest: String::new(),
    };
    let cached = old.files.get(relative).filter(|cached| {
        cached.size == stat.size && cached.mtime_ns == stat.mtime_ns && cached.inode == stat.inode
    });
    let digest = match cached.and_then(|cached| parse_hex(&cached.digest)) {
        Some(digest) => digest,
        None => hash_file(path)?,
    };
    new.files.insert(
        relative.to_string(),
        CachedFile {
            digest: hex(&digest),
            ..stat
        },
    );
    Ok(digest)
}

fn digest_dir(
    dir: &Path,
    relative: &str,
    old: &DigestCache,
    new: &mut DigestCache,
) -> Result<[u8; 32], EngineError> {
    let mut children: Vec<(String, std::path::PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(EngineError::io("read directory", dir))? {
        let entry = entry.map_err(EngineError::io("read directory", dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        children.push((name, entry.path()));
    }
    children.sort();

    let mut hasher = blake3::Hasher::new();
    for (name, path) in children {
        let child_relative = if relative.is_empty() {
            name.clone()
        } else {
            format!("{relative}/{name}")
        };
        let metadata = fs::metadata(&path).map_err(EngineError::io("read metadata of", &path))?;
        let (kind, digest) = if metadata.is_dir() {
            (b'd', digest_dir(&path, &child_relative, old, new)?)
        } else {
            (
                b'f',
                digest_file(&path, &child_relative, &metadata, old, new)?,
            )
        };
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&[kind]);
        hasher.update(&digest);
    }
    Ok(*hasher.finalize().as_bytes())
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    blake3::Hash::from_hex(text)
        .ok()
        .map(|hash| *hash.as_bytes())
}
