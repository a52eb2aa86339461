//! A whole training run: epochs of iterations with the learning-rate schedule, checkpoints in a
//! scratch folder for resuming, the loss history, sample images and progress reports.
//!
//! Every random draw of an iteration (the pairing, the augmentation, the mask, the replay
//! buffers) comes from a ChaCha8 stream keyed by the seed and the iteration number. Each
//! epoch's order comes from a stream keyed by the seed and the epoch. A run resumed from a checkpoint
//! therefore continues exactly as the uninterrupted run would have.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use masks::MaskSampler;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::data::UnalignedDataset;
use crate::history::{HistoryRow, LossHistory};
use crate::init_weights;
use crate::samples::{write_sample, SampleImages};
use crate::schedule::LinearDecaySchedule;
use crate::train_error::TrainError;
use crate::trainer::{Trainer, TrainerConfig};
use crate::training_state::{load_state, save_state, save_weights, Progress};

/// Training state file in the scratch folder.
pub const STATE_FILE: &str = "state.safetensors";
/// Loss history in the scratch folder and in the output folder.
pub const HISTORY_FILE: &str = "losses.parquet";
/// Published weights in the output folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// Folder of sample images, in the scratch folder and in the output folder.
pub const SAMPLES_DIR: &str = "samples";

/// Stream offset separating the epoch-order streams from the per-iteration streams.
const EPOCH_STREAM_BASE: u64 = 1 << 63;

/// Settings of a run besides the network shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Networks, loss weights and Adam settings.
    pub trainer: TrainerConfig,
    /// Training image size.
    pub size: usize,
    /// Number of epochs.
    pub epochs: usize,
    /// First epoch of the linear learning-rate decay.
    pub decay_from_epoch: usize,
    /// Iterations per epoch; `None` means a full pass, `max(|A|, |B|)`.
    pub iterations_per_epoch: Option<usize>,
    /// Iterations between checkpoints (0: only at the end).
    pub checkpoint_every: u64,
    /// Iterations between sample images (0: none).
    pub sample_every: u64,
    /// Seed of the weight initialisation and of every random draw.
    pub seed: u64,
}

/// Progress of a run, reported after every iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProgressUpdate {
    /// Iterations completed.
    pub iteration: u64,
    /// Iterations of the whole run.
    pub total: u64,
    /// Iterations per second in this attempt.
    pub iterations_per_second: f64,
}

/// Summary of a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// Iterations completed in all.
    pub iterations: u64,
    /// Iteration the run resumed from (0: a fresh start).
    pub resumed_from: u64,
    /// Loss history of all iterations.
    pub history: LossHistory,
}

/// Folders of a run.
#[derive(Debug, Clone)]
pub struct RunPaths {
    /// Kept across attempts: training state, history and samples so far.
    pub scratch_dir: PathBuf,
    /// Receives `checkpoint.safetensors`, `losses.parquet` and `samples/` at the end.
    pub out_dir: PathBuf,
}

/// Callbacks of a run.
pub struct RunHooks<'a> {
    /// Called after each iteration.
    pub progress: &'a mut dyn FnMut(ProgressUpdate),
    /// Polled after each iteration; `true` stops the run with a checkpoint.
    pub cancelled: &'a dyn Fn() -> bool,
}

/// Converts a mask to a `[1, 3, size, size]` tensor of 0 and 1.
fn mask_tensor(mask: &masks::Mask, device: &Device, dtype: DType) -> candle_core::Result<Tensor> {
    let size = mask.size();
    let values: Vec<f32> = mask
        .values()
        .iter()
        .map(|&value| f32::from(value.min(1)))
        .collect();
    Tensor::from_vec(values, (1, 1, size, size), device)?
        .to_dtype(dtype)?
        .repeat((1, 3, 1, 1))
}

fn iteration_rng(seed: u64, iteration: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(iteration);
    rng
}

fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(EPOCH_STREAM_BASE + epoch as u64);
    rng
}

fn create_dir(path: &Path) -> Result<(), TrainError> {
    std::fs::create_dir_all(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Copies the sample images of the scratch folder to the output folder.
fn publish_samples(scratch: &Path, out: &Path) -> Result<(), TrainError> {
    let source = scratch.join(SAMPLES_DIR);
    let target = out.join(SAMPLES_DIR);
    create_dir(&target)?;
    let Ok(entries) = std::fs::read_dir(&source) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".png") && !name.to_string_lossy().starts_with('.') {
            std::fs::copy(entry.path(), target.join(&name)).map_err(|source| TrainError::Io {
                path: entry.path(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Restores a trainer and the loss history from the training state in the scratch folder.
fn resume(
    config: &RunConfig,
    state_path: &Path,
    history_path: &Path,
    device: &Device,
) -> Result<(Trainer, Progress, LossHistory), TrainError> {
    let mut trainer = Trainer::new(config.trainer, device)?;
    let progress = load_state(&mut trainer, config.size, config.seed, state_path, device)?;
    let mut history = if history_path.is_file() {
        LossHistory::read(history_path)?
    } else {
        LossHistory::default()
    };
    history.truncate_after(progress.iteration);
    tracing::info!(
        iteration = progress.iteration,
        "resuming training from checkpoint"
    );
    Ok((trainer, progress, history))
}

/// Trains on `data`, drawing masks from `sampler` (`None`: plain CycleGAN), resuming from the
/// state in `paths.scratch_dir` when there is one.
pub fn train(
    config: &RunConfig,
    data: &UnalignedDataset,
    sampler: Option<&MaskSampler>,
    paths: &RunPaths,
    device: &Device,
    hooks: RunHooks,
) -> Result<RunSummary, TrainError> {
    let masked = config.trainer.generator.masked;
    if masked != sampler.is_some() {
        return Err(TrainError::Data {
            path: paths.scratch_dir.clone(),
            message: "a masked generator needs a mask sampler and a plain one none".into(),
        });
    }
    create_dir(&paths.scratch_dir)?;
    create_dir(&paths.scratch_dir.join(SAMPLES_DIR))?;
    create_dir(&paths.out_dir)?;
    let state_path = paths.scratch_dir.join(STATE_FILE);
    let history_path = paths.scratch_dir.join(HISTORY_FILE);

    let resumed = if state_path.is_file() {
        match resume(config, &state_path, &history_path, device) {
            Ok(resumed) => Some(resumed),
            Err(error) => {
                // A damaged state would otherwise fail every attempt of this stage key, and
                // the next checkpoint replaces the file anyway.
                tracing::warn!(
                    path = %state_path.display(),
                    %error,
                    "cannot resume from the training state; training starts over from \
                     iteration 0"
                );
                None
            }
        }
    } else {
        None
    };
    let (mut trainer, start, mut history) = match resumed {
        Some(resumed) => resumed,
        None => {
            let trainer = Trainer::new(config.trainer, device)?;
            init_weights(&trainer.networks.varmap, config.seed)?;
            let start = Progress {
                iteration: 0,
                seconds: 0.0,
            };
            (trainer, start, LossHistory::default())
        }
    };

    let iterations_per_epoch = config
        .iterations_per_epoch
        .unwrap_or(data.epoch_len())
        .max(1);
    let total = (config.epochs * iterations_per_epoch) as u64;
    let schedule = LinearDecaySchedule {
        lr: config.trainer.adam.lr,
        epochs: config.epochs,
        decay_from_epoch: config.decay_from_epoch,
    };
    let attempt_start = Instant::now();
    let mut last_checkpoint = start.iteration;
    let mut order_epoch = usize::MAX;
    let mut order = Vec::new();
    let save = |trainer: &Trainer, history: &LossHistory, iteration: u64| {
        let seconds = start.seconds + attempt_start.elapsed().as_secs_f64();
        let progress = Progress { iteration, seconds };
        save_state(trainer, config.size, config.seed, progress, &state_path)?;
        history.write(&history_path)
    };

    for iteration in start.iteration..total {
        let epoch = (iteration / iterations_per_epoch as u64) as usize;
        let position = (iteration % iterations_per_epoch as u64) as usize;
        if epoch != order_epoch {
            order = data.epoch_order(&mut epoch_rng(config.seed, epoch));
            order_epoch = epoch;
        }
        let lr = schedule.lr_at_epoch(epoch);
        trainer.set_lr(lr);

        let mut rng = iteration_rng(config.seed, iteration);
        let (real_a, real_b) = data.pair(&order, position, &mut rng, device)?;
        let dtype = config.trainer.dtype;
        let (real_a, real_b) = (real_a.to_dtype(dtype)?, real_b.to_dtype(dtype)?);
        let mask = match sampler {
            Some(sampler) => Some(mask_tensor(&sampler.sample(&mut rng), device, dtype)?),
            None => None,
        };
        let outcome = trainer.step(&real_a, &real_b, mask.as_ref(), &mut rng)?;
        let done = iteration + 1;
        if let Some((term, value)) = outcome.losses.first_non_finite() {
            return Err(TrainError::NonFiniteLoss {
                iteration: done,
                term,
                value,
                last_checkpoint,
            });
        }
        let elapsed = attempt_start.elapsed().as_secs_f64();
        history.push(HistoryRow {
            iteration: done,
            losses: outcome.losses,
            lr,
            seconds: start.seconds + elapsed,
        });

        if config.sample_every > 0 && done % config.sample_every == 0 {
            let images = SampleImages {
                real_a: &real_a,
                fake_b: &outcome.fake_b,
                recovered_a: &outcome.recovered_a,
                real_b: &real_b,
                fake_a: &outcome.fake_a,
                recovered_b: &outcome.recovered_b,
                mask: mask.as_ref(),
            };
            let name = format!("iteration_{done:07}.png");
            write_sample(&images, &paths.scratch_dir.join(SAMPLES_DIR).join(name))?;
        }
        let cancelled = (hooks.cancelled)();
        let checkpoint_due = config.checkpoint_every > 0 && done % config.checkpoint_every == 0;
        if checkpoint_due || cancelled {
            save(&trainer, &history, done)?;
            last_checkpoint = done;
            tracing::info!(
                iteration = done,
                total,
                generator_loss = outcome.losses.generator,
                "checkpoint written"
            );
        }
        (hooks.progress)(ProgressUpdate {
            iteration: done,
            total,
            iterations_per_second: (done - start.iteration) as f64 / elapsed.max(1e-9),
        });
        if cancelled {
            return Err(TrainError::Cancelled { iteration: done });
        }
    }

    if last_checkpoint != total {
        save(&trainer, &history, total)?;
    }
    save_weights(&trainer, config.size, &paths.out_dir.join(CHECKPOINT_FILE))?;
    history.write(&paths.out_dir.join(HISTORY_FILE))?;
    publish_samples(&paths.scratch_dir, &paths.out_dir)?;
    Ok(RunSummary {
        iterations: total,
        resumed_from: start.iteration,
        history,
    })
}
