//! Status: whether each stage is fresh, and if not, the one reason why.
//!
//! A stage is fresh when a verified record exists for the key its current params, code and
//! inputs give. Otherwise the reason compares the key parts with those of the stage name's
//! last run (`names/<stage>.json`): code first, then params, then inputs. A stage whose input
//! is stale cannot be keyed before that input runs, so it is reported as `input changed`
//! (or `never run` if it never ran).

use std::sync::Arc;

use crate::error::EngineError;
use crate::execute::key_parts;
use crate::record::{KeyParts, NameRecord, RunRecord};
use crate::spec::Pipeline;
use crate::store::{Store, Verification};

/// The reason a stage is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaleReason {
    NeverRun,
    ParamChanged(String),
    InputChanged(String),
    /// A file or folder outside the store that the stage reads, as written in its params.
    FileChanged(String),
    CodeChanged,
    OutputDamaged,
}

impl std::fmt::Display for StaleReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StaleReason::NeverRun => f.write_str("never run"),
            StaleReason::ParamChanged(key) => write!(f, "param changed: {key}"),
            StaleReason::InputChanged(stage) => write!(f, "input changed: {stage}"),
            StaleReason::FileChanged(path) => write!(f, "file changed: {path}"),
            StaleReason::CodeChanged => f.write_str("code changed"),
            StaleReason::OutputDamaged => f.write_str("output damaged"),
        }
    }
}

/// The status of one stage.
#[derive(Debug, Clone)]
pub struct StageStatus {
    pub stage: String,
    /// `None` when fresh.
    pub reason: Option<StaleReason>,
    /// The current key, when every input is fresh so it can be computed.
    pub key: Option<String>,
    /// Whether an interrupted run of this key left state in its scratch folder, which the
    /// next run resumes from (a training checkpoint, for one).
    pub resumable: bool,
}

/// What `names/<stage>.json` held.
enum LastRun {
    Known(Option<NameRecord>),
    Unreadable,
}

/// Computes the status of each selected stage, in topological order.
pub fn pipeline_status(
    store: &Store,
    pipeline: &Pipeline,
    selected: &[bool],
) -> Result<Vec<StageStatus>, EngineError> {
    let mut records: Vec<Option<Arc<RunRecord>>> = vec![None; pipeline.stages.len()];
    let mut stale = vec![false; pipeline.stages.len()];
    let mut statuses = Vec::new();

    for (index, stage) in pipeline.stages.iter().enumerate() {
        if !selected[index] {
            continue;
        }
        // An unreadable name record only loses the reason; it is no reason to fail.
        let last_run = match store.read_name(&stage.name) {
            Ok(last_run) => LastRun::Known(last_run),
            Err(EngineError::Record { .. }) => LastRun::Unreadable,
            Err(error) => return Err(error),
        };
        let stale_input = stage
            .inputs
            .iter()
            .flat_map(|input| input.reference.stages())
            .find(|upstream| stale[*upstream]);

        let (reason, key) = if let Some(upstream) = stale_input {
            let reason = match last_run {
                LastRun::Known(None) => StaleReason::NeverRun,
                _ => StaleReason::InputChanged(pipeline.stages[upstream].name.clone()),
            };
            (Some(reason), None)
        } else {
            let parts = key_parts(store, pipeline, index, &records)?;
            let key = parts.key();
            // Status only reads: damage is reported here and repaired by `run` or `verify`.
            let reason = match store.read_record(&key) {
                Ok(Some(record)) => match store.check(&record, false)? {
                    Verification::Intact => {
                        records[index] = Some(Arc::new(record));
                        None
                    }
                    Verification::Damaged(_) => Some(StaleReason::OutputDamaged),
                },
                Err(EngineError::Record { .. }) => Some(StaleReason::OutputDamaged),
                Err(error) => return Err(error),
                Ok(None) if store.was_damaged(&key) => Some(StaleReason::OutputDamaged),
                Ok(None) => Some(match last_run {
                    LastRun::Known(None) => StaleReason::NeverRun,
                    LastRun::Known(Some(last)) => compare(&last.parts, &parts),
                    LastRun::Unreadable => StaleReason::OutputDamaged,
                }),
            };
            (reason, Some(key))
        };

        stale[index] = reason.is_some();
        let resumable = reason.is_some()
            && key.as_ref().is_some_and(|key| {
                std::fs::read_dir(store.scratch_path(key))
                    .is_ok_and(|mut entries| entries.next().is_some())
            });
        statuses.push(StageStatus {
            stage: stage.name.clone(),
            reason,
            key,
            resumable,
        });
    }
    Ok(statuses)
}

/// Returns the first difference between the parts of the last run and the current ones.
fn compare(last: &KeyParts, current: &KeyParts) -> StaleReason {
    if last.kind != current.kind || last.fingerprint != current.fingerprint {
        return StaleReason::CodeChanged;
    }
    if let Some(key) = changed_param(&last.params, &current.params) {
        return StaleReason::ParamChanged(key);
    }
    let names = last.inputs.keys().chain(current.inputs.keys());
    for name in names {
        let (before, now) = (last.inputs.get(name), current.inputs.get(name));
        if before != now {
            let stage = now
                .or(before)
                .and_then(|input| input.stages().first().map(|stage| stage.to_string()));
            return StaleReason::InputChanged(stage.unwrap_or_else(|| name.clone()));
        }
    }
    let paths = last.external.keys().chain(current.external.keys());
    for path in paths {
        if last.external.get(path) != current.external.get(path) {
            return StaleReason::FileChanged(path.clone());
        }
    }
    // Same parts, no record and no damage marker: the record was collected or deleted.
    StaleReason::NeverRun
}

fn changed_param(before: &serde_json::Value, now: &serde_json::Value) -> Option<String> {
    let (Some(before), Some(now)) = (before.as_object(), now.as_object()) else {
        return (crate::canonical::canonical_json(before) != crate::canonical::canonical_json(now))
            .then(|| "params".to_string());
    };
    let mut keys: Vec<&String> = before.keys().chain(now.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .find(|key| {
            let encode =
                |value: Option<&serde_json::Value>| value.map(crate::canonical::canonical_json);
            encode(before.get(*key)) != encode(now.get(*key))
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::record::InputDigest;

    fn parts(fingerprint: &str, params: serde_json::Value, digest: &str) -> KeyParts {
        let mut inputs = BTreeMap::new();
        inputs.insert(
            "data".to_string(),
            InputDigest::Single {
                stage: "producer".to_string(),
                path: None,
                digest: digest.to_string(),
            },
        );
        KeyParts {
            kind: "command".to_string(),
            fingerprint: fingerprint.to_string(),
            params,
            inputs,
            external: BTreeMap::new(),
        }
    }

    #[test]
    fn fingerprint_change_is_code_changed() {
        let last = parts("old", json!({"a": 1}), "d1");
        let now = parts("new", json!({"a": 2}), "d2");
        assert_eq!(compare(&last, &now), StaleReason::CodeChanged);
    }

    #[test]
    fn param_change_names_first_key() {
        let last = parts("f", json!({"a": 1, "b": 1, "c": 1}), "d1");
        let now = parts("f", json!({"a": 1, "b": 2, "c": 2}), "d2");
        assert_eq!(
            compare(&last, &now),
            StaleReason::ParamChanged("b".to_string())
        );
    }

    #[test]
    fn input_change_names_stage() {
        let last = parts("f", json!({"a": 1}), "d1");
        let now = parts("f", json!({"a": 1.0}), "d2");
        assert_eq!(
            compare(&last, &now),
            StaleReason::InputChanged("producer".to_string())
        );
    }

    #[test]
    fn reasons_render_as_documented() {
        assert_eq!(StaleReason::NeverRun.to_string(), "never run");
        assert_eq!(StaleReason::CodeChanged.to_string(), "code changed");
        assert_eq!(StaleReason::OutputDamaged.to_string(), "output damaged");
        assert_eq!(
            StaleReason::ParamChanged("epochs".into()).to_string(),
            "param changed: epochs"
        );
        assert_eq!(
            StaleReason::InputChanged("masks.a".into()).to_string(),
            "input changed: masks.a"
        );
    }
}
