//! The internals the integration tests (`tests/it/`) and the benches drive directly: a channel
//! opened on a `Config` and fed batches through a `ChannelCtx`, as its worker does; the
//! formatter on its own; the worker threads' signal mask. Not part of the API: hidden from the
//! docs, and it changes whenever the internals do.

pub use crate::config::{
    Config, HttpConfig, HttpMethod, HttpTransportConfig, HttpUrl, SyslogAddress, SyslogConfig,
    SyslogFormat, SyslogTlsConfig,
};
pub use crate::date::LocalZone;
pub use crate::error::InitError;
pub use crate::format::{FormatOptions, Formatter};
pub use crate::outputs::http::HttpChannel;
pub use crate::outputs::nats::NatsChannel;
pub use crate::outputs::program::ProgramChannel;
pub use crate::outputs::syslog::SyslogChannel;
pub use crate::outputs::{Batch, Channel, ChannelCtx, Line};
pub use crate::signals::spawn_blocking_signals;
pub use crate::stats::ChannelStats;

/// A NATS channel opened from YAML holding a `nats_output` block, as init would open it.
pub fn open_nats(
    yaml: &str,
    log: &crate::log::Logger,
    hostname: &str,
) -> Result<NatsChannel, String> {
    let sources = crate::config::ConfigSources {
        config_yaml: Some(yaml),
        ..Default::default()
    };
    let cfg = crate::config::load(&sources, &mut |_| {}).map_err(|e| e.to_string())?;
    NatsChannel::open(&cfg.nats, "nats_output", log, hostname).map_err(|e| format!("{e:?}"))
}
