//! Driving a channel directly, the way its worker does: a `ChannelCtx` whose log and counters
//! the test reads, batches built by hand, the worker's idle loop, a thread with every signal
//! blocked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use falco_outputs::alert::Priority;
use falco_outputs::log::Logger;
use falco_outputs::stats::StatsSnapshot;
use falco_outputs::testing::{Batch, Channel, ChannelCtx, ChannelStats};

use super::Logs;

/// A `ChannelCtx` as the dispatcher builds it, with the log kept in `logs`.
pub struct Harness {
    pub ctx: ChannelCtx,
    pub logs: Logs,
}

impl Harness {
    pub fn new(name: &'static str, buffered: bool, output_timeout: Duration) -> Harness {
        let logs = Logs::default();
        Harness {
            ctx: ChannelCtx {
                name,
                log: logs.logger(),
                stats: Arc::new(ChannelStats::default()),
                buffered,
                output_timeout,
                closing: Arc::new(AtomicBool::new(false)),
                aborting: Arc::new(AtomicBool::new(false)),
            },
            logs,
        }
    }
    pub fn program(buffered: bool, output_timeout: Duration) -> Harness {
        Harness::new("program", buffered, output_timeout)
    }
    pub fn http() -> Harness {
        Harness::new("http", false, Duration::from_millis(2000))
    }
    pub fn logger(&self) -> Logger {
        self.ctx.log.clone()
    }
    pub fn stats(&self) -> StatsSnapshot {
        self.ctx.stats.snapshot()
    }
    pub fn log_lines(&self) -> Vec<String> {
        self.logs.lines()
    }
    /// How many log lines contain `needle`.
    pub fn logged(&self, needle: &str) -> usize {
        self.logs.count_containing(needle)
    }
    /// The log as `[level] text` lines, for failure messages.
    pub fn log_text(&self) -> String {
        self.logs
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(l, m)| format!("[{l}] {m}\n"))
            .collect()
    }
    /// Sets `aborting` after `after`, as close's deadline would.
    pub fn abort_after(&self, after: Duration) {
        let flag = self.ctx.aborting.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            flag.store(true, Ordering::Release);
        });
    }
}

/// A batch as the worker formats it: each line followed by `\n` (priority Warning, time 0).
pub fn batch<S: AsRef<str>>(lines: &[S]) -> Batch {
    let mut b = Batch::default();
    for l in lines {
        b.push_line(l.as_ref().as_bytes(), Priority::Warning, 0);
    }
    b
}

/// A batch of lines with their priorities, stamped now.
pub fn batch_at_priorities(lines: &[(Priority, String)]) -> Batch {
    let mut b = Batch::default();
    for (priority, text) in lines {
        b.push_line(text.as_bytes(), *priority, now_ns());
    }
    b
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// What the worker does while idle: tick at next_wake (at least once a second), until `done`.
pub fn drive(
    ch: &mut dyn Channel,
    ctx: &ChannelCtx,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let wake = ch
            .next_wake()
            .unwrap_or(now + Duration::from_secs(1))
            .min(now + Duration::from_millis(50));
        if wake > now {
            std::thread::sleep(wake - now);
        }
        ch.tick(ctx);
    }
}

/// Runs `f` on a thread with every signal blocked, like the library's workers.
pub fn on_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = falco_outputs::testing::spawn_blocking_signals("test-worker".into(), move || {
        let _ = tx.send(f());
    })
    .expect("spawn worker thread");
    let out = rx.recv().expect("worker panicked");
    h.join().expect("join worker");
    out
}
