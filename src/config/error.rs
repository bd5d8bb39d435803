//! The one error a configuration can fail with.

use std::fmt;

/// Why a configuration was refused: its `Display` is the whole message the host sees (it names
/// the key path and the value, never a secret: see [`super::read::Reader::text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A value, a key path or the document is wrong (`FALCO_OUTPUTS_ERR_CONFIG`).
    Invalid(String),
    /// The config file cannot be read (`FALCO_OUTPUTS_ERR_IO`).
    Io(String),
}

impl ConfigError {
    pub fn invalid(msg: impl Into<String>) -> ConfigError {
        ConfigError::Invalid(msg.into())
    }

    /// `config key `key`: msg`
    pub fn key(key: &str, msg: impl fmt::Display) -> ConfigError {
        ConfigError::Invalid(format!("config key `{key}`: {msg}"))
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid(m) | ConfigError::Io(m) => f.write_str(m),
        }
    }
}
