//! The static strings: falco_outputs_result_str() and falco_outputs_version().

use std::ffi::{c_char, CStr};

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
