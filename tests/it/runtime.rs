//! The runtime model: buffering, flush, close, queue bounds, the watchdog, signal masks.

use std::ffi::CString;
use std::io::Read;
use std::time::{Duration, Instant};

use crate::support::*;
use falco_outputs::EmitError;

fn file_yaml(path: &std::path::Path, extra: &str) -> String {
    file_config(path, "keep_alive: true", extra)
}

#[test]
fn unbuffered_lines_reach_the_file_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(&path, "buffered_outputs: false"));
    for i in 0..3 {
        out.emit(seed_alert(i)).unwrap();
    }
    // No flush call: an idle worker must not keep anything in user space.
    assert!(wait_for(Duration::from_secs(2), || read_lines(&path).len() == 3));
    out.close(None).unwrap();
}

#[test]
fn buffered_lines_wait_for_flush_or_the_one_second_timer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(&path, "buffered_outputs: true"));
    out.emit(seed_alert(0)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(read_lines(&path).len(), 0, "buffered: nothing written yet");
    out.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(read_lines(&path).len(), 1, "flush writes the buffer");

    out.emit(seed_alert(1)).unwrap();
    let start = Instant::now();
    assert!(wait_for(Duration::from_secs(3), || read_lines(&path).len() == 2));
    assert!(
        start.elapsed() <= Duration::from_millis(2500),
        "timer flush took {:?}",
        start.elapsed()
    );
    out.close(None).unwrap();
}

#[test]
fn close_drains_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(
        &path,
        "json_output: true\nbuffered_outputs: true",
    ));
    for i in 0..50_000 {
        out.emit(seed_alert(i)).unwrap();
    }
    out.close(Some(Duration::from_secs(30))).unwrap();
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 50_000);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(evt_num(l), i as u64, "order kept");
    }
}

#[test]
fn flush_accounts_every_alert_in_stats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(&path, ""));
    for i in 0..1000 {
        out.emit(seed_alert(i)).unwrap();
    }
    out.flush(Duration::from_secs(10)).unwrap();
    let stats = out.stats();
    assert_eq!(stats.len(), 1);
    let (name, s) = stats[0];
    assert_eq!(name, "file");
    assert_eq!((s.enqueued, s.delivered, s.pending()), (1000, 1000, 0));
    assert_eq!(out.accepted(), 1000);
    out.close(None).unwrap();
}

/// A FIFO whose reader does not read: the file channel's write blocks once the pipe is full,
/// the way a hung NFS mount or a stuck pipe reader would.
struct StuckReader {
    path: std::path::PathBuf,
    reader: std::fs::File,
}

impl StuckReader {
    fn new(dir: &std::path::Path) -> StuckReader {
        let path = dir.join("fifo");
        let c = CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Non-blocking open of the read end so the writer's open succeeds at init.
        use std::os::unix::fs::OpenOptionsExt;
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .unwrap();
        StuckReader { path, reader }
    }
    /// Reads everything currently in the pipe (unblocks the writer).
    fn drain(&mut self) -> usize {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        while let Ok(n) = self.reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n;
        }
        total
    }
}

/// Two file channels, `file_output` on a FIFO nobody reads and `other` on a regular file
/// (`queue_keys`: more `outputs_queue` keys; the tick is one second), and five alerts larger
/// than the pipe, so the write of the first blocks. The tick takes the five at once, with
/// nothing else waiting: by default the fan-out thread then writes the local channels itself,
/// the FIFO first, and is stuck there when this returns.
fn stuck_fifo_and_other(
    dir: &std::path::Path,
    queue_keys: &str,
) -> (
    StuckReader,
    std::path::PathBuf,
    falco_outputs::Outputs,
    Logs,
) {
    let fifo = StuckReader::new(dir);
    let other = dir.join("other.txt");
    let (out, logs) = open(&file_yaml(
        &fifo.path,
        &format!(
            "output_timeout: 100\noutputs_queue: {{max_delay_ms: 1000, {queue_keys}}}\nextra_outputs:\n  - {{name: other, type: file, filename: {}}}",
            other.display()
        ),
    ));
    // Let the fan-out thread reach its one-second sleep first: a take that began while the
    // five were being emitted would split them into two rounds.
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..5 {
        out.emit(big_alert(i)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    (fifo, other, out, logs)
}

/// Two file channels: `file_output` on a FIFO nobody reads, and `other` on a regular file.
/// Five alerts larger than the pipe get a write to the FIFO stuck; then five more are emitted.
/// Returns how many of those five `other` has 2.5 s later, then lets the FIFO drain and checks
/// that everything reaches both in the end.
fn other_file_while_one_is_stuck(queue_keys: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let (mut fifo, other, out, _) = stuck_fifo_and_other(dir.path(), queue_keys);
    for i in 0..5 {
        out.emit(seed_alert(i)).unwrap();
    }
    let later = || {
        read_lines(&other)
            .iter()
            .filter(|l| l.contains("File below a known binary directory"))
            .count()
    };
    wait_for(Duration::from_millis(2500), || later() == 5);
    let while_stuck = later();
    let reader = std::thread::spawn(move || {
        let mut got = 0;
        let end = Instant::now() + Duration::from_secs(10);
        while got < 5 * (80 * 1024 + 1) && Instant::now() < end {
            got += fifo.drain();
            std::thread::sleep(Duration::from_millis(1));
        }
        got
    });
    out.flush(Duration::from_secs(10)).unwrap();
    assert_eq!(read_lines(&other).len(), 10);
    out.close(None).unwrap();
    assert!(
        reader.join().unwrap() >= 5 * 80 * 1024,
        "the FIFO got every alert"
    );
    while_stuck
}

/// By default the fan-out thread writes the file and stdout channels itself when nothing else
/// waits to be formatted, as Falco's one output thread writes them: a write that blocks there
/// (a FIFO nobody reads, a hung NFS mount) holds up the channels after it until it completes
/// (docs/runtime.md).
#[test]
fn a_stuck_local_channel_holds_up_the_others_by_default() {
    assert_eq!(other_file_while_one_is_stuck(""), 0);
}

/// `outputs_queue.thread_per_channel: true`: each channel has its own thread, and a stuck one
/// delays only itself.
#[test]
fn with_a_thread_per_channel_a_stuck_channel_delays_only_itself() {
    assert_eq!(other_file_while_one_is_stuck("thread_per_channel: true"), 5);
}

#[test]
fn full_queue_drops_are_counted_logged_once_a_second_and_a_stall_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut fifo = StuckReader::new(dir.path());
    let (out, logs) = open(&file_yaml(
        &fifo.path,
        "outputs_queue: {capacity: 100}\noutput_timeout: 200",
    ));
    // Each alert is larger than the pipe (64 KiB), so the first write blocks whatever the
    // scheduling, and the queue (100) must overflow.
    let mut full = 0;
    let started = Instant::now();
    for i in 0..300 {
        let a = big_alert(i);
        if out.emit(a) == Err(EmitError::QueueFull) {
            full += 1;
        }
    }
    assert!(full > 0, "a stuck channel with capacity 100 must drop");
    let (_, s) = out.stats()[0];
    assert_eq!(s.dropped_queue_full, full);
    assert!(wait_for(Duration::from_secs(3), || logs
        .count_containing("output timeout")
        >= 1));
    // At CRIT, as Falco logs it.
    let levels: Vec<i32> = logs
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.contains("output timeout"))
        .map(|(l, _)| *l)
        .collect();
    assert!(
        levels.iter().all(|&l| l == falco_outputs::log::LOG_CRIT),
        "{levels:?}"
    );
    assert!(wait_for(Duration::from_secs(3), || logs
        .count_containing("queue full")
        >= 1));
    // One line for the first drop, then at most one a second (a loaded machine may take more
    // than a second to get here, so the bound follows the time that passed).
    let lines = logs.count_containing("queue full");
    let allowed = 1 + started.elapsed().as_secs() as usize;
    assert!(
        (1..=allowed).contains(&lines),
        "drops are logged at most once a second: {lines} lines in {:?}",
        started.elapsed()
    );
    // Let the writer finish, then close cleanly.
    let reader = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            fifo.drain();
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    out.close(Some(Duration::from_secs(4))).unwrap();
    reader.join().unwrap();
}

#[test]
fn close_deadline_discards_and_counts_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let mut fifo = StuckReader::new(dir.path());
    let (out, logs) = open(&file_yaml(&fifo.path, "output_timeout: 100"));
    for i in 0..20 {
        let a = big_alert(i);
        out.emit(a).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    assert_eq!(
        out.close(Some(Duration::from_millis(300))),
        Err(falco_outputs::Timeout)
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "close took {:?}",
        start.elapsed()
    );
    assert!(
        logs.count_containing("discarded") >= 1,
        "{:?}",
        logs.lines()
    );
    fifo.drain();
}

/// Close while the fan-out thread is stuck in a local channel's write: the alerts it will
/// never format (still in the intake) and those queued for the other channels are counted
/// discarded by close itself, for every channel that took them.
#[test]
fn close_counts_what_a_stuck_fan_out_thread_left_for_the_other_channels() {
    let dir = tempfile::tempdir().unwrap();
    let (mut fifo, other, out, logs) = stuck_fifo_and_other(dir.path(), "");
    // The fan-out thread is blocked writing to the FIFO itself: these stay in the intake.
    for i in 0..10 {
        out.emit(seed_alert(i)).unwrap();
    }
    assert_eq!(
        out.close(Some(Duration::from_millis(300))),
        Err(falco_outputs::Timeout)
    );
    let close_line = |channel: &str| {
        let prefix = format!("{channel} output: close");
        logs.lines()
            .into_iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no close line for `{channel}`: {:?}", logs.lines()))
    };
    let number_before = |line: &str, word: &str| -> u64 {
        let head = &line[..line.find(word).unwrap_or_else(|| panic!("{word}: {line}"))];
        head.split_whitespace().last().unwrap().parse().unwrap()
    };
    // `other`: what its own thread wrote (the first five, if its one-second timer came round
    // before close gave up) and what close discarded: every alert.
    let line = close_line("other");
    let written = read_lines(&other).len() as u64;
    assert_eq!(
        written + number_before(&line, " alerts discarded"),
        15,
        "{line}"
    );
    assert!(!line.contains("left behind"), "{line}");
    // The stuck channel: the batch its write is in is held, the rest discarded; together,
    // every alert.
    let line = close_line("file");
    assert!(
        line.contains("the fan-out thread, writing it, is blocked and was left behind holding"),
        "{line}"
    );
    let held: u64 = line
        .rsplit("holding ")
        .next()
        .unwrap()
        .trim_end_matches(" alerts")
        .parse()
        .unwrap();
    assert_eq!(
        number_before(&line, " alerts discarded") + held,
        15,
        "{line}"
    );
    // The watchdog says what a stuck local channel does to the others.
    assert!(
        logs.lines()
            .iter()
            .any(|l| l.starts_with("file output: output timeout")
                && l.contains("every channel waits until the write completes")),
        "{:?}",
        logs.lines()
    );
    fifo.drain();
}

#[test]
fn library_threads_block_the_hosts_signals() {
    in_own_process(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.txt");
        let (out, _) = open(&file_yaml(&path, ""));
        // Threads name themselves once they run; give them a moment.
        let named = |name: &str| {
            std::fs::read_dir("/proc/self/task").unwrap().any(|t| {
                std::fs::read_to_string(t.unwrap().path().join("comm"))
                    .unwrap_or_default()
                    .trim()
                    == name
            })
        };
        assert!(wait_for(Duration::from_secs(2), || named("falco-out-fmt")
            && named("falco-out-wdog")));
        let mut checked = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let task = task.unwrap().path();
            let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            if !comm.starts_with("falco-out") {
                continue;
            }
            let status = std::fs::read_to_string(task.join("status")).unwrap();
            let blocked = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
            let mask = u64::from_str_radix(blocked.split_whitespace().nth(1).unwrap(), 16).unwrap();
            for sig in [
                libc::SIGUSR1,
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGPIPE,
                libc::SIGHUP,
            ] {
                assert!(
                    mask & (1 << (sig - 1)) != 0,
                    "{comm}: signal {sig} not blocked"
                );
            }
            checked += 1;
        }
        assert!(checked >= 2, "worker and watchdog threads found");
        out.close(None).unwrap();
    });
}

#[test]
fn stats_json_names_every_channel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(&path, "file_output: {min_priority: error}"));
    out.emit(seed_alert(0)).unwrap(); // Error: kept
    let mut a = seed_alert(1);
    a.priority = falco_outputs::alert::Priority::Debug; // filtered
    out.emit(a).unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&falco_outputs::stats::to_json(out.accepted(), &out.stats())).unwrap();
    assert_eq!(json["accepted"], 2);
    assert_eq!(json["channels"]["file"]["delivered"], 1);
    assert_eq!(json["channels"]["file"]["filtered"], 1);
    assert_eq!(json["filtered"], 1);
    out.close(None).unwrap();
}
