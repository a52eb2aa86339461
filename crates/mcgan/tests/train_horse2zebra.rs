//! Training runs on real horse2zebra images at 32x32: losses, checkpoints, resuming after an
//! interruption, and stopping on a non-finite loss.

mod common;

use std::cell::Cell;

use candle_core::{DType, Device};
use masks::{MaskSampler, SamplerConfig};
use mcgan::run::{CHECKPOINT_FILE, HISTORY_FILE, SAMPLES_DIR, STATE_FILE};
use mcgan::{
    train, DiscriminatorConfig, DiscriminatorVariant, GeneratorConfig, LossHistory, LossWeights,
    RunConfig, RunHooks, RunPaths, TrainError, TrainerConfig, UnalignedDataset,
};

use common::horse2zebra::{dataset_zip, extract_training_images};

const SIZE: usize = 32;
const IMAGES_PER_DOMAIN: usize = 64;

fn run_config(ngf: usize, epochs: usize, iterations_per_epoch: usize) -> RunConfig {
    RunConfig {
        trainer: TrainerConfig {
            generator: GeneratorConfig {
                ngf,
                n_res: 2,
                masked: true,
            },
            discriminator: DiscriminatorConfig {
                ndf: ngf,
                variant: DiscriminatorVariant::Simple,
            },
            weights: LossWeights::default(),
            adam: Default::default(),
            dtype: DType::F32,
        },
        size: SIZE,
        epochs,
        decay_from_epoch: 1,
        iterations_per_epoch: Some(iterations_per_epoch),
        checkpoint_every: 40,
        sample_every: 50,
        seed: 5,
    }
}

fn sampler() -> MaskSampler {
    let scales = vec![0.5, 0.8, 1.0];
    MaskSampler::new(SamplerConfig::CenteredSquare { scales }, SIZE).unwrap()
}

/// Runs `config`, cancelling once `stop_at` iterations are done.
fn run_until(
    config: &RunConfig,
    data: &UnalignedDataset,
    paths: &RunPaths,
    stop_at: Option<u64>,
) -> Result<mcgan::RunSummary, TrainError> {
    let done = Cell::new(0u64);
    let mut progress = |update: mcgan::ProgressUpdate| done.set(update.iteration);
    let cancelled = || stop_at.is_some_and(|stop| done.get() + 1 >= stop);
    let hooks = RunHooks {
        progress: &mut progress,
        cancelled: &cancelled,
    };
    train(config, data, Some(&sampler()), paths, &Device::Cpu, hooks)
}

fn mean_cycle(history: &LossHistory, range: std::ops::Range<usize>) -> f32 {
    let rows = &history.rows()[range];
    let sum: f32 = rows
        .iter()
        .map(|row| row.losses.cycle_aba + row.losses.cycle_bab)
        .sum();
    sum / rows.len() as f32
}

#[test]
fn interrupted_run_resumes_and_learns() {
    let Some(zip_path) = dataset_zip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let images = work.path().join("images");
    extract_training_images(&zip_path, &images, IMAGES_PER_DOMAIN);
    let data = UnalignedDataset::open(&images, SIZE as u32, None).unwrap();
    assert_eq!(data.len(), (IMAGES_PER_DOMAIN, IMAGES_PER_DOMAIN));

    let config = run_config(8, 3, 100);
    let paths = RunPaths {
        scratch_dir: work.path().join("scratch"),
        out_dir: work.path().join("out-first"),
    };
    let stopped = run_until(&config, &data, &paths, Some(130));
    assert!(matches!(
        stopped,
        Err(TrainError::Cancelled { iteration: 130 })
    ));
    assert!(paths.scratch_dir.join(STATE_FILE).is_file());
    // A write cut short by SIGKILL leaves only the temporary file, which a resume ignores.
    std::fs::write(
        paths.scratch_dir.join(".state.safetensors.partial"),
        b"trunc",
    )
    .unwrap();

    let paths = RunPaths {
        out_dir: work.path().join("out"),
        ..paths
    };
    let summary = run_until(&config, &data, &paths, None).unwrap();
    assert_eq!(summary.resumed_from, 130);
    assert_eq!(summary.iterations, 300);

    let history = LossHistory::read(&paths.out_dir.join(HISTORY_FILE)).unwrap();
    let iterations: Vec<u64> = history.rows().iter().map(|row| row.iteration).collect();
    assert_eq!(iterations, (1..=300).collect::<Vec<u64>>());
    for row in history.rows() {
        assert!(row.losses.first_non_finite().is_none(), "row {row:?}");
    }
    let early = mean_cycle(&history, 0..30);
    let late = mean_cycle(&history, 270..300);
    assert!(late < 0.8 * early, "cycle loss {early} -> {late}");
    assert_eq!(
        history.rows()[299].lr,
        2e-4 * 0.5,
        "epoch 2 of 3 decays from epoch 1"
    );

    let header = mcgan::checkpoint::read_header(&paths.out_dir.join(CHECKPOINT_FILE)).unwrap();
    assert_eq!(header["size"], "32");
    assert_eq!(header["ngf"], "8");
    assert_eq!(header["n_res"], "2");
    assert_eq!(header["masked"], "true");
    let samples = std::fs::read_dir(paths.out_dir.join(SAMPLES_DIR))
        .unwrap()
        .count();
    assert_eq!(samples, 6);
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let Some(zip_path) = dataset_zip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let images = work.path().join("images");
    extract_training_images(&zip_path, &images, IMAGES_PER_DOMAIN);
    let data = UnalignedDataset::open(&images, SIZE as u32, Some(8)).unwrap();
    let config = RunConfig {
        checkpoint_every: 0,
        sample_every: 0,
        ..run_config(4, 2, 6)
    };

    let whole = RunPaths {
        scratch_dir: work.path().join("whole-scratch"),
        out_dir: work.path().join("whole"),
    };
    run_until(&config, &data, &whole, None).unwrap();
    let split = RunPaths {
        scratch_dir: work.path().join("split-scratch"),
        out_dir: work.path().join("split"),
    };
    assert!(run_until(&config, &data, &split, Some(5)).is_err());
    run_until(&config, &data, &split, None).unwrap();

    let read = |paths: &RunPaths| {
        let path = paths.out_dir.join(CHECKPOINT_FILE);
        candle_core::safetensors::load(path, &Device::Cpu).unwrap()
    };
    let (expected, actual) = (read(&whole), read(&split));
    assert_eq!(expected.len(), actual.len());
    for (name, tensor) in &expected {
        let a = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = actual[name]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(a, b, "{name} differs after resuming");
    }
}

#[test]
fn exploding_loss_stops_with_iteration() {
    let Some(zip_path) = dataset_zip() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let images = work.path().join("images");
    extract_training_images(&zip_path, &images, IMAGES_PER_DOMAIN);
    let data = UnalignedDataset::open(&images, SIZE as u32, Some(8)).unwrap();
    let paths = RunPaths {
        scratch_dir: work.path().join("scratch"),
        out_dir: work.path().join("out"),
    };
    let config = run_config(4, 1, 40);
    assert!(run_until(&config, &data, &paths, Some(10)).is_err());

    let mut exploding = config.clone();
    exploding.trainer.adam.lr = 1e30;
    let error = run_until(&exploding, &data, &paths, None).unwrap_err();
    let TrainError::NonFiniteLoss {
        iteration,
        term,
        last_checkpoint,
        ..
    } = &error
    else {
        panic!("expected a non-finite loss, got {error}");
    };
    assert!(*iteration > 10, "iteration {iteration}");
    assert_eq!(*last_checkpoint, 10);
    assert!(error.to_string().contains(term), "{error}");
    assert!(error
        .to_string()
        .contains(&format!("iteration {iteration}")));
    let header = mcgan::checkpoint::read_header(&paths.scratch_dir.join(STATE_FILE)).unwrap();
    assert_eq!(header["iteration"], "10");
}
