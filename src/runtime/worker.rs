//! One worker thread per channel: takes the formatted batches the fan-out thread queued,
//! delivers them, and carries out reopen / flush / close requests in the order that keeps the
//! contract's promises.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::batch::Batch;
use crate::batch::BatchPool;
use crate::format::Formatter;
use crate::outputs::{Channel, ChannelCtx};
use crate::runtime::alert_pool::AlertPool;
use crate::runtime::queue::{Queue, Work};
use crate::stats::ChannelStats;

/// Buffered channels are flushed at least this often; idle workers tick this often.
const TICK: Duration = Duration::from_secs(1);

/// Lets `flush` and `close` wait for workers without polling.
#[derive(Default)]
pub struct Progress {
    lock: Mutex<()>,
    cond: Condvar,
    waiters: AtomicUsize,
}

impl Progress {
    /// Wakes waiters, if any (cheap when nobody waits).
    pub fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock();
            self.cond.notify_all();
        }
    }

    /// Waits until `done()` or the deadline; true when done.
    pub fn wait_until(&self, deadline: Instant, done: impl Fn() -> bool) -> bool {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock();
        let ok = loop {
            if done() {
                break true;
            }
            // Re-check at least every 50 ms: a worker that exits or a counter bumped by the
            // closing thread does not always notify.
            let step = (Instant::now() + Duration::from_millis(50)).min(deadline);
            if self.cond.wait_until(&mut guard, step).timed_out() && Instant::now() >= deadline {
                break done();
            }
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        ok
    }
}

/// Who writes a channel, decided at init.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrittenBy {
    /// Its own worker thread only: the channels that wait for a peer (syslog, program, HTTP,
    /// OTLP, NATS), and every channel under `outputs_queue.thread_per_channel: true`.
    OwnWorker,
    /// The fan-out thread, right after formatting, when nothing else waits to be formatted and
    /// the worker is idle; its own worker otherwise (in a burst): the channels that only write
    /// locally (file, stdout; [`Channel::writes_locally`]). See `runtime/fanout.rs`.
    FanoutWhenIdle,
}

impl WrittenBy {
    /// `writes_locally`: [`Channel::writes_locally`]; `thread_per_channel`: the
    /// `outputs_queue` key.
    pub fn new(writes_locally: bool, thread_per_channel: bool) -> WrittenBy {
        if writes_locally && !thread_per_channel {
            WrittenBy::FanoutWhenIdle
        } else {
            WrittenBy::OwnWorker
        }
    }

    /// A batch queued for the channel wakes its worker (otherwise the fan-out thread writes it
    /// or wakes the worker once it has queued everything it took).
    pub fn wake_per_batch(self) -> bool {
        self == WrittenBy::OwnWorker
    }
}

/// What the handle and the channel's worker share.
pub struct ChannelShared {
    pub name: &'static str,
    pub written_by: WrittenBy,
    /// The channel call in progress (see `busy_since_ms`) runs on the fan-out thread.
    pub busy_on_fanout_thread: AtomicBool,
    pub queue: Queue,
    pub stats: Arc<ChannelStats>,
    pub reopen_requested: AtomicBool,
    pub flush_requested: AtomicU64,
    pub flush_done: AtomicU64,
    pub closing: Arc<AtomicBool>,
    pub aborting: Arc<AtomicBool>,
    /// Milliseconds since `epoch` + 1 when the worker entered a channel call; 0 when idle.
    pub busy_since_ms: AtomicU64,
    pub finished: AtomicBool,
    pub progress: Arc<Progress>,
    pub epoch: Instant,
}

impl ChannelShared {
    /// Everything enqueued so far has been delivered, failed or discarded.
    pub fn settled_up_to(&self, enqueued: u64) -> bool {
        let s = self.stats.snapshot();
        s.delivered + s.failed + s.discarded >= enqueued
    }

    /// A request the worker has not acted on yet (`closing_seen`: close was already handled
    /// once, the worker is only waiting for a retrying channel; `flushed_for`: the last flush
    /// generation the channel was flushed for).
    fn has_requests(&self, closing_seen: bool, flushed_for: u64) -> bool {
        self.reopen_requested.load(Ordering::Acquire)
            || self.flush_requested.load(Ordering::Acquire) > flushed_for
            || (self.closing.load(Ordering::Acquire) && !closing_seen)
            || self.aborting.load(Ordering::Acquire)
    }

    /// Moves whatever is still queued out and counts it as discarded.
    pub fn discard_queued(&self) -> u64 {
        let mut rest = VecDeque::new();
        self.queue.drain_into(&mut rest);
        let n = rest.iter().map(|b| b.len() as u64).sum();
        ChannelStats::add(&self.stats.discarded, n);
        n
    }
}

pub struct Worker {
    pub shared: Arc<ChannelShared>,
    pub channel: Box<dyn Channel>,
    pub ctx: ChannelCtx,
    /// Where delivered batches go back for reuse by the fan-out thread.
    pub batches: Arc<BatchPool>,
    /// For a channel with a format of its own (it gets alerts, not lines).
    pub formatter: Formatter,
    /// Where the alerts it formatted go back for reuse by emit.
    pub alerts: Arc<AlertPool>,
    state: WorkerState,
    /// Being stepped by the fan-out thread (see [`Worker::step_on_fanout_thread`]).
    on_fanout_thread: bool,
}

/// What a worker carries from one [`Worker::step`] to the next.
struct WorkerState {
    pending: VecDeque<Work>,
    own_batch: Batch,
    last_tick: Instant,
    /// Close was handled once; the worker only waits for a retrying channel.
    closing_seen: bool,
    /// The last flush generation the channel was flushed for.
    flushed_for: u64,
}

impl Default for WorkerState {
    fn default() -> Self {
        WorkerState {
            pending: VecDeque::new(),
            own_batch: Batch::default(),
            last_tick: Instant::now(),
            closing_seen: false,
            flushed_for: 0,
        }
    }
}

/// What a worker needs after one [`Worker::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// It had work: step again at once (more may have come meanwhile).
    Again,
    /// Nothing to do until this instant or a wake-up.
    Idle(Instant),
    /// The channel is closed (or abandoned by close); never step again.
    Finished,
}

impl Worker {
    pub fn new(
        shared: Arc<ChannelShared>,
        channel: Box<dyn Channel>,
        ctx: ChannelCtx,
        batches: Arc<BatchPool>,
        formatter: Formatter,
        alerts: Arc<AlertPool>,
    ) -> Worker {
        Worker {
            shared,
            channel,
            ctx,
            batches,
            formatter,
            alerts,
            state: WorkerState::default(),
            on_fanout_thread: false,
        }
    }

    /// The worker's own thread: steps, and sleeps on its queue in between. The lock is shared
    /// with the fan-out thread, which may step a local channel's worker itself (it only ever
    /// tries the lock, so a worker blocked in a write never holds it up).
    pub fn run(worker: Arc<Mutex<Worker>>) {
        let sh = Arc::clone(&worker.lock().shared);
        loop {
            let (step, closing_seen, flushed_for) = {
                let mut w = worker.lock();
                (w.step(), w.state.closing_seen, w.state.flushed_for)
            };
            match step {
                Step::Again => {}
                Step::Finished => break,
                Step::Idle(until) => {
                    let now = Instant::now();
                    if until > now {
                        sh.queue
                            .sleep(until - now, || sh.has_requests(closing_seen, flushed_for));
                    }
                }
            }
        }
    }

    /// Steps on the fan-out thread until there is nothing left to do now.
    pub fn step_on_fanout_thread(&mut self) {
        self.on_fanout_thread = true;
        while self.step() == Step::Again {}
        self.on_fanout_thread = false;
    }

    /// Does everything the channel has to do now: a due timer, a reopen, the queued batches,
    /// a flush, the one-second tick, close. Never sleeps (a channel call may block in I/O).
    /// Runs on the worker's own thread, or on the fan-out thread for a channel that writes
    /// there (see `runtime/fanout.rs`).
    pub fn step(&mut self) -> Step {
        let sh = Arc::clone(&self.shared);
        if sh.finished.load(Ordering::Acquire) {
            return Step::Finished;
        }
        if let Some(t) = self.channel.next_wake() {
            if Instant::now() >= t {
                self.busy(|w| w.channel.tick(&w.ctx));
                sh.progress.notify();
            }
        }
        // Read the flush generation before draining: everything the fan-out thread queued
        // before it forwarded the flush request is then in `pending`.
        let flush_gen = sh.flush_requested.load(Ordering::Acquire);
        sh.queue.drain_into(&mut self.state.pending);
        // Checked after draining: an alert emitted after `reopen` returned cannot be in
        // `pending` without this flag being visible, so it goes to the reopened target.
        if sh.reopen_requested.swap(false, Ordering::AcqRel) {
            self.busy(|w| {
                w.channel.flush(&w.ctx);
                w.channel.reopen(&w.ctx);
            });
        }
        if sh.aborting.load(Ordering::Acquire) {
            let n: usize = self.state.pending.drain(..).map(|b| b.len()).sum();
            ChannelStats::add(&sh.stats.discarded, n as u64);
            sh.discard_queued();
            self.busy(|w| w.channel.close(&w.ctx));
            return self.finish();
        }
        let had_work = !self.state.pending.is_empty();
        while let Some(work) = self.state.pending.pop_front() {
            // Close gave up: nothing more may be written once it has returned.
            if sh.aborting.load(Ordering::Acquire) {
                self.state.pending.push_front(work);
                return Step::Again;
            }
            match work {
                Work::Lines(batch) => {
                    self.busy(|w| w.channel.deliver(&batch, &w.ctx));
                    self.batches.give_back(batch);
                }
                Work::Alerts(mut alerts) => {
                    let mut own_batch = std::mem::take(&mut self.state.own_batch);
                    let mut from = 0;
                    while from < alerts.len() {
                        from = self.format_own(&alerts, from, &mut own_batch);
                        self.busy(|w| w.channel.deliver(&own_batch, &w.ctx));
                    }
                    self.state.own_batch = own_batch;
                    self.alerts.give_back(&mut alerts);
                }
            }
            sh.progress.notify();
        }
        if flush_gen > self.state.flushed_for {
            self.busy(|w| w.channel.flush(&w.ctx));
            self.state.flushed_for = flush_gen;
        }
        // A flush is done once the channel holds nothing unaccounted: a channel may settle
        // lines out of order (a hung per-alert program), and a count alone would then let
        // flush return before an earlier alert is settled.
        let flushed_for = self.state.flushed_for;
        if flushed_for > sh.flush_done.load(Ordering::Acquire) && self.channel.held() == 0 {
            sh.flush_done.store(flushed_for, Ordering::Release);
            sh.progress.notify();
        }
        if self.state.last_tick.elapsed() >= TICK {
            self.state.last_tick = Instant::now();
            self.busy(|w| {
                if w.ctx.buffered {
                    w.channel.flush(&w.ctx);
                }
                w.channel.tick(&w.ctx);
            });
            sh.progress.notify();
        }
        // `closing` is set by the fan-out thread once it has queued its last batch.
        if sh.closing.load(Ordering::Acquire) && sh.queue.is_empty() {
            self.busy(|w| w.channel.flush(&w.ctx));
            if self.channel.held() == 0 {
                self.busy(|w| w.channel.close(&w.ctx));
                return self.finish();
            }
            self.state.closing_seen = true;
        }
        if had_work {
            return Step::Again;
        }
        let mut wake_at = self.state.last_tick + TICK;
        if let Some(t) = self.channel.next_wake() {
            wake_at = wake_at.min(t);
        }
        Step::Idle(wake_at)
    }

    fn finish(&mut self) -> Step {
        self.shared.finished.store(true, Ordering::Release);
        self.shared.progress.notify();
        Step::Finished
    }

    /// Formats `alerts[from..]` with the channel's own format into `batch`, up to the batch
    /// bounds; returns where it stopped.
    fn format_own(
        &mut self,
        alerts: &[Arc<crate::alert::Alert>],
        from: usize,
        batch: &mut Batch,
    ) -> usize {
        batch.clear();
        let mut i = from;
        while i < alerts.len() {
            let alert = &alerts[i];
            i += 1;
            let (channel, formatter) = (&mut self.channel, &mut self.formatter);
            batch.push_with(alert.priority, alert.time_ns, |bytes| {
                channel.format(formatter, alert, bytes)
            });
            if batch.is_full() {
                break;
            }
        }
        i
    }

    /// Runs a channel call with the watchdog's busy marker set.
    fn busy(&mut self, f: impl FnOnce(&mut Worker)) {
        let since = self.shared.epoch.elapsed().as_millis() as u64 + 1;
        self.shared
            .busy_on_fanout_thread
            .store(self.on_fanout_thread, Ordering::Release);
        self.shared.busy_since_ms.store(since, Ordering::Release);
        f(self);
        self.shared.busy_since_ms.store(0, Ordering::Release);
    }
}
