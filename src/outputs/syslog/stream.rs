//! What every stream transport shares (TCP, a unix stream socket, RELP; each also under TLS):
//! every alert stays in the ledger until the peer confirmed it; a lost connection is noticed
//! after each write, logged, and what it had not confirmed is written again on the next one.
//! How alerts are framed and confirmed is the transport's [`Confirmations`]: the kernel's
//! acknowledgements (`kernel_acks.rs`) or the RELP server's answers (`relp_session.rs`).

use std::io;
use std::time::{Duration, Instant};

use super::conn::{Conn, Peer};
use super::ledger::{Entry, Ledger};
use super::link::{nothing_confirmed, Link, Outage, LOG_EVERY};
use super::transport::Transport;
use crate::outputs::log_limit::LogLimit;
use crate::outputs::ChannelCtx;

/// Connections an alert is written on before it is given up (counted failed): a peer that resets
/// every connection (or chokes on one message) cannot keep the channel busy forever.
const MAX_SENDS: u32 = 8;
/// While confirmations are awaited, the worker looks for them this often.
pub(super) const ACK_POLL: Duration = Duration::from_millis(20);
/// Bounds on what is held unconfirmed (memory). When reached, a new alert waits up to
/// `output_timeout` for room, then fails.
const HOLD_MAX: usize = 65_536;
const HOLD_MAX_BYTES: usize = 32 << 20;

/// How a stream transport frames its alerts and learns that the peer has them.
pub(super) trait Confirmations: Send {
    /// While no connection can be made: whether the held alerts are kept for the next one
    /// (RELP, bounded by the ledger), or failed as datagrams would be (TCP, unix stream).
    fn keeps_alerts_while_disconnected(&self) -> bool;
    /// Waits at most `slice` for the peer to answer or acknowledge.
    fn wait_for_peer(&self, conn: Option<&Conn>, slice: Duration);
    /// The connection is gone (lost, reopened or closed).
    fn ended(&mut self);
    /// At close, with nothing held: ends the session politely (RELP's `close`).
    fn end_session(&mut self, conn: &mut Conn);
    /// Runs on each new connection before any alert (RELP opens its session).
    fn start(
        &mut self,
        conn: &mut Conn,
        deadline: Instant,
        abort: &dyn Fn() -> bool,
    ) -> io::Result<()>;
    /// Whether one more alert may go on the wire now (RELP: its window of transactions).
    fn has_room(
        &mut self,
        conn: &mut Conn,
        ledger: &mut Ledger,
        outage: &mut Outage,
        ctx: &ChannelCtx,
    ) -> io::Result<bool>;
    /// Frames and writes one alert, recording it in the ledger (even when the write failed part
    /// way: then it is written whole on the next connection); a write that timed out sets
    /// `stalled`.
    fn write(
        &mut self,
        conn: &mut Conn,
        e: Entry,
        ledger: &mut Ledger,
        stalled: &mut bool,
        deadline: Instant,
        ctx: &ChannelCtx,
    ) -> io::Result<()>;
    /// Counts what the peer confirmed since the last look (`before`: alerts held then).
    fn collect(
        &mut self,
        conn: &mut Conn,
        ledger: &mut Ledger,
        outage: &mut Outage,
        before: usize,
        ctx: &ChannelCtx,
    ) -> io::Result<Progress>;
    /// The connection ended with `e` and is about to be dropped: counts what the peer had
    /// confirmed before the end.
    fn before_drop(
        &mut self,
        conn: &mut Conn,
        e: &io::Error,
        under_tls: bool,
        ledger: &mut Ledger,
        outage: &mut Outage,
        ctx: &ChannelCtx,
    );
}

/// What [`Confirmations::collect`] saw.
pub(super) struct Progress {
    /// Alerts are written whose confirmation has not come yet.
    pub(super) waiting: bool,
    /// The peer confirmed something since the last look.
    pub(super) progressed: bool,
}

/// A stream transport: its ledger and its way of confirming.
pub(super) struct Stream<C> {
    pub(super) confirmations: C,
    /// Alerts written or to write, until the peer confirmed them.
    pub(super) ledger: Ledger,
    /// Lost connections: logged at once, then at most every [`LOG_EVERY`].
    reset_log: LogLimit,
    /// When the worker should look for confirmations again (while alerts are held).
    check_at: Option<Instant>,
    /// Since when the peer has confirmed nothing while confirmations are awaited.
    quiet_since: Option<Instant>,
}

impl<C: Confirmations> Stream<C> {
    pub(super) fn new(confirmations: C) -> Stream<C> {
        Stream {
            confirmations,
            ledger: Ledger::default(),
            reset_log: LogLimit::every(LOG_EVERY),
            check_at: None,
            quiet_since: None,
        }
    }

    /// Connects and starts the transport's session, unless a backoff says not yet.
    pub(super) fn connect(&mut self, link: &mut Link, ctx: &ChannelCtx) -> io::Result<()> {
        let confirmations = &mut self.confirmations;
        link.connect(ctx, &mut |conn, deadline, abort| {
            confirmations.start(conn, deadline, abort)
        })?;
        self.quiet_since = None;
        Ok(())
    }

    /// Puts an alert into the ledger (written by the next [`Self::pump`]), making room first if
    /// the ledger is full.
    pub(super) fn hold(&mut self, link: &mut Link, msg: Vec<u8>, ctx: &ChannelCtx) {
        if self.ledger_full() && !link.stalled && !ctx.is_aborting() {
            let deadline = Instant::now() + ctx.output_timeout;
            while self.ledger_full() && Instant::now() < deadline && !ctx.is_aborting() {
                self.pump(link, ctx);
                if self.ledger_full() {
                    self.wait_for_peer(link, deadline);
                }
            }
        }
        if self.ledger_full() {
            link.stalled = true;
            self.ledger.reuse(msg);
            let e = io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} alert(s) not confirmed by the peer yet, no room for more",
                    self.ledger.held()
                ),
            );
            link.outage.settle_failed(1, &e, self.ledger.held(), ctx);
            return;
        }
        self.ledger.push(msg);
    }

    fn ledger_full(&self) -> bool {
        self.ledger.held() >= HOLD_MAX || self.ledger.bytes() >= HOLD_MAX_BYTES
    }

    /// Waits (at most [`ACK_POLL`], at most until `deadline`) for the peer to send or
    /// acknowledge.
    fn wait_for_peer(&self, link: &Link, deadline: Instant) {
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .min(ACK_POLL);
        self.confirmations.wait_for_peer(link.conn.as_ref(), slice);
    }

    /// Connects if needed, writes what waits in the ledger, and collects confirmations. A lost
    /// connection is noticed here, logged, and reconnected at once (once per call).
    pub(super) fn pump(&mut self, link: &mut Link, ctx: &ChannelCtx) {
        self.pump_once(link, ctx);
        let now = Instant::now();
        self.check_at = match (self.ledger.held(), &link.conn) {
            (0, _) => None,
            (_, None) => Some(link.retry_at.unwrap_or(now).max(now)),
            (_, Some(_)) => Some(now + ACK_POLL),
        };
    }

    fn pump_once(&mut self, link: &mut Link, ctx: &ChannelCtx) {
        let mut reconnected = false;
        loop {
            if link.conn.is_none() {
                if !self.ledger.has_resend() {
                    return;
                }
                if let Err(e) = self.connect(link, ctx) {
                    self.cannot_connect(link, &e, ctx);
                    return;
                }
            }
            let result = self
                .write_waiting(link, ctx)
                .and_then(|()| self.collect_confirmations(link, ctx));
            match result {
                Ok(()) => return,
                Err(e) => {
                    let timed_out = e.kind() == io::ErrorKind::TimedOut;
                    self.connection_lost(link, &e, ctx);
                    if timed_out {
                        // A stuck reader: do not pile up connections into it.
                        link.back_off();
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

    /// No connection: the alerts held are kept or failed, as the transport says.
    fn cannot_connect(&mut self, link: &mut Link, e: &io::Error, ctx: &ChannelCtx) {
        if self.confirmations.keeps_alerts_while_disconnected() && !ctx.is_aborting() {
            link.outage.note(e, self.ledger.held(), ctx);
            return;
        }
        let n = self.ledger.clear();
        link.outage.settle_failed(n, e, self.ledger.held(), ctx);
    }

    /// Writes every alert waiting in the ledger, oldest first, checking the peer after each.
    fn write_waiting(&mut self, link: &mut Link, ctx: &ChannelCtx) -> io::Result<()> {
        // Not shortened while `stalled` (that only stops new alerts from waiting for room): a
        // momentarily full socket buffer must not cost the connection. A write that times out
        // drops the connection and backs off, so a stuck peer costs one `output_timeout`.
        let deadline = if ctx.is_aborting() {
            Instant::now()
        } else {
            Instant::now() + ctx.output_timeout
        };
        while self.ledger.has_resend() {
            let Some(conn) = link.conn.as_mut() else {
                break;
            };
            let room =
                self.confirmations
                    .has_room(conn, &mut self.ledger, &mut link.outage, ctx)?;
            if !room {
                if Instant::now() >= deadline || ctx.is_aborting() {
                    return Err(nothing_confirmed(ctx));
                }
                self.wait_for_peer(link, deadline);
                continue;
            }
            // Before each write: a peer that closed since the last one is noticed before an alert
            // goes into the dead connection (whose answer would be a reset).
            if let Peer::Gone(e) = conn.peer() {
                return Err(e);
            }
            let Some(e) = self.ledger.next_to_send() else {
                break;
            };
            self.confirmations.write(
                conn,
                e,
                &mut self.ledger,
                &mut link.stalled,
                deadline,
                ctx,
            )?;
        }
        // The peer is checked again after the last write, in `collect_confirmations`.
        Ok(())
    }

    /// Counts what the peer confirmed; a peer that takes what we write but confirms nothing for
    /// `output_timeout` is treated as gone.
    fn collect_confirmations(&mut self, link: &mut Link, ctx: &ChannelCtx) -> io::Result<()> {
        let before = self.ledger.held();
        let Some(conn) = link.conn.as_mut() else {
            return Ok(());
        };
        let Progress {
            waiting,
            progressed,
        } = self
            .confirmations
            .collect(conn, &mut self.ledger, &mut link.outage, before, ctx)?;
        // Its connection is then dropped and the alerts are written on a new one.
        let now = Instant::now();
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
            link.stalled = false;
            link.outage.note_success(ctx);
        }
        Ok(())
    }

    /// The connection is gone (reset, closed, timed out, protocol error): what it carried
    /// unconfirmed is written again on the next one; the loss is logged.
    fn connection_lost(&mut self, link: &mut Link, e: &io::Error, ctx: &ChannelCtx) {
        ctx.write_error();
        let under_tls = link.tls.is_some();
        if let Some(conn) = link.conn.as_mut() {
            self.confirmations.before_drop(
                conn,
                e,
                under_tls,
                &mut self.ledger,
                &mut link.outage,
                ctx,
            );
        }
        link.conn = None;
        self.confirmations.ended();
        let unconfirmed = self.ledger.in_flight();
        let given_up = self.ledger.connection_lost(MAX_SENDS);
        self.reset_log.warning(
            ctx,
            &format!(
                "connection to {} lost: {e}; {} alert(s) it had not confirmed are sent again on a new connection",
                link.address,
                unconfirmed - given_up
            ),
        );
        if given_up > 0 {
            let e = io::Error::other(format!(
                "{e} (alerts written on {MAX_SENDS} connections, none confirmed them)"
            ));
            link.outage
                .settle_failed(given_up, &e, self.ledger.held(), ctx);
        }
    }
}

impl<C: Confirmations> Transport for Stream<C> {
    fn buffer(&mut self) -> Vec<u8> {
        self.ledger.buffer()
    }

    fn deliver(&mut self, link: &mut Link, msg: Vec<u8>, ctx: &ChannelCtx) {
        self.hold(link, msg, ctx);
    }

    fn pump(&mut self, link: &mut Link, ctx: &ChannelCtx) {
        Stream::pump(self, link, ctx);
    }

    fn has_waiting(&self) -> bool {
        self.ledger.has_resend()
    }

    fn held(&self) -> usize {
        self.ledger.held()
    }

    fn next_wake(&self) -> Option<Instant> {
        self.check_at.filter(|_| self.ledger.held() > 0)
    }

    fn connection_dropped(&mut self) {
        self.confirmations.ended();
        self.ledger.connection_lost(u32::MAX);
        self.check_at = Some(Instant::now());
    }

    fn close(&mut self, link: &mut Link, ctx: &ChannelCtx) {
        if self.ledger.held() == 0 {
            if let Some(conn) = link.conn.as_mut() {
                self.confirmations.end_session(conn);
            }
        }
        ctx.discarded(self.ledger.clear());
        self.reset_log.flush(ctx);
        self.confirmations.ended();
    }
}
