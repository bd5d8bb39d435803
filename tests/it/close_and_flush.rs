//! close and flush at their edges: a close deadline that passes while a worker is stuck, and a
//! flush behind a channel that settles alerts out of order (found in review).

use std::ffi::CString;
use std::io::Read;
use std::time::{Duration, Instant};

use crate::support::*;

fn file_yaml(path: &std::path::Path, extra: &str) -> String {
    file_config(path, "keep_alive: true", extra)
}

fn program_yaml(program: &str, keep_alive: bool, extra: &str) -> String {
    let quoted = serde_json::to_string(program).unwrap();
    format!(
        "json_output: true\nstdout_output:\n  enabled: false\nprogram_output:\n  enabled: true\n  \
         keep_alive: {keep_alive}\n  program: {quoted}\n{extra}"
    )
}

fn fifo(dir: &std::path::Path) -> (std::path::PathBuf, std::fs::File) {
    let path = dir.join("fifo");
    let c = CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    use std::os::unix::fs::OpenOptionsExt;
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .unwrap();
    (path, reader)
}

/// After close's deadline the worker must stop at the next batch boundary. It does not: the
/// `while !pending.is_empty()` loop in worker.rs never looks at `aborting`, so every alert the
/// worker had already drained is still written out *after close returned*.
#[test]
fn close_deadline_worker_keeps_writing_after_close_returned() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut reader) = fifo(dir.path());
    let (out, _logs) = open(&file_yaml(&path, "output_timeout: 100"));
    // 40 x 80 KiB = 3.2 MiB = 3+ batches of MAX_BATCH_BYTES (1 MiB): all drained into `pending`.
    for i in 0..40 {
        out.emit(big_alert(i)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        out.close(Some(Duration::from_millis(300))),
        Err(falco_outputs::Timeout)
    );
    // close returned: the host now reads what arrives.
    let mut buf = vec![0u8; 1 << 16];
    let mut newlines = 0;
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        match reader.read(&mut buf) {
            Ok(n) if n > 0 => newlines += buf[..n].iter().filter(|&&b| b == b'\n').count(),
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    // At most the batch that was in write(2) at the deadline (13 lines) may still trickle out.
    assert!(
        newlines <= 13,
        "{newlines} alert lines written after close returned"
    );
}

/// A detached worker calls the host's log callback after close returned (the C userdata may
/// already be freed).
#[test]
fn detached_worker_logs_after_close_returned() {
    let dir = tempfile::tempdir().unwrap();
    let (path, reader) = fifo(dir.path());
    let (out, logs) = open(&file_yaml(&path, "output_timeout: 100"));
    for i in 0..20 {
        out.emit(big_alert(i)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        out.close(Some(Duration::from_millis(300))),
        Err(falco_outputs::Timeout)
    );
    let before = logs.lines().len();
    drop(reader); // the reader goes away: the blocked write gets EPIPE and the worker logs
    std::thread::sleep(Duration::from_millis(500));
    let after = logs.lines();
    assert_eq!(
        after.len(),
        before,
        "log callback ran after close returned: {:?}",
        &after[before..]
    );
}

/// Discarded-at-close alerts are "counted and logged": here 4 are counted but the log says 0.
#[test]
fn close_deadline_discards_are_logged_with_the_right_count() {
    let dir = tempfile::tempdir().unwrap();
    let _ = dir;
    let (out, logs) = open(&program_yaml("sleep 5", false, "output_timeout: 5000"));
    for i in 0..5 {
        out.emit(seed_alert(i)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let r = out.close(Some(Duration::from_millis(300)));
    assert_eq!(r, Err(falco_outputs::Timeout));
    std::thread::sleep(Duration::from_millis(800));
    let lines = logs.lines();
    eprintln!("{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("4 ") && l.contains("discard")),
        "4 alerts discarded but no log line says so: {lines:?}"
    );
}

/// flush must wait for everything emitted before it. With per-alert program children that
/// outlive output_timeout, a later alert's success satisfies the counter comparison instead.
#[test]
fn flush_returns_before_an_earlier_alert_is_settled() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("p.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nif grep -q '\"evt.num\":0,'; then sleep 3; fi\nexit 0\n",
    )
    .unwrap();
    let (out, logs) = open(&program_yaml(
        &format!("sh {}", script.display()),
        false,
        "output_timeout: 200",
    ));
    let out = std::sync::Arc::new(out);
    out.emit(seed_alert(0)).unwrap();
    let o2 = std::sync::Arc::clone(&out);
    let start = Instant::now();
    let flusher = std::thread::spawn(move || {
        let r = o2.flush(Duration::from_secs(10));
        (r, Instant::now())
    });
    std::thread::sleep(Duration::from_millis(400));
    out.emit(seed_alert(1)).unwrap(); // emitted after flush started
    let (r, done_at) = flusher.join().unwrap();
    let s = out.stats();
    eprintln!("{:?} {:?} {:?}", r, s, logs.lines());
    assert!(
        done_at - start >= Duration::from_millis(2500),
        "flush returned after {:?} while alert 0's program still runs",
        done_at - start
    );
}
