//! Spools left by the previous version (format 1: records `len: u32 LE, bytes` without checksum,
//! a 16-byte `head` of segment number and offset) are migrated when the spool is opened: their
//! unacknowledged records are rewritten as version-2 segments, so an upgrade keeps the alerts a
//! failing endpoint left on disk.
//!
//! Format 1 cannot tell damage from data, so migration trusts only what checks out: `head` is used
//! when it names the oldest segment and an offset where a record starts; otherwise every record
//! of the oldest segment is sent again (at least once) and the bad `head` is counted. A length of
//! zero, one over [`MAX_RECORD`] or one past the end of the file ends a segment: the rest is
//! counted as one damaged place and dropped (there is no checksum to find where records resume).
//!
//! Crash-safe: each segment is rewritten to `NNN.seg.tmp`, synced and renamed over itself; `head`
//! is removed last. An interrupted migration resumes at the next start, skipping the segments
//! already in format 2.

use std::io::{self, BufReader, BufWriter, Read, Write};

use super::dir::SpoolDir;
use super::format::{self, MAX_RECORD};
use super::seg_name;
use crate::log::Logger;

/// What a migration did.
#[derive(Default, Debug)]
pub struct Migrated {
    pub records: u64,
    pub segments: usize,
    /// Damaged places found (a bad `head`, a segment cut short).
    pub damaged: u64,
}

/// Whether `dir` holds a format-1 spool: only format 1 has a `head` file, and its segments
/// start with a format-1 record. Another program's `head` or `.seg` file is left alone.
pub fn present(dir: &SpoolDir, seqs: &[u64]) -> bool {
    dir.open_file("head", false, false).is_ok() && seqs.iter().any(|s| is_v1(dir, *s))
}

/// Whether segment `seq` starts with a plausible format-1 record (a length from 1 to
/// [`MAX_RECORD`] that fits in the file), and not with the version-2 header.
fn is_v1(dir: &SpoolDir, seq: u64) -> bool {
    let Ok(mut f) = dir.open_file(&seg_name(seq), false, false) else {
        return false;
    };
    let size = f.metadata().map_or(0, |m| m.len());
    let mut len = [0u8; 4];
    if f.read_exact(&mut len).is_err() || is_v2(dir, seq) {
        return false;
    }
    let len = u32::from_le_bytes(len);
    len > 0 && len <= MAX_RECORD && 4 + len as u64 <= size
}

/// Rewrites the format-1 segments among `seqs` (sorted), numbering records from `*next_id`.
/// `v2_last_id` gives the last record id of a segment already in format 2 (an earlier,
/// interrupted migration), so that numbering continues after it.
pub fn migrate(
    dir: &SpoolDir,
    seqs: &[u64],
    next_id: &mut u64,
    mut v2_last_id: impl FnMut(u64) -> io::Result<Option<u64>>,
    key: &str,
    log: &Logger,
) -> io::Result<Migrated> {
    let mut done = Migrated::default();
    let mut head = Vec::new();
    if let Ok(mut f) = dir.open_file("head", false, false) {
        let _ = f.read_to_end(&mut head);
    }
    let oldest_v1 = seqs.iter().copied().find(|s| is_v1(dir, *s));
    let mut start: Option<(u64, u64)> = None;
    if head.len() == 16 {
        let hseq = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        let hoff = u64::from_le_bytes(head[8..].try_into().unwrap_or_default());
        match oldest_v1 {
            Some(oldest) if hseq == oldest => start = Some((hseq, hoff)),
            // A crash between removing an acknowledged segment and rewriting `head`.
            Some(oldest) if hseq.checked_add(1) == Some(oldest) => {}
            None => {}
            Some(oldest) => {
                done.damaged += 1;
                log.error(&format!(
                    "{key}: the previous format's head names segment {hseq}, not the oldest ({}): head is damaged; resending that segment whole",
                    dir.path(&seg_name(oldest)).display()
                ));
            }
        }
    } else if !head.is_empty() {
        done.damaged += 1;
        log.error(&format!(
            "{key}: the previous format's head in {} is damaged ({} bytes, not 16); resending every segment whole",
            dir.display(),
            head.len()
        ));
    }

    for &seq in seqs {
        if !is_v1(dir, seq) {
            // Format 2 already (an interrupted migration), or not a spool file at all.
            if !is_v2(dir, seq) {
                continue;
            }
            if let Some(last) = v2_last_id(seq)? {
                *next_id = (*next_id).max(last + 1);
            }
            continue;
        }
        let from = start.filter(|(s, _)| *s == seq).map_or(0, |(_, off)| off);
        done.records += rewrite(dir, seq, from, next_id, key, log, &mut done.damaged)?;
        done.segments += 1;
    }
    dir.remove("head")?;
    Ok(done)
}

fn is_v2(dir: &SpoolDir, seq: u64) -> bool {
    let mut h = [0u8; 8];
    dir.open_file(&seg_name(seq), false, false)
        .and_then(|mut f| f.read_exact(&mut h))
        .is_ok_and(|_| h == format::segment_header())
}

/// Rewrites one format-1 segment from `from` (if it is where a record starts; else from 0).
fn rewrite(
    dir: &SpoolDir,
    seq: u64,
    from: u64,
    next_id: &mut u64,
    key: &str,
    log: &Logger,
    damaged: &mut u64,
) -> io::Result<u64> {
    let name = seg_name(seq);
    let path = dir.path(&name);
    let file = dir.open_file(&name, false, false)?;
    let size = file.metadata()?.len();
    let mut records = Vec::new();
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut off = 0u64;
    let mut from_is_a_record = from == 0;
    let mut cut = None;
    while off < size {
        let mut len = [0u8; 4];
        let len = if off + 4 <= size && r.read_exact(&mut len).is_ok() {
            u32::from_le_bytes(len)
        } else {
            0
        };
        if len == 0 || len > MAX_RECORD || off + 4 + len as u64 > size {
            cut = Some(off);
            break;
        }
        let mut payload = vec![0u8; len as usize];
        r.read_exact(&mut payload)?;
        if off == from {
            from_is_a_record = true;
        }
        records.push((off, payload));
        off += 4 + len as u64;
    }
    if from == off {
        from_is_a_record = true;
    }
    let from = if from_is_a_record {
        from
    } else {
        *damaged += 1;
        log.error(&format!(
            "{key}: the previous format's head points into the middle of a record of segment {} (byte {from}): head is damaged; resending that segment whole",
            path.display()
        ));
        0
    };
    if let Some(at) = cut {
        *damaged += 1;
        log.error(&format!(
            "{key}: segment {} (previous format): the {} bytes from byte {at} are not records (damaged, or a write cut by a crash); dropped",
            path.display(),
            size - at
        ));
    }

    let tmp = format!("{name}.tmp");
    // Removed at open if a crash left one; anything by that name now is not ours: create_new
    // fails rather than write through it.
    let file = dir.create_new(&tmp)?;
    let mut w = BufWriter::with_capacity(1 << 16, &file);
    w.write_all(&format::segment_header())?;
    let mut buf = Vec::new();
    let mut n = 0;
    for (_, payload) in records.iter().filter(|(o, _)| *o >= from) {
        buf.clear();
        format::encode(*next_id, payload, &mut buf);
        w.write_all(&buf)?;
        *next_id += 1;
        n += 1;
    }
    w.flush()?;
    drop(w);
    file.sync_data()?;
    dir.rename(&tmp, &name)?;
    Ok(n)
}
