//! Garbage collection and full verification of the store.
//!
//! `gc` keeps the records whose key is the current key of a stage in one of the given
//! pipelines, the objects they reference and the scratch directories of current keys. It
//! removes the rest: other records and their logs, unreferenced objects, scratch directories
//! of keys no pipeline reaches, and `tmp/` directories of processes that are gone.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use crate::error::EngineError;
use crate::spec::Pipeline;
use crate::status::pipeline_status;
use crate::store::{Store, Verification};

/// Counts of what `gc` kept and removed.
#[derive(Debug, Default)]
pub struct GcSummary {
    pub records_kept: usize,
    pub records_removed: usize,
    pub objects_removed: usize,
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
    for record in store.records()? {
        if keep.contains(&record.key) {
            summary.records_kept += 1;
            live_objects.extend(record.files().map(|entry| entry.digest.clone()));
            continue;
        }
        store.remove_record(&record.key)?;
        remove_if_present(&store.log_path(&record.key))?;
        summary.records_removed += 1;
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
            summary.bytes_freed += fs::metadata(&object)
                .map(|metadata| metadata.len())
                .unwrap_or(0);
            remove_if_present(&object)?;
            summary.objects_removed += 1;
        }
    }

    for scratch in read_dir_paths(&store.root().join("scratch"))? {
        let key = scratch
            .file_name()
            .map(|name| name.to_string_lossy().to_string());
        if !key.is_some_and(|key| keep.contains(&key)) {
            fs::remove_dir_all(&scratch).map_err(EngineError::io("remove", &scratch))?;
        }
    }

    for tmp in read_dir_paths(&store.root().join("tmp"))? {
        if !owner_is_running(&tmp) {
            fs::remove_dir_all(&tmp).map_err(EngineError::io("remove", &tmp))?;
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

/// Counts of what `verify` checked, and the runs it dropped.
#[derive(Debug, Default)]
pub struct VerifySummary {
    pub records_checked: usize,
    pub files_checked: usize,
    pub damaged: Vec<DamagedRecord>,
}

/// Rehashes every object of every record; damaged objects and their records are removed.
pub fn verify_store(store: &Store) -> Result<VerifySummary, EngineError> {
    let mut summary = VerifySummary::default();
    for record in store.records()? {
        summary.records_checked += 1;
        summary.files_checked += record.files().count();
        if let Verification::Damaged(paths) = store.verify(&record, true)? {
            store.remove_record(&record.key)?;
            summary.damaged.push(DamagedRecord {
                stage: record.stage.clone(),
                key: record.key.clone(),
                paths,
            });
        }
    }
    Ok(summary)
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
    match fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            Err(EngineError::io("remove", path)(error))
        }
        _ => Ok(()),
    }
}
