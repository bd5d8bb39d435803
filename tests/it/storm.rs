//! Storm control (`storm` in an output block) end to end: a storm of one rule mixed with a
//! trickle of others, what each channel's file holds (byte for byte), the summaries, the
//! counters and the metrics.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::accounting::{assert_settled, counts};
use crate::support::*;
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};

const STORM_RULE: &str = "Terminal shell in container";

/// Storm alert `n`: one rule, numbered through `evt.num`.
fn storm_alert(n: u64) -> Alert {
    let num = n.to_string();
    alert_from_parts(
        1_700_000_000_000_000_000 + n * 1000,
        Priority::Notice,
        STORM_RULE,
        "syscall",
        "A shell was spawned in a container (user=root shell=bash)",
        &[
            ("evt.num", Some(&num), FieldKind::Number),
            ("container.id", Some("abc123"), FieldKind::String),
        ],
        &["container", "shell"],
    )
}

/// The trickle: 25 rules, 4 alerts each (below any `max` used here).
fn other_alert(i: u64) -> Alert {
    let num = (1_000_000 + i).to_string();
    alert_from_parts(
        1_700_000_000_000_000_000 + i * 7,
        Priority::Warning,
        &format!("Other rule {}", i % 25),
        "syscall",
        &format!("something else happened (i={i})"),
        &[("evt.num", Some(&num), FieldKind::Number)],
        &["other"],
    )
}

/// The storm-controlled channel `file_output`, and `all`, an unfiltered copy of every alert.
fn two_files(dir: &Path, storm: &str) -> String {
    format!(
        "json_output: true\nstdout_output: {{enabled: false}}\n\
         file_output: {{enabled: true, filename: {}, storm: {storm}}}\n\
         extra_outputs:\n  - {{name: all, type: file, filename: {}}}\n",
        dir.join("storm.json").display(),
        dir.join("all.json").display()
    )
}

fn json_lines(path: &Path) -> Vec<(String, serde_json::Value)> {
    read_lines(path)
        .into_iter()
        .map(|l| {
            let v = serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}"));
            (l, v)
        })
        .collect()
}

fn is_summary(v: &serde_json::Value) -> bool {
    v["output_fields"]["storm.held_back"].is_number()
}

#[test]
fn a_storm_of_one_rule_is_summarised_and_the_trickle_passes_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = open(&two_files(dir.path(), "{per: [rule], max: 10, window: 1h}"));
    // 10,000 storm alerts; after every 100th, one of the trickle.
    let mut others = 0;
    for n in 0..10_000 {
        out.emit(storm_alert(n)).unwrap();
        if n % 100 == 99 {
            out.emit(other_alert(others)).unwrap();
            others += 1;
        }
    }
    out.flush(Duration::from_secs(30)).unwrap();
    let before_close = falco_outputs::stats::to_json(out.accepted(), &out.stats());
    // The window is an hour: the summary comes at close.
    out.close(None).unwrap();
    assert_eq!(others, 100);
    let c = counts(&before_close, "file");
    assert_eq!((c.suppressed, c.storm_summaries), (9_990, 0), "{c}");

    let storm = json_lines(&dir.path().join("storm.json"));
    let all = json_lines(&dir.path().join("all.json"));
    assert_eq!(
        all.len(),
        10_100,
        "the channel without storm control got everything"
    );
    // The trickle: the same lines, byte for byte, in the same order, on both channels.
    let trickle = |lines: &[(String, serde_json::Value)]| -> Vec<String> {
        lines
            .iter()
            .filter(|(_, v)| v["rule"] != STORM_RULE)
            .map(|(l, _)| l.clone())
            .collect()
    };
    assert_eq!(trickle(&storm), trickle(&all));
    assert_eq!(trickle(&storm).len(), 100);
    // The storm: its first 10 alerts as they are, then one summary.
    let storm_lines: Vec<_> = storm
        .iter()
        .filter(|(_, v)| v["rule"] == STORM_RULE)
        .collect();
    assert_eq!(storm_lines.len(), 11);
    let firsts: Vec<&String> = all
        .iter()
        .filter(|(_, v)| v["rule"] == STORM_RULE)
        .take(10)
        .map(|(l, _)| l)
        .collect();
    assert_eq!(
        storm_lines[..10].iter().map(|(l, _)| l).collect::<Vec<_>>(),
        firsts
    );
    let (summary_line, summary) = storm_lines[10];
    assert!(is_summary(summary));
    assert_eq!(summary["output_fields"]["storm.held_back"], 9_990);
    assert_eq!(
        summary["output_fields"]["evt.num"], 10,
        "the fields of the first held back"
    );
    assert_eq!(summary["priority"], "Notice");

    // Byte-formatted like every alert: the same alert emitted on a plain channel gives the
    // same line.
    let first_held = 1_700_000_000_000_000_000u64 + 10 * 1000;
    let last_held = 1_700_000_000_000_000_000u64 + 9_999 * 1000;
    let message = format!(
        "storm control: 9990 alerts held back from 2023-11-14T22:13:20.000010000Z to \
         2023-11-14T22:13:20.009999000Z (rule={STORM_RULE}); the first: A shell was spawned in \
         a container (user=root shell=bash)"
    );
    let expected = alert_from_parts(
        first_held,
        Priority::Notice,
        STORM_RULE,
        "syscall",
        &message,
        &[
            ("evt.num", Some("10"), FieldKind::Number),
            ("container.id", Some("abc123"), FieldKind::String),
            ("storm.held_back", Some("9990"), FieldKind::Number),
            (
                "storm.first_time",
                Some("2023-11-14T22:13:20.000010000Z"),
                FieldKind::String,
            ),
            (
                "storm.last_time",
                Some("2023-11-14T22:13:20.009999000Z"),
                FieldKind::String,
            ),
        ],
        &["container", "shell"],
    );
    assert_eq!(last_held % 1_000_000_000, 9_999_000);
    let plain = dir.path().join("plain.json");
    let (p, _) = open(&format!(
        "json_output: true\nstdout_output: {{enabled: false}}\nfile_output: {{enabled: true, filename: {}}}\n",
        plain.display()
    ));
    p.emit(expected).unwrap();
    p.close(None).unwrap();
    assert_eq!(read_lines(&plain), std::slice::from_ref(summary_line));
}

#[test]
fn the_counters_add_up_with_storm_control() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = open(&two_files(dir.path(), "{max: 10, window: 1h}"));
    for n in 0..10_000 {
        out.emit(storm_alert(n)).unwrap();
        if n % 100 == 99 {
            out.emit(other_alert(n / 100)).unwrap();
        }
    }
    out.flush(Duration::from_secs(30)).unwrap();
    let json = falco_outputs::stats::to_json(out.accepted(), &out.stats());
    let all = assert_settled(&json);
    let c = counts(&json, "file");
    assert_eq!(
        (c.enqueued, c.delivered, c.suppressed, c.storm_summaries),
        (110, 110, 9_990, 0)
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["suppressed"], 9_990);
    let metrics = out.metrics_text();
    assert!(metrics.contains(
        "falcosecurity_falco_outputs_alerts_total{channel=\"file\",status=\"suppressed\"} 9990\n"
    ));
    assert!(metrics.contains(
        "falcosecurity_falco_outputs_alerts_total{channel=\"all\",status=\"suppressed\"} 0\n"
    ));
    assert_eq!(all.len(), 2);
    // Close sends the summary.
    out.close(None).unwrap();
    assert_eq!(read_lines(&dir.path().join("storm.json")).len(), 111);
}

/// Windows end by time, whether alerts come or not: a storm paced over several windows gives
/// one summary per window that held something back, within about a second of its end, and
/// every storm alert is either a line or counted in exactly one summary.
#[test]
fn windows_end_by_time_and_every_alert_is_a_line_or_in_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = open(&two_files(
        dir.path(),
        "{per: [rule, hostname], max: 5, window: 300ms}",
    ));
    let started = Instant::now();
    // 10,000 alerts over about 1.5 s: several windows.
    for n in 0..10_000 {
        out.emit(storm_alert(n)).unwrap();
        if n % 20 == 19 {
            std::thread::sleep(Duration::from_millis(3));
        }
    }
    let emitting = started.elapsed();
    // The last window's summary comes without any further alert.
    let path = dir.path().join("storm.json");
    let c0 = || {
        counts(
            &falco_outputs::stats::to_json(out.accepted(), &out.stats()),
            "file",
        )
    };
    assert!(
        wait_for(Duration::from_secs(10), || {
            let c = c0();
            c.storm_summaries > 0 && c.delivered == c.enqueued && {
                let lines = json_lines(&path);
                let held: u64 = lines
                    .iter()
                    .filter(|(_, v)| is_summary(v))
                    .map(|(_, v)| v["output_fields"]["storm.held_back"].as_u64().unwrap())
                    .sum();
                held == c.suppressed
            }
        }),
        "the last summary did not come: {}",
        c0()
    );
    let json = falco_outputs::stats::to_json(out.accepted(), &out.stats());
    assert_settled(&json);
    let c = counts(&json, "file");
    out.close(None).unwrap();
    let lines = json_lines(&path);
    let summaries: Vec<_> = lines.iter().filter(|(_, v)| is_summary(v)).collect();
    let passed = lines.len() - summaries.len();
    let held: u64 = summaries
        .iter()
        .map(|(_, v)| v["output_fields"]["storm.held_back"].as_u64().unwrap())
        .sum();
    eprintln!(
        "10,000 alerts in {emitting:?}: {passed} passed, {} summaries holding {held}; counters: \
         suppressed {} summaries {}",
        summaries.len(),
        c.suppressed,
        c.storm_summaries
    );
    assert_eq!(
        passed as u64 + held,
        10_000,
        "every alert a line or in a summary"
    );
    assert_eq!(held, c.suppressed);
    assert_eq!(summaries.len() as u64, c.storm_summaries);
    assert!(summaries.len() >= 2, "the storm spanned several windows");
    // At most `max` alerts pass per window, and every window but maybe the last summarised.
    assert!(passed as u64 <= 5 * (c.storm_summaries + 1));
    assert!(summaries.iter().all(|(_, v)| v["output"]
        .as_str()
        .unwrap()
        .contains(&format!("(rule={STORM_RULE} hostname=h)"))));
}

#[test]
fn storm_keys_are_checked_and_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::default();
    for (storm, want) in [
        (
            "{max: 10, window: 0}",
            "config key `file_output.storm.window`",
        ),
        ("{max: 10, per: []}", "config key `file_output.storm.per`"),
        ("{max: many}", "config key `file_output.storm.max`"),
        (
            "{max: 10, window: soon}",
            "config key `file_output.storm.window`",
        ),
    ] {
        let e = try_open(&two_files(dir.path(), storm), &logs)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(want), "{storm}: {e}");
    }
    // Off by default: every one of 1,000 alerts of one rule is a line.
    let path = dir.path().join("default.txt");
    let (out, _) = open(&format!(
        "stdout_output: {{enabled: false}}\nfile_output: {{enabled: true, filename: {}}}\n",
        path.display()
    ));
    for n in 0..1000 {
        out.emit(storm_alert(n)).unwrap();
    }
    out.close(None).unwrap();
    assert_eq!(read_lines(&path).len(), 1000);
}
