//! The host's log callback, called from the library's threads.

use std::ffi::{c_char, c_void, CString};

/// The host's log callback and its userdata, called from the library's threads.
pub(super) struct HostLog {
    pub(super) func:
        unsafe extern "C" fn(userdata: *mut c_void, level: i32, message: *const c_char),
    pub(super) userdata: *mut c_void,
}

// SAFETY: falco_outputs_log_fn must be thread-safe (its documented contract), and the userdata
// pointer is never dereferenced here, only handed back to that callback.
unsafe impl Send for HostLog {}
// SAFETY: as for Send: the only use of a shared HostLog is calling the thread-safe callback.
unsafe impl Sync for HostLog {}

impl HostLog {
    pub(super) fn call(&self, level: i32, message: &str) {
        // Interior NULs would truncate the line; show them instead.
        let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
        // SAFETY: the host gave this callback for exactly this use: a NUL-terminated line
        // valid for the call and its own userdata, from any thread, until close returns (the
        // Logger's gate stops calls after close).
        unsafe { (self.func)(self.userdata, level, text.as_ptr()) }
    }
}
