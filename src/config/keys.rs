//! Every channel block's keys and `outputs_queue`: one line per key (name, type, default,
//! reader); the top-level keys are in `top_level.rs`, `match` and `storm` in `match_storm.rs`. See the module
//! documentation of [`crate::config`] for how to add one.

use super::match_storm::{Match, StormConfig};
use super::read::positive;
use super::schema::settings;
use super::siem::{ElasticsearchConfig, HttpFormat, LokiConfig, SplunkHecConfig};
use super::units::{read_duration_ms, read_size};
use super::values::{
    read_attributes, read_facility, read_headers, read_mode, read_user_agent, HttpMethod, HttpUrl,
    SyslogAddress, SyslogFormat, DEFAULT_FILE_MODE, DEFAULT_SYSLOG_FACILITY,
};
use super::values_tls::{Fingerprint, TlsAuthMode};
use crate::alert::Priority;

settings! {
    /// `outputs_queue`.
    pub struct QueueConfig {
        /// Per-channel queue bound; 0 = unbounded (Falco's mapping of 0).
        capacity: usize = 0,
        /// An extension: the longest an alert waits before the workers are woken for it
        /// (they are woken at once by a burst, flush, reopen and close); 0 = wake per alert.
        max_delay_ms: u64 = 10,
        /// An extension: the file and stdout channels are always written by their own worker
        /// threads, never by the fan-out thread (isolation from a stuck stdout reader, at the
        /// cost of a wake-up per channel per `max_delay_ms`).
        thread_per_channel: bool = false,
    }
}

settings! {
    /// `stdout_output`.
    pub struct StdoutConfig {
        enabled: bool = false,
        min_priority: Priority = Priority::Debug,
        /// Which alerts the channel takes (an extension; docs/routing.md).
        route as "match": Match = Match::default(),
        /// Storm control (an extension, off by default; docs/routing.md).
        storm: StormConfig = StormConfig::default(),
    }
}

settings! {
    /// `file_output`.
    pub struct FileConfig {
        enabled: bool = false,
        keep_alive: bool = false,
        /// Required when enabled (Falco's error otherwise).
        filename: String = String::new(),
        /// Octal mode of a file the library creates (an extension).
        mode: u32 = DEFAULT_FILE_MODE => read_mode,
        min_priority: Priority = Priority::Debug,
        /// Which alerts the channel takes (an extension; docs/routing.md).
        route as "match": Match = Match::default(),
        /// Storm control (an extension, off by default; docs/routing.md).
        storm: StormConfig = StormConfig::default(),
        /// Rotation by the library (an extension; docs/stdout-file.md). Off by default.
        rotate: RotateConfig = RotateConfig::default(),
    }
}

settings! {
    /// `file_output.rotate`: on when `max_size` or `max_age` is not 0.
    pub struct RotateConfig {
        /// Bytes; 0 = no size limit.
        max_size: u64 = 0 => read_size,
        /// Milliseconds; 0 = no age limit.
        max_age_ms as "max_age": u64 = 0 => read_duration_ms,
        /// Rotated files kept (the oldest beyond this are deleted).
        max_files: u32 = 5 => positive,
        /// Rotated files are gzip-compressed by a thread of the channel's own.
        compress: bool = false,
    }
}

impl RotateConfig {
    pub fn enabled(&self) -> bool {
        self.max_size > 0 || self.max_age_ms > 0
    }
}

settings! {
    /// `syslog_output`.
    pub struct SyslogConfig {
        enabled: bool = false,
        address: SyslogAddress = SyslogAddress::default(),
        format: SyslogFormat = SyslogFormat::Rfc3164,
        /// Facility number (user = 1).
        facility: u8 = DEFAULT_SYSLOG_FACILITY => read_facility,
        min_priority: Priority = Priority::Debug,
        /// Which alerts the channel takes (an extension; docs/routing.md).
        route as "match": Match = Match::default(),
        /// Storm control (an extension, off by default; docs/routing.md).
        storm: StormConfig = StormConfig::default(),
        /// TLS for `tls://` and `relp+tls://` addresses (an extension; docs/syslog.md).
        tls: SyslogTlsConfig = SyslogTlsConfig::default(),
    }
}

settings! {
    /// `syslog_output.tls`: how a `tls://` or `relp+tls://` channel authenticates the server
    /// and itself. File names as `http_output`'s keys of the same names.
    pub struct SyslogTlsConfig {
        /// CA certificate file (PEM) that verifies the server; with `ca_path`, the only CAs
        /// trusted. Both empty: the system trust store.
        ca_cert: String = String::new(),
        /// Directory of hashed CA certificates (`openssl rehash`).
        ca_path: String = String::new(),
        /// Client certificate (PEM, chain allowed) for mutual TLS; with `client_key`.
        client_cert: String = String::new(),
        client_key: String = String::new(),
        /// The name the server's certificate must carry (`auth_mode: name`) and the SNI sent;
        /// empty: the address's host.
        server_name: String = String::new(),
        auth_mode: TlsAuthMode = TlsAuthMode::Name,
        /// `SHA256:` pins of the server's certificate (`auth_mode: fingerprint`).
        permitted_peers: Vec<Fingerprint> = Vec::new(),
    }
}

settings! {
    /// `program_output`.
    pub struct ProgramConfig {
        enabled: bool = false,
        keep_alive: bool = false,
        /// Required when enabled (Falco's error otherwise).
        program: String = String::new(),
        min_priority: Priority = Priority::Debug,
        /// Which alerts the channel takes (an extension; docs/routing.md).
        route as "match": Match = Match::default(),
        /// Storm control (an extension, off by default; docs/routing.md).
        storm: StormConfig = StormConfig::default(),
    }
}

settings! {
    flat
    /// The HTTP transport's keys (client, retries, store and spool, batching), declared once and
    /// embedded in `http_output` and `otlp_output`, which write them in their own block. The
    /// defaults here are `http_output`'s; [`HttpTransportConfig::otlp_defaults`] are OTLP's.
    pub struct HttpTransportConfig {
        /// Required when enabled (Falco's error otherwise); OTLP: a URL without a path gets
        /// `/v1/logs`.
        url: HttpUrl = HttpUrl::default(),
        user_agent: String = "falcosecurity/falco".to_string() => read_user_agent,
        insecure: bool = false,
        ca_cert: String = String::new(),
        ca_bundle: String = String::new(),
        ca_path: String = "/etc/ssl/certs".to_string(),
        mtls: bool = false,
        client_cert: String = "/etc/ssl/certs/client.crt".to_string(),
        client_key: String = "/etc/ssl/certs/client.key".to_string(),
        compress_uploads: bool = false,
        keep_alive: bool = false,
        /// Header name and value, in the order written.
        headers: Vec<(String, String)> = Vec::new() => read_headers,
        timeout_ms: u64 = 5000 => positive,
        retry_max_backoff_ms: u64 = 30000,
        /// "" = memory only.
        spool_dir: String = String::new(),
        spool_max_mb: u64 = 256 => positive,
        batch_max_alerts: usize = 1 => positive,
        batch_max_wait_ms: u64 = 100,
    }
}

impl HttpTransportConfig {
    /// `otlp_output`'s defaults: a kept-alive connection, the OpenTelemetry exporters' timeout,
    /// and batches, as OTLP collectors expect.
    pub fn otlp_defaults() -> HttpTransportConfig {
        HttpTransportConfig {
            keep_alive: true,
            timeout_ms: 10000,
            batch_max_alerts: 100,
            batch_max_wait_ms: 200,
            ..HttpTransportConfig::default()
        }
    }
}

settings! {
    /// `http_output`: the HTTP transport's keys, and what only this channel has.
    pub struct HttpConfig {
        enabled: bool = false,
        echo: bool = false,
        max_consecutive_timeouts: u32 = 5,
        method: HttpMethod = HttpMethod::Post,
        min_priority: Priority = Priority::Debug,
        /// Which alerts the channel takes (an extension; docs/routing.md).
        route as "match": Match = Match::default(),
        /// Storm control (an extension, off by default; docs/routing.md).
        storm: StormConfig = StormConfig::default(),
        /// What the requests carry (an extension; docs/http.md): Falco's lines by default.
        format: HttpFormat = HttpFormat::Falco,
        splunk_hec: SplunkHecConfig = SplunkHecConfig::default(),
        elasticsearch_bulk: ElasticsearchConfig = ElasticsearchConfig::default(),
        loki: LokiConfig = LokiConfig::default(),
    }
    flattened transport: HttpTransportConfig = HttpTransportConfig::default();
}

settings! {
    /// `otlp_output`: the HTTP transport's keys (same meaning), OTLP's defaults.
    pub struct OtlpConfig {
        enabled: bool = false,
        min_priority: Priority = Priority::Debug,
        /// Which alerts the channel takes (an extension; docs/routing.md).
        route as "match": Match = Match::default(),
        /// Storm control (an extension, off by default; docs/routing.md).
        storm: StormConfig = StormConfig::default(),
        /// Added to the resource after `service.name` and `host.name` (which they may replace).
        resource_attributes: Vec<(String, String)> = Vec::new() => read_attributes,
    }
    flattened transport: HttpTransportConfig = HttpTransportConfig::otlp_defaults();
}
