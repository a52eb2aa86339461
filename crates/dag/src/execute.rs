//! Running one stage: key it, reuse a verified record or run it under the key's lock, store
//! its outputs and write its record.
//!
//! A stage runs in a fresh directory under `tmp/` (`out/` for its outputs, `in/` for the views
//! of its inputs). Only after `StageKind::run` succeeds are its files moved into `objects/`
//! and the record written. The `tmp/` directory is removed whatever happens, but `scratch/`
//! survives failures and is only removed once the record exists.

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::error::EngineError;
use crate::external::external_digest;
use crate::progress::Progress;
use crate::publish::publish;
use crate::record::{InputDigest, KeyParts, NameRecord, RunRecord};
use crate::spec::{Pipeline, Reference};
use crate::stage::{Device, Input, StageContext, StageContextParts};
use crate::store::{Store, Verification};

/// The outcome of one stage in one `pipeline run`.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// It ran and its record was written.
    Ran(Arc<RunRecord>),
    /// A verified record of its key was already in the store.
    Reused(Arc<RunRecord>),
}

impl Outcome {
    pub fn record(&self) -> &Arc<RunRecord> {
        match self {
            Outcome::Ran(record) | Outcome::Reused(record) => record,
        }
    }
}

/// The error of a stage that produced no record.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("stage {stage} failed: {message}\n  log: {}", log.display())]
    Failed {
        stage: String,
        message: String,
        log: PathBuf,
    },
    #[error("stage {stage}: {source}")]
    Engine {
        stage: String,
        #[source]
        source: EngineError,
    },
    /// The stage ran or was reused, and its record is stored, but publishing it failed.
    #[error("stage {stage}: {source}")]
    Publish {
        stage: String,
        outcome: Outcome,
        #[source]
        source: EngineError,
    },
}

/// Computes the key parts of stage `index` from the records of its upstream stages and the
/// digests of the files outside the store it reads.
pub fn key_parts(
    store: &Store,
    pipeline: &Pipeline,
    index: usize,
    records: &[Option<Arc<RunRecord>>],
) -> Result<KeyParts, EngineError> {
    let mut parts = input_parts(pipeline, index, records).map_err(EngineError::Invalid)?;
    let stage = &pipeline.stages[index];
    for path in stage.kind.external_paths(&stage.params) {
        let digest = external_digest(store, &pipeline.root.join(&path))?;
        parts
            .external
            .insert(path.to_string_lossy().to_string(), digest);
    }
    Ok(parts)
}

fn input_parts(
    pipeline: &Pipeline,
    index: usize,
    records: &[Option<Arc<RunRecord>>],
) -> Result<KeyParts, String> {
    let stage = &pipeline.stages[index];
    let mut inputs = BTreeMap::new();
    for input in &stage.inputs {
        let digest = match &input.reference {
            Reference::Single {
                stage: upstream,
                path,
            } => {
                let upstream_name = &pipeline.stages[*upstream].name;
                let record = records[*upstream]
                    .as_ref()
                    .ok_or_else(|| format!("input stage {upstream_name} has no output"))?;
                let entry_path = path.as_deref().unwrap_or("");
                let entry = record.entry(entry_path).ok_or_else(|| {
                    format!(
                        "input `{}`: stage {upstream_name} has no output `{entry_path}`",
                        input.name
                    )
                })?;
                InputDigest::Single {
                    stage: upstream_name.clone(),
                    path: path.clone(),
                    digest: entry.digest.clone(),
                }
            }
            Reference::List(upstreams) => {
                let mut list = Vec::new();
                for upstream in upstreams {
                    let upstream_name = &pipeline.stages[*upstream].name;
                    let record = records[*upstream]
                        .as_ref()
                        .ok_or_else(|| format!("input stage {upstream_name} has no output"))?;
                    list.push((upstream_name.clone(), record.output_digest.clone()));
                }
                InputDigest::List(list)
            }
        };
        inputs.insert(input.name.clone(), digest);
    }
    Ok(KeyParts {
        kind: stage.kind.name().to_string(),
        fingerprint: stage.kind.fingerprint().to_string(),
        params: stage.params.clone(),
        inputs,
        external: BTreeMap::new(),
    })
}

/// Returns the record of `key` if its objects are intact; a damaged or unreadable record is
/// removed, so the stage runs again.
pub fn fresh_record(store: &Store, key: &str) -> Result<Option<RunRecord>, EngineError> {
    let record = match store.read_record(key) {
        Ok(Some(record)) => record,
        Ok(None) => return Ok(None),
        Err(EngineError::Record { path, message }) => {
            store.drop_damaged_record(key)?;
            tracing::warn!(record = %path.display(), %message, "unreadable run record removed; the stage runs again");
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    match store.verify(&record, false)? {
        Verification::Intact => Ok(Some(record)),
        Verification::Damaged(paths) => {
            store.drop_damaged_record(key)?;
            tracing::warn!(
                stage = %record.stage,
                key,
                damaged = ?paths,
                "output damaged; the stage runs again"
            );
            Ok(None)
        }
    }
}

/// Settings [`execute`] needs besides the stage itself.
pub struct ExecuteOptions {
    pub device: Device,
    pub threads: usize,
    pub progress: Option<MultiProgress>,
    pub cancelled: Arc<AtomicBool>,
}

/// Reuses or runs stage `index`, then publishes it when the stage has `publish`.
pub fn execute(
    store: &Store,
    pipeline: &Pipeline,
    index: usize,
    records: &[Option<Arc<RunRecord>>],
    options: &ExecuteOptions,
) -> Result<Outcome, StageError> {
    let stage = &pipeline.stages[index];
    let engine_error = |source: EngineError| StageError::Engine {
        stage: stage.name.clone(),
        source,
    };
    let parts = key_parts(store, pipeline, index, records).map_err(engine_error)?;
    let key = parts.key();
    let span = tracing::info_span!("stage", stage = %stage.name, key = %&key[..12]);
    let _entered = span.enter();

    let outcome = match fresh_record(store, &key).map_err(engine_error)? {
        Some(record) => Outcome::Reused(Arc::new(record)),
        None => {
            // Another process may be computing this key: wait for it, then look again.
            let _lock = store
                .lock(&key, || announce_wait(&stage.name, &store.lock_path(&key)))
                .map_err(engine_error)?;
            match fresh_record(store, &key).map_err(engine_error)? {
                Some(record) => Outcome::Reused(Arc::new(record)),
                None => Outcome::Ran(Arc::new(run_locked(
                    store, pipeline, index, records, parts, &key, options,
                )?)),
            }
        }
    };

    if let Outcome::Reused(_) = outcome {
        tracing::debug!("reused from cache");
    }
    if let Some(dir) = &stage.publish {
        if let Err(source) = publish(store, outcome.record(), dir) {
            return Err(StageError::Publish {
                stage: stage.name.clone(),
                outcome,
                source,
            });
        }
    }
    Ok(outcome)
}

/// Says on standard error, once per process, that a run waits for another one.
fn announce_wait(stage: &str, lock: &Path) {
    static ANNOUNCED: std::sync::Once = std::sync::Once::new();
    ANNOUNCED.call_once(|| {
        eprintln!(
            "waiting for another pipeline process computing stage {stage} (lock {}); \
             this run reuses its results",
            lock.display()
        );
    });
}

#[allow(clippy::too_many_arguments)]
fn run_locked(
    store: &Store,
    pipeline: &Pipeline,
    index: usize,
    records: &[Option<Arc<RunRecord>>],
    parts: KeyParts,
    key: &str,
    options: &ExecuteOptions,
) -> Result<RunRecord, StageError> {
    let stage = &pipeline.stages[index];
    let engine_error = |source: EngineError| StageError::Engine {
        stage: stage.name.clone(),
        source,
    };
    let log_path = store.log_path(key);
    let work_dir = store.create_tmp_dir(&key[..16]).map_err(engine_error)?;
    let result = run_in(
        store, pipeline, index, records, parts, key, &work_dir, &log_path, options,
    );
    if let Err(error) = std::fs::remove_dir_all(&work_dir) {
        tracing::warn!(dir = %work_dir.display(), %error, "cannot remove stage directory");
    }
    match result {
        Ok(record) => Ok(record),
        Err(RunError::Engine(source)) => Err(engine_error(source)),
        Err(RunError::Stage(message)) => {
            append_log(&log_path, &format!("failed: {message}"));
            Err(StageError::Failed {
                stage: stage.name.clone(),
                message,
                log: log_path,
            })
        }
    }
}

enum RunError {
    Engine(EngineError),
    Stage(String),
}

impl From<EngineError> for RunError {
    fn from(error: EngineError) -> Self {
        RunError::Engine(error)
    }
}

#[allow(clippy::too_many_arguments)]
fn run_in(
    store: &Store,
    pipeline: &Pipeline,
    index: usize,
    records: &[Option<Arc<RunRecord>>],
    parts: KeyParts,
    key: &str,
    work_dir: &Path,
    log_path: &Path,
    options: &ExecuteOptions,
) -> Result<RunRecord, RunError> {
    let stage = &pipeline.stages[index];
    let out_dir = work_dir.join("out");
    std::fs::create_dir_all(&out_dir).map_err(EngineError::io("create", &out_dir))?;
    let damaged = damaged_inputs(store, pipeline, index, records)?;
    if !damaged.is_empty() {
        return Err(RunError::Stage(format!(
            "input {} was damaged after it was checked (another stage wrote into it); \
             its producer runs again on the next `pipeline run`",
            damaged.join(", ")
        )));
    }
    let inputs = materialize_inputs(store, pipeline, index, records, &work_dir.join("in"))?;

    std::fs::write(
        log_path,
        format!(
            "stage {}\nkey {key}\nkind {}\nparams {}\n",
            stage.name,
            stage.kind.name(),
            stage.params
        ),
    )
    .map_err(EngineError::io("write", log_path))?;

    let bar = progress_bar(options.progress.as_ref(), &stage.name);
    let mut context = StageContext::new(StageContextParts {
        stage: stage.name.clone(),
        key: key.to_string(),
        params: stage.params.clone(),
        inputs,
        out_dir: out_dir.clone(),
        scratch_dir: store.scratch_path(key),
        log_path: log_path.to_path_buf(),
        device: options.device,
        threads: options.threads,
        progress: bar.clone(),
        cancelled: options.cancelled.clone(),
    })
    .with_pipeline_root(&pipeline.root);

    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    let clock = Instant::now();
    // Subscribers that honour the `log` field of this span (the binary's does) copy the
    // stage's own tracing events into its log file.
    let run_span = tracing::info_span!("stage_run", log = %log_path.display());
    let result = run_span.in_scope(|| {
        tracing::info!("running");
        std::panic::catch_unwind(AssertUnwindSafe(|| stage.kind.run(&mut context)))
    });
    bar.bar().finish_and_clear();

    // Inputs are hard links to store objects. Permissions keep most stages from writing
    // through them, but not one running as root, so check the objects did not change.
    let modified = damaged_inputs(store, pipeline, index, records)?;
    if !modified.is_empty() {
        return Err(RunError::Stage(format!(
            "the stage modified its input {} (or a stage running beside it did); a stage must \
             not write into its inputs \
             (copy a file into $OUT to change it). The damaged output is dropped, so its \
             producer runs again",
            modified.join(", ")
        )));
    }
    match result {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            let message = format!("{error:#}");
            // A kind may already say which stage failed; the engine's message says it too.
            let prefix = format!("stage {} failed: ", stage.name);
            let message = message.strip_prefix(&prefix).unwrap_or(&message);
            return Err(RunError::Stage(message.to_string()));
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_else(|| "unknown panic".to_string());
            return Err(RunError::Stage(format!("panicked: {message}")));
        }
    }
    let duration_s = clock.elapsed().as_secs_f64();

    let manifest = store.ingest(&out_dir)?;
    let output_digest = manifest
        .last()
        .map(|root| root.digest.clone())
        .unwrap_or_default();
    let record = RunRecord {
        key: key.to_string(),
        stage: stage.name.clone(),
        parts: parts.clone(),
        output_digest,
        manifest,
        started_at,
        duration_s,
        device: options.device,
        log: format!("runs/{key}.log"),
    };
    append_log(log_path, &format!("finished in {duration_s:.3} s"));
    store.write_record(&record)?;
    store.write_name(
        &stage.name,
        &NameRecord {
            key: key.to_string(),
            parts,
        },
    )?;
    let scratch = store.scratch_path(key);
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(EngineError::io("remove", &scratch))?;
    }
    tracing::info!(seconds = duration_s, "finished");
    Ok(record)
}

/// Checks the objects of every stage this stage reads. Each damaged object is removed with
/// every record that references it, so its producer runs again; returns the damaged files as
/// `stage/path`.
fn damaged_inputs(
    store: &Store,
    pipeline: &Pipeline,
    index: usize,
    records: &[Option<Arc<RunRecord>>],
) -> Result<Vec<String>, EngineError> {
    let mut upstreams: Vec<usize> = pipeline.stages[index]
        .inputs
        .iter()
        .flat_map(|input| input.reference.stages())
        .collect();
    upstreams.sort_unstable();
    upstreams.dedup();

    let mut damaged = Vec::new();
    for upstream in upstreams {
        let Some(record) = &records[upstream] else {
            continue;
        };
        for entry in record.files() {
            if store.object_is_intact(entry, false)? {
                continue;
            }
            store.remove_object(&entry.digest)?;
            let dropped = store.drop_records_referencing(&entry.digest)?;
            tracing::warn!(
                stage = %record.stage,
                path = %entry.path,
                dropped = ?dropped,
                "input object damaged; removed with the records that reference it"
            );
            damaged.push(format!("{}/{}", record.stage, entry.path));
        }
    }
    Ok(damaged)
}

fn materialize_inputs(
    store: &Store,
    pipeline: &Pipeline,
    index: usize,
    records: &[Option<Arc<RunRecord>>],
    inputs_dir: &Path,
) -> Result<Vec<(String, Input)>, EngineError> {
    let record_of = |upstream: usize| {
        records[upstream].clone().ok_or_else(|| {
            EngineError::Invalid(format!(
                "input stage {} has no output",
                pipeline.stages[upstream].name
            ))
        })
    };
    let mut inputs = Vec::new();
    for input in &pipeline.stages[index].inputs {
        let view = inputs_dir.join(&input.name);
        let resolved = match &input.reference {
            Reference::Single { stage, path } => {
                store.materialize(&*record_of(*stage)?, &view)?;
                Input::Path(match path {
                    Some(path) => view.join(path),
                    None => view,
                })
            }
            Reference::List(stages) => {
                let mut list = Vec::new();
                for stage in stages {
                    let name = pipeline.stages[*stage].name.clone();
                    let stage_view = view.join(&name);
                    store.materialize(&*record_of(*stage)?, &stage_view)?;
                    list.push((name, stage_view));
                }
                Input::List(list)
            }
        };
        inputs.push((input.name.clone(), resolved));
    }
    Ok(inputs)
}

fn progress_bar(multi: Option<&MultiProgress>, stage: &str) -> Progress {
    let Some(multi) = multi else {
        return Progress::hidden();
    };
    let bar = multi.add(ProgressBar::new_spinner());
    let style = ProgressStyle::with_template(
        "{spinner} {prefix:30} [{bar:30}] {pos}/{len} {per_sec} eta {eta} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.set_prefix(stage.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Progress::from_bar(bar)
}

fn append_log(path: &Path, line: &str) {
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}
