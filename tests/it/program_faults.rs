//! The program channel under faults, through the C ABI, with the figures printed: a kept-alive
//! program that exits at once, does not exist or never reads; what it inherits with HTTP on.
//! "delivered" means a process read the line from the pipe (docs/program.md); what no process
//! read is counted `discarded` at close, once, and logged once.

use std::time::{Duration, Instant};

use crate::support::accounting::{assert_accounting, assert_settled, counts};
use crate::support::capi::Handle;
use crate::support::{evt_num, read_lines, wait_for};
use ::falco_outputs::ffi::falco_outputs_result::*;

fn program_yaml(program: &str, keep_alive: bool, extra: &str) -> String {
    let quoted = serde_json::to_string(program).unwrap();
    format!(
        "json_output: true\nstdout_output: {{enabled: false}}\nprogram_output: {{enabled: true, \
         keep_alive: {keep_alive}, program: {quoted}}}\n{extra}"
    )
}

/// The close log lines that report discarded alerts, and the count each one gives.
fn discard_lines(logs: &[String]) -> Vec<(String, u64)> {
    logs.iter()
        .filter(|l| l.contains("discard") || l.contains("not written"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let n = words
                .windows(2)
                .find(|w| w[1].starts_with("alert"))
                .and_then(|w| w[0].parse().ok())
                .unwrap_or(u64::MAX);
            (l.clone(), n)
        })
        .collect()
}

/// Emits `n` alerts to a kept-alive program that never reads them, then closes with a short
/// deadline: nothing may be counted delivered, every alert is discarded at close, and one log
/// line says how many.
fn never_read(program: &str, n: u64) {
    let h = Handle::open(&program_yaml(program, true, "output_timeout: 300"));
    for i in 0..n {
        assert_eq!(h.emit_seed(i), FALCO_OUTPUTS_OK);
    }
    // Give the worker time to write (and the program to die and be respawned).
    let r = h.flush(800);
    let json = h.stats_json();
    assert_accounting(&json);
    let before = counts(&json, "program");
    let start = Instant::now();
    let (closed, logs) = h.close(500);
    let took = start.elapsed();
    let reported = discard_lines(&logs);
    eprintln!(
        "program {program:?}: emitted {n}; before close: delivered {} failed {} discarded {} \
         pending {}; flush {r:?}; close {closed:?} after {took:?}; discard lines: {reported:?}",
        before.delivered, before.failed, before.discarded, before.pending
    );
    assert_eq!(
        before.delivered, 0,
        "{program:?} read nothing, yet alerts were counted delivered"
    );
    assert_eq!(
        r, FALCO_OUTPUTS_ERR_TIMEOUT,
        "flush cannot succeed: nothing reads"
    );
    assert_eq!(closed, FALCO_OUTPUTS_ERR_TIMEOUT);
    assert!(took < Duration::from_secs(3), "close took {took:?}");
    assert_eq!(
        reported.len(),
        1,
        "discards at close must be logged exactly once: {logs:#?}"
    );
    assert_eq!(
        reported[0].1,
        n - before.failed,
        "every alert nobody read is counted discarded: {logs:#?}"
    );
}

#[test]
fn kept_alive_program_that_exits_at_once_gets_nothing_counted_delivered() {
    never_read("true", 5);
}

#[test]
fn kept_alive_program_that_does_not_exist_gets_nothing_counted_delivered() {
    never_read("no-such-program-for-falco-outputs", 5);
}

#[test]
fn kept_alive_program_that_never_reads_gets_nothing_counted_delivered() {
    // 300 JSON alerts (~130 KiB) fill the 64 KiB pipe; the rest wait in the channel.
    never_read("sleep 3600", 300);
}

/// A program that reads: every alert is delivered once it is read, flush waits for that, and
/// the identity holds with nothing pending.
#[test]
fn kept_alive_reader_gets_every_alert_delivered_once_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    let h = Handle::open(&program_yaml(&format!("cat > {}", out.display()), true, ""));
    for i in 0..200 {
        assert_eq!(h.emit_seed(i), FALCO_OUTPUTS_OK);
    }
    assert_eq!(h.flush(5000), FALCO_OUTPUTS_OK);
    let json = h.stats_json();
    let c = counts(&json, "program");
    assert_settled(&json);
    let (r, _) = h.close(0);
    let lines = read_lines(&out);
    eprintln!(
        "cat: emitted 200; delivered {} failed {} discarded {}; lines in the file {}",
        c.delivered,
        c.failed,
        c.discarded,
        lines.len()
    );
    assert_eq!(r, FALCO_OUTPUTS_OK);
    assert_eq!(c.delivered, 200);
    assert_eq!(lines.len(), 200);
}

/// The fds a process has open, from /proc/<pid>/fd.
fn fds_of(pid: i32) -> Vec<i32> {
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect();
    fds.sort();
    fds
}

/// With HTTP on (libcurl opens a socketpair) and a host fd that is not close-on-exec, a
/// program still gets exactly fds 0, 1 and 2, kept alive or per alert.
#[test]
fn a_program_gets_exactly_fds_0_1_2_with_http_on_and_host_fds_open() {
    // The host's own fd, opened without O_CLOEXEC (as many C programs do).
    let host_fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
    assert!(host_fd > 2);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    for keep_alive in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let done = dir.path().join("done");
        // The shell writes its pid, then waits (reading stdin) until the test has looked.
        let program = format!(
            "echo $$ > {p}.tmp && mv {p}.tmp {p}; while [ ! -e {d} ]; do sleep 0.05; done; cat > /dev/null",
            p = pidfile.display(),
            d = done.display()
        );
        let h = Handle::open(&program_yaml(
            &program,
            keep_alive,
            &format!(
                "output_timeout: 5000\nhttp_output: {{enabled: true, url: \"http://127.0.0.1:{port}/\"}}\n"
            ),
        ));
        assert_eq!(h.emit_seed(0), FALCO_OUTPUTS_OK);
        assert!(
            wait_for(Duration::from_secs(5), || pidfile.exists()),
            "the program did not start"
        );
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let fds = fds_of(pid);
        let ours = fds_of(std::process::id() as i32);
        std::fs::write(&done, "").unwrap();
        // The HTTP endpoint never answers: its alert is discarded at close, and said so once.
        let (_, logs) = h.close(1000);
        let discards = discard_lines(&logs);
        assert_eq!(discards.len(), 1, "{logs:#?}");
        assert!(discards[0].0.starts_with("http output:"), "{discards:?}");
        eprintln!(
            "keep_alive {keep_alive}: program pid {pid} fds {fds:?}; host process has {} fds \
             open (host fd {host_fd})",
            ours.len()
        );
        assert_eq!(fds, [0, 1, 2], "keep_alive {keep_alive}");
    }
    unsafe { libc::close(host_fd) };
}

/// A kept-alive program that reads one line and exits, every time: each respawn gets the lines
/// the previous children did not read, and every alert is delivered exactly once (one line in
/// the file each, counted once), however many children it took.
#[test]
fn respawn_loop_accounts_every_alert_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    // dash's `read` takes one byte at a time: the rest stays in the pipe for the next child.
    let h = Handle::open(&program_yaml(
        &format!("read -r l && echo \"$l\" >> {}", out.display()),
        true,
        "",
    ));
    let n = 5;
    for i in 0..n {
        assert_eq!(h.emit_seed(i), FALCO_OUTPUTS_OK);
    }
    // Quick deaths back off 0, 100, 200, 400 ms between children.
    let r = h.flush(20_000);
    let json = h.stats_json();
    let c = counts(&json, "program");
    let (closed, logs) = h.close(0);
    let nums: Vec<u64> = read_lines(&out).iter().map(|l| evt_num(l)).collect();
    let respawns = logs.iter().filter(|l| l.contains("restarting it")).count();
    eprintln!(
        "read-one-line program: emitted {n}; {respawns} respawns; delivered {} failed {} \
         discarded {} pending {}; lines in the file {nums:?}",
        c.delivered, c.failed, c.discarded, c.pending
    );
    assert_eq!(r, FALCO_OUTPUTS_OK);
    assert_settled(&json);
    assert_eq!(closed, FALCO_OUTPUTS_OK);
    assert_eq!(c.delivered, n);
    assert_eq!(nums, (0..n).collect::<Vec<_>>());
}
