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
//! - `externals/`: cached digests of files outside the store that stages read.
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
//! A record dropped as damaged leaves `runs/<key>.damaged` behind, so status can tell
//! `output damaged` from `never run`. A record or name record that cannot be parsed is damage
//! too: runs and `verify` remove it, `status` only reports it.

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
    read_only: bool,
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

/// A record file under `runs/` that could not be parsed.
#[derive(Debug, Clone)]
pub struct UnreadableRecord {
    pub path: PathBuf,
    pub message: String,
}

/// Every record in the store, and the record files that could not be parsed.
#[derive(Debug, Default)]
pub struct StoredRecords {
    pub records: Vec<RunRecord>,
    pub unreadable: Vec<UnreadableRecord>,
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
        check_root(root)?;
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
            read_only: false,
        })
    }

    /// Opens the store at `root` for reading only: nothing is created, and a missing `root`
    /// reads as an empty store.
    pub fn open_read_only(root: &Path) -> Result<Self, EngineError> {
        check_root(root)?;
        let root = match fs::canonicalize(root) {
            Ok(root) => root,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::path::absolute(root).map_err(EngineError::io("resolve", root))?
            }
            Err(error) => return Err(EngineError::io("resolve", root)(error)),
        };
        Ok(Self {
            root,
            counters: Arc::default(),
            read_only: true,
        })
    }

    /// Returns whether the store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
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

    /// The marker a record dropped as damaged leaves behind.
    pub fn damaged_marker_path(&self, key: &str) -> PathBuf {
        self.root.join("runs").join(format!("{key}.damaged"))
    }

    /// Returns whether the record of `key` was dropped as damaged and not written again since.
    pub fn was_damaged(&self, key: &str) -> bool {
        self.damaged_marker_path(key).exists()
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

    /// Returns the lock file of `key`.
    pub fn lock_path(&self, key: &str) -> PathBuf {
        self.root.join("locks").join(format!("{key}.lock"))
    }

    /// Takes the lock of `key`, waiting while another process holds it; `on_wait` is called
    /// once before waiting.
    pub fn lock(&self, key: &str, on_wait: impl FnOnce()) -> Result<KeyLock, EngineError> {
        let path = self.lock_path(key);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(EngineError::io("open lock file", &path))?;
        if !FileExt::try_lock_exclusive(&file).map_err(EngineError::io("lock", &path))? {
            on_wait();
            FileExt::lock_exclusive(&file).map_err(EngineError::io("lock", &path))?;
        }
        Ok(KeyLock { file })
    }

    /// Reads the record of `key`, if there is one. A record that cannot be parsed is an
    /// [`EngineError::Record`].
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
        write_json_atomically(&self.record_path(&record.key), record)?;
        remove_file_if_present(&self.damaged_marker_path(&record.key))
    }

    /// Removes the record of `key` as damaged, leaving the marker status reads.
    pub fn drop_damaged_record(&self, key: &str) -> Result<(), EngineError> {
        self.remove_record(key)?;
        let marker = self.damaged_marker_path(key);
        fs::write(&marker, b"").map_err(EngineError::io("write", &marker))
    }

    /// Drops, as damaged, every record whose output contains the object `digest`, and returns
    /// their stage names.
    pub fn drop_records_referencing(&self, digest: &str) -> Result<Vec<String>, EngineError> {
        let mut stages = Vec::new();
        for record in self.records()?.records {
            if record.files().any(|entry| entry.digest == digest) {
                self.drop_damaged_record(&record.key)?;
                stages.push(record.stage);
            }
        }
        Ok(stages)
    }

    /// Removes a record (its objects stay until `gc`).
    pub fn remove_record(&self, key: &str) -> Result<(), EngineError> {
        remove_file_if_present(&self.record_path(key))
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

    /// Checks every object of `record` without changing the store; `rehash` reads each one
    /// even if its size and modification time match. An object that is missing, is not a
    /// regular file or does not match its digest is damaged.
    pub fn check(&self, record: &RunRecord, rehash: bool) -> Result<Verification, EngineError> {
        let damaged: Vec<String> = self
            .damaged_files(record, rehash)?
            .into_iter()
            .map(|entry| entry.path.clone())
            .collect();
        if damaged.is_empty() {
            Ok(Verification::Intact)
        } else {
            Ok(Verification::Damaged(damaged))
        }
    }

    /// Checks every object of `record` like [`Store::check`] and deletes the damaged ones.
    pub fn verify(&self, record: &RunRecord, rehash: bool) -> Result<Verification, EngineError> {
        let damaged = self.damaged_files(record, rehash)?;
        for entry in &damaged {
            self.remove_object(&entry.digest)?;
            tracing::warn!(
                object = %self.object_path(&entry.digest).display(),
                stage = %record.stage,
                path = %entry.path,
                "damaged object removed"
            );
        }
        if damaged.is_empty() {
            Ok(Verification::Intact)
        } else {
            Ok(Verification::Damaged(
                damaged
                    .into_iter()
                    .map(|entry| entry.path.clone())
                    .collect(),
            ))
        }
    }

    /// Removes the object `digest`, whatever it has become (a file or a directory).
    pub fn remove_object(&self, digest: &str) -> Result<(), EngineError> {
        let object = self.object_path(digest);
        let removed = match fs::symlink_metadata(&object) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => Err(error),
            // Read-only files can still be removed, because the directory is writable.
            Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(&object),
            Ok(_) => fs::remove_file(&object),
        };
        removed.map_err(EngineError::io("remove damaged object", &object))
    }

    fn damaged_files<'a>(
        &self,
        record: &'a RunRecord,
        rehash: bool,
    ) -> Result<Vec<&'a ManifestEntry>, EngineError> {
        let mut damaged = Vec::new();
        for entry in record.files() {
            if !self.object_is_intact(entry, rehash)? {
                damaged.push(entry);
            }
        }
        Ok(damaged)
    }

    /// Returns whether the object of a file entry exists and holds the entry's bytes.
    pub fn object_is_intact(
        &self,
        entry: &ManifestEntry,
        rehash: bool,
    ) -> Result<bool, EngineError> {
        let object = self.object_path(&entry.digest);
        self.counters.objects_stated.fetch_add(1, Ordering::Relaxed);
        let Ok(metadata) = fs::symlink_metadata(&object) else {
            return Ok(false);
        };
        if !metadata.is_file() {
            return Ok(false);
        }
        let unchanged = metadata.len() == entry.size && mtime_of(&metadata) == Some(entry.mtime_ns);
        if unchanged && !rehash {
            return Ok(true);
        }
        self.counters.objects_hashed.fetch_add(1, Ordering::Relaxed);
        Ok(hex(&hash_file(&object)?) == entry.digest)
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

    /// Reads every record in the store; files that cannot be parsed are listed apart.
    pub fn records(&self) -> Result<StoredRecords, EngineError> {
        let runs = self.root.join("runs");
        let mut stored = StoredRecords::default();
        let entries = match fs::read_dir(&runs) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(stored),
            Err(error) => return Err(EngineError::io("read", &runs)(error)),
        };
        for entry in entries {
            let path = entry.map_err(EngineError::io("read", &runs))?.path();
            if path.extension().is_none_or(|extension| extension != "json") {
                continue;
            }
            match read_json::<RunRecord>(&path) {
                Ok(Some(record)) => stored.records.push(record),
                Ok(None) => {}
                Err(EngineError::Record { path, message }) => {
                    stored.unreadable.push(UnreadableRecord { path, message })
                }
                Err(error) => return Err(error),
            }
        }
        stored
            .records
            .sort_by(|first, second| first.stage.cmp(&second.stage));
        Ok(stored)
    }
}

/// Rejects a cache path that exists but is not a directory (or lies under a file).
fn check_root(root: &Path) -> Result<(), EngineError> {
    let not_a_directory = || {
        EngineError::Invalid(format!(
            "cache {} is not a directory; pass a folder to --cache",
            root.display()
        ))
    };
    match fs::metadata(root) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(not_a_directory()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotADirectory => Err(not_a_directory()),
        Err(error) => Err(EngineError::io("read metadata of", root)(error)),
    }
}

/// Removes the file at `path`; a file that is already gone is fine.
pub fn remove_file_if_present(path: &Path) -> Result<(), EngineError> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(EngineError::io("remove", path)(error))
        }
        _ => Ok(()),
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
