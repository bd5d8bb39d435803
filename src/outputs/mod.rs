//! The channels. Each one receives batches of formatted lines from its worker thread (file and
//! stdout also from the fan-out thread, see `runtime/fanout.rs`) and accounts for every line it is
//! handed: delivered, failed or discarded, through [`ChannelCtx`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::{Alert, Priority};
use crate::config::{Config, ExtraKind, Match, StormConfig};
use crate::error::InitError;
use crate::format::Formatter;
use crate::log::Logger;
use crate::stats::ChannelStats;

mod fd;
pub mod file;
mod file_compress;
mod file_rotate;
pub mod http;
mod http_output;
pub(crate) mod log_limit;
pub(crate) mod nats;
pub(crate) mod otlp;
pub mod program;
pub mod stdout;
pub mod syslog;

pub use crate::batch::{Batch, Line};

/// What a channel may use from its worker: the log, the counters, the shutdown state.
pub struct ChannelCtx {
    pub name: &'static str,
    pub log: Logger,
    pub stats: Arc<ChannelStats>,
    /// `buffered_outputs`.
    pub buffered: bool,
    pub output_timeout: Duration,
    /// Set by the worker when it takes `close`'s request off its queue (nothing is queued
    /// after it): deliver what is held, then stop.
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
    /// Damaged places found in an on-disk spool (not alerts; see [`ChannelStats::spool_corrupt`]).
    pub fn spool_corrupt(&self, n: u64) {
        ChannelStats::add(&self.stats.spool_corrupt, n)
    }
    /// A PubAck saying the stream already held the message's id (delivered too).
    pub fn duplicate(&self) {
        ChannelStats::add(&self.stats.duplicates, 1)
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

/// One output channel, driven by its worker thread, or for a channel that
/// [`Channel::writes_locally`] by the fan-out thread; never by both at once.
///
/// Every line handed to [`Channel::deliver`] must end up counted exactly once through the ctx
/// (`delivered`, `failed` or `discarded`), possibly later (a retrying channel keeps lines).
pub trait Channel: Send {
    /// Appends the alert as this channel sends it, without a newline (called by the worker for
    /// each alert of a batch): Falco's line, unless the channel has a format of its own.
    fn format(&mut self, formatter: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        formatter.write_line(alert, out)
    }

    /// True when [`Channel::format`] is not Falco's line. Falco's line is formatted once per
    /// alert by the fan-out thread and shared by every other channel; a channel with a format
    /// of its own gets the alerts and its worker calls `format`.
    fn own_format(&self) -> bool {
        false
    }

    /// True when delivering only writes to a local file or stream and never waits for a peer
    /// to answer (file, stdout). The fan-out thread may write such channels itself, right
    /// after formatting, as Falco's one output thread writes them: one wake-up serves them all
    /// (see `runtime/fanout.rs`). Channels that wait for a peer (syslog, program, HTTP, OTLP) are
    /// written only by their own worker, so a stalled peer delays only its channel.
    fn writes_locally(&self) -> bool {
        false
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

/// A channel opened at init, with what the handle needs to route alerts to it.
pub struct OpenedChannel {
    pub name: &'static str,
    pub min_priority: Priority,
    /// Its `match` block (the handle turns it into the channel's route).
    pub match_block: Match,
    /// Its `storm` block.
    pub storm: StormConfig,
    pub channel: Box<dyn Channel>,
}

/// Opens a channel from the whole configuration and the handle's hostname.
type Open = fn(&Config, &Logger, &str) -> Result<Box<dyn Channel>, InitError>;

const OPEN_STDOUT: Open = |c, l, _| Ok(Box::new(stdout::StdoutChannel::open(c, l)?));
const OPEN_FILE: Open = |c, l, _| Ok(Box::new(file::FileChannel::open(c, l)?));
const OPEN_SYSLOG: Open = |c, l, h| Ok(Box::new(syslog::SyslogChannel::open_for_host(c, l, h)?));
const OPEN_PROGRAM: Open = |c, l, _| Ok(Box::new(program::ProgramChannel::open(c, l)?));
const OPEN_HTTP: Open = |c, l, _| Ok(Box::new(http::HttpChannel::open(c, l)?));
const OPEN_OTLP: Open = |c, l, h| Ok(Box::new(otlp::open(&c.otlp, l, h)?));
const OPEN_NATS: Open = |c, l, h| {
    Ok(Box::new(nats::NatsChannel::open(
        &c.nats,
        "nats_output",
        l,
        h,
    )?))
};

/// Whether an output block is on, which alerts it takes, its storm control.
type CommonKeys<'a> = (bool, Priority, &'a Match, &'a StormConfig);

/// The [`CommonKeys`] of an output block, whatever its type (every block has these keys).
macro_rules! common_keys {
    ($block:expr) => {
        (
            $block.enabled,
            $block.min_priority,
            &$block.route,
            &$block.storm,
        )
    };
}

/// Opens every enabled channel: Falco's blocks in a fixed order (stdout, file, syslog,
/// program, http, otlp), then the `extra_outputs` entries in the order written. An entry is
/// opened by its type's own code, on a copy of the configuration whose block is the entry's.
pub fn open_enabled(
    cfg: &Config,
    log: &Logger,
    hostname: &str,
) -> Result<Vec<OpenedChannel>, InitError> {
    let mut opened = Vec::new();
    let mut open = |name: &'static str,
                    (enabled, min_priority, route, storm): CommonKeys<'_>,
                    c: &Config,
                    open: Open|
     -> Result<(), InitError> {
        if enabled {
            opened.push(OpenedChannel {
                name,
                min_priority,
                match_block: route.clone(),
                storm: storm.clone(),
                channel: open(c, log, hostname)?,
            });
        }
        Ok(())
    };
    open("stdout", common_keys!(cfg.stdout), cfg, OPEN_STDOUT)?;
    open("file", common_keys!(cfg.file), cfg, OPEN_FILE)?;
    open("syslog", common_keys!(cfg.syslog), cfg, OPEN_SYSLOG)?;
    open("program", common_keys!(cfg.program), cfg, OPEN_PROGRAM)?;
    open("http", common_keys!(cfg.http), cfg, OPEN_HTTP)?;
    open("otlp", common_keys!(cfg.otlp), cfg, OPEN_OTLP)?;
    open("nats", common_keys!(cfg.nats), cfg, OPEN_NATS)?;
    // Each entry opens on a copy of the configuration without the entries: copying them too
    // would make init quadratic in their number (16,000 took 42 s).
    let base = Config {
        extra_outputs: Vec::new(),
        ..cfg.clone()
    };
    for e in cfg.extra_outputs.iter().filter(|e| e.enabled()) {
        let name = intern(&e.name);
        let mut c = base.clone();
        let named = |err: InitError| {
            let at = e.key();
            // A channel names its keys as in its Falco block; here they are the entry's.
            let own = |m: String| m.replace("`syslog_output.tls.", &format!("`{at}.tls."));
            err.map_message(|m| format!("{at}: {}", own(m)))
        };
        let r = match &e.kind {
            ExtraKind::Stdout(b) => {
                c.stdout = b.clone();
                open(name, common_keys!(b), &c, OPEN_STDOUT)
            }
            ExtraKind::File(b) => {
                c.file = b.clone();
                open(name, common_keys!(b), &c, OPEN_FILE)
            }
            ExtraKind::Syslog(b) => {
                c.syslog = b.clone();
                open(name, common_keys!(b), &c, OPEN_SYSLOG)
            }
            ExtraKind::Program(b) => {
                c.program = b.clone();
                open(name, common_keys!(b), &c, OPEN_PROGRAM)
            }
            ExtraKind::Http(b) => {
                c.http = b.clone();
                open(name, common_keys!(b), &c, OPEN_HTTP)
            }
            ExtraKind::Otlp(b) => {
                c.otlp = b.clone();
                open(name, common_keys!(b), &c, OPEN_OTLP)
            }
            ExtraKind::Nats(b) => {
                c.nats = b.clone();
                open(name, common_keys!(b), &c, OPEN_NATS)
            }
        };
        r.map_err(named)?;
    }
    Ok(opened)
}

/// A channel's name for the process's lifetime (names are `&'static str` throughout the
/// runtime). Each distinct name is allocated once per process, so reopening handles with the
/// same configuration does not grow memory.
fn intern(name: &str) -> &'static str {
    type Names = std::sync::Mutex<Option<std::collections::HashSet<&'static str>>>;
    static NAMES: Names = std::sync::Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    let names = names.get_or_insert_with(Default::default);
    if let Some(n) = names.get(name) {
        return n;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}
