//! The channels. Each one receives batches of already formatted lines from its own worker
//! thread (see `dispatch.rs`) and accounts for every line it is handed: delivered, failed or
//! discarded, through [`ChannelCtx`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::{Alert, Priority};
use crate::config::Config;
use crate::format::Formatter;
use crate::log::Logger;
use crate::stats::ChannelStats;

mod fd;
pub mod file;
pub mod http;
pub(crate) mod log_limit;
pub(crate) mod otlp;
pub mod program;
pub(crate) mod spawn;
pub mod stdout;
pub mod syslog;
mod syslog_ledger;
mod syslog_relp;
mod syslog_transport;
mod syslog_wire;

/// One formatted line of a batch: `bytes[start..end]` is the line without its newline, and
/// `bytes[end]` is the `\n` that follows it.
#[derive(Clone, Copy, Debug)]
pub struct Line {
    pub start: usize,
    pub end: usize,
    pub priority: Priority,
    /// The alert's event time, for channels that stamp messages (syslog).
    pub time_ns: u64,
}

/// Lines formatted by a worker, each followed by `\n`, in emit order.
#[derive(Default, Debug)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub lines: Vec<Line>,
}

impl Batch {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.lines.clear();
    }
    /// Appends an already formatted line (without newline).
    pub fn push_line(&mut self, line: &[u8], priority: Priority, time_ns: u64) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(line);
        let end = self.bytes.len();
        self.bytes.push(b'\n');
        self.lines.push(Line {
            start,
            end,
            priority,
            time_ns,
        });
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
    pub fn len(&self) -> usize {
        self.lines.len()
    }
    /// Every line with its newline, as one buffer (what file, stdout and a kept-alive program get).
    pub fn all_with_newlines(&self) -> &[u8] {
        &self.bytes
    }
    /// One line without its newline (what syslog and HTTP get).
    pub fn line(&self, i: usize) -> &[u8] {
        let l = &self.lines[i];
        &self.bytes[l.start..l.end]
    }
    /// One line with its newline.
    pub fn line_with_newline(&self, i: usize) -> &[u8] {
        let l = &self.lines[i];
        &self.bytes[l.start..=l.end]
    }
    /// How many whole lines the first `n` bytes of [`Batch::all_with_newlines`] hold.
    pub fn lines_within(&self, n: usize) -> usize {
        self.lines.partition_point(|l| l.end < n)
    }
}

/// What a channel may use from its worker: the log, the counters, the shutdown state.
pub struct ChannelCtx {
    pub name: &'static str,
    pub log: Logger,
    pub stats: Arc<ChannelStats>,
    /// `buffered_outputs`.
    pub buffered: bool,
    pub output_timeout: Duration,
    /// Set by `close`: deliver what is queued, then stop.
    pub closing: Arc<AtomicBool>,
    /// Set when `close`'s deadline passed: stop retrying, discard (and count) what is left.
    pub aborting: Arc<AtomicBool>,
}

impl ChannelCtx {
    pub fn delivered(&self, n: usize) {
        if n > 0 {
            ChannelStats::add(&self.stats.delivered, n as u64);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            self.stats.last_success_ns.store(now, Ordering::Relaxed);
        }
    }
    pub fn failed(&self, n: usize) {
        ChannelStats::add(&self.stats.failed, n as u64)
    }
    pub fn discarded(&self, n: usize) {
        ChannelStats::add(&self.stats.discarded, n as u64)
    }
    pub fn write_error(&self) {
        ChannelStats::add(&self.stats.errors, 1)
    }
    /// A failed attempt that will be made again: a write error and a retry.
    pub fn retrying(&self) {
        self.write_error();
        ChannelStats::add(&self.stats.retries, 1)
    }
    /// What the channel holds for a retry now, in bytes (the metrics' spool gauge).
    pub fn set_held_bytes(&self, bytes: u64) {
        self.stats.held_bytes.store(bytes, Ordering::Relaxed)
    }
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }
    pub fn is_aborting(&self) -> bool {
        self.aborting.load(Ordering::Acquire)
    }
    pub fn error(&self, message: &str) {
        self.log
            .error(&format!("{} output: {}", self.name, message))
    }
    pub fn warning(&self, message: &str) {
        self.log
            .warning(&format!("{} output: {}", self.name, message))
    }
}

/// One output channel, driven by its own worker thread.
///
/// Every line handed to [`Channel::deliver`] must end up counted exactly once through the ctx
/// (`delivered`, `failed` or `discarded`), possibly later (a retrying channel keeps lines).
pub trait Channel: Send {
    /// Appends the alert as this channel sends it, without a newline (called by the worker for
    /// each alert of a batch): Falco's line, unless the channel has a format of its own.
    fn format(&mut self, formatter: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        formatter.write_line(alert, out)
    }

    /// Sends or writes every line of the batch, in order.
    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx);

    /// Pushes user-space buffers to the OS (flush, reopen, close, the one-second timer).
    fn flush(&mut self, _ctx: &ChannelCtx) {}

    /// Closes and reopens (file: by name; program: respawn). Called by the worker when the host
    /// called `reopen`, before it writes any alert emitted after that call.
    fn reopen(&mut self, _ctx: &ChannelCtx) {}

    /// Called when the worker wakes without work (at least once a second), for timers.
    fn tick(&mut self, _ctx: &ChannelCtx) {}

    /// When the channel next needs a `tick` (a retry or batch deadline), if sooner than a second.
    fn next_wake(&self) -> Option<Instant> {
        None
    }

    /// Lines the channel holds and has not accounted for yet (a retrying channel's backlog).
    fn held(&self) -> usize {
        0
    }

    /// Final flush and release of resources. Lines still held must be accounted for.
    fn close(&mut self, _ctx: &ChannelCtx) {}
}

/// A refusal to open a channel at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The configuration is wrong (maps to `ERR_CONFIG`).
    Config(String),
    /// A resource cannot be opened (maps to `ERR_IO`).
    Io(String),
}

/// A channel opened at init, with what the dispatcher needs to route alerts to it.
pub struct OpenedChannel {
    pub name: &'static str,
    pub min_priority: Priority,
    pub channel: Box<dyn Channel>,
}

/// Opens a channel from the whole configuration and the handle's hostname.
type Open = fn(&Config, &Logger, &str) -> Result<Box<dyn Channel>, OpenError>;

/// Opens every enabled channel, in a fixed order (stdout, file, syslog, program, http).
pub fn open_enabled(
    cfg: &Config,
    log: &Logger,
    hostname: &str,
) -> Result<Vec<OpenedChannel>, OpenError> {
    let channels: [(&'static str, bool, Priority, Open); 6] = [
        (
            "stdout",
            cfg.stdout.enabled,
            cfg.stdout.min_priority,
            |c, l, _| Ok(Box::new(stdout::StdoutChannel::open(c, l)?)),
        ),
        (
            "file",
            cfg.file.enabled,
            cfg.file.min_priority,
            |c, l, _| Ok(Box::new(file::FileChannel::open(c, l)?)),
        ),
        (
            "syslog",
            cfg.syslog.enabled,
            cfg.syslog.min_priority,
            |c, l, h| Ok(Box::new(syslog::SyslogChannel::open_for_host(c, l, h)?)),
        ),
        (
            "program",
            cfg.program.enabled,
            cfg.program.min_priority,
            |c, l, _| Ok(Box::new(program::ProgramChannel::open(c, l)?)),
        ),
        (
            "http",
            cfg.http.enabled,
            cfg.http.min_priority,
            |c, l, _| Ok(Box::new(http::HttpChannel::open(c, l)?)),
        ),
        (
            "otlp",
            cfg.otlp.enabled,
            cfg.otlp.min_priority,
            |c, l, h| Ok(Box::new(otlp::open(&c.otlp, l, h)?)),
        ),
    ];
    channels
        .into_iter()
        .filter(|&(_, enabled, _, _)| enabled)
        .map(|(name, _, min_priority, open)| {
            Ok(OpenedChannel {
                name,
                min_priority,
                channel: open(cfg, log, hostname)?,
            })
        })
        .collect()
}
