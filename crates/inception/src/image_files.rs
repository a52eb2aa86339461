//! Listing the images of a folder in the order FID tools read them.

use std::path::{Path, PathBuf};

use crate::error::{io_error, Result};

/// File extensions decoded as images (compared without regard to case).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

/// Returns the image files directly inside `dir` (no recursion, hidden files skipped),
/// sorted by file name, so row `i` of a feature table is the `i`-th name in byte order.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let is_image = path
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| {
                IMAGE_EXTENSIONS
                    .iter()
                    .any(|known| extension.eq_ignore_ascii_case(known))
            });
        if is_image && !hidden && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_images_sorted_by_name() {
        let dir = tempfile::tempdir().expect("temporary directory");
        for name in ["b.PNG", "a.jpg", "c.txt", ".hidden.png", "10.jpeg", "2.png"] {
            std::fs::write(dir.path().join(name), b"").expect("write file");
        }
        std::fs::create_dir(dir.path().join("sub.png")).expect("create directory");
        let names: Vec<String> = image_files(dir.path())
            .expect("list")
            .iter()
            .map(|path| {
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["10.jpeg", "2.png", "a.jpg", "b.PNG"]);
    }
}
