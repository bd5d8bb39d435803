//! The SIEM payloads of the HTTP channel (`http_output.format`) against loopback stand-ins of
//! Splunk HEC, the Elasticsearch bulk API and Loki's push API (`support/siem_server.py`), which
//! check every request against the API's published format and answer with the API's real
//! success and error bodies: what each server stored, what the counters say, what was retried.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::accounting::assert_outputs_settled;
use crate::support::*;
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};
use falco_outputs::Outputs;

/// The Python stand-in, killed on drop.
struct Siem {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Siem {
    fn start(api: &str, script: &str) -> Siem {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let port_file = dir.path().join("port");
        let server = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/siem_server.py");
        let mut child = Command::new("python3")
            .arg(server)
            .args(["--api", api, "--script", script, "--token", "s3cr3t-token"])
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::null())
            .spawn()
            .expect("python3");
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p.trim().parse().unwrap();
            }
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{api} stand-in did not start");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Siem {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        read_lines(&self.log)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Everything stored, over every request; panics on a request with a schema error.
    fn stored(&self) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        for r in self.requests() {
            assert_eq!(
                r["schema_errors"],
                serde_json::json!([]),
                "the request does not follow the API's format: {r}"
            );
            all.extend(r["stored"].as_array().unwrap().iter().cloned());
        }
        all
    }
}

impl Drop for Siem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn alert(n: u64, rule: &str) -> Alert {
    let num = n.to_string();
    alert_from_parts(
        1_700_000_000_123_456_789 + n,
        Priority::Warning,
        rule,
        "syscall",
        &format!("event number {n} (user=root)"),
        &[
            ("evt.num", Some(&num), FieldKind::Number),
            ("proc.cmdline", Some("bash -c \"x\""), FieldKind::String),
        ],
        &["siem"],
    )
}

/// Falco's JSON line of each alert, as a plain file channel writes it.
fn falco_json_lines(alerts: &[Alert]) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.json");
    let (out, _) = open(&format!(
        "json_output: true\nstdout_output: {{enabled: false}}\nfile_output: {{enabled: true, filename: {}}}\n",
        path.display()
    ));
    for a in alerts {
        out.emit(a.clone()).unwrap();
    }
    out.close(None).unwrap();
    read_lines(&path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn settle(out: &Outputs) {
    out.flush(Duration::from_secs(60)).unwrap();
}

fn http_yaml(url: &str, keys: &str) -> String {
    http_yaml_backoff(url, keys, 200)
}

fn http_yaml_backoff(url: &str, keys: &str, max_backoff_ms: u64) -> String {
    format!(
        "stdout_output: {{enabled: false}}\nhttp_output: {{enabled: true, url: \"{url}\", \
         retry_max_backoff_ms: {max_backoff_ms}, {keys}}}\n"
    )
}

#[test]
fn splunk_hec_events_token_and_a_refused_event_in_a_batch() {
    if !require("python3") {
        return;
    }
    // Request 2 of 4 (5 events each) has its event 2 refused: events 0 and 1 are indexed,
    // event 2 failed, the other two are sent again. Request 3 meets a busy server (503).
    let hec = Siem::start("splunk_hec", "ok,invalid_event:2,503");
    let (out, logs) = open(&http_yaml(
        &hec.url("/services/collector/event"),
        "format: splunk_hec, batch_max_alerts: 5, batch_max_wait_ms: 0, \
         splunk_hec: {token: s3cr3t-token, index: security, sourcetype: falco:alert}",
    ));
    let alerts: Vec<Alert> = (0..20).map(|n| alert(n, "Rule A")).collect();
    for a in &alerts {
        out.emit(a.clone()).unwrap();
    }
    settle(&out);
    let stats = out.stats();
    assert_outputs_settled(&out);
    out.close(None).unwrap();
    let c = stats[0].1;
    let stored = hec.stored();
    let reqs = hec.requests();
    eprintln!(
        "HEC: {} requests, {} events indexed; delivered {} failed {} retries {}",
        reqs.len(),
        stored.len(),
        c.delivered,
        c.failed,
        c.retries
    );
    for r in &reqs {
        assert_eq!(r["headers"]["Authorization"], "Splunk s3cr3t-token");
    }
    assert_eq!((c.delivered, c.failed), (19, 1));
    assert!(c.retries >= 1, "the 503 was retried");
    // Each alert indexed once, except the refused one; the event is Falco's JSON alert.
    let falco = falco_json_lines(&alerts);
    let nums: Vec<u64> = stored
        .iter()
        .map(|e| e["event"]["output_fields"]["evt.num"].as_u64().unwrap())
        .collect();
    let refused = 5 + 2;
    assert_eq!(nums, (0..20).filter(|n| *n != refused).collect::<Vec<_>>());
    for e in &stored {
        let n = e["event"]["output_fields"]["evt.num"].as_u64().unwrap();
        assert_eq!(e["event"], falco[n as usize]);
        assert_eq!(e["host"], "h");
        assert_eq!(e["sourcetype"], "falco:alert");
        assert_eq!(e["index"], "security");
        assert_eq!(e["source"], "falco");
        let t = e["time"].as_f64().unwrap();
        assert!((t - 1_700_000_000.123_456).abs() < 1e-3, "time {t}");
    }
    // Seconds with a fraction (microseconds), as written.
    assert!(reqs[0]["body"]
        .as_str()
        .unwrap()
        .starts_with("{\"time\":1700000000.123456,"));
    assert!(
        logs.count_containing("Invalid data format") >= 1,
        "{:?}",
        logs.lines()
    );
    assert!(
        !logs.lines().iter().any(|l| l.contains("s3cr3t")),
        "the token was logged"
    );
}

#[test]
fn splunk_hec_invalid_token_fails_the_alerts_and_says_why() {
    if !require("python3") {
        return;
    }
    // One answer per request whatever the batching did: 4 alerts in batches of at most 2 are
    // 2 to 4 requests (batch_max_wait_ms 0 may send a batch before its second alert came).
    let hec = Siem::start(
        "splunk_hec",
        "invalid_token,invalid_token,invalid_token,invalid_token",
    );
    let (out, logs) = open(&http_yaml(
        &hec.url("/services/collector/event"),
        "format: splunk_hec, batch_max_alerts: 2, batch_max_wait_ms: 0, \
         splunk_hec: {token: s3cr3t-token}",
    ));
    for n in 0..4 {
        out.emit(alert(n, "Rule A")).unwrap();
    }
    settle(&out);
    let c = out.stats()[0].1;
    assert_outputs_settled(&out);
    out.close(None).unwrap();
    assert_eq!((c.delivered, c.failed), (0, 4));
    assert!(hec.stored().is_empty());
    let reqs = hec.requests();
    assert!(
        (2..=4).contains(&reqs.len()),
        "403 is not retried (a client error): {} requests for 4 alerts",
        reqs.len()
    );
    assert!(
        logs.count_containing(r#"{\"text\":\"Invalid token\",\"code\":4}"#) >= 1
            || logs.count_containing("Invalid token") >= 1,
        "{:?}",
        logs.lines()
    );
    assert!(!logs.lines().iter().any(|l| l.contains("s3cr3t")));
}

#[test]
fn elasticsearch_bulk_partial_failures_and_item_retries_lose_and_duplicate_nothing() {
    if !require("python3") {
        return;
    }
    // Request 1: item 3 refused (mapping error). Request 2: items 0 and 4 rejected with 429:
    // the request is sent again; its items already indexed answer 409 and count delivered.
    let es = Siem::start("elasticsearch_bulk", "reject:3,busy:0;4");
    let (out, logs) = open(&http_yaml(
        &es.url("/_bulk"),
        "format: elasticsearch_bulk, batch_max_alerts: 10, batch_max_wait_ms: 0, \
         elasticsearch_bulk: {index: falco-alerts}",
    ));
    let alerts: Vec<Alert> = (0..30).map(|n| alert(n, "Rule B")).collect();
    for a in &alerts {
        out.emit(a.clone()).unwrap();
    }
    settle(&out);
    let c = out.stats()[0].1;
    assert_outputs_settled(&out);
    out.close(None).unwrap();
    let stored = es.stored();
    let reqs = es.requests();
    eprintln!(
        "bulk: {} requests, {} documents indexed; delivered {} failed {} retries {}",
        reqs.len(),
        stored.len(),
        c.delivered,
        c.failed,
        c.retries
    );
    assert_eq!((c.delivered, c.failed), (29, 1));
    assert!(c.retries >= 1);
    // Each alert once in the index but the refused one (the 4th of the first request).
    let mut nums: Vec<u64> = stored
        .iter()
        .map(|d| d["output_fields"]["evt.num"].as_u64().unwrap())
        .collect();
    nums.sort_unstable();
    assert_eq!(nums, (0..30).filter(|n| *n != 3).collect::<Vec<_>>());
    // The retried request's answers included 409s for what it had indexed already.
    assert!(reqs.iter().any(|r| r["status"] == 200
        && r["body"].as_str().unwrap().matches("\"create\"").count() == 10
        && r["action"] == "ok"));
    let falco = falco_json_lines(&alerts);
    for d in &stored {
        let n = d["output_fields"]["evt.num"].as_u64().unwrap() as usize;
        let mut expected = falco[n].clone();
        expected["@timestamp"] = expected["time"].clone();
        assert_eq!(
            *d, expected,
            "the document is Falco's alert with @timestamp"
        );
    }
    assert!(reqs
        .iter()
        .all(|r| r["headers"]["Content-Type"] == "application/x-ndjson"));
    assert!(
        logs.count_containing("document_parsing_exception") >= 1,
        "{:?}",
        logs.lines()
    );
}

#[test]
fn loki_streams_by_labels_429_with_retry_after_and_bounded_rules() {
    if !require("python3") {
        return;
    }
    let loki = Siem::start("loki", "429:1");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("same.txt");
    let (out, _) = open(&format!(
        "{}file_output: {{enabled: true, filename: {}}}\n",
        // Retry-After is honoured up to retry_max_backoff_ms (docs/http.md).
        http_yaml_backoff(
            &loki.url("/loki/api/v1/push"),
            "format: loki, batch_max_alerts: 30, batch_max_wait_ms: 0, loki: {max_rules: 2}",
            5000,
        ),
        file.display()
    ));
    let started = Instant::now();
    let rules = ["Rule A", "Rule B", "Rule C"];
    for n in 0..30 {
        out.emit(alert(n, rules[n as usize % 3])).unwrap();
    }
    settle(&out);
    let took = started.elapsed();
    let stats = out.stats();
    assert_outputs_settled(&out);
    out.close(None).unwrap();
    let c = stats.iter().find(|(n, _)| *n == "http").unwrap().1;
    let reqs = loki.requests();
    let stored = loki.stored();
    eprintln!(
        "loki: {} requests in {took:?}, {} entries; delivered {} retries {}",
        reqs.len(),
        stored.len(),
        c.delivered,
        c.retries
    );
    assert_eq!(reqs[0]["status"], 429);
    assert!(
        took >= Duration::from_millis(900),
        "Retry-After: 1 was not waited for"
    );
    assert_eq!((c.delivered, c.failed, c.retries), (30, 0, 1));
    // The entries are the file's lines, byte for byte, with the event time in ns.
    let lines = read_lines(&file);
    let mut got: Vec<(String, String)> = stored
        .iter()
        .map(|e| {
            (
                e["ts"].as_str().unwrap().to_string(),
                e["line"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = (0..30u64)
        .map(|n| {
            (
                (1_700_000_000_123_456_789 + n).to_string(),
                lines[n as usize].clone(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    // Labels: priority, rule (two rules of their own, the third `_other`), source, hostname.
    let mut streams: Vec<String> = reqs
        .last()
        .map(|r| {
            let body: serde_json::Value =
                serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            body["streams"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["stream"].to_string())
                .collect()
        })
        .unwrap();
    streams.sort();
    assert_eq!(
        streams,
        [
            r#"{"hostname":"h","priority":"Warning","rule":"Rule A","source":"syscall"}"#,
            r#"{"hostname":"h","priority":"Warning","rule":"Rule B","source":"syscall"}"#,
            r#"{"hostname":"h","priority":"Warning","rule":"_other","source":"syscall"}"#,
        ]
    );
}

#[test]
fn siem_keys_are_checked() {
    let logs = Logs::default();
    for (keys, want) in [
        ("format: splunk", "config key `http_output.format`"),
        (
            "format: splunk_hec",
            "config key `http_output.splunk_hec.token`",
        ),
        (
            "format: loki, loki: {labels: [proc.name]}",
            "config key `http_output.loki.labels`",
        ),
        (
            "format: elasticsearch_bulk, elasticsearch_bulk: {index: \"\"}",
            "config key `http_output.elasticsearch_bulk.index`",
        ),
    ] {
        let e = try_open(&http_yaml("http://127.0.0.1:9/", keys), &logs)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(want), "{keys}: {e}");
    }
    let yaml = "stdout_output: {enabled: false}\nextra_outputs:\n  - {name: hec, type: http, \
                url: \"http://127.0.0.1:9/\", format: splunk_hec}\n";
    let e = try_open(yaml, &logs).err().unwrap().to_string();
    assert!(e.contains("extra_outputs.hec.splunk_hec.token"), "{e}");
}
