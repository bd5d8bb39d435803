//! Batching: several alerts per request as NDJSON, none lost, none reordered, sent when the
//! batch is full or `batch_max_wait_ms` after its first alert.

use std::time::{Duration, Instant};

use crate::support::http::*;
use crate::support::*;
use falco_outputs::testing::{Channel, HttpChannel};

#[test]
fn ten_thousand_alerts_in_far_fewer_requests_none_lost_each_batch_ordered() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts::default());
    let mut cfg = http_config(&srv.url("/bulk"));
    cfg.transport.batch_max_alerts = 100;
    // Only full batches: a short wait would also send partial ones whenever a round trip takes
    // longer than it (a loaded machine), which is its promise. The wait has its own test below.
    cfg.transport.batch_max_wait_ms = 60_000;
    cfg.transport.keep_alive = true;
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    let lines = alert_lines("bulk", 10_000);
    for chunk in lines.chunks(37) {
        ch.deliver(&batch(chunk), &ctx.ctx);
    }
    assert!(drive(&mut ch, &ctx.ctx, Duration::from_secs(30), || ctx
        .stats()
        .delivered
        == 10_000));
    ch.close(&ctx.ctx);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 100, "10,000 alerts in batches of 100");
    let mut next = 0usize;
    for r in &reqs {
        assert_eq!(header(r, "Content-Type"), Some("application/x-ndjson"));
        let body = r["body"].as_str().unwrap();
        assert!(
            body.ends_with('\n'),
            "NDJSON: every line ends with a newline"
        );
        assert_eq!(body.lines().count(), 100, "every batch full");
        for line in body.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                v["seq"].as_u64().unwrap() as usize,
                next,
                "ordered within and across batches"
            );
            next += 1;
        }
    }
    assert_eq!(next, 10_000, "none lost, none duplicated");
    let ports: std::collections::HashSet<u64> = reqs
        .iter()
        .map(|r| r["client_port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports.len(), 1, "keep_alive: true reuses one connection");
}

#[test]
fn a_partial_batch_leaves_after_batch_max_wait_ms() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts::default());
    let mut cfg = http_config(&srv.url("/"));
    cfg.transport.batch_max_alerts = 100;
    cfg.transport.batch_max_wait_ms = 300;
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, false, &ctx.logger()).unwrap();
    let lines = [
        "10:00:00.000000000: Warning one",
        "10:00:00.000000001: Warning two",
        "10:00:00.000000002: Warning three",
    ];
    let t0 = Instant::now();
    ch.deliver(&batch(&lines), &ctx.ctx);
    assert!(
        ch.next_wake().is_some_and(|w| w > Instant::now()),
        "waits for more alerts"
    );
    assert!(drive(&mut ch, &ctx.ctx, Duration::from_secs(5), || ctx
        .stats()
        .delivered
        == 3));
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_millis(700),
        "{waited:?}"
    );
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(header(&reqs[0], "Content-Type"), Some("text/plain"));
    assert_eq!(reqs[0]["body"].as_str().unwrap(), lines.join("\n") + "\n");
}

#[test]
fn flush_sends_a_partial_batch_at_once() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts::default());
    let mut cfg = http_config(&srv.url("/"));
    cfg.transport.batch_max_alerts = 100;
    cfg.transport.batch_max_wait_ms = 60_000;
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    ch.deliver(&batch(&alert_lines("flush", 2)), &ctx.ctx);
    assert_eq!(srv.requests().len(), 0);
    ch.flush(&ctx.ctx);
    assert_eq!(ctx.stats().delivered, 2);
    assert_eq!(
        received_lines(&srv.wait_requests(1, Duration::from_secs(2))),
        alert_lines("flush", 2)
    );
}

#[test]
fn batches_stay_whole_and_ordered_through_retries() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts {
        script: "500,200,503".into(),
        ..Default::default()
    });
    let mut cfg = http_config(&srv.url("/"));
    cfg.transport.batch_max_alerts = 100;
    cfg.transport.compress_uploads = true;
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    let lines = alert_lines("retry-batch", 250);
    ch.deliver(&batch(&lines), &ctx.ctx);
    assert!(drive(&mut ch, &ctx.ctx, Duration::from_secs(10), || ctx
        .stats()
        .delivered
        == 250));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 5);
    assert_eq!(
        reqs[0]["body"], reqs[1]["body"],
        "the failed batch is resent as it was"
    );
    assert_eq!(reqs[2]["body"], reqs[3]["body"]);
    assert_eq!(received_lines(&reqs), lines);
}
