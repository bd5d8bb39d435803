//! Delivery throughput of the http channel to a minimal loopback server (a Rust HTTP/1.1 server
//! in this file that answers 200 with an empty body, so the figure is the client's).
//!
//!     cargo test --release --test it -- --ignored --nocapture http_bench
//!
//! Not a timed test: it prints alerts/s for each setting and only asserts that nothing was lost.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::http::*;
use crate::support::*;
use falco_outputs::testing::{Channel, HttpChannel};

/// Counts the alerts (body lines) it receives; answers every request with 200.
fn fast_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let c = c.clone();
            std::thread::spawn(move || {
                let _ = conn.set_nodelay(true);
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                let mut body = Vec::new();
                loop {
                    let mut len = 0usize;
                    let mut gzip = false;
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                            gzip |=
                                k.eq_ignore_ascii_case("content-encoding") && v.trim() == "gzip";
                        }
                    }
                    body.resize(len, 0);
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if gzip {
                        let mut plain = Vec::new();
                        let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain);
                        body = plain;
                    }
                    let lines = body.iter().filter(|b| **b == b'\n').count().max(1);
                    c.fetch_add(lines, Ordering::Relaxed);
                    if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (port, count)
}

fn run(name: &str, n: usize, edit: impl Fn(&mut falco_outputs::testing::HttpConfig)) {
    let (port, count) = fast_server();
    let mut cfg = http_config(&format!("http://127.0.0.1:{port}/"));
    cfg.transport.keep_alive = true;
    edit(&mut cfg);
    let spool = tempfile::tempdir().unwrap();
    if cfg.transport.spool_dir == "SPOOL" {
        cfg.transport.spool_dir = spool.path().to_string_lossy().into();
    }
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    // A typical Falco JSON alert is 400-800 bytes.
    let pad = "p".repeat(400);
    let lines: Vec<String> = (0..n)
        .map(|i| format!("{{\"hostname\":\"bench\",\"output\":\"alert {i} {pad}\",\"priority\":\"Warning\",\"rule\":\"r\"}}"))
        .collect();
    let batches: Vec<_> = lines.chunks(64).map(batch).collect();
    let t0 = Instant::now();
    for b in &batches {
        ch.deliver(b, &ctx.ctx);
    }
    ch.close(&ctx.ctx);
    let secs = t0.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(5);
    while count.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(count.load(Ordering::Relaxed), n, "{name}: alerts lost");
    assert_eq!(ctx.stats().delivered as usize, n);
    println!(
        "http bench: {name:<40} {n:>7} alerts in {secs:>6.2} s = {:>9.0} alerts/s",
        n as f64 / secs
    );
}

#[test]
#[ignore]
fn http_delivery_throughput() {
    run("batch 1, keep_alive", 20_000, |_| {});
    run("batch 1, keep_alive: false", 5_000, |c| {
        c.transport.keep_alive = false
    });
    run("batch 100, keep_alive", 200_000, |c| {
        c.transport.batch_max_alerts = 100
    });
    run("batch 100, keep_alive, gzip", 200_000, |c| {
        c.transport.batch_max_alerts = 100;
        c.transport.compress_uploads = true
    });
    run("batch 1, keep_alive, spool_dir", 20_000, |c| {
        c.transport.spool_dir = "SPOOL".into()
    });
    run("batch 100, keep_alive, spool_dir", 200_000, |c| {
        c.transport.batch_max_alerts = 100;
        c.transport.spool_dir = "SPOOL".into()
    });
}
