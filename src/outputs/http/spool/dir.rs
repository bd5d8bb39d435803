//! The spool's directory, held open: every file in it is opened relative to the directory's
//! descriptor, never following a symbolic link (CWE-59), so that renaming or replacing a path
//! component after init changes nothing, and a link planted as `ack` or as a segment is refused
//! instead of written through. At open the directory must be owned by the process's user and
//! not writable by group or others (nobody else may add, remove or replace entries); a missing
//! one is created with mode 0700.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::InitError;
use crate::sys;

pub struct SpoolDir {
    fd: File,
    path: PathBuf,
}

impl SpoolDir {
    /// Opens (creating it 0700 when missing) and checks the directory `path`; `key` names the
    /// setting in errors.
    pub fn open(path: &Path, key: &str) -> Result<SpoolDir, InitError> {
        let err = |what: String| InitError::io(format!("{key} {}: {what}", path.display()));
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|e| err(format!("cannot create it: {e}")))?,
            Err(e) => return Err(err(format!("cannot look at it: {e}"))),
            // A link made by another user (in /tmp, say) must not choose the directory.
            Ok(m) if m.file_type().is_symlink() && m.uid() != sys::euid() && m.uid() != 0 => {
                return Err(err(format!(
                    "is a symbolic link owned by uid {}, neither this process's user (uid {}) \
                     nor root: not followed",
                    m.uid(),
                    sys::euid()
                )))
            }
            Ok(_) => {}
        }
        let fd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| err(format!("cannot open it as a directory: {e}")))?;
        let m = fd
            .metadata()
            .map_err(|e| err(format!("cannot stat it: {e}")))?;
        if m.uid() != sys::euid() {
            return Err(err(format!(
                "is owned by uid {}, not by this process's user (uid {}): another user could \
                 plant links or files in it; use a directory of this user's",
                m.uid(),
                sys::euid()
            )));
        }
        if m.mode() & 0o022 != 0 {
            return Err(err(format!(
                "is writable by group or others (mode {:04o}): another user could plant links \
                 or files in it; `chmod go-w` it or use another directory",
                m.mode() & 0o7777
            )));
        }
        Ok(SpoolDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Where `name` is, for messages.
    pub fn path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn display(&self) -> std::path::Display<'_> {
        self.path.display()
    }

    fn c(name: &str) -> io::Result<CString> {
        CString::new(name).map_err(|_| io::Error::other("a NUL byte in a spool file name"))
    }

    /// Opens an existing regular file (`write`: read and write), or creates it 0600 when
    /// `create`. A symbolic link, anything but a regular file, or a file with other hard links
    /// is refused.
    pub fn open_file(&self, name: &str, write: bool, create: bool) -> io::Result<File> {
        let mut flags = if write { libc::O_RDWR } else { libc::O_RDONLY };
        if create {
            flags |= libc::O_CREAT;
        }
        // O_NONBLOCK: a FIFO planted under the name must not block the open.
        let f = sys::open_in(
            self.fd.as_fd(),
            &Self::c(name)?,
            flags | libc::O_NONBLOCK,
            0o600,
        )
        .map_err(|e| refused_link(name, e))?;
        let m = f.metadata()?;
        if !m.file_type().is_file() {
            return Err(io::Error::other(format!("{name} is not a regular file")));
        }
        if m.nlink() > 1 {
            return Err(io::Error::other(format!(
                "{name} has {} hard links (a spool file has one)",
                m.nlink()
            )));
        }
        Ok(f)
    }

    /// Creates `name` 0600; fails if anything by that name exists (`O_EXCL`).
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
        sys::open_in(self.fd.as_fd(), &Self::c(name)?, flags, 0o600)
            .map_err(|e| refused_link(name, e))
    }

    /// Removes the entry `name` (a link itself, never its target).
    pub fn remove(&self, name: &str) -> io::Result<()> {
        sys::remove_in(self.fd.as_fd(), &Self::c(name)?)
    }

    pub fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        sys::rename_in(self.fd.as_fd(), &Self::c(from)?, &Self::c(to)?)
    }

    /// The names of the directory's entries (listed through the held descriptor).
    pub fn names(&self) -> io::Result<Vec<String>> {
        use std::os::fd::AsRawFd;
        let mut out = Vec::new();
        for e in fs::read_dir(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))? {
            out.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }
}

fn refused_link(name: &str, e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::other(format!(
            "{name} is a symbolic link: the spool never follows one (remove it)"
        ))
    } else {
        e
    }
}
