//! `otlp_output` end to end through a handle: every request is parsed by the receiver with the
//! official OTLP schema (opentelemetry-proto + protobuf's json_format, from scripts/pyenv) and
//! checked field by field as protobuf rendered it; gzip; TLS and mTLS; OTLP/HTTP's retry rules
//! (429/503 with Retry-After retried, 400 and 500 not); partial success; an outage with a spool
//! then recovery, nothing lost.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::support::handle::*;
use crate::support::http::*;
use crate::support::wait_for;
use falco_outputs::alert::{
    alert_from_parts, AlertBuilder, AlertKind, FieldKind, Priority, RawAlert,
};
use falco_outputs::Outputs;

const T0: u64 = 1_507_591_916_746_609_046; // 2017-10-09T23:31:56.746609046Z

fn receiver(opts: ServerOpts) -> Option<Server> {
    pyenv_python()?;
    Some(Server::start(ServerOpts { otlp: true, ..opts }))
}

fn otlp_yaml(url: &str, extra: &str) -> String {
    format!(
        "otlp_output:\n  enabled: true\n  url: {url}\n  batch_max_wait_ms: 20\n  retry_max_backoff_ms: 2000\n{extra}"
    )
}

fn numbered(n: u64) -> falco_outputs::alert::Alert {
    let num = n.to_string();
    alert_from_parts(
        T0 + n,
        Priority::Warning,
        "Numbered",
        "syscall",
        &format!("alert {n}"),
        &[("evt.num", Some(&num), FieldKind::Number)],
        &[],
    )
}

/// The log records of every request the receiver parsed, in order.
fn records(srv: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    for r in srv.requests() {
        assert_eq!(r["schema_error"], Value::Null, "refused by the schema: {r}");
        if r["action"] != "200" && !r["action"].as_str().unwrap_or("").starts_with("partial") {
            continue;
        }
        for rl in r["otlp"]["resourceLogs"].as_array().unwrap() {
            for sl in rl["scopeLogs"].as_array().unwrap() {
                out.extend(sl["logRecords"].as_array().unwrap().iter().cloned());
            }
        }
    }
    out
}

fn attrs(v: &Value) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for a in v["attributes"].as_array().unwrap() {
        let key = a["key"].as_str().unwrap().to_string();
        assert!(!m.contains_key(&key), "attribute {key} twice");
        m.insert(key, a["value"].clone());
    }
    m
}

fn evt_nums(recs: &[Value]) -> Vec<u64> {
    recs.iter()
        .map(|r| {
            attrs(r)["evt.num"]["intValue"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

fn stats(o: &Outputs) -> falco_outputs::stats::StatsSnapshot {
    o.stats()
        .into_iter()
        .find(|(n, _)| *n == "otlp")
        .expect("an otlp channel")
        .1
}

#[test]
fn records_match_the_official_schema_field_by_field() {
    let Some(srv) = receiver(ServerOpts::default()) else {
        return;
    };
    // No path in the URL: /v1/logs is added.
    let yaml = otlp_yaml(
        &srv.url(""),
        "  resource_attributes: {deployment.environment: prod, service.name: falco-edge}\n",
    );
    let (o, _logs) = open(&yaml);
    let before = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    o.emit(alert_from_parts(
        T0,
        Priority::Critical,
        "Write below binary dir",
        "syscall",
        "File opened for writing (cmd=touch \"/bin/hack\"\nforged line)",
        &[
            ("proc.cmdline", Some("touch /bin/hack"), FieldKind::String),
            ("proc.pid", Some("4242"), FieldKind::Number),
            ("evt.arg.res", Some("-2.5"), FieldKind::Number),
            ("fd.is_dir", Some("false"), FieldKind::Bool),
            ("k8s.pod.name", None, FieldKind::Null),
            ("evt.arg.flags", Some("{\"a\":[1,2]}"), FieldKind::Json),
            ("user.name", Some("ignored"), FieldKind::String),
            ("user.name", Some("root"), FieldKind::String),
            (
                "rule",
                Some("a field cannot forge the rule"),
                FieldKind::String,
            ),
        ],
        &["filesystem", "mitre_persistence"],
    ))
    .unwrap();
    let mut raw = RawAlert::empty();
    let mut msg = AlertBuilder::reuse(&mut raw, 1);
    msg.rule(b"Falco internal: syscall event drop").unwrap();
    msg.message(b"1 system calls dropped").unwrap();
    msg.field(b"n_drops", Some(b"1"), FieldKind::Number)
        .unwrap();
    msg.build(T0 + 1, Priority::Debug, AlertKind::Message);
    o.emit(raw.into_checked()).unwrap();
    o.flush(Duration::from_secs(20)).unwrap();
    let reqs = srv.requests();
    assert!(!reqs.is_empty());
    for r in &reqs {
        assert_eq!(r["path"], "/v1/logs");
        assert_eq!(header(r, "Content-Type"), Some("application/json"));
    }
    let rl = &reqs[0]["otlp"]["resourceLogs"][0];
    let res = attrs(&rl["resource"]);
    assert_eq!(res["service.name"]["stringValue"], "falco-edge");
    assert_eq!(res["host.name"]["stringValue"], "h");
    assert_eq!(res["deployment.environment"]["stringValue"], "prod");
    assert_eq!(rl["scopeLogs"][0]["scope"]["name"], "falco-outputs");

    let recs = records(&srv);
    assert_eq!(recs.len(), 2, "{recs:?}");
    let r = &recs[0];
    assert_eq!(r["timeUnixNano"], T0.to_string());
    let observed: u64 = r["observedTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(observed >= before && observed < before + 60_000_000_000);
    assert_eq!(r["severityNumber"], "SEVERITY_NUMBER_ERROR2");
    assert_eq!(r["severityText"], "Critical");
    assert_eq!(
        r["body"]["stringValue"],
        "23:31:56.746609046: Critical File opened for writing (cmd=touch \"/bin/hack\"\nforged line)"
    );
    let a = attrs(r);
    assert_eq!(a["rule"]["stringValue"], "Write below binary dir");
    assert_eq!(a["priority"]["stringValue"], "Critical");
    assert_eq!(a["source"]["stringValue"], "syscall");
    assert_eq!(
        a["tags"]["arrayValue"]["values"],
        serde_json::json!([{"stringValue": "filesystem"}, {"stringValue": "mitre_persistence"}])
    );
    assert_eq!(a["proc.cmdline"]["stringValue"], "touch /bin/hack");
    assert_eq!(a["proc.pid"]["intValue"], "4242");
    assert_eq!(a["evt.arg.res"]["doubleValue"], -2.5);
    assert_eq!(a["fd.is_dir"]["boolValue"], false);
    assert_eq!(a["k8s.pod.name"], serde_json::json!({}));
    assert_eq!(a["evt.arg.flags"]["stringValue"], "{\"a\":[1,2]}");
    assert_eq!(
        a["user.name"]["stringValue"], "root",
        "the last of a repeated name wins"
    );
    assert_eq!(a.len(), 4 + 6 + 1, "{a:?}");

    let m = &recs[1];
    assert_eq!(m["severityNumber"], "SEVERITY_NUMBER_DEBUG");
    assert_eq!(m["severityText"], "Debug");
    let a = attrs(m);
    assert_eq!(a["source"]["stringValue"], "internal");
    assert_eq!(a["n_drops"]["intValue"], "1");
    assert!(!a.contains_key("tags"));
    assert!(m["body"]["stringValue"]
        .as_str()
        .unwrap()
        .ends_with(": Debug 1 system calls dropped (n_drops=1)"));
    let s = stats(&o);
    assert_eq!((s.delivered, s.failed), (2, 0));
    o.close(None).unwrap();
}

#[test]
fn gzip_batches_keep_order_and_every_priority_maps() {
    let Some(srv) = receiver(ServerOpts::default()) else {
        return;
    };
    let yaml = otlp_yaml(
        &srv.url("/v1/logs"),
        "  compress_uploads: true\n  batch_max_alerts: 50\n",
    );
    let (o, _logs) = open(&yaml);
    for n in 0..200u64 {
        let mut a = numbered(n);
        a.priority = Priority::ALL[(n % 8) as usize];
        o.emit(a).unwrap();
    }
    o.flush(Duration::from_secs(30)).unwrap();
    let reqs = srv.requests();
    assert!(
        reqs.len() >= 4 && reqs.len() < 200,
        "{} requests",
        reqs.len()
    );
    assert!(reqs
        .iter()
        .all(|r| header(r, "Content-Encoding") == Some("gzip")));
    let recs = records(&srv);
    assert_eq!(evt_nums(&recs), (0..200).collect::<Vec<_>>());
    let want = [
        "FATAL", "ERROR3", "ERROR2", "ERROR", "WARN", "INFO2", "INFO", "DEBUG",
    ];
    for (n, r) in recs.iter().enumerate() {
        assert_eq!(
            r["severityNumber"],
            format!("SEVERITY_NUMBER_{}", want[n % 8])
        );
        assert_eq!(r["severityText"], Priority::ALL[n % 8].name());
    }
    o.close(None).unwrap();
}

#[test]
fn tls_and_mtls_with_generated_certificates() {
    let Some(srv) = receiver(ServerOpts {
        tls: true,
        require_client_cert: true,
        ..ServerOpts::default()
    }) else {
        return;
    };
    let c = certs();
    let good = format!(
        "  ca_cert: {}\n  mtls: true\n  client_cert: {}\n  client_key: {}\n",
        c.ca.display(),
        c.client_cert.display(),
        c.client_key.display()
    );
    let (o, _logs) = open(&otlp_yaml(&srv.url("/v1/logs"), &good));
    o.emit(numbered(1)).unwrap();
    o.flush(Duration::from_secs(20)).unwrap();
    assert_eq!(evt_nums(&records(&srv)), [1]);
    o.close(None).unwrap();

    // Without the client certificate the server refuses the handshake: retried, never
    // delivered; the close deadline discards it.
    let (o, logs) = open(&format!(
        "output_timeout: 500\n{}",
        otlp_yaml(
            &srv.url("/v1/logs"),
            &format!("  ca_cert: {}\n", c.ca.display())
        )
    ));
    o.emit(numbered(2)).unwrap();
    assert!(wait_for(Duration::from_secs(10), || stats(&o).retries >= 1));
    assert_eq!(stats(&o).delivered, 0);
    assert!(o.close(None).is_err());
    assert!(logs.count_containing("cannot deliver to https://127.0.0.1") >= 1);
    assert_eq!(evt_nums(&records(&srv)), [1], "nothing reached the server");
}

#[test]
fn retryable_statuses_honour_retry_after_then_deliver_once() {
    let Some(srv) = receiver(ServerOpts {
        script: "429:1,503:1,502,504".into(),
        ..ServerOpts::default()
    }) else {
        return;
    };
    let (o, _logs) = open(&otlp_yaml(&srv.url("/v1/logs"), ""));
    let start = Instant::now();
    o.emit(numbered(7)).unwrap();
    o.flush(Duration::from_secs(30)).unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 5, "{reqs:?}");
    let t = |i: usize| reqs[i]["t"].as_f64().unwrap();
    assert!(t(1) - t(0) >= 0.9, "Retry-After: 1 honoured after 429");
    assert!(t(2) - t(1) >= 0.9, "Retry-After: 1 honoured after 503");
    assert!(start.elapsed() >= Duration::from_millis(1900));
    assert_eq!(evt_nums(&records(&srv)), [7], "delivered once");
    let s = stats(&o);
    assert_eq!((s.delivered, s.failed, s.retries), (1, 0, 4));
    o.close(None).unwrap();
}

#[test]
fn client_and_server_errors_are_final_not_retried() {
    for status in ["400", "404", "500"] {
        let Some(srv) = receiver(ServerOpts {
            script: status.into(),
            ..ServerOpts::default()
        }) else {
            return;
        };
        let (o, logs) = open(&otlp_yaml(&srv.url("/v1/logs"), "  batch_max_alerts: 10\n"));
        for n in 0..3 {
            o.emit(numbered(n)).unwrap();
        }
        o.flush(Duration::from_secs(20)).unwrap();
        let s = stats(&o);
        assert_eq!((s.delivered, s.failed, s.retries), (0, 3, 0), "{status}");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(srv.requests().len(), 1, "{status}: not retried");
        assert_eq!(
            logs.count_containing(&format!("refused 3 alerts with HTTP {status}")),
            1
        );
        o.close(None).unwrap();
    }
}

#[test]
fn partial_success_counts_rejected_records_failed_and_logs_once() {
    let Some(srv) = receiver(ServerOpts {
        script: "partial:2:attribute limit exceeded".into(),
        ..ServerOpts::default()
    }) else {
        return;
    };
    let (o, logs) = open(&otlp_yaml(&srv.url("/v1/logs"), "  batch_max_alerts: 5\n"));
    for n in 0..5 {
        o.emit(numbered(n)).unwrap();
    }
    o.flush(Duration::from_secs(20)).unwrap();
    for n in 5..10 {
        o.emit(numbered(n)).unwrap();
    }
    o.flush(Duration::from_secs(20)).unwrap();
    let s = stats(&o);
    assert_eq!((s.delivered, s.failed, s.retries), (8, 2, 0));
    assert_eq!(srv.requests().len(), 2, "a partial success is not retried");
    assert_eq!(
        logs.count_containing("rejected 2 of 5 log records (partial success)"),
        1
    );
    assert_eq!(logs.count_containing("attribute limit exceeded"), 1);
    o.close(None).unwrap();
}

#[test]
fn outage_with_spool_then_recovery_loses_nothing() {
    if pyenv_python().is_none() {
        return;
    }
    let port = free_port();
    let spool = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}/v1/logs");
    let yaml = otlp_yaml(
        &url,
        &format!(
            "  spool_dir: {}\n  batch_max_alerts: 25\n",
            spool.path().display()
        ),
    );
    let (o, logs) = open(&yaml);
    for n in 0..100 {
        o.emit(numbered(n)).unwrap();
    }
    assert!(wait_for(Duration::from_secs(10), || stats(&o).retries >= 2));
    assert_eq!(stats(&o).delivered, 0);
    assert_eq!(stats(&o).pending(), 100);
    let spooled: u64 = std::fs::read_dir(spool.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        spooled > 100 * 100,
        "the records wait on disk: {spooled} bytes"
    );
    let srv = Server::start(ServerOpts {
        port,
        otlp: true,
        ..ServerOpts::default()
    });
    o.flush(Duration::from_secs(30)).unwrap();
    assert_eq!(evt_nums(&records(&srv)), (0..100).collect::<Vec<_>>());
    let s = stats(&o);
    assert_eq!((s.delivered, s.failed, s.discarded), (100, 0, 0));
    assert!(logs.count_containing("delivering to http://127.0.0.1") >= 1);
    o.close(None).unwrap();
}

#[test]
fn config_errors_name_the_otlp_keys() {
    let logs = Logs::default();
    let err = |yaml: &str| try_open(yaml, &logs).err().expect("refused").to_string();
    assert!(err("otlp_output: {enabled: true}").contains("otlp_output.url"));
    assert!(err("otlp_output: {enabled: true, url: ftp://x}").contains("otlp_output.url"));
    assert!(
        err("otlp_output: {enabled: true, url: 'http://x', resource_attributes: [a]}")
            .contains("otlp_output.resource_attributes")
    );
    assert!(
        err("otlp_output: {enabled: true, url: 'http://x', ca_cert: /nonexistent/ca.pem}")
            .contains("otlp_output.ca_cert")
    );
}
