//! Confirmation by the kernel (`tcp://`, `tls://`, and a `unix://` daemon on a stream socket):
//! an alert is confirmed when the peer acknowledged every byte of its frame (TCP: its kernel's
//! ACKs, held for a grace period on a live connection; a unix stream: the daemon read it). A
//! plain syslog server sends nothing back: whatever arrives is read and dropped.

use std::io;
use std::time::{Duration, Instant};

use super::conn::{Conn, Peer};
use super::ledger::{Entry, Ledger};
use super::link::Outage;
use super::stream::{Confirmations, Progress};
use super::wire::{frame, Framing};
use crate::outputs::ChannelCtx;

/// TCP: how long an acknowledged alert stays re-sendable on a live connection before it counts
/// as delivered. A peer's kernel acknowledges bytes its application has not read yet; a peer
/// that then resets throws them away. A syslog server reads within milliseconds, so an alert
/// acknowledged this long ago on a connection still up has been read.
const TCP_SETTLE: Duration = Duration::from_millis(500);

pub(super) struct KernelAcks {
    framing: Framing,
    /// How long an acknowledged alert stays re-sendable on a live connection.
    grace: Duration,
    /// The stream offset the peer had acknowledged at the last look.
    acked_seen: u64,
    frame: Vec<u8>,
}

impl KernelAcks {
    /// `tcp://`, `tls://`: octet-counted frames (RFC 6587), acknowledged bytes held for
    /// [`TCP_SETTLE`].
    pub(super) fn tcp() -> KernelAcks {
        KernelAcks::new(Framing::OctetCounted, TCP_SETTLE)
    }

    /// A unix stream socket: NUL-terminated messages, as glibc writes them; the kernel's count is
    /// what the daemon has not read, so there is nothing to wait for.
    pub(super) fn unix_stream() -> KernelAcks {
        KernelAcks::new(Framing::NulTerminated, Duration::ZERO)
    }

    fn new(framing: Framing, grace: Duration) -> KernelAcks {
        KernelAcks {
            framing,
            grace,
            acked_seen: 0,
            frame: Vec::new(),
        }
    }
}

impl Confirmations for KernelAcks {
    fn start(&mut self, _: &mut Conn, _: Instant, _: &dyn Fn() -> bool) -> io::Result<()> {
        self.acked_seen = 0;
        Ok(())
    }

    fn keeps_alerts_while_disconnected(&self) -> bool {
        false
    }

    fn wait_for_peer(&self, _: Option<&Conn>, slice: Duration) {
        std::thread::sleep(slice);
    }

    fn has_room(
        &mut self,
        _: &mut Conn,
        _: &mut Ledger,
        _: &mut Outage,
        _: &ChannelCtx,
    ) -> io::Result<bool> {
        Ok(true)
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
        if !conn.is_stream() {
            // A unix path whose daemon came back with a datagram socket: delivered when the
            // kernel took it.
            let r = conn.send(&e.msg, deadline, &|| ctx.is_aborting());
            ledger.sent(e, 0, 0);
            r?;
            ctx.delivered(ledger.settle_all());
            return Ok(());
        }
        self.frame.clear();
        frame(&mut self.frame, self.framing, &e.msg);
        let r = conn.send(&self.frame, deadline, &|| ctx.is_aborting());
        ledger.sent(e, conn.written(), 0);
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
        _: &mut Outage,
        _: usize,
        ctx: &ChannelCtx,
    ) -> io::Result<Progress> {
        drain_unexpected(conn)?;
        if !conn.is_stream() {
            // The unix daemon's datagram socket: nothing is held on it, no peer to watch.
            return Ok(Progress {
                waiting: false,
                progressed: false,
            });
        }
        // The kernel's unacknowledged count first, the peer's state second: a reset (or a unix
        // peer closing with unread data) sets the socket error before it empties the queue
        // that count is taken from, so a count read before a reset is never trusted after it.
        let acked = conn.acknowledged()?;
        if let Peer::Gone(e) = conn.peer() {
            return Err(e);
        }
        let now = Instant::now();
        ledger.acked_up_to(acked, now);
        ctx.delivered(ledger.settle(now, self.grace));
        let progressed = acked > self.acked_seen;
        self.acked_seen = acked;
        Ok(Progress {
            waiting: acked < conn.written(),
            progressed,
        })
    }

    /// A clean close (end of file, no reset): the peer read everything it acknowledged, since
    /// a TCP that closes with unread data sends a reset instead (RFC 1122 4.2.2.13; Linux, the
    /// BSDs and Windows do). Only what it had not acknowledged is sent again. Not under TLS: a
    /// TLS server reads records into its own buffer before it decrypts them, and one that
    /// refused them (a fatal alert) closes cleanly all the same.
    fn before_drop(
        &mut self,
        conn: &mut Conn,
        e: &io::Error,
        under_tls: bool,
        ledger: &mut Ledger,
        _: &mut Outage,
        ctx: &ChannelCtx,
    ) {
        if e.kind() != io::ErrorKind::UnexpectedEof || under_tls {
            return;
        }
        // Still no reset after the count was taken (a reset empties the queue it counts).
        let acked = conn.acknowledged();
        let still_clean =
            matches!(conn.peer(), Peer::Gone(e) if e.kind() == io::ErrorKind::UnexpectedEof);
        if let (Ok(acked), true) = (acked, still_clean) {
            let now = Instant::now();
            ledger.acked_up_to(acked, now);
            ctx.delivered(ledger.settle(now, Duration::ZERO));
        }
    }

    fn ended(&mut self) {}

    fn end_session(&mut self, _: &mut Conn) {}
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
