//! falco_outputs_reopen() and falco_outputs_flush(). Close is `close.rs` (the header lists it after the statistics).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::error::Timeout;
use crate::panic::guard;

use super::calls::*;
use super::types::falco_outputs_result::*;
use super::types::*;

/// Asks every channel to close and reopen (file: reopen by name; program: respawn).
/// Async-signal-safe: may be called from the host's SIGUSR1 handler. Never blocks. Repeated
/// calls coalesce. Every alert emitted after this call returns is written to the reopened
/// file/program.
///
/// This is what log rotation needs (logrotate renames the file, then signals the host). It
/// only sets a flag per channel and wakes its thread with one write(2); the reopen itself
/// happens on the channel's thread. Syslog drops its connection and connects afresh (e.g.
/// after the daemon restarted); stdout and HTTP ignore it.
///
/// Pointers: `outputs` is NULL or a handle from falco_outputs_init(), open or closed (once
/// falco_outputs_close() has started, nothing happens). Threads: any thread, any signal
/// handler, concurrently with every call. No result: the file is opened again by the channel's
/// next write, and a failure there is reported like any write failure (log callback,
/// statistics).
#[no_mangle]
pub unsafe extern "C" fn falco_outputs_reopen(outputs: *mut falco_outputs) {
    // No panic guard: nothing here can panic (atomics and write(2)), and catch_unwind is not
    // something to run inside a signal handler.
    // SAFETY: the caller's contract: `outputs` is NULL or a handle from init.
    if let Ok(handle) = unsafe { enter(outputs) } {
        handle.outputs.reopen();
    }
}

/// Blocks until everything emitted before the call is delivered (or failed) and every buffer
/// is flushed to the OS, or until timeout_ms passes (FALCO_OUTPUTS_ERR_TIMEOUT).
///
/// timeout_ms 0 does not wait: it only reports whether everything is already settled.
/// Alerts emitted by other threads during the call are not waited for.
///
/// Pointers: `outputs` is a handle from falco_outputs_init(), open or closed. Threads: any
/// thread, concurrently with every call, falco_outputs_close() included; several threads may
/// flush at once. Not async-signal-safe (it blocks).
///
/// Returns:
/// - FALCO_OUTPUTS_OK: every alert emitted before the call is delivered, failed or dropped
///   (see the statistics), and written to the OS.
/// - FALCO_OUTPUTS_ERR_TIMEOUT: some channel had not settled by the deadline; nothing is lost,
///   it keeps delivering.
/// - FALCO_OUTPUTS_ERR_CLOSED: falco_outputs_close() started (before or during the wait).
/// - FALCO_OUTPUTS_ERR_NULL_ARGUMENT: outputs is NULL.
/// - FALCO_OUTPUTS_ERR_INTERNAL: a bug was caught.
#[no_mangle]
pub unsafe extern "C" fn falco_outputs_flush(
    outputs: *mut falco_outputs,
    timeout_ms: u32,
) -> falco_outputs_result {
    guard(FALCO_OUTPUTS_ERR_INTERNAL, || {
        // SAFETY: the caller's contract: `outputs` is NULL or a handle from init.
        match unsafe { enter(outputs) } {
            Err(e) => e,
            Ok(h) => match h.outputs.flush(Duration::from_millis(timeout_ms.into())) {
                Ok(()) => FALCO_OUTPUTS_OK,
                // Close began while this flush waited: it returned early, close does the rest.
                Err(Timeout) if h.shell.closing.load(Ordering::Acquire) => FALCO_OUTPUTS_ERR_CLOSED,
                Err(Timeout) => FALCO_OUTPUTS_ERR_TIMEOUT,
            },
        }
    })
}
