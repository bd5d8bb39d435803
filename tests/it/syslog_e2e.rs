//! The syslog channel end to end, configured by falco.yaml keys and fed through `Outputs`, next
//! to the file channel: what rsyslog stored is the line the file got (minus the newline), and a
//! dead daemon costs the other channels nothing.

use std::time::{Duration, Instant};

use crate::support::rsyslog::Rsyslog;
use crate::support::*;
use falco_outputs::alert::{alert_from_parts, Alert, Priority};

fn alert(p: Priority, label: &str, i: usize) -> Alert {
    alert_from_parts(
        1_507_591_916_746_609_046 + i as u64,
        p,
        "Write below binary dir",
        "syscall",
        &format!("{label} #{i} (user=root command=touch /bin/hack)"),
        &[],
        &["filesystem"],
    )
}

fn yaml(address: &str, file: &std::path::Path, syslog_extra: &str, top: &str) -> String {
    format!(
        "stdout_output: {{enabled: false}}\n\
         file_output: {{enabled: true, filename: {}}}\n\
         syslog_output: {{enabled: true, address: \"{address}\"{syslog_extra}}}\n{top}",
        file.display()
    )
}

fn stats(out: &falco_outputs::Outputs, name: &str) -> falco_outputs::stats::StatsSnapshot {
    out.stats()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no {name} channel"))
        .1
}

#[test]
fn yaml_keys_priorities_and_min_priority_through_outputs() {
    let rs = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.txt");
    let (out, logs) = open(&yaml(
        &format!("unix://{}", rs.unix.display()),
        &file,
        ", facility: local0, min_priority: warning",
        "",
    ));
    for (i, p) in Priority::ALL.iter().enumerate() {
        out.emit(alert(*p, "e2e", i)).unwrap();
    }
    out.flush(Duration::from_secs(5)).unwrap();
    let got = rs.wait_for(5, Duration::from_secs(5), |r| r.msg.contains("e2e #"));
    // Emergency..Warning pass min_priority: warning; the file channel got all eight.
    let lines = read_lines(&file);
    assert_eq!(lines.len(), 8);
    assert_eq!(got.len(), 5, "{got:#?}");
    for (i, r) in got.iter().enumerate() {
        assert_eq!((r.facility, r.severity), (16, i as u8), "{r:?}");
        assert_eq!(r.msg.strip_prefix(' '), Some(lines[i].as_str()), "{r:?}");
    }
    let s = stats(&out, "syslog");
    assert_eq!((s.delivered, s.filtered, s.failed), (5, 3, 0), "{s:?}");
    out.close(None).unwrap();
    assert!(logs.lines().is_empty(), "{:?}", logs.lines());
}

#[test]
fn json_output_over_tcp_rfc5424() {
    let rs = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let (out, _) = open(&yaml(
        &format!("tcp://127.0.0.1:{}", rs.tcp_port),
        &file,
        ", format: rfc5424",
        "json_output: true",
    ));
    for i in 0..3 {
        out.emit(alert(Priority::Critical, "json", i)).unwrap();
    }
    out.close(None).unwrap();
    let got = rs.wait_for(3, Duration::from_secs(5), |r| r.msg.contains("json #"));
    let lines = read_lines(&file);
    assert_eq!(got.len(), 3, "{got:#?}");
    for (r, line) in got.iter().zip(&lines) {
        assert_eq!(&r.msg, line, "an RFC 5424 MSG is the JSON line itself");
        assert_eq!((r.facility, r.severity), (1, 2));
    }
}

#[test]
fn a_dead_daemon_costs_the_file_channel_nothing() {
    let mut rs = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.txt");
    let (out, logs) = open(&yaml(
        &format!("tcp://127.0.0.1:{}", rs.tcp_port),
        &file,
        "",
        "",
    ));
    rs.kill();
    let t = Instant::now();
    for i in 0..500 {
        out.emit(alert(Priority::Error, "dead", i)).unwrap();
    }
    out.flush(Duration::from_secs(5)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(read_lines(&file).len(), 500);
    let s = stats(&out, "syslog");
    assert_eq!((s.delivered, s.failed), (0, 500), "{s:?}");
    assert_eq!(
        logs.count_containing("cannot deliver"),
        1,
        "{:?}",
        logs.lines()
    );

    // Back: alerts emitted from now on reach it.
    rs.restart();
    for i in 0..10 {
        out.emit(alert(Priority::Error, "alive", i)).unwrap();
    }
    out.close(None).unwrap();
    assert_eq!(
        rs.wait_for(10, Duration::from_secs(5), |r| r.msg.contains("alive #"))
            .len(),
        10
    );
}
