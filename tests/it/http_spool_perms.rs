//! The spool directory cannot be aimed by another user (issue 19, CWE-59): a directory owned by
//! another user, or writable by group or others, is an init error naming the key; a missing
//! one is created 0700; a symbolic link planted as `ack` or as a segment is never followed (the
//! root-owned file it points to keeps its bytes; init fails naming the link); and files the
//! spool did not write survive in its directory.

use std::fs;
use std::os::unix::fs::{chown, lchown, symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use crate::support::handle::*;
use crate::support::http::*;
use crate::support::{batch, require, Harness};
use falco_outputs::testing::{Channel, HttpChannel};

/// Another user's uid (`nobody`).
const OTHER_UID: u32 = 65534;

/// True when running as root (needed to make files another user owns). Skips loudly
/// otherwise; under `CI=true` it fails.
fn as_root() -> bool {
    let root = fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    if !root {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: the spool permission tests must run as root"
        );
        eprintln!("SKIPPED: not root; THIS TEST DID NOT RUN.");
    }
    root
}

fn spool_yaml(dir: &Path) -> String {
    format!(
        "http_output:\n  enabled: true\n  url: 'http://127.0.0.1:9/'\n  spool_dir: {}\n",
        dir.display()
    )
}

fn init_error(dir: &Path) -> String {
    match try_open(&spool_yaml(dir), &Logs::default()) {
        Ok(o) => {
            o.close(Some(Duration::ZERO)).ok();
            panic!("{} accepted as a spool directory", dir.display())
        }
        Err(e) => e.to_string(),
    }
}

/// A root-owned 0600 file of 96 bytes outside the spool, standing for /etc/shadow.
fn victim(tmp: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let path = tmp.join("victim");
    let bytes: Vec<u8> = (0..96u8).map(|i| b'A' + i % 26).collect();
    fs::write(&path, &bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    (path, bytes)
}

#[test]
fn a_directory_another_user_could_write_to_is_refused_naming_the_key() {
    if !as_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mode = |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();

    let theirs = tmp.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    mode(&theirs, 0o700);
    chown(&theirs, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    let e = init_error(&theirs);
    assert!(
        e.contains("http_output.spool_dir") && e.contains("owned by uid 65534"),
        "{e}"
    );

    for m in [0o777, 0o1777, 0o770, 0o702] {
        let open = tmp.path().join(format!("open{m:o}"));
        fs::create_dir(&open).unwrap();
        mode(&open, m);
        let e = init_error(&open);
        assert!(
            e.contains("http_output.spool_dir") && e.contains("writable by group or others"),
            "mode {m:o}: {e}"
        );
        assert_eq!(
            fs::read_dir(&open).unwrap().count(),
            0,
            "nothing created in it"
        );
    }

    // A link another user made (in /tmp, say) pointing at a good directory.
    let good = tmp.path().join("good");
    fs::create_dir(&good).unwrap();
    mode(&good, 0o700);
    let link = tmp.path().join("link");
    symlink(&good, &link).unwrap();
    lchown(&link, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    let e = init_error(&link);
    assert!(
        e.contains("http_output.spool_dir") && e.contains("symbolic link owned by uid 65534"),
        "{e}"
    );
    assert_eq!(fs::read_dir(&good).unwrap().count(), 0);

    // Missing: created 0700 (and its missing parents too).
    let fresh = tmp.path().join("a/b/spool");
    let o = try_open(&spool_yaml(&fresh), &Logs::default()).expect("a missing directory");
    o.close(Some(Duration::ZERO)).ok();
    assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o7777, 0o700);
    assert_eq!(
        fs::metadata(tmp.path().join("a")).unwrap().mode() & 0o777,
        0o700
    );
}

/// `ack`, a segment, a migration copy or `lock` planted as a link to a root-owned 0600 file:
/// init fails naming the key and the link, and the file keeps every byte (the defect: 96 → 28
/// bytes through `ack`, truncated to 8 through a segment).
#[test]
fn planted_links_are_never_followed() {
    if !as_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (target, bytes) = victim(tmp.path());
    for name in ["ack", "00000000000000000001.seg", "lock"] {
        let dir = tmp.path().join(format!("spool-{name}"));
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        symlink(&target, dir.join(name)).unwrap();
        let e = init_error(&dir);
        assert!(
            e.contains("http_output.spool_dir") && e.contains(name) && e.contains("symbolic link"),
            "{name}: {e}"
        );
        assert_eq!(
            fs::read(&target).unwrap(),
            bytes,
            "{name}: the target changed"
        );
        assert!(fs::symlink_metadata(dir.join(name)).unwrap().is_symlink());
    }
    // A link planted as a half-written migration copy is not removed through, nor followed.
    let dir = tmp.path().join("spool-tmp");
    fs::create_dir(&dir).unwrap();
    symlink(&target, dir.join("00000000000000000001.seg.tmp")).unwrap();
    let o = try_open(&spool_yaml(&dir), &Logs::default()).expect("opens");
    o.close(Some(Duration::ZERO)).ok();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o600);
}

/// A spool pointed at a directory holding other files: alerts are delivered, and every file it
/// did not write keeps its bytes, including ones named like the spool's (a `head` of another
/// size than the previous format's, a `.seg` without the segment header, a `.seg.tmp` with
/// other bytes).
#[test]
fn files_the_spool_did_not_write_survive() {
    if !require("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shared");
    fs::create_dir(&dir).unwrap();
    let foreign = [
        ("notes.txt", &b"keep me\n"[..]),
        ("head", b"not a v1 head\n"),
        ("123.seg", b"short name"),
        (
            "00000000000000000007.seg",
            b"someone else's data, no header",
        ),
        (
            "00000000000000000002.seg.tmp",
            b"another program's temp file",
        ),
        ("00000000000000000003.seg.bak", b"a backup"),
    ];
    for (n, b) in foreign {
        fs::write(dir.join(n), b).unwrap();
    }
    let srv = Server::start(ServerOpts::default());
    let mut cfg = http_config(&srv.url("/"));
    cfg.transport.spool_dir = dir.to_string_lossy().into();
    let lines = alert_lines("shared", 40);
    for round in 0..2 {
        let ctx = Harness::http();
        let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
        for chunk in lines.chunks(10) {
            ch.deliver(&batch(chunk), &ctx.ctx);
        }
        ch.close(&ctx.ctx);
        assert_eq!(ctx.stats().delivered, 40, "round {round}");
        assert!(
            ctx.log_text().contains("00000000000000000007.seg")
                && ctx.log_text().contains("left in place"),
            "{}",
            ctx.log_text()
        );
    }
    assert_eq!(received_lines(&srv.requests()).len(), 80);
    for (n, b) in foreign {
        assert_eq!(fs::read(dir.join(n)).unwrap(), b, "{n} changed or went");
    }
}
