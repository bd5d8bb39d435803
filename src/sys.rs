//! The system calls std does not wrap, each behind a safe function: a raw write on a
//! descriptor, the threads' signal mask, the host name. A plain libc call the crate needs lives
//! here, next to the reason it is sound, so that the other modules stay free of `unsafe`.

use std::ffi::c_int;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

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

    #[test]
    fn signals_are_blocked_inside_and_restored_after() {
        let before = signal_blocked(libc::SIGUSR1);
        let inside =
            with_signals_blocked(|| (signal_blocked(libc::SIGUSR1), signal_blocked(libc::SIGSEGV)));
        assert_eq!(inside, (true, false));
        assert_eq!(signal_blocked(libc::SIGUSR1), before);
    }
}
