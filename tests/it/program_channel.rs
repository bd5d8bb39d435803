//! The program channel driven directly, against real `/bin/sh` pipelines: what the program's
//! stdin received, how children are started, replaced, reported and reaped.

use std::time::{Duration, Instant};

use crate::support::program::*;
use crate::support::*;
use falco_outputs::testing::Channel;

const T: Duration = Duration::from_secs(2);

#[test]
fn per_alert_cat_appends_every_alert_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.txt");
    let program = format!("cat >> {}", out.display());
    let (stats, file) = on_worker(move || {
        let h = Harness::program(false, T);
        let mut ch = channel(&program, false);
        ch.deliver(&batch(&numbered(0..3)), &h.ctx);
        ch.deliver(&batch(&numbered(3..5)), &h.ctx);
        // Each child was reaped before deliver returned: nothing is left to account.
        assert_eq!(ch.held(), 0);
        assert_eq!(ch.kept_pid(), None);
        ch.close(&h.ctx);
        (h.stats(), read_lines(&out))
    });
    assert_eq!(file, numbered(0..5));
    assert_eq!((stats.delivered, stats.failed, stats.errors), (5, 0, 0));
}

#[test]
fn per_alert_gives_each_alert_its_own_child_and_stdin() {
    // `wc -l` counts the lines one child got: one alert, one line, one process.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("counts.txt");
    let program = format!("echo \"$$ $(wc -l)\" >> {}", out.display());
    let file = on_worker(move || {
        let h = Harness::program(false, T);
        let mut ch = channel(&program, false);
        ch.deliver(&batch(&numbered(0..4)), &h.ctx);
        ch.close(&h.ctx);
        read_lines(&out)
    });
    assert_eq!(file.len(), 4, "{file:?}");
    let mut pids: Vec<&str> = file.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert!(file.iter().all(|l| l.ends_with(" 1")), "{file:?}");
    pids.dedup();
    assert_eq!(pids.len(), 4, "one shell per alert: {file:?}");
}

#[test]
fn kept_alive_cat_gets_every_alert_through_one_child() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.txt");
    let program = format!("cat >> {}", out.display());
    on_worker(move || {
        let h = Harness::program(false, T);
        let mut ch = channel(&program, true);
        assert_eq!(
            ch.kept_pid(),
            None,
            "started at the first alert, not before"
        );
        ch.deliver(&batch(&numbered(0..2)), &h.ctx);
        let pid = ch.kept_pid().expect("child started");
        // Unbuffered: the lines are in the pipe when deliver returns; cat writes them out.
        assert!(wait_for(T, || read_lines(&out) == numbered(0..2)));
        ch.deliver(&batch(&numbered(2..5)), &h.ctx);
        assert!(wait_for(T, || read_lines(&out) == numbered(0..5)));
        assert_eq!(ch.kept_pid(), Some(pid), "same child for every alert");
        assert!(alive(pid));
        ch.close(&h.ctx);
        // close closed its stdin, cat exited and was reaped (not even a zombie remains).
        assert!(!exists(pid), "child {pid} left behind");
        let s = h.stats();
        assert_eq!((s.delivered, s.failed, s.errors), (5, 0, 0));
    });
}

#[test]
fn kept_alive_buffered_holds_lines_until_flush() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.txt");
    let program = format!("cat >> {}", out.display());
    on_worker(move || {
        let h = Harness::program(true, T);
        let mut ch = channel(&program, true);
        ch.deliver(&batch(&numbered(0..3)), &h.ctx);
        assert_eq!(ch.held(), 3, "buffered_outputs: lines wait in the buffer");
        std::thread::sleep(Duration::from_millis(100));
        assert!(read_lines(&out).is_empty());
        ch.flush(&h.ctx);
        // Held (in the pipe, not counted) until cat has read them; the worker's tick asks.
        assert!(wait_for(T, || {
            ch.tick(&h.ctx);
            ch.held() == 0
        }));
        assert!(wait_for(T, || read_lines(&out) == numbered(0..3)));
        ch.close(&h.ctx);
        assert_eq!(h.stats().delivered, 3);
    });
}

#[test]
fn jq_pipeline_produces_the_slack_body() {
    if !require("jq") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("slack.json");
    // The document's Slack example, with the webhook replaced by a file.
    let program = format!("jq -c '{{text: .output}}' >> {}", out.display());
    let lines = [
        r#"{"hostname":"h","output":"10:20:05.408091526: Warning Sensitive file opened (user=root file=/etc/shadow)","priority":"Warning","rule":"Read sensitive file","source":"syscall","tags":[],"time":"2017-10-09T23:31:56.746609046Z"}"#,
        r#"{"hostname":"h","output":"quote \" and unicode é","priority":"Error","rule":"r","source":"syscall","tags":[],"time":"2017-10-09T23:31:56.746609046Z"}"#,
    ];
    for keep_alive in [false, true] {
        let _ = std::fs::remove_file(&out);
        let program = program.clone();
        let out = out.clone();
        let file = on_worker(move || {
            let h = Harness::program(false, T);
            let mut ch = channel(&program, keep_alive);
            ch.deliver(&batch(&lines), &h.ctx);
            ch.close(&h.ctx);
            assert_eq!(h.stats().delivered, 2);
            read_lines(&out)
        });
        assert_eq!(
            file,
            vec![
                r#"{"text":"10:20:05.408091526: Warning Sensitive file opened (user=root file=/etc/shadow)"}"#,
                r#"{"text":"quote \" and unicode é"}"#,
            ],
            "keep_alive: {keep_alive}"
        );
    }
}

#[test]
fn jq_and_curl_post_the_slack_body_to_a_webhook() {
    if !require("jq") || !require("curl") {
        return;
    }
    use std::io::{Read, Write};
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let got = std::thread::spawn(move || {
        let (mut conn, _) = server.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        // Read headers, then Content-Length bytes of body.
        loop {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed early");
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    );
                    return text;
                }
            }
        }
    });
    let program = format!("jq '{{text: .output}}' | curl -sS -d @- -X POST http://127.0.0.1:{port}/services/XXX -o /dev/null");
    let line = r#"{"output":"10:20:05.408091526: Warning Sensitive file opened","priority":"Warning","rule":"r"}"#;
    on_worker(move || {
        let h = Harness::program(false, Duration::from_secs(5));
        let mut ch = channel(&program, false);
        ch.deliver(&batch(&[line]), &h.ctx);
        ch.close(&h.ctx);
        assert_eq!(
            (h.stats().delivered, h.stats().failed),
            (1, 0),
            "{:?}",
            h.log_lines()
        );
    });
    let request = got.join().unwrap();
    assert!(request.starts_with("POST /services/XXX "), "{request}");
    let body = &request[request.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"text": "10:20:05.408091526: Warning Sensitive file opened"})
    );
}

#[test]
fn kept_alive_child_killed_while_idle_loses_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.txt");
    let program = format!("cat >> {}", out.display());
    on_worker(move || {
        let h = Harness::program(false, T);
        let mut ch = channel(&program, true);
        ch.deliver(&batch(&numbered(0..3)), &h.ctx);
        let pid = ch.kept_pid().unwrap();
        assert!(wait_for(T, || read_lines(&out).len() == 3));
        // kill -9 the shell and its cat: the pipe has no reader any more.
        let tree: Vec<i32> = children(pid);
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            for c in &tree {
                libc::kill(*c, libc::SIGKILL);
            }
        }
        assert!(wait_for(T, || !alive(pid) && tree.iter().all(|c| !alive(*c))));
        // The next write hits EPIPE: the channel respawns and re-sends that write.
        ch.deliver(&batch(&numbered(3..6)), &h.ctx);
        let new_pid = ch.kept_pid().unwrap();
        assert_ne!(new_pid, pid);
        assert!(!exists(pid), "dead child reaped");
        assert!(
            wait_for(T, || read_lines(&out) == numbered(0..6)),
            "{:?}",
            read_lines(&out)
        );
        assert_eq!(h.logged("re-sending"), 1, "{:?}", h.log_lines());
        ch.close(&h.ctx);
        assert_eq!(read_lines(&out), numbered(0..6));
        let s = h.stats();
        assert_eq!((s.delivered, s.failed), (6, 0));
        assert!(s.errors >= 1);
    });
}

#[test]
fn kept_alive_child_dying_mid_stream_gets_its_unread_lines_resent() {
    // The child dies after handling "alert-9" while alerts 10..39 still sit unread in its pipe
    // (dash's `read` consumes one byte at a time): all of them reach the respawned child.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.txt");
    let program = format!(
        "while read -r l; do echo \"$l\" >> {}; [ \"$l\" = alert-9 ] && kill -9 $$; done",
        out.display()
    );
    on_worker(move || {
        let h = Harness::program(false, T);
        let mut ch = channel(&program, true);
        ch.deliver(&batch(&numbered(0..40)), &h.ctx);
        let first = ch.kept_pid().unwrap();
        // The death is noticed by the worker's tick (or the next write).
        let end = Instant::now() + T * 2;
        while read_lines(&out).len() < 40 && Instant::now() < end {
            ch.tick(&h.ctx);
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(read_lines(&out), numbered(0..40), "{:?}", h.log_lines());
        assert_ne!(ch.kept_pid(), Some(first));
        assert!(!exists(first), "dead child reaped");
        assert!(
            h.logged("killed by signal 9 (SIGKILL)") >= 1,
            "{:?}",
            h.log_lines()
        );
        ch.close(&h.ctx);
        let s = h.stats();
        assert_eq!((s.delivered, s.failed), (40, 0));
    });
}

#[test]
fn kept_alive_program_that_keeps_dying_is_respawned_with_growing_backoff() {
    let (logs, stats) = on_worker(move || {
        let h = Harness::program(false, T);
        let mut ch = channel("exit 3", true);
        ch.deliver(&batch(&["alert-0"]), &h.ctx);
        let end = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < end {
            ch.tick(&h.ctx);
            std::thread::sleep(Duration::from_millis(20));
        }
        // The close deadline passed: what the program never read is given up, counted.
        h.ctx
            .aborting
            .store(true, std::sync::atomic::Ordering::Release);
        ch.close(&h.ctx);
        (h.log_lines(), h.stats())
    });
    let deaths: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("exit status 3"))
        .collect();
    assert!(deaths.len() >= 3, "{logs:?}");
    assert!(
        logs.iter().any(|l| l.contains("re-send 1 alert")),
        "{logs:?}"
    );
    // Fewer respawns than ticks: the backoff grew (0, 100, 200, 400, 800 ms...).
    assert!(deaths.len() < 15, "no backoff: {logs:?}");
    // No process ever read it: never delivered, discarded once at the close deadline.
    eprintln!("exit 3: handed 1; {stats:?}");
    assert_eq!((stats.delivered, stats.failed, stats.discarded), (0, 0, 1));
    crate::support::accounting::assert_channel_accounting("program", 1, 0, &stats);
}

#[test]
fn command_not_found_is_a_logged_counted_failure() {
    for keep_alive in [false, true] {
        let (logs, stats) = on_worker(move || {
            let h = Harness::program(false, T);
            let mut ch = channel("no-such-command-for-falco-outputs", keep_alive);
            ch.deliver(&batch(&["alert-0", "alert-1"]), &h.ctx);
            for _ in 0..20 {
                ch.tick(&h.ctx);
                std::thread::sleep(Duration::from_millis(10));
            }
            h.ctx
                .aborting
                .store(true, std::sync::atomic::Ordering::Release);
            ch.close(&h.ctx);
            (h.log_lines(), h.stats())
        });
        assert!(
            logs.iter()
                .any(|l| l.contains("exit status 127 (command not found)")),
            "keep_alive {keep_alive}: {logs:?}"
        );
        assert!(stats.errors >= 1);
        if !keep_alive {
            assert_eq!((stats.delivered, stats.failed), (0, 2));
        }
    }
}

#[test]
fn a_child_that_never_exits_is_reported_does_not_stall_later_alerts_and_is_stopped_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.txt");
    // "hang" makes the shell wait on a `sleep 1000` child: a two-process tree that ignores EOF.
    let program = format!(
        "read -r l; echo \"$l\" >> {}; case \"$l\" in *hang*) sleep 1000;; esac",
        out.display()
    );
    let timeout = Duration::from_millis(300);
    on_worker(move || {
        let h = Harness::program(false, timeout);
        let mut ch = channel(&program, false);
        let start = Instant::now();
        ch.deliver(&batch(&["a", "hang", "b", "c"]), &h.ctx);
        let took = start.elapsed();
        assert!(took >= timeout && took < timeout * 4, "took {took:?}");
        assert_eq!(read_lines(&out), ["a", "hang", "b", "c"]);
        let warned: Vec<String> = h
            .log_lines()
            .into_iter()
            .filter(|l| l.contains("is still running after 300 ms"))
            .collect();
        assert_eq!(warned.len(), 1, "{:?}", h.log_lines());
        let pid = pid_in(&warned[0]).expect("pid in the report");
        let sleeper = children(pid);
        assert_eq!(sleeper.len(), 1, "sh waits on its sleep child");
        assert!(alive(pid) && alive(sleeper[0]));
        assert_eq!(ch.held(), 1, "its alert is not accounted yet");
        let s = h.stats();
        assert_eq!((s.delivered, s.failed), (3, 0));

        // A program that ignores its stdin altogether.
        let mut sleeper_ch = channel("sleep 1000", false);
        sleeper_ch.deliver(&batch(&["x"]), &h.ctx);
        assert_eq!(sleeper_ch.held(), 1);

        let start = Instant::now();
        ch.close(&h.ctx);
        sleeper_ch.close(&h.ctx);
        assert!(start.elapsed() < Duration::from_secs(3));
        assert!(!exists(pid), "shell {pid} left behind");
        // A grandchild dies of its SIGTERM asynchronously (and init reaps it).
        assert!(
            wait_for(T, || !alive(sleeper[0])),
            "sleep {} left behind",
            sleeper[0]
        );
        assert_eq!(ch.held(), 0);
        let s = h.stats();
        assert_eq!((s.delivered, s.failed), (3, 2));
        assert!(h.logged("stopped program") >= 2, "{:?}", h.log_lines());
    });
}

#[test]
fn reopen_replaces_the_kept_child_without_losing_or_duplicating() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.txt");
    let program = format!("cat >> {}", out.display());
    on_worker(move || {
        let h = Harness::program(true, T);
        let mut ch = channel(&program, true);
        // Before any alert, reopen does not start a child.
        ch.reopen(&h.ctx);
        assert_eq!(ch.kept_pid(), None);
        ch.deliver(&batch(&numbered(0..3)), &h.ctx);
        let first = ch.kept_pid().unwrap();
        // Buffered lines are written before the old child's stdin is closed.
        ch.reopen(&h.ctx);
        let second = ch.kept_pid().expect("respawned at reopen, like Falco");
        assert_ne!(first, second);
        assert!(!exists(first), "old child reaped");
        assert_eq!(read_lines(&out), numbered(0..3));
        ch.deliver(&batch(&numbered(3..5)), &h.ctx);
        ch.close(&h.ctx);
        assert_eq!(read_lines(&out), numbered(0..5));
        assert!(!exists(second));
        assert_eq!(h.stats().delivered, 5);
    });
}

#[test]
fn reopen_does_not_wait_forever_for_a_child_ignoring_eof() {
    on_worker(move || {
        let h = Harness::program(false, Duration::from_millis(200));
        let mut ch = channel("sleep 1000", true);
        ch.deliver(&batch(&["a"]), &h.ctx);
        let first = ch.kept_pid().unwrap();
        let start = Instant::now();
        ch.reopen(&h.ctx);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(
            h.logged("still running 200 ms after its input was closed") == 1,
            "{:?}",
            h.log_lines()
        );
        let grandchild = children(first);
        ch.close(&h.ctx);
        assert!(!exists(first));
        assert!(wait_for(T, || grandchild.iter().all(|p| !alive(*p))));
    });
}

/// Checked once, by the configuration (the channel receives a valid program).
#[test]
fn empty_or_nul_program_is_a_config_error_naming_the_key() {
    for (program, needle) in [
        ("\"\"", "program_output.program"),
        ("\"  \"", "program_output.program"),
        ("\"a\\0b\"", "NUL"),
    ] {
        let yaml = format!("program_output:\n  enabled: true\n  program: {program}\n");
        match try_open(&yaml, &Logs::default()) {
            Err(e) if e.kind() == falco_outputs::InitErrorKind::Config => {
                let m = e.message();
                assert!(
                    m.contains(needle) && m.contains("program_output.program"),
                    "{m}"
                )
            }
            Err(e) => panic!("{e:?}"),
            Ok(_) => panic!("accepted {program:?}"),
        }
    }
}

#[test]
fn a_line_bigger_than_the_pipe_reaches_a_slow_reader_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.txt");
    let program = format!("sleep 0.2; cat > {}", out.display());
    let big = "x".repeat(300_000);
    let expected = big.clone();
    on_worker(move || {
        let h = Harness::program(false, T);
        let mut ch = channel(&program, false);
        ch.deliver(&batch(&[big]), &h.ctx);
        ch.close(&h.ctx);
        assert_eq!(h.stats().delivered, 1);
        assert_eq!(read_lines(&out), vec![expected]);
    });
}
