//! A syslog channel driven by hand, as its worker would drive it, for tests that need exact
//! accounting.

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
        syslog: SyslogConfig {
            enabled: true,
            address: address.to_string(),
            format,
            facility,
            min_priority: Priority::Debug,
        },
        ..Config::default()
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
