//! The real horse2zebra training images for the training tests.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Returns the shared horse2zebra archive, or `None` with a message when it is absent.
pub fn dataset_zip() -> Option<PathBuf> {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/datasets/horse2zebra.zip"
    ));
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipping: {} not found", path.display());
        None
    }
}

/// Extracts the first `count` images of trainA and trainB (by name) into `dir`.
pub fn extract_training_images(zip_path: &Path, dir: &Path, count: usize) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip_path).unwrap()).unwrap();
    for domain in ["trainA", "trainB"] {
        let prefix = format!("horse2zebra/{domain}/");
        let mut names: Vec<String> = archive
            .file_names()
            .map(|name| name.unwrap().into_owned())
            .filter(|name| name.starts_with(&prefix) && name.ends_with(".jpg"))
            .collect();
        names.sort();
        names.truncate(count);
        std::fs::create_dir_all(dir.join(domain)).unwrap();
        for name in names {
            let mut bytes = Vec::new();
            archive
                .by_name(&name)
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            let file_name = Path::new(&name).file_name().unwrap();
            std::fs::write(dir.join(domain).join(file_name), bytes).unwrap();
        }
    }
}
