//! Library threads block the signals a host handles, so the host's handlers (SIGUSR1, SIGINT,
//! SIGTERM...) always run on host threads and a dead pipe reader is an EPIPE, never a kill.

use std::io;
use std::thread::{Builder, JoinHandle};

/// Spawns a thread that starts with every blockable signal blocked, except the synchronous
/// fault signals (blocking those would turn a crash into undefined behaviour).
///
/// The mask is set in the spawning thread around `spawn` so that the new thread never runs a
/// single instruction with signals unblocked.
pub fn spawn_blocking_signals<F>(name: String, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    // SAFETY: plain libc signal-set manipulation on local storage.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGFPE,
            libc::SIGILL,
            libc::SIGABRT,
        ] {
            libc::sigdelset(&mut all, sig);
        }
        let mut previous: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut previous);
        let spawned = Builder::new().name(name).spawn(f);
        libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
        spawned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked_in_this_thread(sig: i32) -> bool {
        unsafe {
            let mut current: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut current);
            libc::sigismember(&current, sig) == 1
        }
    }

    #[test]
    fn spawned_thread_blocks_host_signals_and_caller_is_unchanged() {
        let before = blocked_in_this_thread(libc::SIGUSR1);
        let handle = spawn_blocking_signals("t".into(), || {
            for sig in [
                libc::SIGUSR1,
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGPIPE,
                libc::SIGHUP,
            ] {
                assert!(blocked_in_this_thread(sig), "signal {sig} not blocked");
            }
            assert!(!blocked_in_this_thread(libc::SIGSEGV));
        })
        .unwrap();
        handle.join().unwrap();
        assert_eq!(blocked_in_this_thread(libc::SIGUSR1), before);
    }
}
