//! The stdout channel against a broken standard output: a pipe whose reader is gone gives
//! EPIPE (never a SIGPIPE death: library threads block it), each alert is counted as failed,
//! the failure is logged once, and delivery resumes when fd 1 works again. It runs in its own
//! process: it replaces the process's fd 1.

use std::io::Read;
use std::os::fd::FromRawFd;
use std::time::Duration;

use crate::support::*;

fn pipe() -> (i32, i32) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (fds[0], fds[1])
}

#[test]
fn broken_stdout_is_counted_logged_once_and_recovers() {
    in_own_process(|| {
        let saved = unsafe { libc::dup(1) };
        let (r, w) = pipe();
        unsafe {
            libc::dup2(w, 1);
            libc::close(w);
            libc::close(r); // no reader: writes to fd 1 now fail with EPIPE
        }
        let (out, logs) = open("stdout_output: {enabled: true}");
        out.emit(seed_alert(1)).unwrap();
        out.emit(seed_alert(2)).unwrap();
        out.flush(Duration::from_secs(5)).unwrap();
        let (_, s) = out.stats()[0];
        let failed_logs = logs.count_containing("write to standard output failed");

        let (r, w) = pipe();
        unsafe {
            libc::dup2(w, 1);
            libc::close(w);
        }
        out.emit(seed_alert(3)).unwrap();
        out.flush(Duration::from_secs(5)).unwrap();
        let (_, s2) = out.stats()[0];
        out.close(None).unwrap();
        unsafe {
            libc::dup2(saved, 1);
            libc::close(saved);
        }
        let mut got = String::new();
        unsafe { std::fs::File::from_raw_fd(r) }
            .read_to_string(&mut got)
            .unwrap();

        assert_eq!((s.failed, s.delivered), (2, 0), "{s:?}");
        assert_eq!(failed_logs, 1, "{:?}", logs.lines());
        assert_eq!((s2.failed, s2.delivered), (2, 1), "{s2:?}");
        assert_eq!(
            logs.count_containing("succeeds again"),
            1,
            "{:?}",
            logs.lines()
        );
        assert_eq!(
            got,
            "23:31:56.746609049: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)\n"
        );
    });
}
