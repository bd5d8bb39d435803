//! The spool directory's `lock`: one handle at a time, in this process and across processes.
//!
//! An flock belongs to the open file description, and a child the host spawns (a program
//! output, anything the host runs) shares every descriptor until it execs: a lock released by
//! a closing handle stays held for that long. So handles of this process are told apart by a
//! registry (a second handle fails at once, saying so), and a lock held by another process is
//! waited for up to [`LOCK_WAIT`] before init fails naming the wait.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::InitError;
use crate::sys;

/// How long a lock held outside this process's handles is waited for: a spawned child's copy
/// goes at its exec, a previous process's at its exit.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

/// (device, inode) of the lock files this process's open handles hold.
static HELD: Mutex<Option<HashSet<(u64, u64)>>> = Mutex::new(None);

fn held() -> std::sync::MutexGuard<'static, Option<HashSet<(u64, u64)>>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// The held lock; released (file closed, then the registry entry removed) on drop.
pub struct SpoolLock {
    file: Option<File>,
    id: (u64, u64),
}

impl SpoolLock {
    /// Takes `file` (the directory's opened `lock`) for this handle.
    pub fn acquire(file: File, dir: &Path, key: &str) -> Result<SpoolLock, InitError> {
        let err = |what: String| InitError::io(format!("{key} {}: {what}", dir.display()));
        let meta = file
            .metadata()
            .map_err(|e| err(format!("cannot stat its lock file: {e}")))?;
        let id = (meta.dev(), meta.ino());
        if !held().get_or_insert_with(HashSet::new).insert(id) {
            return Err(err(
                "used by another open handle of this process (one spool per handle; a handle \
                 whose close left its worker behind keeps it until that worker finishes)"
                    .into(),
            ));
        }
        // From here the registry entry is ours: `lock` removes it if the flock is not had.
        let lock = SpoolLock {
            file: Some(file),
            id,
        };
        let started = Instant::now();
        loop {
            let f = lock.file.as_ref().expect("set above");
            match sys::try_lock_exclusive(f) {
                Ok(true) => return Ok(lock),
                Ok(false) if started.elapsed() < LOCK_WAIT => std::thread::sleep(POLL),
                Ok(false) => {
                    return Err(err(format!(
                        "locked by another process for more than {} s (one process per spool_dir)",
                        LOCK_WAIT.as_secs()
                    )))
                }
                Err(e) => return Err(err(format!("cannot lock its lock file: {e}"))),
            }
        }
    }
}

impl Drop for SpoolLock {
    fn drop(&mut self) {
        // Closed first: while the entry is there, the flock is this handle's.
        drop(self.file.take());
        if let Some(set) = held().as_mut() {
            set.remove(&self.id);
        }
    }
}
