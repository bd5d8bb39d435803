//! The on-disk spool: records (alert lines for HTTP; any non-empty bytes to the spool) not yet
//! acknowledged by the receiver, in append-only segment files (mode 0600) under a directory, so
//! that they survive an outage and a restart of the host. The format is in [`format`]; spools of
//! the previous format are migrated by [`v1`].
//!
//! Files: `NNNNNNNNNNNNNNNNNNNN.seg` segments; `ack`, the id of the oldest unacknowledged record
//! (checksummed, rewritten in place after every acknowledgement); `lock`, flock'ed while a handle
//! uses the directory. Nothing is trusted that does not check out: at open every segment is
//! scanned (the index is rebuilt from the records' ids; [`recover`]), and every record is checked again when
//! it is read. A damaged place (bad bytes, a missing run of records, a damaged ack) is skipped,
//! counted (see [`Damage`]) and logged once per segment with its name; the records lost with it
//! are counted too. A segment holding unread records is deleted only when the caller drops them
//! for the size bound.
//!
//! The directory is checked and held open by [`dir`]: every file is opened relative to it,
//! never through a symbolic link. Only files that start with the segment header are ever
//! removed: a file named like a segment without it is left in place, not read.
//!
//! At least once: a crash between a delivery and the `ack` update re-sends those records; a
//! damaged ack re-sends the oldest segments' records.

mod dir;
mod format;
mod lock;
mod recover;
mod v1;

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use crate::log::Logger;
use dir::SpoolDir;
use format::{Record, SegmentReader, MAX_RECORD, SEGMENT_HEADER};
use lock::SpoolLock;

/// Bytes a record takes on disk besides its payload.
pub const RECORD_OVERHEAD: u64 = format::RECORD_HEADER;
/// Written data is fdatasync'ed at most this long after it was written.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Damage found since the last [`Spool::take_damage`].
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damage {
    /// Damaged places skipped or rebuilt (the `spool_corrupt` statistic).
    pub places: u64,
    /// Records known to be lost with them (ids that no intact record carries any more).
    pub lost: u64,
}

struct Segment {
    seq: u64,
    /// Where the next append goes (written by this handle) or the file's size (a previous run's).
    end: u64,
}

pub struct Spool {
    dir: SpoolDir,
    /// The configuration key, for messages (`http_output.spool_dir`).
    key: String,
    log: Logger,
    _lock: SpoolLock,
    ack_file: File,
    /// Oldest first; the last one is the one being appended to when `writer` is set.
    segs: VecDeque<Segment>,
    /// The oldest unacknowledged record: its id, and where to look for it in `segs[0]`.
    head_id: u64,
    head_off: u64,
    next_id: u64,
    next_seq: u64,
    writer: Option<File>,
    reader: Option<(u64, SegmentReader)>,
    seg_max: u64,
    /// Where the last `peek` stopped, so that acknowledging it needs no second read.
    peeked: Option<Position>,
    damage: Damage,
    /// The last segment whose damage was logged: one line per segment.
    logged_seq: Option<u64>,
    buf: Vec<u8>,
    dirty: bool,
    last_sync: Instant,
}

pub(crate) fn seg_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

/// Where [`Spool::peek`] hands records.
type RecordSink<'a> = dyn FnMut(&[u8]) + 'a;

#[derive(Clone, Copy, Debug)]
struct Position {
    records: usize,
    idx: usize,
    off: u64,
    id: u64,
}

/// What reading at a place found.
enum Found {
    /// An intact record.
    Record(Record),
    /// No intact record starts here.
    Damage,
}

impl Spool {
    /// Records held (including any a damaged place lost, until reading finds them missing).
    pub fn len(&self) -> usize {
        (self.next_id - self.head_id) as usize
    }

    /// Bytes held on disk after the head (records and any damage among them).
    pub fn bytes(&self) -> u64 {
        self.segs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let start = if i == 0 {
                    self.head_off
                } else {
                    SEGMENT_HEADER
                };
                s.end.saturating_sub(start)
            })
            .sum()
    }

    /// Damage found since the last call.
    pub fn take_damage(&mut self) -> Damage {
        std::mem::take(&mut self.damage)
    }

    /// Appends records (one write for all of them); each must be 1 byte to [`MAX_RECORD`]
    /// long. On failure nothing was added.
    pub fn push<'a>(&mut self, records: impl Iterator<Item = &'a [u8]>) -> io::Result<usize> {
        self.buf.clear();
        let mut id = self.next_id;
        for r in records {
            if r.is_empty() || r.len() > MAX_RECORD as usize {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a spool record must be 1 byte to 64 MiB long",
                ));
            }
            format::encode(id, r, &mut self.buf);
            id += 1;
        }
        let n = (id - self.next_id) as usize;
        if n == 0 {
            return Ok(0);
        }
        if self.writer.is_none() || self.segs.back().is_some_and(|s| s.end >= self.seg_max) {
            self.rotate()?;
        }
        let (Some(w), Some(seg)) = (self.writer.as_ref(), self.segs.back_mut()) else {
            return Err(io::Error::other("no spool segment to write to"));
        };
        if let Err(e) = w.write_all_at(&self.buf, seg.end) {
            // Leave no torn record behind.
            let _ = w.set_len(seg.end);
            return Err(e);
        }
        seg.end += self.buf.len() as u64;
        self.next_id = id;
        // So that a later run knows these records were written, should they be damaged.
        self.persist_ack();
        self.dirty = true;
        self.peeked = None;
        self.maybe_sync();
        Ok(n)
    }

    fn rotate(&mut self) -> io::Result<()> {
        let seq = self.next_seq;
        let name = seg_name(seq);
        let file = self.dir.create_new(&name)?;
        if let Err(e) = file.write_all_at(&format::segment_header(), 0) {
            let _ = self.dir.remove(&name);
            return Err(e);
        }
        self.sync();
        self.next_seq += 1;
        if self.segs.is_empty() {
            self.head_off = SEGMENT_HEADER;
        }
        self.segs.push_back(Segment {
            seq,
            end: SEGMENT_HEADER,
        });
        self.writer = Some(file);
        self.gc();
        Ok(())
    }

    /// Syncs when the last sync is a second old: bounds what a power loss can take.
    pub fn maybe_sync(&mut self) {
        if self.dirty && self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync();
        }
    }

    /// Pushes written records to the disk.
    pub fn sync(&mut self) {
        if self.dirty {
            if let Some(w) = &self.writer {
                let _ = w.sync_data();
            }
            self.dirty = false;
        }
        self.last_sync = Instant::now();
    }

    /// Hands up to `n` of the oldest records to `each`, oldest first; returns how many. Stops
    /// early before a damaged place, which is dealt with once it is the oldest.
    pub fn peek(&mut self, n: usize, mut each: impl FnMut(&[u8])) -> io::Result<usize> {
        let pos = self.walk(n, Some(&mut each))?;
        self.peeked = Some(pos);
        Ok(pos.records)
    }

    /// Forgets up to `n` of the oldest records (delivered, refused or dropped); returns how
    /// many it forgot (fewer when a damaged place lost some of them).
    pub fn consume(&mut self, n: usize) -> io::Result<usize> {
        let pos = match self.peeked.take() {
            Some(p) if p.records == n => p,
            _ => self.walk(n, None)?,
        };
        self.advance(pos);
        Ok(pos.records)
    }

    /// Reads (handing them to `each`, when given) or skips up to `n` records from the head.
    fn walk(&mut self, n: usize, mut each: Option<&mut RecordSink>) -> io::Result<Position> {
        'restart: loop {
            let mut pos = Position {
                records: 0,
                idx: 0,
                off: self.head_off,
                id: self.head_id,
            };
            while pos.records < n && pos.idx < self.segs.len() {
                if pos.off >= self.segs[pos.idx].end {
                    pos.idx += 1;
                    pos.off = SEGMENT_HEADER;
                    continue;
                }
                match self.read_at(pos.idx, pos.off)? {
                    Found::Record(rec) if rec.id == pos.id => {
                        if let Some(each) = each.as_deref_mut() {
                            each(self.payload(&rec)?);
                        }
                        pos.off = rec.end();
                        pos.id += 1;
                        pos.records += 1;
                    }
                    // Acknowledged before (a previous run's ack fell inside this segment).
                    Found::Record(rec) if rec.id < pos.id => pos.off = rec.end(),
                    // A gap or damage: dealt with only as the head, so that what came before
                    // is delivered and acknowledged first.
                    found if pos.records == 0 => {
                        self.advance(pos);
                        self.repair_head(found)?;
                        continue 'restart;
                    }
                    _ => break,
                }
            }
            if pos.idx >= self.segs.len() {
                pos.idx = self.segs.len().saturating_sub(1);
                pos.off = self.segs.back().map_or(SEGMENT_HEADER, |s| s.end);
                if pos.records == 0 && pos.id < self.next_id {
                    // Records counted as held are not on disk (a segment cut short or removed).
                    self.advance(pos);
                    self.repair_head(Found::Damage)?;
                    continue 'restart;
                }
            }
            return Ok(pos);
        }
    }

    /// The head is a gap (`Record` with a later id) or damage: moves it to the next intact
    /// record, counts the place and the records lost, logs once per segment.
    fn repair_head(&mut self, found: Found) -> io::Result<()> {
        let seg = self.segs.front().map(|s| s.seq);
        let at = self.head_off;
        let (next, skipped) = match found {
            Found::Record(rec) => (Some((0, rec)), 0),
            Found::Damage => {
                let next = self.next_intact(at + 1)?;
                let until = match next {
                    Some((0, rec)) => rec.off,
                    _ => self.segs.front().map_or(at, |s| s.end),
                };
                (next, until.saturating_sub(at))
            }
        };
        let (lost, drop, off) = match next {
            Some((idx, rec)) => (rec.id.saturating_sub(self.head_id), idx, rec.off),
            // Nothing intact after it: everything held is gone.
            None => (
                self.next_id - self.head_id,
                self.segs.len().saturating_sub(1),
                self.segs.back().map_or(SEGMENT_HEADER, |s| s.end),
            ),
        };
        self.head_id += lost;
        self.persist_ack();
        for _ in 0..drop {
            self.drop_front_segment();
        }
        self.head_off = off;
        self.damage.places += 1;
        self.damage.lost += lost;
        if seg.is_none() || self.logged_seq != seg {
            self.logged_seq = seg;
            let place = match seg {
                Some(seq) => format!("segment {}", self.dir.path(&seg_name(seq)).display()),
                None => format!("{} (no segment left)", self.dir.display()),
            };
            let what = if skipped > 0 {
                format!("{skipped} bytes from byte {at} are not intact records (damaged, or a write cut by a crash); skipped")
            } else {
                format!("records written before are missing at byte {at}")
            };
            self.log.error(&format!(
                "{}: {place}: {what}; {lost} records lost (further damage in this segment is counted in spool_corrupt, not logged)",
                self.key,
            ));
        }
        Ok(())
    }

    /// The first intact record after damage at `from` in the head segment, or in a later one.
    fn next_intact(&mut self, from: u64) -> io::Result<Option<(usize, Record)>> {
        for idx in 0..self.segs.len() {
            let start = if idx == 0 { from } else { SEGMENT_HEADER };
            let end = self.segs[idx].end;
            if let Some(rec) = self.reader(idx)?.resync(start, end)? {
                return Ok(Some((idx, rec)));
            }
        }
        Ok(None)
    }

    fn reader(&mut self, idx: usize) -> io::Result<&mut SegmentReader> {
        let seq = self.segs[idx].seq;
        if self.reader.as_ref().map(|r| r.0) != Some(seq) {
            let file = match self.dir.open_file(&seg_name(seq), false, false) {
                Ok(f) => Some(f),
                // Gone: reads as damage, found and counted like any other.
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            self.reader = Some((seq, SegmentReader::new(file)));
        }
        match &mut self.reader {
            Some((_, r)) => Ok(r),
            None => Err(io::Error::other("spool reader missing")),
        }
    }

    fn read_at(&mut self, idx: usize, off: u64) -> io::Result<Found> {
        let end = self.segs[idx].end;
        Ok(match self.reader(idx)?.record_at(off, end)? {
            Some(rec) => Found::Record(rec),
            None => Found::Damage,
        })
    }

    fn payload(&mut self, rec: &Record) -> io::Result<&[u8]> {
        match &mut self.reader {
            Some((_, r)) => r.payload(rec),
            None => Err(io::Error::other("spool reader missing")),
        }
    }

    /// Moves the head to `pos` (everything before it is acknowledged).
    fn advance(&mut self, pos: Position) {
        if pos.id != self.head_id {
            // The ack first: a crash before the removals leaves segments that open removes.
            self.head_id = pos.id;
            self.persist_ack();
        }
        for _ in 0..pos.idx {
            self.drop_front_segment();
        }
        self.head_off = pos.off;
        self.gc();
    }

    fn drop_front_segment(&mut self) {
        if let Some(seg) = self.segs.pop_front() {
            if self.reader.as_ref().map(|r| r.0) == Some(seg.seq) {
                self.reader = None;
            }
            if self.segs.is_empty() {
                self.writer = None;
            }
            let _ = self.dir.remove(&seg_name(seg.seq));
        }
        self.head_off = SEGMENT_HEADER;
    }

    /// Removes fully read segments; the one being written stays until it is full.
    fn gc(&mut self) {
        while let Some(front) = self.segs.front() {
            let read = self.head_off >= front.end;
            let is_writer = self.writer.is_some() && self.segs.len() == 1;
            if !read || (is_writer && front.end < self.seg_max) {
                break;
            }
            self.drop_front_segment();
        }
    }

    fn persist_ack(&mut self) {
        // A lost update only means re-sending records already delivered (at least once).
        let ack = format::Ack {
            head: self.head_id,
            next: self.next_id,
        };
        let _ = self.ack_file.write_all_at(&format::encode_ack(ack), 0);
    }
}

#[cfg(test)]
mod tests;
