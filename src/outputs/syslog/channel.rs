//! The syslog channel: opens the transport its address names, delivers each alert as a datagram
//! (`datagram.rs`) or through the ledger of a stream (`stream.rs`), backs off and logs outages.

use std::io;
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::ledger::Ledger;
use super::relp::{RELP_RETRY_MAX, RELP_RETRY_MIN};
use super::relp_session::RelpSession;
use super::tls::TlsClient;
use super::wire::{encode, Header};
use crate::config::{Config, SyslogAddress as Address, SyslogFormat};
use crate::date::LocalZone;
use crate::error::InitError;
use crate::log::Logger;
use crate::outputs::log_limit::LogLimit;
use crate::outputs::{Batch, Channel, ChannelCtx};

/// How often an ongoing outage (or a series of resets) is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Longest single connection attempt (a black-holed TCP peer), if `output_timeout` is longer.
const MAX_CONNECT_WAIT: Duration = Duration::from_secs(2);
/// Backoff after a connection attempt that timed out; failures that are immediate (nothing
/// listening: ENOENT, ECONNREFUSED) are retried at the next alert, so an alert emitted once the
/// daemon is back is never lost to a backoff window.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub struct SyslogChannel {
    pub(super) address: Address,
    /// `tls://`, `relp+tls://`: the TLS client (verification, certificates); reloaded by
    /// `reopen`.
    pub(super) tls: Option<TlsClient>,
    pub(super) header: Header,
    pub(super) conn: Option<Conn>,
    pub(super) relp: Option<RelpSession>,
    /// Stream transports: alerts written or to write, until the peer confirmed them.
    pub(super) ledger: Ledger,
    /// No connection attempt before this (after a slow failure; RELP after any failure).
    pub(super) retry_at: Option<Instant>,
    pub(super) backoff: Duration,
    /// A send timed out (daemon not reading) or the ledger stayed full: further alerts do not
    /// wait until one goes through, so a stuck daemon costs one `output_timeout`, not one per
    /// alert.
    pub(super) stalled: bool,
    pub(super) frame: Vec<u8>,
    pub(super) outage: Outage,
    /// Outage messages are logged at most every [`LOG_EVERY`].
    pub(super) outage_log: LogLimit,
    /// Lost connections: logged at once, then at most every [`LOG_EVERY`].
    pub(super) reset_log: LogLimit,
    /// When the worker should look for confirmations again (while alerts are held).
    pub(super) check_at: Option<Instant>,
    /// Since when the peer has confirmed nothing while confirmations are awaited.
    pub(super) quiet_since: Option<Instant>,
    /// TCP / unix stream: the stream offset the peer had acknowledged at the last look.
    pub(super) acked_seen: u64,
}

/// Failure bookkeeping for rate-limited logging.
#[derive(Default)]
pub(super) struct Outage {
    /// Alerts not delivered since the current outage began (0: no outage).
    pub(super) failed: u64,
    /// Alerts not delivered that no log line has mentioned yet.
    pub(super) unlogged: u64,
    /// This outage was logged, so its end is logged too.
    pub(super) announced: bool,
}

/// syslog(3)'s default tag when the host never called openlog: glibc's `__progname`, the base
/// name of argv[0].
fn program_short_name() -> String {
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
pub(super) fn is_immediate(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ECONNREFUSED | libc::ENOTCONN | libc::ECONNRESET | libc::EPIPE)
    )
}

impl SyslogChannel {
    /// Opens with the default host name (`$FALCO_HOSTNAME`, else gethostname()).
    pub fn open(cfg: &Config, log: &Logger) -> Result<SyslogChannel, InitError> {
        Self::open_for_host(cfg, log, &crate::hostname::default_hostname())
    }

    /// Opens with the host name the handle's alerts carry (`options.hostname`).
    pub fn open_for_host(
        cfg: &Config,
        log: &Logger,
        hostname: &str,
    ) -> Result<SyslogChannel, InitError> {
        let c = &cfg.syslog;
        // Already valid: the config checked the address and the facility.
        let address = c.address.clone();
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
        let backoff = backoff_min(&address);
        let tls = match (address.is_tls(), address.host()) {
            (true, Some(host)) => Some(TlsClient::new(&c.tls, host, log)?),
            _ => None,
        };
        Ok(SyslogChannel {
            address,
            tls,
            header: Header {
                format: c.format.clone(),
                facility: c.facility,
                tag: program_short_name(),
                hostname,
                pid: std::process::id(),
                zone: LocalZone::from_env(),
            },
            conn: None,
            relp: None,
            ledger: Ledger::default(),
            retry_at: None,
            backoff,
            stalled: false,
            frame: Vec::new(),
            outage: Outage::default(),
            outage_log: LogLimit::every(LOG_EVERY),
            reset_log: LogLimit::every(LOG_EVERY),
            check_at: None,
            quiet_since: None,
            acked_seen: 0,
        })
    }

    pub(super) fn is_relp(&self) -> bool {
        self.address.is_relp()
    }

    /// Alerts go through the ledger: TCP, RELP, or a unix socket that turned out to be a stream.
    pub(super) fn is_stream(&self) -> bool {
        !matches!(self.address, Address::Unix(..) | Address::Udp(..))
            || self.conn.as_ref().is_some_and(Conn::is_stream)
    }

    /// Connects (RELP: and opens the session), unless a backoff says not yet.
    pub(super) fn connect(&mut self, ctx: &ChannelCtx) -> io::Result<()> {
        let now = Instant::now();
        if self.retry_at.is_some_and(|t| now < t) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "not connected (waiting before the next attempt)",
            ));
        }
        let deadline = now + ctx.output_timeout.min(MAX_CONNECT_WAIT);
        let abort = || ctx.is_aborting();
        let result = Conn::connect(&self.address, self.tls.as_ref(), deadline, &abort).and_then(
            |mut conn| {
                if self.is_relp() {
                    self.relp = Some(RelpSession::open(&mut conn, deadline, &abort)?);
                }
                Ok(conn)
            },
        );
        match result {
            Ok(conn) => {
                self.conn = Some(conn);
                self.quiet_since = None;
                self.acked_seen = 0;
                self.retry_at = None;
                self.backoff = backoff_min(&self.address);
                Ok(())
            }
            Err(e) => {
                self.relp = None;
                ctx.write_error();
                if self.is_relp() || !is_immediate(&e) {
                    self.back_off();
                }
                Err(e)
            }
        }
    }

    pub(super) fn back_off(&mut self) {
        self.retry_at = Some(Instant::now() + self.backoff);
        let max = if self.is_relp() {
            RELP_RETRY_MAX
        } else {
            BACKOFF_MAX
        };
        self.backoff = (self.backoff * 2).min(max);
    }

    /// One alert: as a datagram, or into the ledger of a stream.
    pub(super) fn deliver_line(&mut self, batch: &Batch, i: usize, ctx: &ChannelCtx) {
        let line = &batch.lines[i];
        let mut msg = self.ledger.buffer();
        encode(
            &mut msg,
            &self.header,
            line.priority as u8,
            line.time_ns,
            batch.line(i),
        );
        if !self.is_stream() {
            match self.send_datagram(&msg, ctx) {
                Ok(true) => {
                    self.ledger.reuse(msg);
                    ctx.delivered(1);
                    self.note_success(ctx);
                    return;
                }
                // The unix socket is a stream one: the ledger's way below.
                Ok(false) => {}
                Err(e) => {
                    self.ledger.reuse(msg);
                    self.settle_failed(1, &e, ctx);
                    return;
                }
            }
        }
        self.hold(msg, ctx);
    }

    /// Counts `n` alerts that cannot be delivered: discarded once close gave up, else failed.
    pub(super) fn settle_failed(&mut self, n: usize, e: &io::Error, ctx: &ChannelCtx) {
        if n == 0 {
            return;
        }
        if ctx.is_aborting() {
            ctx.discarded(n);
        } else {
            ctx.failed(n);
            self.note_failure(n, e, ctx);
        }
    }

    pub(super) fn note_failure(&mut self, n: usize, e: &io::Error, ctx: &ChannelCtx) {
        self.outage.failed += n as u64;
        self.outage.unlogged += n as u64;
        self.note_outage(e, ctx);
    }

    /// Logs the outage now if due (the first failure at once, then every [`LOG_EVERY`]).
    pub(super) fn note_outage(&mut self, e: &io::Error, ctx: &ChannelCtx) {
        if self.outage_log.allow().is_none() {
            return;
        }
        let what = if self.outage.announced {
            "still cannot deliver"
        } else {
            "cannot deliver"
        };
        let mut counts = Vec::new();
        if self.outage.unlogged > 0 {
            counts.push(format!(
                "{} alert(s) not delivered since the last message",
                self.outage.unlogged
            ));
        }
        if self.ledger.held() > 0 {
            counts.push(format!(
                "{} alert(s) held for the next connection",
                self.ledger.held()
            ));
        }
        ctx.error(&format!(
            "{what} to {}: {e} ({})",
            self.address,
            counts.join("; ")
        ));
        self.outage.unlogged = 0;
        self.outage.announced = true;
    }

    pub(super) fn note_success(&mut self, ctx: &ChannelCtx) {
        if !self.outage.announced && self.outage.failed == 0 {
            return;
        }
        self.outage.failed = 0;
        if std::mem::take(&mut self.outage.announced) {
            let since = match self.outage.unlogged {
                0 => String::new(),
                n => format!(" ({n} alert(s) not delivered since the last message)"),
            };
            ctx.log.notice(&format!(
                "{} output: delivering to {} again{since}",
                ctx.name, self.address
            ));
            self.outage.unlogged = 0;
        }
    }
}

/// The peer confirmed nothing for `output_timeout` while confirmations were awaited.
pub(super) fn nothing_confirmed(ctx: &ChannelCtx) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "nothing confirmed for {} ms (output_timeout)",
            ctx.output_timeout.as_millis()
        ),
    )
}

pub(super) fn backoff_min(address: &Address) -> Duration {
    if address.is_relp() {
        RELP_RETRY_MIN
    } else {
        BACKOFF_MIN
    }
}

impl Channel for SyslogChannel {
    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        for i in 0..batch.len() {
            self.deliver_line(batch, i, ctx);
        }
        // Streams: the batch is in the ledger; write it (one peer check per write) and collect
        // confirmations once for the batch.
        if self.ledger.has_resend() {
            self.pump(ctx);
        }
    }

    fn tick(&mut self, ctx: &ChannelCtx) {
        if self.ledger.held() > 0 {
            self.pump(ctx);
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        self.check_at.filter(|_| self.ledger.held() > 0)
    }

    fn held(&self) -> usize {
        self.ledger.held()
    }

    /// Drops the connection; the next alert connects afresh (e.g. after the daemon restarted).
    /// What the old connection had not confirmed is written again on the new one.
    fn reopen(&mut self, ctx: &ChannelCtx) {
        // Certificate rotation: the files are read again. A bad new file keeps the client in use
        // (still TLS, still verifying) and says which key to fix.
        if let Some(tls) = self.tls.as_mut() {
            match tls.reload(&ctx.log) {
                Ok(()) => ctx.log.notice(&format!(
                    "{} output: TLS certificates and keys reloaded for {}",
                    ctx.name, self.address
                )),
                Err(e) => ctx.error(&format!(
                    "reopen: the TLS files could not be reloaded, the ones loaded before stay in \
                     use: {e}"
                )),
            }
        }
        self.conn = None;
        self.relp = None;
        self.ledger.connection_lost(u32::MAX);
        self.check_at = Some(Instant::now());
        self.stalled = false;
        self.retry_at = None;
        self.backoff = backoff_min(&self.address);
    }

    /// Ends a RELP session politely; what is still held (close gave up) is discarded: counted,
    /// and logged by close itself.
    fn close(&mut self, ctx: &ChannelCtx) {
        if self.ledger.held() == 0 {
            if let (Some(conn), Some(session)) = (self.conn.as_mut(), self.relp.as_mut()) {
                session.close(conn);
            }
        }
        ctx.discarded(self.ledger.clear());
        self.reset_log.flush(ctx);
        if self.outage.unlogged > 0 {
            ctx.error(&format!(
                "{} alert(s) not delivered to {} since the last message",
                self.outage.unlogged, self.address
            ));
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.shutdown_tls();
        }
        self.conn = None;
        self.relp = None;
    }
}
