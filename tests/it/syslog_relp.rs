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
    // buffer and in its hands, unanswered. rsyslogd is frozen once it has stored some of them,
    // so that what it stored is counted before the kill. If it already had them all (a fast
    // idle machine, or a descheduled test thread), a second burst is emitted while rsyslogd
    // stays frozen: those alerts go on the wire and into its socket buffer, unanswered.
    let mut k_emitted = N / 3;
    emit(k_emitted);
    let streaming = Instant::now() + Duration::from_secs(10);
    while relp_records(&rs).is_empty() && Instant::now() < streaming {
        std::thread::sleep(Duration::from_millis(2));
    }
    rs.freeze(true);
    let mut k_stored = relp_records(&rs).len();
    if k_stored as u64 >= k_emitted {
        emit(N / 30);
        k_emitted += N / 30;
        std::thread::sleep(Duration::from_millis(100));
        k_stored = relp_records(&rs).len();
    }
    rs.kill();
    // Emitted while the daemon is down: held, sent once it is back.
    emit(N / 3);
    std::thread::sleep(Duration::from_millis(300));
    rs.restart();
    emit(N - k_emitted - N / 3);
    let flushed = h.flush(60_000);
    let json = h.stats_json();
    let c = counts(&json, "syslog");
    let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
    for r in relp_records(&rs) {
        *copies.entry(num(&r.msg)).or_insert(0) += 1;
    }
    let stored: usize = copies.values().sum();
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

mod scripted_server {
    //! RELP servers that misbehave on cue (support::relp_server), the channel driven directly
    //! with a short `output_timeout`.

    use std::time::{Duration, Instant};

    use crate::support::accounting::assert_channel_accounting;
    use crate::support::relp_server::{Answer, RelpServer};
    use crate::support::syslog::SyslogHarness;
    use falco_outputs::alert::Priority;
    use falco_outputs::testing::{Channel, SyslogFormat};

    fn harness(server: &RelpServer) -> SyslogHarness {
        SyslogHarness::try_open(
            &format!("relp://127.0.0.1:{}", server.port),
            SyslogFormat::Rfc5424,
            1,
            Duration::from_millis(200),
        )
        .unwrap()
    }

    fn alerts(n: usize) -> Vec<(Priority, String)> {
        (0..n)
            .map(|i| (Priority::Warning, format!("relp-scripted #{i}")))
            .collect()
    }

    /// Sends `n` alerts and ticks until nothing is held (bounded); prints the figures.
    fn run(name: &str, server: &RelpServer, n: usize) -> (SyslogHarness, Duration) {
        let mut h = harness(server);
        let t = Instant::now();
        h.deliver(&alerts(n));
        let s = h.settled_stats();
        let took = t.elapsed();
        let sessions = server.sessions();
        let received: usize = sessions.iter().map(|s| s.messages.len()).sum();
        println!(
            "{name}: emitted {n}; server: {} sessions, {received} messages received; counted \
             delivered {}, failed {}, discarded {}, held {} after {took:?}",
            sessions.len(),
            s.delivered,
            s.failed,
            s.discarded,
            h.channel.held()
        );
        assert_channel_accounting(name, n as u64, h.channel.held() as u64, &s);
        (h, took)
    }

    /// A server that takes every message and answers none: nothing is delivered; each
    /// connection is dropped after `output_timeout` without an answer, the alerts are written
    /// again on the next, and after 8 connections they are counted failed. At most 1024 are
    /// outstanding on any connection.
    #[test]
    fn a_server_that_never_answers_gets_nothing_counted_delivered() {
        let server = RelpServer::start(Answer::Never);
        const N: usize = 1100;
        let (h, took) = run("relp never answers", &server, N);
        let s = h.stats();
        assert_eq!(
            (s.delivered, s.failed, h.channel.held()),
            (0, N as u64, 0),
            "{s:?}"
        );
        let sessions = server.sessions();
        let per_session: Vec<usize> = sessions.iter().map(|s| s.messages.len()).collect();
        // Each alert written on exactly 8 connections; never more than 1024 outstanding.
        assert_eq!(per_session.iter().sum::<usize>(), N * 8, "{per_session:?}");
        assert!(per_session.iter().all(|&n| n <= 1024), "{per_session:?}");
        assert!(
            per_session.contains(&1024),
            "the window was reached: {per_session:?}"
        );
        assert!(took < Duration::from_secs(20), "{took:?}");
        assert!(
            h.logged("nothing confirmed for 200 ms") >= 1,
            "{}",
            h.log_text()
        );
    }

    /// `500` for every message: each alert is counted failed once, logged, never re-sent.
    #[test]
    fn refusals_are_failed_not_resent() {
        let server = RelpServer::start(Answer::Refuse);
        let (h, _) = run("relp refuses", &server, 200);
        let s = h.stats();
        assert_eq!((s.delivered, s.failed), (0, 200), "{s:?}");
        let sessions = server.sessions();
        assert_eq!(sessions.len(), 1);
        assert_eq!(
            sessions[0].messages.len(),
            200,
            "each refused alert sent once"
        );
        assert!(
            h.logged("the RELP server refused alerts: 500 message refused") >= 1,
            "{}",
            h.log_text()
        );
    }

    /// Garbage instead of answers: a protocol error drops the connection (logged); the alerts
    /// are written again on new connections and finally failed; nothing delivered, no panic.
    #[test]
    fn garbage_answers_are_a_protocol_error() {
        let server = RelpServer::start(Answer::Garbage);
        let (h, _) = run("relp garbage", &server, 50);
        let s = h.stats();
        assert_eq!(
            (s.delivered, s.failed, h.channel.held()),
            (0, 50, 0),
            "{s:?}"
        );
        assert!(h.logged("RELP protocol error") >= 1, "{}", h.log_text());
    }

    /// The well-behaved script: every alert answered, delivered once, the session closed with
    /// `close` at the end.
    #[test]
    fn answered_alerts_are_delivered_once() {
        let server = RelpServer::start(Answer::Ok);
        let (mut h, _) = run("relp ok", &server, 500);
        assert_eq!((h.stats().delivered, h.stats().failed), (500, 0));
        let got = &server.sessions()[0].messages;
        assert_eq!(got.len(), 500);
        assert!(
            got[499].ends_with(" - - relp-scripted #499"),
            "{}",
            got[499]
        );
        let ctx = &h.harness.ctx;
        h.channel.close(ctx);
    }
}
