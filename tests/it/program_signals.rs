//! Programs start with a clean signal state in the host's process group, so a signal sent to the
//! group reaches them although the library's threads block every signal.
//!
//! `signal_to_the_host_group_reaches_the_child` re-runs this test binary as the "host" in a
//! process group of its own (the test runner must not signal its own group), and sends SIGTERM
//! to that group from outside, as `kill -TERM -<pgid>` would.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::program::*;
use crate::support::*;
use falco_outputs::testing::Channel;

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no {key} in\n{status}"))
}

#[test]
fn child_has_default_mask_and_dispositions_and_the_hosts_process_group() {
    in_own_process(|| {
        // The host ignores a signal (Rust already ignores SIGPIPE; add SIGHUP, as `nohup` does);
        // the worker thread blocks everything.
        unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("status.txt");
        let program = format!("exec cat /proc/self/status > {}", out.display());
        on_worker(move || {
            let h = Harness::program(false, Duration::from_secs(2));
            let mut ch = channel(&program, false);
            ch.deliver(&batch(&["a"]), &h.ctx);
            ch.close(&h.ctx);
            assert_eq!(h.stats().delivered, 1);
        });
        let status = std::fs::read_to_string(&out).unwrap();
        assert_eq!(status_field(&status, "SigBlk:"), "0000000000000000");
        assert_eq!(status_field(&status, "SigIgn:"), "0000000000000000");
        let pgid = status_field(&status, "NSpgid:");
        assert_eq!(
            pgid,
            unsafe { libc::getpgrp() }.to_string(),
            "child is in the host's process group"
        );
    });
}

/// The "host" half, run in its own process group by the test below: a kept-alive child whose
/// pid it prints, a SIGTERM handler of its own (a host that survives the signal), then it waits
/// for the channel to see the child killed by SIGTERM.
fn signal_host_process() {
    extern "C" fn on_term(_: libc::c_int) {}
    unsafe { libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t) };
    on_worker(|| {
        let h = Harness::program(false, Duration::from_secs(2));
        // `exec`: the signal must reach the program itself, not only the shell (dash unblocks
        // signals while it waits for a foreground job).
        let mut ch = channel("exec cat > /dev/null", true);
        ch.deliver(&batch(&["a"]), &h.ctx);
        let pid = ch.kept_pid().unwrap();
        println!("ready {pid}");
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end && h.logged("killed by signal 15 (SIGTERM)") == 0 {
            ch.tick(&h.ctx);
            std::thread::sleep(Duration::from_millis(20));
        }
        if h.logged("killed by signal 15 (SIGTERM)") > 0 {
            println!("child-got-SIGTERM");
        }
        ch.close(&h.ctx);
    });
}

#[test]
fn signal_to_the_host_group_reaches_the_child() {
    in_child_process(signal_host_process, signal_the_host_group);
}

fn signal_the_host_group(host: &TestChild) {
    let mut host = host
        .command()
        .process_group(0)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let host_pid = host.id() as i32;
    let mut lines = BufReader::new(host.stdout.take().unwrap()).lines();
    let mut ready = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        // libtest prints "test program_signals::... ... " on the same line.
        if let Some(pid) = line.split("ready ").nth(1) {
            ready = Some(pid.trim().parse::<i32>().unwrap());
            break;
        }
    }
    let child = ready.expect("host printed its child's pid");
    // The library's worker blocks SIGTERM; the child must not have inherited that.
    unsafe { libc::kill(-host_pid, libc::SIGTERM) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = host.wait().unwrap();
    assert!(status.success(), "host failed: {status:?} {rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("child-got-SIGTERM")),
        "{rest:?}"
    );
    assert!(!alive(child));
}
