//! The syslog channel: one message per alert, severity = the alert's priority.
//!
//! It writes to the socket itself instead of calling libc's syslog(3): syslog(3) keeps
//! process-global openlog state (tag, facility, socket) that belongs to the host, serialises every
//! caller on one global lock, and blocks without a bound when the daemon is slow. The bytes are
//! still the ones syslog(3) would send (see `syslog_wire`).
//!
//! A daemon that is absent or restarting never blocks other channels (this runs on its own
//! worker) nor this one for long: every send has a deadline (`output_timeout`), and what cannot
//! be sent is counted as failed and logged at most every [`LOG_EVERY`].
//!
//! Datagrams (unix, UDP) are delivered when the kernel took them. Streams (TCP, a unix stream
//! socket, RELP) keep every alert in a [`Ledger`] until the peer confirmed it (see
//! `syslog_ledger`); a reset or closed peer is noticed after each write, logged, and what it had
//! not confirmed is written again on the next connection.

use std::io;
use std::time::{Duration, Instant};

use super::log_limit::LogLimit;
use super::syslog_ledger::Ledger;
use super::syslog_relp::{self as relp, Reply};
use super::syslog_tls::TlsClient;
use super::syslog_transport::{poll_once, Conn, Kind, Peer};
use super::syslog_wire::{encode, frame, Framing, Header};
use super::{Batch, Channel, ChannelCtx};
use crate::config::{Config, SyslogAddress as Address, SyslogFormat};
use crate::date::LocalZone;
use crate::error::InitError;
use crate::log::Logger;

/// How often an ongoing outage (or a series of resets) is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Longest single connection attempt (a black-holed TCP peer), if `output_timeout` is longer.
const MAX_CONNECT_WAIT: Duration = Duration::from_secs(2);
/// Backoff after a connection attempt that timed out; failures that are immediate (nothing
/// listening: ENOENT, ECONNREFUSED) are retried at the next alert, so an alert emitted once the
/// daemon is back is never lost to a backoff window.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// RELP holds its alerts while the server is away and retries from this delay, doubling up to
/// [`RELP_RETRY_MAX`], so a restarted server is found again within seconds.
const RELP_RETRY_MIN: Duration = Duration::from_millis(100);
const RELP_RETRY_MAX: Duration = Duration::from_secs(5);
/// TCP: how long an acknowledged alert stays re-sendable on a live connection before it counts
/// as delivered. A peer's kernel acknowledges bytes its application has not read yet; a peer
/// that then resets throws them away. A syslog server reads within milliseconds, so an alert
/// acknowledged this long ago on a connection still up has been read.
const TCP_SETTLE: Duration = Duration::from_millis(500);
/// Connections an alert is written on before it is given up (counted failed): a peer that resets
/// every connection (or chokes on one message) cannot keep the channel busy forever.
const MAX_SENDS: u32 = 8;
/// Bounds on what is held unconfirmed (memory). When reached, a new alert waits up to
/// `output_timeout` for room, then fails.
const HOLD_MAX: usize = 65_536;
const HOLD_MAX_BYTES: usize = 32 << 20;
/// RELP transactions outstanding on the wire at once.
const RELP_WINDOW: usize = 1024;
/// While confirmations are awaited, the worker looks for them this often.
const ACK_POLL: Duration = Duration::from_millis(20);
/// How long `close` waits for the RELP server's answer to our `close`.
const RELP_CLOSE_WAIT: Duration = Duration::from_millis(500);

/// RELP state of one connection.
struct RelpSession {
    parser: relp::Parser,
    /// The next transaction number to use.
    next_txnr: u32,
}

pub struct SyslogChannel {
    address: Address,
    /// `tls://`, `relp+tls://`: the TLS client (verification, certificates); reloaded by
    /// `reopen`.
    tls: Option<TlsClient>,
    header: Header,
    conn: Option<Conn>,
    relp: Option<RelpSession>,
    /// Stream transports: alerts written or to write, until the peer confirmed them.
    ledger: Ledger,
    /// No connection attempt before this (after a slow failure; RELP after any failure).
    retry_at: Option<Instant>,
    backoff: Duration,
    /// A send timed out (daemon not reading) or the ledger stayed full: further alerts do not
    /// wait until one goes through, so a stuck daemon costs one `output_timeout`, not one per
    /// alert.
    stalled: bool,
    frame: Vec<u8>,
    outage: Outage,
    /// Outage messages are logged at most every [`LOG_EVERY`].
    outage_log: LogLimit,
    /// Lost connections: logged at once, then at most every [`LOG_EVERY`].
    reset_log: LogLimit,
    /// When the worker should look for confirmations again (while alerts are held).
    check_at: Option<Instant>,
    /// Since when the peer has confirmed nothing while confirmations are awaited.
    quiet_since: Option<Instant>,
    /// TCP / unix stream: the stream offset the peer had acknowledged at the last look.
    acked_seen: u64,
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
fn is_immediate(e: &io::Error) -> bool {
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

    fn is_relp(&self) -> bool {
        self.address.is_relp()
    }

    /// Alerts go through the ledger: TCP, RELP, or a unix socket that turned out to be a stream.
    fn is_stream(&self) -> bool {
        !matches!(self.address, Address::Unix(..) | Address::Udp(..))
            || self.conn.as_ref().is_some_and(Conn::is_stream)
    }

    /// Connects (RELP: and opens the session), unless a backoff says not yet.
    fn connect(&mut self, ctx: &ChannelCtx) -> io::Result<()> {
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
                    self.relp = Some(relp_open(&mut conn, deadline, &abort)?);
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

    fn back_off(&mut self) {
        self.retry_at = Some(Instant::now() + self.backoff);
        let max = if self.is_relp() {
            RELP_RETRY_MAX
        } else {
            BACKOFF_MAX
        };
        self.backoff = (self.backoff * 2).min(max);
    }

    /// One alert: as a datagram, or into the ledger of a stream.
    fn deliver_line(&mut self, batch: &Batch, i: usize, ctx: &ChannelCtx) {
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
    fn settle_failed(&mut self, n: usize, e: &io::Error, ctx: &ChannelCtx) {
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

    /// Sends a datagram; on a refused one reconnects and sends again once (as glibc does).
    /// `Ok(false)`: the (re)connected socket is a stream, nothing was sent.
    fn send_datagram(&mut self, msg: &[u8], ctx: &ChannelCtx) -> io::Result<bool> {
        let mut last = None;
        for _attempt in 0..2 {
            if self.conn.is_none() {
                self.connect(ctx)?;
            }
            let Some(conn) = self.conn.as_mut() else {
                return Err(io::ErrorKind::NotConnected.into());
            };
            if conn.is_stream() {
                return Ok(false);
            }
            // While aborting or stalled, one try without waiting.
            let deadline = if ctx.is_aborting() || self.stalled {
                Instant::now()
            } else {
                Instant::now() + ctx.output_timeout
            };
            match conn.send(msg, deadline, &|| ctx.is_aborting()) {
                Ok(()) => {
                    self.stalled = false;
                    return Ok(true);
                }
                Err(e) => {
                    ctx.write_error();
                    if e.kind() == io::ErrorKind::TimedOut {
                        self.stalled = true;
                        return Err(e);
                    }
                    if !is_immediate(&e) {
                        return Err(e);
                    }
                    // The daemon went away (restarted: a new socket at the same path).
                    self.conn = None;
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::NotConnected.into()))
    }

    /// Puts a stream alert into the ledger (written by the next [`Self::pump`]), making room
    /// first if the ledger is full.
    fn hold(&mut self, msg: Vec<u8>, ctx: &ChannelCtx) {
        if self.ledger_full() && !self.stalled && !ctx.is_aborting() {
            let deadline = Instant::now() + ctx.output_timeout;
            while self.ledger_full() && Instant::now() < deadline && !ctx.is_aborting() {
                self.pump(ctx);
                if self.ledger_full() {
                    self.wait_for_peer(deadline);
                }
            }
        }
        if self.ledger_full() {
            self.stalled = true;
            self.ledger.reuse(msg);
            let e = io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} alert(s) not confirmed by the peer yet, no room for more",
                    self.ledger.held()
                ),
            );
            self.settle_failed(1, &e, ctx);
            return;
        }
        self.ledger.push(msg);
    }

    fn ledger_full(&self) -> bool {
        self.ledger.held() >= HOLD_MAX || self.ledger.bytes() >= HOLD_MAX_BYTES
    }

    /// Waits (at most 100 ms, at most until `deadline`) for the peer to send or acknowledge.
    fn wait_for_peer(&self, deadline: Instant) {
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .min(ACK_POLL);
        match &self.conn {
            Some(c) if self.is_relp() => {
                let _ = poll_once(c.fd(), libc::POLLIN, slice);
            }
            _ => std::thread::sleep(slice),
        }
    }

    /// Connects if needed, writes what waits in the ledger, and collects confirmations. A lost
    /// connection is noticed here, logged, and reconnected at once (once per call).
    fn pump(&mut self, ctx: &ChannelCtx) {
        self.pump_once(ctx);
        let now = Instant::now();
        self.check_at = match (self.ledger.held(), &self.conn) {
            (0, _) => None,
            (_, None) => Some(self.retry_at.unwrap_or(now).max(now)),
            (_, Some(_)) => Some(now + ACK_POLL),
        };
    }

    fn pump_once(&mut self, ctx: &ChannelCtx) {
        let mut reconnected = false;
        loop {
            if self.conn.is_none() {
                if !self.ledger.has_resend() {
                    return;
                }
                if let Err(e) = self.connect(ctx) {
                    self.cannot_connect(&e, ctx);
                    return;
                }
            }
            let result = self
                .write_waiting(ctx)
                .and_then(|()| self.collect_confirmations(ctx));
            match result {
                Ok(()) => return,
                Err(e) => {
                    let timed_out = e.kind() == io::ErrorKind::TimedOut;
                    self.connection_lost(&e, ctx);
                    if timed_out {
                        // A stuck reader: do not pile up connections into it.
                        self.back_off();
                        return;
                    }
                    if reconnected || ctx.is_aborting() {
                        return;
                    }
                    reconnected = true;
                }
            }
        }
    }

    /// No connection: TCP and unix streams fail what they hold (as a datagram would); RELP keeps
    /// it (bounded by the ledger) and retries after a delay.
    fn cannot_connect(&mut self, e: &io::Error, ctx: &ChannelCtx) {
        if self.is_relp() && !ctx.is_aborting() {
            self.note_outage(e, ctx);
            return;
        }
        let n = self.ledger.clear();
        self.settle_failed(n, e, ctx);
    }

    /// Writes every alert waiting in the ledger, oldest first, checking the peer after each.
    fn write_waiting(&mut self, ctx: &ChannelCtx) -> io::Result<()> {
        // Not shortened while `stalled` (that only stops new alerts from waiting for room): a
        // momentarily full socket buffer must not cost the connection. A write that times out
        // drops the connection and backs off, so a stuck peer costs one `output_timeout`.
        let deadline = if ctx.is_aborting() {
            Instant::now()
        } else {
            Instant::now() + ctx.output_timeout
        };
        while self.ledger.has_resend() {
            if self.is_relp() && self.ledger.in_flight() >= RELP_WINDOW {
                self.read_replies(ctx)?;
                if self.ledger.in_flight() >= RELP_WINDOW {
                    if Instant::now() >= deadline || ctx.is_aborting() {
                        return Err(nothing_confirmed(ctx));
                    }
                    self.wait_for_peer(deadline);
                    continue;
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                break;
            };
            // Before each write: a peer that closed since the last one is noticed before an alert
            // goes into the dead connection (whose answer would be a reset).
            if let Peer::Gone(e) = conn.peer() {
                return Err(e);
            }
            let Some(e) = self.ledger.next_to_send() else {
                break;
            };
            if !conn.is_stream() {
                // A unix path that became a datagram socket after a daemon restart.
                let r = conn.send(&e.msg, deadline, &|| ctx.is_aborting());
                self.ledger.sent(e, 0, 0);
                r?;
                let n = self.ledger.settle_all();
                ctx.delivered(n);
                continue;
            }
            self.frame.clear();
            let mut txnr = 0;
            match (conn.kind(), self.relp.as_mut()) {
                (_, Some(session)) => {
                    txnr = session.next_txnr;
                    session.next_txnr = relp::next_txnr(txnr);
                    relp::frame(&mut self.frame, txnr, "syslog", &e.msg);
                }
                (Kind::UnixStream, None) => frame(&mut self.frame, Framing::NulTerminated, &e.msg),
                _ => frame(&mut self.frame, Framing::OctetCounted, &e.msg),
            }
            let r = conn.send(&self.frame, deadline, &|| ctx.is_aborting());
            // Even when the write failed part way: then it is written whole on the next
            // connection.
            let end = conn.written();
            self.ledger.sent(e, end, txnr);
            if let Err(e) = r {
                if e.kind() == io::ErrorKind::TimedOut {
                    self.stalled = true;
                }
                return Err(e);
            }
        }
        // The peer is checked again after the last write, in `collect_confirmations`.
        Ok(())
    }

    /// Counts what the peer confirmed: RELP answers, or TCP/unix-stream acknowledgements.
    fn collect_confirmations(&mut self, ctx: &ChannelCtx) -> io::Result<()> {
        let before = self.ledger.held();
        if self.conn.is_none() {
            return Ok(());
        }
        if self.relp.is_some() {
            self.read_replies(ctx)?;
        } else if let Some(conn) = self.conn.as_mut() {
            drain_unexpected(conn)?;
        }
        let Some(conn) = self.conn.as_ref() else {
            return Ok(());
        };
        // The kernel's unacknowledged count first, the peer's state second: a reset (or a unix
        // peer closing with unread data) sets the socket error before it empties the queue
        // that count is taken from, so a count read before a reset is never trusted after it.
        let acked = if self.relp.is_none() && conn.is_stream() {
            conn.acknowledged()?
        } else {
            0
        };
        if let Peer::Gone(e) = conn.peer() {
            return Err(e);
        }
        let now = Instant::now();
        let (waiting, progressed) = if self.relp.is_some() {
            (self.ledger.in_flight() > 0, self.ledger.held() < before)
        } else if conn.is_stream() {
            let grace = if conn.kind() == Kind::Tcp {
                TCP_SETTLE
            } else {
                // A unix stream's count is what the daemon has not read: nothing to wait for.
                Duration::ZERO
            };
            self.ledger.acked_up_to(acked, now);
            ctx.delivered(self.ledger.settle(now, grace));
            let progressed = acked > self.acked_seen;
            self.acked_seen = acked;
            (acked < conn.written(), progressed)
        } else {
            (false, false)
        };
        // A peer that takes what we write but confirms nothing for `output_timeout` is treated
        // as gone: its connection is dropped and the alerts are written on a new one.
        self.quiet_since = match self.quiet_since {
            Some(t) if waiting && !progressed => {
                if now.saturating_duration_since(t) >= ctx.output_timeout {
                    return Err(nothing_confirmed(ctx));
                }
                Some(t)
            }
            _ if waiting => Some(now),
            _ => None,
        };
        if self.ledger.held() < before {
            self.stalled = false;
            self.note_success(ctx);
        }
        Ok(())
    }

    /// Reads the RELP server's answers: `200` delivers its alert, anything else fails it.
    fn read_replies(&mut self, ctx: &ChannelCtx) -> io::Result<()> {
        let (Some(conn), Some(session)) = (self.conn.as_mut(), self.relp.as_mut()) else {
            return Ok(());
        };
        let mut buf = [0u8; 4096];
        let mut eof = false;
        loop {
            match conn.read(&mut buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => session.parser.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut refused = Vec::new();
        let mut closed = false;
        loop {
            match session.parser.next() {
                Ok(None) => break,
                Ok(Some(Reply::Rsp { txnr, code, text })) => match self.ledger.answered(txnr) {
                    Some(msg) if code == 200 => {
                        self.ledger.reuse(msg);
                        ctx.delivered(1);
                    }
                    Some(msg) => {
                        self.ledger.reuse(msg);
                        refused.push(format!("{code} {text}"));
                    }
                    None => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("RELP answer for unknown transaction {txnr}"),
                        ))
                    }
                },
                Ok(Some(Reply::ServerClose)) => {
                    closed = true;
                    break;
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            }
        }
        if let Some(last) = refused.last() {
            let e = io::Error::other(format!("the RELP server refused alerts: {last}"));
            self.settle_failed(refused.len(), &e, ctx);
        }
        if closed {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the RELP server closed the session",
            ));
        }
        if eof {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection",
            ));
        }
        Ok(())
    }

    /// The connection is gone (reset, closed, timed out, protocol error): what it carried
    /// unconfirmed is written again on the next one; the loss is logged.
    fn connection_lost(&mut self, e: &io::Error, ctx: &ChannelCtx) {
        ctx.write_error();
        // RELP: answers that arrived before the end are still in the socket; each one spares a
        // duplicate.
        if self.relp.is_some() {
            let _ = self.read_replies(ctx);
        }
        let conn = self.conn.take();
        // A clean close (end of file, no reset): the peer read everything it acknowledged, since
        // a TCP that closes with unread data sends a reset instead (RFC 1122 4.2.2.13; Linux,
        // the BSDs and Windows do). Only what it had not acknowledged is sent again. Not under
        // TLS: a TLS server reads records into its own buffer before it decrypts them, and one
        // that refused them (a fatal alert) closes cleanly all the same.
        if let (Some(conn), None, io::ErrorKind::UnexpectedEof, false) =
            (&conn, &self.relp, e.kind(), self.tls.is_some())
        {
            // Still no reset after the count was taken (a reset empties the queue it counts).
            let acked = conn.acknowledged();
            let still_clean =
                matches!(conn.peer(), Peer::Gone(e) if e.kind() == io::ErrorKind::UnexpectedEof);
            if let (Ok(acked), true) = (acked, still_clean) {
                let now = Instant::now();
                self.ledger.acked_up_to(acked, now);
                ctx.delivered(self.ledger.settle(now, Duration::ZERO));
            }
        }
        self.relp = None;
        let unconfirmed = self.ledger.in_flight();
        let given_up = self.ledger.connection_lost(MAX_SENDS);
        self.reset_log.warning(
            ctx,
            &format!(
                "connection to {} lost: {e}; {} alert(s) it had not confirmed are sent again on a new connection",
                self.address,
                unconfirmed - given_up
            ),
        );
        if given_up > 0 {
            let e = io::Error::other(format!(
                "{e} (alerts written on {MAX_SENDS} connections, none confirmed them)"
            ));
            self.settle_failed(given_up, &e, ctx);
        }
    }

    fn note_failure(&mut self, n: usize, e: &io::Error, ctx: &ChannelCtx) {
        self.outage.failed += n as u64;
        self.outage.unlogged += n as u64;
        self.note_outage(e, ctx);
    }

    /// Logs the outage now if due (the first failure at once, then every [`LOG_EVERY`]).
    fn note_outage(&mut self, e: &io::Error, ctx: &ChannelCtx) {
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

    fn note_success(&mut self, ctx: &ChannelCtx) {
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
fn nothing_confirmed(ctx: &ChannelCtx) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "nothing confirmed for {} ms (output_timeout)",
            ctx.output_timeout.as_millis()
        ),
    )
}

fn backoff_min(address: &Address) -> Duration {
    if address.is_relp() {
        RELP_RETRY_MIN
    } else {
        BACKOFF_MIN
    }
}

/// Opens a RELP session on a fresh connection: our offers, the server's `200 OK` (txnr 1).
fn relp_open(
    conn: &mut Conn,
    deadline: Instant,
    abort: &dyn Fn() -> bool,
) -> io::Result<RelpSession> {
    let mut frame = Vec::new();
    relp::frame(&mut frame, 1, "open", relp::open_offers().as_bytes());
    conn.send(&frame, deadline, abort)?;
    let mut session = RelpSession {
        parser: relp::Parser::default(),
        next_txnr: 2,
    };
    match read_reply(conn, &mut session.parser, deadline, abort)? {
        Reply::Rsp {
            txnr: 1, code: 200, ..
        } => Ok(session),
        Reply::Rsp {
            txnr: 1,
            code,
            text,
        } => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("the RELP server refused the session: {code} {text}"),
        )),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected RELP answer to open: {other:?}"),
        )),
    }
}

/// Waits (until `deadline`) for one complete RELP reply.
fn read_reply(
    conn: &mut Conn,
    parser: &mut relp::Parser,
    deadline: Instant,
    abort: &dyn Fn() -> bool,
) -> io::Result<Reply> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(r) = parser
            .next()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
        {
            return Ok(r);
        }
        match conn.read(&mut buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the RELP server closed the connection",
                ))
            }
            Ok(n) => parser.push(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let now = Instant::now();
                if now >= deadline || abort() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no RELP answer in time",
                    ));
                }
                poll_once(conn.fd(), libc::POLLIN, deadline - now)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A plain syslog server sends nothing: whatever arrives is read and dropped (so that closing
/// our end does not turn into a reset); end of file means the peer closed.
fn drain_unexpected(conn: &mut Conn) -> io::Result<()> {
    let mut buf = [0u8; 512];
    for _ in 0..16 {
        match conn.read(&mut buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection",
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
                    "reopen: the TLS files could not be reloaded, the ones loaded before stay in                      use: {e}"
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
                let deadline = Instant::now() + RELP_CLOSE_WAIT;
                let mut frame = Vec::new();
                relp::frame(&mut frame, session.next_txnr, "close", b"");
                if conn.send(&frame, deadline, &|| false).is_ok() {
                    let _ = read_reply(conn, &mut session.parser, deadline, &|| false);
                }
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
