//! The one error every command returns: `{code, message}`, the core's code and its one-line message.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct CommandError {
    pub code: String,
    pub message: String,
}

impl CommandError {
    pub fn new(code: &str, message: impl Into<String>) -> CommandError {
        CommandError { code: code.into(), message: message.into() }
    }
}

impl From<chatkeep_core::Error> for CommandError {
    fn from(error: chatkeep_core::Error) -> Self {
        tracing::debug!(error = ?error, "command failed");
        CommandError { code: error.code().into(), message: error.to_string() }
    }
}

impl From<chatkeep_core::store::StoreError> for CommandError {
    fn from(error: chatkeep_core::store::StoreError) -> Self {
        chatkeep_core::Error::from(error).into()
    }
}

impl From<chatkeep_core::config::ConfigError> for CommandError {
    fn from(error: chatkeep_core::config::ConfigError) -> Self {
        CommandError { code: "config".into(), message: error.to_string() }
    }
}

impl From<tauri::Error> for CommandError {
    fn from(error: tauri::Error) -> Self {
        CommandError { code: "app".into(), message: error.to_string() }
    }
}

pub type CommandResult<T> = Result<T, CommandError>;
