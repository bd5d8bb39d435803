//! A batch of formatted lines (what the fan-out thread hands each channel's worker), the
//! bound on one batch, and the pool spent batches go back to for reuse.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::alert::Priority;

/// Bound on one batch, so memory and latency stay bounded under a burst.
pub const MAX_BATCH_LINES: usize = 4096;
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// Batches kept for reuse (their buffers keep their capacity).
const MAX_POOLED_BATCHES: usize = 8;

/// One formatted line of a batch: `bytes[start..end]` is the line without its newline, and
/// `bytes[end]` is the `\n` that follows it.
#[derive(Clone, Copy, Debug)]
pub struct Line {
    pub start: usize,
    pub end: usize,
    pub priority: Priority,
    /// The alert's event time, for channels that stamp messages (syslog).
    pub time_ns: u64,
}

/// Formatted lines, each followed by `\n`, in emit order: Falco's lines from the fan-out thread,
/// or a channel's own format (OTLP) from its worker.
#[derive(Default, Debug)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub lines: Vec<Line>,
}

impl Batch {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.lines.clear();
    }
    /// Appends an already formatted line (without newline).
    pub fn push_line(&mut self, line: &[u8], priority: Priority, time_ns: u64) {
        self.push_with(priority, time_ns, |bytes| bytes.extend_from_slice(line));
    }
    /// Appends the line `write` formats straight into the batch's buffer (no newline: added
    /// here), so formatting needs no buffer of its own.
    pub fn push_with(
        &mut self,
        priority: Priority,
        time_ns: u64,
        write: impl FnOnce(&mut Vec<u8>),
    ) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        let end = self.bytes.len();
        self.bytes.push(b'\n');
        self.lines.push(Line {
            start,
            end,
            priority,
            time_ns,
        });
    }
    /// Whether the batch reached the bound on lines or bytes a worker hands over at once.
    pub fn is_full(&self) -> bool {
        self.lines.len() >= MAX_BATCH_LINES || self.bytes.len() >= MAX_BATCH_BYTES
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
    pub fn len(&self) -> usize {
        self.lines.len()
    }
    /// Every line with its newline, as one buffer (what file, stdout and a kept-alive program get).
    pub fn all_with_newlines(&self) -> &[u8] {
        &self.bytes
    }
    /// One line without its newline (what syslog and HTTP get).
    pub fn line(&self, i: usize) -> &[u8] {
        let l = &self.lines[i];
        &self.bytes[l.start..l.end]
    }
    /// One line with its newline.
    pub fn line_with_newline(&self, i: usize) -> &[u8] {
        let l = &self.lines[i];
        &self.bytes[l.start..=l.end]
    }
    /// How many whole lines the first `n` bytes of [`Batch::all_with_newlines`] hold.
    pub fn lines_within(&self, n: usize) -> usize {
        self.lines.partition_point(|l| l.end < n)
    }
}

/// Spent batches, given back by the last worker that delivered them.
#[derive(Default)]
pub struct BatchPool {
    free: Mutex<Vec<Batch>>,
}

impl BatchPool {
    pub(crate) fn take(&self) -> Batch {
        self.free.lock().pop().unwrap_or_default()
    }

    /// Keeps `batch` for reuse when it was the last reference and the pool has room.
    pub fn give_back(&self, batch: Arc<Batch>) {
        if let Some(mut b) = Arc::into_inner(batch) {
            let mut free = self.free.lock();
            if free.len() < MAX_POOLED_BATCHES {
                b.clear();
                free.push(b);
            }
        }
    }

    pub(crate) fn clear(&self) {
        self.free.lock().clear();
    }
}
