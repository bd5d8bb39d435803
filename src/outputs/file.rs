//! The file channel: appends lines to `file_output.filename`.
//!
//! `keep_alive: false` opens, writes and closes for every batch (Falco does it per alert; a
//! batch is what one write carries). `keep_alive: true` holds the file open and reopens it by
//! name on `reopen` (SIGUSR1 after logrotate), and also when another file has taken the name or
//! the open file was deleted, so alerts never go to an unlinked inode.
//!
//! With `rotate` (an extension, `file_rotate.rs`), a batch is split at line boundaries so that
//! no file passes `max_size` in the middle of an alert: the alert that would cross it starts
//! the next file.

use std::fs::{File, OpenOptions, Permissions};
use std::io;
use std::io::Seek;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::fd::{account, write_all, ByteStream, LineBuffer};
use super::file_rotate::{Reason, Rotation};
use super::{Batch, Channel, ChannelCtx};
use crate::config::Config;
use crate::error::InitError;
use crate::log::Logger;

pub struct FileChannel {
    path: PathBuf,
    keep_alive: bool,
    mode: u32,
    /// The open file and its (device, inode), with keep_alive.
    file: Option<(File, (u64, u64))>,
    buffer: LineBuffer,
    failing: bool,
    rotation: Option<Rotation>,
}

impl FileChannel {
    pub fn open(cfg: &Config, _log: &Logger) -> Result<FileChannel, InitError> {
        let path = PathBuf::from(&cfg.file.filename);
        if path.as_os_str().as_bytes().contains(&0) {
            return Err(InitError::config(format!(
                "file_output.filename: {:?} contains a NUL byte",
                cfg.file.filename
            )));
        }
        let mut channel = FileChannel {
            path,
            keep_alive: cfg.file.keep_alive,
            mode: cfg.file.mode,
            file: None,
            buffer: LineBuffer::default(),
            failing: false,
            rotation: None,
        };
        // Open once now so that a missing directory or a permission problem is an init error.
        let file = channel.open_file().map_err(|e| {
            InitError::io(format!(
                "file_output.filename: cannot open {}: {e}",
                channel.path.display()
            ))
        })?;
        if channel.keep_alive {
            channel.file = Some(file);
        }
        if cfg.file.rotate.enabled() {
            channel.rotation = Some(Rotation::new(&cfg.file.rotate, &channel.path, channel.mode));
        }
        Ok(channel)
    }

    /// Opens for append, creating the file with exactly `mode` (not filtered by the umask).
    fn open_file(&self) -> io::Result<(File, (u64, u64))> {
        let mut options = OpenOptions::new();
        options.append(true).mode(self.mode);
        let created = options.clone().create_new(true).open(&self.path);
        let file = match created {
            Ok(file) => {
                // The umask filtered `mode` at creation: set it exactly.
                let _ = file.set_permissions(Permissions::from_mode(self.mode));
                file
            }
            // It exists (or is a symlink, which O_EXCL refuses even when its target is missing:
            // create the target then, as fopen("a") would).
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                options.create(true).open(&self.path)?
            }
            Err(e) => return Err(e),
        };
        let id = identity_of_fd(&file)?;
        Ok((file, id))
    }

    /// The kept-open file, reopened by name when the name now leads elsewhere.
    ///
    /// Followed: another file now has the name (logrotate's `create` made it), or the open
    /// file was deleted. Not followed: the name is merely gone (renamed away, the new file not
    /// created yet): the alerts keep going to the renamed file until a new one appears or
    /// `reopen` is called. Creating the file ourselves then would race with logrotate's own
    /// `create`, which can replace it and lose what was written in between.
    fn current_file(&mut self) -> io::Result<&File> {
        let stale = match &self.file {
            Some((f, id)) => match identity_of_path(&self.path) {
                Ok(current) => current != *id,
                Err(_) => is_deleted(f),
            },
            None => true,
        };
        if stale {
            self.file = None;
            self.file = Some(self.open_file()?);
        }
        match &self.file {
            Some((f, _)) => Ok(f),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }
}

/// A write cut short (disk full, quota, file size limit) may have left the first bytes of a
/// line at the end of the file, and the next line would be appended to them. Cuts the file back
/// to the end of the last whole line written, so that it only ever holds whole lines.
/// Returns how many bytes of whole lines stay written, and why a fragment could not be cut.
fn cut_partial_line(file: &File, written: &[u8]) -> (usize, Option<String>) {
    let whole = written
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let fragment = (written.len() - whole) as u64;
    if fragment == 0 {
        return (whole, None);
    }
    // With O_APPEND the offset is now the end of our write. Cut only if nothing was appended
    // after it by another writer: their bytes are not ours to remove.
    let cut = (|| -> io::Result<()> {
        let end = (&*file).stream_position()?;
        if file.metadata()?.len() != end || end < fragment {
            return Err(io::Error::other("another writer appended after it"));
        }
        file.set_len(end - fragment)
    })();
    let problem = cut.err().map(|e| {
        format!("a short write left a partial line of {fragment} bytes at the end of the file and it could not be removed ({e})")
    });
    (whole, problem)
}

/// The open file has no name left (or cannot even be inspected).
fn is_deleted(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    file.metadata().map_or(true, |m| m.nlink() == 0)
}

fn identity_of_fd(file: &File) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata()?;
    Ok((m.dev(), m.ino()))
}

fn identity_of_path(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

impl ByteStream for FileChannel {
    fn buffer(&mut self) -> &mut LineBuffer {
        &mut self.buffer
    }

    fn write(&mut self, bytes: &[u8], lines: usize, ctx: &ChannelCtx) {
        if self.rotation.is_none() {
            self.write_part(bytes, lines, ctx);
        } else {
            let (mut rest, mut left) = (bytes, lines);
            while left > 0 {
                let (len, n) = self.next_part(rest, ctx);
                let ok = self.write_part(&rest[..len], n, ctx);
                rest = &rest[len..];
                left -= n;
                if !ok {
                    // As without rotation: the rest of a failed write is failed too.
                    ctx.failed(left);
                    break;
                }
            }
        }
        // Without keep_alive the file is open for this write only.
        if !self.keep_alive {
            self.file = None;
        }
    }
}

impl FileChannel {
    /// The file to write to: kept open (and reopened by name when the name leads elsewhere),
    /// or opened for this write.
    fn file_for_write(&mut self) -> io::Result<&File> {
        if self.keep_alive {
            return self.current_file();
        }
        if self.file.is_none() {
            self.file = Some(self.open_file()?);
        }
        match &self.file {
            Some((f, _)) => Ok(f),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    /// With rotation: how much of `rest` (whole lines) goes into the current file, rotating it
    /// first when it is too old, or when not even the next line fits. A line longer than
    /// `max_size` goes alone into a fresh file. Returns (bytes, lines).
    fn next_part(&mut self, rest: &[u8], ctx: &ChannelCtx) -> (usize, usize) {
        let all = (rest.len(), count_lines(rest));
        let Some(size) = self.current_size() else {
            return all; // cannot open: write_part fails and accounts for it
        };
        let Some(rotation) = self.rotation.as_mut() else {
            return all;
        };
        rotation.start(ctx);
        let mut size = size;
        if size > 0 && rotation.too_old() {
            if !self.rotate(size, Reason::Age, ctx) {
                return all;
            }
            size = self.current_size().unwrap_or(0);
        }
        let Some(room) = self.rotation.as_ref().and_then(|r| r.room(size)) else {
            return all;
        };
        let fit = whole_lines_within(rest, room);
        if fit > 0 {
            return (fit, count_lines(&rest[..fit]));
        }
        if size > 0 {
            if !self.rotate(size, Reason::Size, ctx) {
                return all;
            }
            let size = self.current_size().unwrap_or(0);
            let room = self.rotation.as_ref().and_then(|r| r.room(size));
            let fit = whole_lines_within(rest, room.unwrap_or(u64::MAX));
            if fit > 0 {
                return (fit, count_lines(&rest[..fit]));
            }
        }
        // One line longer than max_size: alone, into a fresh file.
        let first = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        (first, 1)
    }

    fn current_size(&mut self) -> Option<u64> {
        let f = self.file_for_write().ok()?;
        f.metadata().ok().map(|m| m.len())
    }

    /// Rotates; false when the file could not be rotated (the alerts then go on into it).
    fn rotate(&mut self, size: u64, reason: Reason, ctx: &ChannelCtx) -> bool {
        let Some(rotation) = self.rotation.as_mut() else {
            return false;
        };
        match rotation.rotate(size, reason, ctx) {
            Ok(()) => {
                // The open file is the rotated one now: the next write opens a new one by name.
                self.file = None;
                true
            }
            Err(_) => false,
        }
    }

    /// Writes whole lines and accounts for them; false when the write failed.
    fn write_part(&mut self, bytes: &[u8], lines: usize, ctx: &ChannelCtx) -> bool {
        let result = match self.file_for_write() {
            Ok(f) => write_all(f.as_fd(), bytes).map_err(|(written, e)| {
                let (whole, problem) = cut_partial_line(f, &bytes[..written]);
                (whole, e, problem)
            }),
            Err(e) => Err((0, e, None)),
        };
        if let Err((_, _, Some(problem))) = &result {
            ctx.error(&format!("{}: {problem}", self.path.display()));
        }
        let result = result.map_err(|(whole, e, _)| (whole, e));
        account(ctx, bytes, lines, &result);
        match &result {
            Err((_, e)) => {
                // Start from a fresh open next time: the cause may be gone by then.
                self.file = None;
                if !self.failing {
                    self.failing = true;
                    ctx.error(&format!(
                        "cannot write to {}: {e}; alerts are counted as failed until it works again",
                        self.path.display()
                    ));
                }
                false
            }
            Ok(()) if self.failing => {
                self.failing = false;
                ctx.warning(&format!(
                    "writing to {} succeeds again",
                    self.path.display()
                ));
                true
            }
            Ok(()) => true,
        }
    }
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// The length of the longest run of whole lines at the start of `bytes` that is at most
/// `room` bytes long (0 when not even the first line fits).
fn whole_lines_within(bytes: &[u8], room: u64) -> usize {
    let limit = usize::try_from(room).unwrap_or(usize::MAX).min(bytes.len());
    bytes[..limit]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

impl Channel for FileChannel {
    fn writes_locally(&self) -> bool {
        true
    }

    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        self.deliver_batch(batch, ctx);
    }

    fn flush(&mut self, ctx: &ChannelCtx) {
        self.flush_buffer(ctx);
    }

    fn tick(&mut self, ctx: &ChannelCtx) {
        // max_age passes without alerts too: a file is not kept past it for want of a write.
        let Some(rotation) = self.rotation.as_mut() else {
            return;
        };
        rotation.start(ctx);
        if !rotation.too_old() {
            return;
        }
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if size > 0 {
            self.rotate(size, Reason::Age, ctx);
        }
        if !self.keep_alive {
            self.file = None;
        }
    }

    fn reopen(&mut self, _ctx: &ChannelCtx) {
        // The worker flushed first; the next write opens the file by name.
        self.file = None;
    }

    fn held(&self) -> usize {
        self.buffer.lines
    }

    fn close(&mut self, ctx: &ChannelCtx) {
        self.close_stream(ctx);
        self.file = None;
        if let Some(rotation) = self.rotation.as_mut() {
            rotation.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path) -> File {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn a_fragment_after_the_last_whole_line_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "old\n").unwrap();
        let mut f = append(&path);
        // What a short write left: one whole line and the start of the next.
        f.write_all(b"one\ntw").unwrap();
        assert_eq!(cut_partial_line(&f, b"one\ntw"), (4, None));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\none\n");
        // Nothing written, or only whole lines: nothing to cut.
        assert_eq!(cut_partial_line(&f, b""), (0, None));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\none\n");
    }

    #[test]
    fn bytes_another_writer_appended_are_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = append(&path);
        f.write_all(b"par").unwrap();
        append(&path).write_all(b"theirs\n").unwrap();
        let (whole, problem) = cut_partial_line(&f, b"par");
        assert_eq!(whole, 0);
        assert!(problem.unwrap().contains("another writer"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "partheirs\n");
    }
}
