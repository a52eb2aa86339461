//! Images for the pipeline: decoding any supported file to upright 8-bit RGB, square bicubic
//! resizing with Pillow parity, the training-time augmentation, tensor layout and PNG writing.
//!
//! The decoding rule follows Pillow's `convert("RGB")` with three corrections: EXIF orientation
//! is applied, 16-bit samples are scaled rather than clamped, and truncated files are errors.

mod augment;
mod decode;
mod error;
mod jpeg;
mod png_writer;
mod resize;
mod tensor;

pub use augment::{augment, loader_resize_side};
pub use decode::{decode, decode_rgb, decode_rgb_bytes, Decoded, SourceFormat, MAX_PIXELS};
pub use error::ImageError;
pub use image::{GrayImage, RgbImage};
pub use png_writer::write_png;
pub use resize::{resize_gray_square, resize_shorter_side, resize_square, resize_to};
pub use tensor::to_tensor_data;
