//! The file channel end to end: what ends up in the file, byte for byte, across keep_alive
//! modes, rotation, failures and the file's mode.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::support::*;
use falco_outputs::alert::{alert_from_parts, Priority};
use falco_outputs::InitErrorKind;

const SEED_JSON: &str = r#"{"hostname":"h","output":"23:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)","output_fields":{"evt.num":0,"evt.time":1507591916746609046,"fd.name":"/bin/hack","proc.cmdline":"touch /bin/hack","user.name":"root"},"priority":"Error","rule":"Write below binary dir","source":"syscall","tags":["filesystem","mitre_persistence"],"time":"2017-10-09T23:31:56.746609046Z"}"#;

fn file_yaml(path: &std::path::Path, extra: &str) -> String {
    file_config(path, "", extra)
}

#[test]
fn json_and_text_lines_are_falcos_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("a.json");
    let (out, _) = open(&file_yaml(&json, "json_output: true"));
    out.emit(seed_alert(0)).unwrap();
    out.close(None).unwrap();
    assert_eq!(
        std::fs::read_to_string(&json).unwrap(),
        format!("{SEED_JSON}\n")
    );

    let text = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(&text, "time_format_iso_8601: true"));
    let a = alert_from_parts(
        1470327477881781397,
        Priority::Warning,
        "r",
        "syscall",
        "An open was seen (command=cat /dev/null)",
        &[],
        &[],
    );
    out.emit(a).unwrap();
    out.close(None).unwrap();
    assert_eq!(
        std::fs::read_to_string(&text).unwrap(),
        "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)\n"
    );
}

#[test]
fn a_message_with_newlines_stays_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(&path, ""));
    let a = alert_from_parts(
        0,
        Priority::Critical,
        "r",
        "syscall",
        "evil\nfake: Emergency line\t\"q\"",
        &[],
        &[],
    );
    out.emit(a).unwrap();
    out.close(None).unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "00:00:00.000000000: Critical evil\\nfake: Emergency line\\t\\\"q\\\"\n"
    );
}

/// Does this process hold an open descriptor on `path`?
fn holds_open(path: &std::path::Path) -> bool {
    let target = std::fs::canonicalize(path).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|l| l == target)
}

#[test]
fn keep_alive_false_does_not_hold_the_file_and_true_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(&path, "file_output: {keep_alive: false}"));
    out.emit(seed_alert(1)).unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    assert_eq!(read_lines(&path).len(), 1);
    assert!(
        !holds_open(&path),
        "keep_alive: false must not hold the file open"
    );
    out.close(None).unwrap();

    let path = dir.path().join("b.txt");
    let (out, _) = open(&file_yaml(&path, "file_output: {keep_alive: true}"));
    out.emit(seed_alert(1)).unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    assert!(holds_open(&path), "keep_alive: true holds the file open");
    out.close(None).unwrap();
    assert!(!holds_open(&path), "close releases the file");
}

#[test]
fn rename_then_reopen_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.json");
    let rotated = dir.path().join("events.json.1");
    let (out, _) = open(&file_yaml(
        &path,
        "file_output: {keep_alive: true}\njson_output: true",
    ));
    let out = std::sync::Arc::new(out);
    let producers: Vec<_> = (0..2u64)
        .map(|t| {
            let out = std::sync::Arc::clone(&out);
            std::thread::spawn(move || {
                for i in 0..20_000u64 {
                    out.emit(seed_alert(t * 1_000_000 + i)).unwrap();
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(5));
    std::fs::rename(&path, &rotated).unwrap();
    out.reopen();
    // Alerts emitted after reopen returned must land in the new file.
    for i in 0..100u64 {
        out.emit(seed_alert(9_000_000 + i)).unwrap();
    }
    for p in producers {
        p.join().unwrap();
    }
    let out = std::sync::Arc::try_unwrap(out).ok().unwrap();
    out.close(None).unwrap();

    let old = read_lines(&rotated);
    let new = read_lines(&path);
    let mut seen = HashSet::new();
    for line in old.iter().chain(&new) {
        assert!(seen.insert(evt_num(line)), "duplicate alert {line}");
    }
    assert_eq!(seen.len(), 40_100);
    let new_nums: HashSet<u64> = new.iter().map(|l| evt_num(l)).collect();
    assert!(
        (0..100).all(|i| new_nums.contains(&(9_000_000 + i))),
        "post-reopen alerts went to the old file"
    );
}

#[test]
fn keep_alive_file_deleted_is_reopened_by_name_without_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(&path, "file_output: {keep_alive: true}"));
    out.emit(seed_alert(1)).unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    std::fs::remove_file(&path).unwrap();
    out.emit(seed_alert(2)).unwrap();
    out.close(None).unwrap();
    assert_eq!(
        read_lines(&path).len(),
        1,
        "the alert after the deletion went to a new file by that name"
    );
}

#[test]
fn missing_directory_is_an_init_error_naming_the_path() {
    let logs = Logs::default();
    let err = try_open(
        &file_yaml(std::path::Path::new("/nonexistent-dir/x/events.txt"), ""),
        &logs,
    )
    .err()
    .expect("must fail");
    match err.kind() {
        InitErrorKind::Io => {
            let m = err.message();
            assert!(m.contains("/nonexistent-dir/x/events.txt"), "{m}");
            assert!(m.contains("file_output.filename"), "{m}");
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn file_mode_defaults_to_0600_and_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let (out, _) = open(&file_yaml(&path, ""));
    out.close(None).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600
    );

    let path = dir.path().join("b.txt");
    let (out, _) = open(&file_yaml(&path, "file_output: {mode: \"0644\"}"));
    out.close(None).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o644
    );
}

#[test]
fn write_failure_is_logged_counted_and_recovers() {
    // The filename is a symlink: first to /dev/full (every write fails with ENOSPC, as on a
    // full disk), then to a real file.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("events.txt");
    let real = dir.path().join("real.txt");
    std::os::unix::fs::symlink("/dev/full", &link).unwrap();
    for keep_alive in [false, true] {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/dev/full", &link).unwrap();
        let _ = std::fs::remove_file(&real);
        let (out, logs) = open(&file_yaml(
            &link,
            &format!("file_output: {{keep_alive: {keep_alive}}}"),
        ));
        out.emit(seed_alert(1)).unwrap();
        out.emit(seed_alert(2)).unwrap();
        out.flush(Duration::from_secs(5)).unwrap();
        let (_, s) = out.stats()[0];
        assert_eq!(s.failed, 2, "keep_alive {keep_alive}: {s:?}");
        assert_eq!(
            logs.count_containing("No space left on device"),
            1,
            "{:?}",
            logs.lines()
        );

        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        out.emit(seed_alert(3)).unwrap();
        out.flush(Duration::from_secs(5)).unwrap();
        let (_, s) = out.stats()[0];
        assert_eq!((s.delivered, s.failed), (1, 2), "keep_alive {keep_alive}");
        crate::support::accounting::assert_outputs_settled(&out);
        assert_eq!(read_lines(&real).len(), 1);
        assert_eq!(
            logs.count_containing("succeeds again"),
            1,
            "{:?}",
            logs.lines()
        );
        out.close(None).unwrap();
    }
}

#[test]
fn keep_alive_file_renamed_away_is_kept_until_a_new_file_takes_the_name() {
    // logrotate's `create`: rename, then create the new file, then SIGUSR1. Between the rename
    // and the create the alerts go on into the renamed file (creating the file ourselves would
    // race with logrotate's create); once the new file exists they go there.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    let rotated = dir.path().join("a.txt.1");
    let (out, _) = open(&file_yaml(&path, "file_output: {keep_alive: true}"));
    out.emit(seed_alert(1)).unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    std::fs::rename(&path, &rotated).unwrap();
    out.emit(seed_alert(2)).unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    assert!(
        !path.exists(),
        "the channel must not create the name itself"
    );
    assert_eq!(read_lines(&rotated).len(), 2);
    std::fs::File::create(&path).unwrap();
    out.emit(seed_alert(3)).unwrap();
    out.close(None).unwrap();
    assert_eq!(read_lines(&rotated).len(), 2);
    assert_eq!(read_lines(&path).len(), 1);
}
