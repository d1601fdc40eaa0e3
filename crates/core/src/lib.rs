//! chatkeep-core: every rule of chatkeep, with no user-interface dependency.
//!
//! The shells (the `chatkeep` CLI, the daemon, the desktop app) parse input,
//! call one function from [`ops`] or [`audit`], and render the result or the
//! [`Error`]. Nothing here knows which shell called it.
//!
//! - [`config`]: the effective settings, from `chatkeep.toml` and the environment.
//! - [`store`]: the database engine seam (SQLite today; PostgreSQL slots in by URL scheme).
//! - [`audit`]: the hash-chained audit log every operation appends to.
//! - [`ops`]: the operations: import, demo data, statistics, legal holds, retention, and more to come.
//! - [`events`]: what the core tells a shell to notify about; [`notify`]: where it goes (log, webhook).
//! - [`output`]: how files for the user (exports, copies, the settings file) are written: privately, never through a link.
//! - [`scheduler`]: runs the jobs on their cron schedules, records every run, catches up missed ones.
//! - [`domain`]: the nouns those operations share.

pub mod audit;
pub mod clock;
pub mod config;
pub mod error;
pub mod events;
pub mod notify;
pub mod ops;
pub mod output;
pub mod scheduler;
pub mod time;

/// The backup passphrase type, kept secret in memory.
pub use age::secrecy::SecretString;
/// The nouns (plain values), from `chatkeep-domain`.
pub use chatkeep_domain as domain;
/// The database engines, from `chatkeep-store`.
pub use chatkeep_store as store;
pub use clock::{Clock, FixedClock, SystemClock};
pub use config::Config;
pub use error::{Error, Result};
pub use store::Store;

/// chatkeep's version, recorded in audit rows, backup manifests and exports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
