//! Several channels of a kind (`extra_outputs`) and routing (`match`), end to end through a
//! handle: each endpoint or file receives exactly its subset, the rest is counted `filtered`
//! under the channel's name, and a mistyped entry is an init error naming it.

use std::time::Duration;

use crate::support::handle::*;
use crate::support::http::*;
use crate::support::{read_lines, require};
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};

fn alert(n: u64, rule: &str, source: &str, p: Priority, tags: &[&str]) -> Alert {
    let num = n.to_string();
    alert_from_parts(
        1_507_591_916_746_609_046 + n,
        p,
        rule,
        source,
        &format!("n={n}"),
        &[("evt.num", Some(&num), FieldKind::Number)],
        tags,
    )
}

/// A mix of rules, sources, tags and priorities; returns what was emitted.
fn mix() -> Vec<Alert> {
    let rules = [
        "Read sensitive file untrusted",
        "Write below binary dir",
        "Terminal shell in container",
    ];
    let sources = ["syscall", "k8s_audit"];
    let tags: [&[&str]; 3] = [
        &["filesystem", "mitre_credential_access"],
        &["mitre_persistence"],
        &["shell"],
    ];
    (0..60u64)
        .map(|n| {
            alert(
                n,
                rules[(n % 3) as usize],
                sources[(n / 3 % 2) as usize],
                Priority::ALL[(n / 6 % 8) as usize],
                tags[(n / 2 % 3) as usize],
            )
        })
        .collect()
}

fn nums_in_bodies(srv: &Server) -> Vec<u64> {
    srv.requests()
        .iter()
        .flat_map(|r| {
            r["body"]
                .as_str()
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["output_fields"]
                        ["evt.num"]
                        .as_u64()
                        .unwrap()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn channel_stats(o: &falco_outputs::Outputs, name: &str) -> falco_outputs::stats::StatsSnapshot {
    o.stats()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no channel {name}"))
        .1
}

#[test]
fn two_http_endpoints_receive_exactly_their_routed_subsets() {
    if !require("python3") {
        return;
    }
    let a = Server::start(ServerOpts::default());
    let b = Server::start(ServerOpts::default());
    let yaml = format!(
        r#"json_output: true
http_output:
  enabled: true
  url: {}
  batch_max_alerts: 10
  batch_max_wait_ms: 20
  match: {{rules: ["Read sensitive*", "Write below binary dir"], sources: [syscall]}}
extra_outputs:
  - name: siem
    type: http
    url: {}
    batch_max_alerts: 10
    batch_max_wait_ms: 20
    match: {{tags: ["mitre_*"], min_priority: warning}}
"#,
        a.url("/a"),
        b.url("/b")
    );
    let (o, _logs) = open(&yaml);
    let alerts = mix();
    let want_a: Vec<u64> = (0u64..60)
        .filter(|n| n % 3 != 2 && n / 3 % 2 == 0)
        .collect();
    let want_b: Vec<u64> = (0u64..60)
        .filter(|n| n / 2 % 3 != 2 && n / 6 % 8 <= 4)
        .collect();
    for al in alerts {
        o.emit(al).unwrap();
    }
    o.flush(Duration::from_secs(20)).unwrap();
    assert_eq!(nums_in_bodies(&a), want_a, "http_output's subset, in order");
    assert_eq!(nums_in_bodies(&b), want_b, "siem's subset, in order");
    let (sa, sb) = (channel_stats(&o, "http"), channel_stats(&o, "siem"));
    assert_eq!(
        (sa.delivered, sa.filtered),
        (want_a.len() as u64, 60 - want_a.len() as u64)
    );
    assert_eq!(
        (sb.delivered, sb.filtered),
        (want_b.len() as u64, 60 - want_b.len() as u64)
    );
    // The entry's name is in the stats JSON too.
    let json: serde_json::Value =
        serde_json::from_str(&falco_outputs::stats::to_json(o.accepted(), &o.stats())).unwrap();
    assert_eq!(json["channels"]["siem"]["delivered"], want_b.len() as u64);
    let metrics = o.metrics_text();
    assert!(metrics.contains(&format!(
        "falcosecurity_falco_outputs_alerts_total{{channel=\"siem\",status=\"filtered\"}} {}\n",
        60 - want_b.len()
    )));
    o.close(None).unwrap();
}

#[test]
fn a_file_channel_per_priority_band() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    // Three bands that split the priorities, plus a threshold (the block's own min_priority),
    // a source glob and a disabled entry.
    let yaml = format!(
        r#"file_output: {{enabled: true, filename: {}}}
extra_outputs:
  - {{name: urgent, type: file, filename: {}, match: {{min_priority: critical}}}}
  - {{name: middle, type: file, filename: {}, match: {{min_priority: warning, max_priority: error}}}}
  - {{name: low, type: file, filename: {}, match: {{max_priority: notice}}}}
  - {{name: warnings, type: file, filename: {}, min_priority: warning}}
  - {{name: k8s, type: file, filename: {}, match: {{sources: [k8s_*]}}}}
  - {{name: off, type: file, filename: {}, enabled: false}}
"#,
        p("all.log"),
        p("urgent.log"),
        p("middle.log"),
        p("low.log"),
        p("warnings.log"),
        p("k8s.log"),
        p("off.log")
    );
    let (o, _logs) = open(&yaml);
    for al in mix() {
        o.emit(al).unwrap();
    }
    o.flush(Duration::from_secs(20)).unwrap();
    let prios = |f: &str| -> Vec<String> {
        read_lines(std::path::Path::new(&p(f)))
            .iter()
            .map(|l| l.split(' ').nth(1).unwrap().to_string())
            .collect()
    };
    let all_in = |f: &str, set: &[&str]| prios(f).iter().all(|x| set.contains(&x.as_str()));
    assert_eq!(prios("all.log").len(), 60);
    // mix(): priorities by groups of 6 alerts, Emergency..Debug then Emergency, Alert again.
    let urgent = ["Emergency", "Alert", "Critical"];
    let middle = ["Error", "Warning"];
    let low = ["Notice", "Informational", "Debug"];
    assert_eq!(prios("urgent.log").len(), 30);
    assert!(all_in("urgent.log", &urgent));
    assert_eq!(prios("middle.log").len(), 12);
    assert!(all_in("middle.log", &middle));
    assert_eq!(prios("low.log").len(), 18);
    assert!(all_in("low.log", &low));
    assert_eq!(prios("warnings.log").len(), 42);
    assert!(all_in("warnings.log", &[&urgent[..], &middle[..]].concat()));
    assert_eq!(read_lines(std::path::Path::new(&p("k8s.log"))).len(), 30);
    assert!(!std::path::Path::new(&p("off.log")).exists());
    let names: Vec<&str> = o.stats().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["file", "urgent", "middle", "low", "warnings", "k8s"]
    );
    assert_eq!(channel_stats(&o, "middle").filtered, 48);
    o.close(None).unwrap();
}

#[test]
fn a_mistyped_entry_is_an_init_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.log").display().to_string();
    let logs = Logs::default();
    let err = |extra: &str| {
        let yaml =
            format!("file_output: {{enabled: true, filename: {f}}}\nextra_outputs:\n{extra}");
        match try_open(&yaml, &logs) {
            Ok(_) => panic!("accepted:\n{yaml}"),
            Err(e) => e.to_string(),
        }
    };
    let e = err("  - {name: siem, type: htpp, url: 'http://x'}\n");
    assert!(
        e.contains("extra_outputs.siem.type") && e.contains("htpp"),
        "{e}"
    );
    let e = err("  - {name: siem, type: http}\n");
    assert!(e.contains("extra_outputs.siem.url"), "{e}");
    let e = err("  - {name: siem, type: file, filename: /x, keep_alive: maybe}\n");
    assert!(
        e.contains("extra_outputs.siem.keep_alive") && e.contains("maybe"),
        "{e}"
    );
    let e = err("  - {type: file, filename: /x}\n");
    assert!(e.contains("extra_outputs[0]") && e.contains("name"), "{e}");
    let e = err(&format!(
        "  - {{name: a, type: file, filename: {f}}}\n  - {{name: a, type: stdout}}\n"
    ));
    assert!(
        e.contains("extra_outputs.a.name") && e.contains("already taken"),
        "{e}"
    );
    let e = err("  - {name: file, type: stdout}\n");
    assert!(e.contains("already taken"), "{e}");
    let e = err("  - {name: p, type: program, program: cat, match: {min_priority: loud}}\n");
    assert!(e.contains("extra_outputs.p.match.min_priority"), "{e}");
    let e = err(&format!(
        "  - {{name: b, type: file, filename: {f}, match: {{min_priority: error, max_priority: debug}}}}\n"
    ));
    assert!(
        e.contains("extra_outputs.b.match") && e.contains("no alert"),
        "{e}"
    );
    let e = err("  - {name: d, type: file, filename: /nonexistent-dir/x.log}\n");
    assert!(e.contains("extra_outputs.d"), "{e}");
    // An unknown key inside an entry is a warning naming it, as in Falco's blocks.
    let yaml = format!("extra_outputs:\n  - {{name: s, type: file, filename: {f}, colour: red}}\n");
    let o = try_open(&yaml, &logs).expect("opens");
    assert!(logs.count_containing("`extra_outputs.s.colour` is unknown") == 1);
    o.close(None).unwrap();
}

#[test]
fn log_lines_name_the_entry() {
    let dead = free_port();
    let yaml = format!(
        "output_timeout: 300\nextra_outputs:\n  - {{name: siem-eu, type: http, url: \"http://127.0.0.1:{dead}/\", retry_max_backoff_ms: 100}}\n"
    );
    let (o, logs) = open(&yaml);
    o.emit(alert(1, "r", "syscall", Priority::Error, &[]))
        .unwrap();
    assert!(crate::support::wait_for(Duration::from_secs(10), || {
        logs.count_containing("siem-eu output: cannot deliver to http://127.0.0.1") == 1
    }));
    assert!(o.close(None).is_err());
    assert!(
        logs.count_containing("siem-eu output: close: deadline") == 1,
        "{:?}",
        logs.lines()
    );
}
