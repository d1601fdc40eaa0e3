//! The operations: one public function per thing a user can ask chatkeep to do.
//! The CLI, the desktop app and the scheduler all call these same functions.

pub mod demo;
pub mod hold;
pub mod import;
pub mod stats;

/// Reports how far a long operation has got: `done` of `total` units.
pub trait Progress: Send + Sync {
    fn set_total(&self, total: u64);
    fn advance_to(&self, done: u64);
}

/// For callers that do not show progress.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _total: u64) {}
    fn advance_to(&self, _done: u64) {}
}
