//! The syslog channel: one message per alert, severity = the alert's priority.
//!
//! It writes to the socket itself instead of calling libc's syslog(3): syslog(3) keeps
//! process-global openlog state (tag, facility, socket) that belongs to the host, serialises every
//! caller on one global lock, and blocks without a bound when the daemon is slow. The bytes are
//! still the ones syslog(3) would send (see `syslog_wire`).
//!
//! A daemon that is absent or restarting never blocks other channels (this runs on its own
//! worker) nor this one for long: every send has a deadline (`output_timeout`), a failed send
//! reconnects and resends once (as glibc does), and what still cannot be sent is counted as
//! failed and logged at most every [`LOG_EVERY`].

use std::ffi::CStr;
use std::io;
use std::time::{Duration, Instant};

use super::log_limit::LogLimit;
use super::syslog_transport::{parse_address, Address, Conn};
use super::syslog_wire::{encode, Header};
use super::{Batch, Channel, ChannelCtx, OpenError};
use crate::config::{Config, SyslogFormat};
use crate::localtime::LocalZone;
use crate::log::Logger;

/// How often an ongoing outage is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Longest single connection attempt (a black-holed TCP peer), if `output_timeout` is longer.
const MAX_CONNECT_WAIT: Duration = Duration::from_secs(2);
/// Backoff after a connection attempt that timed out; failures that are immediate (nothing
/// listening: ENOENT, ECONNREFUSED) are retried at the next alert, so an alert emitted once the
/// daemon is back is never lost to a backoff window.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub struct SyslogChannel {
    address: Address,
    header: Header,
    conn: Option<Conn>,
    /// No connection attempt before this (after a slow failure).
    retry_at: Option<Instant>,
    backoff: Duration,
    /// A datagram send timed out (daemon not reading): further sends do not wait until one
    /// goes through, so a stuck daemon costs one `output_timeout`, not one per alert.
    stalled: bool,
    frame: Vec<u8>,
    outage: Outage,
    /// Outage messages are logged at most every [`LOG_EVERY`].
    outage_log: LogLimit,
}

/// Failure bookkeeping for rate-limited logging.
#[derive(Default)]
struct Outage {
    /// Alerts not delivered since the current outage began (0: no outage).
    failed: u64,
    /// Alerts not delivered that no log line has mentioned yet.
    unlogged: u64,
    /// This outage was logged, so its end is logged too.
    announced: bool,
}

/// syslog(3)'s default tag when the host never called openlog: glibc's `__progname`.
fn program_short_name() -> String {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            static program_invocation_short_name: *const libc::c_char;
        }
        // SAFETY: glibc sets it before main to a NUL-terminated string that lives as long as the
        // process; it is only read here.
        let p = unsafe { program_invocation_short_name };
        if !p.is_null() {
            // SAFETY: see above.
            return unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        }
    }
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// Errors that mean "nothing is listening right now": cheap to retry at the next alert.
fn is_immediate(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ECONNREFUSED | libc::ENOTCONN | libc::ECONNRESET | libc::EPIPE)
    )
}

impl SyslogChannel {
    /// Opens with the default host name (`$FALCO_HOSTNAME`, else gethostname()).
    pub fn open(cfg: &Config, log: &Logger) -> Result<SyslogChannel, OpenError> {
        Self::open_for_host(cfg, log, &crate::hostname::default_hostname())
    }

    /// Opens with the host name the handle's alerts carry (`options.hostname`).
    pub fn open_for_host(
        cfg: &Config,
        log: &Logger,
        hostname: &str,
    ) -> Result<SyslogChannel, OpenError> {
        let c = &cfg.syslog;
        let address = parse_address(&c.address).map_err(OpenError::Config)?;
        if c.facility > 23 {
            return Err(OpenError::Config(format!(
                "syslog_output.facility: {} is not a syslog facility (0..23; user = 1, local0 = 16)",
                c.facility
            )));
        }
        let is_local = matches!(address, Address::Unix(_));
        // glibc sends no hostname to the local socket; RFC 5424 always has the field.
        let hostname = if is_local && c.format == SyslogFormat::Rfc3164 {
            None
        } else {
            Some(hostname.to_string())
        };
        if let Address::Unix(path) = &address {
            if !path.exists() {
                log.warning(&format!(
                    "syslog output: {} does not exist (yet); alerts are counted as failed until a syslog daemon listens there",
                    path.display()
                ));
            }
        }
        Ok(SyslogChannel {
            address,
            header: Header {
                format: c.format.clone(),
                facility: c.facility,
                tag: program_short_name(),
                hostname,
                pid: std::process::id(),
                zone: LocalZone::from_env(),
            },
            conn: None,
            retry_at: None,
            backoff: BACKOFF_MIN,
            stalled: false,
            frame: Vec::new(),
            outage: Outage::default(),
            outage_log: LogLimit::every(LOG_EVERY),
        })
    }

    /// The connection, (re)connecting if needed and allowed.
    fn connection(&mut self, ctx: &ChannelCtx) -> io::Result<&mut Conn> {
        if let Some(conn) = &mut self.conn {
            if !conn.is_alive() {
                self.conn = None;
            }
        }
        if self.conn.is_none() {
            let now = Instant::now();
            if self.retry_at.is_some_and(|t| now < t) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "not connected (waiting before the next attempt)",
                ));
            }
            let deadline = now + ctx.output_timeout.min(MAX_CONNECT_WAIT);
            match Conn::connect(&self.address, deadline, &|| ctx.is_aborting()) {
                Ok(conn) => {
                    self.conn = Some(conn);
                    self.retry_at = None;
                    self.backoff = BACKOFF_MIN;
                }
                Err(e) => {
                    ctx.write_error();
                    if !is_immediate(&e) {
                        self.back_off();
                    }
                    return Err(e);
                }
            }
        }
        // Just set or kept above.
        self.conn
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }

    fn back_off(&mut self) {
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Encodes and sends line `i`; on a broken connection reconnects and sends again once.
    fn send_line(&mut self, batch: &Batch, i: usize, ctx: &ChannelCtx) -> io::Result<()> {
        let line = &batch.lines[i];
        let mut last = None;
        for _attempt in 0..2 {
            let conn = self.connection(ctx)?;
            let framing = conn.framing();
            self.frame.clear();
            encode(
                &mut self.frame,
                &self.header,
                framing,
                line.priority as u8,
                line.time_ns,
                batch.line(i),
            );
            // While aborting or stalled, one try without waiting.
            let deadline = if ctx.is_aborting() || self.stalled {
                Instant::now()
            } else {
                Instant::now() + ctx.output_timeout
            };
            // The borrow of `conn` ended at `framing`; take it again next to the frame.
            let conn = match self.conn.as_mut() {
                Some(c) => c,
                None => return Err(io::ErrorKind::NotConnected.into()),
            };
            match conn.send(&self.frame, deadline, &|| ctx.is_aborting()) {
                Ok(()) => {
                    self.stalled = false;
                    return Ok(());
                }
                Err(e) => {
                    ctx.write_error();
                    let stream = conn.is_stream();
                    if e.kind() == io::ErrorKind::TimedOut {
                        if stream {
                            // A stuck reader: do not pile up connections into it.
                            self.conn = None;
                            self.back_off();
                        } else {
                            self.stalled = true;
                        }
                        return Err(e);
                    }
                    // A stream may hold half a frame now; a datagram socket whose peer went
                    // away (daemon restarted: a new socket at the same path) must reconnect.
                    if stream || is_immediate(&e) {
                        self.conn = None;
                    }
                    if !is_immediate(&e) {
                        return Err(e);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::NotConnected.into()))
    }

    fn note_failure(&mut self, e: &io::Error, ctx: &ChannelCtx) {
        let first = self.outage.failed == 0;
        self.outage.failed += 1;
        self.outage.unlogged += 1;
        if self.outage_log.allow().is_some() {
            let what = if first {
                "cannot deliver"
            } else {
                "still cannot deliver"
            };
            ctx.error(&format!(
                "{what} to {}: {e} ({} alert(s) not delivered since the last message)",
                self.address, self.outage.unlogged
            ));
            self.outage.unlogged = 0;
            self.outage.announced = true;
        }
    }

    fn note_success(&mut self, ctx: &ChannelCtx) {
        if self.outage.failed == 0 {
            return;
        }
        self.outage.failed = 0;
        if std::mem::take(&mut self.outage.announced) {
            ctx.log.notice(&format!(
                "{} output: delivering to {} again ({} alert(s) not delivered since the last message)",
                ctx.name, self.address, self.outage.unlogged
            ));
            self.outage.unlogged = 0;
        }
    }
}

impl Channel for SyslogChannel {
    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        for i in 0..batch.len() {
            match self.send_line(batch, i, ctx) {
                Ok(()) => {
                    ctx.delivered(1);
                    self.note_success(ctx);
                }
                // The close deadline passed: what could not go out now is discarded.
                Err(_) if ctx.is_aborting() => ctx.discarded(1),
                Err(e) => {
                    ctx.failed(1);
                    self.note_failure(&e, ctx);
                }
            }
        }
    }

    /// Drops the connection; the next alert connects afresh (e.g. after the daemon restarted).
    fn reopen(&mut self, _ctx: &ChannelCtx) {
        self.conn = None;
        self.stalled = false;
        self.retry_at = None;
        self.backoff = BACKOFF_MIN;
    }

    fn close(&mut self, ctx: &ChannelCtx) {
        if self.outage.unlogged > 0 {
            ctx.error(&format!(
                "{} alert(s) not delivered to {} since the last message",
                self.outage.unlogged, self.address
            ));
        }
        self.conn = None;
    }
}
