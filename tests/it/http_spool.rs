//! The on-disk spool: alerts held while the endpoint is down survive the handle (a clean close, a
//! killed process), come out first and in order, and the bound drops the oldest, counted.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use crate::support::http::*;
use crate::support::*;
use falco_outputs::testing::{Channel, HttpChannel};

fn spool_files_are_private(dir: &std::path::Path) {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let mode = e.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?} has mode {mode:o}", e.path());
        n += 1;
    }
    assert!(n > 0);
}

fn spool_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn spool_survives_close_and_a_new_handle_delivers_the_old_alerts_first() {
    if !require("python3") {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = http_config(&format!("http://127.0.0.1:{port}/"));
    cfg.transport.spool_dir = spool.path().join("spool").to_string_lossy().into();
    let first = alert_lines("first-run", 30);
    {
        let ctx = Harness::http();
        let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
        for chunk in first.chunks(7) {
            ch.deliver(&batch(chunk), &ctx.ctx);
        }
        ctx.abort_after(Duration::from_millis(300));
        ch.close(&ctx.ctx);
        let st = ctx.stats();
        assert_eq!(
            (st.delivered, st.discarded, st.failed),
            (0, 0, 0),
            "kept, not discarded"
        );
        assert!(
            ctx.log_text().contains("30 alerts not delivered"),
            "{}",
            ctx.log_text()
        );
    }
    spool_files_are_private(&spool.path().join("spool"));

    let srv = Server::start(ServerOpts {
        port,
        ..Default::default()
    });
    let second = alert_lines("second-run", 5);
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    assert!(
        ctx.log_text().contains("30 alerts left in spool_dir"),
        "{}",
        ctx.log_text()
    );
    assert_eq!(
        ch.held(),
        0,
        "the previous run's alerts are not this handle's to account"
    );
    ch.deliver(&batch(&second), &ctx.ctx);
    assert!(drive(&mut ch, &ctx.ctx, Duration::from_secs(10), || srv
        .requests()
        .len()
        == 35));
    ch.close(&ctx.ctx);
    let expected: Vec<String> = first.iter().chain(&second).cloned().collect();
    assert_eq!(
        received_lines(&srv.requests()),
        expected,
        "old first, then new, in order, once"
    );
    assert_eq!(ctx.stats().delivered, 5);
    drop(ch);

    // A third handle finds nothing left: no duplicates after a clean run.
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    drive(&mut ch, &ctx.ctx, Duration::from_millis(300), || false);
    ch.close(&ctx.ctx);
    assert_eq!(srv.requests().len(), 35);
    assert!(spool_bytes(&spool.path().join("spool")) < 64 << 10);
}

#[test]
fn one_spool_dir_serves_one_handle_at_a_time() {
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = http_config(&format!("http://127.0.0.1:{}/", free_port()));
    cfg.transport.spool_dir = spool.path().to_string_lossy().into();
    let ctx = Harness::http();
    let _first = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    match HttpChannel::open_http(&cfg, true, &ctx.logger()) {
        Err(e) => assert!(format!("{e:?}").contains("http_output.spool_dir"), "{e:?}"),
        Ok(_) => panic!("two handles on one spool"),
    }
}

#[test]
fn spool_over_its_bound_drops_the_oldest_and_counts_them() {
    if !require("python3") {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cfg = http_config(&format!("http://127.0.0.1:{port}/"));
    cfg.transport.spool_dir = spool.path().to_string_lossy().into();
    cfg.transport.spool_max_mb = 1;
    let pad = "x".repeat(1000);
    let lines: Vec<String> = (0..3000)
        .map(|i| format!("{{\"seq\":{i},\"pad\":\"{pad}\"}}"))
        .collect();
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    for chunk in lines.chunks(100) {
        ch.deliver(&batch(chunk), &ctx.ctx);
    }
    let dropped = ctx.stats().discarded as usize;
    assert!(
        dropped > 1900 && dropped < 2100,
        "about 2 MiB of 3 dropped: {dropped}"
    );
    assert_eq!(ch.held(), 3000 - dropped);
    let on_disk = spool_bytes(spool.path());
    // Held alerts fit the bound; the disk also has the acknowledged part of the oldest segment
    // (< one 64 KiB segment) and the last write may overshoot a segment by one batch.
    assert!(
        on_disk <= (1 << 20) + (64 << 10) + 100 * 1004,
        "spool holds {on_disk} bytes"
    );
    assert!(ctx.log_text().contains("dropped the"), "{}", ctx.log_text());

    let srv = Server::start(ServerOpts {
        port,
        ..Default::default()
    });
    let want = 3000 - dropped;
    assert!(drive(
        &mut ch,
        &ctx.ctx,
        Duration::from_secs(20),
        || ctx.stats().delivered as usize == want
    ));
    assert_eq!(ch.held(), 0);
    assert_eq!(
        received_lines(&srv.requests()),
        lines[dropped..].to_vec(),
        "the newest survive, in order"
    );
    let st = ctx.stats();
    assert_eq!(st.delivered as usize + st.discarded as usize, 3000);
}

/// A host killed while the endpoint is down: the next process delivers what the dead one held.
#[test]
fn spool_survives_a_killed_process() {
    in_child_process(crash_child, spool_survives_a_killed_process_parent);
}

fn spool_survives_a_killed_process_parent(child: &TestChild) {
    if !require("python3") {
        return;
    }
    let spool = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = child
        .command()
        .env(
            "HTTP_CRASH_CHILD",
            format!("{port} {}", spool.path().display()),
        )
        .output()
        .unwrap();
    // Aborted, as meant: a child that failed (panicked) exits instead.
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child was meant to die: {:?}",
        out.status
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("child stored 40"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A write torn by a crash (the first bytes of a record) is skipped, counted and logged,
    // never sent.
    let seg = std::fs::read_dir(spool.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "seg"))
        .unwrap();
    let whole = std::fs::read(&seg).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, &whole[8..8 + 30]).unwrap();

    let srv = Server::start(ServerOpts {
        port,
        ..Default::default()
    });
    let mut cfg = http_config(&srv.url("/"));
    cfg.transport.spool_dir = spool.path().to_string_lossy().into();
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    assert!(drive(&mut ch, &ctx.ctx, Duration::from_secs(10), || srv
        .requests()
        .len()
        >= 40
        && ctx.stats().spool_corrupt == 1));
    ch.close(&ctx.ctx);
    assert_eq!(received_lines(&srv.requests()), alert_lines("crash", 40));
    assert!(
        ctx.log_text().contains("30 bytes from byte") && ctx.log_text().contains(".seg"),
        "{}",
        ctx.log_text()
    );
}

/// Stores 40 alerts while the endpoint is down, then dies.
fn crash_child() {
    let arg = std::env::var("HTTP_CRASH_CHILD").expect("set by the parent");
    let (port, dir) = arg.split_once(' ').unwrap();
    let mut cfg = http_config(&format!("http://127.0.0.1:{port}/"));
    cfg.transport.spool_dir = dir.into();
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    ch.deliver(&batch(&alert_lines("crash", 40)), &ctx.ctx);
    println!("child stored {}", ch.held());
    std::process::abort();
}
