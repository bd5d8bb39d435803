//! The program channel's helpers: a channel on a shell command, and what `/proc` says about
//! the processes it spawns.

use std::path::Path;

use falco_outputs::log::Logger;
use falco_outputs::testing::{Config, ProgramChannel};

/// A program channel running `program`, opened as the dispatcher opens it.
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
