//! Delivery through failures, as the server saw it: an endpoint down then up, 5xx, 429 with
//! Retry-After, a permanent 400, a server that never answers, and the close deadline.

use std::time::{Duration, Instant};

use crate::support::http::*;
use crate::support::*;
use falco_outputs::testing::{Channel, HttpChannel};

fn times(reqs: &[serde_json::Value]) -> Vec<f64> {
    reqs.iter().map(|r| r["t"].as_f64().unwrap()).collect()
}

#[test]
fn endpoint_down_then_up_every_alert_arrives_in_order() {
    if !require("python3") {
        return;
    }
    let port = free_port();
    let cfg = http_config(&format!("http://127.0.0.1:{port}/in"));
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    let lines = alert_lines("outage", 50);
    let t0 = Instant::now();
    for chunk in lines.chunks(5) {
        ch.deliver(&batch(chunk), &ctx.ctx);
    }
    // While the endpoint is down, deliver stores and returns: the worker keeps draining.
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "deliver blocked {:?}",
        t0.elapsed()
    );
    assert_eq!(ch.held(), 50);
    drive(&mut ch, &ctx.ctx, Duration::from_millis(600), || false);
    assert_eq!(ctx.stats().delivered, 0);
    assert!(
        ctx.stats().errors >= 2,
        "retried while down: {:?}",
        ctx.stats()
    );

    let srv = Server::start(ServerOpts {
        port,
        ..Default::default()
    });
    assert!(
        drive(&mut ch, &ctx.ctx, Duration::from_secs(10), || ctx
            .stats()
            .delivered
            == 50),
        "{}",
        ctx.log_text()
    );
    assert_eq!(
        received_lines(&srv.requests()),
        lines,
        "all 50, in emit order, once"
    );
    assert_eq!(ch.held(), 0);
    let log = ctx.log_text();
    assert!(log.contains("cannot deliver to http://127.0.0.1"), "{log}");
    assert!(
        log.contains("delivering to") && log.contains("again"),
        "{log}"
    );
}

#[test]
fn server_errors_are_retried_until_2xx() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts {
        script: "500,503,502".into(),
        ..Default::default()
    });
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&http_config(&srv.url("/")), true, &ctx.logger()).unwrap();
    let lines = alert_lines("5xx", 3);
    ch.deliver(&batch(&lines), &ctx.ctx);
    assert!(drive(&mut ch, &ctx.ctx, Duration::from_secs(10), || ctx
        .stats()
        .delivered
        == 3));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 6, "3 failures then 3 successes");
    for r in &reqs[..4] {
        assert_eq!(
            r["body"].as_str().unwrap(),
            lines[0],
            "the first alert is retried, nothing overtakes it"
        );
    }
    assert_eq!(received_lines(&reqs), lines);
    let st = ctx.stats();
    assert_eq!((st.delivered, st.failed, st.errors), (3, 0, 3));
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts {
        script: "429:1".into(),
        ..Default::default()
    });
    let ctx = Harness::http();
    let mut cfg = http_config(&srv.url("/"));
    cfg.transport.retry_max_backoff_ms = 5000;
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    ch.deliver(&batch(&alert_lines("429", 1)), &ctx.ctx);
    assert!(drive(&mut ch, &ctx.ctx, Duration::from_secs(5), || ctx
        .stats()
        .delivered
        == 1));
    let t = times(&srv.requests());
    assert_eq!(t.len(), 2);
    let waited = t[1] - t[0];
    eprintln!("Retry-After: 1 -> retried after {waited:.3} s");
    assert!(
        (0.95..1.6).contains(&waited),
        "waited {waited} s for Retry-After: 1"
    );
}

#[test]
fn bad_request_is_not_retried_and_counted_failed() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts {
        script: "400".into(),
        ..Default::default()
    });
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&http_config(&srv.url("/")), true, &ctx.logger()).unwrap();
    let lines = alert_lines("400", 2);
    ch.deliver(&batch(&lines), &ctx.ctx);
    assert!(drive(
        &mut ch,
        &ctx.ctx,
        Duration::from_secs(5),
        || ch_done(&ctx, 2)
    ));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2, "no retry of the refused alert");
    assert_eq!(reqs[1]["body"].as_str().unwrap(), lines[1]);
    let st = ctx.stats();
    assert_eq!((st.delivered, st.failed), (1, 1));
    let log = ctx.log_text();
    assert!(
        log.contains("HTTP 400") && log.contains("status 400"),
        "status and the answer's first bytes: {log}"
    );
}

fn ch_done(ctx: &Harness, n: u64) -> bool {
    let s = ctx.stats();
    s.delivered + s.failed == n
}

#[test]
fn never_answering_server_times_out_and_is_retried_as_falco_does() {
    if !require("python3") {
        return;
    }
    // max_consecutive_timeouts: 2 -> two immediate retries after a timeout (Falco's loop), then
    // backoff instead of Falco's drop.
    let srv = Server::start(ServerOpts {
        script: "hang,hang,hang".into(),
        ..Default::default()
    });
    let ctx = Harness::http();
    let mut cfg = http_config(&srv.url("/"));
    cfg.transport.timeout_ms = 300;
    cfg.max_consecutive_timeouts = 2;
    cfg.transport.retry_max_backoff_ms = 400;
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    let lines = alert_lines("hang", 2);
    ch.deliver(&batch(&lines), &ctx.ctx);
    assert!(drive(&mut ch, &ctx.ctx, Duration::from_secs(10), || ctx
        .stats()
        .delivered
        == 2));
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 5, "3 timeouts, then both alerts");
    assert_eq!(received_lines(&reqs), lines);
    let t = times(&reqs);
    for i in 1..3 {
        let gap = t[i] - t[i - 1];
        assert!(
            (0.25..0.45).contains(&gap),
            "immediate retry after the 300 ms timeout: {gap}"
        );
    }
    let log = ctx.log_text();
    assert!(
        log.contains("3 consecutive timeouts") && log.contains("max_consecutive_timeouts: 2"),
        "{log}"
    );
    assert_eq!(ctx.stats().errors, 3);
}

#[test]
fn close_deadline_interrupts_a_hung_request_and_counts_the_discard() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts {
        script: "hang".into(),
        ..Default::default()
    });
    let ctx = Harness::http();
    let mut cfg = http_config(&srv.url("/"));
    cfg.transport.timeout_ms = 30_000;
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    ctx.abort_after(Duration::from_millis(300));
    let t0 = Instant::now();
    ch.deliver(&batch(&alert_lines("stuck", 3)), &ctx.ctx);
    ch.close(&ctx.ctx);
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(600),
        "abort noticed late: {took:?}"
    );
    let st = ctx.stats();
    assert_eq!((st.delivered, st.discarded), (0, 3));
    // Counted by the channel, reported once by close (with the channel's total), not here too.
    assert!(!ctx.log_text().contains("discarded"), "{}", ctx.log_text());
    assert_eq!(srv.requests().len(), 1);
}
