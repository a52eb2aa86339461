//! The files a short training run writes on real horse2zebra images at 32x32: byte-identical
//! checkpoints from identical runs, and a fresh start over a damaged training state.

mod common;

use std::path::Path;

use candle_core::{DType, Device};
use masks::{MaskSampler, SamplerConfig};
use mcgan::run::{CHECKPOINT_FILE, HISTORY_FILE, STATE_FILE};
use mcgan::{
    train, DiscriminatorConfig, DiscriminatorVariant, GeneratorConfig, LossHistory, LossWeights,
    RunConfig, RunHooks, RunPaths, RunSummary, TrainError, TrainerConfig, UnalignedDataset,
};

use common::horse2zebra::{dataset_zip, extract_training_images};

const SIZE: usize = 32;
const IMAGES_PER_DOMAIN: usize = 8;

/// Six iterations of a 4-channel model, with a checkpoint every 3.
fn run_config() -> RunConfig {
    RunConfig {
        trainer: TrainerConfig {
            generator: GeneratorConfig {
                ngf: 4,
                n_res: 2,
                masked: true,
            },
            discriminator: DiscriminatorConfig {
                ndf: 4,
                variant: DiscriminatorVariant::Simple,
            },
            weights: LossWeights::default(),
            adam: Default::default(),
            dtype: DType::F32,
        },
        size: SIZE,
        epochs: 2,
        decay_from_epoch: 1,
        iterations_per_epoch: Some(3),
        checkpoint_every: 3,
        sample_every: 0,
        seed: 11,
    }
}

fn run(data: &UnalignedDataset, paths: &RunPaths) -> Result<RunSummary, TrainError> {
    let sampler = MaskSampler::new(
        SamplerConfig::CenteredSquare {
            scales: vec![0.5, 1.0],
        },
        SIZE,
    )
    .unwrap();
    let hooks = RunHooks {
        progress: &mut |_| {},
        cancelled: &|| false,
    };
    train(
        &run_config(),
        data,
        Some(&sampler),
        paths,
        &Device::Cpu,
        hooks,
    )
}

/// Paths of a run under `work`: `<name>-scratch` and `<name>`.
fn run_paths(work: &Path, name: &str) -> RunPaths {
    RunPaths {
        scratch_dir: work.join(format!("{name}-scratch")),
        out_dir: work.join(name),
    }
}

fn open_dataset(work: &Path) -> Option<UnalignedDataset> {
    let zip_path = dataset_zip()?;
    let images = work.join("images");
    extract_training_images(&zip_path, &images, IMAGES_PER_DOMAIN);
    Some(UnalignedDataset::open(&images, SIZE as u32, None).unwrap())
}

#[test]
fn identical_runs_write_identical_checkpoints() {
    let work = tempfile::tempdir().unwrap();
    let Some(data) = open_dataset(work.path()) else {
        return;
    };
    let first = run_paths(work.path(), "first");
    let second = run_paths(work.path(), "second");
    run(&data, &first).unwrap();
    run(&data, &second).unwrap();

    let first_bytes = std::fs::read(first.out_dir.join(CHECKPOINT_FILE)).unwrap();
    let second_bytes = std::fs::read(second.out_dir.join(CHECKPOINT_FILE)).unwrap();
    assert!(first_bytes == second_bytes, "the checkpoints differ");
    // The loss history keeps its wall-clock column, so only its losses are compared.
    let losses = |paths: &RunPaths| -> Vec<f32> {
        let history = LossHistory::read(&paths.out_dir.join(HISTORY_FILE)).unwrap();
        history
            .rows()
            .iter()
            .map(|row| row.losses.generator)
            .collect()
    };
    assert_eq!(losses(&first), losses(&second));
}

/// A state file cut short or with one flipped bit in its tensor data is not resumed: the run
/// starts over and writes the checkpoint of an uninterrupted run.
#[test]
fn damaged_state_restarts_from_iteration_0() {
    let work = tempfile::tempdir().unwrap();
    let Some(data) = open_dataset(work.path()) else {
        return;
    };
    let first = run_paths(work.path(), "first");
    run(&data, &first).unwrap();
    let expected = std::fs::read(first.out_dir.join(CHECKPOINT_FILE)).unwrap();
    let state = first.scratch_dir.join(STATE_FILE);
    let intact = std::fs::read(&state).unwrap();

    let truncated = intact[..5].to_vec();
    let mut flipped = intact.clone();
    // The last bytes are tensor data, past the header.
    let at = flipped.len() - 3;
    flipped[at] ^= 0x40;
    for (damage, bytes) in [("truncated", truncated), ("flipped", flipped)] {
        std::fs::write(&state, &bytes).unwrap();
        let again = RunPaths {
            out_dir: work.path().join(damage),
            ..first.clone()
        };
        let summary = run(&data, &again).unwrap();
        assert_eq!(summary.resumed_from, 0, "{damage} state");
        assert_eq!(summary.iterations, 6, "{damage} state");
        let actual = std::fs::read(again.out_dir.join(CHECKPOINT_FILE)).unwrap();
        assert!(
            expected == actual,
            "the checkpoint after a {damage} state differs"
        );
        // The state file was replaced by a readable one.
        assert!(mcgan::checkpoint::read_header(&state).is_ok());
    }
}
