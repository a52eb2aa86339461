//! The content-addressed store under the cache directory.
//!
//! Layout:
//! - `objects/<2 hex>/<digest>`: output files by content, read-only and shared by every run
//!   that wrote the same bytes.
//! - `runs/<key>.json` and `runs/<key>.log`: the run record and its log.
//! - `names/<stage>.json`: the key parts of the last run per stage name.
//! - `scratch/<key>/`: a stage's resumable state.
//! - `tmp/`: the directories stages run in.
//! - `locks/<key>.lock`: the per-key file locks.
//!
//! Crash safety comes from ordering: outputs are moved into `objects/` first, and the record
//! that makes them visible is written last, to a temporary file that is fsynced and renamed.
//! A crash at any point leaves either no record (the stage reruns; stray objects are removed by
//! `gc`) or a complete one.
//!
//! Reads are verified: a record's objects are checked before the record is trusted. An object
//! whose size and modification time match those recorded is taken as intact without reading
//! it (so a no-op run only stats files); anything else is rehashed, and a mismatch deletes the
//! object and the record, so the producing stage runs again and no consumer sees bad bytes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use fs4::fs_std::FileExt;

use crate::error::EngineError;
use crate::record::{NameRecord, RunRecord};
use crate::tree::{hash_file, hash_tree, hex, EntryKind, ManifestEntry};

/// A store rooted at a cache directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    counters: Arc<AccessCounters>,
}

/// How much file-system work reads of the store did, for the no-op benchmark.
#[derive(Debug, Default)]
pub struct AccessCounters {
    pub records_read: AtomicUsize,
    pub objects_stated: AtomicUsize,
    pub objects_hashed: AtomicUsize,
}

/// A held per-key lock; released on drop.
pub struct KeyLock {
    file: fs::File,
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

/// Result of checking one record's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact,
    /// The output paths whose objects are missing or do not match their digest.
    Damaged(Vec<String>),
}

const SUBDIRECTORIES: &[&str] = &["objects", "runs", "names", "scratch", "tmp", "locks"];

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Self, EngineError> {
        for sub in SUBDIRECTORIES {
            let dir = root.join(sub);
            fs::create_dir_all(&dir).map_err(EngineError::io("create store directory", &dir))?;
        }
        // Stages run with their output directory as working directory, so every path handed
        // to them must be absolute.
        let root = fs::canonicalize(root).map_err(EngineError::io("resolve", root))?;
        Ok(Self {
            root,
            counters: Arc::default(),
        })
    }

    /// Counts of records read and objects stat'ed or rehashed since the store was opened.
    pub fn counters(&self) -> &AccessCounters {
        &self.counters
    }

    /// Returns the store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn object_path(&self, digest: &str) -> PathBuf {
        let prefix = digest.get(..2).unwrap_or("00");
        self.root.join("objects").join(prefix).join(digest)
    }

    pub fn record_path(&self, key: &str) -> PathBuf {
        self.root.join("runs").join(format!("{key}.json"))
    }

    pub fn log_path(&self, key: &str) -> PathBuf {
        self.root.join("runs").join(format!("{key}.log"))
    }

    pub fn scratch_path(&self, key: &str) -> PathBuf {
        self.root.join("scratch").join(key)
    }

    pub fn name_path(&self, stage: &str) -> PathBuf {
        self.root.join("names").join(format!("{stage}.json"))
    }

    /// Creates a fresh, empty directory under `tmp/`.
    pub fn create_tmp_dir(&self, label: &str) -> Result<PathBuf, EngineError> {
        let tmp = self.root.join("tmp");
        let nanos = std::time::SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or(0);
        let dir = tmp.join(format!("{label}-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).map_err(EngineError::io("create", &dir))?;
        Ok(dir)
    }

    /// Takes the lock of `key`, waiting while another process holds it.
    pub fn lock(&self, key: &str) -> Result<KeyLock, EngineError> {
        let path = self.root.join("locks").join(format!("{key}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(EngineError::io("open lock file", &path))?;
        FileExt::lock_exclusive(&file).map_err(EngineError::io("lock", &path))?;
        Ok(KeyLock { file })
    }

    /// Reads the record of `key`, if there is one.
    pub fn read_record(&self, key: &str) -> Result<Option<RunRecord>, EngineError> {
        self.counters.records_read.fetch_add(1, Ordering::Relaxed);
        read_json(&self.record_path(key))
    }

    /// Reads the last key parts recorded for a stage name.
    pub fn read_name(&self, stage: &str) -> Result<Option<NameRecord>, EngineError> {
        read_json(&self.name_path(stage))
    }

    pub fn write_name(&self, stage: &str, name: &NameRecord) -> Result<(), EngineError> {
        write_json_atomically(&self.name_path(stage), name)
    }

    /// Writes `record` atomically: temp file, fsync, rename.
    pub fn write_record(&self, record: &RunRecord) -> Result<(), EngineError> {
        write_json_atomically(&self.record_path(&record.key), record)
    }

    /// Removes a record (its objects stay until `gc`).
    pub fn remove_record(&self, key: &str) -> Result<(), EngineError> {
        let path = self.record_path(key);
        match fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(EngineError::io("remove", &path)(error))
            }
            _ => Ok(()),
        }
    }

    /// Hashes the tree at `out_dir` and moves its files into `objects/`, returning the
    /// manifest with each object's modification time.
    pub fn ingest(&self, out_dir: &Path) -> Result<Vec<ManifestEntry>, EngineError> {
        let mut manifest = hash_tree(out_dir)?;
        for entry in manifest
            .iter_mut()
            .filter(|entry| entry.kind == EntryKind::File)
        {
            let source = out_dir.join(&entry.path);
            let object = self.object_path(&entry.digest);
            if object.exists() {
                // Same content is already stored; the run's copy is redundant.
                fs::remove_file(&source).map_err(EngineError::io("remove", &source))?;
            } else {
                if let Some(parent) = object.parent() {
                    fs::create_dir_all(parent).map_err(EngineError::io("create", parent))?;
                }
                set_read_only(&source)?;
                fs::rename(&source, &object).map_err(EngineError::io("store", &source))?;
            }
            entry.mtime_ns = modification_time_ns(&object)?;
        }
        Ok(manifest)
    }

    /// Checks every object of `record`; `rehash` reads each one even if its size and
    /// modification time match. Damaged objects are deleted.
    pub fn verify(&self, record: &RunRecord, rehash: bool) -> Result<Verification, EngineError> {
        let mut damaged = Vec::new();
        for entry in record.files() {
            let object = self.object_path(&entry.digest);
            self.counters.objects_stated.fetch_add(1, Ordering::Relaxed);
            let Ok(metadata) = fs::metadata(&object) else {
                damaged.push(entry.path.clone());
                continue;
            };
            let unchanged =
                metadata.len() == entry.size && mtime_of(&metadata) == Some(entry.mtime_ns);
            if unchanged && !rehash {
                continue;
            }
            self.counters.objects_hashed.fetch_add(1, Ordering::Relaxed);
            if hex(&hash_file(&object)?) != entry.digest {
                tracing::warn!(
                    object = %object.display(),
                    stage = %record.stage,
                    "damaged object removed"
                );
                // Readable-only files can still be removed; the directory is writable.
                fs::remove_file(&object)
                    .map_err(EngineError::io("remove damaged object", &object))?;
                damaged.push(entry.path.clone());
            }
        }
        if damaged.is_empty() {
            Ok(Verification::Intact)
        } else {
            Ok(Verification::Damaged(damaged))
        }
    }

    /// Builds a read-only view of `record`'s output tree at `dest` from hard links to the
    /// objects (copies where hard links are not possible).
    pub fn materialize(&self, record: &RunRecord, dest: &Path) -> Result<(), EngineError> {
        fs::create_dir_all(dest).map_err(EngineError::io("create", dest))?;
        for entry in &record.manifest {
            let target = dest.join(&entry.path);
            match entry.kind {
                EntryKind::Dir => {
                    fs::create_dir_all(&target).map_err(EngineError::io("create", &target))?;
                }
                EntryKind::File => {
                    if let Some(parent) = target.parent() {
                        fs::create_dir_all(parent).map_err(EngineError::io("create", parent))?;
                    }
                    let object = self.object_path(&entry.digest);
                    if fs::hard_link(&object, &target).is_err() {
                        fs::copy(&object, &target).map_err(EngineError::io("copy", &object))?;
                        set_read_only(&target)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads every record in the store.
    pub fn records(&self) -> Result<Vec<RunRecord>, EngineError> {
        let runs = self.root.join("runs");
        let mut records = Vec::new();
        for entry in fs::read_dir(&runs).map_err(EngineError::io("read", &runs))? {
            let path = entry.map_err(EngineError::io("read", &runs))?.path();
            if path
                .extension()
                .is_some_and(|extension| extension == "json")
            {
                if let Some(record) = read_json::<RunRecord>(&path)? {
                    records.push(record);
                }
            }
        }
        records.sort_by(|first, second| first.stage.cmp(&second.stage));
        Ok(records)
    }
}

fn set_read_only(path: &Path) -> Result<(), EngineError> {
    let mut permissions = fs::metadata(path)
        .map_err(EngineError::io("read metadata of", path))?
        .permissions();
    permissions.set_readonly(true);
    fs::set_permissions(path, permissions).map_err(EngineError::io("make read-only", path))
}

fn mtime_of(metadata: &fs::Metadata) -> Option<i64> {
    let modified = metadata.modified().ok()?;
    let elapsed = modified.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(elapsed.as_nanos()).ok()
}

fn modification_time_ns(path: &Path) -> Result<i64, EngineError> {
    let metadata = fs::metadata(path).map_err(EngineError::io("read metadata of", path))?;
    Ok(mtime_of(&metadata).unwrap_or(0))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, EngineError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(EngineError::io("read", path)(error)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|error| EngineError::Record {
            path: path.to_path_buf(),
            message: error.to_string(),
        })
}

/// Writes JSON to a temporary file beside `path`, fsyncs it and renames it over `path`.
pub fn write_json_atomically<T: serde::Serialize>(
    path: &Path,
    value: &T,
) -> Result<(), EngineError> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|error| EngineError::Invalid(error.to_string()))?;
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut file = fs::File::create(&temporary).map_err(EngineError::io("create", &temporary))?;
    file.write_all(&bytes)
        .map_err(EngineError::io("write", &temporary))?;
    file.sync_all()
        .map_err(EngineError::io("sync", &temporary))?;
    fs::rename(&temporary, path).map_err(EngineError::io("rename", &temporary))?;
    if let Some(parent) = path.parent() {
        // The rename is only durable once the directory entry is.
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}
