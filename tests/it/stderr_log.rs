//! Without a log callback the library's own lines go to stderr, prefixed `falco-outputs:`.
//! It runs in its own process: it replaces this process's fd 2.

use std::io::Read;
use std::os::fd::FromRawFd;

use falco_outputs::{Options, Outputs};

use crate::support::in_own_process;

#[test]
fn without_a_callback_log_lines_go_to_stderr() {
    in_own_process(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let saved = unsafe { libc::dup(2) };
        unsafe {
            libc::dup2(fds[1], 2);
            libc::close(fds[1]);
        }
        let out = Outputs::open(Options {
            config_yaml: Some(format!(
                "file_output: {{enabled: true, filename: {}, kep_alive: true}}",
                dir.path().join("a").display()
            )),
            ..Options::default()
        })
        .unwrap();
        out.close(None).unwrap();
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
        let mut text = String::new();
        unsafe { std::fs::File::from_raw_fd(fds[0]) }
            .read_to_string(&mut text)
            .unwrap();
        assert!(
            text.starts_with("falco-outputs: warning: ") && text.contains("file_output.kep_alive"),
            "{text:?}"
        );
    });
}
