//! Progress reporting and cancellation, so that a caller can draw a bar and stop a long
//! operation without this crate printing or knowing the caller.

/// Receives progress of a long operation (a length, increments and a short message) and tells
/// it when to stop.
pub trait Progress {
    fn set_length(&self, length: u64);
    fn inc(&self, delta: u64);
    fn set_message(&self, message: &str);

    /// Whether the caller wants the operation to stop; checked once per image or chunk.
    fn cancelled(&self) -> bool {
        false
    }
}

/// A [`Progress`] that discards everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_length(&self, _length: u64) {}
    fn inc(&self, _delta: u64) {}
    fn set_message(&self, _message: &str) {}
}
