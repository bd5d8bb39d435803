//! Opening a spool: what a previous run left is listed, migrated from the first format, checked
//! record by record (the index is rebuilt from the records themselves), and kept from the first
//! unread record on; damage is cut off, logged and counted.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use super::dir::SpoolDir;
use super::format::{self, Ack, SegmentReader, SEGMENT_HEADER};
use super::lock::SpoolLock;
use super::{seg_name, v1, Damage, Segment, Spool};
use crate::error::InitError;
use crate::log::Logger;

/// What a segment holds, as far as its intact records tell.
struct Scan {
    size: u64,
    first_id: Option<u64>,
    last_id: Option<u64>,
    /// Where the first record with an id of at least the one asked for starts.
    first_unacked_off: Option<u64>,
    /// Where the last intact record ends (the header's end if there is none).
    intact_end: u64,
    bad_header: bool,
}

/// The spool being opened: its directory, its name in messages, and the damage found so far.
struct Opening<'a> {
    dir: SpoolDir,
    key: &'a str,
    log: &'a Logger,
    damage: Damage,
}

/// The segments kept, and where reading starts.
struct Kept {
    segs: VecDeque<Segment>,
    head_off: u64,
    first_id: Option<u64>,
}

impl Spool {
    /// Opens (creating it if needed) the spool in `path`, keeping what a previous run left.
    pub fn open(path: &Path, max_bytes: u64, key: &str, log: &Logger) -> Result<Spool, InitError> {
        let mut o = Opening {
            dir: SpoolDir::open(path, key)?,
            key,
            log,
            damage: Damage::default(),
        };
        let lock = o
            .dir
            .open_file("lock", true, true)
            .map_err(|e| o.io_err("cannot open its lock file", e))?;
        let lock = SpoolLock::acquire(lock, path, key)?;
        let seqs = o.segment_numbers()?;
        // After every name found, ours or not: a new segment never meets an existing name.
        let next_seq = seqs.last().map_or(1, |s| s + 1);
        let mut next_id = 1;
        o.migrate_v1(&seqs, &mut next_id)?;
        let (ack_file, ack) = o.read_ack()?;
        let ack_id = ack.map(|a| a.head);
        let scans = o.scan_segments(&seqs, ack_id, &mut next_id)?;
        // Records the ack counts as written but that no intact record carries are lost: reading
        // finds them missing and counts them.
        next_id = next_id.max(ack.map_or(0, |a| a.next));
        let kept = o.keep_unread(scans, ack_id);
        let head_id = ack_id.or(kept.first_id).unwrap_or(next_id);
        let mut spool = Spool {
            dir: o.dir,
            key: key.to_string(),
            log: log.clone(),
            _lock: lock,
            ack_file,
            segs: kept.segs,
            head_id,
            head_off: kept.head_off,
            next_id,
            next_seq,
            writer: None,
            reader: None,
            seg_max: (max_bytes / 16).clamp(64 << 10, 8 << 20),
            peeked: None,
            damage: o.damage,
            logged_seq: None,
            buf: Vec::new(),
            dirty: false,
            last_sync: Instant::now(),
        };
        spool.persist_ack();
        // A damaged ack may have been longer than an ack.
        let _ = spool.ack_file.set_len(format::ACK_LEN as u64);
        Ok(spool)
    }
}

impl Opening<'_> {
    fn io_err(&self, what: &str, e: io::Error) -> InitError {
        InitError::io(format!("{} {}: {what}: {e}", self.key, self.dir.display()))
    }

    /// The segments' numbers, in order; an interrupted migration's copies are removed.
    fn segment_numbers(&self) -> Result<Vec<u64>, InitError> {
        let mut seqs = Vec::new();
        let names = self
            .dir
            .names()
            .map_err(|e| self.io_err("cannot list it", e))?;
        for name in names {
            if let Some(num) = name.strip_suffix(".seg.tmp") {
                // An interrupted migration's half-written copy (the original is still there):
                // removed only when it is one (empty, or starting with the segment header).
                if seq_of(num).is_some() && is_ours(&self.dir, &name, true) {
                    let _ = self.dir.remove(&name);
                }
            } else if let Some(seq) = name.strip_suffix(".seg").and_then(seq_of) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// Segments of the previous spool format are rewritten in this one.
    fn migrate_v1(&mut self, seqs: &[u64], next_id: &mut u64) -> Result<(), InitError> {
        if !v1::present(&self.dir, seqs) {
            return Ok(());
        }
        let dir = &self.dir;
        let last_id = |seq| scan(dir, seq, 0).map(|s| s.last_id);
        let m = v1::migrate(dir, seqs, next_id, last_id, self.key, self.log)
            .map_err(|e| self.io_err("cannot migrate the previous spool format", e))?;
        self.damage.places += m.damaged;
        if m.segments > 0 {
            self.log.notice(&format!(
                "{} {}: {} alerts in {} segments of the previous spool format migrated",
                self.key,
                self.dir.display(),
                m.records,
                m.segments
            ));
        }
        Ok(())
    }

    /// The ack file, and what it says was read (none when it is new or damaged).
    fn read_ack(&mut self) -> Result<(File, Option<Ack>), InitError> {
        let ack_file = self
            .dir
            .open_file("ack", true, true)
            .map_err(|e| self.io_err("cannot open its ack file", e))?;
        let mut ack = Vec::new();
        let ack_len = ack_file.metadata().map(|m| m.len()).unwrap_or(0);
        // Anything much longer than an ack is not one (and is not read into memory).
        if ack_len <= format::ACK_LEN as u64 * 4 {
            let _ = io::Read::read_to_end(&mut &ack_file, &mut ack);
        }
        let ack = match format::decode_ack(&ack) {
            Some(a) => Some(a),
            None if ack_len == 0 => None,
            None => {
                self.damage.places += 1;
                self.log.error(&format!(
                    "{} {}: the ack file is damaged; resending every record still on disk",
                    self.key,
                    self.dir.display()
                ));
                None
            }
        };
        Ok((ack_file, ack))
    }

    /// Rebuilds the index from the records themselves; a file without a segment header is left
    /// alone.
    fn scan_segments(
        &mut self,
        seqs: &[u64],
        ack_id: Option<u64>,
        next_id: &mut u64,
    ) -> Result<Vec<(u64, Scan)>, InitError> {
        let mut scans = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            let s = scan(&self.dir, seq, ack_id.unwrap_or(0))
                .map_err(|e| self.io_err(&format!("cannot read segment {}", seg_name(seq)), e))?;
            if s.bad_header {
                // Not a segment this spool wrote (or its header is damaged): neither read nor
                // ever removed.
                self.damage.places += 1;
                self.log.error(&format!(
                    "{}: {}: does not start with a version-2 spool segment header (another \
                     program's file, or damaged): left in place, not read",
                    self.key,
                    self.dir.path(&seg_name(seq)).display()
                ));
                continue;
            }
            if let Some(last) = s.last_id {
                *next_id = (*next_id).max(last + 1);
            }
            scans.push((seq, s));
        }
        Ok(scans)
    }

    /// Leading segments that hold nothing unread go; from the first other one, all stay, each
    /// cut after its last intact record.
    fn keep_unread(&mut self, scans: Vec<(u64, Scan)>, ack_id: Option<u64>) -> Kept {
        let mut kept = Kept {
            segs: VecDeque::new(),
            head_off: SEGMENT_HEADER,
            first_id: None,
        };
        for (seq, s) in scans {
            if kept.segs.is_empty() {
                let read = match (ack_id, s.last_id) {
                    (Some(ack), Some(last)) => last < ack,
                    _ => s.size <= SEGMENT_HEADER,
                };
                if read {
                    let _ = self.dir.remove(&seg_name(seq));
                    continue;
                }
                if ack_id.is_some() {
                    kept.head_off = s.first_unacked_off.unwrap_or(SEGMENT_HEADER);
                }
            }
            if kept.first_id.is_none() {
                kept.first_id = s.first_id;
            }
            let end = self.cut_damaged_tail(seq, &s);
            kept.segs.push_back(Segment { seq, end });
        }
        kept
    }

    /// What follows a segment's last intact record (typically a write cut by a crash) is cut
    /// off; returns where the segment now ends.
    fn cut_damaged_tail(&mut self, seq: u64, s: &Scan) -> u64 {
        if s.intact_end >= s.size {
            return s.size;
        }
        self.damage.places += 1;
        self.log.error(&format!(
            "{}: segment {}: the {} bytes from byte {} are not intact records (damaged, or a write cut by a crash); cut off",
            self.key,
            self.dir.path(&seg_name(seq)).display(),
            s.size - s.intact_end,
            s.intact_end
        ));
        let cut = self
            .dir
            .open_file(&seg_name(seq), true, false)
            .and_then(|f| f.set_len(s.intact_end));
        if cut.is_ok() {
            s.intact_end
        } else {
            s.size
        }
    }
}

/// `NNNNNNNNNNNNNNNNNNNN` (20 digits): a segment's number.
fn seq_of(num: &str) -> Option<u64> {
    (num.len() == 20 && num.bytes().all(|b| b.is_ascii_digit()))
        .then(|| num.parse().ok())
        .flatten()
}

/// Whether the file `name` starts with the segment header (or, with `short_too`, is shorter
/// than it: a copy cut before its header was written): only such a file is one this spool
/// wrote and may remove.
fn is_ours(dir: &SpoolDir, name: &str, short_too: bool) -> bool {
    let Ok(f) = dir.open_file(name, false, false) else {
        return false;
    };
    let mut h = [0u8; SEGMENT_HEADER as usize];
    match f.read_exact_at(&mut h, 0) {
        Ok(()) => h == format::segment_header(),
        Err(_) => short_too && f.metadata().is_ok_and(|m| m.len() < SEGMENT_HEADER),
    }
}

/// Reads a whole segment, checking every record (resuming after damage).
fn scan(dir: &SpoolDir, seq: u64, unacked_from: u64) -> io::Result<Scan> {
    let file = dir.open_file(&seg_name(seq), false, false)?;
    let size = file.metadata()?.len();
    let mut header = [0u8; SEGMENT_HEADER as usize];
    let bad_header = size > 0
        && (file.read_exact_at(&mut header, 0).is_err() || header != format::segment_header());
    let mut r = SegmentReader::new(Some(file));
    let mut s = Scan {
        size,
        first_id: None,
        last_id: None,
        first_unacked_off: None,
        intact_end: SEGMENT_HEADER.min(size),
        bad_header,
    };
    let mut off = SEGMENT_HEADER;
    while off < size {
        let rec = match r.record_at(off, size)? {
            Some(rec) => rec,
            None => match r.resync(off + 1, size)? {
                Some(rec) => rec,
                None => break,
            },
        };
        s.first_id.get_or_insert(rec.id);
        s.last_id = Some(rec.id);
        if rec.id >= unacked_from && s.first_unacked_off.is_none() {
            s.first_unacked_off = Some(rec.off);
        }
        off = rec.end();
        s.intact_end = off;
    }
    Ok(s)
}
