//! `publish: DIR`: copying a stage's output tree out of the store.
//!
//! The tree is copied (not linked, so editing a published file cannot damage the store) into a
//! sibling staging directory, which then takes the place of `DIR` by rename. Publishing never
//! deletes or overwrites files the tool did not write: it only replaces a `DIR` that is missing,
//! empty, or contains nothing but what an earlier publish listed in its marker file
//! [`MARKER`]. Folders inside `DIR` with their own marker (another stage publishing to
//! `DIR/sub`) are moved into the new tree. The previous tree is moved aside before the new one is renamed in and removed
//! after, so a crash in between leaves at worst a hidden `.DIR.previous-PID` sibling, never a
//! lost user file. Published files get the usual permissions under the umask (0644 or 0755 with
//! the common umask 022), executable when the stored object is.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::EngineError;
use crate::record::RunRecord;
use crate::store::Store;
use crate::tree::EntryKind;

/// The file listing what a publish wrote, one relative path a line.
pub const MARKER: &str = ".pipeline-published";

/// Copies `record`'s output tree to `dir`, replacing an earlier publish there.
pub fn publish(store: &Store, record: &RunRecord, dir: &Path) -> Result<(), EngineError> {
    // One publish at a time, because a publish to `DIR` moves the folders of publishes to
    // `DIR/sub`, which a concurrent stage may be writing.
    static PUBLISHING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = PUBLISHING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().to_string())
        .unwrap_or_else(|| "published".to_string());
    let parent = dir.parent().unwrap_or(Path::new("."));
    let previous_tree = replaceable_contents(dir)?;
    fs::create_dir_all(parent).map_err(EngineError::io("create", parent))?;
    let staging = parent.join(format!(".{name}.publishing-{}", std::process::id()));
    let previous = parent.join(format!(".{name}.previous-{}", std::process::id()));
    for leftover in [&staging, &previous] {
        if leftover.exists() {
            fs::remove_dir_all(leftover).map_err(EngineError::io("remove", leftover))?;
        }
    }

    let copied = copy_tree(store, record, &staging);
    if let Err(error) = copied {
        let _ = fs::remove_dir_all(&staging);
        return Err(error);
    }

    if let PreviousTree::Replaceable { nested } = &previous_tree {
        if let Err(error) = carry_nested(dir, &staging, nested) {
            let _ = fs::remove_dir_all(&staging);
            return Err(error);
        }
        fs::rename(dir, &previous).map_err(EngineError::io("move aside", dir))?;
    }
    if let Err(error) = fs::rename(&staging, dir) {
        // Put the earlier publish back rather than leave DIR missing.
        if previous.exists() {
            let _ = fs::rename(&previous, dir);
        }
        let _ = fs::remove_dir_all(&staging);
        return Err(EngineError::io("publish to", dir)(error));
    }
    if previous.exists() {
        fs::remove_dir_all(&previous).map_err(EngineError::io("remove", &previous))?;
    }
    tracing::debug!(dir = %dir.display(), "published");
    Ok(())
}

/// What is at the publish directory before a publish.
enum PreviousTree {
    Missing,
    /// Nothing but what an earlier publish listed, and the folders of other stages' publishes
    /// inside it (relative paths), which are carried over into the new tree.
    Replaceable {
        nested: Vec<String>,
    },
}

/// Checks that `dir` can be replaced without losing a file the tool did not write.
fn replaceable_contents(dir: &Path) -> Result<PreviousTree, EngineError> {
    let metadata = match fs::symlink_metadata(dir) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(PreviousTree::Missing)
        }
        Err(error) => return Err(EngineError::io("read metadata of", dir)(error)),
    };
    let reject = |what: String| {
        EngineError::Invalid(format!(
            "cannot publish to {}: {what}, and publishing never deletes files it did not write; \
             choose another `publish:` path or empty it",
            dir.display()
        ))
    };
    if !metadata.is_dir() {
        return Err(reject("it is not a directory".to_string()));
    }
    let listing = fs::read_to_string(dir.join(MARKER)).unwrap_or_default();
    let listed: BTreeSet<&str> = listing.lines().collect();
    let mut contents = Vec::new();
    list_tree(dir, "", &listed, &mut contents)?;

    let mut nested = Vec::new();
    for (path, kind) in contents {
        match kind {
            Listed::Ours => {}
            Listed::OtherPublish => nested.push(path),
            Listed::Foreign if listed.is_empty() => {
                return Err(reject(format!(
                    "it contains {path} and no {MARKER} from an earlier publish"
                )))
            }
            Listed::Foreign => {
                return Err(reject(format!(
                    "{path} in it was not written by an earlier publish (move it out first)"
                )))
            }
        }
    }
    Ok(PreviousTree::Replaceable { nested })
}

/// How an entry of an earlier publish directory came to be there.
enum Listed {
    /// Listed in the directory's marker, or the marker itself.
    Ours,
    /// A folder with its own marker: another stage's publish.
    OtherPublish,
    Foreign,
}

/// Moves the nested publishes of `dir` to the same place in `staging`.
fn carry_nested(dir: &Path, staging: &Path, nested: &[String]) -> Result<(), EngineError> {
    for path in nested {
        let target = staging.join(path);
        if target.exists() {
            return Err(EngineError::Invalid(format!(
                "cannot publish to {}: the output has {path}, where another stage publishes; \
                 give one of them another `publish:` path",
                dir.display()
            )));
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(EngineError::io("create", parent))?;
        }
        let source = dir.join(path);
        fs::rename(&source, &target).map_err(EngineError::io("move", &source))?;
    }
    Ok(())
}

/// Lists every file and directory under `dir` (relative, with `/` separators) with how it got
/// there; the contents of another stage's publish folder are not listed.
fn list_tree(
    dir: &Path,
    relative: &str,
    listed: &BTreeSet<&str>,
    contents: &mut Vec<(String, Listed)>,
) -> Result<(), EngineError> {
    for entry in fs::read_dir(dir).map_err(EngineError::io("read directory", dir))? {
        let entry = entry.map_err(EngineError::io("read directory", dir))?;
        let name = entry.file_name().to_string_lossy().to_string();
        let path = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        let is_dir = entry
            .file_type()
            .map_err(EngineError::io("read metadata of", entry.path()))?
            .is_dir();
        if listed.contains(path.as_str()) || path == MARKER {
            contents.push((path.clone(), Listed::Ours));
        } else if is_dir && entry.path().join(MARKER).is_file() {
            contents.push((path, Listed::OtherPublish));
            continue;
        } else {
            contents.push((path.clone(), Listed::Foreign));
        }
        if is_dir {
            list_tree(&entry.path(), &path, listed, contents)?;
        }
    }
    Ok(())
}

/// Copies the output tree into `staging` and writes the marker listing it.
fn copy_tree(store: &Store, record: &RunRecord, staging: &PathBuf) -> Result<(), EngineError> {
    fs::create_dir_all(staging).map_err(EngineError::io("create", staging))?;
    let mut written = Vec::new();
    for entry in &record.manifest {
        if entry.path.is_empty() {
            continue;
        }
        let target = staging.join(&entry.path);
        match entry.kind {
            EntryKind::Dir => {
                fs::create_dir_all(&target).map_err(EngineError::io("create", &target))?
            }
            EntryKind::File => {
                // The manifest lists a directory after its contents, so create parents here.
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).map_err(EngineError::io("create", parent))?;
                }
                copy_object(&store.object_path(&entry.digest), &target)?;
            }
        }
        written.push(entry.path.clone());
    }
    let marker = staging.join(MARKER);
    let mut listing = written.join("\n");
    listing.push('\n');
    fs::write(&marker, listing).map_err(EngineError::io("write", &marker))
}

/// Copies a read-only object to a new file created with the umask's permissions.
fn copy_object(object: &Path, target: &Path) -> Result<(), EngineError> {
    let executable = fs::metadata(object)
        .map_err(EngineError::io("read metadata of", object))?
        .permissions()
        .mode()
        & 0o111
        != 0;
    let mut source = fs::File::open(object).map_err(EngineError::io("open", object))?;
    let mut destination = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if executable { 0o777 } else { 0o666 })
        .open(target)
        .map_err(EngineError::io("create", target))?;
    std::io::copy(&mut source, &mut destination).map_err(EngineError::io("copy", object))?;
    destination
        .flush()
        .map_err(EngineError::io("write", target))
}
