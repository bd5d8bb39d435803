//! falco_outputs_get_stats(), falco_outputs_stats_json(), falco_outputs_metrics_text(): the counters.

use std::ffi::c_char;

use crate::handle::Outputs;
use crate::panic::guard;
use crate::stats;

use super::calls::*;
use super::types::falco_outputs_result::*;
use super::types::*;

/// Totals over every channel (see falco_outputs_stats).
///
/// Each counter is read atomically, but while alerts flow the set is not one instant's
/// snapshot: `pending` and the others may disagree by the alerts in flight.
///
/// Pointers: `outputs` is a handle from falco_outputs_init(), open or closed; `out` is the
/// caller's struct, fully written on success. Threads: any thread, concurrently with every
/// call, falco_outputs_close() included. Not async-signal-safe.
///
/// Returns FALCO_OUTPUTS_OK, FALCO_OUTPUTS_ERR_NULL_ARGUMENT (outputs or out is NULL; *out
/// untouched), FALCO_OUTPUTS_ERR_CLOSED (falco_outputs_close() started; *out untouched) or
/// FALCO_OUTPUTS_ERR_INTERNAL (a bug was caught).
#[no_mangle]
pub unsafe extern "C" fn falco_outputs_get_stats(
    outputs: *const falco_outputs,
    out: *mut falco_outputs_stats,
) -> falco_outputs_result {
    guard(FALCO_OUTPUTS_ERR_INTERNAL, || {
        if out.is_null() {
            return FALCO_OUTPUTS_ERR_NULL_ARGUMENT;
        }
        // SAFETY: the caller's contract: `outputs` is NULL or a handle from init.
        let o = match unsafe { enter(outputs) } {
            Ok(h) => h,
            Err(e) => return e,
        };
        let t = stats::totals(o.outputs.accepted(), &o.outputs.stats());
        // SAFETY: `out` is non-NULL and, by the caller's contract, a writable
        // falco_outputs_stats (plain integers: no old value to drop).
        unsafe {
            *out = falco_outputs_stats {
                accepted: t.accepted,
                dropped: t.dropped,
                delivered: t.delivered,
                failed: t.failed,
                filtered: t.filtered,
                pending: t.pending,
            }
        };
        FALCO_OUTPUTS_OK
    })
}

/// Per-channel statistics as one JSON object, snprintf-style: writes at most buf_len bytes
/// (NUL included) and returns the length the whole text needs, without the NUL.
///
/// The object holds the totals of falco_outputs_stats and, under "channels", each enabled
/// channel's own counters by name ("file", "http"...). The text is ASCII. A result >= buf_len
/// means the text was cut (and is not valid JSON): call again with a buffer of result + 1
/// bytes. With buf NULL or buf_len 0 nothing is written (the way to ask for the size).
///
/// Pointers: `outputs` is a handle from falco_outputs_init(), open or closed; `buf` is NULL
/// or holds buf_len writable bytes, owned by the caller. Threads: any thread, concurrently
/// with every call, falco_outputs_close() included. Not async-signal-safe.
///
/// Returns the length of the whole text, or 0 when outputs is NULL or falco_outputs_close()
/// has started (or a bug was caught).
#[no_mangle]
pub unsafe extern "C" fn falco_outputs_stats_json(
    outputs: *const falco_outputs,
    buf: *mut c_char,
    buf_len: usize,
) -> usize {
    // SAFETY: the caller's contract, which is `text_call`'s.
    unsafe {
        text_call(outputs, buf, buf_len, |o| {
            stats::to_json(o.accepted(), &o.stats())
        })
    }
}

/// The counters in the Prometheus text exposition format (0.0.4), for the host to serve on its
/// own web server (e.g. at GET /metrics with `Content-Type: text/plain; version=0.0.4`),
/// snprintf-style as falco_outputs_stats_json: writes at most buf_len bytes (NUL included) and
/// returns the length the whole text needs, without the NUL. Every metric is named
/// falcosecurity_falco_outputs_* and explained by its own "# HELP" line: the library version,
/// alerts accepted, alerts per channel by final status (delivered, failed, dropped, discarded,
/// filtered), pending alerts, queue depth, spool bytes, retries, write errors and the time of
/// the last success. The library opens no port. A result >= buf_len means the text was cut:
/// call again with a buffer of result + 1 bytes. With buf NULL or buf_len 0 nothing is written
/// (the way to ask for the size).
///
/// Pointers: `outputs` is a handle from falco_outputs_init(), open or closed; `buf` is NULL
/// or holds buf_len writable bytes, owned by the caller. Threads: any thread, concurrently
/// with every call, falco_outputs_close() included. Not async-signal-safe.
///
/// Returns the length of the whole text, or 0 when outputs is NULL or falco_outputs_close()
/// has started (or a bug was caught).
#[no_mangle]
pub unsafe extern "C" fn falco_outputs_metrics_text(
    outputs: *const falco_outputs,
    buf: *mut c_char,
    buf_len: usize,
) -> usize {
    // SAFETY: the caller's contract, which is `text_call`'s.
    unsafe { text_call(outputs, buf, buf_len, Outputs::metrics_text) }
}

/// The calls that return a text snprintf-style: the handle's text written into `buf`
/// (truncated, NUL-terminated) and its whole length returned; 0 for a NULL or closing handle.
///
/// # Safety
/// `outputs` must be NULL or a handle from init; `buf` NULL or `buf_len` writable bytes.
unsafe fn text_call(
    outputs: *const falco_outputs,
    buf: *mut c_char,
    buf_len: usize,
    text: impl FnOnce(&Outputs) -> String,
) -> usize {
    // SAFETY: this function's contract: `buf` is NULL or `buf_len` writable bytes.
    let out = unsafe { OutBuf::new(buf, buf_len) };
    guard(0, || {
        // SAFETY: this function's contract: `outputs` is NULL or a handle from init.
        let Ok(o) = (unsafe { enter(outputs) }) else {
            return 0;
        };
        let text = text(o.outputs);
        out.write(&text);
        text.len()
    })
}
