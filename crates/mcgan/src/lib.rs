//! Mask CycleGAN in candle: layers, generator and discriminators, weight initialisation,
//! checkpoints (safetensors, and import of the authors' PyTorch files), training and
//! translation.
//!
//! Parameter names follow the state dicts of the authors' PyTorch code (`model.1.weight`,
//! `model.10.conv_block.5.bias`, `mask_model.weight`, ...), so their tensors load directly.

pub mod atomic_file;
pub mod checkpoint;
pub mod conv;
pub mod cpu_kernels;
pub mod data;
pub mod discriminator;
pub mod error;
pub mod generator;
pub mod history;
pub mod import;
pub mod init;
pub mod instance_norm;
pub mod losses;
pub mod networks;
pub mod optimizer;
pub mod reflection_pad;
pub mod replay_buffer;
pub mod run;
pub mod samples;
pub mod schedule;
pub mod torch_pickle;
pub mod train_error;
pub mod train_params;
pub mod trainer;
pub mod training_state;
pub mod translate;

pub use data::UnalignedDataset;
pub use discriminator::{Discriminator, DiscriminatorConfig, DiscriminatorVariant};
pub use error::{Error, Result};
pub use generator::{Generator, GeneratorConfig};
pub use history::{HistoryRow, LossHistory};
pub use init::init_weights;
pub use losses::{LossValues, LossWeights};
pub use networks::CycleGanNetworks;
pub use optimizer::{Adam, AdamConfig};
pub use replay_buffer::ReplayBuffer;
pub use run::{train, ProgressUpdate, RunConfig, RunHooks, RunPaths, RunSummary};
pub use schedule::LinearDecaySchedule;
pub use train_error::TrainError;
pub use train_params::{MaskScheme, TrainParams};
pub use trainer::{Trainer, TrainerConfig};
