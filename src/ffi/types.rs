//! The C ABI's types and constants, as the header declares them (the order here is the header's).

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};

use crate::handle::Outputs;

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
    pub(super) calls: AtomicUsize,
    /// Set once, by close. A call that sees it touches nothing but this shell.
    pub(super) closing: AtomicBool,
    /// The channels; NULL once close has freed them.
    pub(super) inner: AtomicPtr<Outputs>,
}
