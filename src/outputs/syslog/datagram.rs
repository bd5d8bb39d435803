//! Datagram delivery (a unix datagram socket, UDP): an alert is delivered when the kernel took
//! it; a refused one is sent again once on a fresh socket, as glibc does.

use std::io;
use std::time::Instant;

use super::channel::{is_immediate, SyslogChannel};
use crate::outputs::ChannelCtx;

impl SyslogChannel {
    /// Sends a datagram; on a refused one reconnects and sends again once (as glibc does).
    /// `Ok(false)`: the (re)connected socket is a stream, nothing was sent.
    pub(super) fn send_datagram(&mut self, msg: &[u8], ctx: &ChannelCtx) -> io::Result<bool> {
        let mut last = None;
        for _attempt in 0..2 {
            if self.conn.is_none() {
                self.connect(ctx)?;
            }
            let Some(conn) = self.conn.as_mut() else {
                return Err(io::ErrorKind::NotConnected.into());
            };
            if conn.is_stream() {
                return Ok(false);
            }
            // While aborting or stalled, one try without waiting.
            let deadline = if ctx.is_aborting() || self.stalled {
                Instant::now()
            } else {
                Instant::now() + ctx.output_timeout
            };
            match conn.send(msg, deadline, &|| ctx.is_aborting()) {
                Ok(()) => {
                    self.stalled = false;
                    return Ok(true);
                }
                Err(e) => {
                    ctx.write_error();
                    if e.kind() == io::ErrorKind::TimedOut {
                        self.stalled = true;
                        return Err(e);
                    }
                    if !is_immediate(&e) {
                        return Err(e);
                    }
                    // The daemon went away (restarted: a new socket at the same path).
                    self.conn = None;
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| io::ErrorKind::NotConnected.into()))
    }
}
