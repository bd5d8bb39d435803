//! The RELP transport (`relp://`, `relp+tls://`): a session on each connection, opened with our
//! offers, alerts confirmed by the server's answers (`200` delivers, anything else fails) with at
//! most [`RELP_WINDOW`] outstanding, closed politely. The framing and the parser are `relp.rs`.

use std::io;
use std::time::{Duration, Instant};

use super::conn::{Conn, Peer};
use super::ledger::{Entry, Ledger};
use super::link::{Outage, Retry};
use super::relp::{self, Reply, RELP_RETRY_MAX, RELP_RETRY_MIN, RELP_WINDOW};
use super::socket::poll_once;
use super::stream::{Confirmations, Progress};
use crate::outputs::ChannelCtx;

/// How long `close` waits for the RELP server's answer to our `close`.
const RELP_CLOSE_WAIT: Duration = Duration::from_millis(500);

/// RELP holds its alerts while the server is away and retries after every failure, from
/// [`RELP_RETRY_MIN`] doubling up to [`RELP_RETRY_MAX`], so a restarted server is found again
/// within seconds.
pub(super) const RETRY: Retry = Retry {
    min: RELP_RETRY_MIN,
    max: RELP_RETRY_MAX,
    after_any_failure: true,
};

/// The RELP transport's confirmations: the session of the current connection.
#[derive(Default)]
pub(super) struct Relp {
    session: Option<RelpSession>,
    frame: Vec<u8>,
}

/// RELP state of one connection.
pub(super) struct RelpSession {
    pub(super) parser: relp::Parser,
    /// The next transaction number to use.
    pub(super) next_txnr: u32,
}

impl RelpSession {
    /// Opens a RELP session on a fresh connection: our offers, the server's `200 OK` (txnr 1).
    pub(super) fn open(
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

    /// Ends the session politely: our `close`, and the server's answer if it comes within
    /// [`RELP_CLOSE_WAIT`].
    pub(super) fn close(&mut self, conn: &mut Conn) {
        let deadline = Instant::now() + RELP_CLOSE_WAIT;
        let mut frame = Vec::new();
        relp::frame(&mut frame, self.next_txnr, "close", b"");
        if conn.send(&frame, deadline, &|| false).is_ok() {
            let _ = read_reply(conn, &mut self.parser, deadline, &|| false);
        }
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

impl Confirmations for Relp {
    fn start(
        &mut self,
        conn: &mut Conn,
        deadline: Instant,
        abort: &dyn Fn() -> bool,
    ) -> io::Result<()> {
        self.session = Some(RelpSession::open(conn, deadline, abort)?);
        Ok(())
    }

    fn keeps_alerts_while_disconnected(&self) -> bool {
        true
    }

    fn wait_for_peer(&self, conn: Option<&Conn>, slice: Duration) {
        match conn {
            Some(c) => {
                let _ = poll_once(c.fd(), libc::POLLIN, slice);
            }
            None => std::thread::sleep(slice),
        }
    }

    fn has_room(
        &mut self,
        conn: &mut Conn,
        ledger: &mut Ledger,
        outage: &mut Outage,
        ctx: &ChannelCtx,
    ) -> io::Result<bool> {
        if ledger.in_flight() >= RELP_WINDOW {
            self.read_replies(conn, ledger, outage, ctx)?;
        }
        Ok(ledger.in_flight() < RELP_WINDOW)
    }

    fn write(
        &mut self,
        conn: &mut Conn,
        e: Entry,
        ledger: &mut Ledger,
        stalled: &mut bool,
        deadline: Instant,
        ctx: &ChannelCtx,
    ) -> io::Result<()> {
        let Some(session) = self.session.as_mut() else {
            // Never without a session on a connection; the entry is written on the next one.
            ledger.sent(e, 0, 0);
            return Err(io::ErrorKind::NotConnected.into());
        };
        let txnr = session.next_txnr;
        session.next_txnr = relp::next_txnr(txnr);
        self.frame.clear();
        relp::frame(&mut self.frame, txnr, "syslog", &e.msg);
        let r = conn.send(&self.frame, deadline, &|| ctx.is_aborting());
        ledger.sent(e, conn.written(), txnr);
        if let Err(e) = r {
            if e.kind() == io::ErrorKind::TimedOut {
                *stalled = true;
            }
            return Err(e);
        }
        Ok(())
    }

    fn collect(
        &mut self,
        conn: &mut Conn,
        ledger: &mut Ledger,
        outage: &mut Outage,
        before: usize,
        ctx: &ChannelCtx,
    ) -> io::Result<Progress> {
        self.read_replies(conn, ledger, outage, ctx)?;
        if let Peer::Gone(e) = conn.peer() {
            return Err(e);
        }
        Ok(Progress {
            waiting: ledger.in_flight() > 0,
            progressed: ledger.held() < before,
        })
    }

    /// Answers that arrived before the end are still in the socket; each one spares a
    /// duplicate.
    fn before_drop(
        &mut self,
        conn: &mut Conn,
        _: &io::Error,
        _: bool,
        ledger: &mut Ledger,
        outage: &mut Outage,
        ctx: &ChannelCtx,
    ) {
        let _ = self.read_replies(conn, ledger, outage, ctx);
    }

    fn ended(&mut self) {
        self.session = None;
    }

    fn end_session(&mut self, conn: &mut Conn) {
        if let Some(session) = self.session.as_mut() {
            session.close(conn);
        }
    }
}

impl Relp {
    /// Reads the RELP server's answers: `200` delivers its alert, anything else fails it.
    fn read_replies(
        &mut self,
        conn: &mut Conn,
        ledger: &mut Ledger,
        outage: &mut Outage,
        ctx: &ChannelCtx,
    ) -> io::Result<()> {
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let eof = session.receive(conn)?;
        let mut refused = Vec::new();
        let mut closed = false;
        loop {
            match session.parser.next() {
                Ok(None) => break,
                Ok(Some(Reply::Rsp { txnr, code, text })) => match ledger.answered(txnr) {
                    Some(msg) if code == 200 => {
                        ledger.reuse(msg);
                        ctx.delivered(1);
                    }
                    Some(msg) => {
                        ledger.reuse(msg);
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
            outage.settle_failed(refused.len(), &e, ledger.held(), ctx);
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

impl RelpSession {
    /// Feeds the parser what the server sent, without waiting; `true` at end of file.
    fn receive(&mut self, conn: &mut Conn) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => self.parser.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
