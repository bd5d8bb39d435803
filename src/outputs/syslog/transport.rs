//! How alerts reach the syslog daemon, chosen once from the address when the channel is built:
//! `udp://` sends datagrams (`datagram.rs`), `unix://` datagrams or a stream as the daemon offers
//! (`local.rs`), `tcp://`/`tls://` and `relp://`/`relp+tls://` hold alerts in a ledger until the
//! peer confirmed them (`stream.rs`, with the confirmations of `kernel_acks.rs` or
//! `relp_session.rs`).

use std::time::Instant;

use super::link::Link;
use crate::outputs::ChannelCtx;

pub(super) trait Transport: Send {
    /// A buffer to encode the next alert's message into (handed back by `deliver`).
    fn buffer(&mut self) -> Vec<u8>;
    /// One alert's message: sent now (a datagram) or held until the peer confirms it (a stream).
    fn deliver(&mut self, link: &mut Link, msg: Vec<u8>, ctx: &ChannelCtx);
    /// After a batch, or when the worker wakes the channel: writes what waits, collects
    /// confirmations. Nothing to do for datagrams.
    fn pump(&mut self, link: &mut Link, ctx: &ChannelCtx);
    /// Alerts waiting to be written (after a batch: the batch itself).
    fn has_waiting(&self) -> bool;
    /// Alerts held, not yet confirmed or given up.
    fn held(&self) -> usize;
    /// When the worker should look for confirmations again.
    fn next_wake(&self) -> Option<Instant>;
    /// `reopen` dropped the connection: what it carried unconfirmed is written again on the next
    /// one.
    fn connection_dropped(&mut self);
    /// `close`: ends a session politely, and discards what is still held (close gave up).
    fn close(&mut self, link: &mut Link, ctx: &ChannelCtx);
}
