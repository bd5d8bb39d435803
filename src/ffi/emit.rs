//! falco_outputs_emit() and falco_outputs_emit_msg(): an alert built in place from the host's pointers and queued.

use std::ffi::c_char;

use crate::alert::{AlertBuilder, AlertKind, FieldKind, Priority};
use crate::error::EmitError;
use crate::handle::Outputs;
use crate::panic::guard;
use crate::runtime::alert_pool;

use super::calls::*;
use super::types::falco_outputs_result::*;
use super::types::*;

fn emit_result(r: Result<(), EmitError>) -> falco_outputs_result {
    match r {
        Ok(()) => FALCO_OUTPUTS_OK,
        Err(EmitError::QueueFull) => FALCO_OUTPUTS_ERR_QUEUE_FULL,
        Err(EmitError::Closed) => FALCO_OUTPUTS_ERR_CLOSED,
    }
}

/// Copies the fields into the builder; checks pointers and kinds first.
///
/// # Safety
/// Every field's name and value must be NULL or a NUL-terminated string valid for the call.
unsafe fn add_fields<'a>(
    b: &mut AlertBuilder<'_, 'a>,
    fields: &[falco_field],
) -> Result<(), falco_outputs_result> {
    for f in fields {
        let kind = FieldKind::from_i32(f.kind).ok_or(FALCO_OUTPUTS_ERR_INVALID_ARGUMENT)?;
        // SAFETY: this function's contract.
        let (name, value) = unsafe { (bytes(f.name), bytes(f.value)) };
        let name = name.ok_or(FALCO_OUTPUTS_ERR_NULL_ARGUMENT)?;
        b.field(name, value, kind)
            .map_err(|_| FALCO_OUTPUTS_ERR_INVALID_ARGUMENT)?;
    }
    Ok(())
}

/// Builds an alert in place in a recycled one (no allocation in steady state) and queues it.
/// `fill` checks pointers and kinds and measures each string once; the builder copies them
/// once into an arena of the exact size. On error nothing is queued.
fn build_and_emit<'a>(
    outputs: &Outputs,
    time_ns: u64,
    priority: Priority,
    kind: AlertKind,
    entries: usize,
    fill: impl FnOnce(&mut AlertBuilder<'_, 'a>) -> Result<(), falco_outputs_result>,
) -> falco_outputs_result {
    let mut slot = outputs.recycled_alert();
    let raw = alert_pool::unique(&mut slot);
    let mut b = AlertBuilder::reuse(raw, entries);
    if let Err(e) = fill(&mut b) {
        return e;
    }
    b.build(time_ns, priority, kind);
    emit_result(outputs.emit_shared(slot))
}

/// Queues one alert for every enabled channel. Thread-safe (many engine threads may call it at
/// once), never blocks on I/O, never waits for a slow channel.
///
/// Pointers: `alert` and everything it points to (strings, fields, tags) are read during the
/// call only: the host may free or reuse them as soon as it returns. `outputs` is a handle
/// from falco_outputs_init(), open or closed.
///
/// Delivery: the library's fan-out thread takes the alert within outputs_queue.max_delay_ms
/// (10 ms by default; at once when a burst builds up), formats it once per format, and each
/// channel writes it as soon as it can (file and stdout from the fan-out thread itself when no
/// burst is under way, the others from threads of their own). The engine thread makes no
/// system call for it, except one write(2) for the first alert after 10 s without any.
///
/// Threads: any number of threads may emit at once, concurrently with every other call on the
/// same handle, falco_outputs_close() included (the emit then returns
/// FALCO_OUTPUTS_ERR_CLOSED). Not async-signal-safe (it may allocate).
///
/// Returns:
/// - FALCO_OUTPUTS_OK: queued for every channel (or skipped where the channel's min_priority
///   filters it out, counted as `filtered`).
/// - FALCO_OUTPUTS_ERR_QUEUE_FULL: at least one channel already held outputs_queue.capacity
///   alerts not yet delivered (0, the default: no bound); the alert was dropped there and
///   counted (`dropped`), and queued for the others. Do not retry: the others would get it
///   twice.
/// - FALCO_OUTPUTS_ERR_NULL_ARGUMENT: outputs, alert, rule or message is NULL, fields or tags
///   is NULL with a non-zero length, or a field name or a tag is NULL. Nothing queued.
/// - FALCO_OUTPUTS_ERR_INVALID_ARGUMENT: priority outside 0..7, a field kind that is not a
///   FALCO_FIELD_* value, or an alert over 4 GiB of text. Nothing queued.
/// - FALCO_OUTPUTS_ERR_CLOSED: falco_outputs_close() has started. Nothing queued, nothing
///   counted.
/// - FALCO_OUTPUTS_ERR_INTERNAL: a bug was caught; the alert may be missing from some channels.
#[no_mangle]
pub unsafe extern "C" fn falco_outputs_emit(
    outputs: *mut falco_outputs,
    alert: *const falco_alert,
) -> falco_outputs_result {
    guard(FALCO_OUTPUTS_ERR_INTERNAL, || {
        if outputs.is_null() || alert.is_null() {
            return FALCO_OUTPUTS_ERR_NULL_ARGUMENT;
        }
        // SAFETY: the caller's contract: `outputs` is NULL or a handle from init.
        let handle = match unsafe { enter(outputs) } {
            Ok(h) => h,
            Err(e) => return e,
        };
        // SAFETY: (this and the reads of the alert's strings and arrays below): the caller's
        // contract: `alert` (non-NULL) and everything it points to are valid for the call,
        // strings NUL-terminated or NULL, arrays of the given lengths or NULL.
        let a = unsafe { &*alert };
        let Some(priority) = Priority::from_i32(a.priority) else {
            return FALCO_OUTPUTS_ERR_INVALID_ARGUMENT;
        };
        // SAFETY: see `a`.
        let (rule, message, source) = unsafe { (bytes(a.rule), bytes(a.message), bytes(a.source)) };
        let (Some(rule), Some(message)) = (rule, message) else {
            return FALCO_OUTPUTS_ERR_NULL_ARGUMENT;
        };
        let source = source.unwrap_or(b"syscall");
        // SAFETY: see `a`.
        let fields = match unsafe { slice(a.fields, a.fields_len) } {
            Ok(f) => f,
            Err(e) => return e,
        };
        // SAFETY: see `a`.
        let tags = match unsafe { slice(a.tags, a.tags_len) } {
            Ok(t) => t,
            Err(e) => return e,
        };
        let entries = fields.len() + tags.len();
        build_and_emit(
            handle.outputs,
            a.time_ns,
            priority,
            AlertKind::Event,
            entries,
            |b| {
                b.rule(rule)
                    .and_then(|b| b.source(source))
                    .and_then(|b| b.message(message))
                    .map_err(|_| FALCO_OUTPUTS_ERR_INVALID_ARGUMENT)?;
                // SAFETY: see `a`.
                unsafe { add_fields(b, fields) }?;
                for t in tags {
                    // SAFETY: see `a`.
                    let tag = unsafe { bytes(*t) }.ok_or(FALCO_OUTPUTS_ERR_NULL_ARGUMENT)?;
                    b.tag(tag).map_err(|_| FALCO_OUTPUTS_ERR_INVALID_ARGUMENT)?;
                }
                Ok(())
            },
        )
    })
}

/// Queues a generic message not tied to an event (Falco's handle_msg: drop notices, internal
/// errors). Source is "internal".
///
/// Formatted as Falco formats such messages: the text line is
/// "<time>: <Priority> <message> (name1=value1 name2=value2)", each value JSON-encoded; JSON
/// carries the message as "output", the fields under "output_fields" and no tags. The
/// arguments are those of falco_alert, with the same meaning.
///
/// Pointers: `rule`, `message` and `fields` (and the fields' strings) are read during the call
/// only. Threads and results: as falco_outputs_emit(), whose result codes apply unchanged
/// (NULL_ARGUMENT for a NULL outputs, rule, message or field name, or NULL fields with a
/// non-zero fields_len).
#[no_mangle]
pub unsafe extern "C" fn falco_outputs_emit_msg(
    outputs: *mut falco_outputs,
    time_ns: u64,
    priority: i32,
    rule: *const c_char,
    message: *const c_char,
    fields: *const falco_field,
    fields_len: usize,
) -> falco_outputs_result {
    guard(FALCO_OUTPUTS_ERR_INTERNAL, || {
        // SAFETY: the caller's contract: `outputs` is NULL or a handle from init.
        let handle = match unsafe { enter(outputs) } {
            Ok(h) => h,
            Err(e) => return e,
        };
        let Some(priority) = Priority::from_i32(priority) else {
            return FALCO_OUTPUTS_ERR_INVALID_ARGUMENT;
        };
        // SAFETY: (this and the fields below) the caller's contract: `rule` and `message` are
        // NULL or NUL-terminated, `fields` NULL or `fields_len` fields, all valid for the call.
        let (rule, message) = unsafe { (bytes(rule), bytes(message)) };
        let (Some(rule), Some(message)) = (rule, message) else {
            return FALCO_OUTPUTS_ERR_NULL_ARGUMENT;
        };
        // SAFETY: see `rule` above.
        let fields = match unsafe { slice(fields, fields_len) } {
            Ok(f) => f,
            Err(e) => return e,
        };
        let entries = fields.len();
        build_and_emit(
            handle.outputs,
            time_ns,
            priority,
            AlertKind::Message,
            entries,
            |b| {
                b.rule(rule)
                    .and_then(|b| b.source(b"internal"))
                    .and_then(|b| b.message(message))
                    .map_err(|_| FALCO_OUTPUTS_ERR_INVALID_ARGUMENT)?;
                // SAFETY: see `rule` above.
                unsafe { add_fields(b, fields) }
            },
        )
    })
}
