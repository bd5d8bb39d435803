//! `nats_output`'s logins and TLS name against real `nats-server` processes (docs/nats.md):
//! `server_name` (a certificate whose only name is not the URL's host, with mutual TLS), an NKey user
//! (`nkey_seed_file`) and a JWT user of an operator-mode server (`credentials_file`). Each:
//! right -> delivered and stored; wrong -> held, logged clearly, no secret in any log line.

use std::time::Duration;

use crate::support::accounting::counts;
use crate::support::handle::*;
use crate::support::nats::*;
use crate::support::nats_jwt::{creds_secrets, stranger_creds, Operator};
use crate::support::rsyslog_tls::Certs;
use crate::support::wait_for;
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};
use falco_outputs::Outputs;

fn alert(n: u64) -> Alert {
    let num = n.to_string();
    alert_from_parts(
        1_507_591_916_746_609_046 + n,
        Priority::Warning,
        "Login test",
        "syscall",
        &format!("alert {n}"),
        &[("evt.num", Some(&num), FieldKind::Number)],
        &[],
    )
}

fn nats_yaml(servers: &str, extra: &str) -> String {
    format!(
        "stdout_output: {{enabled: false}}\njson_output: true\nnats_output:\n  enabled: true\n  servers: {servers}\n  timeout_ms: 1000\n  retry_max_backoff_ms: 1000\n{extra}"
    )
}

fn nats_counts(out: &Outputs) -> crate::support::accounting::Counts {
    counts(
        &falco_outputs::stats::to_json(out.accepted(), &out.stats()),
        "nats",
    )
}

/// Emits `n` alerts and waits until all are delivered.
fn deliver(out: &Outputs, n: u64) {
    for i in 0..n {
        out.emit(alert(i)).unwrap();
    }
    out.flush(Duration::from_secs(20)).unwrap();
    let c = nats_counts(out);
    assert_eq!((c.delivered, c.pending, c.failed), (n, 0, 0), "{c}");
}

/// Emits `n` alerts, waits for a log line holding `needle`, checks they are all held, and closes
/// with a short deadline: memory only, so they are discarded and counted so.
fn held_then_discarded(out: Outputs, logs: &Logs, n: u64, needle: &str) {
    for i in 0..n {
        out.emit(alert(i)).unwrap();
    }
    assert!(
        wait_for(Duration::from_secs(20), || logs.count_containing(needle)
            > 0),
        "no log line holds {needle:?}: {:?}",
        logs.lines()
    );
    let c = nats_counts(&out);
    assert_eq!((c.delivered, c.pending), (0, n), "{c}");
    assert!(out.close(Some(Duration::from_millis(1000))).is_err());
    assert_eq!(
        logs.count_containing(&format!(
            "nats output: close: deadline of 1000 ms passed; {n} alerts discarded"
        )),
        1,
        "{:?}",
        logs.lines()
    );
}

#[test]
fn nats_server_name_checks_a_certificate_named_other_than_the_url_host() {
    if !have_nats() {
        return;
    }
    let Some(certs) = Certs::make() else { return };
    // The stream is made before TLS is on (the test's own client has no server_name); the
    // store keeps it across the restart.
    let mut nats = Nats::single(ServerOpts::default());
    Js::connect(&nats.urls()).create_stream(stream_config("FALCO", &["falco.>"], 1));
    let node = &mut nats.nodes[0];
    node.kill();
    // The certificate's only name is other.example; the URL's host is 127.0.0.1. The server
    // also requires a client certificate (the settings made for server_name carry it too).
    node.set_tls(&format!(
        "cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: true",
        certs.path("wrongname.pem"),
        certs.path("wrongname.key"),
        certs.path("ca.pem")
    ));
    node.start();
    let ca = format!(
        "  ca_cert: {}\n  client_cert: {}\n  client_key: {}\n",
        certs.path("ca.pem"),
        certs.path("client.pem"),
        certs.path("client.key")
    );

    // The right name: delivered.
    let (out, logs) = open(&nats_yaml(
        &nats.servers_yaml(),
        &format!("{ca}  server_name: other.example\n"),
    ));
    deliver(&out, 5);
    out.close(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(logs.count_containing("TLS:"), 0, "{:?}", logs.lines());

    // A name the certificate does not carry: refused, and the log says which names it carries.
    let (out, logs) = open(&nats_yaml(
        &nats.servers_yaml(),
        &format!("{ca}  server_name: nats.example\n"),
    ));
    held_then_discarded(
        out,
        &logs,
        3,
        "TLS: the server's certificate is refused, checked for server_name nats.example",
    );
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.contains("TLS:") && l.contains("other.example")),
        "{:?}",
        logs.lines()
    );

    // Without server_name the URL's host (127.0.0.1) is checked: refused as before.
    let (out, logs) = open(&nats_yaml(&nats.servers_yaml(), &ca));
    held_then_discarded(out, &logs, 1, "ca_cert does not verify");

    // What the stream holds: the 5 delivered, nothing else (read without TLS).
    let node = &mut nats.nodes[0];
    node.kill();
    node.set_tls("");
    node.start();
    assert_eq!(Js::connect(&nats.urls()).count("FALCO"), 5);
}

#[test]
fn nats_server_name_that_is_not_a_name_is_an_init_error_naming_the_key() {
    let logs = Logs::default();
    let yaml = nats_yaml("[nats://127.0.0.1:9]", "  server_name: \"not a name\"\n");
    let e = try_open(&yaml, &logs).err().expect("refused").to_string();
    assert!(e.contains("nats_output.server_name"), "{e}");
}

/// No log line holds any of `secrets`.
fn assert_no_secret(logs: &Logs, secrets: &[&str]) {
    for l in logs.lines() {
        for s in secrets {
            assert!(!l.contains(s), "a log line shows a secret: {l}");
        }
    }
}

fn write_secret(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn nats_nkey_seed_file_logs_in_and_a_wrong_seed_is_held_without_showing_it() {
    if !have_nats() {
        return;
    }
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().unwrap();
    let stranger = nkeys::KeyPair::new_user().seed().unwrap();
    let nats = Nats::single(ServerOpts {
        auth: format!("users: [ {{ nkey: \"{}\" }} ]", user.public_key()),
        ..ServerOpts::default()
    });
    let js = Js::connect_with(
        &nats.urls(),
        async_nats::ConnectOptions::with_nkey(seed.clone()),
    );
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));
    let dir = tempfile::tempdir().unwrap();
    // As nsc writes a user's key file: the seed on a line of its own.
    let right = write_secret(dir.path(), "falco.nk", &format!("{seed}\n"));
    let wrong = write_secret(dir.path(), "stranger.nk", &format!("{stranger}\n"));

    let (out, logs) = open(&nats_yaml(
        &nats.servers_yaml(),
        &format!("  nkey_seed_file: {right}\n"),
    ));
    deliver(&out, 5);
    out.close(Some(Duration::from_secs(5))).unwrap();
    assert_no_secret(&logs, &[&seed]);

    let (out, logs) = open(&nats_yaml(
        &nats.servers_yaml(),
        &format!("  nkey_seed_file: {wrong}\n"),
    ));
    held_then_discarded(out, &logs, 3, "authorization violation");
    assert_no_secret(&logs, &[&seed, &stranger]);
    assert_eq!(js.count("FALCO"), 5);
}

#[test]
fn nats_credentials_file_logs_in_to_an_operator_mode_server_and_a_stranger_is_held() {
    if !have_nats() {
        return;
    }
    let op = Operator::new();
    let nats = Nats::single(ServerOpts {
        extra: op.server_conf(),
        ..ServerOpts::default()
    });
    let admin = op.user_creds("admin");
    let js = Js::connect_with(
        &nats.urls(),
        async_nats::ConnectOptions::with_credentials(&admin).unwrap(),
    );
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));
    let dir = tempfile::tempdir().unwrap();
    let falco = op.user_creds("falco");
    let stranger = stranger_creds("falco");
    let right = write_secret(dir.path(), "falco.creds", &falco);
    let wrong = write_secret(dir.path(), "stranger.creds", &stranger);
    let secrets: Vec<String> = [&falco, &stranger]
        .iter()
        .flat_map(|c| creds_secrets(c))
        .collect();
    assert_eq!(secrets.len(), 4, "a JWT and a seed in each file");
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();

    let (out, logs) = open(&nats_yaml(
        &nats.servers_yaml(),
        &format!("  credentials_file: {right}\n"),
    ));
    deliver(&out, 5);
    out.close(Some(Duration::from_secs(5))).unwrap();
    assert_no_secret(&logs, &secrets);

    // A user JWT issued by an account the server does not know.
    let (out, logs) = open(&nats_yaml(
        &nats.servers_yaml(),
        &format!("  credentials_file: {wrong}\n"),
    ));
    held_then_discarded(out, &logs, 3, "authorization violation");
    assert_no_secret(&logs, &secrets);
    assert_eq!(js.count("FALCO"), 5);
}
