//! Byte-stream plumbing shared by the stdout and file channels: a write that reports
//! how far it got, and the user-space buffer of `buffered_outputs: true` with its line count.

use std::io;
use std::os::fd::BorrowedFd;

use super::{Batch, ChannelCtx};
use crate::sys;

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR. On error, returns how many
/// bytes did reach the fd.
pub fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), (usize, io::Error)> {
    let total = bytes.len();
    while !bytes.is_empty() {
        match sys::write(fd, bytes) {
            Ok(0) => {
                return Err((
                    total - bytes.len(),
                    io::Error::from(io::ErrorKind::WriteZero),
                ))
            }
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((total - bytes.len(), e)),
        }
    }
    Ok(())
}

/// Lines waiting in user space (`buffered_outputs: true`). They are counted as delivered only
/// once they reach the OS.
#[derive(Default)]
pub struct LineBuffer {
    pub bytes: Vec<u8>,
    pub lines: usize,
}

/// Buffered channels write once this much is waiting (and at flush, reopen, close, every second).
pub const BUFFER_CAPACITY: usize = 256 * 1024;

impl LineBuffer {
    pub fn push(&mut self, batch: &Batch) {
        self.bytes.extend_from_slice(batch.all_with_newlines());
        self.lines += batch.len();
    }
    pub fn is_full(&self) -> bool {
        self.bytes.len() >= BUFFER_CAPACITY
    }
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.lines = 0;
    }
}

/// Counts the outcome of writing `lines` lines held in `bytes` (each ending in `\n`) that got
/// `written` bytes out: whole lines written are delivered, the rest failed.
pub fn account(
    ctx: &ChannelCtx,
    bytes: &[u8],
    lines: usize,
    result: &Result<(), (usize, io::Error)>,
) {
    match result {
        Ok(()) => ctx.delivered(lines),
        Err((written, _)) => {
            let done = bytes[..*written].iter().filter(|&&b| b == b'\n').count();
            ctx.delivered(done);
            ctx.failed(lines - done);
            ctx.write_error();
        }
    }
}

/// A channel that writes batches to one byte stream (stdout, a file): written at once, or
/// gathered in a [`LineBuffer`] with `buffered_outputs: true`.
pub trait ByteStream {
    fn buffer(&mut self) -> &mut LineBuffer;
    /// Writes `lines` whole lines held in `bytes` and accounts for them.
    fn write(&mut self, bytes: &[u8], lines: usize, ctx: &ChannelCtx);

    fn deliver_batch(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        if !ctx.buffered {
            self.write(batch.all_with_newlines(), batch.len(), ctx);
            return;
        }
        if self.buffer().is_empty() && batch.all_with_newlines().len() >= BUFFER_CAPACITY {
            // A batch this large would fill the buffer by itself: write it from where it is
            // rather than copying it first (under load batches are about 1 MiB).
            self.write(batch.all_with_newlines(), batch.len(), ctx);
            return;
        }
        self.buffer().push(batch);
        if self.buffer().is_full() {
            self.flush_buffer(ctx);
        }
    }

    /// Close's part of a byte stream: writes what is buffered, unless close's deadline passed
    /// (the fd may be the very thing that is stuck): then it is discarded, and counted so.
    fn close_stream(&mut self, ctx: &ChannelCtx) {
        if ctx.is_aborting() {
            ctx.discarded(self.buffer().lines);
            self.buffer().clear();
        }
        self.flush_buffer(ctx);
    }

    fn flush_buffer(&mut self, ctx: &ChannelCtx) {
        if self.buffer().is_empty() {
            return;
        }
        // Taken out for the write, then put back to keep its allocation.
        let mut buffer = std::mem::take(self.buffer());
        self.write(&buffer.bytes, buffer.lines, ctx);
        buffer.clear();
        *self.buffer() = buffer;
    }
}
