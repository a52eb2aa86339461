//! The stage kinds of the pipeline: one module per kind, adapting a domain crate to the
//! engine's [`dag::StageKind`] API.
//!
//! Adding a kind takes one new module (`src/<kind>.rs`, named after the kind with `-` written
//! `_`) and one line in the [`stage_kinds!`] list below. Its fingerprint constant,
//! `fingerprints::<KIND>`, comes from `build.rs`, whose table names the domain crates each kind
//! depends on.

/// Implementation fingerprints, one constant per kind, derived by `build.rs`.
pub mod fingerprints {
    include!(concat!(env!("OUT_DIR"), "/fingerprints.rs"));
}

/// Declares the kind modules and builds [`registry`] from them.
macro_rules! stage_kinds {
    ($($module:ident :: $kind:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every stage kind this build knows.
        pub fn registry() -> dag::Registry {
            let mut registry = dag::Registry::new();
            $(registry.register($module::$kind);)*
            registry
        }
    };
}

stage_kinds! {
    command::Command,
    dataset::Dataset,
    resize::Resize,
    mask_bank::MaskBank,
    inception_weights::InceptionWeights,
    features::Features,
    fid::Fid,
    train::Train,
    translate::Translate,
    report::Report,
}

/// The build script, compiled again so its fingerprinting can be tested.
#[cfg(test)]
#[path = "../build.rs"]
#[allow(dead_code)]
mod build_script;

/// The build script's fingerprinting, run on a scratch tree.
#[cfg(test)]
mod fingerprint_tests {
    use std::fs;
    use std::path::Path;

    use super::build_script::kind_fingerprints;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn fingerprint_of(tree: &Path, kind: &str) -> Option<String> {
        kind_fingerprints(&tree.join("stages/src"), &tree.join("crates"))
            .into_iter()
            .find(|(name, _)| *name == kind)
            .map(|(_, fingerprint)| fingerprint)
    }

    #[test]
    fn crate_edit_changes_only_its_users() {
        let tree = tempfile::tempdir().unwrap();
        for module in ["train", "translate", "mask_bank"] {
            write(&tree.path().join(format!("stages/src/{module}.rs")), module);
        }
        for name in ["mcgan", "imaging", "masks"] {
            write(&tree.path().join(format!("crates/{name}/Cargo.toml")), name);
            write(&tree.path().join(format!("crates/{name}/src/lib.rs")), name);
        }
        let before: Vec<Option<String>> = ["train", "translate", "mask-bank"]
            .iter()
            .map(|kind| fingerprint_of(tree.path(), kind))
            .collect();

        write(
            &tree.path().join("crates/mcgan/src/trainer.rs"),
            "// new file",
        );
        assert_ne!(fingerprint_of(tree.path(), "train"), before[0]);
        assert_ne!(fingerprint_of(tree.path(), "translate"), before[1]);
        assert_eq!(fingerprint_of(tree.path(), "mask-bank"), before[2]);

        write(&tree.path().join("stages/src/mask_bank.rs"), "edited");
        assert_ne!(fingerprint_of(tree.path(), "mask-bank"), before[2]);
    }

    #[test]
    fn missing_module_is_skipped() {
        let tree = tempfile::tempdir().unwrap();
        write(&tree.path().join("stages/src/command.rs"), "command");
        assert!(fingerprint_of(tree.path(), "command").is_some());
        assert!(fingerprint_of(tree.path(), "train").is_none());
    }
}
