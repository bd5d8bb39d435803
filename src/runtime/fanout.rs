//! The fan-out thread: takes every alert off the intake on a timer, formats each one once, and
//! hands the formatted batch to every channel that takes it (shared, not copied, when every
//! channel takes every line).
//!
//! Wake-ups. Engine threads never wake anything in steady state: while alerts keep coming (one
//! at least every [`LINGER`]), this thread wakes every `max_delay` and takes what arrived. So
//! an alert waits at most `max_delay` (plus the time to format what is ahead of it) before its
//! channel's worker is woken. A producer wakes this thread at once only when `max_delay` is 0,
//! when the intake reaches its high-water mark (a burst), or after [`LINGER`] without alerts
//! (then this thread sleeps until the next alert). `flush` and `close` wake it at once; it takes
//! them with the alerts emitted before them and queues them to every channel behind those
//! alerts' batches (`Work::Flush`, `Work::Close`). `reopen` goes straight to the workers.
//!
//! Channels that only write locally (file, stdout; [`crate::outputs::Channel::writes_locally`])
//! are written by this thread itself, right after formatting, when nothing else waits to be
//! formatted and their worker is idle: at the rates real nodes see, one wake-up then serves
//! them all, as Falco's single output thread does. In a burst their own worker threads write,
//! so that writing overlaps formatting.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::batch::{Batch, BatchPool};
use crate::format::Formatter;
use crate::runtime::alert_pool::AlertPool;
use crate::runtime::intake::{Entry, Intake, Requests, AWAKE, IDLE, TICKING};
use crate::runtime::queue::Work;
use crate::runtime::worker::{ChannelShared, Worker};
use crate::stats::ChannelStats;
use crate::sys;

/// How long the thread keeps ticking after the last alert before it sleeps until woken.
pub const LINGER: Duration = Duration::from_secs(10);
/// When to hand memory back after a burst: once [`TRIM_AFTER_BYTES`] were formatted since the
/// last time, every channel is done with them, and again [`TRIM_QUIET`] later (the workers
/// free the last batches after counting them).
#[derive(Default)]
struct Trim {
    formatted: u64,
    due_at: Option<Instant>,
}

impl Trim {
    /// True (and starts counting again) when the memory is to be handed back now.
    fn due(&mut self, all_delivered: impl Fn() -> bool) -> bool {
        if self.formatted < TRIM_AFTER_BYTES || !all_delivered() {
            return false;
        }
        let due_at = *self
            .due_at
            .get_or_insert_with(|| Instant::now() + TRIM_QUIET);
        if Instant::now() < due_at {
            return false;
        }
        *self = Trim::default();
        true
    }
}

/// After this many bytes formatted since the last trim, memory is handed back to the system
/// (`malloc_trim`) once every queue is empty again.
const TRIM_AFTER_BYTES: u64 = 64 << 20;
/// How long after everything was delivered the trim waits (for the workers to free).
const TRIM_QUIET: Duration = Duration::from_millis(200);

pub struct Fanout {
    pub intake: Arc<Intake>,
    pub channels: Vec<Arc<ChannelShared>>,
    /// Per channel: it formats alerts itself ([`crate::outputs::Channel::own_format`]).
    pub own_format: Vec<bool>,
    pub formatter: Formatter,
    pub alerts: Arc<AlertPool>,
    pub batches: Arc<BatchPool>,
    pub max_delay: Duration,
    /// The channels this thread may write itself, with their workers (see the module
    /// documentation).
    pub local: Vec<(Arc<ChannelShared>, Arc<Mutex<Worker>>)>,
}

impl Fanout {
    pub fn run(mut self) {
        let mut entries: Vec<Entry> = Vec::new();
        let mut passed_on = Requests::default();
        let mut last_alert = Instant::now();
        let mut trim = Trim::default();
        loop {
            let requests = self.intake.take(&mut entries);
            if !entries.is_empty() {
                last_alert = Instant::now();
                trim.formatted += self.format_and_queue(&mut entries);
            }
            if self.intake.is_aborting() {
                self.discard_the_rest(&mut entries);
                break;
            }
            // Behind every batch of what was emitted before the request.
            if requests.flush > passed_on.flush {
                self.queue_request_everywhere(|| Work::Flush(requests.flush));
            }
            if requests.close {
                self.queue_request_everywhere(|| Work::Close);
                break;
            }
            passed_on = requests;
            if self.intake.len() != 0 {
                continue;
            }
            if trim.due(|| self.all_delivered()) {
                self.give_memory_back();
            }
            self.sleep(last_alert, passed_on);
        }
        self.intake.mark_finished();
        if let Some(ch) = self.channels.first() {
            ch.notify_progress();
        }
    }

    fn queue_request_everywhere(&self, request: impl Fn() -> Work) {
        for ch in &self.channels {
            ch.queue_request(request());
        }
    }

    /// Close gave up: what [`Fanout::format_and_queue`] did not queue, and what is still in the
    /// intake, is counted discarded.
    fn discard_the_rest(&self, entries: &mut Vec<Entry>) {
        discard(&self.intake, &self.channels, entries);
        self.intake.take_left(entries);
        discard(&self.intake, &self.channels, entries);
    }

    /// Writes the local channels' new batches here when nothing else waits to be formatted
    /// (so one wake-up serves them all at low rates), or wakes their own threads (so that, in
    /// a burst, writing overlaps formatting, and a worker busy in a write is never waited for).
    /// `more`: alerts of the current take wait to be formatted.
    fn write_or_wake_local(&self, more: bool) {
        let idle = !more && self.intake.len() == 0;
        for (ch, worker) in &self.local {
            if ch.queued_lines() == 0 {
                continue;
            }
            match worker.try_lock().filter(|_| idle) {
                Some(mut w) => w.step_on_fanout_thread(),
                None => ch.wake_if_sleeping(),
            }
        }
    }

    /// Sleeps `max_delay` while alerts keep coming, or until woken after [`LINGER`] of silence.
    fn sleep(&self, last_alert: Instant, passed_on: Requests) {
        let intake = &self.intake;
        let idle = last_alert.elapsed() >= LINGER || self.max_delay.is_zero();
        let (state, timeout) = if idle {
            // Still wakes once a second: cheap, and a lost wake-up could only delay by that.
            (IDLE, Duration::from_secs(1))
        } else {
            (TICKING, self.max_delay)
        };
        intake.sleep_state.store(state, Ordering::SeqCst);
        // Re-checked after announcing the state (see `Intake::push`).
        if intake.len() == 0 && !intake.has_requests_after(passed_on) {
            intake.waker.wait(timeout);
        }
        intake.sleep_state.store(AWAKE, Ordering::SeqCst);
    }

    /// Formats every entry once into batches, queues each batch for the channels that take its
    /// lines and the alerts themselves for the channels with a format of their own, gives the
    /// alerts back to the pool, then writes the local channels or wakes their workers. Returns
    /// the bytes formatted. Leaves `entries` empty unless close gave up
    /// meanwhile (then the rest is left for [`Fanout::discard`]).
    fn format_and_queue(&mut self, entries: &mut Vec<Entry>) -> u64 {
        let mut formatted = 0u64;
        let mut done = 0;
        // Per line of the batch being built: the channels that take it (bit i: channel i).
        let mut takers: Vec<u64> = Vec::new();
        let n = self.channels.len();
        let own: u64 = (0..n).filter(|&i| self.own_format[i]).map(|i| 1 << i).sum();
        let all: u64 = u64::MAX.checked_shr(64 - n as u32).unwrap_or(0);
        let line_takers = all & !own;
        while done < entries.len() {
            if self.intake.is_aborting() {
                break;
            }
            let start = done;
            let mut batch = self.batches.take();
            let mut alerts: Vec<Vec<Arc<crate::alert::Alert>>> = vec![Vec::new(); n];
            takers.clear();
            let mut everyone = true;
            for entry in &mut entries[done..] {
                let mut mask = 0u64;
                for i in 0..n {
                    if self.intake.admits(i, entry) {
                        mask |= 1 << i;
                    }
                }
                done += 1;
                // Checked (UTF-8) here, not on the engine thread.
                let a = entry.alert();
                for (i, list) in alerts.iter_mut().enumerate() {
                    if mask & own & (1 << i) != 0 {
                        list.push(Arc::clone(a));
                    }
                }
                if mask & line_takers == 0 {
                    continue;
                }
                everyone &= mask & line_takers == line_takers;
                let formatter = &mut self.formatter;
                batch.push_with(a.priority, a.time_ns, |bytes| {
                    formatter.write_line(a, bytes)
                });
                takers.push(mask);
                if batch.is_full() {
                    break;
                }
            }
            formatted += batch.bytes.len() as u64;
            self.hand_over(batch, &takers, everyone, line_takers);
            for (ch, list) in self.channels.iter().zip(alerts) {
                if !list.is_empty() {
                    ch.queue_work(Work::Alerts(list));
                }
            }
            // Formatted: the alerts no channel holds go back to the engine threads for reuse.
            let mut spent: Vec<_> = entries[start..done]
                .iter_mut()
                .filter_map(Entry::take_alert)
                .collect();
            self.alerts.give_back(&mut spent);
            // In a long take (a burst) the file/stdout worker writes this batch meanwhile and
            // gives it back, instead of every batch of the take waiting (each then a new one).
            self.write_or_wake_local(done < entries.len());
        }
        entries.drain(..done);
        formatted
    }

    /// Queues `batch` for every channel that takes lines of it (`line_takers`: the channels
    /// that take Falco's line at all).
    fn hand_over(&self, batch: Batch, takers: &[u64], everyone: bool, line_takers: u64) {
        if batch.is_empty() {
            self.batches.give_back(Arc::new(batch));
            return;
        }
        let takes_lines = |i: usize| line_takers & (1 << i) != 0;
        if everyone {
            let shared = Arc::new(batch);
            for (i, ch) in self.channels.iter().enumerate() {
                if takes_lines(i) {
                    ch.queue_work(Work::Lines(Arc::clone(&shared)));
                }
            }
            return;
        }
        // Some channel filters (min_priority) or dropped lines: each gets its own copy.
        for (i, ch) in self.channels.iter().enumerate() {
            if !takes_lines(i) {
                continue;
            }
            let mut own = self.batches.take();
            for (l, mask) in takers.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    let line = &batch.lines[l];
                    own.push_line(batch.line(l), line.priority, line.time_ns);
                }
            }
            if own.is_empty() {
                self.batches.give_back(Arc::new(own));
            } else {
                ch.queue_work(Work::Lines(Arc::new(own)));
            }
        }
        self.batches.give_back(Arc::new(batch));
    }

    /// Every alert counted so far has been delivered, failed or discarded.
    fn all_delivered(&self) -> bool {
        let counts = self.intake.counts();
        self.channels
            .iter()
            .zip(&counts.enqueued)
            .all(|(ch, enqueued)| ch.settled_up_to(*enqueued))
    }

    /// After a burst: frees the pools and the intake's grown vector, and asks glibc to return
    /// free memory to the system (it otherwise keeps it for the process's lifetime).
    fn give_memory_back(&self) {
        self.batches.clear();
        self.intake.shrink();
        sys::release_free_memory();
    }
}

/// Counts entries that will never be handed over as discarded, for each channel that admitted
/// them (by the fan-out thread when close gave up, or by close itself when the fan-out thread
/// is stuck in a local channel's write).
pub fn discard(intake: &Intake, channels: &[Arc<ChannelShared>], entries: &mut Vec<Entry>) {
    for (i, ch) in channels.iter().enumerate() {
        let n = entries.iter().filter(|e| intake.admits(i, e)).count();
        ChannelStats::add(&ch.stats().discarded, n as u64);
    }
    entries.clear();
}
