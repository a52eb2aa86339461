//! A CycleGAN-style dataset in a zip archive or a folder, listed in the normalised layout.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::digest::ContentDigest;
use crate::layout::{classify_member, Folder};
use crate::DatasetError;

/// One image of a source, under its normalised name.
#[derive(Debug, Clone)]
pub struct SourceImage {
    pub folder: Folder,
    /// The file name, unchanged from the source.
    pub file: String,
    location: Location,
}

#[derive(Debug, Clone)]
enum Location {
    ZipEntry(usize, String),
    File(PathBuf),
}

impl SourceImage {
    /// Returns the normalised relative name, such as `trainA/n02381460_1001.jpg`.
    pub fn relative_name(&self) -> String {
        format!("{}/{}", self.folder.name(), self.file)
    }
}

enum Container {
    Zip(Box<zip::ZipArchive<File>>),
    Folder,
}

/// An opened source whose images are sorted by normalised name.
pub struct SourceDataset {
    path: PathBuf,
    container: Container,
    images: Vec<SourceImage>,
}

impl SourceDataset {
    /// Opens a zip archive or a folder and lists its images.
    pub fn open(path: impl AsRef<Path>) -> Result<SourceDataset, DatasetError> {
        let path = path.as_ref().to_owned();
        let metadata = std::fs::metadata(&path).map_err(|source| DatasetError::Io {
            path: path.clone(),
            source,
        })?;
        let (container, members) = if metadata.is_dir() {
            (Container::Folder, folder_members(&path)?)
        } else {
            let (archive, members) = zip_members(&path)?;
            (Container::Zip(Box::new(archive)), members)
        };

        let mut by_name: BTreeMap<String, SourceImage> = BTreeMap::new();
        for (member, location) in members {
            let Some((folder, file)) = classify_member(&member) else {
                continue;
            };
            let image = SourceImage {
                folder,
                file,
                location,
            };
            let name = image.relative_name();
            if let Some(previous) = by_name.get(&name) {
                return Err(DatasetError::DuplicateImage {
                    name,
                    first: describe(&path, &previous.location),
                    second: member,
                });
            }
            by_name.insert(name, image);
        }
        if by_name.is_empty() {
            return Err(DatasetError::NoImages { path });
        }

        Ok(SourceDataset {
            path,
            container,
            images: by_name.into_values().collect(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the images, sorted by normalised name.
    pub fn images(&self) -> &[SourceImage] {
        &self.images
    }

    /// Reads the bytes of image `index` of [`Self::images`].
    pub fn read(&mut self, index: usize) -> Result<Vec<u8>, DatasetError> {
        let image = &self.images[index];
        match (&mut self.container, &image.location) {
            (Container::Zip(archive), Location::ZipEntry(entry_index, _)) => {
                let zip_error = |error: zip::result::ZipError| DatasetError::Zip {
                    path: self.path.clone(),
                    detail: error.to_string(),
                };
                let mut entry = archive.by_index(*entry_index).map_err(zip_error)?;
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|source| DatasetError::Io {
                        path: self.path.clone(),
                        source,
                    })?;
                Ok(bytes)
            }
            (_, Location::File(path)) => std::fs::read(path).map_err(|source| DatasetError::Io {
                path: path.clone(),
                source,
            }),
            (Container::Folder, Location::ZipEntry(..)) => {
                unreachable!("folder sources list files only")
            }
        }
    }

    /// Returns a name for image `index` in messages: `archive.zip:member` or the file path.
    pub fn describe(&self, index: usize) -> String {
        describe(&self.path, &self.images[index].location)
    }

    /// Computes the content digest of all images (see [`ContentDigest`]).
    pub fn content_digest(&mut self) -> Result<String, DatasetError> {
        let mut digest = ContentDigest::new();
        for index in 0..self.images.len() {
            let bytes = self.read(index)?;
            digest.add(&self.images[index].relative_name(), &bytes);
        }
        Ok(digest.finish())
    }
}

/// A file of a source: its `/`-separated path inside the source, and where to read it.
type Member = (String, Location);

fn describe(source: &Path, location: &Location) -> String {
    match location {
        Location::ZipEntry(_, member) => format!("{}:{member}", source.display()),
        Location::File(path) => path.display().to_string(),
    }
}

fn zip_members(path: &Path) -> Result<(zip::ZipArchive<File>, Vec<Member>), DatasetError> {
    let zip_error = |error: zip::result::ZipError| DatasetError::Zip {
        path: path.to_owned(),
        detail: error.to_string(),
    };
    let file = File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut archive = zip::ZipArchive::new(file).map_err(zip_error)?;
    let mut members = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(zip_error)?;
        if entry.is_dir() {
            continue;
        }
        let name = entry.name().map_err(zip_error)?.into_owned();
        members.push((name.clone(), Location::ZipEntry(index, name)));
    }
    Ok((archive, members))
}

fn folder_members(root: &Path) -> Result<Vec<Member>, DatasetError> {
    let mut members = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(folder) = pending.pop() {
        let io_error = |source| DatasetError::Io {
            path: folder.clone(),
            source,
        };
        for entry in std::fs::read_dir(&folder).map_err(io_error)? {
            let entry = entry.map_err(io_error)?;
            let path = entry.path();
            if entry.file_type().map_err(io_error)?.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let Some(relative) = relative.to_str() else {
                tracing::warn!(path = %path.display(), "skipping a file whose name is not UTF-8");
                continue;
            };
            let relative = relative.replace(std::path::MAIN_SEPARATOR, "/");
            members.push((relative, Location::File(path)));
        }
    }
    Ok(members)
}
