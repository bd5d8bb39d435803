//! A RELP session on one connection: opened with our offers, alerts confirmed by the server's
//! answers (`200` delivers, anything else fails), closed politely. The framing is `relp.rs`.

use std::io;
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::relp::{self, Reply};
use super::socket::poll_once;

/// How long `close` waits for the RELP server's answer to our `close`.
const RELP_CLOSE_WAIT: Duration = Duration::from_millis(500);

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
