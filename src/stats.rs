//! Per-channel counters, updated with relaxed atomics (they are statistics, not synchronisation).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// `enqueued` and `filtered` are not here: emit counts them in the intake, under its lock
/// (`runtime/intake.rs`), and [`crate::handle::Outputs::stats`] adds them to the snapshot.
#[derive(Default, Debug)]
pub struct ChannelStats {
    /// Dropped because the queue was full (never enqueued).
    pub dropped_queue_full: AtomicU64,
    /// Enqueued, then discarded (close deadline, spool bound).
    pub discarded: AtomicU64,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    /// Write errors seen (a failed write may be retried, so this is not `failed`).
    pub errors: AtomicU64,
    /// Failed attempts the channel will make again (HTTP, OTLP).
    pub retries: AtomicU64,
    /// Bytes of alerts a retrying channel holds (its spool, or its memory backlog): a gauge.
    pub held_bytes: AtomicU64,
    /// Wall-clock time (ns since the epoch) of the last delivery; 0 before the first.
    pub last_success_ns: AtomicU64,
    /// Damaged places found in the on-disk spool (a record, a run of bytes, a missing run of
    /// records, the index), each skipped or rebuilt. Not alerts: the alerts lost with them are
    /// counted in `discarded`.
    pub spool_corrupt: AtomicU64,
    /// Files the channel rotated itself (`file_output.rotate`); not alerts.
    pub rotations: AtomicU64,
    /// Delivered alerts whose acknowledgement said the peer already held them (a NATS PubAck
    /// with `duplicate: true`): a re-send it dropped. Part of `delivered`, not of the identity.
    pub duplicates: AtomicU64,
}

/// A consistent-enough copy of one channel's counters.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Alerts put on this channel's queue.
    pub enqueued: u64,
    pub dropped_queue_full: u64,
    pub discarded: u64,
    pub delivered: u64,
    pub failed: u64,
    /// Skipped by the channel's `min_priority` or `match`.
    pub filtered: u64,
    pub errors: u64,
    pub retries: u64,
    pub held_bytes: u64,
    pub last_success_ns: u64,
    pub spool_corrupt: u64,
    pub rotations: u64,
    pub duplicates: u64,
    /// Held back by storm control (counted by emit in the intake, like `filtered`).
    pub suppressed: u64,
    /// Storm summaries the library made and enqueued (part of `enqueued`).
    pub summaries: u64,
}

impl StatsSnapshot {
    /// Alerts on the queue or inside the channel now.
    pub fn pending(&self) -> u64 {
        self.enqueued
            .saturating_sub(self.delivered + self.failed + self.discarded)
    }

    /// The contract's `dropped`: queue full, or discarded after being enqueued.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.discarded
    }
}

impl ChannelStats {
    /// Every counter but `enqueued` and `filtered` (0 here: see [`ChannelStats`]).
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            enqueued: 0,
            dropped_queue_full: self.dropped_queue_full.load(Relaxed),
            discarded: self.discarded.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            failed: self.failed.load(Relaxed),
            filtered: 0,
            errors: self.errors.load(Relaxed),
            retries: self.retries.load(Relaxed),
            held_bytes: self.held_bytes.load(Relaxed),
            last_success_ns: self.last_success_ns.load(Relaxed),
            spool_corrupt: self.spool_corrupt.load(Relaxed),
            rotations: self.rotations.load(Relaxed),
            duplicates: self.duplicates.load(Relaxed),
            suppressed: 0,
            summaries: 0,
        }
    }
    pub fn add(counter: &AtomicU64, n: u64) {
        if n != 0 {
            counter.fetch_add(n, Relaxed);
        }
    }
}

/// Totals over every channel (the C ABI's `falco_outputs_stats`).
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub accepted: u64,
    pub dropped: u64,
    pub delivered: u64,
    pub failed: u64,
    pub filtered: u64,
    pub pending: u64,
    pub suppressed: u64,
}

pub fn totals(accepted: u64, channels: &[(&'static str, StatsSnapshot)]) -> Totals {
    let mut t = Totals {
        accepted,
        ..Totals::default()
    };
    for (_, s) in channels {
        t.dropped += s.dropped();
        t.delivered += s.delivered;
        t.failed += s.failed;
        t.filtered += s.filtered;
        t.suppressed += s.suppressed;
        t.pending += s.pending();
    }
    t
}

/// `{"accepted":..,"channels":{"file":{...},...},"delivered":..,...}`: the totals plus every
/// channel's counters, keys sorted.
pub fn to_json(accepted: u64, channels: &[(&'static str, StatsSnapshot)]) -> String {
    let t = totals(accepted, channels);
    let mut per_channel = serde_json::Map::new();
    for (name, s) in channels {
        per_channel.insert(
            (*name).to_string(),
            serde_json::json!({
                "delivered": s.delivered,
                "discarded": s.discarded,
                "dropped": s.dropped(),
                "dropped_queue_full": s.dropped_queue_full,
                "duplicates": s.duplicates,
                "enqueued": s.enqueued,
                "failed": s.failed,
                "filtered": s.filtered,
                "pending": s.pending(),
                "rotations": s.rotations,
                "spool_corrupt": s.spool_corrupt,
                "storm_summaries": s.summaries,
                "suppressed": s.suppressed,
                "write_errors": s.errors,
            }),
        );
    }
    serde_json::json!({
        "accepted": t.accepted,
        "channels": per_channel,
        "delivered": t.delivered,
        "dropped": t.dropped,
        "failed": t.failed,
        "filtered": t.filtered,
        "pending": t.pending,
        "suppressed": t.suppressed,
    })
    .to_string()
}
