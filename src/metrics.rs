//! The counters in the Prometheus text exposition format (version 0.0.4), for a host that serves
//! them on its own web server (the library opens no port). Names follow Falco's
//! `falcosecurity_<component>_<name>` style; docs/runtime.md lists them.

use std::fmt::Write;

use crate::stats::StatsSnapshot;

/// One channel as the metrics see it.
pub struct ChannelMetrics<'a> {
    pub name: &'a str,
    pub stats: StatsSnapshot,
    /// Alerts waiting for the channel: in the intake (not yet formatted) or on its own queue.
    pub queue_depth: u64,
}

/// How one per-channel family reads its value.
type Value = fn(&ChannelMetrics<'_>) -> String;

const PREFIX: &str = "falcosecurity_falco_outputs_";

/// The per-channel families with one sample per channel: name, type, help, value.
const PER_CHANNEL: [(&str, &str, &str, Value); 10] = [
    (
        "alerts_pending",
        "gauge",
        "Alerts enqueued for the channel and not yet accounted for (queued, in a batch, or held for a retry).",
        |c| c.stats.pending().to_string(),
    ),
    (
        "queue_depth",
        "gauge",
        "Alerts waiting for the channel: in the intake, not yet formatted (counted for every channel), or on the channel's own queue.",
        |c| c.queue_depth.to_string(),
    ),
    (
        "spool_bytes",
        "gauge",
        "Bytes of alerts held for a retry: in spool_dir when set, else in memory (bounded by spool_max_mb).",
        |c| c.stats.held_bytes.to_string(),
    ),
    (
        "retries_total",
        "counter",
        "Failed delivery attempts that the channel makes again.",
        |c| c.stats.retries.to_string(),
    ),
    (
        "write_errors_total",
        "counter",
        "Failed writes or requests, retried or not.",
        |c| c.stats.errors.to_string(),
    ),
    (
        "spool_corrupt_total",
        "counter",
        "Damaged places found in the channel's on-disk spool (skipped or rebuilt); not alerts.",
        |c| c.stats.spool_corrupt.to_string(),
    ),
    (
        "storm_summaries_total",
        "counter",
        "Summary alerts storm control made and queued for the channel (counted in alerts_total like any alert).",
        |c| c.stats.summaries.to_string(),
    ),
    (
        "file_rotations_total",
        "counter",
        "Files the channel rotated itself (file_output.rotate); 0 on other channels.",
        |c| c.stats.rotations.to_string(),
    ),
    (
        "duplicates_total",
        "counter",
        "Delivered alerts the peer already held (a NATS PubAck with duplicate: true); part of delivered.",
        |c| c.stats.duplicates.to_string(),
    ),
    (
        "last_success_timestamp_seconds",
        "gauge",
        "Unix time of the channel's last delivery; 0 before the first.",
        |c| seconds(c.stats.last_success_ns),
    ),
];

/// The whole exposition: one `# HELP` and `# TYPE` per family, a sample per channel.
pub fn to_prometheus(version: &str, accepted: u64, channels: &[ChannelMetrics<'_>]) -> String {
    let mut out = String::with_capacity(1024 + channels.len() * 1024);
    family(&mut out, "version_info", "gauge", "The library's version.");
    sample(&mut out, "version_info", &[("version", version)], "1");
    family(
        &mut out,
        "alerts_accepted_total",
        "counter",
        "Alerts and messages taken by emit.",
    );
    sample(
        &mut out,
        "alerts_accepted_total",
        &[],
        &accepted.to_string(),
    );
    alerts_by_outcome(&mut out, channels);
    for (name, kind, help, value) in PER_CHANNEL {
        family(&mut out, name, kind, help);
        for ch in channels {
            sample(&mut out, name, &[("channel", ch.name)], &value(ch));
        }
    }
    out
}

/// `alerts_total`: a sample per channel and outcome.
fn alerts_by_outcome(out: &mut String, channels: &[ChannelMetrics<'_>]) {
    family(
        out,
        "alerts_total",
        "counter",
        "Alerts per channel by final outcome: delivered, failed (refused or unwritable), \
         dropped (queue full), discarded (spool bound or close deadline), filtered (not routed \
         to the channel), suppressed (held back by storm control, told of by a summary). With \
         alerts_pending they add up to alerts_accepted_total plus storm_summaries_total.",
    );
    for ch in channels {
        let s = &ch.stats;
        for (status, n) in [
            ("delivered", s.delivered),
            ("failed", s.failed),
            ("dropped", s.dropped_queue_full),
            ("discarded", s.discarded),
            ("filtered", s.filtered),
            ("suppressed", s.suppressed),
        ] {
            sample(
                out,
                "alerts_total",
                &[("channel", ch.name), ("status", status)],
                &n.to_string(),
            );
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {PREFIX}{name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {PREFIX}{name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: &str) {
    out.push_str(PREFIX);
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// Label values escape `\`, `"` and line feeds (a channel's name comes from the configuration).
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Nanoseconds as decimal seconds, exact (no float rounding).
fn seconds(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_and_escaping() {
        let stats = StatsSnapshot {
            enqueued: 7,
            delivered: 3,
            failed: 1,
            dropped_queue_full: 2,
            discarded: 1,
            filtered: 4,
            retries: 5,
            errors: 6,
            held_bytes: 99,
            last_success_ns: 1_700_000_000_000_000_001,
            spool_corrupt: 0,
            rotations: 2,
            duplicates: 0,
            suppressed: 8,
            summaries: 1,
        };
        let text = to_prometheus(
            "0.1.0",
            13,
            &[ChannelMetrics {
                name: "a\"b\\c\nd",
                stats,
                queue_depth: 1,
            }],
        );
        let ch = r#"channel="a\"b\\c\nd""#;
        for want in [
            "falcosecurity_falco_outputs_alerts_accepted_total 13\n".to_string(),
            format!("falcosecurity_falco_outputs_alerts_total{{{ch},status=\"delivered\"}} 3\n"),
            format!("falcosecurity_falco_outputs_alerts_total{{{ch},status=\"dropped\"}} 2\n"),
            format!("falcosecurity_falco_outputs_alerts_total{{{ch},status=\"discarded\"}} 1\n"),
            format!("falcosecurity_falco_outputs_alerts_pending{{{ch}}} 2\n"),
            format!("falcosecurity_falco_outputs_spool_bytes{{{ch}}} 99\n"),
            format!("falcosecurity_falco_outputs_retries_total{{{ch}}} 5\n"),
            format!(
                "falcosecurity_falco_outputs_last_success_timestamp_seconds{{{ch}}} 1700000000.000000001\n"
            ),
            "# TYPE falcosecurity_falco_outputs_queue_depth gauge\n".to_string(),
            format!("falcosecurity_falco_outputs_file_rotations_total{{{ch}}} 2\n"),
            format!("falcosecurity_falco_outputs_alerts_total{{{ch},status=\"suppressed\"}} 8\n"),
            format!("falcosecurity_falco_outputs_storm_summaries_total{{{ch}}} 1\n"),
        ] {
            assert!(text.contains(&want), "missing {want:?} in\n{text}");
        }
        assert_eq!(text.matches("# TYPE").count(), 13);
    }
}
