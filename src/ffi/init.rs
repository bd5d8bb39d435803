//! falco_outputs_init(): the options read, the handle opened.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize};

use crate::error::InitErrorKind;
use crate::handle::{Options, Outputs};
use crate::log::Logger;
use crate::panic::guard;

use super::calls::*;
use super::host_log::HostLog;
use super::types::falco_outputs_result::*;
use super::types::*;

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
