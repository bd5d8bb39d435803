//! Rotation of the file channel by the library (`file_output.rotate`): when to rotate, the
//! rotated files' names, how many are kept.
//!
//! Names are time-stamped, `events.json.20260712T103005.123456789Z` (UTC, the moment of the
//! rotation; `.gz` appended once compressed), never `.1 .2 ...`:
//! - a rotated file keeps its name for good, so the compressor can work on it while later
//!   rotations happen (with `.1 .2 ...` every rotation renames every file, under the
//!   compressor's feet), and a log shipper that follows names never sees an old file reappear
//!   under a new name;
//! - the names sort in the order of the rotations (they are made strictly increasing even when
//!   the clock steps back), so pruning is "keep the last `max_files` names";
//! - they never collide with logrotate's `.1 .2 ...` or `dateext` names, so an external
//!   logrotate can run on the same file (see docs/stdout-file.md).
//!
//! The live file is renamed with `RENAME_NOREPLACE`: no rotation ever overwrites a file.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::file_compress::{gz_name, Compressor};
use super::log_limit::LogLimit;
use super::ChannelCtx;
use crate::config::RotateConfig;
use crate::date::Civil;

/// `YYYYmmddTHHMMSS.nnnnnnnnnZ`
const STAMP_LEN: usize = 26;

pub struct Rotation {
    cfg: RotateConfig,
    path: PathBuf,
    /// When the library began the current file: its creation by a rotation, or the channel's
    /// start for a file that was there (its birth time is not portable).
    started: Instant,
    /// The last stamp used (ns since the epoch), so names only increase.
    last_ns: u128,
    mode: u32,
    compressor: Option<Compressor>,
    /// Rotated files found uncompressed at the start, for the compressor once it runs.
    backlog: Vec<PathBuf>,
    log_limit: LogLimit,
    failing: bool,
}

/// Why a file is rotated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Size,
    Age,
}

impl Rotation {
    /// Takes over what earlier runs left next to `path`: their newest stamp, the uncompressed
    /// rotated files (when `compress`), a temporary file of an interrupted compression.
    pub fn new(cfg: &RotateConfig, path: &Path, mode: u32) -> Rotation {
        let mut r = Rotation {
            cfg: cfg.clone(),
            path: path.to_path_buf(),
            started: Instant::now(),
            last_ns: 0,
            mode,
            compressor: None,
            backlog: Vec::new(),
            log_limit: LogLimit::every(Duration::from_secs(1)),
            failing: false,
        };
        let rotated = r.rotated_files();
        if let Some((stem, _)) = rotated.last() {
            r.last_ns = stamp_ns(stem).unwrap_or(0);
        }
        for (stem, kind) in rotated {
            let file = r.with_stamp(&stem);
            match kind {
                Kind::Tmp => {
                    let _ = std::fs::remove_file(gz_name(&file, ".gz.tmp"));
                }
                Kind::Plain if cfg.compress => r.backlog.push(file),
                _ => {}
            }
        }
        r
    }

    /// The bytes that may still be appended to a file of `size` bytes; None: no size limit.
    pub fn room(&self, size: u64) -> Option<u64> {
        (self.cfg.max_size > 0).then(|| self.cfg.max_size.saturating_sub(size))
    }

    /// Whether the current file is older than `max_age`.
    pub fn too_old(&self) -> bool {
        self.cfg.max_age_ms > 0
            && self.started.elapsed() >= Duration::from_millis(self.cfg.max_age_ms)
    }

    /// The file is new (created at a rotation or by the channel): its age starts now.
    pub fn restart_age(&mut self) {
        self.started = Instant::now();
    }

    /// Starts the compressor (it needs the channel's name): at the first write or tick.
    pub fn start(&mut self, ctx: &ChannelCtx) {
        if !self.cfg.compress || self.compressor.is_some() {
            return;
        }
        match Compressor::start(ctx.name, ctx.log.clone(), self.mode) {
            Ok(c) => {
                for f in self.backlog.drain(..) {
                    c.queue(f);
                }
                self.compressor = Some(c);
            }
            Err(e) => ctx.error(&format!("cannot start the compression thread: {e}")),
        }
    }

    /// Renames the live file to a new time-stamped name, prunes beyond `max_files`, queues
    /// the rotated file for compression. The caller opens a new live file by name.
    pub fn rotate(&mut self, size: u64, reason: Reason, ctx: &ChannelCtx) -> io::Result<()> {
        self.start(ctx);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut ns = now.max(self.last_ns + 1);
        let to = loop {
            let to = self.with_stamp(&stamp(ns));
            match crate::sys::rename_noreplace(&self.path, &to) {
                Ok(()) => break Ok(to),
                // Someone else's file has that name (or our compressed one): the next ns.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => ns += 1,
                Err(e) => break Err(e),
            }
        };
        let to = match to {
            Ok(to) => to,
            // The name is gone: someone else (logrotate) moved the file away and has not
            // created the new one yet. Not an error; the alerts go on into the moved file until
            // the new one appears (see `FileChannel::current_file`).
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    ctx.error(&format!(
                        "cannot rotate {}: {e}; alerts go on into it beyond the rotation limit",
                        self.path.display()
                    ));
                }
                ctx.write_error();
                return Err(e);
            }
        };
        if self.failing {
            self.failing = false;
            ctx.warning(&format!("rotating {} succeeds again", self.path.display()));
        }
        self.last_ns = ns;
        self.restart_age();
        crate::stats::ChannelStats::add(&ctx.stats.rotations, 1);
        let pruned = self.prune();
        if let Some(held_back) = self.log_limit.allow() {
            let why = match reason {
                Reason::Size => format!("max_size {} bytes", self.cfg.max_size),
                Reason::Age => format!("max_age {} ms", self.cfg.max_age_ms),
            };
            let more = match held_back {
                0 => String::new(),
                n => format!(" ({n} more rotations in the last second)"),
            };
            ctx.log.info(&format!(
                "{} output: rotated {} ({size} bytes, {why}) to {}{}{more}",
                ctx.name,
                self.path.display(),
                to.display(),
                if pruned > 0 {
                    format!("; removed the {pruned} oldest beyond max_files")
                } else {
                    String::new()
                },
            ));
        }
        if let Some(c) = &self.compressor {
            c.queue(to);
        }
        Ok(())
    }

    /// Removes the oldest rotated files beyond `max_files` (a file and its compressed copy are
    /// one rotated file). Returns how many were removed.
    fn prune(&self) -> usize {
        let rotated = self.rotated_files();
        let mut stems: Vec<&str> = rotated.iter().map(|(s, _)| s.as_str()).collect();
        stems.dedup();
        let excess = stems.len().saturating_sub(self.cfg.max_files as usize);
        for stem in &stems[..excess] {
            let file = self.with_stamp(stem);
            let _ = std::fs::remove_file(&file);
            let _ = std::fs::remove_file(gz_name(&file, ".gz"));
        }
        excess
    }

    /// `<path>.<stamp>`
    fn with_stamp(&self, stem: &str) -> PathBuf {
        let mut s: OsString = self.path.as_os_str().to_owned();
        s.push(".");
        s.push(stem);
        PathBuf::from(s)
    }

    /// The rotated files next to the live one, as (stamp, kind), sorted (oldest first).
    fn rotated_files(&self) -> Vec<(String, Kind)> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(base) = self.path.file_name() else {
            return Vec::new();
        };
        let mut prefix = base.as_bytes().to_vec();
        prefix.push(b'.');
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return found;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().into_vec();
            let Some(rest) = name.strip_prefix(prefix.as_slice()) else {
                continue;
            };
            let Ok(rest) = std::str::from_utf8(rest) else {
                continue;
            };
            let (stem, kind) = if let Some(s) = rest.strip_suffix(".gz.tmp") {
                (s, Kind::Tmp)
            } else if let Some(s) = rest.strip_suffix(".gz") {
                (s, Kind::Gz)
            } else {
                (rest, Kind::Plain)
            };
            if stamp_ns(stem).is_some() {
                found.push((stem.to_string(), kind));
            }
        }
        found.sort();
        found
    }

    /// Stops the compressor (what it did not reach is compressed at the next start).
    pub fn close(&mut self) {
        if let Some(mut c) = self.compressor.take() {
            c.stop();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Plain,
    Gz,
    Tmp,
}

/// `YYYYmmddTHHMMSS.nnnnnnnnnZ` of `ns` since the epoch, UTC.
fn stamp(ns: u128) -> String {
    let secs = (ns / 1_000_000_000) as i64;
    let c = Civil::from_unix(secs);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:09}Z",
        c.year.clamp(0, 9999),
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        ns % 1_000_000_000
    )
}

/// The inverse of [`stamp`]; None for any other text.
fn stamp_ns(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit())).then(|| t.parse().ok())?
    };
    if b.len() != STAMP_LEN || b[8] != b'T' || b[15] != b'.' || b[25] != b'Z' {
        return None;
    }
    let c = Civil {
        year: digits(0..4)? as i64,
        month: digits(4..6)? as u32,
        day: digits(6..8)? as u32,
        hour: digits(9..11)? as u32,
        minute: digits(11..13)? as u32,
        second: digits(13..15)? as u32,
    };
    let frac = digits(16..25)?;
    let secs = u128::try_from(c.to_unix()).ok()?;
    Some(secs * 1_000_000_000 + u128::from(frac))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_as_time_and_read_back() {
        let a = 1_783_852_205_123_456_789u128;
        assert_eq!(stamp(a), "20260712T103005.123456789Z");
        assert_eq!(stamp_ns(&stamp(a)), Some(a));
        assert!(stamp(a) < stamp(a + 1) && stamp(a + 1) < stamp(a + 1_000_000_000));
        for bad in [
            "1",
            "20260712T103005.123456789",
            "2026071xT103005.123456789Z",
            "1.gz",
        ] {
            assert_eq!(stamp_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn names_of_others_are_not_taken_for_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("e.log");
        for n in [
            "e.log",
            "e.log.1",
            "e.log.2.gz",
            "e.log-20260712",
            "other.log.20260712T103005.123456789Z",
            "e.log.20260712T103005.123456789Z",
            "e.log.20260712T103006.000000000Z.gz",
            "e.log.20260712T103007.000000000Z.gz.tmp",
        ] {
            std::fs::write(dir.path().join(n), "x\n").unwrap();
        }
        let cfg = RotateConfig {
            max_size: 10,
            compress: true,
            ..RotateConfig::default()
        };
        let r = Rotation::new(&cfg, &live, 0o600);
        // The interrupted compression's temporary file is gone; the plain one waits for the
        // compressor; the newest stamp is remembered.
        assert!(!dir
            .path()
            .join("e.log.20260712T103007.000000000Z.gz.tmp")
            .exists());
        assert_eq!(
            r.backlog,
            [dir.path().join("e.log.20260712T103005.123456789Z")]
        );
        assert_eq!(r.last_ns, stamp_ns("20260712T103007.000000000Z").unwrap());
        let stems: Vec<_> = r.rotated_files().into_iter().map(|(s, _)| s).collect();
        assert_eq!(
            stems,
            ["20260712T103005.123456789Z", "20260712T103006.000000000Z"]
        );
    }
}
