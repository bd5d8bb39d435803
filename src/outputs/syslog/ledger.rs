//! The alerts a stream transport (TCP, unix stream, RELP) has written but whose receipt is not
//! confirmed yet, and those waiting for the next connection. A reset peer may have lost any of
//! the former, so they are sent again on the next connection: at-least-once, never "delivered"
//! before the peer confirmed.
//!
//! Confirmation is per transport: RELP by the server's `200 OK` for the transaction number;
//! TCP by the peer's acknowledgement of every byte of the frame, held for [`Ledger::settle`]'s
//! grace period on a live connection (the peer's kernel acknowledges what its application may
//! not have read yet: a peer that resets drops its unread receive buffer); a unix stream by the
//! daemon having read the bytes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// One alert's syslog message (header and text, not framed) and where it stands.
#[derive(Debug)]
pub struct Entry {
    pub msg: Vec<u8>,
    /// Connections it was written on.
    pub sends: u32,
    /// Stream offset just past its frame on the current connection.
    pub end: u64,
    /// RELP transaction number on the current connection.
    pub txnr: u32,
    /// When the peer's acknowledgement of its last byte was first seen (TCP, unix stream).
    pub acked_at: Option<Instant>,
}

#[derive(Default)]
pub struct Ledger {
    /// Written on the current connection, oldest first.
    sent: VecDeque<Entry>,
    /// To write on the (next) connection, oldest first.
    resend: VecDeque<Entry>,
    /// Message bytes held in both.
    bytes: usize,
    /// Buffers of confirmed entries, reused for new messages.
    spare: Vec<Vec<u8>>,
}

/// Reused buffers kept at most (the rest is freed).
const SPARE_MAX: usize = 256;

impl Ledger {
    /// Alerts held, not yet confirmed or given up.
    pub fn held(&self) -> usize {
        self.sent.len() + self.resend.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Written on the current connection, not confirmed.
    pub fn in_flight(&self) -> usize {
        self.sent.len()
    }

    pub fn has_resend(&self) -> bool {
        !self.resend.is_empty()
    }

    /// A buffer for a new message.
    pub fn buffer(&mut self) -> Vec<u8> {
        let mut b = self.spare.pop().unwrap_or_default();
        b.clear();
        b
    }

    fn recycle(&mut self, e: Entry) {
        self.bytes -= e.msg.len();
        if self.spare.len() < SPARE_MAX {
            self.spare.push(e.msg);
        }
    }

    /// Queues a new message to be written (after whatever waits to be sent again).
    pub fn push(&mut self, msg: Vec<u8>) {
        self.bytes += msg.len();
        self.resend.push_back(Entry {
            msg,
            sends: 0,
            end: 0,
            txnr: 0,
            acked_at: None,
        });
    }

    /// The oldest entry waiting to be written.
    pub fn next_to_send(&mut self) -> Option<Entry> {
        self.resend.pop_front()
    }

    /// `e` was (maybe partly) written on the current connection.
    pub fn sent(&mut self, mut e: Entry, end: u64, txnr: u32) {
        e.sends += 1;
        e.end = end;
        e.txnr = txnr;
        e.acked_at = None;
        self.sent.push_back(e);
    }

    /// The peer acknowledged the stream up to offset `acked` (seen at `now`).
    pub fn acked_up_to(&mut self, acked: u64, now: Instant) {
        for e in self.sent.iter_mut() {
            if e.end > acked {
                break;
            }
            e.acked_at.get_or_insert(now);
        }
    }

    /// Confirms the oldest entries acknowledged at least `grace` ago (the connection is known to
    /// be alive now); returns how many.
    pub fn settle(&mut self, now: Instant, grace: Duration) -> usize {
        let mut n = 0;
        while let Some(e) = self.sent.front() {
            match e.acked_at {
                Some(t) if now.saturating_duration_since(t) >= grace => {}
                _ => break,
            }
            if let Some(e) = self.sent.pop_front() {
                self.recycle(e);
                n += 1;
            }
        }
        n
    }

    /// Confirms everything written on the current connection (a datagram socket); returns how
    /// many.
    pub fn settle_all(&mut self) -> usize {
        let mut n = 0;
        while let Some(e) = self.sent.pop_front() {
            self.recycle(e);
            n += 1;
        }
        n
    }

    /// RELP: the server answered transaction `txnr`; the entry is removed and returned.
    pub fn answered(&mut self, txnr: u32) -> Option<Vec<u8>> {
        let i = self.sent.iter().position(|e| e.txnr == txnr)?;
        let e = self.sent.remove(i)?;
        self.bytes -= e.msg.len();
        Some(e.msg)
    }

    /// Gives a confirmed entry's buffer back for reuse.
    pub fn reuse(&mut self, msg: Vec<u8>) {
        if self.spare.len() < SPARE_MAX {
            self.spare.push(msg);
        }
    }

    /// The connection is gone: what it carried unconfirmed goes back in front of the queue, to be
    /// written again on the next one, except entries already written `max_sends` times, which
    /// are given up (returned count).
    pub fn connection_lost(&mut self, max_sends: u32) -> usize {
        let mut given_up = 0;
        while let Some(e) = self.sent.pop_back() {
            if e.sends >= max_sends {
                self.recycle(e);
                given_up += 1;
            } else {
                self.resend.push_front(e);
            }
        }
        given_up
    }

    /// Drops everything held (given up, or discarded at close); returns how many.
    pub fn clear(&mut self) -> usize {
        let n = self.held();
        self.sent.clear();
        self.resend.clear();
        self.bytes = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger_with(n: usize) -> Ledger {
        let mut l = Ledger::default();
        for i in 0..n {
            l.push(format!("m{i}").into_bytes());
        }
        l
    }

    /// Writes everything queued on a "connection", frames of 10 bytes each.
    fn send_all(l: &mut Ledger, written: &mut u64) -> Vec<String> {
        let mut order = Vec::new();
        while let Some(e) = l.next_to_send() {
            order.push(String::from_utf8(e.msg.clone()).unwrap());
            *written += 10;
            l.sent(e, *written, 0);
        }
        order
    }

    #[test]
    fn confirmed_only_after_ack_and_grace() {
        let mut l = ledger_with(3);
        let mut w = 0;
        send_all(&mut l, &mut w);
        let t0 = Instant::now();
        let grace = Duration::from_millis(500);
        // Nothing acknowledged: nothing confirmed, whatever the time.
        assert_eq!(l.settle(t0 + grace * 10, grace), 0);
        // Two frames and half of the third acknowledged.
        l.acked_up_to(25, t0);
        assert_eq!(l.settle(t0, grace), 0);
        assert_eq!(l.settle(t0 + grace, grace), 2);
        assert_eq!(l.held(), 1);
        // A later, larger ack does not move an older ack time.
        l.acked_up_to(30, t0 + grace);
        assert_eq!(l.settle(t0 + grace, grace), 0);
        assert_eq!(l.settle(t0 + grace * 2, grace), 1);
        assert_eq!((l.held(), l.bytes()), (0, 0));
    }

    #[test]
    fn a_lost_connection_resends_in_order_before_new_messages() {
        let mut l = ledger_with(3);
        let mut w = 0;
        send_all(&mut l, &mut w);
        let t0 = Instant::now();
        // Acknowledged but not settled: still sent again.
        l.acked_up_to(20, t0);
        l.push(b"new".to_vec());
        assert_eq!(l.connection_lost(8), 0);
        let mut w = 0;
        assert_eq!(send_all(&mut l, &mut w), ["m0", "m1", "m2", "new"]);
        assert_eq!(l.held(), 4);
    }

    #[test]
    fn gives_up_after_max_sends() {
        let mut l = ledger_with(2);
        for round in 1..=3 {
            let mut w = 0;
            send_all(&mut l, &mut w);
            let given_up = l.connection_lost(3);
            assert_eq!(given_up, if round == 3 { 2 } else { 0 }, "round {round}");
        }
        assert_eq!((l.held(), l.bytes()), (0, 0));
    }

    #[test]
    fn relp_answers_by_transaction_number() {
        let mut l = ledger_with(3);
        let mut txnr = 1;
        while let Some(e) = l.next_to_send() {
            txnr += 1;
            l.sent(e, 0, txnr);
        }
        assert_eq!(l.answered(3).as_deref(), Some(&b"m1"[..]));
        assert_eq!(l.answered(3), None);
        assert_eq!(l.answered(99), None);
        assert_eq!(l.held(), 2);
        assert_eq!(l.connection_lost(8), 0);
        let mut w = 0;
        assert_eq!(send_all(&mut l, &mut w), ["m0", "m2"]);
    }
}
