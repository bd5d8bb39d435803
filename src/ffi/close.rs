//! falco_outputs_close(): draining, stopping the workers, and the handle's tombstone.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::error::Timeout;
use crate::panic::guard;

use super::calls::*;
use super::types::falco_outputs_result::*;
use super::types::*;

/// Drains (up to timeout_ms; 0 = the configured output_timeout), flushes, stops the workers,
/// closes every channel and frees them. ERR_TIMEOUT if anything had to be discarded
/// (discarded alerts are counted and logged). The handle is closed afterwards either way.
///
/// output_timeout is falco.yaml's key (2000 ms by default). On a timeout, a channel thread
/// stuck in a system call (a hung program, a dead NFS file) is left behind rather than
/// blocking the host: it finishes (or fails) the one write it is in, writes nothing after
/// it, and never calls the log callback again. Close's log line says how many alerts such a
/// thread still held; the descriptor or child program it holds is released when its system
/// call returns.
///
/// Racing calls are safe. From the moment close starts, falco_outputs_emit(),
/// falco_outputs_emit_msg(), falco_outputs_flush(), falco_outputs_get_stats() on other
/// threads return FALCO_OUTPUTS_ERR_CLOSED, falco_outputs_stats_json() and
/// falco_outputs_metrics_text() return 0, and falco_outputs_reopen() does nothing (also from
/// a signal handler). A call already inside the library when close starts is waited for (a
/// flush waiting for delivery returns ERR_CLOSED at once); every emit that returned OK is then
/// delivered, or discarded at the deadline and counted in close's log line. None of them
/// touches freed memory: close keeps the handle's own 24 bytes for the life of the process,
/// so even a call made after close returned gets ERR_CLOSED (close itself too).
///
/// What the host must still guarantee after close returns: nothing about the handle except
/// that it is a pointer falco_outputs_init() returned (the 24 bytes are never reused for
/// another handle). log_userdata may be freed once close returns (the callback is never
/// called again). Each handle closed costs those 24 bytes until the process exits.
///
/// Pointers: `outputs` is NULL or a handle from falco_outputs_init(), open or closed.
/// Threads: any thread, concurrently with any call on the handle. Not async-signal-safe (it
/// blocks).
///
/// Returns:
/// - FALCO_OUTPUTS_OK: every queued alert was delivered or failed (see the log); all closed.
/// - FALCO_OUTPUTS_ERR_TIMEOUT: the deadline passed; what was still queued was discarded,
///   counted and logged. The handle is closed all the same.
/// - FALCO_OUTPUTS_ERR_CLOSED: another close started first; this one did nothing.
/// - FALCO_OUTPUTS_ERR_NULL_ARGUMENT: outputs is NULL; nothing happened.
/// - FALCO_OUTPUTS_ERR_INTERNAL: a bug was caught; the handle is closed all the same.
#[no_mangle]
pub unsafe extern "C" fn falco_outputs_close(
    outputs: *mut falco_outputs,
    timeout_ms: u32,
) -> falco_outputs_result {
    // SAFETY: the caller's contract: `outputs` is NULL or a handle from init, whose shell is
    // never freed.
    let Some(shell) = (unsafe { outputs.as_ref() }) else {
        return FALCO_OUTPUTS_ERR_NULL_ARGUMENT;
    };
    if shell.closing.swap(true, Ordering::SeqCst) {
        return FALCO_OUTPUTS_ERR_CLOSED;
    }
    let inner = shell.inner.load(Ordering::Acquire);
    // SAFETY: `closing` was ours to set, so nobody else frees `inner`; racing calls hold it
    // only while counted in `calls`.
    unsafe { (*inner).begin_close() };
    // Calls already admitted finish in microseconds (a flush returns at once on closing).
    while shell.calls.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
    shell.inner.store(std::ptr::null_mut(), Ordering::Release);
    // SAFETY: made by Box::into_raw in init; no call holds it any more and none can take it.
    let outputs_box = unsafe { Box::from_raw(inner) };
    let result = guard(FALCO_OUTPUTS_ERR_INTERNAL, move || {
        let timeout = (timeout_ms != 0).then(|| Duration::from_millis(timeout_ms.into()));
        match outputs_box.close(timeout) {
            Ok(()) => FALCO_OUTPUTS_OK,
            Err(Timeout) => FALCO_OUTPUTS_ERR_TIMEOUT,
        }
    });
    // SAFETY: made by Box::into_raw in init and never freed: from here on it is a tombstone.
    let shell: &'static falco_outputs = unsafe { &*outputs };
    if let Ok(mut shells) = CLOSED_SHELLS.lock() {
        shells.push(shell);
    }
    result
}
