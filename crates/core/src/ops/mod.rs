//! The operations: one public function per thing a user can ask chatkeep to do.
//! The CLI, the desktop app and the scheduler all call these same functions.

pub mod backup;
pub mod demo;
pub mod export;
pub mod gdpr;
pub mod hold;
pub mod import;
pub mod maintenance;
pub mod retention;
pub mod settings;
pub mod stats;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Asks a long operation to stop at its next safe point (between batches).
/// Clones share one flag: hand a clone to the operation, keep one to cancel.
#[derive(Debug, Default, Clone)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
