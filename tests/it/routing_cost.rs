//! Hostile `match` patterns cost the engine's thread a bounded time per emit (issue 19): the
//! backtracking matcher took 8–10 s per emit for `*` + 5,000 `a` + `b` against a 1 MiB rule
//! name, and 25–33 s for 8 channels × 1,000 such patterns against a 10 KB name. Each emit is
//! timed, the first one (the rule never seen before) included; the decisions are checked
//! through the `filtered` counters and the files' lines.

use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::support::handle::*;
use crate::support::read_lines;
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};

/// Generous for a debug build on a loaded 2-CPU machine; the defect cost seconds.
const BOUND: Duration = Duration::from_millis(50);
/// An emit of a 1 MiB rule name copies and checks the 1 MiB whatever the routing: 4–27 ms in a
/// debug build at load 8 on 2 CPUs, with spikes to 85 ms under `cargo test`'s parallel load.
/// Still 30 times under the defect's 8–10 s.
const MIB_BOUND: Duration = Duration::from_millis(250);
/// The first sight of a name against thousands of patterns that each need a pass over it (a
/// debug build; see docs/routing.md).
const FIRST_SIGHT_BOUND: Duration = Duration::from_secs(3);

fn alert(rule: &str) -> Alert {
    alert_from_parts(
        1,
        Priority::Error,
        rule,
        "syscall",
        "m",
        &[("evt.num", Some("1"), FieldKind::Number)],
        &[],
    )
}

/// Emits `rule` three times, bounding each emit.
fn timed_emits(o: &falco_outputs::Outputs, rule: &str, what: &str) {
    let bound = if rule.len() >= 1 << 20 {
        MIB_BOUND
    } else {
        BOUND
    };
    for i in 0..3 {
        let t = Instant::now();
        o.emit(alert(rule)).unwrap();
        let took = t.elapsed();
        eprintln!("{what}: emit {i} took {took:?}");
        assert!(took < bound, "{what}: emit {i} took {took:?}");
    }
}

fn filtered(o: &falco_outputs::Outputs) -> Vec<u64> {
    o.stats().iter().map(|(_, s)| s.filtered).collect()
}

/// `*` + 5,000 `a` + `b`, as the end of the pattern and inside it, against a rule name of
/// 1 MiB of `a`: filtered, each emit within the bound; the same name ending in `b` matches.
#[test]
fn a_five_thousand_character_pattern_against_a_one_mib_rule_name() {
    let dir = tempfile::tempdir().unwrap();
    let run = "a".repeat(5000);
    for (name, pattern) in [("end", format!("*{run}b")), ("inside", format!("*{run}b*"))] {
        let f = dir.path().join(format!("{name}.log"));
        let yaml = format!(
            "file_output: {{enabled: true, filename: {}, match: {{rules: [{}]}}}}\n",
            f.display(),
            serde_json::to_string(&pattern).unwrap()
        );
        let (o, _logs) = open(&yaml);
        let rule = "a".repeat(1 << 20);
        timed_emits(&o, &rule, &format!("pattern {name}, 1 MiB of a"));
        assert_eq!(filtered(&o), [3]);
        timed_emits(
            &o,
            &format!("{rule}b"),
            &format!("pattern {name}, 1 MiB of a then b"),
        );
        assert_eq!(filtered(&o), [3]);
        o.flush(Duration::from_secs(20)).unwrap();
        o.close(None).unwrap();
        assert_eq!(read_lines(&f).len(), 3, "the matching alerts, once each");
    }
}

/// 8 channels × 1,000 patterns (`*` + 300 to 1,299 `a` + `b`, at the end and inside) against
/// a 10 KB rule name of `a`: filtered by all 8, each emit within the bound.
#[test]
fn eight_channels_of_a_thousand_patterns_against_a_ten_kb_rule_name() {
    let dir = tempfile::tempdir().unwrap();
    for (name, tail) in [("end", ""), ("inside", "*")] {
        let mut yaml = String::from("extra_outputs:\n");
        for c in 0..8 {
            let patterns: Vec<String> = (0..1000)
                .map(|i| format!("*{}b{tail}", "a".repeat(300 + i)))
                .collect();
            writeln!(
                yaml,
                "  - {{name: c{c}, type: file, filename: {}, match: {{rules: {}}}}}",
                dir.path().join(format!("{name}{c}.log")).display(),
                serde_json::to_string(&patterns).unwrap()
            )
            .unwrap();
        }
        let (o, _logs) = open(&yaml);
        timed_emits(
            &o,
            &"a".repeat(10_000),
            &format!("8 × 1,000 patterns ({name})"),
        );
        assert_eq!(filtered(&o), [3; 8]);
        // A name holding every byte the patterns name, and matching none of them: the first
        // sight scans the name once per pattern (linear each, 80 MB in all); every later emit
        // of that name is one lookup.
        let rule = format!("b{}", "a".repeat(10_000));
        let t = Instant::now();
        o.emit(alert(&rule)).unwrap();
        let first = t.elapsed();
        eprintln!("8 × 1,000 patterns ({name}), every byte present: first emit took {first:?}");
        assert!(first < FIRST_SIGHT_BOUND, "{first:?}");
        timed_emits(
            &o,
            &rule,
            &format!("8 × 1,000 patterns ({name}), every byte present"),
        );
        assert_eq!(filtered(&o), [7; 8]);
        o.close(None).unwrap();
    }
}
