//! The pipeline engine: spec, matrix expansion, stage keys, the content-addressed store, the
//! scheduler and status.
//!
//! # Writing a stage kind
//!
//! A stage kind implements [`StageKind`] in the `stages` crate and is listed in its registry:
//!
//! ```ignore
//! pub struct MaskBank;
//! impl dag::StageKind for MaskBank {
//!     fn name(&self) -> &'static str { "mask-bank" }
//!     fn fingerprint(&self) -> &'static str { crate::fingerprints::MASK_BANK }
//!     fn check_params(&self, params: &serde_json::Value) -> Result<serde_json::Value, String> {
//!         dag::check_params::<MaskBankParams>(params)
//!     }
//!     fn inputs(&self) -> &'static [dag::InputSpec] { &[] }
//!     fn run(&self, ctx: &mut dag::StageContext) -> anyhow::Result<()> {
//!         let params: MaskBankParams = ctx.params()?;
//!         ctx.progress().set_length(params.count as u64);
//!         for index in 0..params.count {
//!             ctx.check_cancelled()?;
//!             // ... write into ctx.out_dir() ...
//!             ctx.progress().inc(1);
//!         }
//!         Ok(())
//!     }
//! }
//! ```
//!
//! [`check_params`] is the usual implementation of [`StageKind::check_params`]: it
//! deserializes into the kind's `#[serde(deny_unknown_fields)]` struct and serializes it back,
//! so defaults are filled in and the stage key only changes when a value does.
//!
//! A run reads its inputs through [`StageContext::input`] ([`Input::Path`] for `stage` and
//! `stage:path` references, [`Input::List`] for `stage.*`), which point into read-only,
//! verified views of the referenced outputs. It writes everything into
//! [`StageContext::out_dir`]; a resumable stage keeps its checkpoints in
//! [`StageContext::scratch_dir`], which survives failed attempts of the same key.

mod canonical;
mod error;
mod execute;
mod external;
mod gc;
mod params;
mod position;
mod progress;
mod publish;
mod record;
mod registry;
mod schedule;
mod spec;
mod stage;
mod status;
mod store;
mod substitute;
mod tree;

pub use canonical::{canonical_json, normalize_numbers};
pub use error::{EngineError, SpecError, SpecErrors};
pub use execute::{execute, fresh_record, key_parts, ExecuteOptions, Outcome, StageError};
pub use external::{external_digest, MISSING};
pub use gc::{
    collect_garbage, verify_store, DamagedRecord, GcSummary, RemovedRecordFile, VerifySummary,
};
pub use params::check_params;
pub use position::Position;
pub use progress::Progress;
pub use record::{InputDigest, KeyParts, NameRecord, RunRecord};
pub use registry::Registry;
pub use schedule::{run_pipeline, RunOptions, RunSummary};
pub use spec::{LoadError, Override, Pipeline, Reference, Stage, StageInput};
pub use stage::{Device, Input, InputSpec, Resources, StageContext, StageContextParts, StageKind};
pub use status::{pipeline_status, StageStatus, StaleReason};
pub use store::{AccessCounters, KeyLock, Store, StoredRecords, UnreadableRecord, Verification};
pub use tree::{hash_tree, EntryKind, ManifestEntry};
