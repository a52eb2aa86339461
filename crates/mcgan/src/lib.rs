//! Mask CycleGAN in candle: layers, generator and discriminators, weight initialisation,
//! checkpoints (safetensors, and import of the authors' PyTorch files), training and
//! translation.
//!
//! Parameter names follow the state dicts of the authors' PyTorch code (`model.1.weight`,
//! `model.10.conv_block.5.bias`, `mask_model.weight`, ...), so their tensors load directly.

pub mod checkpoint;
pub mod conv;
pub mod discriminator;
pub mod error;
pub mod generator;
pub mod import;
pub mod init;
pub mod instance_norm;
pub mod reflection_pad;
pub mod torch_pickle;

pub use discriminator::{Discriminator, DiscriminatorConfig, DiscriminatorVariant};
pub use error::{Error, Result};
pub use generator::{Generator, GeneratorConfig};
pub use init::init_weights;
