//! How the pipeline's threads sleep: on an eventfd rather than a condition variable, because
//! `reopen` must be able to wake a worker from a signal handler, and write(2) is
//! async-signal-safe.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use crate::sys;

/// An eventfd: `wake` is async-signal-safe, `wait` sleeps until woken or timed out.
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        Ok(Waker {
            fd: sys::eventfd()?,
        })
    }

    /// Async-signal-safe: one write(2), no allocation, no lock. A full counter (EAGAIN) already
    /// means "woken".
    pub fn wake(&self) {
        sys::eventfd_signal(self.fd.as_fd());
    }

    /// Sleeps until `wake` or the timeout (rounded up to whole milliseconds: a 0.5 ms
    /// remainder must not become a busy poll(0)), then resets the counter.
    pub fn wait(&self, timeout: Duration) {
        // A timeout leaves nothing to reset: one system call fewer per timer tick.
        if !matches!(sys::poll(self.fd.as_fd(), libc::POLLIN, timeout), Ok(0)) {
            sys::eventfd_reset(self.fd.as_fd());
        }
    }
}

#[cfg(test)]
impl Waker {
    /// A wake-up is pending (the next `wait` returns at once); consumes nothing.
    pub fn is_signalled(&self) -> bool {
        sys::poll(self.fd.as_fd(), libc::POLLIN, Duration::ZERO).unwrap() != 0
    }
}
