//! What every command shares, registered once in `setup`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chatkeep_core::SecretString;
use chatkeep_core::events::EventSink;
use chatkeep_core::notify::Notifiers;
use chatkeep_core::ops::Cancel;
use chatkeep_core::scheduler::{JobContext, Scheduler, TokioSleeper};
use chatkeep_core::{Clock, Config, Store, SystemClock};

pub struct AppState {
    pub config: RwLock<Arc<Config>>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub passphrase: Option<Arc<SecretString>>,
    pub scheduler: Arc<Scheduler>,
    pub notifiers: Arc<Notifiers>,
    /// Cancel switches of the long operations running now, by name (`export`, `retention`).
    pub running: Mutex<HashMap<&'static str, Cancel>>,
    /// The scheduler's task, awaited on quit.
    pub scheduler_task: Mutex<Option<tauri::async_runtime::JoinHandle<()>>>,
    /// The paths the save dialog returned and the folders chatkeep wrote to.
    pub grants: crate::grants::Grants,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.store).finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens the configured database and builds the scheduler (not yet started) and the
    /// notifiers from the config, plus `desktop` for the app's own notifications.
    pub async fn open(
        config: Config,
        clock: Arc<dyn Clock>,
        desktop: Option<Arc<dyn EventSink>>,
    ) -> chatkeep_core::Result<AppState> {
        let store = Store::open(&config.database_url).await?;
        let mut notifiers = Notifiers::from_settings(&config.notify);
        if let Some(desktop) = desktop {
            notifiers.add(desktop);
        }
        let notifiers = Arc::new(notifiers);
        let config = Arc::new(config);
        let ctx = JobContext::new(store.clone(), config.clone(), clock.clone(), notifiers.clone())?;
        let passphrase = ctx.passphrase.clone();
        let scheduler = Arc::new(Scheduler::new(ctx, Arc::new(TokioSleeper))?);
        Ok(AppState {
            config: RwLock::new(config),
            store,
            clock,
            passphrase,
            scheduler,
            notifiers,
            running: Mutex::new(Default::default()),
            scheduler_task: Mutex::new(None),
            grants: Default::default(),
        })
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn system_clock() -> Arc<dyn Clock> {
        Arc::new(SystemClock)
    }

    /// Registers a long operation's cancel switch; refused if one of its kind is running.
    pub fn start(&self, operation: &'static str) -> Option<Cancel> {
        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.contains_key(operation) {
            return None;
        }
        let cancel = Cancel::new();
        running.insert(operation, cancel.clone());
        Some(cancel)
    }

    pub fn finish(&self, operation: &'static str) {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(operation);
    }

    pub fn cancel(&self, operation: &str) -> bool {
        let running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        running.get(operation).map(Cancel::cancel).is_some()
    }
}

/// Owned copies of what an operation needs, to move onto another thread.
#[derive(Clone)]
pub struct Parts {
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
    pub passphrase: Option<Arc<SecretString>>,
    pub events: Arc<Notifiers>,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts").field("store", &self.store).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn parts(&self) -> Parts {
        Parts {
            store: self.store.clone(),
            config: self.config(),
            clock: self.clock.clone(),
            passphrase: self.passphrase.clone(),
            events: self.notifiers.clone(),
        }
    }
}

impl Parts {
    pub fn backups(&self) -> chatkeep_core::ops::backup::Backups<'_> {
        chatkeep_core::ops::backup::Backups::new(
            &self.store,
            &self.config,
            self.clock.as_ref(),
            self.passphrase.as_deref(),
            self.events.as_ref(),
        )
    }

    pub fn retention(&self) -> chatkeep_core::ops::retention::Retention<'_> {
        chatkeep_core::ops::retention::Retention {
            store: &self.store,
            settings: &self.config.retention,
            tz: self.config.timezone,
            clock: self.clock.as_ref(),
        }
    }
}
