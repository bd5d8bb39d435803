//! falco-outputs: Falco's alert channels (stdout, file, syslog, program, HTTP, HTTPS) as a library
//! with a C ABI. The engine hands over alerts; this crate formats them exactly as Falco prints
//! them and delivers them from its own threads: one fan-out thread formats each alert once, and
//! each channel's worker writes it (file and stdout also by the fan-out thread when idle).
//!
//! The Rust API: [`Outputs`] opened with [`Options`] (its errors in [`error`]), alerts built with [`alert`], the log
//! callback in [`log`], counters in [`stats`]; the C ABI is [`ffi`]. Everything else is
//! internal; the integration tests reach what they drive directly through [`testing`].

// `unsafe` only where it must be (see README, "Source layout"), every block justified.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod alert;
pub mod ffi;
pub mod log;
pub mod stats;
#[doc(hidden)]
pub mod testing;

pub(crate) mod batch;
pub(crate) mod config;
pub(crate) mod date;
mod digits;
pub mod error;
pub(crate) mod format;
pub(crate) mod handle;
pub(crate) mod hostname;
pub(crate) mod metrics;
pub(crate) mod outputs;
mod panic;
pub(crate) mod redact;
pub(crate) mod runtime;
pub(crate) mod signals;
pub(crate) mod storm;
mod sys;

pub use error::{EmitError, InitError, InitErrorKind, Timeout};
pub use handle::{Options, Outputs};
