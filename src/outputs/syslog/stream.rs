//! Stream delivery (TCP, a unix stream socket, RELP, each also under TLS): every alert stays in
//! the ledger until the peer confirmed it; a lost connection is noticed after each write, logged,
//! and what it had not confirmed is written again on the next one.

use std::io;
use std::time::{Duration, Instant};

use super::channel::{nothing_confirmed, SyslogChannel};
use super::conn::{Conn, Peer};
use super::relp::{self, Reply, RELP_WINDOW};
use super::socket::{poll_once, Kind};
use super::wire::{frame, Framing};
use crate::outputs::ChannelCtx;

/// TCP: how long an acknowledged alert stays re-sendable on a live connection before it counts
/// as delivered. A peer's kernel acknowledges bytes its application has not read yet; a peer
/// that then resets throws them away. A syslog server reads within milliseconds, so an alert
/// acknowledged this long ago on a connection still up has been read.
const TCP_SETTLE: Duration = Duration::from_millis(500);
/// Connections an alert is written on before it is given up (counted failed): a peer that resets
/// every connection (or chokes on one message) cannot keep the channel busy forever.
const MAX_SENDS: u32 = 8;
/// While confirmations are awaited, the worker looks for them this often.
const ACK_POLL: Duration = Duration::from_millis(20);
/// Bounds on what is held unconfirmed (memory). When reached, a new alert waits up to
/// `output_timeout` for room, then fails.
const HOLD_MAX: usize = 65_536;
const HOLD_MAX_BYTES: usize = 32 << 20;

impl SyslogChannel {
    /// Puts a stream alert into the ledger (written by the next [`Self::pump`]), making room
    /// first if the ledger is full.
    pub(super) fn hold(&mut self, msg: Vec<u8>, ctx: &ChannelCtx) {
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

    pub(super) fn ledger_full(&self) -> bool {
        self.ledger.held() >= HOLD_MAX || self.ledger.bytes() >= HOLD_MAX_BYTES
    }

    /// Waits (at most 100 ms, at most until `deadline`) for the peer to send or acknowledge.
    pub(super) fn wait_for_peer(&self, deadline: Instant) {
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
    pub(super) fn pump(&mut self, ctx: &ChannelCtx) {
        self.pump_once(ctx);
        let now = Instant::now();
        self.check_at = match (self.ledger.held(), &self.conn) {
            (0, _) => None,
            (_, None) => Some(self.retry_at.unwrap_or(now).max(now)),
            (_, Some(_)) => Some(now + ACK_POLL),
        };
    }

    pub(super) fn pump_once(&mut self, ctx: &ChannelCtx) {
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
    pub(super) fn cannot_connect(&mut self, e: &io::Error, ctx: &ChannelCtx) {
        if self.is_relp() && !ctx.is_aborting() {
            self.note_outage(e, ctx);
            return;
        }
        let n = self.ledger.clear();
        self.settle_failed(n, e, ctx);
    }

    /// Writes every alert waiting in the ledger, oldest first, checking the peer after each.
    pub(super) fn write_waiting(&mut self, ctx: &ChannelCtx) -> io::Result<()> {
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
    pub(super) fn collect_confirmations(&mut self, ctx: &ChannelCtx) -> io::Result<()> {
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

    /// The connection is gone (reset, closed, timed out, protocol error): what it carried
    /// unconfirmed is written again on the next one; the loss is logged.
    pub(super) fn connection_lost(&mut self, e: &io::Error, ctx: &ChannelCtx) {
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

    /// Reads the RELP server's answers: `200` delivers its alert, anything else fails it.
    pub(super) fn read_replies(&mut self, ctx: &ChannelCtx) -> io::Result<()> {
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
