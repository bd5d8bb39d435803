//! The http channel through the public API (`Outputs` on falco.yaml keys): Falco's exact JSON
//! line as the body, the loader's quote stripping, a stalled endpoint that does not delay the file
//! channel, and the spool across two handles.

use std::time::{Duration, Instant};

use crate::support::http::{header, Server, ServerOpts};
use crate::support::{open, read_lines, require, seed_alert};

const SEED_JSON: &str = r#"{"hostname":"h","output":"23:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)","output_fields":{"evt.num":0,"evt.time":1507591916746609046,"fd.name":"/bin/hack","proc.cmdline":"touch /bin/hack","user.name":"root"},"priority":"Error","rule":"Write below binary dir","source":"syscall","tags":["filesystem","mitre_persistence"],"time":"2017-10-09T23:31:56.746609046Z"}"#;

fn stats_of(out: &falco_outputs::Outputs, name: &str) -> falco_outputs::stats::StatsSnapshot {
    out.stats()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .unwrap()
}

#[test]
fn falco_json_line_is_the_body_and_quoted_url_works() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts::default());
    let yaml = format!(
        "json_output: true\nstdout_output: {{enabled: false}}\nhttp_output:\n  enabled: true\n  url: \"'{}'\"\n",
        srv.url("/falco")
    );
    let (out, logs) = open(&yaml);
    out.emit(seed_alert(0)).unwrap();
    out.emit(seed_alert(1)).unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    let st = stats_of(&out, "http");
    assert_eq!((st.delivered, st.pending()), (2, 0), "{:?}", logs.lines());
    out.close(None).unwrap();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["body"].as_str().unwrap(), SEED_JSON);
    assert_eq!(reqs[0]["path"], "/falco");
    assert_eq!(header(&reqs[0], "Content-Type"), Some("application/json"));
    assert!(reqs[1]["body"].as_str().unwrap().contains("\"evt.num\":1"));
}

#[test]
fn a_never_answering_endpoint_does_not_delay_the_file_channel() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts {
        script: vec!["hang"; 50].join(","),
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.json");
    let yaml = format!(
        "json_output: true\nstdout_output: {{enabled: false}}\n\
         file_output: {{enabled: true, filename: {}}}\n\
         http_output: {{enabled: true, url: \"{}\", timeout_ms: 400, max_consecutive_timeouts: 1, retry_max_backoff_ms: 300}}\n",
        file.display(),
        srv.url("/stall")
    );
    let (out, logs) = open(&yaml);
    let t0 = Instant::now();
    for i in 0..20 {
        out.emit(seed_alert(i)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // Each alert reaches the file while the http worker is stuck in a request.
        let deadline = Instant::now() + Duration::from_millis(500);
        while read_lines(&file).len() < (i + 1) as usize && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            read_lines(&file).len(),
            (i + 1) as usize,
            "file lags behind at alert {i}"
        );
    }
    let elapsed = t0.elapsed();
    assert!(
        srv.requests().len() >= 2,
        "http kept trying: {}",
        srv.requests().len()
    );
    let http = stats_of(&out, "http");
    assert_eq!(http.delivered, 0);
    assert!(http.errors >= 2, "timeouts counted as errors: {http:?}");
    assert_eq!(stats_of(&out, "file").delivered, 20);
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    // Memory only: what http still holds at the close deadline is discarded and counted.
    assert!(out.close(Some(Duration::from_millis(300))).is_err());
    assert!(
        logs.count_containing("consecutive timeouts") >= 1,
        "{:?}",
        logs.lines()
    );
}

#[test]
fn spool_carries_alerts_from_one_handle_to_the_next() {
    if !require("python3") {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let port = crate::support::http::free_port();
    let yaml = format!(
        "json_output: true\nstdout_output: {{enabled: false}}\n\
         http_output: {{enabled: true, url: \"http://127.0.0.1:{port}/s\", spool_dir: \"{}\", retry_max_backoff_ms: 200}}\n",
        spool.path().display()
    );
    let (out, _) = open(&yaml);
    for i in 0..10 {
        out.emit(seed_alert(i)).unwrap();
    }
    // Down: close gives up at its deadline, the alerts stay in the spool (not discarded).
    let _ = out.close(Some(Duration::from_millis(400)));

    let srv = Server::start(ServerOpts {
        port,
        ..Default::default()
    });
    let (out, logs) = open(&yaml);
    out.emit(seed_alert(10)).unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while srv.requests().len() < 11 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    out.close(None).unwrap();
    let nums: Vec<u64> = srv
        .requests()
        .iter()
        .map(|r| {
            let v: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
            v["output_fields"]["evt.num"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(nums, (0..11).collect::<Vec<_>>(), "{:?}", logs.lines());
}
