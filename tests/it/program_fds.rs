//! No library file descriptor leaks into a program: a child listing `/proc/self/fd` sees its
//! stdin, stdout, stderr and the directory `ls` itself opened, nothing else, while the process
//! holds a kept-alive program's pipe, an open file and a listening socket.

use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::support::program::*;
use crate::support::*;
use falco_outputs::testing::Channel;

/// The test runner may hand this process inheritable fds (a jobserver, a CI pipe); they are the
/// "host's" business, not the library's: mark them close-on-exec so only leaks remain visible.
fn cloexec_inherited_fds() {
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        if let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() {
            if fd > 2 {
                unsafe {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags >= 0 {
                        libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
                    }
                }
            }
        }
    }
}

#[test]
fn a_program_sees_only_its_stdio() {
    in_own_process(|| {
        cloexec_inherited_fds();
        let dir = tempfile::tempdir().unwrap();
        let listing = dir.path().join("fds.txt");
        let file = std::fs::File::create(dir.path().join("alerts.txt")).unwrap();
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let program = format!("ls /proc/self/fd > {}", listing.display());
        let got = on_worker(move || {
            let h = Harness::program(false, Duration::from_secs(2));
            // A kept-alive child holds the write end of a pipe in this process.
            let mut kept = channel("cat > /dev/null", true);
            kept.deliver(&batch(&["a"]), &h.ctx);
            assert!(kept.kept_pid().is_some());
            let mut lister = channel(&program, false);
            lister.deliver(&batch(&["b"]), &h.ctx);
            lister.close(&h.ctx);
            kept.close(&h.ctx);
            assert_eq!(h.stats().delivered, 2);
            read_lines(&listing)
        });
        let _ = (file.as_raw_fd(), socket.as_raw_fd());
        let mut fds: Vec<i32> = got.iter().map(|l| l.parse().unwrap()).collect();
        fds.sort();
        // 0-2, plus the one `ls` opened on /proc/self/fd: a leaked fd would take 3 and push it to 4.
        assert_eq!(fds, [0, 1, 2, 3], "fds seen by the program: {got:?}");
    });
}
