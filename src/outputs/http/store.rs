//! Where lines wait for their 2xx: in memory, or in the on-disk spool when `spool_dir` is set.
//! Both keep emit order and are bounded by `spool_max_mb`, over which the oldest lines go.

use std::collections::VecDeque;
use std::io;

use super::spool::{self, Damage, Spool};

/// Per-line overhead counted against the bound, the same in memory and on disk (the spool's
/// record header), so that one setting means one capacity.
const RECORD_OVERHEAD: u64 = spool::RECORD_OVERHEAD;

pub enum Store {
    Memory {
        lines: VecDeque<Box<[u8]>>,
        bytes: u64,
    },
    /// Boxed: the spool is much larger than the memory store.
    Spool(Box<Spool>),
}

impl Store {
    pub fn memory() -> Store {
        Store::Memory {
            lines: VecDeque::new(),
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Store::Memory { lines, .. } => lines.len(),
            Store::Spool(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> u64 {
        match self {
            Store::Memory { bytes, .. } => *bytes,
            Store::Spool(s) => s.bytes(),
        }
    }

    /// Appends lines in order; all or none.
    pub fn push<'a>(&mut self, lines: impl Iterator<Item = &'a [u8]>) -> io::Result<usize> {
        match self {
            Store::Memory { lines: q, bytes } => {
                let before = q.len();
                for line in lines {
                    *bytes += line.len() as u64 + RECORD_OVERHEAD;
                    q.push_back(line.into());
                }
                Ok(q.len() - before)
            }
            Store::Spool(s) => s.push(lines),
        }
    }

    /// Appends the `n` oldest lines to `out`, each followed by `\n`; returns how many.
    pub fn peek(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Store::Memory { lines, .. } => {
                let n = n.min(lines.len());
                for line in lines.iter().take(n) {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                }
                Ok(n)
            }
            Store::Spool(s) => s.peek(n, |line| {
                out.extend_from_slice(line);
                out.push(b'\n');
            }),
        }
    }

    /// As [`Store::peek`], after the `skip` oldest lines (already handed out and not yet
    /// answered): appends up to `n` of the lines after them; returns how many.
    pub fn peek_after(&mut self, skip: usize, n: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Store::Memory { lines, .. } => {
                let mut k = 0;
                for line in lines.iter().skip(skip).take(n) {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                    k += 1;
                }
                Ok(k)
            }
            Store::Spool(s) => {
                let mut i = 0;
                let got = s.peek(skip + n, |line| {
                    if i >= skip {
                        out.extend_from_slice(line);
                        out.push(b'\n');
                    }
                    i += 1;
                })?;
                Ok(got.saturating_sub(skip))
            }
        }
    }

    /// Forgets up to `n` of the oldest lines; returns how many (fewer only when the spool
    /// found some of them lost to damage: see [`Store::take_damage`]).
    pub fn consume(&mut self, n: usize) -> io::Result<usize> {
        match self {
            Store::Memory { lines, bytes } => {
                let n = n.min(lines.len());
                for line in lines.drain(..n) {
                    *bytes -= line.len() as u64 + RECORD_OVERHEAD;
                }
                Ok(n)
            }
            Store::Spool(s) => s.consume(n),
        }
    }

    /// Damage the spool found since the last call (never any in memory).
    pub fn take_damage(&mut self) -> Damage {
        match self {
            Store::Memory { .. } => Damage::default(),
            Store::Spool(s) => s.take_damage(),
        }
    }

    /// Drops the oldest lines until the store fits in `max_bytes`; returns how many went.
    pub fn enforce_bound(&mut self, max_bytes: u64) -> io::Result<usize> {
        let mut dropped = 0;
        while self.bytes() > max_bytes && !self.is_empty() {
            // Drop in chunks so a large excess costs few walks over the spool.
            let over = self.bytes() - max_bytes;
            let avg = (self.bytes() / self.len() as u64).max(1);
            let n = ((over / avg) as usize).clamp(1, self.len());
            dropped += self.consume(n)?;
        }
        Ok(dropped)
    }

    /// Pushes spooled data to the disk; nothing to do in memory.
    pub fn sync(&mut self, now: bool) {
        if let Store::Spool(s) = self {
            if now {
                s.sync()
            } else {
                s.maybe_sync()
            }
        }
    }
}

/// What a channel held when its close deadline passed, after `abandon`.
pub struct Abandoned {
    /// Left in the spool for the next start.
    pub kept: usize,
    /// Dropped from the memory store (no spool): to count as discarded.
    pub dropped: usize,
    /// Dropped from the memory overflow (the disk refused them): to count as discarded.
    pub dropped_overflow: usize,
}

/// The close deadline passed with records still held in `store` and `overflow` (the memory
/// queue behind a spool the disk refused). With a spool, what only memory holds is moved to it
/// if the disk lets us now, and the spool keeps it for the next start; without one, the store
/// is emptied. What could not be kept is dropped and returned for the caller to count.
pub fn abandon(store: &mut Store, overflow: &mut Store) -> Abandoned {
    let mut out = Abandoned {
        kept: 0,
        dropped: 0,
        dropped_overflow: 0,
    };
    if let Store::Spool(_) = store {
        let mut body = Vec::new();
        let n = overflow.len();
        if n > 0 && overflow.peek(n, &mut body).is_ok() {
            let records = body.split(|b| *b == b'\n').take(n);
            if store.push(records).is_ok() {
                let _ = overflow.consume(n);
            }
        }
        store.sync(true);
        out.kept = store.len();
    } else if !store.is_empty() {
        out.dropped = store.len();
        let _ = store.consume(out.dropped);
    }
    out.dropped_overflow = overflow.len();
    if out.dropped_overflow > 0 {
        let _ = overflow.consume(out.dropped_overflow);
    }
    out
}
