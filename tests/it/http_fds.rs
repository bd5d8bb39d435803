//! The host's own fork+exec inherits none of the library's descriptors (issue 19): libcurl 7.88
//! makes its multi handle's socketpair without close-on-exec, so a host that ran a command after
//! init with http_output on handed it to the command. The program channel closes every fd in
//! its children; this is about the host's children.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use crate::support::handle::*;
use crate::support::http::*;
use crate::support::{in_own_process, require};

/// What a child of this process (std's `Command`: fork+exec, no fd closed) has open beyond
/// 0, 1 and 2, as `fd -> target`, without the one `ls` opens itself.
fn inherited() -> BTreeSet<String> {
    let out = Command::new("ls")
        .args(["-l", "/proc/self/fd/"])
        .output()
        .expect("ls");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd: u32 = left.rsplit(' ').next()?.parse().ok()?;
            (fd > 2 && !target.starts_with("/proc/")).then(|| format!("{fd} -> {target}"))
        })
        .collect()
}

/// HTTP (with a spool) and a kept-open file: after init and one delivered alert, a command the
/// host runs has exactly the descriptors it had before init.
#[test]
fn the_hosts_own_children_inherit_no_descriptor_of_the_library() {
    in_own_process(|| {
        if !require("python3") {
            return;
        }
        let srv = Server::start(ServerOpts::default());
        let dir = tempfile::tempdir().unwrap();
        let before = inherited();
        let yaml = format!(
            "json_output: true\nfile_output: {{enabled: true, keep_alive: true, filename: {}}}\n\
             http_output:\n  enabled: true\n  url: {}\n  spool_dir: {}\n",
            dir.path().join("alerts.log").display(),
            srv.url("/"),
            dir.path().join("spool").display()
        );
        let (o, _logs) = open(&yaml);
        o.emit(seed_alert(1)).unwrap();
        o.flush(Duration::from_secs(20)).unwrap();
        assert_eq!(srv.requests().len(), 1, "the alert was sent");
        let after = inherited();
        let new: Vec<&String> = after.difference(&before).collect();
        println!("inherited before init: {before:?}; new after init and a send: {new:?}");
        assert!(
            new.is_empty(),
            "the library's descriptors reach the host's children: {new:?}"
        );
        o.close(None).unwrap();
    });
}
