//! The whole configuration: its top-level keys, one line per key; each output block's keys are
//! in `keys.rs` (and `nats.rs`, `extra.rs`).

use super::append::{read_static_fields, AppendOutput};
use super::extra::ExtraOutput;
use super::keys::{
    FileConfig, HttpConfig, OtlpConfig, ProgramConfig, QueueConfig, StdoutConfig, SyslogConfig,
};
use super::nats::NatsConfig;
use super::read::positive;
use super::schema::settings;

settings! {
    /// The whole configuration. Defaults are Falco's code defaults (`configuration.cpp`).
    pub struct Config {
        /// JSON lines instead of text lines.
        json_output: bool = false,
        json_include_output_property: bool = true,
        json_include_tags_property: bool = true,
        json_include_message_property: bool = false,
        json_include_output_fields_property: bool = true,
        time_format_iso_8601: bool = false,
        buffered_outputs: bool = false,
        /// `output_timeout`, milliseconds.
        output_timeout_ms as "output_timeout": u64 = 2000 => positive,
        outputs_queue: QueueConfig = QueueConfig::default(),
        /// Falco's `append_output` entries (see `append.rs` for what is applied).
        append_output: Vec<AppendOutput> = Vec::new(),
        /// Extension: added to every JSON alert's `output_fields` (sorted by name).
        outputs_static_fields: Vec<(String, String)> = Vec::new() => read_static_fields,
        /// Extension: added to every JSON alert's `tags`.
        outputs_static_tags: Vec<String> = Vec::new(),
        /// Falco's code default is off (the shipped falco.yaml turns it on).
        stdout as "stdout_output": StdoutConfig = StdoutConfig::default(),
        file as "file_output": FileConfig = FileConfig::default(),
        /// Falco's code default is off (the shipped falco.yaml turns it on).
        syslog as "syslog_output": SyslogConfig = SyslogConfig::default(),
        program as "program_output": ProgramConfig = ProgramConfig::default(),
        http as "http_output": HttpConfig = HttpConfig::default(),
        /// OpenTelemetry logs over OTLP/HTTP (an extension; docs/otlp.md).
        otlp as "otlp_output": OtlpConfig = OtlpConfig::default(),
        /// NATS / JetStream (an extension; docs/nats.md).
        nats as "nats_output": NatsConfig = NatsConfig::default(),
        /// Named channels beyond one per kind (an extension; docs/routing.md).
        extra_outputs: Vec<ExtraOutput> = Vec::new(),
    }
}
