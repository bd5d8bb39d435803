//! Driving a `ProgramChannel` directly, the way its worker does: batches built by hand, a ctx
//! whose log and counters the test reads, and a thread with every signal blocked.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use falco_outputs::alert::Priority;
use falco_outputs::config::Config;
use falco_outputs::log::Logger;
use falco_outputs::outputs::program::ProgramChannel;
use falco_outputs::outputs::{Batch, ChannelCtx};
use falco_outputs::stats::{ChannelStats, StatsSnapshot};

pub struct Harness {
    pub ctx: ChannelCtx,
    pub logs: Arc<Mutex<Vec<(i32, String)>>>,
}

impl Harness {
    pub fn new(buffered: bool, output_timeout: Duration) -> Harness {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let log = Logger::from_fn(move |level, msg| {
            eprintln!("log {level}: {msg}");
            sink.lock().unwrap().push((level, msg.to_string()))
        });
        Harness {
            ctx: ChannelCtx {
                name: "program",
                log,
                stats: Arc::new(ChannelStats::default()),
                buffered,
                output_timeout,
                closing: Arc::new(AtomicBool::new(false)),
                aborting: Arc::new(AtomicBool::new(false)),
            },
            logs,
        }
    }
    pub fn stats(&self) -> StatsSnapshot {
        self.ctx.stats.snapshot()
    }
    pub fn log_lines(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.clone())
            .collect()
    }
    pub fn logged(&self, needle: &str) -> usize {
        self.log_lines()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

pub fn channel(program: &str, keep_alive: bool) -> ProgramChannel {
    let mut cfg = Config::default();
    cfg.program.enabled = true;
    cfg.program.keep_alive = keep_alive;
    cfg.program.program = program.to_string();
    match ProgramChannel::open(&cfg, &Logger::stderr()) {
        Ok(c) => c,
        Err(e) => panic!("open failed: {e:?}"),
    }
}

/// A batch holding `lines`, each followed by `\n`, as a worker formats it.
pub fn batch<S: AsRef<str>>(lines: &[S]) -> Batch {
    let mut b = Batch::default();
    for l in lines {
        b.push_line(l.as_ref().as_bytes(), Priority::Warning, 0);
    }
    b
}

/// Runs `f` on a thread with every signal blocked, like the library's workers.
pub fn on_worker<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = falco_outputs::signals::spawn_blocking_signals("test-worker".into(), move || {
        let _ = tx.send(f());
    })
    .expect("spawn worker thread");
    let out = rx.recv().expect("worker panicked");
    h.join().expect("join worker");
    out
}

// The file and polling helpers are the integration tests' common ones.
#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)] // not every program test binary uses both
pub use common::{read_lines, wait_for};

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
        Err(_) => false,
    }
}

/// True while `pid` exists at all (a zombie included).
pub fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Direct children of `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
            }
        }
    }
    out
}

/// The first number after `pid ` in a log line.
pub fn pid_in(line: &str) -> Option<i32> {
    let at = line.find("(pid ")? + 5;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Lines "alert-<n>" for n in range.
pub fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("alert-{n}")).collect()
}

/// Skips (loudly) when a tool the test needs is missing.
pub fn have(tool: &str) -> bool {
    let found = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        eprintln!("SKIPPED: `{tool}` is not installed (scripts/deps installs it)");
    }
    found
}
