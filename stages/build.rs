//! Derives each stage kind's implementation fingerprint from the sources it depends on.
//!
//! A kind's fingerprint is blake3 over its module (`src/<kind>.rs`, or every file under
//! `src/<kind>/`) and over each domain crate it uses: that crate's `Cargo.toml` and every file
//! under its `src/`. Files are walked in sorted order, each relative path hashed before its
//! bytes.
//! Editing `crates/mcgan` therefore changes the `train` and `translate` fingerprints and leaves
//! `mask-bank` alone. Sources outside the table (the engine, the shared glue in `lib.rs`,
//! third-party crates) do not enter a fingerprint: a change there that alters outputs needs a
//! bump of [`FORMAT_VERSION`].
//!
//! The result is `$OUT_DIR/fingerprints.rs`, one `pub const <KIND>: &str` per kind whose module
//! exists; kinds whose module is not written yet are skipped.

use std::fs;
use std::path::{Path, PathBuf};

/// Mixed into every fingerprint; bump it to make every stage stale at once.
const FORMAT_VERSION: &str = "1";

/// Each kind, and the domain crates (under `crates/`) its stage module uses.
const KIND_CRATES: &[(&str, &[&str])] = &[
    ("dataset", &["imaging", "datasets"]),
    ("resize", &["imaging"]),
    ("mask-bank", &["masks", "imaging"]),
    ("inception-weights", &["inception"]),
    ("features", &["inception", "fid", "imaging"]),
    ("fid", &["fid"]),
    ("train", &["mcgan", "imaging", "masks"]),
    ("translate", &["mcgan", "imaging", "masks"]),
    ("report", &["report", "fid"]),
    ("command", &[]),
];

fn main() {
    let manifest_dir = PathBuf::from(env_var("CARGO_MANIFEST_DIR"));
    let crates_dir = manifest_dir.join("..").join("crates");
    let source_dir = manifest_dir.join("src");

    // A new module file must rerun this script, so watch the whole source directory.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={}", source_dir.display());
    for (_, crates) in KIND_CRATES {
        for name in *crates {
            let crate_dir = crates_dir.join(name);
            println!("cargo:rerun-if-changed={}", crate_dir.join("src").display());
            println!(
                "cargo:rerun-if-changed={}",
                crate_dir.join("Cargo.toml").display()
            );
        }
    }

    let mut constants = String::new();
    for (kind, fingerprint) in kind_fingerprints(&source_dir, &crates_dir) {
        let constant = kind.replace('-', "_").to_uppercase();
        constants.push_str(&format!(
            "/// Implementation fingerprint of the `{kind}` kind.\n\
             pub const {constant}: &str = \"{fingerprint}\";\n"
        ));
    }

    let out_file = PathBuf::from(env_var("OUT_DIR")).join("fingerprints.rs");
    if let Err(error) = fs::write(&out_file, constants) {
        panic!("cannot write {}: {error}", out_file.display());
    }
}

/// Computes the fingerprint of every kind in [`KIND_CRATES`] whose module exists under
/// `source_dir`.
pub(crate) fn kind_fingerprints(
    source_dir: &Path,
    crates_dir: &Path,
) -> Vec<(&'static str, String)> {
    let mut fingerprints = Vec::new();
    for (kind, crates) in KIND_CRATES {
        let module = kind.replace('-', "_");
        let module_file = source_dir.join(format!("{module}.rs"));
        let module_dir = source_dir.join(&module);
        if !module_file.is_file() && !module_dir.is_dir() {
            continue;
        }

        let mut hasher = blake3::Hasher::new();
        hasher.update(FORMAT_VERSION.as_bytes());
        hasher.update(kind.as_bytes());
        hash_tree(&mut hasher, source_dir, &module_file);
        hash_tree(&mut hasher, source_dir, &module_dir);
        for name in *crates {
            let crate_dir = crates_dir.join(name);
            hash_tree(&mut hasher, crates_dir, &crate_dir.join("Cargo.toml"));
            hash_tree(&mut hasher, crates_dir, &crate_dir.join("src"));
        }
        fingerprints.push((*kind, hasher.finalize().to_hex().to_string()));
    }
    fingerprints
}

/// Hashes `path` (a file, or a directory walked in sorted order) with paths relative to `base`,
/// so moving the checkout does not change a fingerprint. A missing path hashes nothing.
fn hash_tree(hasher: &mut blake3::Hasher, base: &Path, path: &Path) {
    if path.is_file() {
        let relative = path.strip_prefix(base).unwrap_or(path);
        let bytes = fs::read(path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
        return;
    }
    let Ok(entries) = fs::read_dir(path) else {
        return;
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .collect();
    children.sort();
    for child in children {
        hash_tree(hasher, base, &child);
    }
}

fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name}"))
}
