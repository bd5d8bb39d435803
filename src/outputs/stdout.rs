//! The stdout channel: lines to file descriptor 1, buffered or with one write per batch.

use std::io;
use std::os::fd::AsFd;

use super::fd::{account, write_all, ByteStream, LineBuffer};
use super::{Batch, Channel, ChannelCtx};
use crate::config::Config;
use crate::error::InitError;
use crate::log::Logger;

pub struct StdoutChannel {
    buffer: LineBuffer,
    /// The last write failed; logged once until a write succeeds again.
    failing: bool,
}

impl StdoutChannel {
    pub fn open(_cfg: &Config, _log: &Logger) -> Result<StdoutChannel, InitError> {
        Ok(StdoutChannel {
            buffer: LineBuffer::default(),
            failing: false,
        })
    }

    fn note(&mut self, result: &Result<(), (usize, io::Error)>, ctx: &ChannelCtx) {
        match result {
            Err((_, e)) if !self.failing => {
                self.failing = true;
                ctx.error(&format!("write to standard output failed: {e}; alerts are counted as failed until it works again"));
            }
            Ok(()) if self.failing => {
                self.failing = false;
                ctx.warning("writing to standard output succeeds again");
            }
            _ => {}
        }
    }
}

impl ByteStream for StdoutChannel {
    fn buffer(&mut self) -> &mut LineBuffer {
        &mut self.buffer
    }

    fn write(&mut self, bytes: &[u8], lines: usize, ctx: &ChannelCtx) {
        let result = write_all(io::stdout().as_fd(), bytes);
        account(ctx, bytes, lines, &result);
        self.note(&result, ctx);
    }
}

impl Channel for StdoutChannel {
    fn writes_locally(&self) -> bool {
        true
    }

    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        self.deliver_batch(batch, ctx);
    }

    fn flush(&mut self, ctx: &ChannelCtx) {
        self.flush_buffer(ctx);
    }

    fn held(&self) -> usize {
        self.buffer.lines
    }

    fn close(&mut self, ctx: &ChannelCtx) {
        self.close_stream(ctx);
    }
}
