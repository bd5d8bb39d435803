//! Init refuses before it opens anything, and its cost grows linearly with the configuration
//! (issue 19, "Init does work before refusing"): the channel cap is checked before the first
//! file is created, and thousands of `extra_outputs` entries or mapping keys load in well under
//! a second or two (each was quadratic: 16,000 entries took 42 s, 40,000 keys 3.1 s).

use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::support::handle::*;

/// Generous: the linear work takes 0.9–2.7 s in a debug build on this 2-CPU machine at load 2 to
/// 12, and up to 9.8 s under the whole suite's parallel load there; the quadratic one took 25 s
/// (40,000 keys) and 125 s (16,000 entries) with the machine otherwise idle.
const BOUND: Duration = Duration::from_secs(15);

fn file_entries(dir: &std::path::Path, n: usize, enabled: bool) -> String {
    let mut yaml = String::from("extra_outputs:\n");
    for i in 0..n {
        let f = dir.join(format!("{i}.log"));
        writeln!(
            yaml,
            "  - {{name: f{i}, type: file, filename: {}, enabled: {enabled}}}",
            f.display()
        )
        .unwrap();
    }
    yaml
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// 65 file channels: an error naming the cap and the key, and not one file created.
#[test]
fn sixty_five_channels_are_refused_before_any_file_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::default();
    let err = match try_open(&file_entries(dir.path(), 65, true), &logs) {
        Ok(_) => panic!("65 channels accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("extra_outputs") && err.contains("64") && err.contains("65"),
        "{err}"
    );
    assert_eq!(files_in(dir.path()), 0, "files created before refusing");
    // 64 is allowed (and opens its 64 files).
    let o = try_open(&file_entries(dir.path(), 64, true), &logs).expect("64 channels");
    assert_eq!(o.stats().len(), 64);
    o.close(None).unwrap();
    assert_eq!(files_in(dir.path()), 64);
}

/// 300 HTTP channels: refused without creating one spool directory.
#[test]
fn three_hundred_http_channels_create_no_spool_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("extra_outputs:\n");
    for i in 0..300 {
        writeln!(
            yaml,
            "  - {{name: h{i}, type: http, url: 'http://127.0.0.1:9/', spool_dir: {}}}",
            dir.path().join(format!("s{i}")).display()
        )
        .unwrap();
    }
    let logs = Logs::default();
    let err = try_open(&yaml, &logs).err().expect("refused").to_string();
    assert!(err.contains("more than 64"), "{err}");
    assert_eq!(files_in(dir.path()), 0, "spool directories created");
}

/// 16,000 disabled entries load and open (one stdout channel) within the bound; 16,000
/// enabled ones are refused (the cap) within it too.
#[test]
fn sixteen_thousand_extra_outputs_entries_load_in_linear_time() {
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs::default();
    let mut yaml = file_entries(dir.path(), 16_000, false);
    yaml.push_str("stdout_output: {enabled: true}\n");
    let t = Instant::now();
    let o = try_open(&yaml, &logs).expect("opens");
    let took = t.elapsed();
    o.close(None).unwrap();
    eprintln!("16,000 disabled extra_outputs entries: init took {took:?}");
    assert!(took < BOUND, "16,000 disabled entries took {took:?}");

    let yaml = file_entries(dir.path(), 16_000, true);
    let t = Instant::now();
    let err = try_open(&yaml, &logs).err().expect("refused").to_string();
    let took = t.elapsed();
    assert!(err.contains("more than 64"), "{err}");
    eprintln!("16,000 enabled extra_outputs entries: refused after {took:?}");
    assert!(
        took < BOUND,
        "16,000 enabled entries refused after {took:?}"
    );
    assert_eq!(files_in(dir.path()), 0);
}

/// A mapping of 40,000 keys (the headers of a disabled HTTP block: read and checked, but no
/// libcurl list is built) loads within the bound, and a duplicate key among them is still found
/// and named.
#[test]
fn a_forty_thousand_key_mapping_loads_in_linear_time() {
    let mut yaml = String::from(
        "stdout_output: {enabled: true}\nhttp_output:\n  enabled: false\n  url: 'http://127.0.0.1:9/'\n  headers:\n",
    );
    for i in 0..40_000 {
        writeln!(yaml, "    X-H{i}: v").unwrap();
    }
    let logs = Logs::default();
    let t = Instant::now();
    let r = try_open(&yaml, &logs);
    let took = t.elapsed();
    eprintln!("a 40,000-key mapping: init took {took:?}");
    assert!(took < BOUND, "40,000 keys took {took:?}");
    r.expect("opens").close(Some(Duration::ZERO)).ok();

    yaml.push_str("    X-H123: again\n");
    let t = Instant::now();
    let err = try_open(&yaml, &logs).err().expect("refused").to_string();
    let took = t.elapsed();
    assert!(err.contains("duplicate") && err.contains("X-H123"), "{err}");
    assert!(took < BOUND, "40,000 keys with a duplicate took {took:?}");
}
