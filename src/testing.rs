//! The internals the integration tests (`tests/it/`) and the benches drive directly: a channel
//! opened on a `Config` and fed batches through a `ChannelCtx`, as its worker does; the
//! formatter on its own; the worker threads' signal mask. Not part of the API: hidden from the
//! docs, and it changes whenever the internals do.

pub use crate::config::{
    Config, HttpConfig, HttpMethod, HttpUrl, SyslogAddress, SyslogConfig, SyslogFormat,
    SyslogTlsConfig,
};
pub use crate::date::LocalZone;
pub use crate::format::{FormatOptions, Formatter};
pub use crate::outputs::http::HttpChannel;
pub use crate::outputs::program::ProgramChannel;
pub use crate::outputs::syslog::SyslogChannel;
pub use crate::outputs::{Batch, Channel, ChannelCtx, Line, OpenError};
pub use crate::signals::spawn_blocking_signals;
pub use crate::stats::ChannelStats;
