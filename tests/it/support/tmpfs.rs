//! A small tmpfs the test mounts itself (we run as root), to fill a disk for real.

use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// A mounted tmpfs; unmounted (lazily) when dropped.
pub struct Tmpfs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_bytes` on a fresh temporary directory. When the kernel refuses
    /// (not root, no CAP_SYS_ADMIN), says so and returns None, except under `CI=true` where
    /// the test fails instead of skipping.
    pub fn mount(size_bytes: usize) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = CString::new(dir.path().as_os_str().as_bytes()).unwrap();
        let opts = CString::new(format!("size={size_bytes},mode=0755")).unwrap();
        // SAFETY: NUL-terminated strings valid for the call.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                opts.as_ptr().cast(),
            )
        };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            let msg = format!(
                "cannot mount a tmpfs on {} ({e}): this test needs root",
                dir.path().display()
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return None;
        }
        Some(Tmpfs {
            path: dir.path().to_path_buf(),
            _dir: dir,
        })
    }

    /// Fills the file system with `name` until ENOSPC; returns the bytes written.
    pub fn fill(&self, name: &str) -> usize {
        let mut f = std::fs::File::create(self.path.join(name)).expect("create filler");
        let mut total = 0;
        for chunk in [4096usize, 1] {
            let buf = vec![b'f'; chunk];
            loop {
                match f.write(&buf) {
                    Ok(0) => break,
                    Ok(n) => total += n,
                    Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                    Err(e) => panic!("filling the tmpfs: {e}"),
                }
            }
        }
        total
    }

    /// Bytes in use on the file system (statvfs): what its files take, including files
    /// deleted but still open.
    pub fn used(&self) -> u64 {
        let target = CString::new(self.path.as_os_str().as_bytes()).unwrap();
        // SAFETY: statvfs is plain data, filled in by statvfs before it is read.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: a NUL-terminated path and a live out-parameter.
        let r = unsafe { libc::statvfs(target.as_ptr(), &mut st) };
        assert_eq!(r, 0, "statvfs {}", self.path.display());
        (st.f_blocks - st.f_bfree) * st.f_frsize
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = CString::new(self.path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}
