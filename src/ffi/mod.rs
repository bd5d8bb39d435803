//! The C ABI. `include/falco_outputs.h` is generated from this module by cbindgen (settings and
//! the header's opening summary in `cbindgen.toml`): the doc comments here are the C API's
//! reference, written for C readers (NULL, not `None`; who owns each pointer; which thread may
//! call). The only module that exports `extern "C"` functions (`outputs/program/spawn.rs` only
//! declares libc's `environ`): pointer checks, UTF-8 repair, the panic boundary and result codes
//! live here.
//!
//! | file | what |
//! | --- | --- |
//! | `ffi/types.rs` | the constants, `falco_outputs_result`, the structs, the opaque handle |
//! | `ffi/calls.rs` | entering a live handle, reading the host's strings and arrays, `errbuf` |
//! | `ffi/host_log.rs` | the host's log callback |
//! | `ffi/init.rs` | `falco_outputs_init` |
//! | `ffi/emit.rs` | `falco_outputs_emit`, `falco_outputs_emit_msg` |
//! | `ffi/lifecycle.rs` | `falco_outputs_reopen`, `falco_outputs_flush` |
//! | `ffi/stats.rs` | `falco_outputs_get_stats`, `falco_outputs_stats_json`, `falco_outputs_metrics_text` |
//! | `ffi/close.rs` | `falco_outputs_close` |
//! | `ffi/strings.rs` | `falco_outputs_result_str`, `falco_outputs_version` |
//!
//! cbindgen reads this file (`build.rs`; a `mod.rs`, so that it finds the files beside it), then
//! the files in the order of the `mod` lines below, and the header declares the functions in
//! that order: each `mod` line is a group of its own so that rustfmt keeps the order.
#![allow(non_camel_case_types)]
// The exported functions state their pointer rules in C terms ("Pointers:") rather than under a
// Rust `# Safety` heading, which would read oddly in the C header they become.
#![allow(clippy::missing_safety_doc)]

// The C types.
mod types;
// What every call does with the host's pointers.
mod calls;
// The host's log callback.
mod host_log;
// Then the functions, in the header's order.
mod init;

mod emit;

mod lifecycle;

mod stats;

mod close;

mod strings;

pub use close::falco_outputs_close;
pub use emit::{falco_outputs_emit, falco_outputs_emit_msg};
pub use init::falco_outputs_init;
pub use lifecycle::{falco_outputs_flush, falco_outputs_reopen};
pub use stats::{falco_outputs_get_stats, falco_outputs_metrics_text, falco_outputs_stats_json};
pub use strings::{falco_outputs_result_str, falco_outputs_version};
pub use types::*;
