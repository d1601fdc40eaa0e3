//! Core progress callbacks become `progress` events, at most every 100 ms.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chatkeep_core::ops::Progress;
use serde::Serialize;
use tauri::{AppHandle, Emitter, Runtime};

#[derive(Debug, Clone, Serialize)]
struct ProgressEvent {
    operation: &'static str,
    done: u64,
    total: u64,
}

pub struct EmitProgress<R: Runtime> {
    app: AppHandle<R>,
    operation: &'static str,
    total: AtomicU64,
    last: Mutex<Option<Instant>>,
}

impl<R: Runtime> std::fmt::Debug for EmitProgress<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmitProgress").field("operation", &self.operation).finish_non_exhaustive()
    }
}

impl<R: Runtime> EmitProgress<R> {
    pub fn new(app: &AppHandle<R>, operation: &'static str) -> EmitProgress<R> {
        EmitProgress { app: app.clone(), operation, total: AtomicU64::new(0), last: Mutex::new(None) }
    }

    fn send(&self, done: u64) {
        let total = self.total.load(Ordering::Relaxed);
        let _ = self.app.emit("progress", ProgressEvent { operation: self.operation, done, total });
    }
}

impl<R: Runtime> Progress for EmitProgress<R> {
    fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
        self.send(0);
    }

    fn advance_to(&self, done: u64) {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.is_none_or(|at| at.elapsed() >= Duration::from_millis(100));
        if due || done >= self.total.load(Ordering::Relaxed) {
            *last = Some(Instant::now());
            self.send(done);
        }
    }
}
