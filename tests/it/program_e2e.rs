//! The program channel end to end: falco.yaml keys in, `Outputs::emit`, what the program's
//! stdin received out.

use std::time::{Duration, Instant};

use crate::support::*;
use falco_outputs::alert::{alert_from_parts, Priority};

fn program_yaml(program: &str, keep_alive: bool, extra: &str) -> String {
    // The program is a YAML double-quoted string: escape what the shell text may contain.
    let quoted = serde_json::to_string(program).unwrap();
    format!(
        "json_output: true\nstdout_output:\n  enabled: false\nprogram_output:\n  enabled: true\n  \
         keep_alive: {keep_alive}\n  program: {quoted}\n{extra}"
    )
}

fn stats_of(o: &falco_outputs::Outputs, name: &str) -> falco_outputs::stats::StatsSnapshot {
    o.stats()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| s)
        .expect("channel present")
}

#[test]
fn falcos_cat_config_gets_every_alert_with_keep_alive_false_and_true() {
    for keep_alive in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("program.txt");
        let (o, logs) = open(&program_yaml(
            &format!("cat >> {}", out.display()),
            keep_alive,
            "",
        ));
        for n in 0..5 {
            o.emit(seed_alert(n)).unwrap();
        }
        o.flush(Duration::from_secs(5)).unwrap();
        let s = stats_of(&o, "program");
        o.close(Some(Duration::from_secs(5))).unwrap();
        let lines = read_lines(&out);
        let nums: Vec<u64> = lines.iter().map(|l| evt_num(l)).collect();
        assert_eq!(
            nums,
            [0, 1, 2, 3, 4],
            "keep_alive {keep_alive}: {lines:?} {:?}",
            logs.lines()
        );
        assert_eq!((s.delivered, s.failed), (5, 0));
    }
}

#[test]
fn reopen_respawns_and_every_later_alert_goes_to_the_new_child() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("program.txt");
    // Each child announces itself before copying its stdin.
    let program = format!("echo \"start $$\" >> {0}; exec cat >> {0}", out.display());
    let (o, _logs) = open(&program_yaml(&program, true, ""));
    for n in 0..3 {
        o.emit(seed_alert(n)).unwrap();
    }
    // Delivered (so the first child runs) before the reopen.
    o.flush(Duration::from_secs(5)).unwrap();
    o.reopen();
    for n in 3..6 {
        o.emit(seed_alert(n)).unwrap();
    }
    o.close(Some(Duration::from_secs(5))).unwrap();
    let lines = read_lines(&out);
    assert_eq!(lines.len(), 8, "{lines:?}");
    assert!(
        lines[0].starts_with("start ") && lines[4].starts_with("start "),
        "{lines:?}"
    );
    assert_ne!(lines[0], lines[4], "a new child after reopen");
    let before: Vec<u64> = lines[1..4].iter().map(|l| evt_num(l)).collect();
    let after: Vec<u64> = lines[5..8].iter().map(|l| evt_num(l)).collect();
    assert_eq!((before, after), (vec![0, 1, 2], vec![3, 4, 5]));
}

#[test]
fn a_hung_program_does_not_delay_the_file_channel_and_close_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.txt");
    let extra = format!(
        "output_timeout: 300\nfile_output:\n  enabled: true\n  filename: {}\n",
        file.display()
    );
    let (o, logs) = open(&program_yaml("sleep 1000", false, &extra));
    let start = Instant::now();
    for n in 0..3 {
        o.emit(seed_alert(n)).unwrap();
    }
    assert!(wait_for(Duration::from_secs(2), || read_lines(&file).len() == 3));
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "file waited for the program"
    );
    assert!(wait_for(Duration::from_secs(3), || logs
        .count_containing("is still running after 300 ms")
        >= 1));
    // The hung children hold their alerts: close waits for them up to its deadline, then stops
    // them and counts those alerts as failed.
    let started = Instant::now();
    assert!(o.close(Some(Duration::from_millis(1000))).is_err());
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    let stopped: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("stopped program"))
        .collect();
    assert!(!stopped.is_empty(), "{:?}", logs.lines());
    for l in stopped {
        let at = l.find("(pid ").unwrap() + 5;
        let pid: i32 = l[at..].split(')').next().unwrap().parse().unwrap();
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "pid {pid} left behind"
        );
    }
}

#[test]
fn min_priority_skips_less_severe_alerts_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("program.txt");
    let extra = "  min_priority: error\n";
    let yaml = program_yaml(&format!("cat >> {}", out.display()), true, extra);
    let (o, _logs) = open(&yaml);
    for (n, p) in [
        Priority::Warning,
        Priority::Critical,
        Priority::Debug,
        Priority::Error,
    ]
    .into_iter()
    .enumerate()
    {
        let num = n.to_string();
        o.emit(alert_from_parts(
            1_000 + n as u64,
            p,
            "r",
            "syscall",
            "m",
            &[(
                "evt.num",
                Some(&num),
                falco_outputs::alert::FieldKind::Number,
            )],
            &[],
        ))
        .unwrap();
    }
    o.flush(Duration::from_secs(5)).unwrap();
    let s = stats_of(&o, "program");
    o.close(Some(Duration::from_secs(5))).unwrap();
    let nums: Vec<u64> = read_lines(&out).iter().map(|l| evt_num(l)).collect();
    assert_eq!(nums, [1, 3], "only Critical and Error reach the program");
    assert_eq!((s.delivered, s.filtered), (2, 2));
}

#[test]
fn empty_program_is_falcos_config_error() {
    let logs = Logs::default();
    let yaml =
        "stdout_output:\n  enabled: false\nprogram_output:\n  enabled: true\n  program: \"\"\n";
    match try_open(yaml, &logs) {
        Err(e) => assert!(e.to_string().contains("program_output.program"), "{e}"),
        Ok(_) => panic!("accepted an empty program"),
    }
}
