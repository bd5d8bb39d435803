//! `program_output`: each alert line (plus `\n`) goes to the stdin of `/bin/sh -c PROGRAM`.
//!
//! - `keep_alive: false`: one child per alert, stdin closed after the line, the child reaped.
//!   Children run one after another (alert order is kept); one that is still running
//!   `output_timeout` after its stdin was closed is reported and set aside (reaped later), so a
//!   hung program costs at most `output_timeout` per alert and never blocks other channels.
//! - `keep_alive: true`: one child, started at the first alert, its pipe kept open. If it dies,
//!   the lines it never read (the write that hit EPIPE, and what was still in the pipe: Linux
//!   tells how much with FIONREAD) are re-sent to a respawned child; repeated quick deaths back
//!   off exponentially.
//!
//! Accounting: per-alert, a line is delivered when its program exits 0 and failed otherwise
//! (a program that cannot start, exits 127, is killed...). Kept alive, a line is delivered once
//! a process has read it out of the pipe: lines written stay in `in_pipe` until the pipe's
//! unread byte count (FIONREAD) shows they were consumed. A line no process read is re-sent to
//! the next child, and at the close deadline counted `discarded`; it is never `delivered`.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use super::spawn::{self, Reaped, Spawned};
use crate::config::Config;
use crate::error::InitError;
use crate::log::Logger;
use crate::outputs::log_limit::LogLimit;
use crate::outputs::{Batch, Channel, ChannelCtx};
use crate::redact;

/// Longest single wait in a loop, so `is_aborting()` is noticed promptly.
const SLICE: Duration = Duration::from_millis(100);
/// Kept-alive buffer size when `buffered_outputs` is true.
const BUFFER_LIMIT: usize = 64 * 1024;
/// A kept-alive child that dies sooner than this after its start counts as a quick death.
const QUICK_DEATH: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Per-alert children still running after `output_timeout`: beyond this many, wait for the oldest
/// (back-pressure instead of an unbounded number of processes).
const MAX_LINGERING: usize = 16;
/// At close: how long SIGTERM gets before SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(300);
/// How soon to ask again whether a kept child read its pipe, growing to the maximum while it
/// reads nothing.
const READ_POLL_MIN: Duration = Duration::from_millis(10);
const READ_POLL_MAX: Duration = Duration::from_millis(500);

pub struct ProgramChannel {
    program: CString,
    /// What log lines show of `program` (it may be long and carry tokens).
    shown: String,
    keep_alive: bool,
    kept: Option<Kept>,
    /// Kept alive: lines waiting to be written, front first; `out_lens` holds each line's length.
    out: Vec<u8>,
    out_lens: VecDeque<usize>,
    /// Bytes of `out`'s first line already written to the current child.
    out_written: usize,
    /// How long to wait before asking the pipe again whether lines were read (grows while the
    /// program reads nothing, so a stuck program does not keep the worker busy).
    read_poll: Duration,
    /// When to ask again (set while written lines wait in the pipe).
    read_check_at: Option<Instant>,
    quick_deaths: u32,
    next_spawn: Option<Instant>,
    /// Children set aside: hung per-alert programs, replaced kept-alive ones.
    lingering: Vec<Lingering>,
    /// When the current write stall started and whether it was reported.
    stalled: Option<(Instant, bool)>,
    /// Failures repeat at the alert rate: logged at most once a second.
    log_limit: LogLimit,
}

struct Kept {
    pid: libc::pid_t,
    stdin: std::os::fd::OwnedFd,
    started: Instant,
    /// Lines written whole into this child's pipe that no process has read yet (not accounted):
    /// re-sent if the child dies, discarded at the close deadline.
    in_pipe: VecDeque<u8>,
    in_pipe_lens: VecDeque<usize>,
}

struct Lingering {
    pid: libc::pid_t,
    /// The per-alert line this child still owes an account for.
    owes_line: bool,
}

impl ProgramChannel {
    pub fn open(cfg: &Config, _log: &Logger) -> Result<ProgramChannel, InitError> {
        let p = &cfg.program;
        let program = CString::new(p.program.as_bytes())
            .map_err(|_| InitError::config("program_output.program contains a NUL byte"))?;
        Ok(ProgramChannel {
            shown: redact::command(&p.program),
            program,
            keep_alive: p.keep_alive,
            kept: None,
            out: Vec::new(),
            out_lens: VecDeque::new(),
            out_written: 0,
            read_poll: READ_POLL_MIN,
            read_check_at: None,
            quick_deaths: 0,
            next_spawn: None,
            lingering: Vec::new(),
            stalled: None,
            log_limit: LogLimit::every(Duration::from_secs(1)),
        })
    }

    /// The kept-alive child's pid, if one is running (diagnostics and tests).
    pub fn kept_pid(&self) -> Option<libc::pid_t> {
        self.kept.as_ref().map(|k| k.pid)
    }

    /// The program as log lines show it: shortened, credentials hidden.
    fn program_text(&self) -> &str {
        &self.shown
    }

    // ---- per-alert mode ----

    fn run_once(&mut self, line: &[u8], ctx: &ChannelCtx) {
        let child = match spawn::spawn_shell(&self.program) {
            Ok(c) => c,
            Err(e) => {
                ctx.write_error();
                ctx.failed(1);
                let msg = format!("cannot start /bin/sh -c '{}': {e}", self.program_text());
                self.log_limit.error(ctx, &msg);
                return;
            }
        };
        let Spawned { pid, stdin } = child;
        let deadline = Instant::now() + ctx.output_timeout;
        let mut written = 0;
        let mut write_timed_out = false;
        while written < line.len() {
            let now = Instant::now();
            if now >= deadline || ctx.is_aborting() {
                write_timed_out = true;
                break;
            }
            match spawn::write_some(stdin.as_fd(), &line[written..], SLICE.min(deadline - now)) {
                Ok(n) => written += n,
                // The program exited or closed its stdin without reading: its exit status decides.
                Err(_) => break,
            }
        }
        drop(stdin);
        let deadline = Instant::now() + ctx.output_timeout;
        match spawn::wait_until(pid, deadline, &|| ctx.is_aborting()) {
            Reaped::Exited(status) => self.account_exit(status, !write_timed_out, ctx),
            // The host reaped it: status unknown, the line was handed over.
            Reaped::Gone => {
                if write_timed_out {
                    ctx.failed(1)
                } else {
                    ctx.delivered(1)
                }
            }
            Reaped::Running => {
                if write_timed_out {
                    ctx.write_error();
                    ctx.failed(1);
                }
                let what = if write_timed_out {
                    "did not read its alert"
                } else {
                    "is still running"
                };
                let msg = format!(
                    "program '{}' (pid {pid}) {what} after {} ms; continuing with the next alerts \
                     (it will be reaped when it exits, stopped at close)",
                    self.program_text(),
                    ctx.output_timeout.as_millis()
                );
                self.log_limit.warning(ctx, &msg);
                self.lingering.push(Lingering {
                    pid,
                    owes_line: !write_timed_out,
                });
            }
        }
    }

    fn account_exit(&mut self, status: libc::c_int, owes_line: bool, ctx: &ChannelCtx) {
        if spawn::exited_ok(status) {
            if owes_line {
                ctx.delivered(1)
            }
            return;
        }
        if owes_line {
            ctx.failed(1);
        }
        ctx.write_error();
        let msg = format!(
            "program '{}' failed: {}",
            self.program_text(),
            spawn::describe_status(status)
        );
        self.log_limit.error(ctx, &msg);
    }

    /// Reaps set-aside children that exited, without blocking.
    fn reap_lingering(&mut self, ctx: &ChannelCtx) {
        let mut i = 0;
        while i < self.lingering.len() {
            let l = &self.lingering[i];
            match spawn::try_reap(l.pid) {
                Reaped::Running => i += 1,
                r => {
                    let l = self.lingering.swap_remove(i);
                    match r {
                        Reaped::Exited(s) => self.account_exit(s, l.owes_line, ctx),
                        _ if l.owes_line => ctx.delivered(1),
                        _ => {}
                    }
                }
            }
        }
    }

    /// Back-pressure: with too many hung children, wait for the oldest before starting another.
    fn make_room(&mut self, ctx: &ChannelCtx) {
        while self.lingering.len() >= MAX_LINGERING && !ctx.is_aborting() {
            let pid = self.lingering[0].pid;
            let _ = spawn::wait_until(pid, Instant::now() + SLICE, &|| ctx.is_aborting());
            self.reap_lingering(ctx);
        }
    }

    // ---- kept-alive mode ----

    fn push_batch(&mut self, batch: &Batch) {
        self.out.extend_from_slice(batch.all_with_newlines());
        for i in 0..batch.len() {
            self.out_lens.push_back(batch.line_with_newline(i).len());
        }
    }

    /// Writes `out` to the kept child, (re)starting it as needed, until `out` is empty or the
    /// close deadline passed (then what is left is discarded and counted). With `wait` false
    /// (tick), a pending respawn backoff returns instead of sleeping: `next_wake` comes back.
    fn drain(&mut self, ctx: &ChannelCtx, wait: bool) {
        while !self.out_lens.is_empty() {
            if ctx.is_aborting() {
                self.discard_out(ctx);
                return;
            }
            if self.kept.is_none() {
                if !wait && self.next_spawn.is_some_and(|t| Instant::now() < t) {
                    return;
                }
                if !self.start_kept(ctx) {
                    continue;
                }
            }
            let Some(kept) = self.kept.as_mut() else {
                continue;
            };
            match spawn::write_some(kept.stdin.as_fd(), &self.out[self.out_written..], SLICE) {
                Ok(0) => self.note_stall(ctx),
                Ok(n) => {
                    self.stalled = None;
                    self.out_written += n;
                    self.retire_written(ctx);
                }
                Err(e) => {
                    let why = if e.kind() == std::io::ErrorKind::BrokenPipe {
                        "closed its input".to_string()
                    } else {
                        format!("cannot be written to: {e}")
                    };
                    ctx.write_error();
                    self.child_lost(&why, ctx);
                }
            }
        }
    }

    /// Moves fully written lines from `out` into the child's pipe (not accounted yet), then
    /// counts those it has read.
    fn retire_written(&mut self, ctx: &ChannelCtx) {
        let Some(kept) = self.kept.as_mut() else {
            return;
        };
        let mut done_bytes = 0;
        while let Some(&len) = self.out_lens.front() {
            if self.out_written - done_bytes < len {
                break;
            }
            kept.in_pipe_lens.push_back(len);
            done_bytes += len;
            self.out_lens.pop_front();
        }
        kept.in_pipe.extend(&self.out[..done_bytes]);
        self.out.drain(..done_bytes);
        self.out_written -= done_bytes;
        self.count_read(ctx);
    }

    /// Counts as delivered the lines the kept child (or a process it started) has read out of
    /// its pipe: everything written to it minus what the pipe still holds.
    fn count_read(&mut self, ctx: &ChannelCtx) {
        let Some(kept) = self.kept.as_mut() else {
            self.read_check_at = None;
            return;
        };
        if kept.in_pipe_lens.is_empty() {
            self.read_check_at = None;
            return;
        }
        // The pipe holds the tail of `in_pipe` followed by the partly written front of `out`.
        let in_flight = kept.in_pipe.len() + self.out_written;
        let Some(unread) = spawn::unread_bytes(kept.stdin.as_fd()) else {
            return;
        };
        let mut read = in_flight.saturating_sub(unread);
        let mut lines = 0;
        let mut bytes = 0;
        while let Some(&len) = kept.in_pipe_lens.front() {
            if read < len {
                break;
            }
            read -= len;
            bytes += len;
            lines += 1;
            kept.in_pipe_lens.pop_front();
        }
        kept.in_pipe.drain(..bytes);
        ctx.delivered(lines);
        self.read_poll = if lines > 0 {
            READ_POLL_MIN
        } else {
            (self.read_poll * 2).min(READ_POLL_MAX)
        };
        self.read_check_at =
            (!kept.in_pipe_lens.is_empty()).then(|| Instant::now() + self.read_poll);
    }

    fn note_stall(&mut self, ctx: &ChannelCtx) {
        let now = Instant::now();
        let (since, reported) = self.stalled.get_or_insert((now, false));
        if !*reported && now.duration_since(*since) >= ctx.output_timeout {
            *reported = true;
            ctx.write_error();
            ctx.warning(&format!(
                "program '{}' has not read its input for {} ms; alerts wait for it",
                self.program_text(),
                ctx.output_timeout.as_millis()
            ));
        }
    }

    /// The close deadline passed: the lines not written yet and those the child has not read
    /// are given up and counted `discarded` (close reports the count, once, for the channel).
    fn discard_out(&mut self, ctx: &ChannelCtx) {
        self.count_read(ctx);
        let in_pipe = self.kept.as_mut().map_or(0, |k| {
            k.in_pipe.clear();
            std::mem::take(&mut k.in_pipe_lens).len()
        });
        ctx.discarded(self.out_lens.len() + in_pipe);
        self.out.clear();
        self.out_lens.clear();
        self.out_written = 0;
    }

    /// Starts the kept child, honouring the backoff. False if it is not running (yet).
    fn start_kept(&mut self, ctx: &ChannelCtx) -> bool {
        if let Some(at) = self.next_spawn {
            let now = Instant::now();
            if now < at {
                std::thread::sleep(SLICE.min(at - now));
                return false;
            }
        }
        self.next_spawn = None;
        match spawn::spawn_shell(&self.program) {
            Ok(Spawned { pid, stdin }) => {
                self.kept = Some(Kept {
                    pid,
                    stdin,
                    started: Instant::now(),
                    in_pipe: VecDeque::new(),
                    in_pipe_lens: VecDeque::new(),
                });
                true
            }
            Err(e) => {
                ctx.write_error();
                let delay = self.backoff();
                ctx.error(&format!(
                    "cannot start /bin/sh -c '{}': {e}; retrying in {} ms",
                    self.program_text(),
                    delay.as_millis()
                ));
                false
            }
        }
    }

    /// Next respawn delay: immediate after a first quick death, then 100 ms doubling to 10 s.
    fn backoff(&mut self) -> Duration {
        self.quick_deaths = self.quick_deaths.saturating_add(1);
        let delay = match self.quick_deaths {
            0 | 1 => Duration::ZERO,
            n => {
                (Duration::from_millis(100) * 2u32.saturating_pow((n - 2).min(10))).min(MAX_BACKOFF)
            }
        };
        self.next_spawn = Some(Instant::now() + delay);
        delay
    }

    /// The kept child died or closed its stdin: queue what it never read for re-sending, set it
    /// aside, and arrange the respawn.
    fn child_lost(&mut self, why: &str, ctx: &ChannelCtx) {
        self.count_read(ctx);
        let Some(kept) = self.kept.take() else { return };
        let resend = self.requeue_unread(kept.in_pipe, kept.in_pipe_lens);
        let status = match spawn::try_reap(kept.pid) {
            Reaped::Exited(s) => spawn::describe_status(s),
            Reaped::Gone => "exit status unknown".into(),
            Reaped::Running => {
                self.lingering.push(Lingering {
                    pid: kept.pid,
                    owes_line: false,
                });
                "still running".into()
            }
        };
        let lived = kept.started.elapsed();
        let delay = if lived < QUICK_DEATH {
            self.backoff()
        } else {
            self.quick_deaths = 0;
            self.next_spawn = None;
            Duration::ZERO
        };
        ctx.error(&format!(
            "program '{}' (pid {}) {why} ({status}) after {} ms; restarting it in {} ms \
             and re-sending {resend} alert(s) it did not read",
            self.program_text(),
            kept.pid,
            lived.as_millis(),
            delay.as_millis()
        ));
    }

    /// Puts back in front of `out` the lines a child left unread (after [`Self::count_read`]),
    /// to be written to the next child; the partly written front line is re-sent whole.
    /// Returns how many lines the next child gets.
    fn requeue_unread(&mut self, in_pipe: VecDeque<u8>, in_pipe_lens: VecDeque<usize>) -> usize {
        self.out_written = 0;
        if !in_pipe_lens.is_empty() {
            let mut again: Vec<u8> = in_pipe.into();
            again.extend_from_slice(&self.out);
            self.out = again;
            for len in in_pipe_lens.into_iter().rev() {
                self.out_lens.push_front(len);
            }
        }
        self.out_lens.len()
    }

    /// Tick: notice a kept child that died while idle; respawn now only if it left lines unread.
    fn check_kept(&mut self, ctx: &ChannelCtx) {
        let Some(kept) = self.kept.as_ref() else {
            return;
        };
        match spawn::try_reap(kept.pid) {
            Reaped::Running => {}
            r => {
                self.count_read(ctx);
                let Some(kept) = self.kept.take() else { return };
                let resend = self.requeue_unread(kept.in_pipe, kept.in_pipe_lens);
                let status = match r {
                    Reaped::Exited(s) => spawn::describe_status(s),
                    _ => "exit status unknown".into(),
                };
                ctx.write_error();
                if kept.started.elapsed() < QUICK_DEATH {
                    self.backoff();
                } else {
                    self.quick_deaths = 0;
                }
                let next = if resend > 0 {
                    format!("restarting it to re-send {resend} alert(s) it did not read")
                } else {
                    "it will be restarted at the next alert".into()
                };
                ctx.error(&format!(
                    "program '{}' (pid {}) exited ({status}); {next}",
                    self.program_text(),
                    kept.pid
                ));
                if resend > 0 {
                    self.drain(ctx, false);
                }
            }
        }
    }

    /// Waits (bounded by `output_timeout`) for the kept child to read what is in its pipe, then
    /// closes its stdin and waits (bounded again) for it to exit; a child still running is set
    /// aside. What it did not read goes to the next child with `requeue` (reopen), else is
    /// counted discarded (close).
    fn retire_kept(&mut self, ctx: &ChannelCtx, requeue: bool) {
        let deadline = Instant::now() + ctx.output_timeout;
        while let Some(pid) = self.kept.as_ref().map(|k| k.pid) {
            self.count_read(ctx);
            let unread = self.kept.as_ref().map_or(0, |k| k.in_pipe_lens.len());
            if unread == 0
                || Instant::now() >= deadline
                || ctx.is_aborting()
                || spawn::has_exited(pid)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let Some(kept) = self.kept.take() else { return };
        let Kept {
            pid,
            stdin,
            in_pipe,
            in_pipe_lens,
            ..
        } = kept;
        let unread = in_pipe_lens.len();
        if requeue {
            // The old child may still read them after its stdin is closed: at worst a duplicate.
            self.requeue_unread(in_pipe, in_pipe_lens);
        } else if unread > 0 {
            ctx.discarded(unread);
            // At the close deadline close itself reports the count, once for the channel.
            if !ctx.is_aborting() {
                ctx.error(&format!(
                    "program '{}' (pid {pid}) did not read {unread} alert(s) within {} ms; \
                     discarded",
                    self.program_text(),
                    ctx.output_timeout.as_millis()
                ));
            }
        }
        drop(stdin);
        let deadline = Instant::now() + ctx.output_timeout;
        match spawn::wait_until(pid, deadline, &|| ctx.is_aborting()) {
            Reaped::Exited(s) if !spawn::exited_ok(s) => ctx.warning(&format!(
                "program '{}' (pid {pid}) ended with {}",
                self.program_text(),
                spawn::describe_status(s)
            )),
            Reaped::Running => {
                ctx.warning(&format!(
                    "program '{}' (pid {pid}) still running {} ms after its input was closed",
                    self.program_text(),
                    ctx.output_timeout.as_millis()
                ));
                self.lingering.push(Lingering {
                    pid,
                    owes_line: false,
                });
            }
            _ => {}
        }
    }

    /// At close: every set-aside child gets what is left of `output_timeout`, then is stopped.
    fn stop_lingering(&mut self, ctx: &ChannelCtx) {
        let deadline = Instant::now() + ctx.output_timeout;
        while !self.lingering.is_empty() && Instant::now() < deadline && !ctx.is_aborting() {
            std::thread::sleep(Duration::from_millis(10));
            self.reap_lingering(ctx);
        }
        for l in std::mem::take(&mut self.lingering) {
            let status = spawn::stop_tree(l.pid, TERM_GRACE);
            if l.owes_line {
                ctx.failed(1);
            }
            ctx.warning(&format!(
                "stopped program '{}' (pid {}) at close: {}",
                self.program_text(),
                l.pid,
                status.map_or_else(|| "not reaped".into(), spawn::describe_status)
            ));
        }
    }
}

impl Channel for ProgramChannel {
    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        if !self.keep_alive {
            for i in 0..batch.len() {
                self.reap_lingering(ctx);
                self.make_room(ctx);
                if ctx.is_aborting() {
                    ctx.discarded(batch.len() - i);
                    return;
                }
                self.run_once(batch.line_with_newline(i), ctx);
            }
            return;
        }
        self.reap_lingering(ctx);
        self.push_batch(batch);
        // The child starts at the first alert even when its lines wait in the buffer.
        if self.kept.is_none() && self.next_spawn.is_none() {
            self.start_kept(ctx);
        }
        if !ctx.buffered || self.out.len() >= BUFFER_LIMIT {
            self.drain(ctx, true);
        }
    }

    fn flush(&mut self, ctx: &ChannelCtx) {
        if self.keep_alive {
            self.drain(ctx, true);
            self.count_read(ctx);
        }
    }

    fn reopen(&mut self, ctx: &ChannelCtx) {
        if !self.keep_alive {
            return;
        }
        self.drain(ctx, true);
        let had_child = self.kept.is_some();
        self.retire_kept(ctx, true);
        // Falco respawns at reopen; a channel that never started a child starts at its first alert.
        if had_child {
            self.quick_deaths = 0;
            self.next_spawn = None;
            self.start_kept(ctx);
            // What the old child left unread goes to the new one now.
            if !ctx.buffered {
                self.drain(ctx, true);
            }
        }
    }

    fn tick(&mut self, ctx: &ChannelCtx) {
        self.reap_lingering(ctx);
        if self.keep_alive {
            self.check_kept(ctx);
            self.count_read(ctx);
            if !self.out_lens.is_empty() && !ctx.buffered {
                self.drain(ctx, false);
            }
        }
        self.log_limit.flush(ctx);
    }

    fn next_wake(&self) -> Option<Instant> {
        // Lines waiting for a respawn come back when the backoff ends; lines in the pipe are
        // checked until the child has read them.
        let respawn = self.next_spawn.filter(|_| !self.out_lens.is_empty());
        [respawn, self.read_check_at].into_iter().flatten().min()
    }

    fn held(&self) -> usize {
        let in_pipe = self.kept.as_ref().map_or(0, |k| k.in_pipe_lens.len());
        self.out_lens.len() + in_pipe + self.lingering.iter().filter(|l| l.owes_line).count()
    }

    fn close(&mut self, ctx: &ChannelCtx) {
        if self.keep_alive {
            self.drain(ctx, true);
            if ctx.is_aborting() {
                self.discard_out(ctx);
            }
            self.retire_kept(ctx, false);
        }
        self.reap_lingering(ctx);
        self.stop_lingering(ctx);
        self.log_limit.flush(ctx);
    }
}
