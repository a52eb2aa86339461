//! Progress reporting and cancellation, so that a caller can draw a bar and stop a long
//! operation without this crate printing or knowing the caller.

/// A sink for the progress of a long operation (a length, increments and a short message),
/// which also signals cancellation.
pub trait Progress {
    fn set_length(&self, length: u64);
    fn inc(&self, delta: u64);
    fn set_message(&self, message: &str);

    /// Returns true once the caller wants the operation to stop. It is checked once per image
    /// or downloaded chunk.
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
