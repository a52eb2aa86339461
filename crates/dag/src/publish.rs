//! `publish: DIR`: copying a stage's output tree out of the store.
//!
//! The tree is copied (not linked, so editing a published file cannot damage the store) into a
//! sibling temporary directory, which then replaces `DIR` by rename.

use std::fs;
use std::path::Path;

use crate::error::EngineError;
use crate::record::RunRecord;
use crate::store::Store;
use crate::tree::EntryKind;

/// Copies `record`'s output tree to `dir`, replacing what was there.
pub fn publish(store: &Store, record: &RunRecord, dir: &Path) -> Result<(), EngineError> {
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().to_string())
        .unwrap_or_else(|| "published".to_string());
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(EngineError::io("create", parent))?;
    let staging = parent.join(format!(".{name}.publishing-{}", std::process::id()));
    let previous = parent.join(format!(".{name}.previous-{}", std::process::id()));
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(EngineError::io("remove", &staging))?;
    }

    for entry in &record.manifest {
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
                let object = store.object_path(&entry.digest);
                fs::copy(&object, &target).map_err(EngineError::io("copy", &object))?;
                // The object is read-only; the published copy belongs to the user.
                let mut permissions = fs::metadata(&target)
                    .map_err(EngineError::io("read metadata of", &target))?
                    .permissions();
                #[allow(clippy::permissions_set_readonly_false)]
                permissions.set_readonly(false);
                fs::set_permissions(&target, permissions)
                    .map_err(EngineError::io("change permissions of", &target))?;
            }
        }
    }

    if dir.exists() {
        fs::rename(dir, &previous).map_err(EngineError::io("move aside", dir))?;
    }
    fs::rename(&staging, dir).map_err(EngineError::io("publish to", dir))?;
    if previous.exists() {
        fs::remove_dir_all(&previous).map_err(EngineError::io("remove", &previous))?;
    }
    tracing::debug!(dir = %dir.display(), "published");
    Ok(())
}
