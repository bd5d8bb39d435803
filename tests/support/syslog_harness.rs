//! A syslog channel driven by hand, as its worker would drive it, for tests that need exact
//! accounting; `config` builds the rest of a `Config` with Falco's defaults.

#![allow(dead_code)]

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use falco_outputs::alert::Priority;
use falco_outputs::config::*;
use falco_outputs::log::Logger;
use falco_outputs::outputs::syslog::SyslogChannel;
use falco_outputs::outputs::{Batch, Channel, ChannelCtx, Line, OpenError};
use falco_outputs::stats::{ChannelStats, StatsSnapshot};

pub fn config(address: &str, format: SyslogFormat, facility: u8) -> Config {
    Config {
        json_output: false,
        json_include_output_property: true,
        json_include_tags_property: true,
        json_include_message_property: false,
        json_include_output_fields_property: true,
        time_format_iso_8601: false,
        buffered_outputs: false,
        queue_capacity: 0,
        output_timeout_ms: 2000,
        stdout: StdoutConfig {
            enabled: false,
            min_priority: Priority::Debug,
        },
        file: FileConfig {
            enabled: false,
            keep_alive: false,
            filename: String::new(),
            mode: 0o600,
            min_priority: Priority::Debug,
        },
        syslog: SyslogConfig {
            enabled: true,
            address: address.to_string(),
            format,
            facility,
            min_priority: Priority::Debug,
        },
        program: ProgramConfig {
            enabled: false,
            keep_alive: false,
            program: String::new(),
            min_priority: Priority::Debug,
        },
        http: HttpConfig {
            enabled: false,
            url: String::new(),
            user_agent: "falcosecurity/falco".into(),
            insecure: false,
            ca_cert: String::new(),
            ca_bundle: String::new(),
            ca_path: "/etc/ssl/certs".into(),
            mtls: false,
            client_cert: String::new(),
            client_key: String::new(),
            echo: false,
            compress_uploads: false,
            keep_alive: false,
            max_consecutive_timeouts: 5,
            headers: Vec::new(),
            method: HttpMethod::Post,
            timeout_ms: 5000,
            retry_max_backoff_ms: 30000,
            spool_dir: String::new(),
            spool_max_mb: 256,
            batch_max_alerts: 1,
            batch_max_wait_ms: 100,
            min_priority: Priority::Debug,
        },
    }
}

/// A channel with a hand-made worker context; the log lines it writes are kept.
pub struct Harness {
    pub channel: SyslogChannel,
    pub ctx: ChannelCtx,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Harness {
    pub fn open(address: &str, format: SyslogFormat, facility: u8) -> Harness {
        Self::try_open(address, format, facility, Duration::from_millis(2000))
            .unwrap_or_else(|e| panic!("open {address}: {e:?}"))
    }

    pub fn try_open(
        address: &str,
        format: SyslogFormat,
        facility: u8,
        output_timeout: Duration,
    ) -> Result<Harness, OpenError> {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let log = Logger::from_fn(move |_, m| sink.lock().unwrap().push(m.to_string()));
        let channel = SyslogChannel::open(&config(address, format, facility), &log)?;
        let ctx = ChannelCtx {
            name: "syslog",
            log,
            stats: Arc::new(ChannelStats::default()),
            buffered: false,
            output_timeout,
            closing: Arc::new(AtomicBool::new(false)),
            aborting: Arc::new(AtomicBool::new(false)),
        };
        Ok(Harness { channel, ctx, logs })
    }

    pub fn deliver(&mut self, lines: &[(Priority, String)]) {
        let batch = batch(lines);
        self.channel.deliver(&batch, &self.ctx);
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.ctx.stats.snapshot()
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Lines as the worker hands them over: each followed by `\n`, stamped now.
pub fn batch(lines: &[(Priority, String)]) -> Batch {
    let mut b = Batch::default();
    for (priority, text) in lines {
        let start = b.bytes.len();
        b.bytes.extend_from_slice(text.as_bytes());
        let end = b.bytes.len();
        b.bytes.push(b'\n');
        b.lines.push(Line {
            start,
            end,
            priority: *priority,
            time_ns: now_ns(),
        });
    }
    b
}
