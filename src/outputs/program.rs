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
//! it is written into the pipe.

use std::collections::VecDeque;
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::log_limit::LogLimit;
use super::spawn::{self, Reaped, Spawned};
use super::{Batch, Channel, ChannelCtx, OpenError};
use crate::config::Config;
use crate::log::Logger;

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

pub struct ProgramChannel {
    program: CString,
    keep_alive: bool,
    kept: Option<Kept>,
    /// Kept alive: lines waiting to be written, front first; `out_lens` holds each line's length.
    out: Vec<u8>,
    out_lens: VecDeque<usize>,
    /// Bytes of `out`'s first line already written to the current child.
    out_written: usize,
    /// How many of `out`'s first lines are re-sends (already accounted).
    out_resends: usize,
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
    /// The last lines written to this child (at least a pipe's worth), to re-send what it never read.
    tail: VecDeque<u8>,
    tail_lens: VecDeque<usize>,
    pipe_cap: usize,
}

struct Lingering {
    pid: libc::pid_t,
    /// The per-alert line this child still owes an account for.
    owes_line: bool,
}

impl ProgramChannel {
    pub fn open(cfg: &Config, _log: &Logger) -> Result<ProgramChannel, OpenError> {
        let p = &cfg.program;
        if p.program.trim().is_empty() {
            return Err(OpenError::Config(
                "program output enabled but no program in configuration block \
                 (program_output.program is empty)"
                    .into(),
            ));
        }
        let program = CString::new(p.program.as_bytes())
            .map_err(|_| OpenError::Config("program_output.program contains a NUL byte".into()))?;
        Ok(ProgramChannel {
            program,
            keep_alive: p.keep_alive,
            kept: None,
            out: Vec::new(),
            out_lens: VecDeque::new(),
            out_written: 0,
            out_resends: 0,
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

    fn program_text(&self) -> String {
        self.program.to_string_lossy().into_owned()
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
            match spawn::write_some(
                stdin.as_raw_fd(),
                &line[written..],
                SLICE.min(deadline - now),
            ) {
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
            match spawn::write_some(kept.stdin.as_raw_fd(), &self.out[self.out_written..], SLICE) {
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

    /// Moves fully written lines from `out` to the child's tail and accounts for them.
    fn retire_written(&mut self, ctx: &ChannelCtx) {
        let Some(kept) = self.kept.as_mut() else {
            return;
        };
        let mut done_bytes = 0;
        let mut new_lines = 0;
        while let Some(&len) = self.out_lens.front() {
            if self.out_written - done_bytes < len {
                break;
            }
            kept.tail_lens.push_back(len);
            done_bytes += len;
            self.out_lens.pop_front();
            if self.out_resends > 0 {
                self.out_resends -= 1;
            } else {
                new_lines += 1;
            }
        }
        kept.tail.extend(&self.out[..done_bytes]);
        self.out.drain(..done_bytes);
        self.out_written -= done_bytes;
        ctx.delivered(new_lines);
        // Keep at least a pipe's worth of tail: that is the most the child can have left unread.
        let mut drop_bytes = 0;
        while let Some(&front) = kept.tail_lens.front() {
            if kept.tail.len() - drop_bytes - front < kept.pipe_cap {
                break;
            }
            drop_bytes += front;
            kept.tail_lens.pop_front();
        }
        kept.tail.drain(..drop_bytes);
    }

    fn note_stall(&mut self, ctx: &ChannelCtx) {
        let now = Instant::now();
        let (since, reported) = self.stalled.get_or_insert((now, false));
        if !*reported && now.duration_since(*since) >= ctx.output_timeout {
            *reported = true;
            ctx.write_error();
            ctx.warning(&format!(
                "program '{}' has not read its input for {} ms; alerts wait for it",
                self.program.to_string_lossy(),
                ctx.output_timeout.as_millis()
            ));
        }
    }

    fn discard_out(&mut self, ctx: &ChannelCtx) {
        let unaccounted = self.out_lens.len() - self.out_resends;
        if unaccounted > 0 {
            ctx.discarded(unaccounted);
            ctx.error(&format!(
                "close deadline passed: {unaccounted} alert(s) not written to program '{}'",
                self.program.to_string_lossy()
            ));
        }
        self.out.clear();
        self.out_lens.clear();
        self.out_written = 0;
        self.out_resends = 0;
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
                let pipe_cap = spawn::pipe_capacity(stdin.as_raw_fd());
                self.kept = Some(Kept {
                    pid,
                    stdin,
                    started: Instant::now(),
                    tail: VecDeque::new(),
                    tail_lens: VecDeque::new(),
                    pipe_cap,
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
        let Some(kept) = self.kept.take() else { return };
        let resend = self.requeue_unread(&kept);
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

    /// Puts back in front of `out` the lines the dead child left unread; returns how many lines
    /// the next child gets that this one did not read (re-sent ones plus those not written yet).
    fn requeue_unread(&mut self, kept: &Kept) -> usize {
        let unread = spawn::unread_bytes(kept.stdin.as_raw_fd());
        let pending = self.out_lens.len();
        // The partly written front line is re-sent whole from its start.
        let mut missing = unread.saturating_sub(self.out_written);
        self.out_written = 0;
        let mut n = 0;
        let mut bytes = 0;
        for &len in kept.tail_lens.iter().rev() {
            if missing == 0 {
                break;
            }
            n += 1;
            bytes += len;
            missing = missing.saturating_sub(len);
        }
        if n > 0 {
            let from = kept.tail.len() - bytes;
            let mut again: Vec<u8> = kept.tail.range(from..).copied().collect();
            again.extend_from_slice(&self.out);
            self.out = again;
            let tail_lens: Vec<usize> = kept.tail_lens.iter().rev().take(n).copied().collect();
            for len in tail_lens {
                self.out_lens.push_front(len);
            }
            self.out_resends += n;
        }
        n + pending
    }

    /// Tick: notice a kept child that died while idle; respawn now only if it left lines unread.
    fn check_kept(&mut self, ctx: &ChannelCtx) {
        let Some(kept) = self.kept.as_ref() else {
            return;
        };
        match spawn::try_reap(kept.pid) {
            Reaped::Running => {}
            r => {
                let Some(kept) = self.kept.take() else { return };
                let resend = self.requeue_unread(&kept);
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

    /// Closes the kept child's stdin and waits (bounded by `output_timeout`) for it to exit;
    /// a child still running is set aside.
    fn retire_kept(&mut self, ctx: &ChannelCtx) {
        let Some(kept) = self.kept.take() else { return };
        let Kept { pid, stdin, .. } = kept;
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
        }
    }

    fn reopen(&mut self, ctx: &ChannelCtx) {
        if !self.keep_alive {
            return;
        }
        self.drain(ctx, true);
        let had_child = self.kept.is_some();
        self.retire_kept(ctx);
        // Falco respawns at reopen; a channel that never started a child starts at its first alert.
        if had_child {
            self.quick_deaths = 0;
            self.next_spawn = None;
            self.start_kept(ctx);
        }
    }

    fn tick(&mut self, ctx: &ChannelCtx) {
        self.reap_lingering(ctx);
        if self.keep_alive {
            self.check_kept(ctx);
            if !self.out_lens.is_empty() && !ctx.buffered {
                self.drain(ctx, false);
            }
        }
        self.log_limit.flush(ctx);
    }

    fn next_wake(&self) -> Option<Instant> {
        // Lines waiting for a respawn come back when the backoff ends.
        if self.out_lens.is_empty() {
            None
        } else {
            self.next_spawn
        }
    }

    fn held(&self) -> usize {
        let lines = self.out_lens.len() - self.out_resends;
        lines + self.lingering.iter().filter(|l| l.owes_line).count()
    }

    fn close(&mut self, ctx: &ChannelCtx) {
        if self.keep_alive {
            self.drain(ctx, true);
            self.retire_kept(ctx);
        }
        self.reap_lingering(ctx);
        self.stop_lingering(ctx);
        self.log_limit.flush(ctx);
    }
}
