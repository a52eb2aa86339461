//! The scheduler: runs the selected stages of a pipeline concurrently on a tokio runtime.
//!
//! A stage starts once every stage it reads has a record. It then waits for its CPU threads
//! (a semaphore of `--jobs` permits, a stage's request clamped to that) and, on CUDA, its GPUs,
//! and runs on a blocking thread, so the async threads only coordinate. When a stage fails,
//! its dependants are skipped; without `keep_going` no new stage starts, but running stages
//! finish and stay cached. Ctrl-C (or SIGTERM) sets the cancellation flag every running stage polls, waits
//! for them to return, and leaves their `scratch/` in place.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use indicatif::{MultiProgress, ProgressDrawTarget};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::execute::{execute, ExecuteOptions, Outcome, StageError};
use crate::record::RunRecord;
use crate::spec::Pipeline;
use crate::stage::Device;
use crate::store::Store;

/// Settings of one `pipeline run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// CPU threads shared by all running stages.
    pub jobs: usize,
    pub device: Device,
    /// GPUs available when `device` is CUDA.
    pub gpus: usize,
    /// Keep running branches unaffected by a failure.
    pub keep_going: bool,
    /// Draw progress bars (only useful on a terminal).
    pub show_progress: bool,
}

/// The stages one `pipeline run` ran, reused, failed and skipped.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Stages that ran.
    pub ran: Vec<String>,
    /// Stages reused from the cache.
    pub reused: Vec<String>,
    /// Stages that failed, with the error.
    pub failed: Vec<(String, String)>,
    /// Stages not started because an upstream stage failed or the run stopped.
    pub skipped: Vec<String>,
    /// Whether Ctrl-C or SIGTERM stopped the run.
    pub interrupted: bool,
}

impl RunSummary {
    pub fn succeeded(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.interrupted
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
    Failed,
    Skipped,
}

/// Runs the stages marked in `selected` (and only those; select ancestors beforehand).
pub fn run_pipeline(
    store: Store,
    pipeline: Arc<Pipeline>,
    selected: Vec<bool>,
    options: RunOptions,
) -> std::io::Result<RunSummary> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    Ok(runtime.block_on(schedule(store, pipeline, selected, options)))
}

async fn schedule(
    store: Store,
    pipeline: Arc<Pipeline>,
    selected: Vec<bool>,
    options: RunOptions,
) -> RunSummary {
    let count = pipeline.stages.len();
    let jobs = options.jobs.max(1);
    let cpu = Arc::new(Semaphore::new(jobs));
    let gpus = options.gpus.max(1);
    let gpu = Arc::new(Semaphore::new(gpus));
    let cancelled = Arc::new(AtomicBool::new(false));
    let multi = options
        .show_progress
        .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));

    let mut state: Vec<State> = selected
        .iter()
        .map(|chosen| {
            if *chosen {
                State::Waiting
            } else {
                State::Skipped
            }
        })
        .collect();
    let mut records: Vec<Option<Arc<RunRecord>>> = vec![None; count];
    let mut summary = RunSummary::default();
    let mut stop_starting = false;
    // A task's result is `None` when the run was interrupted before the stage's turn came.
    let mut running: JoinSet<(usize, Option<Result<Outcome, StageError>>)> = JoinSet::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    // SIGTERM (what `kill` and job schedulers send) stops the run like Ctrl-C. Without a
    // handler it would end the process at once, leaving `tmp/` behind.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|error| tracing::warn!(%error, "cannot handle SIGTERM"))
        .ok();
    let sigterm = async move {
        match terminate.as_mut() {
            Some(terminate) => {
                terminate.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(sigterm);

    loop {
        if !stop_starting {
            for index in 0..count {
                if state[index] != State::Waiting {
                    continue;
                }
                let upstream = upstream_of(&pipeline, index);
                if upstream.iter().any(|up| {
                    matches!(state[*up], State::Failed)
                        || (state[*up] == State::Skipped && selected[*up])
                }) {
                    state[index] = State::Skipped;
                    summary.skipped.push(pipeline.stages[index].name.clone());
                    continue;
                }
                if !upstream.iter().all(|up| state[*up] == State::Done) {
                    continue;
                }
                state[index] = State::Running;

                let resources = pipeline.stages[index].resources;
                let threads = resources.threads.clamp(1, jobs);
                let gpus_needed = if options.device == Device::Cuda {
                    resources.gpus.min(gpus)
                } else {
                    0
                };
                let execute_options = ExecuteOptions {
                    device: options.device,
                    threads,
                    progress: multi.clone(),
                    cancelled: cancelled.clone(),
                };
                let (store, pipeline, records, cpu, gpu) = (
                    store.clone(),
                    pipeline.clone(),
                    records.clone(),
                    cpu.clone(),
                    gpu.clone(),
                );
                running.spawn(async move {
                    let permits = cpu.acquire_many_owned(threads as u32).await;
                    let gpu_permits = gpu.acquire_many_owned(gpus_needed as u32).await;
                    if execute_options.cancelled.load(Ordering::Relaxed) {
                        return (index, None);
                    }
                    let result = tokio::task::spawn_blocking(move || {
                        execute(&store, &pipeline, index, &records, &execute_options)
                    })
                    .await;
                    drop((permits, gpu_permits));
                    let result = result.unwrap_or_else(|error| {
                        Err(StageError::Failed {
                            stage: format!("#{index}"),
                            message: format!("worker thread failed: {error}"),
                            log: Default::default(),
                        })
                    });
                    (index, Some(result))
                });
            }
        }
        if running.is_empty() {
            break;
        }

        tokio::select! {
            finished = running.join_next() => {
                let Some(Ok((index, result))) = finished else { continue };
                let Some(result) = result else {
                    // Never started: listed with the stages left waiting.
                    state[index] = State::Waiting;
                    continue;
                };
                let name = pipeline.stages[index].name.clone();
                match result {
                    Ok(outcome) => {
                        state[index] = State::Done;
                        match &outcome {
                            Outcome::Ran(_) => summary.ran.push(name),
                            Outcome::Reused(_) => summary.reused.push(name),
                        }
                        records[index] = Some(outcome.record().clone());
                    }
                    Err(error) => {
                        // A stage whose publish failed still ran (or was reused) and is cached.
                        if let StageError::Publish { outcome, .. } = &error {
                            match outcome {
                                Outcome::Ran(_) => summary.ran.push(name.clone()),
                                Outcome::Reused(_) => summary.reused.push(name.clone()),
                            }
                        }
                        tracing::error!(stage = %name, "{error}");
                        state[index] = State::Failed;
                        summary.failed.push((name, error.to_string()));
                        if !options.keep_going {
                            stop_starting = true;
                        }
                    }
                }
            }
            _ = &mut ctrl_c, if !summary.interrupted => {
                tracing::warn!("interrupted; cancelling running stages");
                summary.interrupted = true;
                stop_starting = true;
                cancelled.store(true, Ordering::Relaxed);
            }
            _ = &mut sigterm, if !summary.interrupted => {
                tracing::warn!("terminated (SIGTERM); cancelling running stages");
                summary.interrupted = true;
                stop_starting = true;
                cancelled.store(true, Ordering::Relaxed);
            }
        }
    }

    for (stage, state) in pipeline.stages.iter().zip(&state) {
        if *state == State::Waiting {
            summary.skipped.push(stage.name.clone());
        }
    }
    summary
}

fn upstream_of(pipeline: &Pipeline, index: usize) -> Vec<usize> {
    pipeline.stages[index]
        .inputs
        .iter()
        .flat_map(|input| input.reference.stages())
        .collect()
}
