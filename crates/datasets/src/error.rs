//! Errors of reading, downloading and writing datasets, each naming the file and the fix.

use std::path::PathBuf;

/// A dataset that could not be read, verified or written.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: not a readable zip archive: {detail}", path.display())]
    Zip { path: PathBuf, detail: String },

    #[error(
        "{}: no images in a trainA/trainB/testA/testB or train/A-style layout; \
         check that the archive or folder is a CycleGAN dataset",
        path.display()
    )]
    NoImages { path: PathBuf },

    #[error("{first} and {second} both map to {name}; keep one copy of the dataset in the source")]
    DuplicateImage {
        name: String,
        first: String,
        second: String,
    },

    #[error(
        "{source_name}: content digest {actual} does not match the pinned digest {expected}; \
         the files differ from the pinned dataset (replace the source, or update `digest` \
         if the change is intended)"
    )]
    DigestMismatch {
        source_name: String,
        expected: String,
        actual: String,
    },

    #[error(transparent)]
    Image(#[from] imaging::ImageError),

    #[error(
        "{source_name}: {count} of {total} images cannot be decoded, for example {examples}; \
         replace or remove them, or set `skip_unreadable: true` to leave them out"
    )]
    UnreadableImages {
        source_name: String,
        count: usize,
        total: usize,
        /// The errors of the first few unreadable images, each naming its file.
        examples: String,
    },

    #[error(transparent)]
    Idx(#[from] IdxError),

    #[error(transparent)]
    Mat(#[from] MatError),

    #[error("{}: not found, and no download address is known for dataset `{name}`; set `archive` to a local copy or `url` to a download address", path.display())]
    MissingSource { name: String, path: PathBuf },

    #[error("download of {url} failed: {detail}; check the address and the network, then run again to resume")]
    Download { url: String, detail: String },

    #[error(
        "{source_name}: {requested} images requested per split, but only {available} are available"
    )]
    NotEnoughImages {
        source_name: String,
        requested: usize,
        available: usize,
    },

    #[error("{}: failed to write the manifest: {detail}", path.display())]
    Manifest { path: PathBuf, detail: String },

    #[error("cancelled")]
    Cancelled,
}

/// An invalid MNIST IDX file.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: magic number {found:#010x}, expected {expected:#010x}; is this the right IDX file?", path.display())]
    WrongMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
    },

    #[error("{}: element type {code:#04x} is not supported; only unsigned bytes (0x08) are", path.display())]
    UnsupportedType { path: PathBuf, code: u8 },

    #[error("{}: truncated ({detail}); download the file again", path.display())]
    Truncated { path: PathBuf, detail: String },

    #[error("{}: {extra} bytes after the declared data; the header does not match the file", path.display())]
    SizeMismatch { path: PathBuf, extra: usize },

    #[error("{} holds {images} images but {} holds {labels} labels; use files of the same split", images_path.display(), labels_path.display())]
    CountMismatch {
        images_path: PathBuf,
        labels_path: PathBuf,
        images: usize,
        labels: usize,
    },

    #[error("{}: label {label} at index {index} is not a digit 0-9", path.display())]
    InvalidLabel {
        path: PathBuf,
        index: usize,
        label: u8,
    },
}

/// An invalid or unsupported MATLAB v5 file.
#[derive(Debug, thiserror::Error)]
pub enum MatError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{}: not a MATLAB v5 .mat file ({detail}); MATLAB v7.3 files are HDF5 and not supported", path.display())]
    NotMatV5 { path: PathBuf, detail: String },

    #[error("{}: truncated ({detail}); download the file again", path.display())]
    Truncated { path: PathBuf, detail: String },

    #[error("{}: {detail}", path.display())]
    Unsupported { path: PathBuf, detail: String },

    #[error("{}: variable `{name}` not found", path.display())]
    MissingVariable { path: PathBuf, name: String },

    #[error("{}: variable `{name}` {detail}", path.display())]
    WrongShape {
        path: PathBuf,
        name: String,
        detail: String,
    },
}
