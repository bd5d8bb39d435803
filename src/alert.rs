//! An alert as the library owns it: one UTF-8 arena plus spans, so copying an alert off the
//! engine's thread costs a handful of allocations whatever its number of fields. The engine
//! fills a [`RawAlert`] (the host's bytes) with an [`AlertBuilder`]; the fan-out thread checks
//! it into an [`Alert`].
//!
//! | file | what |
//! | --- | --- |
//! | `alert/kinds.rs` | `Priority`, `FieldKind`, `AlertKind` |
//! | `alert/checked.rs` | `Alert`: the arena, its spans and fields; the UTF-8 check and repair |
//! | `alert/raw.rs` | `RawAlert`: the host's bytes before the check, turned into an `Alert` in place |
//! | `alert/builder.rs` | `AlertBuilder`: filling a `RawAlert`, each string copied once |

mod builder;
mod checked;
mod kinds;
mod raw;
#[cfg(test)]
mod tests;

pub use builder::{alert_from_parts, AlertBuilder, TooLarge};
pub use checked::{Alert, Field};
pub use kinds::{AlertKind, FieldKind, Priority};
pub use raw::RawAlert;
