//! The host's log callback: where the library's own errors and warnings go.

use std::io::Write;
use std::sync::Arc;

use parking_lot::RwLock;

/// Syslog severities used for the library's own log lines.
pub const LOG_CRIT: i32 = 2;
pub const LOG_ERR: i32 = 3;
pub const LOG_WARNING: i32 = 4;
pub const LOG_NOTICE: i32 = 5;
pub const LOG_INFO: i32 = 6;

type RustCallback = dyn Fn(i32, &str) + Send + Sync;

/// A cheap, clonable handle that delivers log lines to the host (or stderr).
#[derive(Clone)]
pub struct Logger {
    sink: Sink,
    /// Per handle: closed when the handle is closed, so that a worker left behind by `close`
    /// never calls the host's callback (whose userdata may be freed by then).
    gate: Option<Arc<RwLock<bool>>>,
}

#[derive(Clone)]
enum Sink {
    Stderr,
    Rust(Arc<RustCallback>),
}

impl Logger {
    pub fn stderr() -> Logger {
        Logger {
            sink: Sink::Stderr,
            gate: None,
        }
    }

    pub fn from_fn(f: impl Fn(i32, &str) + Send + Sync + 'static) -> Logger {
        Logger {
            sink: Sink::Rust(Arc::new(f)),
            gate: None,
        }
    }

    /// A copy for one handle, with its own gate (see [`Logger::close_gate`]).
    pub fn gated(&self) -> Logger {
        Logger {
            sink: self.sink.clone(),
            gate: Some(Arc::new(RwLock::new(true))),
        }
    }

    /// From now on this handle's lines are dropped. Waits for a callback in progress.
    pub fn close_gate(&self) {
        if let Some(gate) = &self.gate {
            *gate.write() = false;
        }
    }

    pub fn log(&self, level: i32, message: &str) {
        let _open = match &self.gate {
            Some(gate) => {
                let open = gate.read();
                if !*open {
                    return;
                }
                Some(open)
            }
            None => None,
        };
        match &self.sink {
            Sink::Stderr => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "falco-outputs: {}: {}", level_name(level), message);
            }
            Sink::Rust(f) => f(level, message),
        }
    }

    pub fn critical(&self, message: &str) {
        self.log(LOG_CRIT, message)
    }
    pub fn error(&self, message: &str) {
        self.log(LOG_ERR, message)
    }
    pub fn warning(&self, message: &str) {
        self.log(LOG_WARNING, message)
    }
    pub fn notice(&self, message: &str) {
        self.log(LOG_NOTICE, message)
    }
    pub fn info(&self, message: &str) {
        self.log(LOG_INFO, message)
    }
}

fn level_name(level: i32) -> &'static str {
    match level {
        0 => "emergency",
        1 => "alert",
        2 => "critical",
        3 => "error",
        4 => "warning",
        5 => "notice",
        6 => "info",
        _ => "debug",
    }
}
