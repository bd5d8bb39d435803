//! The accounting identity (docs/runtime.md), checked on what `falco_outputs_stats_json` (or
//! `stats::to_json`) reports. Every fault test calls it: an alert counted twice, or counted as
//! delivered and then again as discarded, breaks it.
//!
//! Per channel:
//!   accepted + storm_summaries = enqueued + filtered + dropped_queue_full + suppressed
//!   enqueued = delivered + failed + discarded + pending
//!   dropped  = dropped_queue_full + discarded
//! and the top-level totals are the sums over the channels.

use serde_json::Value;

/// One channel's counters, as `stats_json` reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub enqueued: u64,
    pub delivered: u64,
    pub failed: u64,
    pub discarded: u64,
    pub pending: u64,
    pub filtered: u64,
    pub dropped_queue_full: u64,
    pub dropped: u64,
    pub write_errors: u64,
    pub suppressed: u64,
    pub storm_summaries: u64,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "enqueued {} = delivered {} + failed {} + discarded {} + pending {} \
             (filtered {}, dropped_queue_full {}, write_errors {}, suppressed {}, storm_summaries {})",
            self.enqueued,
            self.delivered,
            self.failed,
            self.discarded,
            self.pending,
            self.filtered,
            self.dropped_queue_full,
            self.write_errors,
            self.suppressed,
            self.storm_summaries
        )
    }
}

fn field(v: &Value, key: &str, json: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no numeric {key:?} in stats {json}"))
}

/// The named channel's counters.
pub fn counts(json: &str, channel: &str) -> Counts {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("stats {json}: {e}"));
    let c = &v["channels"][channel];
    assert!(c.is_object(), "no channel {channel:?} in stats {json}");
    Counts {
        enqueued: field(c, "enqueued", json),
        delivered: field(c, "delivered", json),
        failed: field(c, "failed", json),
        discarded: field(c, "discarded", json),
        pending: field(c, "pending", json),
        filtered: field(c, "filtered", json),
        dropped_queue_full: field(c, "dropped_queue_full", json),
        dropped: field(c, "dropped", json),
        write_errors: field(c, "write_errors", json),
        suppressed: field(c, "suppressed", json),
        storm_summaries: field(c, "storm_summaries", json),
    }
}

/// Checks the identity for every channel and the totals; returns each channel's counts.
/// `pending` is derived by the library with a saturating subtraction, so an alert counted
/// twice shows up here as `delivered + failed + discarded > enqueued`.
pub fn assert_accounting(json: &str) -> Vec<(String, Counts)> {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("stats {json}: {e}"));
    let accepted = field(&v, "accepted", json);
    let channels = v["channels"]
        .as_object()
        .unwrap_or_else(|| panic!("no channels in stats {json}"));
    let mut all = Vec::new();
    let (mut delivered, mut failed, mut pending, mut dropped, mut filtered, mut suppressed) =
        (0, 0, 0, 0, 0, 0);
    for name in channels.keys() {
        let c = counts(json, name);
        assert_eq!(
            c.enqueued,
            c.delivered + c.failed + c.discarded + c.pending,
            "{name}: enqueued != delivered + failed + discarded + pending: {c}"
        );
        assert_eq!(
            accepted + c.storm_summaries,
            c.enqueued + c.filtered + c.dropped_queue_full + c.suppressed,
            "{name}: accepted {accepted} + storm_summaries != enqueued + filtered + \
             dropped_queue_full + suppressed: {c}"
        );
        assert_eq!(c.dropped, c.dropped_queue_full + c.discarded, "{name}: {c}");
        delivered += c.delivered;
        failed += c.failed;
        pending += c.pending;
        dropped += c.dropped;
        filtered += c.filtered;
        suppressed += c.suppressed;
        all.push((name.clone(), c));
    }
    for (key, sum) in [
        ("delivered", delivered),
        ("failed", failed),
        ("pending", pending),
        ("dropped", dropped),
        ("filtered", filtered),
        ("suppressed", suppressed),
    ] {
        assert_eq!(
            field(&v, key, json),
            sum,
            "total {key} is not the channels' sum: {json}"
        );
    }
    all
}

/// [`assert_accounting`], and nothing is pending any more (after a flush that returned OK).
pub fn assert_settled(json: &str) -> Vec<(String, Counts)> {
    let all = assert_accounting(json);
    for (name, c) in &all {
        assert_eq!(c.pending, 0, "{name}: still pending after settling: {c}");
    }
    all
}

/// The same identity for a channel driven directly (its `ChannelCtx` counters), with what the
/// test handed it as `enqueued` and what it still holds as `pending`.
pub fn assert_channel_accounting(
    name: &str,
    enqueued: u64,
    held: u64,
    s: &falco_outputs::stats::StatsSnapshot,
) {
    assert_eq!(
        enqueued,
        s.delivered + s.failed + s.discarded + held,
        "{name}: handed {enqueued} != delivered {} + failed {} + discarded {} + held {held}",
        s.delivered,
        s.failed,
        s.discarded
    );
}

/// [`assert_settled`] on a handle opened through the Rust API.
pub fn assert_outputs_settled(out: &falco_outputs::Outputs) -> Vec<(String, Counts)> {
    assert_settled(&falco_outputs::stats::to_json(out.accepted(), &out.stats()))
}
