//! The stdout channel: lines to file descriptor 1, buffered or with one write per batch.

use std::io;

use super::fd::{account, write_all, LineBuffer};
use super::{Batch, Channel, ChannelCtx, OpenError};
use crate::config::Config;
use crate::log::Logger;

pub struct StdoutChannel {
    buffer: LineBuffer,
    /// The last write failed; logged once until a write succeeds again.
    failing: bool,
}

impl StdoutChannel {
    pub fn open(_cfg: &Config, _log: &Logger) -> Result<StdoutChannel, OpenError> {
        Ok(StdoutChannel {
            buffer: LineBuffer::default(),
            failing: false,
        })
    }

    fn write(&mut self, bytes: &[u8], lines: usize, ctx: &ChannelCtx) {
        let result = write_all(libc::STDOUT_FILENO, bytes);
        account(ctx, bytes, lines, &result);
        self.note(&result, ctx);
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

impl Channel for StdoutChannel {
    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        if !ctx.buffered {
            self.write(batch.all_with_newlines(), batch.len(), ctx);
            return;
        }
        self.buffer.push(batch);
        if self.buffer.is_full() {
            self.flush(ctx);
        }
    }

    fn flush(&mut self, ctx: &ChannelCtx) {
        if self.buffer.is_empty() {
            return;
        }
        let buffer = std::mem::take(&mut self.buffer);
        self.write(&buffer.bytes, buffer.lines, ctx);
        self.buffer = buffer;
        self.buffer.clear();
    }

    fn held(&self) -> usize {
        self.buffer.lines
    }

    fn close(&mut self, ctx: &ChannelCtx) {
        self.flush(ctx);
    }
}
