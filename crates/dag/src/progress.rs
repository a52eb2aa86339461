//! Per-stage progress handle: a cheap clone of an indicatif bar, hidden when not on a tty.

use std::borrow::Cow;

use indicatif::ProgressBar;

/// The progress of one stage run.
///
/// Stages call [`set_length`](Self::set_length) once they know how much work there is, then
/// [`inc`](Self::inc). The engine draws one line per running stage with its rate and ETA.
#[derive(Clone, Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// Creates a progress handle that draws nothing (tests, non-tty runs).
    pub fn hidden() -> Self {
        Self {
            bar: ProgressBar::hidden(),
        }
    }

    /// Wraps a bar the engine created.
    pub fn from_bar(bar: ProgressBar) -> Self {
        Self { bar }
    }

    /// Sets the total amount of work, in the stage's own units (images, iterations).
    pub fn set_length(&self, length: u64) {
        self.bar.set_length(length);
    }

    /// Adds `delta` units of finished work.
    pub fn inc(&self, delta: u64) {
        self.bar.inc(delta);
    }

    /// Sets the position directly, e.g. after resuming from a checkpoint.
    pub fn set_position(&self, position: u64) {
        self.bar.set_position(position);
    }

    /// Sets the short message shown after the bar.
    pub fn set_message(&self, message: impl Into<Cow<'static, str>>) {
        self.bar.set_message(message);
    }

    /// Returns the underlying bar, for the engine.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }
}
