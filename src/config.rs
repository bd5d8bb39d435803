//! falco.yaml (the subset this library reads) -> a typed, validated [`Config`].
//!
//! Sources are merged in order: the file at `config_path`, then `config_yaml`, then each Falco
//! `-o key=value` override. Unknown top-level keys are ignored (a real falco.yaml has many);
//! unknown keys inside an output block are warnings; a wrong type is an error naming the key path
//! and the value it got.

use crate::alert::Priority;

/// Where the configuration comes from.
#[derive(Debug, Default, Clone)]
pub struct ConfigSources<'a> {
    pub config_path: Option<&'a str>,
    pub config_yaml: Option<&'a str>,
    pub overrides: &'a [String],
}

/// Why a configuration was refused. `Io` is for a config file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Invalid(String),
    Io(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Invalid(m) | ConfigError::Io(m) => f.write_str(m),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub json_output: bool,                         // false
    pub json_include_output_property: bool,        // true
    pub json_include_tags_property: bool,          // true
    pub json_include_message_property: bool,       // false
    pub json_include_output_fields_property: bool, // true
    pub time_format_iso_8601: bool,                // false
    pub buffered_outputs: bool,                    // false
    /// `outputs_queue.capacity`; 0 = unbounded.
    pub queue_capacity: usize,
    /// `output_timeout`, milliseconds (2000).
    pub output_timeout_ms: u64,
    pub stdout: StdoutConfig,
    pub file: FileConfig,
    pub syslog: SyslogConfig,
    pub program: ProgramConfig,
    pub http: HttpConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StdoutConfig {
    pub enabled: bool, // Falco's code default (falco.yaml ships true)
    pub min_priority: Priority,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileConfig {
    pub enabled: bool,    // false
    pub keep_alive: bool, // false
    pub filename: String, // "" (Falco's error when enabled and empty)
    /// `file_output.mode`, an octal string in YAML ("0600" default).
    pub mode: u32,
    pub min_priority: Priority,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogFormat {
    Rfc3164,
    Rfc5424,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyslogConfig {
    pub enabled: bool,   // Falco's code default (falco.yaml ships true)
    pub address: String, // "unix:///dev/log"
    pub format: SyslogFormat,
    /// Facility number (user = 1).
    pub facility: u8,
    pub min_priority: Priority,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProgramConfig {
    pub enabled: bool,    // false
    pub keep_alive: bool, // false
    pub program: String,  // ""
    pub min_priority: Priority,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpMethod {
    Post,
    Put,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub enabled: bool,
    pub url: String,
    pub user_agent: String, // "falcosecurity/falco"
    pub insecure: bool,
    pub ca_cert: String,
    pub ca_bundle: String,
    pub ca_path: String, // "/etc/ssl/certs"
    pub mtls: bool,
    pub client_cert: String, // "/etc/ssl/certs/client.crt"
    pub client_key: String,  // "/etc/ssl/certs/client.key"
    pub echo: bool,
    pub compress_uploads: bool,
    pub keep_alive: bool,
    pub max_consecutive_timeouts: u32, // 5
    pub headers: Vec<(String, String)>,
    pub method: HttpMethod,
    pub timeout_ms: u64,           // 5000
    pub retry_max_backoff_ms: u64, // 30000
    pub spool_dir: String,         // "" = memory only
    pub spool_max_mb: u64,         // 256
    pub batch_max_alerts: usize,   // 1
    pub batch_max_wait_ms: u64,    // 100
    pub min_priority: Priority,
}
