//! The integration tests: one test binary, a module per area, shared helpers in `support`.
//!
//!     cargo test --test it                      # all of them
//!     cargo test --test it -- program_channel::  # one area
//!
//! All tests share one process and run in parallel; a test that changes what is process-wide
//! (fd 1 or 2, the environment, signal dispositions, the set of open fds) runs its body through
//! [`support::in_own_process`]; a test that drives a child process of its own (its settings, its
//! output, signals) does so through [`support::in_child_process`].

mod support;

mod append_output;
mod close_and_flush;
mod config_secrets;
mod ffi;
mod file_channel;
mod file_disk_full;
mod file_rotation;
mod hostname;
mod http_batch;
mod http_bench;
mod http_e2e;
mod http_falco;
mod http_fds;
mod http_retry;
mod http_siem;
mod http_spool;
mod http_spool_crash;
mod http_spool_damage;
mod http_spool_perms;
mod init_limits;
mod nats;
mod nats_auth;
mod nats_cluster;
mod nats_crash;
mod nats_fleet;
mod nats_modes;
mod otlp;
mod program_channel;
mod program_e2e;
mod program_faults;
mod program_fds;
mod program_redaction;
mod program_signals;
mod routing;
mod routing_cost;
mod runtime;
mod stderr_log;
mod stdout_channel;
mod storm;
mod syslog_e2e;
mod syslog_failures;
mod syslog_relp;
mod syslog_rsyslog;
mod syslog_tcp_resets;
mod syslog_tls;
mod timezone;
mod wakeups;
