//! The `match` and `storm` blocks every output block has: one line per key.

use super::schema::settings;
use super::units::read_duration_ms;
use crate::alert::Priority;

settings! {
    /// `match` in any output block: which alerts the channel takes (docs/routing.md).
    pub struct Match {
        /// Rule names or `*`/`?` patterns; empty: any.
        rules: Vec<String> = Vec::new(),
        tags: Vec<String> = Vec::new(),
        sources: Vec<String> = Vec::new(),
        min_priority: Priority = Priority::Debug,
        /// The most severe priority taken (with `min_priority`, a band of priorities).
        max_priority: Priority = Priority::Emergency,
    }
}

settings! {
    /// `storm` in any output block: past `max` alerts of one key within `window`, the rest of
    /// the window's alerts of that key are held back and summarised (`src/storm.rs`).
    pub struct StormConfig {
        /// What makes alerts "the same": `rule`, `priority`, `source`, `tags`, or a field name
        /// (`hostname` falls back to the handle's host name).
        per: Vec<String> = vec!["rule".to_string()],
        /// Alerts of one key let through per window; 0 = storm control off.
        max: u64 = 0,
        /// Milliseconds.
        window_ms as "window": u64 = 60_000 => read_duration_ms,
    }
}
