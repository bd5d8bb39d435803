//! Syslog over TLS (`tls://`, RFC 5425) and RELP over TLS (`relp+tls://`) against a real
//! rsyslogd with rsyslog-gnutls and imrelp, certificates made here with openssl
//! (`support::rsyslog_tls`): what rsyslogd stored, byte for byte, and the counters.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::support::accounting::{assert_settled, counts, Counts};
use crate::support::rsyslog_tls::{Certs, RsyslogTls};
use crate::support::*;
use falco_outputs::Outputs;

fn yaml(file: &std::path::Path, address: &str, tls: &str, extra: &str) -> String {
    format!(
        "stdout_output: {{enabled: false}}\n\
         json_output: true\n\
         file_output: {{enabled: true, filename: {}}}\n\
         syslog_output: {{enabled: true, address: \"{address}\", format: rfc5424, tls: {tls}}}\n\
         {extra}",
        file.display()
    )
}

fn syslog_counts(out: &Outputs) -> Counts {
    counts(
        &falco_outputs::stats::to_json(out.accepted(), &out.stats()),
        "syslog",
    )
}

fn settled(out: &Outputs) -> Counts {
    let json = falco_outputs::stats::to_json(out.accepted(), &out.stats());
    assert_settled(&json);
    counts(&json, "syslog")
}

/// The `evt.num` of a stored JSON alert.
fn num(msg: &str) -> u64 {
    evt_num(msg)
}

/// 1. mTLS to imtcp (gtls, mode 1, x509/certvalid, client certificate required): 10,000
///    alerts stored byte for byte as the file channel wrote them, in order, all delivered.
#[test]
fn mtls_to_rsyslogd_stores_every_alert_byte_for_byte_in_order() {
    let Some(certs) = Certs::make() else { return };
    let rs = RsyslogTls::start(&certs);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let address = format!("tls://127.0.0.1:{}", rs.port("tls"));
    let (out, logs) = open(&yaml(&file, &address, &certs.client_tls(""), ""));
    const N: u64 = 10_000;
    let t = Instant::now();
    for i in 0..N {
        out.emit(seed_alert(i)).unwrap();
    }
    out.flush(Duration::from_secs(60)).unwrap();
    let took = t.elapsed();
    let c = settled(&out);
    let got = rs.records("tls");
    let lines = read_lines(&file);
    println!(
        "tls mTLS: emitted {N}, stored by rsyslogd {}, file lines {}, in {took:?}; counted {c}",
        got.len(),
        lines.len()
    );
    assert_eq!((c.delivered, c.failed, c.discarded), (N, 0, 0), "{c}");
    assert_eq!(got.len() as u64, N, "{}", rs.daemon_output());
    assert_eq!(lines.len() as u64, N);
    for (i, (r, line)) in got.iter().zip(&lines).enumerate() {
        assert_eq!(
            &r.msg, line,
            "alert {i}: the RFC 5424 MSG is the JSON line itself"
        );
        assert_eq!(num(&r.msg), i as u64, "in order");
        assert_eq!((r.facility, r.severity, r.hostname.as_str()), (1, 3, "h"));
    }
    out.close(Some(Duration::from_secs(5))).unwrap();
    let errors: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("cannot") || l.contains("lost") || l.contains("TLS"))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// Sends `n` alerts through `tls://127.0.0.1:<input>` with the given `tls` block; returns the
/// counters, how many records that input stored meanwhile, and the log.
fn run_against(rs: &RsyslogTls, input: &str, tls: &str, n: u64) -> (Counts, usize, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let address = format!("tls://127.0.0.1:{}", rs.port(input));
    let before = rs.records(input).len();
    let (out, logs) = open(&yaml(&file, &address, tls, "output_timeout: 1000\n"));
    for i in 0..n {
        out.emit(seed_alert(i)).unwrap();
    }
    out.flush(Duration::from_secs(30)).unwrap();
    let c = settled(&out);
    out.close(Some(Duration::from_secs(5))).unwrap();
    // Direct queue: what was delivered is stored; give a refused one time to show up anyway.
    std::thread::sleep(Duration::from_millis(200));
    (c, rs.records(input).len() - before, logs.lines())
}

/// 2. Each refused server certificate fails the handshake with a message naming the check and
///    the key; nothing is sent (rsyslogd stores nothing); every alert is counted failed (as on
///    tcp://: no connection, the alert fails at once). Each has a positive twin that passes.
#[test]
fn refused_server_certificates_name_the_check_and_nothing_is_sent() {
    let Some(certs) = Certs::make() else { return };
    let rs = RsyslogTls::start(&certs);
    let ca = certs.path("ca.pem");
    let other_ca = certs.path("otherca.pem");
    let wrong_pin = certs.fingerprint("server");
    let cases: [(&str, &str, String, &str, &str); 4] = [
        (
            "name mismatch",
            "wrongname",
            format!("{{ca_cert: {ca}}}"),
            "name check failed (auth_mode name)",
            "tls.server_name",
        ),
        (
            "expired",
            "expired",
            format!("{{ca_cert: {ca}}}"),
            "certificate expired",
            "renewed certificate",
        ),
        (
            "another CA",
            "otherca",
            format!("{{ca_cert: {ca}}}"),
            "unknown CA",
            "tls.ca_cert",
        ),
        (
            "fingerprint not pinned",
            "otherca",
            format!("{{auth_mode: fingerprint, permitted_peers: [\"{wrong_pin}\"]}}"),
            "fingerprint not permitted",
            "tls.permitted_peers",
        ),
    ];
    const N: u64 = 20;
    for (what, input, tls, check, key) in &cases {
        let (c, stored, logs) = run_against(&rs, input, tls, N);
        println!("tls refused, {what}: emitted {N}, stored {stored}; counted {c}");
        assert_eq!(
            (c.delivered, c.failed, c.discarded),
            (0, N, 0),
            "{what}: {c}"
        );
        assert_eq!(stored, 0, "{what}: nothing reaches rsyslogd");
        let line = logs
            .iter()
            .find(|l| l.contains(check))
            .unwrap_or_else(|| panic!("{what}: no log line names `{check}`: {logs:?}"));
        assert!(line.contains(key), "{what}: the key to fix: {line}");
        assert!(!line.contains("PRIVATE KEY"), "{line}");
        println!("  logged: {line}");
    }
    // The positive twins: the same servers, accepted once the setting matches them.
    let twins: [(&str, &str, String); 4] = [
        (
            "name matches server_name",
            "wrongname",
            format!("{{ca_cert: {ca}, server_name: other.example}}"),
        ),
        (
            "expired, pinned (fingerprint mode checks no dates)",
            "expired",
            format!(
                "{{auth_mode: fingerprint, permitted_peers: [\"{}\"]}}",
                certs.fingerprint("expired")
            ),
        ),
        (
            "the other CA trusted",
            "otherca",
            format!("{{ca_cert: {other_ca}}}"),
        ),
        (
            "fingerprint pinned",
            "otherca",
            format!(
                "{{auth_mode: fingerprint, permitted_peers: [\"{wrong_pin}\", \"{}\"]}}",
                certs.fingerprint("otherserver")
            ),
        ),
    ];
    for (what, input, tls) in &twins {
        let (c, stored, logs) = run_against(&rs, input, tls, N);
        println!("tls accepted, {what}: emitted {N}, stored {stored}; counted {c}");
        assert_eq!(
            (c.delivered, c.failed, c.discarded),
            (N, 0, 0),
            "{what}: {c} {logs:?}"
        );
        assert_eq!(stored as u64, N, "{what}");
    }
}

/// 3a. A plain TCP listener on the TLS port sees a TLS ClientHello and no alert bytes; the
///     alerts fail (handshake timeout, named).
#[test]
fn a_plain_listener_sees_a_client_hello_and_no_alert() {
    let Some(certs) = Certs::make() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(3000)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // Until the client gives up (bounded by the read timeout).
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let (out, logs) = open(&yaml(
        &file,
        &format!("tls://127.0.0.1:{port}"),
        &certs.client_tls(""),
        "output_timeout: 500\n",
    ));
    for i in 0..5 {
        out.emit(seed_alert(i)).unwrap();
    }
    out.flush(Duration::from_secs(10)).unwrap();
    let c = settled(&out);
    out.close(Some(Duration::from_secs(2))).unwrap();
    let got = reader.join().unwrap();
    println!(
        "plain listener: {} bytes received, first {:02x?}; counted {c}",
        got.len(),
        &got[..got.len().min(6)]
    );
    // A TLS record of type handshake (22), version 3.x, whose first message is ClientHello (1).
    assert!(got.len() > 6, "nothing received");
    assert_eq!(
        (got[0], got[1], got[5]),
        (0x16, 0x03, 0x01),
        "{:02x?}",
        &got[..6]
    );
    let text = String::from_utf8_lossy(&got);
    for needle in ["Write below binary dir", "evt.num", "/bin/hack", "<11>1 "] {
        assert!(!text.contains(needle), "clear text on the wire: {needle}");
    }
    assert_eq!((c.delivered, c.failed), (0, 5), "{c}");
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.contains("TLS handshake timeout")),
        "{:?}",
        logs.lines()
    );
}

/// 3b. `tls://` pointed at rsyslogd's plain-text input: the handshake fails, nothing is stored.
#[test]
fn tls_at_a_plain_text_rsyslogd_stores_nothing() {
    let Some(certs) = Certs::make() else { return };
    let rs = RsyslogTls::start(&certs);
    let (c, stored, logs) = run_against(&rs, "plain", &certs.client_tls(""), 10);
    let text = rs.stored_text();
    println!("tls at plain rsyslogd: emitted 10, stored {stored}; counted {c}");
    assert_eq!((c.delivered, c.failed), (0, 10), "{c}");
    assert_eq!(stored, 0);
    assert!(!text.contains("Write below binary dir"), "{text}");
    assert!(logs.iter().any(|l| l.contains("TLS handshake")), "{logs:?}");
}

/// A TLS block beside a clear-text address is refused at init, naming the key: nothing falls
/// back to clear text.
#[test]
fn a_tls_block_on_a_clear_text_address_is_an_init_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    for address in ["tcp://127.0.0.1:514", "relp://127.0.0.1:2514"] {
        let e = try_open(
            &yaml(&file, address, "{ca_cert: /etc/ssl/certs/ca.pem}", ""),
            &Logs::default(),
        )
        .err()
        .expect("refused");
        let m = e.to_string();
        assert!(
            m.contains("`syslog_output.tls`") && m.contains("clear text"),
            "{m}"
        );
    }
    let e = try_open(
        &yaml(
            &file,
            "tls://127.0.0.1",
            "{ca_cert: /nonexistent/ca.pem}",
            "",
        ),
        &Logs::default(),
    )
    .err()
    .expect("refused");
    assert!(e.to_string().contains("`syslog_output.tls.ca_cert`"), "{e}");
}

/// The private key readable by others: a warning at init naming the key, never its content.
#[test]
fn a_private_key_others_can_read_is_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let Some(certs) = Certs::make() else { return };
    std::fs::set_permissions(
        certs.dir.join("client.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let (out, logs) = open(&yaml(&file, "tls://127.0.0.1:1", &certs.client_tls(""), ""));
    out.close(Some(Duration::from_secs(1))).unwrap();
    let key = std::fs::read_to_string(certs.dir.join("client.key")).unwrap();
    let lines = logs.lines();
    let w = lines
        .iter()
        .find(|l| l.contains("`syslog_output.tls.client_key`"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(w.contains("mode 0644") && w.contains("chmod 600"), "{w}");
    let body: String = key.lines().nth(1).unwrap().to_string();
    assert!(
        lines.iter().all(|l| !l.contains(&body)),
        "key material logged"
    );
}

/// `reopen` reloads the certificate files: a CA file replaced on disk (rotation) is used by
/// the next connection; until then the old one is.
#[test]
fn reopen_reloads_the_certificates() {
    let Some(certs) = Certs::make() else { return };
    let rs = RsyslogTls::start(&certs);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let rotating = dir.path().join("ca-rotating.pem");
    std::fs::copy(certs.dir.join("otherca.pem"), &rotating).unwrap();
    let tls = format!(
        "{{ca_cert: {}, client_cert: {}, client_key: {}}}",
        rotating.display(),
        certs.path("client.pem"),
        certs.path("client.key")
    );
    let address = format!("tls://127.0.0.1:{}", rs.port("tls"));
    let (out, logs) = open(&yaml(&file, &address, &tls, "output_timeout: 1000\n"));
    for i in 0..10 {
        out.emit(seed_alert(i)).unwrap();
    }
    out.flush(Duration::from_secs(10)).unwrap();
    let before = syslog_counts(&out);
    assert_eq!((before.delivered, before.failed), (0, 10), "{before}");
    std::fs::copy(certs.dir.join("ca.pem"), &rotating).unwrap();
    out.reopen();
    for i in 10..20 {
        out.emit(seed_alert(i)).unwrap();
    }
    out.flush(Duration::from_secs(10)).unwrap();
    let c = settled(&out);
    let stored: Vec<u64> = rs.records("tls").iter().map(|r| num(&r.msg)).collect();
    println!("reopen reload: stored {stored:?}; counted {c}");
    assert_eq!((c.delivered, c.failed), (10, 10), "{c}");
    assert_eq!(stored, (10..20).collect::<Vec<_>>());
    assert!(logs.count_containing("TLS certificates and keys reloaded") >= 1);
    // A broken file at the next reopen: the loaded CA stays in use, the key is named.
    std::fs::write(&rotating, "not a certificate").unwrap();
    out.reopen();
    for i in 20..25 {
        out.emit(seed_alert(i)).unwrap();
    }
    out.flush(Duration::from_secs(10)).unwrap();
    let c = settled(&out);
    assert_eq!((c.delivered, c.failed), (15, 10), "{c}");
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.contains("could not be reloaded") && l.contains("tls.ca_cert")),
        "{:?}",
        logs.lines()
    );
    out.close(Some(Duration::from_secs(5))).unwrap();
}

/// 4. RELP over TLS (imrelp `tls="on"`, `tls.authMode="name"`, `tls.permittedPeer`): kill -9
///    of rsyslogd right behind a burst, alerts emitted while it is down, restart: nothing lost,
///    each alert delivered once.
#[test]
fn relp_over_tls_kill_9_mid_stream_loses_nothing() {
    let Some(certs) = Certs::make() else { return };
    let mut rs = RsyslogTls::start(&certs);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let address = format!("relp+tls://127.0.0.1:{}", rs.port("relptls"));
    let (out, logs) = open(&yaml(&file, &address, &certs.client_tls(""), ""));
    const N: u64 = 3000;
    let t = Instant::now();
    let mut emitted = 0;
    let mut emit = |n: u64| {
        for _ in 0..n {
            out.emit(seed_alert(emitted)).unwrap();
            emitted += 1;
        }
    };
    let mut k_emitted = N / 3;
    emit(k_emitted);
    let streaming = Instant::now() + Duration::from_secs(10);
    while rs.records("relptls").is_empty() && Instant::now() < streaming {
        std::thread::sleep(Duration::from_millis(2));
    }
    rs.freeze(true);
    let mut k_stored = rs.records("relptls").len();
    if k_stored as u64 >= k_emitted {
        emit(N / 30);
        k_emitted += N / 30;
        std::thread::sleep(Duration::from_millis(100));
        k_stored = rs.records("relptls").len();
    }
    rs.kill();
    emit(N / 3);
    std::thread::sleep(Duration::from_millis(300));
    rs.restart();
    emit(N - k_emitted - N / 3);
    let flushed = out.flush(Duration::from_secs(60));
    let c = syslog_counts(&out);
    let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
    for r in rs.records("relptls") {
        *copies.entry(num(&r.msg)).or_insert(0) += 1;
    }
    let stored: usize = copies.values().sum();
    println!(
        "relp+tls kill -9: killed after {k_emitted} emitted / {k_stored} stored; emitted {N}, \
         stored {} distinct ({stored} with {} duplicates) in {:?}; counted {c}",
        copies.len(),
        stored - copies.len(),
        t.elapsed()
    );
    assert!(
        (k_stored as u64) < k_emitted,
        "the kill came after everything was stored"
    );
    assert!(flushed.is_ok(), "{c}");
    let c = settled(&out);
    let missing: Vec<u64> = (0..N).filter(|n| !copies.contains_key(n)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert_eq!((c.delivered, c.failed, c.discarded), (N, 0, 0), "{c}");
    out.close(Some(Duration::from_secs(5))).unwrap();
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.contains("connection to relp+tls://127.0.0.1") && l.contains("lost")),
        "{:?}",
        logs.lines()
    );
}

/// 5. kill -9 of rsyslogd mid-stream on `tls://`, alerts emitted while it is down, restart: as
///    on `tcp://`, alerts it had not confirmed are written again on a new connection when there
///    is one and fail when there is none; no alert is lost uncounted (every alert rsyslogd does
///    not have is counted failed), none counted delivered that it does not have, and every
///    alert emitted after the restart is stored.
#[test]
fn tls_kill_9_and_restart_counts_match_what_rsyslogd_stored() {
    let Some(certs) = Certs::make() else { return };
    let mut rs = RsyslogTls::start(&certs);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.json");
    let address = format!("tls://127.0.0.1:{}", rs.port("tls"));
    let (out, logs) = open(&yaml(&file, &address, &certs.client_tls(""), ""));
    const N: u64 = 3000;
    let mut emitted = 0;
    let mut emit = |n: u64| {
        for _ in 0..n {
            out.emit(seed_alert(emitted)).unwrap();
            emitted += 1;
        }
    };
    emit(N / 3);
    let streaming = Instant::now() + Duration::from_secs(10);
    while rs.records("tls").is_empty() && Instant::now() < streaming {
        std::thread::sleep(Duration::from_millis(2));
    }
    rs.freeze(true);
    let k_stored = rs.records("tls").len();
    rs.kill();
    emit(N / 3);
    std::thread::sleep(Duration::from_millis(300));
    rs.restart();
    let after_restart = N - 2 * (N / 3);
    emit(after_restart);
    out.flush(Duration::from_secs(60)).unwrap();
    let c = settled(&out);
    let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
    for r in rs.records("tls") {
        *copies.entry(num(&r.msg)).or_insert(0) += 1;
    }
    let stored: usize = copies.values().sum();
    println!(
        "tls kill -9: killed after {} emitted / {k_stored} stored; emitted {N}, stored {} \
         distinct ({stored} with {} duplicates); counted {c}",
        N / 3,
        copies.len(),
        stored - copies.len()
    );
    assert_eq!(c.enqueued, N);
    assert!(
        c.delivered as usize <= copies.len(),
        "delivered beyond stored: {c}"
    );
    let lost = N - copies.len() as u64;
    assert!(
        lost <= c.failed,
        "{lost} lost but only {} counted failed",
        c.failed
    );
    let late: Vec<u64> = (N - after_restart..N)
        .filter(|n| !copies.contains_key(n))
        .collect();
    assert!(
        late.is_empty(),
        "emitted after the restart, not stored: {late:?}"
    );
    out.close(Some(Duration::from_secs(5))).unwrap();
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.contains("connection to tls://127.0.0.1") && l.contains("lost")),
        "{:?}",
        logs.lines()
    );
}
