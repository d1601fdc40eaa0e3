//! What every command needs: the effective configuration, the clock, the output mode.

use std::path::Path;

use chatkeep_core::config::Overrides;
use chatkeep_core::{Config, Store, SystemClock};

#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub clock: SystemClock,
    pub json: bool,
}

impl Context {
    pub fn new(config_file: Option<&Path>, database: Option<String>, json: bool) -> anyhow::Result<Context> {
        let config = Config::load(config_file, Overrides { database_url: database })?;
        Ok(Context { config, clock: SystemClock, json })
    }

    /// Opens the configured database, migrating it if needed. A PostgreSQL database
    /// that does not exist is an error: commands that act on data never create one.
    pub async fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::open_existing(&self.config.database_url, chatkeep_core::store::Memory::Fast).await?)
    }

    /// Opens the configured database, creating it if the server has none by that name
    /// (for the commands that put data in: import, demo seed, the daemon).
    pub async fn store_creating(&self) -> anyhow::Result<Store> {
        Ok(Store::open(&self.config.database_url).await?)
    }

    /// Opens the database for a long streaming read that must stay small in memory.
    pub async fn lean_store(&self) -> anyhow::Result<Store> {
        Ok(Store::open_existing(&self.config.database_url, chatkeep_core::store::Memory::Lean).await?)
    }

    /// Prints a value as pretty JSON on stdout.
    pub fn print_json(&self, value: &impl serde::Serialize) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }
}
