//! The panic boundary: no Rust panic unwinds into C. A caught panic becomes `ERR_INTERNAL` (or
//! the function's neutral value) and the host process lives on.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, turning a panic into `on_panic`.
pub fn guard<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}
