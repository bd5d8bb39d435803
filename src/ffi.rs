//! The C ABI. `include/falco_outputs.h` is generated from this file by cbindgen (settings and
//! the header's opening summary in `cbindgen.toml`): the doc comments here are the C API's
//! reference, written for C readers (NULL, not `None`; who owns each pointer; which thread may
//! call). The only file that exports `extern "C"` functions (`outputs/program/spawn.rs` only
//! declares libc's `environ`): pointer checks, UTF-8 repair, the panic boundary and result codes
//! live here.
#![allow(non_camel_case_types)]
// The exported functions state their pointer rules in C terms ("Pointers:") rather than under a
// Rust `# Safety` heading, which would read oddly in the C header they become.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::alert::{AlertBuilder, AlertKind, FieldKind, Priority};
use crate::error::{EmitError, InitErrorKind, Timeout};
use crate::handle::{Options, Outputs};
use crate::log::Logger;
use crate::panic::guard;
use crate::runtime::alert_pool;
use crate::stats;

/// Priority "Emergency" (falco_alert.priority): Falco's priorities are numerically equal to
/// syslog severities, 0 the most severe. A channel's `min_priority` admits an alert whose
/// priority is numerically at most its own.
pub const FALCO_PRIORITY_EMERGENCY: i32 = 0;
/// Priority "Alert" (syslog severity 1).
pub const FALCO_PRIORITY_ALERT: i32 = 1;
/// Priority "Critical" (syslog severity 2).
pub const FALCO_PRIORITY_CRITICAL: i32 = 2;
/// Priority "Error" (syslog severity 3).
pub const FALCO_PRIORITY_ERROR: i32 = 3;
/// Priority "Warning" (syslog severity 4).
pub const FALCO_PRIORITY_WARNING: i32 = 4;
/// Priority "Notice" (syslog severity 5).
pub const FALCO_PRIORITY_NOTICE: i32 = 5;
/// Priority "Informational" (syslog severity 6).
pub const FALCO_PRIORITY_INFORMATIONAL: i32 = 6;
/// Priority "Debug" (syslog severity 7), the least severe.
pub const FALCO_PRIORITY_DEBUG: i32 = 7;

/// Field kind (falco_field.kind): the value becomes a JSON string. A zeroed falco_field is a
/// string field.
pub const FALCO_FIELD_STRING: i32 = 0;
/// Field kind: the value is a JSON number literal ("34817", "-1", "0.5", "1.5e+10"), written
/// as is; a value that is not one becomes a JSON string.
pub const FALCO_FIELD_NUMBER: i32 = 1;
/// Field kind: the value is "true" or "false"; anything else becomes a JSON string.
pub const FALCO_FIELD_BOOL: i32 = 2;
/// Field kind: JSON null; the value is ignored (a NULL value of any kind is also null).
pub const FALCO_FIELD_NULL: i32 = 3;
/// Field kind: the value is JSON text (object, array...), written compactly; text that is not
/// valid JSON becomes a JSON string.
pub const FALCO_FIELD_JSON: i32 = 4;

/// Result codes. Every function that can fail returns one; 0 is success. What each code means
/// for a given call is listed under that function; falco_outputs_result_str() describes any
/// code in a sentence.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum falco_outputs_result {
    /// Success.
    FALCO_OUTPUTS_OK = 0,
    /// A required pointer was NULL.
    FALCO_OUTPUTS_ERR_NULL_ARGUMENT = 1,
    /// E.g. priority outside 0..7, unknown field kind.
    FALCO_OUTPUTS_ERR_INVALID_ARGUMENT = 2,
    /// The configuration was refused; errbuf says why.
    FALCO_OUTPUTS_ERR_CONFIG = 3,
    /// At least one channel dropped this alert (counted); do not retry.
    FALCO_OUTPUTS_ERR_QUEUE_FULL = 4,
    /// The handle is closing or closed: falco_outputs_close() has started.
    FALCO_OUTPUTS_ERR_CLOSED = 5,
    /// flush/close: the deadline passed before every channel drained.
    FALCO_OUTPUTS_ERR_TIMEOUT = 6,
    /// An I/O failure at init (e.g. a file that cannot be opened).
    FALCO_OUTPUTS_ERR_IO = 7,
    /// A bug was caught (e.g. a Rust panic); the process lives on.
    FALCO_OUTPUTS_ERR_INTERNAL = 8,
}
use falco_outputs_result::*;

/// One output field of an alert, e.g. {"proc.cmdline", "cat /etc/shadow", FALCO_FIELD_STRING}.
/// Borrowed by falco_outputs_emit() and falco_outputs_emit_msg() for the call only. In the JSON
/// format fields appear under "output_fields", sorted by name.
#[repr(C)]
pub struct falco_field {
    /// The field's name, e.g. "proc.cmdline". Required: NUL-terminated UTF-8 (invalid UTF-8 is
    /// replaced with U+FFFD).
    pub name: *const c_char,
    /// NUL-terminated text, read as `kind` says; NULL renders as JSON null (any kind).
    pub value: *const c_char,
    /// One of FALCO_FIELD_*; any other value makes the call FALCO_OUTPUTS_ERR_INVALID_ARGUMENT.
    pub kind: i32,
}

/// One alert, as the detection engine has it after a rule matched. All pointers are borrowed
/// for the duration of the call only: the library copies what it needs. Every string is
/// NUL-terminated UTF-8; invalid UTF-8 is replaced with U+FFFD, never refused.
#[repr(C)]
pub struct falco_alert {
    /// Event time, nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// One of FALCO_PRIORITY_* (0..7).
    pub priority: i32,
    /// The rule's name. Required.
    pub rule: *const c_char,
    /// The event source, e.g. "syscall"; NULL means "syscall".
    pub source: *const c_char,
    /// The rule's rendered output, without time and priority (the library prefixes them as
    /// Falco does). Required.
    pub message: *const c_char,
    /// fields_len fields; may be NULL when fields_len is 0.
    pub fields: *const falco_field,
    /// The number of entries in fields.
    pub fields_len: usize,
    /// tags_len tags, each a non-NULL string; may be NULL when tags_len is 0.
    pub tags: *const *const c_char,
    /// The number of entries in tags.
    pub tags_len: usize,
}

/// Receives the library's own log lines (level is a syslog severity: 2 critical, a channel
/// blocked past output_timeout; 3 error; 4 warning; 5 notice, such as a peer reached again; 6
/// informational). `message` is a NUL-terminated line without a newline, valid
/// only during the call; `userdata` is falco_outputs_options.log_userdata.
///
/// Called from the library's threads, and from the thread calling falco_outputs_init() or
/// falco_outputs_close() (configuration warnings, discards at close): it must be thread-safe,
/// and it must not call any falco_outputs_* function. It is never called after
/// falco_outputs_close() has returned, so userdata may be freed then.
pub type falco_outputs_log_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, level: i32, message: *const c_char)>;

/// How falco_outputs_init() configures a handle. Zero it (`= {0}` or memset) and set what you
/// need: every member may be NULL/0. The configuration is Falco's falco.yaml keys, merged in
/// this order (a later source wins): config_path, then config_yaml, then overrides. At least
/// one channel must end up enabled. All strings are borrowed for the init call only.
#[repr(C)]
pub struct falco_outputs_options {
    /// A falco.yaml-format file, or NULL.
    pub config_path: *const c_char,
    /// YAML text, or NULL; its keys override config_path's.
    pub config_yaml: *const c_char,
    /// overrides_len strings in Falco's "-o" style, "dotted.key=value" (e.g.
    /// "file_output.filename=/var/log/falco.txt"), applied last; NULL when overrides_len is 0.
    pub overrides: *const *const c_char,
    /// The number of entries in overrides (each must be non-NULL).
    pub overrides_len: usize,
    /// The hostname written in JSON output ("hostname") and syslog messages; NULL means
    /// $FALCO_HOSTNAME, else gethostname().
    pub hostname: *const c_char,
    /// Where the library's own log lines go; NULL means stderr, prefixed "falco-outputs: ".
    pub log_fn: falco_outputs_log_fn,
    /// Passed back to log_fn unchanged; the library never dereferences it.
    pub log_userdata: *mut c_void,
}

/// Totals over every channel, from falco_outputs_get_stats(). Counts are of (alert, channel)
/// pairs except `accepted`: an alert sent to three channels is delivered three times. Once
/// everything has settled, for each channel, every accepted alert is exactly one of delivered,
/// failed, dropped or filtered, or, on a channel with storm control (an extension),
/// suppressed: held back and told of by a summary alert the library adds (then delivered,
/// failed or dropped itself). `suppressed` and the summaries are not fields of this struct
/// (a field more would change its size under hosts built against an older header): they are
/// in falco_outputs_stats_json() ("suppressed", "storm_summaries") and the metrics.
#[repr(C)]
#[derive(Default)]
pub struct falco_outputs_stats {
    /// Alerts and messages taken by emit / emit_msg.
    pub accepted: u64,
    /// (alert, channel) pairs dropped: queue full, or discarded at close.
    pub dropped: u64,
    /// (alert, channel) pairs written / sent successfully.
    pub delivered: u64,
    /// (alert, channel) pairs given up after errors (and retries where a channel retries).
    pub failed: u64,
    /// (alert, channel) pairs skipped by a channel's min_priority.
    pub filtered: u64,
    /// (alert, channel) pairs waiting now.
    pub pending: u64,
}

/// The opaque handle: one set of open channels with their threads. Made by
/// falco_outputs_init(), closed by falco_outputs_close(). A process may hold several.
/// Closing frees the channels, their threads and buffers but keeps 24 bytes of the handle
/// until the process exits, so that a call racing close, or made after it, returns
/// FALCO_OUTPUTS_ERR_CLOSED (or does nothing) instead of reading freed memory.
pub struct falco_outputs {
    /// Calls inside the library with this handle now; close waits for them to leave.
    calls: AtomicUsize,
    /// Set once, by close. A call that sees it touches nothing but this shell.
    closing: AtomicBool,
    /// The channels; NULL once close has freed them.
    inner: AtomicPtr<Outputs>,
}

/// Shells of closed handles, kept reachable (see [`falco_outputs`]): a leak checker reports
/// them as still reachable, never as lost.
static CLOSED_SHELLS: Mutex<Vec<&'static falco_outputs>> = Mutex::new(Vec::new());

/// A call's admission to a live handle: while it exists, close does not free the channels.
struct Entered<'a> {
    shell: &'a falco_outputs,
    outputs: &'a Outputs,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.shell.calls.fetch_sub(1, Ordering::Release);
    }
}

/// Admits a call, or says why not: NULL handle, or a handle that is closing or closed.
///
/// # Safety
/// `p` must be NULL or a pointer returned by `falco_outputs_init` (closed or not).
unsafe fn enter<'a>(p: *const falco_outputs) -> Result<Entered<'a>, falco_outputs_result> {
    // SAFETY: by this function's contract `p` is NULL or a handle from init; a handle's shell
    // is never freed (closed shells are kept in CLOSED_SHELLS).
    let shell = unsafe { p.as_ref() }.ok_or(FALCO_OUTPUTS_ERR_NULL_ARGUMENT)?;
    // SeqCst on both sides (here: calls then closing; in close: closing then calls): either
    // this call sees `closing`, or close sees this call and waits for it.
    shell.calls.fetch_add(1, Ordering::SeqCst);
    if shell.closing.load(Ordering::SeqCst) {
        shell.calls.fetch_sub(1, Ordering::Release);
        return Err(FALCO_OUTPUTS_ERR_CLOSED);
    }
    // SAFETY: not closing, so `inner` is the live Box close has not taken yet, and it stays
    // alive until `calls` drops back (close waits for that).
    let outputs = unsafe { &*shell.inner.load(Ordering::Acquire) };
    Ok(Entered { shell, outputs })
}

/// A borrowed C string as UTF-8 bytes (repair happens when the alert is built).
///
/// # Safety
/// `p` must be NULL or a NUL-terminated string valid for the call.
unsafe fn bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        None
    } else {
        // SAFETY: non-NULL, and by this function's contract NUL-terminated and valid for the
        // call.
        Some(unsafe { CStr::from_ptr(p) }.to_bytes())
    }
}

/// A borrowed C string as an owned, repaired `String`.
///
/// # Safety
/// As for [`bytes`].
unsafe fn string(p: *const c_char) -> Option<String> {
    // SAFETY: this function's contract is `bytes`'s.
    unsafe { bytes(p) }.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// `ptr[..len]`, with NULL accepted only for an empty slice.
///
/// # Safety
/// `ptr` must be NULL or point to `len` initialised `T`s valid for the call.
unsafe fn slice<'a, T>(ptr: *const T, len: usize) -> Result<&'a [T], falco_outputs_result> {
    if len == 0 {
        Ok(&[])
    } else if ptr.is_null() {
        Err(FALCO_OUTPUTS_ERR_NULL_ARGUMENT)
    } else {
        // SAFETY: non-NULL, and by this function's contract `len` valid `T`s.
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
    }
}

/// A caller's buffer for a message (an error, the stats JSON): NULL or `len` writable bytes.
struct OutBuf {
    ptr: *mut c_char,
    len: usize,
}

impl OutBuf {
    /// # Safety
    /// `ptr` must be NULL or valid for writing `len` bytes until the call returns.
    unsafe fn new(ptr: *mut c_char, len: usize) -> OutBuf {
        OutBuf { ptr, len }
    }

    /// Writes `msg`, truncated and NUL-terminated (nothing when NULL or empty).
    fn write(&self, msg: &str) {
        if self.ptr.is_null() || self.len == 0 {
            return;
        }
        let mut n = msg.len().min(self.len - 1);
        // Never cut a UTF-8 character in half.
        while !msg.is_char_boundary(n) {
            n -= 1;
        }
        // SAFETY: `new`'s contract: `len` writable bytes, and n < len, so both the n bytes
        // copied and the NUL at n are inside; `msg` cannot overlap a C caller's buffer.
        unsafe {
            std::ptr::copy_nonoverlapping(msg.as_ptr(), self.ptr.cast::<u8>(), n);
            *self.ptr.add(n) = 0;
        }
    }
}

/// Loads and validates the configuration, opens the channels, starts the workers.
/// On failure *out is NULL, the result says which kind of failure, and errbuf (if given) holds
/// a NUL-terminated sentence naming the key or path at fault, truncated to errbuf_len.
///
/// Pointers: `options` and every string it points to are read during the call only;
/// log_fn/log_userdata are kept until falco_outputs_close() returns. `out` receives the new
/// handle, which the caller owns and closes with falco_outputs_close(). `errbuf` may be NULL
/// (or errbuf_len 0) to get no message; it is written only on failure.
///
/// Threads: may be called from any thread; separate handles are independent. With
/// http_output enabled it calls curl_global_init() once per process: with a libcurl built
/// without thread-safe init, do not run the host's own curl_global_init/cleanup concurrently.
/// Not async-signal-safe.
///
/// Returns:
/// - FALCO_OUTPUTS_OK: *out is a new handle; its channels are open and accept alerts.
/// - FALCO_OUTPUTS_ERR_NULL_ARGUMENT: out or options is NULL, overrides is NULL with a
///   non-zero overrides_len, or one of the overrides is NULL.
/// - FALCO_OUTPUTS_ERR_CONFIG: the configuration was refused (unreadable or invalid YAML, a
///   key with a wrong value, no channel enabled); errbuf names the key or file.
/// - FALCO_OUTPUTS_ERR_IO: a channel could not be opened (a file, a socket, a program, a
///   thread); errbuf says which and why.
/// - FALCO_OUTPUTS_ERR_INTERNAL: a bug was caught; no handle was made.
#[no_mangle]
pub unsafe extern "C" fn falco_outputs_init(
    options: *const falco_outputs_options,
    out: *mut *mut falco_outputs,
    errbuf: *mut c_char,
    errbuf_len: usize,
) -> falco_outputs_result {
    // SAFETY: the caller's contract (above): errbuf is NULL or errbuf_len writable bytes.
    let err = unsafe { OutBuf::new(errbuf, errbuf_len) };
    guard(FALCO_OUTPUTS_ERR_INTERNAL, || {
        if out.is_null() {
            err.write("out is NULL");
            return FALCO_OUTPUTS_ERR_NULL_ARGUMENT;
        }
        // SAFETY: `out` is non-NULL and, by the caller's contract, writable.
        unsafe { *out = std::ptr::null_mut() };
        // SAFETY: the caller's contract: `options` is NULL or valid for the call.
        let Some(o) = (unsafe { options.as_ref() }) else {
            err.write("options is NULL");
            return FALCO_OUTPUTS_ERR_NULL_ARGUMENT;
        };
        // SAFETY: the caller's contract: `overrides` holds `overrides_len` pointers, each NULL
        // or NUL-terminated, all valid for the call.
        let override_strings = match unsafe { override_strings(o) } {
            Ok(s) => s,
            Err((e, message)) => {
                err.write(&message);
                return e;
            }
        };
        let log = host_logger(o);
        // SAFETY: the caller's contract: every string of `options` is NULL or NUL-terminated,
        // valid for the call.
        let (config_path, config_yaml, hostname) = unsafe {
            (
                string(o.config_path),
                string(o.config_yaml),
                string(o.hostname),
            )
        };
        let options = Options {
            config_path,
            config_yaml,
            overrides: override_strings,
            hostname,
            log,
        };
        match Outputs::open(options) {
            Ok(inner) => {
                let shell = Box::new(falco_outputs {
                    calls: AtomicUsize::new(0),
                    closing: AtomicBool::new(false),
                    inner: AtomicPtr::new(Box::into_raw(Box::new(inner))),
                });
                // SAFETY: `out` is non-NULL and writable (checked and written above).
                unsafe { *out = Box::into_raw(shell) };
                FALCO_OUTPUTS_OK
            }
            Err(e) => {
                err.write(&e.to_string());
                match e.kind() {
                    InitErrorKind::Config | InitErrorKind::ChannelCap => FALCO_OUTPUTS_ERR_CONFIG,
                    InitErrorKind::Io => FALCO_OUTPUTS_ERR_IO,
                }
            }
        }
    })
}

/// The `overrides` of `options` as strings; the error says which pointer is NULL.
///
/// # Safety
/// `o.overrides` holds `o.overrides_len` pointers (or is NULL with 0), each NULL or
/// NUL-terminated, all valid for the call.
unsafe fn override_strings(
    o: &falco_outputs_options,
) -> Result<Vec<String>, (falco_outputs_result, String)> {
    // SAFETY: the caller's contract (above).
    let overrides = match unsafe { slice(o.overrides, o.overrides_len) } {
        Ok(s) => s,
        Err(e) => return Err((e, "overrides is NULL but overrides_len is not 0".into())),
    };
    let mut strings = Vec::with_capacity(overrides.len());
    for (i, p) in overrides.iter().enumerate() {
        // SAFETY: see `overrides` above.
        match unsafe { string(*p) } {
            Some(s) => strings.push(s),
            None => {
                return Err((
                    FALCO_OUTPUTS_ERR_NULL_ARGUMENT,
                    format!("overrides[{i}] is NULL"),
                ))
            }
        }
    }
    Ok(strings)
}

/// The host's log callback as the handle's logger; stderr without one.
fn host_logger(o: &falco_outputs_options) -> Logger {
    match o.log_fn {
        Some(func) => {
            let host = HostLog {
                func,
                userdata: o.log_userdata,
            };
            Logger::from_fn(move |level, message| host.call(level, message))
        }
        None => Logger::stderr(),
    }
}

/// The host's log callback and its userdata, called from the library's threads.
struct HostLog {
    func: unsafe extern "C" fn(userdata: *mut c_void, level: i32, message: *const c_char),
    userdata: *mut c_void,
}

// SAFETY: falco_outputs_log_fn must be thread-safe (its documented contract), and the userdata
// pointer is never dereferenced here, only handed back to that callback.
unsafe impl Send for HostLog {}
// SAFETY: as for Send: the only use of a shared HostLog is calling the thread-safe callback.
unsafe impl Sync for HostLog {}

impl HostLog {
    fn call(&self, level: i32, message: &str) {
        // Interior NULs would truncate the line; show them instead.
        let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: the host gave this callback for exactly this use: a NUL-terminated line
        // valid for the call and its own userdata, from any thread, until close returns (the
        // Logger's gate stops calls after close).
        unsafe { (self.func)(self.userdata, level, text.as_ptr()) }
    }
}

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
    // SAFETY: the caller's contract: `buf` is NULL or `buf_len` writable bytes.
    let out = unsafe { OutBuf::new(buf, buf_len) };
    guard(0, || {
        // SAFETY: the caller's contract: `outputs` is NULL or a handle from init.
        let Ok(o) = (unsafe { enter(outputs) }) else {
            return 0;
        };
        let text = stats::to_json(o.outputs.accepted(), &o.outputs.stats());
        out.write(&text);
        text.len()
    })
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
    // SAFETY: the caller's contract: `buf` is NULL or `buf_len` writable bytes.
    let out = unsafe { OutBuf::new(buf, buf_len) };
    guard(0, || {
        // SAFETY: the caller's contract: `outputs` is NULL or a handle from init.
        let Ok(o) = (unsafe { enter(outputs) }) else {
            return 0;
        };
        let text = o.outputs.metrics_text();
        out.write(&text);
        text.len()
    })
}

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

/// A static description of a result code ("unknown result code" for values outside the enum).
/// Declared in the header (by `cbindgen.toml`'s trailer, which documents it for C) with the
/// `falco_outputs_result` type; taken here as the C enum's underlying int so that an
/// out-of-range value from C is not undefined behaviour in Rust.
#[no_mangle]
pub extern "C" fn falco_outputs_result_str(result: i32) -> *const c_char {
    let s: &'static CStr = match result {
        0 => c"ok",
        1 => c"a required pointer was NULL",
        2 => c"invalid argument (priority outside 0..7, unknown field kind, or a value too large)",
        3 => c"the configuration was refused",
        4 => c"a channel's queue was full; the alert was dropped there (counted)",
        5 => c"the handle is closing or closed",
        6 => c"the deadline passed before every channel drained",
        7 => c"an I/O failure at init",
        8 => c"internal error (a bug was caught; the process lives on)",
        _ => c"unknown result code",
    };
    s.as_ptr()
}

/// The library's version, e.g. "0.1.0": a static NUL-terminated string, never NULL, never to
/// be freed. Callable from any thread at any time, no handle needed; async-signal-safe.
#[no_mangle]
pub extern "C" fn falco_outputs_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
