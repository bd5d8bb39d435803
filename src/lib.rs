//! falco-outputs: Falco's alert channels (stdout, file, syslog, program, HTTP[s]) as a library
//! with a C ABI. The engine hands over alerts; this crate formats them exactly as Falco prints
//! them and delivers them from its own threads, one worker per channel.

pub mod alert;
pub mod config;
pub mod dispatch;
pub mod ffi;
pub mod format;
pub mod hostname;
pub mod localtime;
pub mod log;
pub mod outputs;
mod panic;
pub mod pool;
pub mod queue;
pub mod signals;
pub mod stats;
mod watchdog;
pub mod worker;

pub use dispatch::{EmitError, InitError, Options, Outputs, Timeout};
