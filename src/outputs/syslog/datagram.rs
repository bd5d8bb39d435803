//! The `udp://` transport: an alert is delivered when the kernel took its datagram; a refused one
//! is sent again once on a fresh socket, as glibc does. `local.rs` sends its datagrams here too.

use std::io;
use std::time::Instant;

use super::link::{is_immediate, Link};
use super::transport::Transport;
use crate::outputs::ChannelCtx;

/// The `udp://` transport: nothing is held, so nothing to pump, wake for or discard.
#[derive(Default)]
pub(super) struct Udp {
    /// The buffer of the last message, reused for the next one.
    spare: Vec<u8>,
}

impl Transport for Udp {
    fn buffer(&mut self) -> Vec<u8> {
        let mut b = std::mem::take(&mut self.spare);
        b.clear();
        b
    }

    fn deliver(&mut self, link: &mut Link, msg: Vec<u8>, ctx: &ChannelCtx) {
        let sent = send(link, &msg, ctx, &mut |link, ctx| {
            link.connect(ctx, &mut |_, _, _| Ok(()))
        });
        self.spare = msg;
        match sent {
            Ok(_) => {
                ctx.delivered(1);
                link.outage.note_success(ctx);
            }
            Err(e) => link.outage.settle_failed(1, &e, 0, ctx),
        }
    }

    fn pump(&mut self, _: &mut Link, _: &ChannelCtx) {}

    fn has_waiting(&self) -> bool {
        false
    }

    fn held(&self) -> usize {
        0
    }

    fn next_wake(&self) -> Option<Instant> {
        None
    }

    fn connection_dropped(&mut self) {}

    fn close(&mut self, _: &mut Link, _: &ChannelCtx) {}
}

/// Sends a datagram, connecting first through `connect`; on a refused one reconnects and sends
/// again once (as glibc does). `Ok(false)`: the (re)connected socket is a stream one (a unix
/// daemon can offer that), nothing was sent.
pub(super) fn send(
    link: &mut Link,
    msg: &[u8],
    ctx: &ChannelCtx,
    connect: &mut dyn FnMut(&mut Link, &ChannelCtx) -> io::Result<()>,
) -> io::Result<bool> {
    let mut last = None;
    for _attempt in 0..2 {
        if link.conn.is_none() {
            connect(link, ctx)?;
        }
        let Some(conn) = link.conn.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if conn.is_stream() {
            return Ok(false);
        }
        // While aborting or stalled, one try without waiting.
        let deadline = if ctx.is_aborting() || link.stalled {
            Instant::now()
        } else {
            Instant::now() + ctx.output_timeout
        };
        match conn.send(msg, deadline, &|| ctx.is_aborting()) {
            Ok(()) => {
                link.stalled = false;
                return Ok(true);
            }
            Err(e) => {
                ctx.write_error();
                if e.kind() == io::ErrorKind::TimedOut {
                    link.stalled = true;
                    return Err(e);
                }
                if !is_immediate(&e) {
                    return Err(e);
                }
                // The daemon went away (restarted: a new socket at the same path).
                link.conn = None;
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::NotConnected.into()))
}
