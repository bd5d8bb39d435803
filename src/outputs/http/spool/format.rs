//! The spool's on-disk format, version 2, modelled on Vector's disk buffer v2: checksummed,
//! numbered records in append-only segments, and a small checksummed acknowledgement file.
//!
//! ```text
//! segment: "FOSPOOL" VERSION(u8 = 2), then records
//! record:  MARK(4) len(u32) crc(u32) id(u64) payload(len bytes)
//! ack:     "FOSPACK" VERSION(u8 = 2) head(u64) next(u64) crc(u32)
//! ```
//!
//! Integers are little-endian. `crc` is CRC-32 (IEEE) of `len`, `id` and the payload; `id`
//! numbers records consecutively across segments, so a missing run of records shows as a gap.
//! `MARK` starts every record: after damage, reading resumes at the next place where a mark, a
//! length that fits and a matching checksum agree. `len` is 1 ..= [`MAX_RECORD`]: a zero or a
//! larger length is damage, never an allocation. The ack holds the id of the oldest record not
//! yet acknowledged (`head`) and the id the next record written will get (`next`): records
//! between them that no intact record carries any more are known to be lost.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

pub const SEGMENT_MAGIC: &[u8; 7] = b"FOSPOOL";
pub const ACK_MAGIC: &[u8; 7] = b"FOSPACK";
pub const VERSION: u8 = 2;
pub const SEGMENT_HEADER: u64 = 8;
/// Bytes 0xFE and 0xFF never occur in UTF-8, so a text alert cannot contain a mark.
const MARK: [u8; 4] = [0xFE, 0xFF, b'F', b'O'];
pub const RECORD_HEADER: u64 = 20;
/// A record longer than this is damage, not an alert.
pub const MAX_RECORD: u32 = 64 << 20;
pub const ACK_LEN: usize = 28;

/// How much of a segment is read at once.
const WINDOW: usize = 256 << 10;

pub fn segment_header() -> [u8; SEGMENT_HEADER as usize] {
    let mut h = [0u8; SEGMENT_HEADER as usize];
    h[..7].copy_from_slice(SEGMENT_MAGIC);
    h[7] = VERSION;
    h
}

fn checksum(len: u32, id: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(&id.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends one record to `out`. The caller checked `1 <= payload.len() <= MAX_RECORD`.
pub fn encode(id: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = payload.len() as u32;
    out.extend_from_slice(&MARK);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(len, id, payload).to_le_bytes());
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The acknowledgement state: ids of the oldest unacknowledged record and of the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    pub head: u64,
    pub next: u64,
}

pub fn encode_ack(ack: Ack) -> [u8; ACK_LEN] {
    let mut a = [0u8; ACK_LEN];
    a[..7].copy_from_slice(ACK_MAGIC);
    a[7] = VERSION;
    a[8..16].copy_from_slice(&ack.head.to_le_bytes());
    a[16..24].copy_from_slice(&ack.next.to_le_bytes());
    let crc = crc32fast::hash(&a[..24]);
    a[24..].copy_from_slice(&crc.to_le_bytes());
    a
}

/// What an ack file holds; `None` when it is not a whole, intact, consistent version-2 ack.
pub fn decode_ack(bytes: &[u8]) -> Option<Ack> {
    if bytes.len() != ACK_LEN || &bytes[..7] != ACK_MAGIC || bytes[7] != VERSION {
        return None;
    }
    let head = u64::from_le_bytes(bytes[8..16].try_into().ok()?);
    let next = u64::from_le_bytes(bytes[16..24].try_into().ok()?);
    let crc = u32::from_le_bytes(bytes[24..].try_into().ok()?);
    (crc32fast::hash(&bytes[..24]) == crc && head <= next).then_some(Ack { head, next })
}

/// A valid record found in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub off: u64,
    pub id: u64,
    pub len: u32,
}

impl Record {
    /// Where the next record starts.
    pub fn end(&self) -> u64 {
        self.off + RECORD_HEADER + self.len as u64
    }
}

/// Reads one segment through a window, checking every record. A file shorter than expected (or
/// gone) reads as damage, never as an I/O error that would stop delivery for good.
pub struct SegmentReader {
    file: Option<File>,
    win_start: u64,
    win: Vec<u8>,
}

impl SegmentReader {
    pub fn new(file: Option<File>) -> SegmentReader {
        SegmentReader {
            file,
            win_start: 0,
            win: Vec::new(),
        }
    }

    /// Up to `len` bytes at `off` (fewer at the end of the file), never past `end`.
    fn bytes(&mut self, off: u64, len: usize, end: u64) -> io::Result<&[u8]> {
        let len = len.min(end.saturating_sub(off) as usize);
        let have =
            off >= self.win_start && off + len as u64 <= self.win_start + self.win.len() as u64;
        if !have {
            let want = len.max(WINDOW).min(end.saturating_sub(off) as usize);
            self.win.clear();
            self.win.resize(want, 0);
            self.win_start = off;
            let mut got = 0;
            if let Some(f) = &self.file {
                while got < want {
                    match f.read_at(&mut self.win[got..], off + got as u64) {
                        Ok(0) => break,
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            self.win.truncate(got);
        }
        let from = (off - self.win_start) as usize;
        let to = (from + len).min(self.win.len());
        Ok(&self.win[from.min(to)..to])
    }

    /// The record starting exactly at `off`, if a whole, intact one does (ending by `end`).
    pub fn record_at(&mut self, off: u64, end: u64) -> io::Result<Option<Record>> {
        let h = self.bytes(off, RECORD_HEADER as usize, end)?;
        if h.len() < RECORD_HEADER as usize || h[..4] != MARK {
            return Ok(None);
        }
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let crc = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
        let id = u64::from_le_bytes([h[12], h[13], h[14], h[15], h[16], h[17], h[18], h[19]]);
        if len == 0 || len > MAX_RECORD || off + RECORD_HEADER + len as u64 > end {
            return Ok(None);
        }
        let payload = self.bytes(off + RECORD_HEADER, len as usize, end)?;
        if payload.len() != len as usize || checksum(len, id, payload) != crc {
            return Ok(None);
        }
        Ok(Some(Record { off, id, len }))
    }

    /// The payload of a record [`SegmentReader::record_at`] returned.
    pub fn payload(&mut self, rec: &Record) -> io::Result<&[u8]> {
        self.bytes(rec.off + RECORD_HEADER, rec.len as usize, rec.end())
    }

    /// The first intact record starting in `from..end`: where reading resumes after damage.
    pub fn resync(&mut self, from: u64, end: u64) -> io::Result<Option<Record>> {
        let mut off = from;
        while off + RECORD_HEADER <= end {
            let chunk = self.bytes(off, WINDOW, end)?;
            if chunk.len() < 4 {
                break;
            }
            // Only places that start with a mark are worth a checksum.
            let Some(i) = chunk.windows(4).position(|w| w == MARK) else {
                off += (chunk.len() - 3) as u64;
                continue;
            };
            if let Some(rec) = self.record_at(off + i as u64, end)? {
                return Ok(Some(rec));
            }
            off += i as u64 + 1;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_round_trips_and_any_flipped_bit_is_refused() {
        let ack = Ack {
            head: 0x0123_4567_89ab_cdef,
            next: 0x0123_4567_89ab_cdff,
        };
        let a = encode_ack(ack);
        assert_eq!(decode_ack(&a), Some(ack));
        for bit in 0..ACK_LEN * 8 {
            let mut b = a;
            b[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(decode_ack(&b), None, "bit {bit}");
        }
        assert_eq!(decode_ack(&a[..ACK_LEN - 1]), None);
        let backwards = encode_ack(Ack { head: 5, next: 4 });
        assert_eq!(decode_ack(&backwards), None);
    }
}
