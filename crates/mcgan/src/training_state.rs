//! Resumable training state: every network weight, the Adam moments, the replay buffers, the
//! iteration reached and the elapsed time, in one safetensors file written atomically.
//!
//! Tensor names: the network weights under their own names (`netG_A2B.model.1.weight`, ...),
//! `optimizer.<G|D_A|D_B>.exp_avg.<weight name>` and `.exp_avg_sq.<weight name>`, and
//! `replay.<a_full|a_mask|b_full|b_mask>.<slot>`. The random draws of an iteration are derived
//! from the run's seed and the iteration number (see [`crate::run`]), so the iteration is the
//! whole random-number state. The header carries a blake3 digest of every tensor, so that a
//! state damaged on disk is rejected instead of resumed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::checkpoint::{read_header, read_tensors, write_checkpoint, CheckpointMetadata};
use crate::optimizer::AdamMoments;
use crate::replay_buffer::ReplayBuffer;
use crate::train_error::TrainError;
use crate::trainer::Trainer;

const METADATA_ITERATION: &str = "iteration";
const METADATA_SECONDS: &str = "seconds";
const METADATA_SEED: &str = "seed";
const METADATA_NDF: &str = "ndf";
const METADATA_DISCRIMINATOR: &str = "discriminator";
const METADATA_DIGEST: &str = "tensors_blake3";

/// Returns the blake3 digest, in hex, of `tensors` in name order: each name, then its dtype,
/// shape and little-endian bytes.
fn digest<'a>(tensors: impl IntoIterator<Item = (&'a String, &'a Tensor)>) -> String {
    use safetensors::View;

    let mut hasher = blake3::Hasher::new();
    for (name, tensor) in tensors {
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(format!("{:?}{:?}", tensor.dtype(), tensor.dims()).as_bytes());
        hasher.update(&tensor.data());
    }
    hasher.finalize().to_hex().to_string()
}

/// Position of a run, besides its tensors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Iterations completed.
    pub iteration: u64,
    /// Seconds of training so far, over all attempts.
    pub seconds: f64,
}

fn buffer_slots(trainer: &Trainer) -> [(&'static str, &ReplayBuffer); 4] {
    let buffers = &trainer.buffers;
    [
        ("a_full", &buffers.a_full),
        ("a_mask", &buffers.a_mask),
        ("b_full", &buffers.b_full),
        ("b_mask", &buffers.b_mask),
    ]
}

fn run_metadata(trainer: &Trainer, size: usize, seed: u64) -> HashMap<String, String> {
    let config = trainer.config();
    let mut header = CheckpointMetadata {
        size: Some(size),
        generator: config.generator,
    }
    .to_header();
    header.insert(METADATA_SEED.into(), seed.to_string());
    header.insert(METADATA_NDF.into(), config.discriminator.ndf.to_string());
    header.insert(
        METADATA_DISCRIMINATOR.into(),
        format!("{:?}", config.discriminator.variant),
    );
    header
}

/// Writes the weights of all networks, with the header `size`, `ngf`, `n_res`, `masked`: the
/// checkpoint a training run publishes.
pub fn save_weights(trainer: &Trainer, size: usize, path: &Path) -> Result<(), TrainError> {
    let mut tensors = BTreeMap::new();
    for (name, var) in trainer.networks.all_named_vars()? {
        tensors.insert(name, var.as_tensor().clone());
    }
    let header = CheckpointMetadata {
        size: Some(size),
        generator: trainer.config().generator,
    }
    .to_header();
    write_checkpoint(path, &tensors, header)?;
    Ok(())
}

/// Writes the full training state to `path`.
pub fn save_state(
    trainer: &Trainer,
    size: usize,
    seed: u64,
    progress: Progress,
    path: &Path,
) -> Result<(), TrainError> {
    let mut tensors = BTreeMap::new();
    for (name, var) in trainer.networks.all_named_vars()? {
        tensors.insert(name, var.as_tensor().clone());
    }
    let mut header = run_metadata(trainer, size, seed);
    for (optimizer_name, optimizer) in trainer.optimizers() {
        for ((name, _), moments) in optimizer.params().iter().zip(optimizer.moments()) {
            let Some(moments) = moments else { continue };
            let prefix = format!("optimizer.{optimizer_name}");
            tensors.insert(format!("{prefix}.exp_avg.{name}"), moments.exp_avg.clone());
            tensors.insert(
                format!("{prefix}.exp_avg_sq.{name}"),
                moments.exp_avg_sq.clone(),
            );
            header.insert(format!("{prefix}.step.{name}"), moments.step.to_string());
        }
    }
    for (buffer_name, buffer) in buffer_slots(trainer) {
        for (slot, image) in buffer.images().iter().enumerate() {
            tensors.insert(format!("replay.{buffer_name}.{slot}"), image.clone());
        }
    }
    header.insert(METADATA_ITERATION.into(), progress.iteration.to_string());
    header.insert(METADATA_SECONDS.into(), progress.seconds.to_string());
    header.insert(METADATA_DIGEST.into(), digest(&tensors));
    write_checkpoint(path, &tensors, header)?;
    Ok(())
}

/// Restores the state saved by [`save_state`] into `trainer`, after checking that it was
/// written by a run with the same shape, size and seed.
pub fn load_state(
    trainer: &mut Trainer,
    size: usize,
    seed: u64,
    path: &Path,
    device: &Device,
) -> Result<Progress, TrainError> {
    let invalid = |message: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let header = read_header(path)?;
    let expected = run_metadata(trainer, size, seed);
    for (key, value) in &expected {
        if header.get(key) != Some(value) {
            return Err(invalid(format!(
                "it was written by a run with {key} = {:?}, this run has {value:?}",
                header.get(key)
            )));
        }
    }
    let number = |key: &str| -> Result<&String, TrainError> {
        header
            .get(key)
            .ok_or_else(|| invalid(format!("the header has no {key:?}")))
    };
    let iteration: u64 = number(METADATA_ITERATION)?
        .parse()
        .map_err(|_| invalid("the iteration is not a count".into()))?;
    let seconds: f64 = number(METADATA_SECONDS)?
        .parse()
        .map_err(|_| invalid("the elapsed seconds are not a number".into()))?;

    let mut tensors = read_tensors(path, device)?;
    let mut sorted: Vec<(&String, &Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    if number(METADATA_DIGEST)? != &digest(sorted) {
        return Err(invalid(
            "its tensors do not match the digest in its header, so the file is damaged".into(),
        ));
    }
    let dtype = trainer.config().dtype;
    let mut take = |name: &str| -> Result<Tensor, TrainError> {
        let tensor = tensors
            .remove(name)
            .ok_or_else(|| invalid(format!("tensor {name} is missing")))?;
        Ok(tensor.to_dtype(dtype)?)
    };
    for (name, var) in trainer.networks.all_named_vars()? {
        let tensor = take(&name)?;
        if tensor.shape() != var.shape() {
            return Err(invalid(format!(
                "tensor {name} has shape {:?}, expected {:?}",
                tensor.dims(),
                var.dims()
            )));
        }
        var.set(&tensor)?;
    }
    for (optimizer_name, optimizer) in trainer.optimizers_mut() {
        let names: Vec<String> = optimizer
            .params()
            .iter()
            .map(|(name, _)| name.clone())
            .collect();
        for (index, name) in names.iter().enumerate() {
            let prefix = format!("optimizer.{optimizer_name}");
            let Some(step) = header.get(&format!("{prefix}.step.{name}")) else {
                continue;
            };
            let step = step
                .parse()
                .map_err(|_| invalid(format!("the Adam step of {name} is not a count")))?;
            optimizer.set_moments(
                index,
                AdamMoments {
                    step,
                    exp_avg: take(&format!("{prefix}.exp_avg.{name}"))?,
                    exp_avg_sq: take(&format!("{prefix}.exp_avg_sq.{name}"))?,
                },
            );
        }
    }
    let mut restored = Vec::new();
    for (buffer_name, buffer) in buffer_slots(trainer) {
        let mut images = Vec::new();
        while let Ok(image) = take(&format!("replay.{buffer_name}.{}", images.len())) {
            images.push(image);
        }
        restored.push(ReplayBuffer::from_images(buffer.capacity(), images));
    }
    let mut restored = restored.into_iter();
    let buffers = &mut trainer.buffers;
    for slot in [
        &mut buffers.a_full,
        &mut buffers.a_mask,
        &mut buffers.b_full,
        &mut buffers.b_mask,
    ] {
        if let Some(buffer) = restored.next() {
            *slot = buffer;
        }
    }
    Ok(Progress { iteration, seconds })
}
