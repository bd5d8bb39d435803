//! Library threads block the signals a host handles, so the host's handlers (SIGUSR1, SIGINT,
//! SIGTERM...) always run on host threads and a dead pipe reader is an EPIPE, never a kill.

use std::io;
use std::thread::{Builder, JoinHandle};

use crate::sys;

/// Spawns a thread that starts with every blockable signal blocked, except the synchronous
/// fault signals (blocking those would turn a crash into undefined behaviour).
///
/// The mask is set in the spawning thread around `spawn` so that the new thread never runs a
/// single instruction with signals unblocked.
pub fn spawn_blocking_signals<F>(name: String, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    sys::with_signals_blocked(|| Builder::new().name(name).spawn(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawned_thread_blocks_host_signals_and_caller_is_unchanged() {
        let before = sys::signal_blocked(libc::SIGUSR1);
        let handle = spawn_blocking_signals("t".into(), || {
            for sig in [
                libc::SIGUSR1,
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGPIPE,
                libc::SIGHUP,
            ] {
                assert!(sys::signal_blocked(sig), "signal {sig} not blocked");
            }
            assert!(!sys::signal_blocked(libc::SIGSEGV));
        })
        .unwrap();
        handle.join().unwrap();
        assert_eq!(sys::signal_blocked(libc::SIGUSR1), before);
    }
}
