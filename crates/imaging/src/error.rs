//! Errors of decoding and writing images, each naming the file.

use std::path::PathBuf;

/// An image that could not be read or written.
///
/// `name` is the file path, or `archive.zip:member` for an image read from an archive.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file could not be read or written at all.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bytes match no supported format (PNG or JPEG).
    #[error("{name}: not a PNG or JPEG image (empty, text, or an unsupported format)")]
    Unrecognized { name: String },

    /// The data ends before the image is complete.
    #[error("{name}: the image data is truncated ({detail}); download or copy the file again")]
    Truncated { name: String, detail: String },

    /// The header declares more pixels than the loader accepts.
    #[error(
        "{name}: the header declares {width}x{height} pixels, more than the limit of {limit} \
         pixels (a corrupt file or a decompression bomb)"
    )]
    TooLarge {
        name: String,
        width: u64,
        height: u64,
        limit: u64,
    },

    /// The file is damaged or uses a feature the decoder does not support.
    #[error("{name}: invalid image data: {detail}")]
    Invalid { name: String, detail: String },

    /// Encoding a PNG failed.
    #[error("{}: failed to encode PNG: {detail}", path.display())]
    Encode { path: PathBuf, detail: String },
}
