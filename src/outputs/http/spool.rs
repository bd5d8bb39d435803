//! The on-disk spool: alerts not yet acknowledged by the endpoint, in append-only segment files
//! (mode 0600) under `spool_dir`, so that they survive an outage and a restart of the host.
//!
//! Layout: `NNNNNNNNNNNNNNNNNNNN.seg` files, each a sequence of records `len: u32 LE, bytes`;
//! `head` holds where the oldest unacknowledged record starts (segment number, offset, both u64
//! LE), rewritten in place after every acknowledgement; `lock` is flock'ed while a handle uses the
//! directory. A crash between a delivery and the `head` update re-sends that request: at least
//! once, duplicates only around a crash.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::log::Logger;
use crate::outputs::OpenError;

/// A record larger than this is corruption, not an alert.
const MAX_RECORD: u32 = 64 << 20;
/// Written data is fdatasync'ed at most this long after it was written.
const SYNC_EVERY: Duration = Duration::from_secs(1);

struct Segment {
    seq: u64,
    len: u64,
}

pub struct Spool {
    dir: PathBuf,
    _lock: File,
    head_file: File,
    /// Oldest first; the last one is the one being appended to when `writer` is set.
    segs: VecDeque<Segment>,
    /// Offset of the oldest unacknowledged record in `segs[0]`.
    head_off: u64,
    writer: Option<File>,
    next_seq: u64,
    seg_max: u64,
    records: usize,
    bytes: u64,
    reader: Option<(u64, File)>,
    /// Where the last `peek` stopped, so that acknowledging it needs no second read.
    peeked: Option<Position>,
    dirty: bool,
    last_sync: Instant,
}

fn seg_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

fn io_err(dir: &Path, what: &str, e: io::Error) -> OpenError {
    OpenError::Io(format!(
        "http_output.spool_dir {}: {what}: {e}",
        dir.display()
    ))
}

impl Spool {
    /// Opens (creating it if needed) the spool in `dir`, keeping alerts a previous run left.
    pub fn open(dir: &Path, max_bytes: u64, log: &Logger) -> Result<Spool, OpenError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_err(dir, "cannot create it", e))?;
        let open_rw = |name: &str| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(dir.join(name))
        };
        let lock = open_rw("lock").map_err(|e| io_err(dir, "cannot open its lock file", e))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(OpenError::Io(format!(
                "http_output.spool_dir {}: used by another open handle (one spool per handle)",
                dir.display()
            )));
        }
        let head_file = open_rw("head").map_err(|e| io_err(dir, "cannot open its head file", e))?;
        let mut head = [0u8; 16];
        let (head_seq, mut head_off) = match head_file.read_exact_at(&mut head, 0) {
            Ok(()) => (
                u64::from_le_bytes(head[..8].try_into().unwrap_or_default()),
                u64::from_le_bytes(head[8..].try_into().unwrap_or_default()),
            ),
            Err(_) => (0, 0),
        };

        let mut seqs: Vec<u64> = fs::read_dir(dir)
            .map_err(|e| io_err(dir, "cannot list it", e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let num = name.strip_suffix(".seg")?;
                (num.len() == 20).then(|| num.parse::<u64>().ok()).flatten()
            })
            .collect();
        seqs.sort_unstable();

        let mut segs = VecDeque::new();
        let (mut records, mut bytes) = (0usize, 0u64);
        for seq in seqs {
            let path = dir.join(seg_name(seq));
            if seq < head_seq {
                // Fully acknowledged before a crash, not yet removed.
                let _ = fs::remove_file(&path);
                continue;
            }
            let start = if seq == head_seq && segs.is_empty() {
                head_off
            } else {
                0
            };
            let (len, n, held) =
                scan(&path, start, log).map_err(|e| io_err(dir, "cannot read a segment", e))?;
            if segs.is_empty() {
                head_off = if start <= len { start } else { len };
            }
            records += n;
            bytes += held;
            segs.push_back(Segment { seq, len });
        }
        if segs.is_empty() {
            head_off = 0;
        }
        let next_seq = segs.back().map_or(head_seq.max(1), |s| s.seq + 1);
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            _lock: lock,
            head_file,
            segs,
            head_off,
            writer: None,
            next_seq,
            seg_max: (max_bytes / 16).clamp(64 << 10, 8 << 20),
            records,
            bytes,
            reader: None,
            peeked: None,
            dirty: false,
            last_sync: Instant::now(),
        };
        spool.gc();
        Ok(spool)
    }

    pub fn len(&self) -> usize {
        self.records
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends lines (one write for all of them). On failure nothing was added.
    pub fn push<'a>(&mut self, lines: impl Iterator<Item = &'a [u8]>) -> io::Result<usize> {
        let mut buf = Vec::new();
        let mut n = 0;
        for line in lines {
            let len = u32::try_from(line.len())
                .ok()
                .filter(|l| *l <= MAX_RECORD)
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "alert larger than 64 MiB")
                })?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(line);
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        if self.writer.is_none() || self.segs.back().is_some_and(|s| s.len >= self.seg_max) {
            self.rotate()?;
        }
        let (Some(w), Some(seg)) = (self.writer.as_mut(), self.segs.back_mut()) else {
            return Err(io::Error::other("no spool segment to write to"));
        };
        if let Err(e) = w.write_all(&buf) {
            // Leave no torn record behind: the next run would have to cut it.
            let _ = w.set_len(seg.len);
            return Err(e);
        }
        seg.len += buf.len() as u64;
        self.records += n;
        self.bytes += buf.len() as u64;
        self.dirty = true;
        self.peeked = None;
        self.maybe_sync();
        Ok(n)
    }

    fn rotate(&mut self) -> io::Result<()> {
        let seq = self.next_seq;
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(self.dir.join(seg_name(seq)))?;
        self.sync();
        self.next_seq += 1;
        if self.segs.is_empty() {
            self.head_off = 0;
        }
        self.segs.push_back(Segment { seq, len: 0 });
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

    /// Appends up to `n` of the oldest records to `out`, each followed by `\n`.
    pub fn peek(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        let pos = self.walk(n, Some(out))?;
        self.peeked = Some(pos);
        Ok(pos.records)
    }

    /// Forgets the `n` oldest records (delivered, refused or dropped).
    pub fn consume(&mut self, n: usize) -> io::Result<()> {
        let n = n.min(self.records);
        let pos = match self.peeked.take() {
            Some(p) if p.records == n => p,
            _ => self.walk(n, None)?,
        };
        let (mut idx, mut off) = (pos.idx, pos.off);
        if idx >= self.segs.len() {
            idx = self.segs.len().saturating_sub(1);
            off = self.segs.back().map_or(0, |s| s.len);
        }
        for _ in 0..idx {
            self.drop_front_segment();
        }
        self.head_off = off;
        self.records -= pos.records;
        self.bytes = self.bytes.saturating_sub(pos.bytes);
        self.gc();
        self.persist_head();
        Ok(())
    }

    /// Reads (into `out`, when given) or skips up to `n` records from the head.
    fn walk(&mut self, n: usize, mut out: Option<&mut Vec<u8>>) -> io::Result<Position> {
        let mut pos = Position {
            records: 0,
            idx: 0,
            off: self.head_off,
            bytes: 0,
        };
        while pos.records < n && pos.idx < self.segs.len() {
            if pos.off >= self.segs[pos.idx].len {
                pos.idx += 1;
                pos.off = 0;
                continue;
            }
            let mut len = [0u8; 4];
            self.read_at(pos.idx, pos.off, &mut len)?;
            let len = u32::from_le_bytes(len) as u64;
            if let Some(out) = out.as_deref_mut() {
                let start = out.len();
                out.resize(start + len as usize, 0);
                self.read_at(pos.idx, pos.off + 4, &mut out[start..])?;
                out.push(b'\n');
            }
            pos.off += 4 + len;
            pos.bytes += 4 + len;
            pos.records += 1;
        }
        Ok(pos)
    }

    fn read_at(&mut self, idx: usize, off: u64, buf: &mut [u8]) -> io::Result<()> {
        let seq = self.segs[idx].seq;
        let is_writer = self.writer.is_some() && idx + 1 == self.segs.len();
        if is_writer {
            if let Some(w) = &self.writer {
                return w.read_exact_at(buf, off);
            }
        }
        if self.reader.as_ref().map(|r| r.0) != Some(seq) {
            self.reader = Some((seq, File::open(self.dir.join(seg_name(seq)))?));
        }
        match &self.reader {
            Some((_, f)) => f.read_exact_at(buf, off),
            None => Err(io::Error::other("spool reader missing")),
        }
    }

    fn drop_front_segment(&mut self) {
        if let Some(seg) = self.segs.pop_front() {
            if self.reader.as_ref().map(|r| r.0) == Some(seg.seq) {
                self.reader = None;
            }
            if self.segs.is_empty() {
                self.writer = None;
            }
            let _ = fs::remove_file(self.dir.join(seg_name(seg.seq)));
        }
        self.head_off = 0;
    }

    /// Removes fully acknowledged segments; the one being written stays until it is full.
    fn gc(&mut self) {
        while let Some(front) = self.segs.front() {
            let consumed = self.head_off >= front.len;
            let is_writer = self.writer.is_some() && self.segs.len() == 1;
            if !consumed || (is_writer && front.len < self.seg_max) {
                break;
            }
            self.drop_front_segment();
        }
    }

    fn persist_head(&mut self) {
        let seq = self.segs.front().map_or(self.next_seq, |s| s.seq);
        let mut head = [0u8; 16];
        head[..8].copy_from_slice(&seq.to_le_bytes());
        head[8..].copy_from_slice(&self.head_off.to_le_bytes());
        // A lost update only means re-sending alerts already delivered (at least once).
        let _ = self.head_file.write_all_at(&head, 0);
    }
}

#[derive(Clone, Copy)]
struct Position {
    records: usize,
    idx: usize,
    off: u64,
    bytes: u64,
}

/// Validates a segment from `start`: its valid length, records and their bytes after `start`.
/// A torn last record (a crash in the middle of a write) is cut off.
fn scan(path: &Path, start: u64, log: &Logger) -> io::Result<(u64, usize, u64)> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let size = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 16, &file);
    let (mut off, mut n, mut held) = (0u64, 0usize, 0u64);
    loop {
        let mut len = [0u8; 4];
        if off + 4 > size || r.read_exact(&mut len).is_err() {
            break;
        }
        let len = u32::from_le_bytes(len);
        if len > MAX_RECORD || off + 4 + len as u64 > size {
            break;
        }
        r.seek_relative(len as i64)?;
        off += 4 + len as u64;
        if off > start {
            n += 1;
            held += 4 + len as u64;
        }
    }
    if off < size {
        log.warning(&format!(
            "http output: spool segment {} ends with {} bytes of an incomplete record (crash while writing); cut off",
            path.display(),
            size - off
        ));
        file.set_len(off)?;
    }
    Ok((off, n, held))
}
