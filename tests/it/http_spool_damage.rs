//! Damaged spools (issue 9, point 2): whatever is in `spool_dir`, the channel never allocates
//! what a garbage length says, never deletes unread alerts because an index says so, never sends
//! an empty body, and every damaged place is counted (`spool_corrupt`) and logged with the
//! segment's name. The first three tests write a spool of the previous format (v1) by hand, as
//! the previous version left it, and damage it as issue 9 describes.

use std::path::Path;
use std::time::Duration;

use crate::support::http::*;
use crate::support::*;
use falco_outputs::testing::{Channel, HttpChannel, HttpConfig};

/// A v1 segment: records `len: u32 LE, bytes`. Returns where each record starts.
fn write_v1_segment(dir: &Path, seq: u64, lines: &[String]) -> Vec<u64> {
    std::fs::create_dir_all(dir).unwrap();
    let mut bytes = Vec::new();
    let mut offsets = Vec::new();
    for l in lines {
        offsets.push(bytes.len() as u64);
        bytes.extend_from_slice(&(l.len() as u32).to_le_bytes());
        bytes.extend_from_slice(l.as_bytes());
    }
    std::fs::write(dir.join(format!("{seq:020}.seg")), bytes).unwrap();
    offsets
}

/// A v1 `head`: the segment and offset of the oldest unacknowledged record.
fn write_v1_head(dir: &Path, seq: u64, off: u64) {
    let mut head = seq.to_le_bytes().to_vec();
    head.extend_from_slice(&off.to_le_bytes());
    std::fs::write(dir.join("head"), head).unwrap();
}

/// The process's peak resident memory, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn spool_cfg(url: &str, dir: &Path) -> HttpConfig {
    let mut cfg = http_config(url);
    cfg.transport.spool_dir = dir.to_string_lossy().into();
    cfg
}

/// Every request body the server got (2xx or not), to catch empty or corrupt ones.
fn bodies(srv: &Server) -> Vec<String> {
    srv.requests()
        .iter()
        .map(|r| r["body"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Issue 9.2(a): a `head` pointing into the middle of a record made the channel read a garbage
/// length (~1.8 GB), allocate it on every retry and never deliver anything, across restarts.
#[test]
fn v1_head_inside_a_record_neither_allocates_garbage_nor_blocks_delivery() {
    if !require("python3") {
        return;
    }
    // Alone in a process, so that its peak RSS is its own.
    in_own_process(v1_head_inside_a_record);
}

fn v1_head_inside_a_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let old = alert_lines("v1", 50);
    let offsets = write_v1_segment(&dir, 1, &old);
    // Into record 10's text: `"out` read as a length is 0x74756f22, 1.95 GB.
    write_v1_head(&dir, 1, offsets[10] + 5);

    let srv = Server::start(ServerOpts::default());
    let cfg = spool_cfg(&srv.url("/"), &dir);
    let rss_before = peak_rss_kib();
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    let new = alert_lines("new", 5);
    ch.deliver(&batch(&new), &ctx.ctx);
    let all = drive(&mut ch, &ctx.ctx, Duration::from_secs(5), || {
        ctx.stats().delivered == 5
    });
    ctx.abort_after(Duration::from_millis(500));
    ch.close(&ctx.ctx);
    drop(ch);
    let rss_growth_mib = (peak_rss_kib().saturating_sub(rss_before)) / 1024;
    let got = received_lines(&srv.requests());
    let st = ctx.stats();
    // Straight to fd 1 (past libtest's capture): in_own_process shows the child's stdout.
    let figures = format!(
        "v1 head inside a record: {} requests, {} lines received, delivered {}, spool_corrupt {}, peak RSS +{rss_growth_mib} MiB",
        srv.requests().len(),
        got.len(),
        st.delivered,
        st.spool_corrupt,
    );

    std::io::Write::write_all(&mut std::io::stdout(), format!("{figures}\n").as_bytes()).unwrap();
    assert!(all, "the new alerts were not delivered\n{}", ctx.log_text());
    assert!(
        rss_growth_mib < 200,
        "peak RSS grew by {rss_growth_mib} MiB"
    );
    // The index is not trusted: the whole segment is re-sent (at least once), then the new ones.
    let expected: Vec<String> = old.iter().chain(&new).cloned().collect();
    assert!(
        got == expected,
        "got {} lines, not 50 old + 5 new in order",
        got.len()
    );
    assert!(bodies(&srv).iter().all(|b| !b.is_empty()));
    assert_eq!(st.spool_corrupt, 1, "one damaged index");
    let log = ctx.log_text();
    assert!(
        log.contains("head") && log.contains("00000000000000000001.seg"),
        "{log}"
    );

    // A restart finds nothing left to send.
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    drive(&mut ch, &ctx.ctx, Duration::from_millis(300), || false);
    ch.close(&ctx.ctx);
    assert_eq!(received_lines(&srv.requests()).len(), 55);
    assert_eq!(ctx.stats().spool_corrupt, 0);
}

/// Issue 9.2(b): garbage in `head` made the next start delete a segment holding 300 unsent
/// alerts, with no log line and no count.
#[test]
fn v1_garbage_head_deletes_nothing_and_is_counted() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let old = alert_lines("unsent", 300);
    write_v1_segment(&dir, 3, &old);
    std::fs::write(
        dir.join("head"),
        b"\x9f\xf3garbage!\x01\x02\x03\x04\x05\x06\x07\x08",
    )
    .unwrap();

    let srv = Server::start(ServerOpts::default());
    let mut cfg = spool_cfg(&srv.url("/"), &dir);
    cfg.transport.batch_max_alerts = 50;
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    drive(&mut ch, &ctx.ctx, Duration::from_secs(5), || {
        received_lines(&srv.requests()).len() >= 300
    });
    ch.close(&ctx.ctx);
    let got = received_lines(&srv.requests());
    let st = ctx.stats();
    println!(
        "v1 garbage head: {} of 300 unsent alerts received, spool_corrupt {}",
        got.len(),
        st.spool_corrupt
    );
    assert!(
        got == old,
        "all 300, in order, once: got {} lines",
        got.len()
    );
    assert_eq!(st.spool_corrupt, 1);
    assert!(ctx.log_text().contains("head"), "{}", ctx.log_text());
}

/// Issue 9.2(c): zero bytes appended to a segment were read as empty records and POSTed as 1,024
/// empty bodies.
#[test]
fn v1_zeros_appended_are_never_sent_as_empty_bodies() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let old = alert_lines("before-zeros", 20);
    write_v1_segment(&dir, 1, &old);
    // The previous version created `head` empty at open and filled it at the first 2xx.
    std::fs::write(dir.join("head"), b"").unwrap();
    let seg = dir.join(format!("{:020}.seg", 1));
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &[0u8; 4096]).unwrap();
    drop(f);

    let srv = Server::start(ServerOpts::default());
    let cfg = spool_cfg(&srv.url("/"), &dir);
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    drive(&mut ch, &ctx.ctx, Duration::from_secs(3), || {
        srv.requests().len() >= 20 + 1024
    });
    ch.close(&ctx.ctx);
    let all = bodies(&srv);
    let empty = all.iter().filter(|b| b.is_empty()).count();
    let st = ctx.stats();
    println!(
        "v1 zeros appended: {} requests, {empty} empty bodies, spool_corrupt {}",
        all.len(),
        st.spool_corrupt
    );
    assert_eq!(empty, 0);
    let got = received_lines(&srv.requests());
    assert!(
        got == old,
        "the 20 alerts, once, in order: got {} lines",
        got.len()
    );
    assert_eq!(st.spool_corrupt, 1);
    assert!(
        ctx.log_text().contains("00000000000000000001.seg"),
        "{}",
        ctx.log_text()
    );
}

/// The current format, damaged three ways at once between two runs: a garbage `ack`, a byte
/// changed inside one alert, zeros appended to the segment. Nothing is deleted, the damaged
/// alert is never sent, the rest arrive once and in order, and each place is counted and logged.
#[test]
fn damaged_spool_delivers_every_intact_alert_and_counts_each_damaged_place() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spool");
    let port = free_port();
    let cfg = spool_cfg(&format!("http://127.0.0.1:{port}/"), &dir);
    let lines = alert_lines("v2", 100);
    {
        let ctx = Harness::http();
        let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
        ch.deliver(&batch(&lines), &ctx.ctx);
        ctx.abort_after(Duration::from_millis(200));
        ch.close(&ctx.ctx);
    }
    let seg = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let mut data = std::fs::read(&seg).unwrap();
    let at = data
        .windows(12)
        .position(|w| w == b"v2 alert 50\"")
        .unwrap();
    data[at + 3] = b'A';
    data.extend_from_slice(&[0u8; 1024]);
    std::fs::write(&seg, data).unwrap();
    std::fs::write(dir.join("ack"), b"\x01\x02garbage").unwrap();

    let srv = Server::start(ServerOpts {
        port,
        ..Default::default()
    });
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    drive(&mut ch, &ctx.ctx, Duration::from_secs(10), || {
        received_lines(&srv.requests()).len() >= 99
    });
    ch.close(&ctx.ctx);
    let got = received_lines(&srv.requests());
    let st = ctx.stats();
    println!(
        "v2 damaged: {} of 100 alerts received ({} requests, {} empty), spool_corrupt {}",
        got.len(),
        srv.requests().len(),
        bodies(&srv).iter().filter(|b| b.is_empty()).count(),
        st.spool_corrupt
    );
    let expected: Vec<String> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 50)
        .map(|(_, l)| l.clone())
        .collect();
    assert!(
        got == expected,
        "got {} lines, not the 99 intact ones",
        got.len()
    );
    assert!(bodies(&srv).iter().all(|b| !b.is_empty()));
    assert_eq!(st.spool_corrupt, 3, "ack, damaged record, zeros");
    // A previous run's alerts are not this handle's to count.
    assert_eq!((st.delivered, st.discarded), (0, 0));
    let log = ctx.log_text();
    assert!(log.contains("ack file is damaged"), "{log}");
    assert!(log.contains("1 records lost"), "{log}");
    assert!(log.contains("1024 bytes"), "{log}");
}
