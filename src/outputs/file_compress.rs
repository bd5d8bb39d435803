//! gzip of rotated files (`file_output.rotate.compress`), on a thread of the file channel's own,
//! off the write path: the channel hands over a rotated file's path and goes on writing.
//!
//! `X` becomes `X.gz.tmp`, synced, renamed to `X.gz`, then `X` is removed. A failure (a full
//! disk) removes the temporary file and leaves `X` as it is: a rotated file is never lost for
//! want of compression. When `X` is pruned while it is being compressed, the work stops at the
//! next 64 KiB chunk (its space is freed then); when that happens after `X.gz` was made (the
//! removal of `X` finds it gone), `X.gz` is removed too, so pruning's bound holds. The newest
//! rotated file is compressed first. At close the thread stops between two
//! chunks, leaving `X` uncompressed; the channel compresses it at its next start.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::log::Logger;

pub struct Compressor {
    jobs: Option<Sender<PathBuf>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// `X` → `X.gz` (and `X.gz.tmp` while it is written).
pub fn gz_name(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Compressor {
    /// Starts the thread; `name` is the channel's, for log lines.
    pub fn start(name: &'static str, log: Logger, mode: u32) -> io::Result<Compressor> {
        let (jobs, rx) = channel::<PathBuf>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread =
            crate::signals::spawn_blocking_signals(format!("fo-gzip-{name}"), move || {
                let mut failing = false;
                let mut waiting: Vec<PathBuf> = Vec::new();
                loop {
                    // Newest first: in a burst the oldest are pruned before their turn comes, and
                    // need no work at all then.
                    waiting.extend(rx.try_iter());
                    let path = match waiting.pop() {
                        Some(p) => p,
                        None => match rx.recv() {
                            Ok(p) => p,
                            Err(_) => break,
                        },
                    };
                    if stopping.load(Ordering::Acquire) {
                        break;
                    }
                    match compress(&path, mode, &stopping) {
                        Ok(_) if failing => {
                            failing = false;
                            log.warning(&format!(
                                "{name} output: compressing rotated files succeeds again"
                            ));
                        }
                        Ok(_) => {}
                        Err(e) if !failing => {
                            failing = true;
                            log.error(&format!(
                            "{name} output: cannot compress {}: {e}; it stays uncompressed (and \
                             counts among max_files)",
                            path.display()
                        ));
                        }
                        Err(_) => {}
                    }
                }
            })?;
        Ok(Compressor {
            jobs: Some(jobs),
            stop,
            thread: Some(thread),
        })
    }

    pub fn queue(&self, path: PathBuf) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(path);
        }
    }

    /// Stops the thread between two chunks and waits for it (what was not compressed yet stays
    /// as it is, for the next start).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Compressor {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_unlinked(f: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    f.metadata().map_or(true, |m| m.nlink() == 0)
}

/// Compresses `path` to `path.gz`; Ok(false) when there was nothing to do (gone, or stopped).
fn compress(path: &Path, mode: u32, stop: &AtomicBool) -> io::Result<bool> {
    let mut src = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let tmp = gz_name(path, ".gz.tmp");
    let done = gz_name(path, ".gz");
    let result = (|| -> io::Result<bool> {
        let out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        let mut gz = GzEncoder::new(out, Compression::default());
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            // Stopped, or pruned meanwhile (no name left): give up, and free its space now
            // rather than after a compression nobody will keep.
            if stop.load(Ordering::Acquire) || is_unlinked(&src) {
                return Ok(false);
            }
            let n = match src.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            gz.write_all(&chunk[..n])?;
        }
        let out = gz.finish()?;
        out.sync_all()?;
        Ok(true)
    })();
    match result {
        Ok(true) => {}
        other => {
            let _ = std::fs::remove_file(&tmp);
            return other;
        }
    }
    std::fs::rename(&tmp, &done)?;
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        // Pruned while it was compressed: its compressed copy goes too.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let _ = std::fs::remove_file(&done);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_file_becomes_its_gzip_and_nothing_else_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log.1");
        let text = "line\n".repeat(10_000);
        std::fs::write(&path, &text).unwrap();
        assert!(compress(&path, 0o600, &AtomicBool::new(false)).unwrap());
        let mut back = String::new();
        flate2::read::GzDecoder::new(File::open(gz_name(&path, ".gz")).unwrap())
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, text);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["a.log.1.gz"]);
        // Gone already: nothing to do, nothing made.
        assert!(!compress(&path, 0o600, &AtomicBool::new(false)).unwrap());
    }

    #[test]
    fn stopped_leaves_the_file_uncompressed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log.1");
        std::fs::write(&path, "x\n").unwrap();
        assert!(!compress(&path, 0o600, &AtomicBool::new(true)).unwrap());
        assert!(path.exists());
        assert!(!gz_name(&path, ".gz.tmp").exists() && !gz_name(&path, ".gz").exists());
    }
}
