//! `nats_output` against real `nats-server` processes on loopback (docs/nats.md): an R1 stream
//! holds every alert once, byte-exact, with the documented subjects and headers; and each
//! failure the docs list (no server at init, no stream, wrong credentials, wrong CA, a stream
//! limit) behaves, is counted and is logged as documented, with no secret in any log line.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::stream::DiscardPolicy;

use crate::support::accounting::{assert_outputs_settled, counts};
use crate::support::handle::*;
use crate::support::nats::*;
use crate::support::{read_lines, wait_for};
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};
use falco_outputs::Outputs;

const T0: u64 = 1_507_591_916_746_609_046;

/// Rule names and the subject token each must become (docs/nats.md's mapping).
const RULES: [(&str, &str); 9] = [
    ("Write below binary dir", "write_below_binary_dir"),
    ("rule.with.dots", "rule_with_dots"),
    ("star * rule", "star_rule"),
    ("gt > rule", "gt_rule"),
    ("*", "_"),
    (">", "_"),
    ("Контроль доступа", "_"),
    ("Accès refusé: ÉTÉ.*>", "acc_s_refus_t"),
    ("", "_"),
];
const PRIORITIES: [Priority; 3] = [Priority::Critical, Priority::Warning, Priority::Debug];

fn alert(n: u64) -> Alert {
    let (rule, _) = RULES[n as usize % RULES.len()];
    let num = n.to_string();
    alert_from_parts(
        T0 + n,
        PRIORITIES[n as usize % PRIORITIES.len()],
        rule,
        "syscall",
        &format!("alert {n} with \"quotes\", a tab\tand ünïcode"),
        &[("evt.num", Some(&num), FieldKind::Number)],
        &["tag one"],
    )
}

fn stats_json(out: &Outputs) -> String {
    falco_outputs::stats::to_json(out.accepted(), &out.stats())
}

fn nats_yaml(servers: &str, extra: &str) -> String {
    format!(
        "stdout_output: {{enabled: false}}\njson_output: true\nnats_output:\n  enabled: true\n  servers: {servers}\n  timeout_ms: 1000\n  retry_max_backoff_ms: 1000\n{extra}"
    )
}

fn duplicates(out: &Outputs) -> u64 {
    out.stats()
        .iter()
        .find(|(n, _)| *n == "nats")
        .map(|(_, s)| s.duplicates)
        .unwrap()
}

/// No log line holds any of `secrets`.
fn assert_no_secret(logs: &Logs, secrets: &[&str]) {
    for l in logs.lines() {
        for s in secrets {
            assert!(!l.contains(s), "a log line shows a secret: {l}");
        }
    }
}

#[test]
fn nats_r1_stream_holds_every_alert_once_byte_exact() {
    if !have_nats() {
        return;
    }
    const N: u64 = 10_000;
    let nats = Nats::single(ServerOpts::default());
    let js = Js::connect(&nats.urls());
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.json");
    let yaml = nats_yaml(
        &nats.servers_yaml(),
        &format!(
            "file_output: {{enabled: true, filename: {}}}\n",
            file.display()
        ),
    );
    let (out, logs) = open(&yaml);
    for n in 0..N {
        out.emit(alert(n)).unwrap();
    }
    out.flush(Duration::from_secs(120)).expect("flushed");
    let all = assert_outputs_settled(&out);
    let c = all.iter().find(|(n, _)| n == "nats").unwrap().1;
    assert_eq!((c.delivered, c.failed, c.discarded), (N, 0, 0), "{c}");
    assert_eq!(duplicates(&out), 0);
    out.close(Some(Duration::from_secs(10))).unwrap();

    // The file channel wrote the same lines (json_output), in emit order.
    let lines = read_lines(&file);
    assert_eq!(lines.len() as u64, N);
    let msgs = js.messages("FALCO");
    assert_eq!(msgs.len() as u64, N, "the stream holds each alert once");
    assert_eq!(js.count("FALCO"), N);
    let mut ids = HashSet::new();
    for (i, m) in msgs.iter().enumerate() {
        let (rule, token) = RULES[i % RULES.len()];
        let prio = PRIORITIES[i % PRIORITIES.len()];
        assert_eq!(
            m.body,
            lines[i].as_bytes(),
            "body of alert {i}, byte for byte"
        );
        assert_eq!(
            m.subject,
            format!("falco.{}.{token}", prio.name().to_lowercase()),
            "alert {i}"
        );
        assert_eq!(m.header("Falco-Rule"), Some(rule), "alert {i}");
        assert_eq!(m.header("Falco-Priority"), Some(prio.name()));
        assert_eq!(m.header("Falco-Source"), Some("syscall"));
        assert_eq!(m.header("Falco-Hostname"), Some("h"));
        let id = m.header("Nats-Msg-Id").expect("Nats-Msg-Id");
        let (run, seq) = id.split_once('-').expect("<run>-<n>");
        assert_eq!(run.len(), 16, "{id}");
        assert_eq!(
            seq,
            (i + 1).to_string(),
            "ids count the alerts in order: {id}"
        );
        assert!(ids.insert(id.to_string()), "id {id} twice");
    }
    assert_eq!(
        logs.count_containing("cannot publish"),
        0,
        "{:?}",
        logs.lines()
    );
    eprintln!(
        "nats R1: {N} alerts stored once each, byte-exact; ids distinct: {}",
        ids.len()
    );
}

#[test]
fn nats_a_server_down_at_init_gets_the_held_alerts_once_it_is_up() {
    if !have_nats() {
        return;
    }
    let mut nats = Nats::single_stopped(ServerOpts::default());
    let (out, logs) = open(&nats_yaml(&nats.servers_yaml(), ""));
    for n in 0..100 {
        out.emit(alert(n)).unwrap();
    }
    // Down for 15 s: alerts held, errors counted, one warning naming the server and why.
    std::thread::sleep(Duration::from_secs(15));
    let c = counts(&stats_json(&out), "nats");
    assert_eq!(
        (c.delivered, c.failed, c.discarded, c.pending),
        (0, 0, 0, 100),
        "{c}"
    );
    assert!(c.write_errors > 0, "{c}");
    let target = nats.nodes[0].url();
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.contains(&format!("cannot publish to {target}"))),
        "{:?}",
        logs.lines()
    );
    nats.nodes[0].start();
    let js = Js::connect(&nats.urls());
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));
    out.flush(Duration::from_secs(30))
        .expect("delivered once the server is up");
    let c = assert_outputs_settled(&out);
    let c = c.iter().find(|(n, _)| n == "nats").unwrap().1;
    assert_eq!(c.delivered, 100, "{c}");
    out.close(Some(Duration::from_secs(5))).unwrap();
    let msgs = js.messages("FALCO");
    let ids: HashSet<_> = msgs
        .iter()
        .map(|m| m.header("Nats-Msg-Id").unwrap().to_string())
        .collect();
    assert_eq!((msgs.len(), ids.len()), (100, 100), "each alert once");
    assert!(
        logs.count_containing("publishing to") >= 1,
        "{:?}",
        logs.lines()
    );
}

#[test]
fn nats_no_stream_holds_alerts_logs_once_then_delivers_when_it_exists() {
    if !have_nats() {
        return;
    }
    let nats = Nats::single(ServerOpts::default());
    let (out, logs) = open(&nats_yaml(&nats.servers_yaml(), ""));
    for n in 0..50 {
        out.emit(alert(n)).unwrap();
    }
    assert!(
        wait_for(Duration::from_secs(20), || logs
            .count_containing("503 no responders")
            > 0),
        "{:?}",
        logs.lines()
    );
    // Several retries later it has still been said once.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        logs.count_containing("503 no responders"),
        1,
        "{:?}",
        logs.lines()
    );
    let c = counts(&stats_json(&out), "nats");
    assert_eq!((c.delivered, c.pending), (0, 50), "{c}");
    let js = Js::connect(&nats.urls());
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));
    out.flush(Duration::from_secs(30))
        .expect("delivered once the stream exists");
    let all = assert_outputs_settled(&out);
    assert_eq!(
        all.iter().find(|(n, _)| n == "nats").unwrap().1.delivered,
        50
    );
    out.close(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(js.count("FALCO"), 50);
}

#[test]
fn nats_wrong_credentials_hold_alerts_and_log_the_refusal_without_the_secret() {
    if !have_nats() {
        return;
    }
    let nats = Nats::single(ServerOpts {
        auth: "token: \"r1ght-t0ken\"".into(),
        ..ServerOpts::default()
    });
    let yaml = nats_yaml(&nats.servers_yaml(), "  token: \"wr0ng-s3cret\"\n");
    let (out, logs) = open(&yaml);
    for n in 0..10 {
        out.emit(alert(n)).unwrap();
    }
    assert!(
        wait_for(Duration::from_secs(20), || {
            logs.lines()
                .iter()
                .any(|l| l.to_lowercase().contains("authorization violation"))
        }),
        "{:?}",
        logs.lines()
    );
    let c = counts(&stats_json(&out), "nats");
    assert_eq!((c.delivered, c.pending), (0, 10), "{c}");
    // Memory only: what is held at the close deadline is discarded, and counted.
    assert!(out.close(Some(Duration::from_millis(1500))).is_err());
    assert_eq!(
        logs.count_containing(
            "nats output: close: deadline of 1500 ms passed; 10 alerts discarded"
        ),
        1,
        "{:?}",
        logs.lines()
    );
    assert_no_secret(&logs, &["wr0ng-s3cret", "r1ght-t0ken"]);

    // The right token delivers.
    let js = Js::connect_with(
        &nats.urls(),
        async_nats::ConnectOptions::with_token("r1ght-t0ken".into()),
    );
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));
    let (out, logs) = open(&nats_yaml(
        &nats.servers_yaml(),
        "  token: \"r1ght-t0ken\"\n",
    ));
    out.emit(alert(1)).unwrap();
    out.flush(Duration::from_secs(20)).unwrap();
    out.close(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(js.count("FALCO"), 1);
    assert_no_secret(&logs, &["r1ght-t0ken"]);
}

#[test]
fn nats_tls_verifies_the_server_with_ca_cert_and_refuses_a_wrong_ca() {
    if !have_nats() || !crate::support::require("openssl") {
        return;
    }
    let certs = crate::support::http::certs();
    let tls = format!(
        "cert_file: \"{}\", key_file: \"{}\"",
        certs.server_cert.display(),
        certs.server_key.display()
    );
    let nats = Nats::single(ServerOpts {
        tls,
        ..ServerOpts::default()
    });
    // The right CA.
    let yaml = nats_yaml(
        &nats.servers_yaml(),
        &format!("  ca_cert: {}\n", certs.ca.display()),
    );
    let (out, logs) = open(&yaml);
    out.emit(alert(0)).unwrap();
    // No stream: the 503 proves a TLS connection was made and JetStream answered.
    assert!(
        wait_for(Duration::from_secs(20), || logs
            .count_containing("503 no responders")
            > 0),
        "{:?}",
        logs.lines()
    );
    drop(out);
    // A CA that did not sign the server's certificate.
    let yaml = nats_yaml(
        &nats.servers_yaml(),
        "  ca_cert: /etc/ssl/certs/ca-certificates.crt\n",
    );
    let (out, logs) = open(&yaml);
    out.emit(alert(0)).unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || logs
            .count_containing("ca_cert does not verify")
            > 0),
        "{:?}",
        logs.lines()
    );
    let c = counts(&stats_json(&out), "nats");
    assert_eq!((c.delivered, c.pending), (0, 1), "{c}");
    assert!(out.close(Some(Duration::from_millis(1000))).is_err());
    assert!(
        logs.count_containing("nats output: close: deadline of 1000 ms passed; 1 alerts discarded")
            == 1,
        "{:?}",
        logs.lines()
    );
}

#[test]
fn nats_a_full_stream_with_discard_new_refuses_the_rest_counted_failed() {
    if !have_nats() {
        return;
    }
    let nats = Nats::single(ServerOpts::default());
    let js = Js::connect(&nats.urls());
    let mut cfg = stream_config("FALCO", &["falco.>"], 1);
    cfg.max_messages = 100;
    cfg.discard = DiscardPolicy::New;
    js.create_stream(cfg);
    let (out, logs) = open(&nats_yaml(&nats.servers_yaml(), ""));
    for n in 0..150 {
        out.emit(alert(n)).unwrap();
    }
    out.flush(Duration::from_secs(30))
        .expect("every alert answered");
    let all = assert_outputs_settled(&out);
    let c = all.iter().find(|(n, _)| n == "nats").unwrap().1;
    assert_eq!((c.delivered, c.failed, c.pending), (100, 50, 0), "{c}");
    out.close(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(js.count("FALCO"), 100);
    let refusals: Vec<_> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("maximum messages exceeded"))
        .collect();
    assert!(!refusals.is_empty(), "{:?}", logs.lines());
    assert!(
        refusals.iter().all(|l| l.contains("not retried")),
        "{refusals:?}"
    );
}

/// Flushes between small groups of emits, with a window of 4 PubAcks kept in flight across
/// deliver calls (e6942aa): after each flush every alert emitted so far is counted delivered
/// exactly once (none twice, none pending), and the stream holds each once.
#[test]
fn nats_flushes_between_small_groups_count_each_alert_once() {
    if !have_nats() {
        return;
    }
    let nats = Nats::single(ServerOpts::default());
    let js = Js::connect(&nats.urls());
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));
    let (out, _logs) = open(&nats_yaml(&nats.servers_yaml(), "  max_in_flight: 4\n"));
    let mut n = 0u64;
    for round in 0..100u64 {
        for _ in 0..(1 + round % 13) {
            out.emit(alert(n)).unwrap();
            n += 1;
        }
        out.flush(Duration::from_secs(30)).expect("flushed");
        let all = assert_outputs_settled(&out);
        let c = all.iter().find(|(name, _)| name == "nats").unwrap().1;
        assert_eq!(
            (c.delivered, c.failed, c.discarded),
            (n, 0, 0),
            "round {round}: {c}"
        );
    }
    assert_eq!(duplicates(&out), 0);
    out.close(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(js.count("FALCO"), n);
    eprintln!("nats: {n} alerts over 100 flushes, each counted once");
}
