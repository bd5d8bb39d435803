//! The public errors: [`InitError`] (the one error init fails with, whether the configuration,
//! a resource or the channel cap refused it), [`EmitError`] and [`Timeout`].

use std::fmt;

/// What refused init; the C ABI's result code follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitErrorKind {
    /// A value, a key path or the document is wrong (`FALCO_OUTPUTS_ERR_CONFIG`).
    Config,
    /// A file, socket or thread could not be opened or read (`FALCO_OUTPUTS_ERR_IO`).
    Io,
    /// More channels are enabled than the handle can hold (`config::MAX_CHANNELS`, 64: one
    /// bit per channel); a configuration error (`FALCO_OUTPUTS_ERR_CONFIG`).
    ChannelCap,
}

/// Why `open` failed. Its `Display` is the whole message the host sees: it names the key path
/// and the value, never a secret (see `config::read::Reader::text`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    kind: InitErrorKind,
    /// The configuration key the message names, when one does.
    key: Option<String>,
    message: String,
}

impl InitError {
    /// A configuration error with the message as written.
    pub fn config(message: impl Into<String>) -> InitError {
        InitError::new(InitErrorKind::Config, None, message.into())
    }

    /// A configuration error about one key: `config key `key`: msg`.
    pub fn key(key: &str, msg: impl fmt::Display) -> InitError {
        let message = format!("config key `{key}`: {msg}");
        InitError::new(InitErrorKind::Config, Some(key.to_string()), message)
    }

    /// A resource (file, socket, thread) could not be opened.
    pub fn io(message: impl Into<String>) -> InitError {
        InitError::new(InitErrorKind::Io, None, message.into())
    }

    /// More channels enabled than the cap, counted at `key`: `config key `key`: msg`.
    pub fn channel_cap(key: &str, msg: impl fmt::Display) -> InitError {
        InitError {
            kind: InitErrorKind::ChannelCap,
            ..InitError::key(key, msg)
        }
    }

    pub(crate) fn new(kind: InitErrorKind, key: Option<String>, message: String) -> InitError {
        InitError { kind, key, message }
    }

    pub fn kind(&self) -> InitErrorKind {
        self.kind
    }

    /// The configuration key the error is about, when it names one.
    pub fn config_key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn into_message(self) -> String {
        self.message
    }

    /// The same error with its message rewritten (an `extra_outputs` entry names its own keys).
    pub(crate) fn map_message(self, f: impl FnOnce(String) -> String) -> InitError {
        InitError {
            message: f(self.message),
            ..self
        }
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InitError {}

/// Why `emit` did not queue an alert everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    /// At least one channel's queue was full; the drop is counted. Do not retry.
    QueueFull,
    /// The handle is closing.
    Closed,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmitError::QueueFull => "an output queue is full: the alert was dropped there",
            EmitError::Closed => "the outputs handle is closing",
        })
    }
}

impl std::error::Error for EmitError {}

/// `flush` or `close` ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for Timeout {}
