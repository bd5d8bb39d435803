//! `file_output.rotate` end to end: what ends up in the live file and the rotated ones
//! (compressed ones decompressed), their sizes and number, the counters, the log; with
//! keep_alive on and off, buffered or not, a full disk, and a real logrotate alongside.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::accounting::{assert_outputs_settled, counts};
use crate::support::tmpfs::Tmpfs;
use crate::support::*;
use falco_outputs::alert::{alert_from_parts, Alert, Priority};
use falco_outputs::Outputs;

/// An alert whose text line has a fixed length and says its number.
fn numbered(n: u64) -> Alert {
    alert_from_parts(
        1_700_000_000_000_000_000 + n,
        Priority::Error,
        "Storm rule",
        "syscall",
        &format!("rotation test n={n:08}"),
        &[],
        &[],
    )
}

fn number_of(line: &str) -> u64 {
    let at = line
        .find("n=")
        .unwrap_or_else(|| panic!("not an alert line: {line:?}"));
    line[at + 2..]
        .parse()
        .unwrap_or_else(|_| panic!("not an alert line: {line:?}"))
}

/// The text line's length with its newline (every [`numbered`] alert has it).
fn line_len() -> u64 {
    "23:33:20.000000000: Error rotation test n=00000000\n".len() as u64
}

/// One file of the channel: the live one or a rotated one, with its bytes as written.
struct Found {
    path: PathBuf,
    /// On disk (compressed size for a `.gz`).
    disk_bytes: u64,
    text: String,
}

/// The rotated files (oldest first; `.gz` decompressed), then the live file.
fn files_of(live: &Path) -> (Vec<Found>, Option<Found>) {
    let dir = live.parent().unwrap();
    let base = live.file_name().unwrap().to_str().unwrap();
    let mut rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_str().unwrap();
            n.starts_with(&format!("{base}.")) && n != base
        })
        .collect();
    rotated.sort();
    let read = |p: &Path| -> Found {
        let disk_bytes = std::fs::metadata(p).unwrap().len();
        let mut text = String::new();
        if p.extension().is_some_and(|e| e == "gz") {
            flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap())
                .read_to_string(&mut text)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        } else {
            text = std::fs::read_to_string(p).unwrap();
        }
        Found {
            path: p.to_path_buf(),
            disk_bytes,
            text,
        }
    };
    let rotated = rotated.iter().map(|p| read(p)).collect();
    let live = live.exists().then(|| read(live));
    (rotated, live)
}

/// Every alert number in the files, in file order; panics on a partial or foreign line.
fn numbers(files: &[&Found]) -> Vec<u64> {
    let mut all = Vec::new();
    for f in files {
        assert!(
            f.text.is_empty() || f.text.ends_with('\n'),
            "{}: ends inside a line",
            f.path.display()
        );
        all.extend(f.text.lines().map(number_of));
    }
    all
}

fn rotate_yaml(path: &Path, file_keys: &str, top: &str) -> String {
    format!(
        "stdout_output: {{enabled: false}}\n\
         file_output: {{enabled: true, filename: {}, {file_keys}}}\n{top}",
        path.display()
    )
}

fn emit_all(out: &Outputs, range: std::ops::Range<u64>, flush_every: u64) {
    for n in range {
        out.emit(numbered(n)).unwrap();
        if (n + 1) % flush_every == 0 {
            out.flush(Duration::from_secs(30)).unwrap();
        }
    }
    out.flush(Duration::from_secs(30)).unwrap();
}

fn rotations(out: &Outputs, channel: &str) -> u64 {
    out.stats()
        .iter()
        .find(|(n, _)| *n == channel)
        .map(|(_, s)| s.rotations)
        .unwrap()
}

#[test]
fn the_alert_that_would_cross_max_size_starts_the_next_file() {
    let per_file = 1000 / line_len(); // whole lines that fit in 1000 bytes
    for (keep_alive, buffered) in [(false, false), (true, false), (true, true)] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.txt");
        let (out, logs) = open(&rotate_yaml(
            &path,
            &format!("keep_alive: {keep_alive}, rotate: {{max_size: 1000, max_files: 100}}"),
            &format!("buffered_outputs: {buffered}"),
        ));
        // Batches of 37 cross the file boundaries at varying places.
        emit_all(&out, 0..500, 37);
        let n_rot = rotations(&out, "file");
        let metrics = out.metrics_text();
        let json = falco_outputs::stats::to_json(out.accepted(), &out.stats());
        assert_outputs_settled(&out);
        out.close(None).unwrap();

        let (rotated, live) = files_of(&path);
        let live = live.expect("the live file");
        let all: Vec<&Found> = rotated.iter().chain([&live]).collect();
        eprintln!(
            "keep_alive {keep_alive} buffered {buffered}: {} rotated files of {per_file} lines, \
             live {} lines, rotations {n_rot}",
            rotated.len(),
            live.text.lines().count()
        );
        // Each alert once, in order, across the files.
        assert_eq!(numbers(&all), (0..500).collect::<Vec<_>>());
        for f in &all {
            assert!(
                f.disk_bytes <= 1000,
                "{}: {} bytes",
                f.path.display(),
                f.disk_bytes
            );
        }
        // Every rotated file is full: the crossing alert went to the next one.
        for f in &rotated {
            assert_eq!(
                f.text.lines().count() as u64,
                per_file,
                "{}",
                f.path.display()
            );
        }
        let expected = 500u64.div_ceil(per_file) - 1;
        assert_eq!(rotated.len() as u64, expected);
        assert_eq!(n_rot, expected);
        assert_eq!(counts(&json, "file").delivered, 500);
        assert!(
            json.contains(&format!("\"rotations\":{expected}")),
            "{json}"
        );
        assert!(
            metrics.contains(&format!(
                "falcosecurity_falco_outputs_file_rotations_total{{channel=\"file\"}} {expected}\n"
            )),
            "{metrics}"
        );
        assert!(
            logs.count_containing("file output: rotated ") >= 1,
            "{:?}",
            logs.lines()
        );
    }
}

#[test]
fn max_files_keeps_the_newest_rotations_and_nothing_between_them_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let (out, _) = open(&rotate_yaml(
        &path,
        "rotate: {max_size: 1000, max_files: 3}",
        "",
    ));
    emit_all(&out, 0..500, 50);
    out.close(None).unwrap();
    let (rotated, live) = files_of(&path);
    assert_eq!(rotated.len(), 3, "max_files");
    let all: Vec<&Found> = rotated.iter().chain(live.as_ref()).collect();
    let nums = numbers(&all);
    // The newest alerts, contiguous up to the last one emitted.
    let first = 500 - nums.len() as u64;
    assert_eq!(nums, (first..500).collect::<Vec<_>>());
    assert_eq!(
        nums.len() as u64 - live.map_or(0, |l| l.text.lines().count() as u64),
        3 * (1000 / line_len())
    );
}

#[test]
fn max_age_rotates_a_quiet_file_and_never_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let (out, _) = open(&rotate_yaml(
        &path,
        "keep_alive: true, rotate: {max_age: 1s, max_files: 10}",
        "",
    ));
    emit_all(&out, 0..5, 100);
    // No alert comes: the one-second tick rotates the file once it is a second old.
    assert!(
        wait_for(Duration::from_secs(10), || rotations(&out, "file") == 1),
        "not rotated by age"
    );
    // An empty live file is not rotated however old it gets.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(rotations(&out, "file"), 1);
    emit_all(&out, 5..10, 100);
    out.close(None).unwrap();
    let (rotated, live) = files_of(&path);
    assert_eq!(rotated.len(), 1);
    assert_eq!(numbers(&[&rotated[0]]), [0, 1, 2, 3, 4]);
    assert_eq!(numbers(&[live.as_ref().unwrap()]), [5, 6, 7, 8, 9]);
}

#[test]
fn compressed_rotations_hold_every_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let (out, _) = open(&rotate_yaml(
        &path,
        "rotate: {max_size: 2K, max_files: 100, compress: true}",
        "",
    ));
    emit_all(&out, 0..2000, 100);
    let expected = 2000u64.div_ceil(2048 / line_len()) - 1;
    // Off the write path: wait (bounded) until the compressor has done every file.
    let done = wait_for(Duration::from_secs(30), || {
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "events.txt")
            .collect();
        names.len() as u64 == expected && names.iter().all(|n| n.ends_with(".gz"))
    });
    out.close(None).unwrap();
    assert!(done, "rotated files not all compressed");
    let (rotated, live) = files_of(&path);
    let all: Vec<&Found> = rotated.iter().chain(live.as_ref()).collect();
    assert_eq!(numbers(&all), (0..2000).collect::<Vec<_>>());
    for f in &rotated {
        assert!(
            f.disk_bytes < f.text.len() as u64 / 2,
            "{} not compressed",
            f.path.display()
        );
    }
}

/// Watches the file system's use (statvfs: deleted but open files included) and the number of
/// files while `body` runs; returns the peaks.
fn watching<T>(fs: &Arc<Tmpfs>, body: impl FnOnce() -> T) -> (T, u64, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let peak_files = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (stop, peak, peak_files, fs) = (
            Arc::clone(&stop),
            Arc::clone(&peak),
            Arc::clone(&peak_files),
            Arc::clone(fs),
        );
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(600);
            while !stop.load(Ordering::Acquire) && Instant::now() < end {
                peak.fetch_max(fs.used(), Ordering::Relaxed);
                let n = std::fs::read_dir(&fs.path).map_or(0, |d| d.count());
                peak_files.fetch_max(n as u64, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let r = body();
    stop.store(true, Ordering::Release);
    watcher.join().unwrap();
    (
        r,
        peak.load(Ordering::Relaxed),
        peak_files.load(Ordering::Relaxed) as usize,
    )
}

/// A million alerts as fast as emit takes them (a flush every 50,000 keeps the queue's
/// memory bounded) into 1 MiB files, 4 kept, compressed, on a tmpfs just large enough for
/// the documented bound: the file system never holds more than the live file, 4 rotated ones
/// and one compression in progress (measured with statvfs, so a pruned file still open counts),
/// no alert fails for want of space, and what is kept is exactly the newest alerts,
/// contiguous, compressed ones included.
#[test]
fn a_million_alert_burst_keeps_the_disk_bound() {
    const N: u64 = 1_000_000;
    const MAX: u64 = 1 << 20;
    const KEEP: u64 = 4;
    // Live + KEEP rotated + one compression in progress (docs/stdout-file.md).
    let bound = (KEEP + 2) * MAX;
    let Some(fs) = Tmpfs::mount(bound as usize + 64 * 1024) else {
        return;
    };
    let fs = Arc::new(fs);
    let path = fs.join("burst.txt");
    let (out, logs) = open(&rotate_yaml(
        &path,
        &format!(
            "keep_alive: true, rotate: {{max_size: {MAX}, max_files: {KEEP}, compress: true}}"
        ),
        "",
    ));
    let started = Instant::now();
    let ((), peak, peak_files) = watching(&fs, || emit_all(&out, 0..N, 50_000));
    let elapsed = started.elapsed();
    let n_rot = rotations(&out, "file");
    let json = falco_outputs::stats::to_json(out.accepted(), &out.stats());
    out.close(None).unwrap();
    let c = counts(&json, "file");
    let (rotated, live) = files_of(&path);
    let all: Vec<&Found> = rotated.iter().chain(live.as_ref()).collect();
    let nums = numbers(&all);
    let per_file = MAX / line_len();
    eprintln!(
        "1M burst: {elapsed:?}; rotations {n_rot}; peak {peak} bytes in {peak_files} files \
         (bound {bound}); kept {} alerts in {} rotated files ({} compressed) + live; \
         delivered {} failed {}",
        nums.len(),
        rotated.len(),
        rotated
            .iter()
            .filter(|f| f.path.extension().is_some_and(|e| e == "gz"))
            .count(),
        c.delivered,
        c.failed
    );
    assert_eq!(
        (c.delivered, c.failed, c.discarded),
        (N, 0, 0),
        "{:?}",
        logs.lines()
    );
    assert_eq!(n_rot, N.div_ceil(per_file) - 1);
    assert!(peak <= bound, "peak {peak} > bound {bound}");
    assert!(peak_files as u64 <= KEEP + 2, "peak {peak_files} files");
    assert_eq!(rotated.len() as u64, KEEP);
    for f in &all {
        assert!(f.text.len() as u64 <= MAX, "{}", f.path.display());
    }
    // The newest alerts, each once, contiguous up to the last.
    let first = N - nums.len() as u64;
    assert_eq!(
        nums.len() as u64,
        KEEP * per_file + (N - (n_rot * per_file))
    );
    assert!(nums.iter().copied().eq(first..N), "not a contiguous tail");
}

/// Every alert of a burst, counted across every file, the compressed ones decompressed: no
/// rotation loses or duplicates one.
#[test]
fn every_alert_of_a_burst_is_in_exactly_one_file() {
    const N: u64 = 300_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.txt");
    let (out, _) = open(&rotate_yaml(
        &path,
        "rotate: {max_size: 512K, max_files: 1000, compress: true}",
        "",
    ));
    emit_all(&out, 0..N, 50_000);
    let n_rot = rotations(&out, "file");
    out.close(None).unwrap();
    let (rotated, live) = files_of(&path);
    let all: Vec<&Found> = rotated.iter().chain(live.as_ref()).collect();
    let gz = rotated
        .iter()
        .filter(|f| f.path.extension().is_some_and(|e| e == "gz"))
        .count();
    eprintln!(
        "{N} alerts: {n_rot} rotations, {gz} of {} rotated files compressed at close",
        rotated.len()
    );
    assert_eq!(rotated.len() as u64, n_rot);
    assert!(numbers(&all).into_iter().eq(0..N));
}

/// The disk fills up while rotations happen: the rules of `file_disk_full` hold across every
/// file (no partial line anywhere; delivered = whole lines in the files; every other alert
/// failed), a compression that runs out of space leaves its file uncompressed and no
/// temporary file behind, and everything works again once space comes back.
#[test]
fn a_full_disk_during_rotation_keeps_the_disk_full_rules() {
    for (keep_alive, compress) in [(false, false), (true, false), (true, true)] {
        let Some(fs) = Tmpfs::mount(32 * 1024) else {
            return;
        };
        let path = fs.join("events.txt");
        let (out, logs) = open(&rotate_yaml(
            &path,
            &format!(
                "keep_alive: {keep_alive}, rotate: {{max_size: 2K, max_files: 100, compress: {compress}}}"
            ),
            "",
        ));
        let mut next = 0;
        let mut emit = |n: u64| {
            for _ in 0..n {
                out.emit(numbered(next)).unwrap();
                next += 1;
                out.flush(Duration::from_secs(30)).unwrap();
            }
        };
        emit(60);
        let filler = fs.fill("filler");
        emit(120);
        let during = counts(
            &falco_outputs::stats::to_json(out.accepted(), &out.stats()),
            "file",
        );
        std::fs::remove_file(fs.join("filler")).unwrap();
        emit(20);
        let n_rot = rotations(&out, "file");
        let json = falco_outputs::stats::to_json(out.accepted(), &out.stats());
        out.close(None).unwrap();
        let c = counts(&json, "file");
        let (rotated, live) = files_of(&path);
        let all: Vec<&Found> = rotated.iter().chain(live.as_ref()).collect();
        let nums = numbers(&all);
        eprintln!(
            "keep_alive {keep_alive} compress {compress}: filler {filler} B; rotations {n_rot}; \
             while full: delivered {} failed {}; end: delivered {} failed {}; {} files",
            during.delivered,
            during.failed,
            c.delivered,
            c.failed,
            all.len()
        );
        assert!(during.failed >= 1, "the disk never filled up");
        assert_eq!(
            c.delivered,
            nums.len() as u64,
            "delivered = whole lines in the files"
        );
        assert_eq!(c.delivered + c.failed, 200);
        assert!(
            nums.windows(2).all(|w| w[0] < w[1]),
            "order or duplicates: {nums:?}"
        );
        assert!(
            nums.ends_with(&(180..200).collect::<Vec<_>>()),
            "not recovered: {nums:?}"
        );
        assert!(
            !all.iter()
                .any(|f| f.path.to_str().unwrap().ends_with(".tmp")),
            "a temporary file was left"
        );
        assert!(logs.count_containing("No space left on device") >= 1);
    }
}

/// A real logrotate (`create`, its numbered names in an `olddir`) runs again and again while
/// the library rotates the same file by size, and the host calls `reopen` after each run, as
/// its SIGUSR1 handler would: every alert is in exactly one file, whichever rotated it.
#[test]
fn library_rotation_and_an_external_logrotate_together_lose_and_duplicate_nothing() {
    if !require("logrotate") {
        return;
    }
    const RUNS: u64 = 12;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    let conf = dir.path().join("logrotate.conf");
    std::fs::write(
        &conf,
        format!(
            "{} {{\n  rotate 1000\n  create 0600\n  olddir {}\n  missingok\n}}\n",
            path.display(),
            old.display()
        ),
    )
    .unwrap();
    let state = dir.path().join("state");
    let (out, _) = open(&rotate_yaml(
        &path,
        "keep_alive: true, rotate: {max_size: 16K, max_files: 100000}",
        "",
    ));
    let out = Arc::new(out);
    let runs = Arc::new(AtomicU64::new(0));
    // Alerts flow until logrotate has run RUNS times (at most 200,000 alerts or 120 s).
    let writer = {
        let (out, runs) = (Arc::clone(&out), Arc::clone(&runs));
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(120);
            let mut n = 0u64;
            while runs.load(Ordering::Acquire) < RUNS && n < 200_000 && Instant::now() < end {
                out.emit(numbered(n)).unwrap();
                n += 1;
                if n.is_multiple_of(64) {
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
            n
        })
    };
    let end = Instant::now() + Duration::from_secs(120);
    let mut raced = 0;
    while !writer.is_finished() && Instant::now() < end {
        let st = std::process::Command::new("logrotate")
            .args(["-f", "-s"])
            .arg(&state)
            .arg(&conf)
            .output()
            .unwrap();
        // When the library rotates the file between logrotate's look at it and its rename,
        // logrotate reports the file gone and skips it this time: its race, nothing is lost.
        let stderr = String::from_utf8_lossy(&st.stderr);
        if !st.status.success() {
            assert!(
                stderr.contains("No such file or directory"),
                "logrotate: {stderr}"
            );
            raced += 1;
        }
        out.reopen();
        runs.fetch_add(1, Ordering::AcqRel);
        std::thread::sleep(Duration::from_millis(20));
    }
    let n = writer.join().unwrap();
    let runs = runs.load(Ordering::Acquire);
    out.flush(Duration::from_secs(30)).unwrap();
    let n_rot = rotations(&out, "file");
    assert_outputs_settled(&out);
    Arc::try_unwrap(out).ok().unwrap().close(None).unwrap();
    let mut nums = Vec::new();
    let (rotated, live) = files_of(&path);
    for f in rotated.iter().chain(live.as_ref()) {
        nums.extend(numbers(&[f]));
    }
    let mut external = 0;
    for e in std::fs::read_dir(&old).unwrap() {
        let p = e.unwrap().path();
        external += 1;
        nums.extend(std::fs::read_to_string(&p).unwrap().lines().map(number_of));
    }
    nums.sort_unstable();
    eprintln!(
        "{n} alerts; {runs} logrotate runs ({raced} found the file rotated away under it; {external} files) and {n_rot} library rotations ({} files)",
        rotated.len()
    );
    assert!(
        runs >= RUNS && n_rot >= 5,
        "they did not interleave: {runs} runs, {n_rot} rotations"
    );
    assert!(external >= 2, "logrotate rotated nothing");
    assert!(nums.iter().copied().eq(0..n), "lost or duplicated alerts");
}

#[test]
fn rotation_keys_are_checked_and_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.txt");
    let logs = Logs::default();
    for (keys, want) in [
        (
            "rotate: {max_size: 10 parsecs}",
            "config key `file_output.rotate.max_size`",
        ),
        (
            "rotate: {max_age: soon}",
            "config key `file_output.rotate.max_age`",
        ),
        (
            "rotate: {max_size: 1M, max_files: 0}",
            "config key `file_output.rotate.max_files`",
        ),
        (
            "rotate: {compress: true}",
            "config key `file_output.rotate`: needs max_size or max_age",
        ),
        ("rotate: {size: 1M}", ""),
    ] {
        let r = try_open(&rotate_yaml(&path, keys, ""), &logs);
        if want.is_empty() {
            // An unknown key inside the block is a warning, as everywhere.
            r.unwrap().close(None).unwrap();
            assert!(
                logs.count_containing("file_output.rotate.size") >= 1,
                "{:?}",
                logs.lines()
            );
        } else {
            let e = r.err().unwrap().to_string();
            assert!(e.contains(want), "{keys}: {e}");
        }
    }
    let yaml = format!(
        "stdout_output: {{enabled: false}}\nextra_outputs:\n  - {{name: audit, type: file, filename: {}, \
         rotate: {{max_files: 2}}}}\n",
        path.display()
    );
    let e = try_open(&yaml, &logs).err().unwrap().to_string();
    assert!(e.contains("extra_outputs.audit.rotate"), "{e}");
    // Off by default: a thousand alerts stay in one file.
    let (out, _) = open(&rotate_yaml(&path, "keep_alive: false", ""));
    emit_all(&out, 0..1000, 1000);
    assert_eq!(rotations(&out, "file"), 0);
    out.close(None).unwrap();
    let (rotated, live) = files_of(&path);
    assert!(rotated.is_empty());
    assert_eq!(live.unwrap().text.lines().count(), 1000);
}

#[test]
fn an_extra_outputs_file_entry_rotates_under_its_own_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.txt");
    let yaml = format!(
        "stdout_output: {{enabled: false}}\nextra_outputs:\n  - {{name: audit, type: file, filename: {}, \
         rotate: {{max_size: 1000, max_files: 50}}}}\n",
        path.display()
    );
    let (out, logs) = open(&yaml);
    emit_all(&out, 0..100, 10);
    let n = rotations(&out, "audit");
    out.close(None).unwrap();
    let (rotated, live) = files_of(&path);
    assert_eq!(rotated.len() as u64, n);
    assert!(n >= 3);
    let all: Vec<&Found> = rotated.iter().chain(live.as_ref()).collect();
    assert!(numbers(&all).into_iter().eq(0..100));
    assert!(logs.count_containing("audit output: rotated") >= 1);
}
