//! Replacing a command's output folder as a whole.
//!
//! A command that writes a folder of files writes them into a hidden sibling first and renames
//! it into place. The folder then never mixes files of two runs (a bank of 10 masks
//! overwritten by one of 3 would otherwise keep 7 stale images), and a failed run leaves the
//! old folder as it was. An existing folder is replaced only when it is empty or the command
//! wrote it, which `is_own_file` decides from the file names.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::exit::InvalidInput;

/// An output folder that has been checked and can be replaced.
pub struct OutputFolder {
    flag: &'static str,
    path: PathBuf,
    parent: PathBuf,
    name: String,
}

impl OutputFolder {
    /// Checks that `path`, given as `flag`, is new, empty, or contains only files for which
    /// `is_own_file` returns true. Anything else is bad usage (exit code 2), so a mistyped
    /// path never deletes a user's files.
    pub fn check(
        flag: &'static str,
        path: &Path,
        is_own_file: impl Fn(&str) -> bool,
    ) -> Result<Self, InvalidInput> {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .ok_or_else(|| {
                InvalidInput(format!(
                    "{flag} {} must name a folder, such as masks/centered",
                    path.display()
                ))
            })?;
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let folder = OutputFolder {
            flag,
            path: path.to_path_buf(),
            parent,
            name,
        };
        if path.symlink_metadata().is_err() {
            return Ok(folder);
        }
        if !path.is_dir() {
            return Err(folder.rejection("exists and is not a folder"));
        }

        let entries = std::fs::read_dir(path)
            .map_err(|error| folder.rejection(&format!("cannot be listed ({error})")))?;
        for entry in entries {
            let entry =
                entry.map_err(|error| folder.rejection(&format!("cannot be listed ({error})")))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
            if !is_file || !is_own_file(&file_name) {
                return Err(folder.rejection(&format!(
                    "contains {file_name}, which this command did not write"
                )));
            }
        }
        Ok(folder)
    }

    /// Calls `write` on a hidden sibling folder and, when it succeeds, replaces the output
    /// folder with it. On failure the sibling is removed and the old folder stays as it was.
    pub fn replace_with<T>(
        &self,
        write: impl FnOnce(&Path) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        std::fs::create_dir_all(&self.parent)
            .with_context(|| format!("cannot create the folder {}", self.parent.display()))?;
        let staging = self.sibling("partial");
        remove_if_present(&staging)?;

        let written = match write(&staging) {
            Ok(written) => written,
            Err(error) => {
                // The write error is the one to report. A failed clean-up only leaves a
                // hidden folder beside the output.
                let _ = std::fs::remove_dir_all(&staging);
                return Err(error);
            }
        };

        let previous = self.sibling("previous");
        let had_previous = self.path.exists();
        if had_previous {
            remove_if_present(&previous)?;
            std::fs::rename(&self.path, &previous)
                .with_context(|| format!("cannot replace {}", self.path.display()))?;
        }
        if let Err(error) = std::fs::rename(&staging, &self.path) {
            if had_previous {
                let _ = std::fs::rename(&previous, &self.path);
            }
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error).with_context(|| format!("cannot replace {}", self.path.display()));
        }
        if had_previous {
            remove_if_present(&previous)?;
        }
        Ok(written)
    }

    fn sibling(&self, role: &str) -> PathBuf {
        self.parent
            .join(format!(".{}.{role}-{}", self.name, std::process::id()))
    }

    fn rejection(&self, problem: &str) -> InvalidInput {
        InvalidInput(format!(
            "{} {} {problem}; give a new or empty folder, or move its files away",
            self.flag,
            self.path.display()
        ))
    }
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot remove {}", path.display())),
    }
}
