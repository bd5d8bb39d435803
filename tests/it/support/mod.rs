//! What the integration tests share. Each test module starts with `use crate::support::*;`
//! (handles, alerts, polling, the channel harness) and adds the area's own helpers
//! (`support::http`, `support::program`, `support::syslog`, `support::rsyslog`).

pub mod accounting;
pub mod capi;
pub mod channel;
pub mod handle;
pub mod http;
pub mod nats;
pub mod nats_jwt;
pub mod program;
pub mod relp_server;
pub mod rsyslog;
pub mod rsyslog_tls;
pub mod syslog;
pub mod tcp_collector;
pub mod tmpfs;

pub use channel::*;
pub use handle::*;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The lines of a file; none when it does not exist (yet).
pub fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => s.lines().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

/// Polls `cond` every 5 ms for at most `limit`; true when it held.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// True when `tool` can be run. When it cannot, the test skips loudly, and under `CI=true`
/// (where scripts/deps must have installed it) it fails instead.
pub fn require(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "`{tool}` is not installed (CI=true: scripts/deps must install it)"
        );
        eprintln!("SKIPPED: `{tool}` is not installed; run scripts/deps. THIS TEST DID NOT RUN.");
    }
    found
}

const OWN_PROCESS_ENV: &str = "FALCO_OUTPUTS_TEST_OWN_PROCESS";

/// Runs `body` alone in a fresh run of this test binary, for tests that change what is
/// process-wide (fd 1 or 2, the environment, signal dispositions, the set of open fds): all
/// other tests share this process and run in parallel. Call it as the whole body of a `#[test]`;
/// the test's name (libtest names its thread after it) selects the same test in the child.
pub fn in_own_process(body: impl FnOnce()) {
    with_child(body, false, |child| {
        let out = child.command().output().expect("re-run the test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The child's figures, shown with --nocapture like the test's own.
        print!("{stdout}");
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{} in its own process: {:?}\n{stdout}\n{stderr}",
            child.name,
            out.status
        );
    });
}

/// For a test whose parent drives child processes (passes them settings through the
/// environment, reads their output as they run, signals or kills them): in a child (this test
/// binary re-run on this same test) runs `child`; in the parent runs `parent`, which starts
/// children with [`TestChild::command`]. The parent must check each child's exit status or what it
/// printed last, so that a failing child fails the test. Call it as the whole body of a
/// `#[test]`: no separate child test exists that would pass by doing nothing when run alone.
pub fn in_child_process(child: impl FnOnce(), parent: impl FnOnce(&TestChild)) {
    with_child(child, true, parent)
}

/// Starts the child half of the test that is running.
pub struct TestChild {
    name: String,
    nocapture: bool,
}

impl TestChild {
    /// This test binary re-run on this test alone, stdin from /dev/null; with
    /// [`in_child_process`], `--nocapture` so that what the child prints reaches its stdout.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([self.name.as_str(), "--exact", "--test-threads=1"])
            .env(OWN_PROCESS_ENV, &self.name)
            .stdin(Stdio::null());
        if self.nocapture {
            cmd.arg("--nocapture");
        }
        cmd
    }
}

fn with_child(child: impl FnOnce(), nocapture: bool, parent: impl FnOnce(&TestChild)) {
    let name = std::thread::current()
        .name()
        .expect("libtest names each test's thread")
        .to_string();
    if let Some(selected) = std::env::var_os(OWN_PROCESS_ENV) {
        assert_eq!(selected, name.as_str(), "the re-run selected another test");
        child();
        return;
    }
    parent(&TestChild { name, nocapture })
}
