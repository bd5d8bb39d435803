//! What every syslog transport shares: the address and its TLS client, the connection, when to
//! try connecting again (backoff), and the outage bookkeeping that keeps the logs rate-limited.

use std::io;
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::tls::TlsClient;
use crate::config::SyslogAddress as Address;
use crate::outputs::log_limit::LogLimit;
use crate::outputs::ChannelCtx;

/// How often an ongoing outage (or a series of resets) is logged.
pub(super) const LOG_EVERY: Duration = Duration::from_secs(10);
/// Longest single connection attempt (a black-holed TCP peer), if `output_timeout` is longer.
const MAX_CONNECT_WAIT: Duration = Duration::from_secs(2);

/// What a transport runs on each new connection before any alert (RELP opens its session):
/// the connection, the deadline, and whether to give up at once.
pub(super) type StartSession<'a> =
    dyn FnMut(&mut Conn, Instant, &dyn Fn() -> bool) -> io::Result<()> + 'a;

/// How a transport retries connecting.
pub(super) struct Retry {
    /// The first delay after a failure, doubled after each further one up to `max`.
    pub(super) min: Duration,
    pub(super) max: Duration,
    /// Back off after every failed attempt (RELP, which holds its alerts while the server is
    /// away), not only after slow ones.
    pub(super) after_any_failure: bool,
}

/// Backoff after a connection attempt that timed out; failures that are immediate (nothing
/// listening: ENOENT, ECONNREFUSED) are retried at the next alert, so an alert emitted once the
/// daemon is back is never lost to a backoff window. RELP has its own (`relp_session.rs`).
pub(super) const RETRY: Retry = Retry {
    min: Duration::from_secs(1),
    max: Duration::from_secs(30),
    after_any_failure: false,
};

/// The connection to `syslog_output.address` and what every transport keeps about it.
pub(super) struct Link {
    pub(super) address: Address,
    /// `tls://`, `relp+tls://`: the TLS client (verification, certificates); reloaded by
    /// `reopen`.
    pub(super) tls: Option<TlsClient>,
    pub(super) conn: Option<Conn>,
    retry: Retry,
    /// No connection attempt before this (after a slow failure; RELP after any failure).
    pub(super) retry_at: Option<Instant>,
    backoff: Duration,
    /// A send timed out (daemon not reading) or the ledger stayed full: further alerts do not
    /// wait until one goes through, so a stuck daemon costs one `output_timeout`, not one per
    /// alert.
    pub(super) stalled: bool,
    pub(super) outage: Outage,
}

/// Failure bookkeeping for rate-limited logging.
pub(super) struct Outage {
    /// The address, as the log lines name it.
    to: String,
    /// Alerts not delivered since the current outage began (0: no outage).
    failed: u64,
    /// Alerts not delivered that no log line has mentioned yet.
    unlogged: u64,
    /// This outage was logged, so its end is logged too.
    announced: bool,
    /// Outage messages are logged at most every [`LOG_EVERY`].
    log: LogLimit,
}

/// Errors that mean "nothing is listening right now": cheap to retry at the next alert.
pub(super) fn is_immediate(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENOENT | libc::ECONNREFUSED | libc::ENOTCONN | libc::ECONNRESET | libc::EPIPE)
    )
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

impl Link {
    pub(super) fn new(address: Address, tls: Option<TlsClient>, retry: Retry) -> Link {
        Link {
            outage: Outage {
                to: address.to_string(),
                failed: 0,
                unlogged: 0,
                announced: false,
                log: LogLimit::every(LOG_EVERY),
            },
            address,
            tls,
            conn: None,
            retry_at: None,
            backoff: retry.min,
            retry,
            stalled: false,
        }
    }

    /// Connects, then runs the transport's `start` on the new connection (RELP opens its
    /// session), unless a backoff says not yet.
    pub(super) fn connect(
        &mut self,
        ctx: &ChannelCtx,
        start: &mut StartSession<'_>,
    ) -> io::Result<()> {
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
                start(&mut conn, deadline, &abort)?;
                Ok(conn)
            },
        );
        match result {
            Ok(conn) => {
                self.conn = Some(conn);
                self.retry_at = None;
                self.backoff = self.retry.min;
                Ok(())
            }
            Err(e) => {
                ctx.write_error();
                if self.retry.after_any_failure || !is_immediate(&e) {
                    self.back_off();
                }
                Err(e)
            }
        }
    }

    pub(super) fn back_off(&mut self) {
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(self.retry.max);
    }

    /// `reopen`: the TLS files are read again, and the next alert connects afresh at once.
    pub(super) fn reopen(&mut self, ctx: &ChannelCtx) {
        // Certificate rotation. A bad new file keeps the client in use (still TLS, still
        // verifying) and says which key to fix.
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
        self.stalled = false;
        self.retry_at = None;
        self.backoff = self.retry.min;
    }

    /// `close`: reports what no log line mentioned yet, ends TLS politely, drops the connection.
    pub(super) fn close(&mut self, ctx: &ChannelCtx) {
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
    }
}

impl Outage {
    /// Counts `n` alerts that cannot be delivered: discarded once close gave up, else failed
    /// (and logged, with the `held` alerts kept for the next connection).
    pub(super) fn settle_failed(&mut self, n: usize, e: &io::Error, held: usize, ctx: &ChannelCtx) {
        if n == 0 {
            return;
        }
        if ctx.is_aborting() {
            ctx.discarded(n);
        } else {
            ctx.failed(n);
            self.failed += n as u64;
            self.unlogged += n as u64;
            self.note(e, held, ctx);
        }
    }

    /// Logs the outage now if due (the first failure at once, then every [`LOG_EVERY`]).
    pub(super) fn note(&mut self, e: &io::Error, held: usize, ctx: &ChannelCtx) {
        if self.log.allow().is_none() {
            return;
        }
        let what = if self.announced {
            "still cannot deliver"
        } else {
            "cannot deliver"
        };
        let mut counts = Vec::new();
        if self.unlogged > 0 {
            counts.push(format!(
                "{} alert(s) not delivered since the last message",
                self.unlogged
            ));
        }
        if held > 0 {
            counts.push(format!("{held} alert(s) held for the next connection"));
        }
        ctx.error(&format!(
            "{what} to {}: {e} ({})",
            self.to,
            counts.join("; ")
        ));
        self.unlogged = 0;
        self.announced = true;
    }

    /// An alert went through: the end of a logged outage is logged.
    pub(super) fn note_success(&mut self, ctx: &ChannelCtx) {
        if !self.announced && self.failed == 0 {
            return;
        }
        self.failed = 0;
        if std::mem::take(&mut self.announced) {
            let since = match self.unlogged {
                0 => String::new(),
                n => format!(" ({n} alert(s) not delivered since the last message)"),
            };
            ctx.log.notice(&format!(
                "{} output: delivering to {} again{since}",
                ctx.name, self.to
            ));
            self.unlogged = 0;
        }
    }
}
