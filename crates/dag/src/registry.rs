//! The set of stage kinds a binary is built with, looked up by name.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::stage::StageKind;

/// Every stage kind the binary was built with, by name.
#[derive(Clone, Default)]
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn StageKind>>,
}

impl Registry {
    /// Creates an empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind; a second kind with the same name replaces the first.
    pub fn register(&mut self, kind: impl StageKind + 'static) -> &mut Self {
        self.kinds.insert(kind.name(), Arc::new(kind));
        self
    }

    /// Adds a kind, builder style.
    pub fn with(mut self, kind: impl StageKind + 'static) -> Self {
        self.register(kind);
        self
    }

    /// Returns the kind named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn StageKind>> {
        self.kinds.get(name)
    }

    /// Returns the names of every kind, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}
