//! RELP (`syslog_output.address: relp://host:port`) against a real rsyslogd with imrelp, through
//! the C ABI: every alert is stored exactly as the file channel wrote it, counted delivered only
//! once rsyslogd answered `200 OK`, and a kill -9 of the daemon mid-stream loses nothing
//! (alerts it had not answered are sent again after the restart: duplicates are possible and
//! counted here).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::support::accounting::{assert_settled, counts};
use crate::support::capi::Handle;
use crate::support::rsyslog::{Record, Rsyslog};
use crate::support::*;
use falco_outputs::ffi::falco_outputs_result::FALCO_OUTPUTS_OK;

fn yaml(rs: &Rsyslog, file: &std::path::Path) -> String {
    format!(
        "stdout_output: {{enabled: false}}\n\
         json_output: true\n\
         file_output: {{enabled: true, filename: {}}}\n\
         syslog_output: {{enabled: true, address: \"relp://127.0.0.1:{}\", format: rfc5424}}\n",
        file.display(),
        rs.relp_port
    )
}

/// The `evt.num` of a stored JSON alert.
fn num(msg: &str) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(msg).unwrap_or_else(|e| panic!("not an alert ({e}): {msg}"));
    v["output_fields"]["evt.num"]
        .as_u64()
        .unwrap_or_else(|| panic!("no evt.num: {msg}"))
}

fn relp_records(rs: &Rsyslog) -> Vec<Record> {
    rs.records()
        .into_iter()
        .filter(|r| r.input == "imrelp" && r.app_name != "probe")
        .collect()
}

#[test]
fn every_alert_is_stored_exactly_as_sent_and_delivered_means_answered() {
    let rs = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let h = Handle::open(&yaml(&rs, &file));
    const N: u64 = 2000;
    for i in 0..N {
        assert_eq!(h.emit_seed(i), FALCO_OUTPUTS_OK);
    }
    assert_eq!(h.flush(30_000), FALCO_OUTPUTS_OK);
    let json = h.stats_json();
    assert_settled(&json);
    let c = counts(&json, "syslog");
    let got = relp_records(&rs);
    let lines = read_lines(&file);
    println!(
        "relp: emitted {N}, stored by rsyslogd {}, file lines {}; counted {c}",
        got.len(),
        lines.len()
    );
    assert_eq!((c.delivered, c.failed, c.discarded), (N, 0, 0), "{c}");
    // Flush returned after every 200 OK: rsyslogd has written them all (direct queue).
    assert_eq!(got.len() as u64, N);
    for (r, line) in got.iter().zip(&lines) {
        assert_eq!(&r.msg, line, "an RFC 5424 MSG is the JSON line itself");
        assert_eq!((r.facility, r.severity), (1, 3), "{r:?}");
        assert_eq!(r.hostname, "h", "{r:?}");
        assert_eq!(r.procid, std::process::id().to_string(), "{r:?}");
    }
    let (r, logs) = h.close(5000);
    assert_eq!(r, FALCO_OUTPUTS_OK);
    assert!(logs.is_empty(), "{logs:?}");
}

/// rsyslogd is killed with SIGKILL while a burst streams to it and started again 300 ms later.
/// Every alert emitted is stored at least once; each one is counted delivered exactly once,
/// none failed or discarded; the duplicates (answered by the old daemon's kernel too late, or
/// written but not answered) are counted and printed.
#[test]
fn kill_9_of_rsyslogd_mid_stream_loses_nothing() {
    let mut rs = Rsyslog::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let h = Handle::open(&yaml(&rs, &file));
    const N: u64 = 3000;
    let t = Instant::now();
    let mut emitted = 0;
    let mut emit = |n: u64| {
        for _ in 0..n {
            assert_eq!(h.emit_seed(emitted), FALCO_OUTPUTS_OK);
            emitted += 1;
        }
    };
    // A burst, and the kill right behind it: alerts are on the wire, in rsyslogd's socket
    // buffer and in its hands, unanswered.
    emit(N / 3);
    let streaming = Instant::now() + Duration::from_secs(10);
    while relp_records(&rs).is_empty() && Instant::now() < streaming {
        std::thread::sleep(Duration::from_millis(2));
    }
    let k_stored = relp_records(&rs).len();
    rs.kill();
    // Emitted while the daemon is down: held, sent once it is back.
    emit(N / 3);
    std::thread::sleep(Duration::from_millis(300));
    rs.restart();
    emit(N - 2 * (N / 3));
    let flushed = h.flush(60_000);
    let json = h.stats_json();
    let c = counts(&json, "syslog");
    let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
    for r in relp_records(&rs) {
        *copies.entry(num(&r.msg)).or_insert(0) += 1;
    }
    let stored: usize = copies.values().sum();
    let k_emitted = N / 3;
    println!(
        "relp kill -9: killed after {k_emitted} emitted / {k_stored} stored; emitted {N}, \
         stored {} distinct ({stored} with {} duplicates) in {:?}; counted {c}",
        copies.len(),
        stored - copies.len(),
        t.elapsed()
    );
    assert!(
        (k_stored as u64) < k_emitted,
        "the kill came after everything was stored: not mid-stream"
    );
    assert_eq!(flushed, FALCO_OUTPUTS_OK, "{c}");
    assert_settled(&json);
    let missing: Vec<u64> = (0..N).filter(|n| !copies.contains_key(n)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert_eq!((c.delivered, c.failed, c.discarded), (N, 0, 0), "{c}");
    let (r, logs) = h.close(5000);
    assert_eq!(r, FALCO_OUTPUTS_OK);
    assert!(
        logs.iter()
            .any(|l| l.contains("connection to relp://127.0.0.1") && l.contains("lost")),
        "the lost connection is logged: {logs:?}"
    );
}
