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
    train::Train,
}
