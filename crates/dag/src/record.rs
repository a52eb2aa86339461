//! Run records and key parts: what the store remembers about each stage run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::canonical::canonical_json;
use crate::tree::{EntryKind, ManifestEntry};

/// Everything a stage key is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyParts {
    pub kind: String,
    pub fingerprint: String,
    /// Canonical params.
    pub params: serde_json::Value,
    /// Each input by name, with the digests of what it references.
    pub inputs: BTreeMap<String, InputDigest>,
    /// Each file or folder outside the store the kind reads, as written in the params, with
    /// its content digest (`missing` when absent). Left out of the encoding when empty, so
    /// kinds without such paths keep their keys.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub external: BTreeMap<String, String>,
}

/// The content an input referenced when a key was computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputDigest {
    /// `stage` or `stage:path`: the digest of that tree or entry.
    Single {
        stage: String,
        path: Option<String>,
        digest: String,
    },
    /// A wildcard reference: `(stage, output digest)` per match, sorted by stage. Names are
    /// part of the key because a stage may label its results with them.
    List(Vec<(String, String)>),
}

impl InputDigest {
    /// Returns the stages this input read.
    pub fn stages(&self) -> Vec<&str> {
        match self {
            InputDigest::Single { stage, .. } => vec![stage.as_str()],
            InputDigest::List(list) => list.iter().map(|(stage, _)| stage.as_str()).collect(),
        }
    }
}

impl KeyParts {
    /// Computes the stage key: hex blake3 of the canonical JSON encoding of the parts.
    pub fn key(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        blake3::hash(canonical_json(&value).as_bytes())
            .to_hex()
            .to_string()
    }
}

/// The record of one successful stage run, `runs/<key>.json`, written last and atomically.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub key: String,
    /// The expanded stage name of the run that wrote it.
    pub stage: String,
    pub parts: KeyParts,
    /// Merkle digest of the output tree.
    pub output_digest: String,
    /// Every file and directory of the output tree.
    pub manifest: Vec<ManifestEntry>,
    /// Start of the run, seconds since the Unix epoch.
    pub started_at: u64,
    pub duration_s: f64,
    pub device: crate::stage::Device,
    /// The run's log file, relative to the store root.
    pub log: String,
}

impl RunRecord {
    /// Finds the entry at `path` (`""` is the whole tree).
    pub fn entry(&self, path: &str) -> Option<&ManifestEntry> {
        self.manifest.iter().find(|entry| entry.path == path)
    }

    /// Iterates over the file entries of the output tree.
    pub fn files(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.manifest
            .iter()
            .filter(|entry| entry.kind == EntryKind::File)
    }
}

/// `names/<stage>.json`: the key parts of the last run of a stage name, so status can report
/// what changed since.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NameRecord {
    pub key: String,
    pub parts: KeyParts,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(params: serde_json::Value) -> KeyParts {
        KeyParts {
            kind: "command".into(),
            fingerprint: "f".into(),
            params,
            inputs: BTreeMap::new(),
            external: BTreeMap::new(),
        }
    }

    #[test]
    fn key_ignores_param_order_and_float_spelling() {
        let first = parts(json!({"a": 1, "b": "x"}));
        let second = parts(json!({"b": "x", "a": 1.0}));
        assert_eq!(first.key(), second.key());
    }

    #[test]
    fn key_changes_with_param_value() {
        assert_ne!(parts(json!({"a": 1})).key(), parts(json!({"a": 2})).key());
    }
}
