//! The `unix://` transport (a local path, `/dev/log`): datagrams, or a stream when the daemon
//! offers only that, as glibc falls back to (NUL-terminated messages, confirmed once the daemon
//! read them). Which one is the daemon's choice, seen at each connection: a daemon restarted
//! with the other kind of socket is followed.

use std::time::Instant;

use super::datagram;
use super::kernel_acks::KernelAcks;
use super::link::Link;
use super::stream::Stream;
use super::transport::Transport;
use crate::outputs::ChannelCtx;

pub(super) struct Local {
    /// Used while the daemon's socket is a stream one.
    stream: Stream<KernelAcks>,
}

impl Local {
    pub(super) fn new() -> Local {
        Local {
            stream: Stream::new(KernelAcks::unix_stream()),
        }
    }
}

impl Transport for Local {
    fn buffer(&mut self) -> Vec<u8> {
        self.stream.ledger.buffer()
    }

    fn deliver(&mut self, link: &mut Link, msg: Vec<u8>, ctx: &ChannelCtx) {
        let on_stream = link.conn.as_ref().is_some_and(|c| c.is_stream());
        if !on_stream {
            let stream = &mut self.stream;
            let sent = datagram::send(link, &msg, ctx, &mut |link, ctx| stream.connect(link, ctx));
            match sent {
                Ok(true) => {
                    self.stream.ledger.reuse(msg);
                    ctx.delivered(1);
                    link.outage.note_success(ctx);
                    return;
                }
                // The daemon's socket is a stream one: the ledger's way below.
                Ok(false) => {}
                Err(e) => {
                    self.stream.ledger.reuse(msg);
                    let held = self.stream.ledger.held();
                    link.outage.settle_failed(1, &e, held, ctx);
                    return;
                }
            }
        }
        self.stream.hold(link, msg, ctx);
    }

    fn pump(&mut self, link: &mut Link, ctx: &ChannelCtx) {
        self.stream.pump(link, ctx);
    }

    fn has_waiting(&self) -> bool {
        self.stream.has_waiting()
    }

    fn held(&self) -> usize {
        self.stream.held()
    }

    fn next_wake(&self) -> Option<Instant> {
        self.stream.next_wake()
    }

    fn connection_dropped(&mut self) {
        self.stream.connection_dropped();
    }

    fn close(&mut self, link: &mut Link, ctx: &ChannelCtx) {
        self.stream.close(link, ctx);
    }
}
