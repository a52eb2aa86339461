//! Garbage collection and full verification of the store.
//!
//! `gc` keeps the records whose key is the current key of a stage in one of the given
//! pipelines, the objects they reference and the scratch directories of current keys. It
//! removes the rest: other records and their logs, records that cannot be parsed, unreferenced
//! objects, scratch directories of keys no pipeline reaches (a training stage's resumable
//! state among them), and `tmp/` directories of processes that are gone.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::error::EngineError;
use crate::record::NameRecord;
use crate::spec::Pipeline;
use crate::status::pipeline_status;
use crate::store::{remove_file_if_present, Store, Verification};

/// Counts of what `gc` kept and removed.
#[derive(Debug, Default)]
pub struct GcSummary {
    pub records_kept: usize,
    pub records_removed: usize,
    pub objects_removed: usize,
    /// Scratch directories of keys no pipeline reaches, and `tmp/` directories of processes
    /// that are gone.
    pub directories_removed: usize,
    /// Bytes of the removed objects and directories.
    pub bytes_freed: u64,
}

/// Removes everything `pipelines` do not reach.
pub fn collect_garbage(store: &Store, pipelines: &[Pipeline]) -> Result<GcSummary, EngineError> {
    let mut keep: HashSet<String> = HashSet::new();
    for pipeline in pipelines {
        let everything = vec![true; pipeline.stages.len()];
        for status in pipeline_status(store, pipeline, &everything)? {
            keep.extend(status.key);
        }
    }

    let mut summary = GcSummary::default();
    let mut live_objects = HashSet::new();
    let stored = store.records()?;
    for record in stored.records {
        if keep.contains(&record.key) {
            summary.records_kept += 1;
            live_objects.extend(record.files().map(|entry| entry.digest.clone()));
            continue;
        }
        store.remove_record(&record.key)?;
        remove_if_present(&store.log_path(&record.key))?;
        summary.records_removed += 1;
    }
    for unreadable in stored.unreadable {
        remove_if_present(&unreadable.path)?;
        summary.records_removed += 1;
    }
    for marker in read_dir_paths(&store.root().join("runs"))? {
        let is_marker = marker
            .extension()
            .is_some_and(|extension| extension == "damaged");
        let key = marker
            .file_stem()
            .map(|stem| stem.to_string_lossy().to_string());
        if is_marker && !key.is_some_and(|key| keep.contains(&key)) {
            remove_if_present(&marker)?;
        }
    }

    let objects = store.root().join("objects");
    for prefix in read_dir_paths(&objects)? {
        for object in read_dir_paths(&prefix)? {
            let digest = object
                .file_name()
                .map(|name| name.to_string_lossy().to_string());
            if digest.is_some_and(|digest| live_objects.contains(&digest)) {
                continue;
            }
            summary.bytes_freed += size_of_tree(&object);
            if object.is_dir() {
                fs::remove_dir_all(&object).map_err(EngineError::io("remove", &object))?;
            } else {
                remove_if_present(&object)?;
            }
            summary.objects_removed += 1;
        }
    }

    for scratch in read_dir_paths(&store.root().join("scratch"))? {
        let key = scratch
            .file_name()
            .map(|name| name.to_string_lossy().to_string());
        if !key.is_some_and(|key| keep.contains(&key)) {
            summary.bytes_freed += size_of_tree(&scratch);
            fs::remove_dir_all(&scratch).map_err(EngineError::io("remove", &scratch))?;
            summary.directories_removed += 1;
        }
    }

    for tmp in read_dir_paths(&store.root().join("tmp"))? {
        if !owner_is_running(&tmp) {
            summary.bytes_freed += size_of_tree(&tmp);
            fs::remove_dir_all(&tmp).map_err(EngineError::io("remove", &tmp))?;
            summary.directories_removed += 1;
        }
    }
    Ok(summary)
}

/// A record whose objects did not match their digests.
#[derive(Debug, Clone)]
pub struct DamagedRecord {
    pub stage: String,
    pub key: String,
    pub paths: Vec<String>,
}

/// A run or name record that could not be parsed, and was removed.
#[derive(Debug, Clone)]
pub struct RemovedRecordFile {
    pub path: std::path::PathBuf,
    pub message: String,
}

/// Counts of what `verify` checked, and the runs it dropped.
#[derive(Debug, Default)]
pub struct VerifySummary {
    pub records_checked: usize,
    pub files_checked: usize,
    pub damaged: Vec<DamagedRecord>,
    pub unreadable: Vec<RemovedRecordFile>,
}

impl VerifySummary {
    /// Returns whether anything was damaged.
    pub fn found_damage(&self) -> bool {
        !self.damaged.is_empty() || !self.unreadable.is_empty()
    }
}

/// Rehashes every object of every record; damaged objects and their records are removed, and
/// so are run and name records that cannot be parsed.
pub fn verify_store(store: &Store) -> Result<VerifySummary, EngineError> {
    let mut summary = VerifySummary::default();
    let stored = store.records()?;
    for record in stored.records {
        summary.records_checked += 1;
        summary.files_checked += record.files().count();
        if let Verification::Damaged(paths) = store.verify(&record, true)? {
            store.drop_damaged_record(&record.key)?;
            summary.damaged.push(DamagedRecord {
                stage: record.stage.clone(),
                key: record.key.clone(),
                paths,
            });
        }
    }
    for unreadable in stored.unreadable {
        summary.records_checked += 1;
        let key = unreadable
            .path
            .file_stem()
            .map(|stem| stem.to_string_lossy().to_string())
            .unwrap_or_default();
        store.drop_damaged_record(&key)?;
        summary.unreadable.push(RemovedRecordFile {
            path: unreadable.path,
            message: unreadable.message,
        });
    }
    for name in read_dir_paths(&store.root().join("names"))? {
        if name.extension().is_none_or(|extension| extension != "json") {
            continue;
        }
        let parsed = fs::read(&name)
            .map_err(EngineError::io("read", &name))
            .map(|bytes| serde_json::from_slice::<NameRecord>(&bytes));
        if let Ok(Err(error)) = parsed {
            remove_if_present(&name)?;
            summary.unreadable.push(RemovedRecordFile {
                path: name,
                message: error.to_string(),
            });
        }
    }
    Ok(summary)
}

/// Returns the bytes of the files under `path` (a file's own size); unreadable parts count 0.
fn size_of_tree(path: &Path) -> u64 {
    let Ok(metadata) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !metadata.is_dir() {
        return metadata.len();
    }
    read_dir_paths(path)
        .unwrap_or_default()
        .iter()
        .map(|child| size_of_tree(child))
        .sum()
}

/// Returns whether the process that created a `tmp/` directory (`<label>-<pid>-<nanos>`)
/// still runs.
fn owner_is_running(dir: &Path) -> bool {
    let Some(name) = dir
        .file_name()
        .map(|name| name.to_string_lossy().to_string())
    else {
        return false;
    };
    let mut parts = name.rsplit('-');
    let _nanos = parts.next();
    let Some(pid) = parts.next().and_then(|pid| pid.parse::<u32>().ok()) else {
        return false;
    };
    Path::new("/proc").join(pid.to_string()).exists()
}

fn read_dir_paths(dir: &Path) -> Result<Vec<std::path::PathBuf>, EngineError> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|entry| {
                entry
                    .map(|entry| entry.path())
                    .map_err(EngineError::io("read", dir))
            })
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(EngineError::io("read", dir)(error)),
    }
}

fn remove_if_present(path: &Path) -> Result<(), EngineError> {
    remove_file_if_present(path)
}
