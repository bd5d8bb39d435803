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

/// The JSON lines of `path` that parse (a line being written may be cut), as `evt.num`s.
fn nums_in(path: &std::path::Path) -> std::collections::HashSet<u64> {
    read_lines(path)
        .iter()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .map(|l| evt_num(l))
        .collect()
}

/// Flushes from several threads at once, each right after its own emits (issue 20: a flush
/// travels as `Work::Flush(generation)` behind the alerts emitted before it). A file channel
/// the fan-out thread writes (buffered, `max_delay_ms` 10 s) and a program channel on its own
/// worker: every flush that returns has every alert its thread emitted before it written to
/// both, whichever generation the fan-out thread passed on, and nothing is left unsettled.
fn concurrent_flushes(thread_per_channel: bool, reopen: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (file, piped) = (dir.path().join("a.txt"), dir.path().join("b.txt"));
    let extra = format!(
        "json_output: true\nbuffered_outputs: true\n\
         outputs_queue: {{max_delay_ms: 10000, thread_per_channel: {thread_per_channel}}}\n\
         program_output: {{enabled: true, keep_alive: true, program: \"cat >> {}\"}}\n",
        piped.display()
    );
    let (out, _logs) = open(&file_yaml(&file, &extra));
    let out = std::sync::Arc::new(out);
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let out = std::sync::Arc::clone(&out);
            let (file, piped) = (file.clone(), piped.clone());
            std::thread::spawn(move || {
                for round in 0..20u64 {
                    let base = t * 1_000_000 + round * 1000;
                    for i in 0..10 {
                        out.emit(seed_alert(base + i)).unwrap();
                    }
                    out.flush(Duration::from_secs(30)).unwrap();
                    for path in [&file, &piped] {
                        let nums = nums_in(path);
                        let missing: Vec<u64> = (0..10)
                            .map(|i| base + i)
                            .filter(|n| !nums.contains(n))
                            .collect();
                        assert!(
                            missing.is_empty(),
                            "thread {t} round {round}: flush returned, {missing:?} not in {}",
                            path.display()
                        );
                    }
                }
            })
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reopener = reopen.then(|| {
        let (out, stop) = (std::sync::Arc::clone(&out), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                out.reopen();
                std::thread::sleep(Duration::from_millis(3));
            }
        })
    });
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(r) = reopener {
        r.join().unwrap();
    }
    crate::support::accounting::assert_outputs_settled(&out);
    let out = std::sync::Arc::into_inner(out).unwrap();
    out.close(Some(Duration::from_secs(10))).unwrap();
}

#[test]
fn concurrent_flushes_cover_what_each_thread_emitted_before() {
    concurrent_flushes(false, false);
}

#[test]
fn concurrent_flushes_cover_what_each_thread_emitted_before_thread_per_channel() {
    concurrent_flushes(true, false);
}

/// The same while another thread calls `reopen` every few milliseconds.
#[test]
fn concurrent_flushes_cover_what_each_thread_emitted_before_while_reopening() {
    concurrent_flushes(false, true);
}
