//! The system calls std does not wrap, each behind a safe function: raw writes and polls on a
//! descriptor, the worker's eventfd, pipes for programs, reaping and signalling children, the
//! threads' signal mask, the host name, the spool's lock, a rename that never replaces, giving free memory back. A plain
//! libc call the crate needs lives here, next to the reason it is sound, so that the other
//! modules stay free of `unsafe`.

use std::ffi::c_int;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// -1 → the last OS error.
fn cvt(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// One write(2): how many bytes went out. Async-signal-safe.
pub fn write(fd: BorrowedFd<'_>, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: `bytes` is a live slice of `bytes.len()` readable bytes; `fd` is open (borrowed).
    let n = unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Waits up to `timeout` for `events` (`libc::POLLIN`, `libc::POLLOUT`) on `fd`; returns the
/// `revents` (0 on timeout; `POLLHUP`/`POLLERR` are reported whatever was asked). A timeout is
/// rounded up to whole milliseconds, so a short remainder never becomes a busy poll(0).
pub fn poll(fd: BorrowedFd<'_>, events: i16, timeout: Duration) -> io::Result<i16> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    let ms = timeout.as_micros().div_ceil(1000).min(c_int::MAX as u128) as c_int;
    // SAFETY: one initialised pollfd on the stack, and a count of 1.
    cvt(unsafe { libc::poll(&mut pfd, 1, ms) })?;
    Ok(pfd.revents)
}

/// A non-blocking, close-on-exec eventfd.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: no pointers; returns a new descriptor or -1.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds one to an eventfd's counter. Async-signal-safe: one write(2), no allocation, no lock.
/// A full counter (EAGAIN) already means "signalled", so errors are ignored.
pub fn eventfd_signal(fd: BorrowedFd<'_>) {
    let _ = write(fd, &1u64.to_ne_bytes());
}

/// Resets an eventfd's counter (nothing happens when it is zero: the fd is non-blocking).
pub fn eventfd_reset(fd: BorrowedFd<'_>) {
    let mut counter = [0u8; 8];
    // SAFETY: reads at most 8 bytes into a live 8-byte local buffer.
    unsafe { libc::read(fd.as_raw_fd(), counter.as_mut_ptr().cast(), counter.len()) };
}

/// A pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the two-element array.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both are fresh descriptors nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A close-on-exec duplicate of `fd` numbered `min` or above.
pub fn dup_at_least(fd: BorrowedFd<'_>, min: c_int) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int and returns a new descriptor or -1.
    let new = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: `new` is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Makes writes and reads on `fd` return EAGAIN instead of blocking.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL takes no argument.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: F_SETFL takes an int.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// Bytes written to a pipe that no process has read yet (FIONREAD; Linux answers it on either
/// end, and still after the reader died).
pub fn unread_bytes(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: c_int = 0;
    // SAFETY: FIONREAD writes one int into `n`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) })?;
    Ok(n.max(0) as usize)
}

/// Bytes a socket holds that its peer has not acknowledged (TIOCOUTQ / SIOCOUTQ).
pub fn unsent_bytes(fd: BorrowedFd<'_>) -> io::Result<usize> {
    let mut n: c_int = 0;
    // SAFETY: TIOCOUTQ writes one int into `n`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut n) })?;
    Ok(n.max(0) as usize)
}

/// `waitpid(pid, WNOHANG)`: `Ok(None)` while the child runs, `Ok(Some(status))` once reaped.
pub fn try_wait(pid: libc::pid_t) -> io::Result<Option<c_int>> {
    let mut status: c_int = 0;
    // SAFETY: waitpid writes one int into `status`.
    let r = cvt(unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) })?;
    Ok((r == pid).then_some(status))
}

/// True once the child has exited (or is not ours any more), without reaping it
/// (`waitid(WNOWAIT)`).
pub fn has_exited(pid: libc::pid_t) -> bool {
    // SAFETY: siginfo_t is plain data; waitid fills it in (si_pid stays 0 while the child runs).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: one siginfo_t on the stack for waitid to write.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: reading si_pid of a siginfo_t that waitid filled in (or left zeroed).
    r != 0 || unsafe { info.si_pid() } != 0
}

/// kill(2).
pub fn kill(pid: libc::pid_t, sig: c_int) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Asks glibc to give free heap memory back to the system (`malloc_trim`); nothing elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; no live allocation is affected.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Every blockable signal but the synchronous fault signals (blocking those would turn a crash
/// into undefined behaviour).
fn all_but_faults() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigfillset initialises it before sigdelset reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGABRT,
        ] {
            libc::sigdelset(&mut set, sig);
        }
        set
    }
}

/// Runs `f` with every signal but the fault signals blocked in this thread, then restores the
/// thread's mask. Threads spawned by `f` inherit the blocked mask.
pub fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    let all = all_but_faults();
    // SAFETY: sigset_t is plain data, filled in by pthread_sigmask before it is read.
    let mut previous: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both sets are live locals; SIG_SETMASK with a valid set cannot fail.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous) };
    let out = f();
    // SAFETY: restores the mask read above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut()) };
    out
}

/// An exclusive flock on `file` without waiting: false when another holder has it.
pub fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    // SAFETY: no pointers; `file` is open.
    match cvt(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

/// rename(2) that never replaces: fails with `AlreadyExists` when `to` exists (a rotated file
/// must never overwrite another one, whoever made it).
pub fn rename_noreplace(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &std::path::Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both are NUL-terminated strings that live across the call.
    cvt(unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    })
    .map(drop)
}

/// Whether `sig` is blocked in the calling thread.
#[cfg(test)]
pub fn signal_blocked(sig: c_int) -> bool {
    // SAFETY: sigset_t is plain data, filled in by pthread_sigmask before sigismember reads it;
    // a null new set only queries.
    unsafe {
        let mut current: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut current);
        libc::sigismember(&current, sig) == 1
    }
}

/// The process's effective user id.
pub fn euid() -> u32 {
    // SAFETY: no pointers; geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Opens `name` inside the directory `dir` (openat(2)) without following a symbolic link
/// (`O_NOFOLLOW`: a link is `ELOOP`), close-on-exec; `flags` adds the access mode and
/// `O_CREAT`/`O_EXCL`, `mode` is for a file it creates.
pub fn open_in(
    dir: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    flags: c_int,
    mode: libc::mode_t,
) -> io::Result<File> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: `name` is a NUL-terminated string that outlives the call; `dir` is open.
    let fd = cvt(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode as c_int) })?;
    // SAFETY: `fd` is a fresh descriptor nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Removes the directory entry `name` inside `dir` (unlinkat(2): a link itself, never what it
/// points to).
pub fn remove_in(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: `name` is a NUL-terminated string that outlives the call; `dir` is open.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

/// Renames `from` to `to`, both inside `dir` (renameat(2)).
pub fn rename_in(
    dir: BorrowedFd<'_>,
    from: &std::ffi::CStr,
    to: &std::ffi::CStr,
) -> io::Result<()> {
    let d = dir.as_raw_fd();
    // SAFETY: both names are NUL-terminated strings that outlive the call; `dir` is open.
    cvt(unsafe { libc::renameat(d, from.as_ptr(), d, to.as_ptr()) }).map(drop)
}

/// The descriptors open in this process, listed from /proc/self/fd.
pub fn open_fds() -> Vec<c_int> {
    let listed: Vec<c_int> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // Without the listing's own descriptor (closed now): the next fd opened may take its number.
    listed
        .into_iter()
        // SAFETY: F_GETFD takes no argument; a closed descriptor gives -1.
        .filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0)
        .collect()
}

/// Marks close-on-exec every Unix-domain socket open now but not in `before` (an
/// [`open_fds`] listing) that is not already; returns how many it marked. For the sockets a
/// library makes without close-on-exec (libcurl 7.88's socketpair) right after the call that
/// made them.
pub fn cloexec_new_unix_sockets(before: &[c_int]) -> usize {
    let mut marked = 0;
    for fd in open_fds().into_iter().filter(|fd| !before.contains(fd)) {
        // SAFETY: F_GETFD takes no argument; a descriptor closed meanwhile gives -1.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 || flags & libc::FD_CLOEXEC != 0 {
            continue;
        }
        let mut domain: c_int = 0;
        let mut len = std::mem::size_of::<c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into the int `domain`.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_DOMAIN,
                (&mut domain as *mut c_int).cast(),
                &mut len,
            )
        };
        if r != 0 || domain != libc::AF_UNIX {
            continue;
        }
        // SAFETY: F_SETFD takes an int.
        if unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } == 0 {
            marked += 1;
        }
    }
    marked
}

/// gethostname(2), as bytes.
pub fn hostname() -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    cvt(unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) })?;
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(buf[..len].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_pipe_carries_bytes_and_reports_what_is_unread() {
        let (r, w) = pipe().unwrap();
        assert_eq!(poll(r.as_fd(), libc::POLLIN, Duration::ZERO).unwrap(), 0);
        assert_eq!(write(w.as_fd(), b"abc").unwrap(), 3);
        assert_eq!(
            poll(r.as_fd(), libc::POLLIN, Duration::ZERO).unwrap(),
            libc::POLLIN
        );
        assert_eq!(unread_bytes(w.as_fd()).unwrap(), 3);
        set_nonblocking(w.as_fd()).unwrap();
        let high = dup_at_least(r.as_fd(), 100).unwrap();
        assert!(high.as_raw_fd() >= 100);
    }

    #[test]
    fn an_eventfd_is_signalled_until_reset() {
        let fd = eventfd().unwrap();
        assert_eq!(poll(fd.as_fd(), libc::POLLIN, Duration::ZERO).unwrap(), 0);
        eventfd_signal(fd.as_fd());
        eventfd_signal(fd.as_fd());
        assert_eq!(
            poll(fd.as_fd(), libc::POLLIN, Duration::ZERO).unwrap(),
            libc::POLLIN
        );
        eventfd_reset(fd.as_fd());
        assert_eq!(poll(fd.as_fd(), libc::POLLIN, Duration::ZERO).unwrap(), 0);
    }

    #[test]
    fn a_second_lock_on_the_same_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let a = File::create(&path).unwrap();
        let b = File::open(&path).unwrap();
        assert!(try_lock_exclusive(&a).unwrap());
        assert!(!try_lock_exclusive(&b).unwrap());
    }

    #[test]
    fn signals_are_blocked_inside_and_restored_after() {
        let before = signal_blocked(libc::SIGUSR1);
        let inside =
            with_signals_blocked(|| (signal_blocked(libc::SIGUSR1), signal_blocked(libc::SIGSEGV)));
        assert_eq!(inside, (true, false));
        assert_eq!(signal_blocked(libc::SIGUSR1), before);
    }
}
