//! Progress reporting, so that a caller can draw a bar without this crate printing.

/// Receives progress of a long operation: a length, increments and a short message.
pub trait Progress: Sync {
    fn set_length(&self, length: u64);
    fn inc(&self, delta: u64);
    fn set_message(&self, message: &str);
}

/// A [`Progress`] that discards everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_length(&self, _length: u64) {}
    fn inc(&self, _delta: u64) {}
    fn set_message(&self, _message: &str) {}
}
