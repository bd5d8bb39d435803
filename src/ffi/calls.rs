//! What every call does with the host's pointers: admitting a call to a live handle, reading C strings and arrays, writing a message into the caller's buffer.

use std::ffi::{c_char, CStr};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::handle::Outputs;

use super::types::falco_outputs_result::*;
use super::types::*;

/// Shells of closed handles, kept reachable (see [`falco_outputs`]): a leak checker reports
/// them as still reachable, never as lost.
pub(super) static CLOSED_SHELLS: Mutex<Vec<&'static falco_outputs>> = Mutex::new(Vec::new());

/// A call's admission to a live handle: while it exists, close does not free the channels.
pub(super) struct Entered<'a> {
    pub(super) shell: &'a falco_outputs,
    pub(super) outputs: &'a Outputs,
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
pub(super) unsafe fn enter<'a>(
    p: *const falco_outputs,
) -> Result<Entered<'a>, falco_outputs_result> {
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
pub(super) unsafe fn bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
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
pub(super) unsafe fn string(p: *const c_char) -> Option<String> {
    // SAFETY: this function's contract is `bytes`'s.
    unsafe { bytes(p) }.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// `ptr[..len]`, with NULL accepted only for an empty slice.
///
/// # Safety
/// `ptr` must be NULL or point to `len` initialised `T`s valid for the call.
pub(super) unsafe fn slice<'a, T>(
    ptr: *const T,
    len: usize,
) -> Result<&'a [T], falco_outputs_result> {
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
pub(super) struct OutBuf {
    ptr: *mut c_char,
    len: usize,
}

impl OutBuf {
    /// # Safety
    /// `ptr` must be NULL or valid for writing `len` bytes until the call returns.
    pub(super) unsafe fn new(ptr: *mut c_char, len: usize) -> OutBuf {
        OutBuf { ptr, len }
    }

    /// Writes `msg`, truncated and NUL-terminated (nothing when NULL or empty).
    pub(super) fn write(&self, msg: &str) {
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
