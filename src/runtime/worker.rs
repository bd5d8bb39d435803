//! One worker thread per channel: takes what the fan-out thread queued (batches, then flush and
//! close requests behind them) and carries it out in that order; reopen and abort, which cannot
//! wait in the queue, are flags it checks on every step.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::alert::Alert;
use crate::batch::{Batch, BatchPool};
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

/// What the handle, the fan-out thread, the watchdog and a channel's worker share. Flush and
/// close are not here: they travel in [`Queue`] behind the work they follow. Only what must
/// work from a signal handler (reopen) or past close's deadline (abort) is a flag.
pub struct ChannelShared {
    name: &'static str,
    written_by: WrittenBy,
    queue: Queue,
    stats: Arc<ChannelStats>,
    progress: Arc<Progress>,
    /// Set by `reopen` (async-signal-safe), taken by the worker.
    reopen_requested: AtomicBool,
    /// Close's deadline passed: stop, discard and count what is left. Shared with the
    /// channel's [`ChannelCtx`], so that a channel blocked in a retry gives up too.
    aborting: Arc<AtomicBool>,
    /// The last flush generation the channel has carried out (flushed, holding nothing).
    flushed: AtomicU64,
    /// The worker has closed the channel (or was abandoned by close).
    finished: AtomicBool,
    /// Milliseconds since `epoch` + 1 when the worker entered a channel call; 0 when idle.
    busy_since_ms: AtomicU64,
    /// The channel call in progress runs on the fan-out thread.
    busy_on_fanout_thread: AtomicBool,
    epoch: Instant,
}

impl ChannelShared {
    pub fn new(
        name: &'static str,
        written_by: WrittenBy,
        queue: Queue,
        progress: Arc<Progress>,
        epoch: Instant,
    ) -> ChannelShared {
        ChannelShared {
            name,
            written_by,
            queue,
            stats: Arc::new(ChannelStats::default()),
            progress,
            reopen_requested: AtomicBool::new(false),
            aborting: Arc::new(AtomicBool::new(false)),
            flushed: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            busy_since_ms: AtomicU64::new(0),
            busy_on_fanout_thread: AtomicBool::new(false),
            epoch,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn stats(&self) -> &Arc<ChannelStats> {
        &self.stats
    }

    /// Wakes whoever waits in `flush` or `close` (cheap when nobody does).
    pub fn notify_progress(&self) {
        self.progress.notify();
    }

    /// The abort flag, for the channel's [`ChannelCtx::aborting`].
    pub fn aborting_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.aborting)
    }

    /// Queues a batch the fan-out thread formatted; wakes the worker unless the fan-out thread
    /// may write the channel itself ([`WrittenBy::wake_per_batch`]).
    pub fn queue_work(&self, work: Work) {
        self.queue.push(work, self.written_by.wake_per_batch());
    }

    /// Queues a request ([`Work::Flush`], [`Work::Close`]) behind everything queued so far,
    /// and wakes the worker.
    pub fn queue_request(&self, request: Work) {
        self.queue.push(request, true);
    }

    /// Lines queued, not yet taken by the worker.
    pub fn queued_lines(&self) -> usize {
        self.queue.lines()
    }

    /// Wakes the worker if it sleeps (for a batch queued by [`ChannelShared::queue_work`]
    /// without a wake-up).
    pub fn wake_if_sleeping(&self) {
        self.queue.wake_if_sleeping();
    }

    /// Asks the worker to reopen the channel before it writes anything it has not taken yet.
    /// Async-signal-safe: an atomic store and one write(2).
    pub fn request_reopen(&self) {
        self.reopen_requested.store(true, Ordering::Release);
        self.queue.waker.wake();
    }

    fn take_reopen_request(&self) -> bool {
        self.reopen_requested.swap(false, Ordering::AcqRel)
    }

    /// Close's deadline passed: the worker discards (and counts) what is left, closes the
    /// channel and finishes; a retrying channel gives up.
    pub fn abort(&self) {
        self.aborting.store(true, Ordering::Release);
        self.queue.waker.wake();
    }

    pub fn is_aborting(&self) -> bool {
        self.aborting.load(Ordering::Acquire)
    }

    /// The worker has carried out flush `generation` (or a later one).
    pub fn has_flushed(&self, generation: u64) -> bool {
        self.flushed.load(Ordering::Acquire) >= generation
    }

    fn mark_flushed(&self, generation: u64) {
        self.flushed.store(generation, Ordering::Release);
        self.progress.notify();
    }

    /// The channel is closed, or its worker was abandoned by close.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    fn mark_finished(&self) {
        self.finished.store(true, Ordering::Release);
        self.progress.notify();
    }

    /// Milliseconds since the handle started, + 1 (0 is "idle" for [`Self::busy_since_ms`]).
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// When (in [`Self::now_ms`]'s clock) the channel call in progress began; `None` when idle.
    pub fn busy_since_ms(&self) -> Option<u64> {
        Some(self.busy_since_ms.load(Ordering::Acquire)).filter(|&since| since != 0)
    }

    /// The channel call in progress runs on the fan-out thread (so every channel waits for it).
    pub fn is_busy_on_fanout_thread(&self) -> bool {
        self.busy_on_fanout_thread.load(Ordering::Acquire)
    }

    /// A channel call begins (`on_fanout_thread`: the fan-out thread makes it), for the watchdog.
    fn mark_busy(&self, on_fanout_thread: bool) {
        self.busy_on_fanout_thread
            .store(on_fanout_thread, Ordering::Release);
        self.busy_since_ms.store(self.now_ms(), Ordering::Release);
    }

    fn mark_idle(&self) {
        self.busy_since_ms.store(0, Ordering::Release);
    }

    /// Everything enqueued so far has been delivered, failed or discarded.
    pub fn settled_up_to(&self, enqueued: u64) -> bool {
        let s = self.stats.snapshot();
        s.delivered + s.failed + s.discarded >= enqueued
    }

    /// Moves whatever is still queued out and counts it as discarded.
    pub fn discard_queued(&self) -> u64 {
        let mut rest = VecDeque::new();
        self.queue.drain_into(&mut rest);
        let n = rest.iter().map(|b| b.len() as u64).sum();
        ChannelStats::add(&self.stats.discarded, n);
        n
    }

    /// Sleeps until `until`, or until the queue gets work, a reopen or an abort.
    fn sleep_until(&self, until: Instant) {
        let now = Instant::now();
        if until > now {
            self.queue.sleep(until - now, || {
                self.reopen_requested.load(Ordering::Acquire) || self.is_aborting()
            });
        }
    }
}

/// A channel and what its worker needs to drive it (see [`Worker::step`]).
pub struct Worker {
    shared: Arc<ChannelShared>,
    channel: Box<dyn Channel>,
    ctx: ChannelCtx,
    /// Where delivered batches go back for reuse by the fan-out thread.
    batches: Arc<BatchPool>,
    /// For a channel with a format of its own (it gets alerts, not lines).
    formatter: Formatter,
    /// Where the alerts it formatted go back for reuse by emit.
    alerts: Arc<AlertPool>,
    state: WorkerState,
    /// Being stepped by the fan-out thread (see [`Worker::step_on_fanout_thread`]).
    on_fanout_thread: bool,
}

/// What a worker carries from one [`Worker::step`] to the next.
struct WorkerState {
    pending: VecDeque<Work>,
    own_batch: Batch,
    last_tick: Instant,
    /// The last flush generation taken off the queue (done once the channel holds nothing).
    flushed_for: u64,
}

impl Default for WorkerState {
    fn default() -> Self {
        WorkerState {
            pending: VecDeque::new(),
            own_batch: Batch::default(),
            last_tick: Instant::now(),
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
        let shared = Arc::clone(&worker.lock().shared);
        loop {
            let step = worker.lock().step();
            match step {
                Step::Again => {}
                Step::Finished => break,
                Step::Idle(until) => shared.sleep_until(until),
            }
        }
    }

    /// Steps on the fan-out thread until there is nothing left to do now.
    pub fn step_on_fanout_thread(&mut self) {
        self.on_fanout_thread = true;
        while self.step() == Step::Again {}
        self.on_fanout_thread = false;
    }

    /// Does everything the channel has to do now: a due timer, a reopen, the queued work in
    /// its order (batches, flushes, close), the one-second tick. Never sleeps (a channel call
    /// may block in I/O). Runs on the worker's own thread, or on the fan-out thread for a
    /// channel that writes there (see `runtime/fanout.rs`).
    pub fn step(&mut self) -> Step {
        if self.shared.is_finished() {
            return Step::Finished;
        }
        self.run_timer_if_due();
        self.shared.queue.drain_into(&mut self.state.pending);
        // After the drain: an alert emitted after `reopen` returned goes to the reopened target.
        if self.shared.take_reopen_request() {
            self.reopen();
        }
        if self.shared.is_aborting() {
            return self.abort();
        }
        let had_work = !self.state.pending.is_empty();
        while let Some(work) = self.state.pending.pop_front() {
            // Close gave up: nothing more may be written once it has returned.
            if self.shared.is_aborting() {
                self.state.pending.push_front(work);
                return Step::Again;
            }
            self.handle(work);
        }
        self.report_flush_once_settled();
        self.tick_if_due();
        if self.ctx.is_closing() && self.close_once_settled() {
            return Step::Finished;
        }
        if had_work {
            Step::Again
        } else {
            Step::Idle(self.next_wake())
        }
    }

    /// Carries out one item of the queue.
    fn handle(&mut self, work: Work) {
        match work {
            Work::Lines(batch) => {
                self.busy(|w| w.channel.deliver(&batch, &w.ctx));
                self.batches.give_back(batch);
            }
            Work::Alerts(alerts) => self.deliver_own_format(alerts),
            Work::Flush(generation) => {
                self.busy(|w| w.channel.flush(&w.ctx));
                self.state.flushed_for = generation;
                self.report_flush_once_settled();
            }
            // Nothing follows it in the queue: the fan-out thread queued its last batch.
            Work::Close => self.ctx.closing.store(true, Ordering::Release),
        }
        self.shared.progress.notify();
    }

    /// Formats the alerts with the channel's own format, in batches, and delivers them.
    fn deliver_own_format(&mut self, mut alerts: Vec<Arc<Alert>>) {
        let mut own_batch = std::mem::take(&mut self.state.own_batch);
        let mut from = 0;
        while from < alerts.len() {
            from = self.format_own(&alerts, from, &mut own_batch);
            self.busy(|w| w.channel.deliver(&own_batch, &w.ctx));
        }
        self.state.own_batch = own_batch;
        self.alerts.give_back(&mut alerts);
    }

    /// A flush is done once the channel holds nothing unaccounted: a channel may settle lines
    /// out of order (a hung per-alert program), and a count alone would then let flush return
    /// before an earlier alert is settled. Checked right after the channel's flush (usually
    /// done then), and after every step until then (a retrying channel).
    fn report_flush_once_settled(&mut self) {
        let generation = self.state.flushed_for;
        if !self.shared.has_flushed(generation) && self.channel.held() == 0 {
            self.shared.mark_flushed(generation);
        }
    }

    /// The channel's own timer (a retry, a batch's deadline), when due.
    fn run_timer_if_due(&mut self) {
        if self
            .channel
            .next_wake()
            .is_some_and(|t| Instant::now() >= t)
        {
            self.busy(|w| w.channel.tick(&w.ctx));
            self.shared.progress.notify();
        }
    }

    /// Every [`TICK`]: flushes a buffered channel, and lets the channel do its periodic work.
    fn tick_if_due(&mut self) {
        if self.state.last_tick.elapsed() < TICK {
            return;
        }
        self.state.last_tick = Instant::now();
        self.busy(|w| {
            if w.ctx.buffered {
                w.channel.flush(&w.ctx);
            }
            w.channel.tick(&w.ctx);
        });
        self.shared.progress.notify();
    }

    fn reopen(&mut self) {
        self.busy(|w| {
            w.channel.flush(&w.ctx);
            w.channel.reopen(&w.ctx);
        });
    }

    /// After [`Work::Close`]: flushes, and closes the channel once it holds nothing; true when
    /// it did. Until then (a retrying channel) it is called again on every step, until the
    /// lines are settled or close's deadline aborts.
    fn close_once_settled(&mut self) -> bool {
        self.busy(|w| w.channel.flush(&w.ctx));
        if self.channel.held() != 0 {
            return false;
        }
        self.busy(|w| w.channel.close(&w.ctx));
        self.finish();
        true
    }

    /// Close's deadline passed: discards (and counts) what is queued, closes the channel.
    fn abort(&mut self) -> Step {
        let n: usize = self.state.pending.drain(..).map(|w| w.len()).sum();
        ChannelStats::add(&self.shared.stats.discarded, n as u64);
        self.shared.discard_queued();
        self.busy(|w| w.channel.close(&w.ctx));
        self.finish()
    }

    fn finish(&mut self) -> Step {
        self.shared.mark_finished();
        Step::Finished
    }

    /// The next one-second tick, or the channel's own timer if sooner.
    fn next_wake(&self) -> Instant {
        let tick = self.state.last_tick + TICK;
        self.channel.next_wake().map_or(tick, |t| t.min(tick))
    }

    /// Formats `alerts[from..]` with the channel's own format into `batch`, up to the batch
    /// bounds; returns where it stopped.
    fn format_own(&mut self, alerts: &[Arc<Alert>], from: usize, batch: &mut Batch) -> usize {
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
        self.shared.mark_busy(self.on_fanout_thread);
        f(self);
        self.shared.mark_idle();
    }
}

#[cfg(test)]
mod tests {
    //! Flush and close are carried out where they stand in the queue: a flush is done once what
    //! was queued before it is delivered (not what came after), close once everything is.

    use super::*;
    use crate::alert::Priority;
    use crate::date::LocalZone;
    use crate::format::{Extras, FormatOptions};
    use crate::log::Logger;

    /// What the channel saw, in order.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        /// A batch of this many lines, and whether flush 1 was already reported done.
        Deliver { lines: usize, flush_1_done: bool },
        /// The channel's flush, with the lines delivered so far.
        Flush { delivered: u64 },
        /// The channel's close, with the lines delivered so far.
        Close { delivered: u64 },
    }

    /// A buffered channel: holds what it is given until its flush delivers it, except `keep`
    /// lines, which it holds for a retry (its timer delivers them once `keep` is 0).
    struct Buffered {
        shared: Arc<ChannelShared>,
        buffered: usize,
        keep: Arc<AtomicUsize>,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl Channel for Buffered {
        fn deliver(&mut self, batch: &Batch, _ctx: &ChannelCtx) {
            self.buffered += batch.len();
            self.seen.lock().push(Seen::Deliver {
                lines: batch.len(),
                flush_1_done: self.shared.has_flushed(1),
            });
        }
        fn flush(&mut self, ctx: &ChannelCtx) {
            let keep = self.keep.load(Ordering::SeqCst).min(self.buffered);
            ctx.delivered(self.buffered - keep);
            self.buffered = keep;
            let delivered = ctx.stats.snapshot().delivered;
            self.seen.lock().push(Seen::Flush { delivered });
        }
        fn held(&self) -> usize {
            self.buffered
        }
        fn next_wake(&self) -> Option<Instant> {
            let retry_due = self.buffered > 0 && self.keep.load(Ordering::SeqCst) == 0;
            retry_due.then(Instant::now)
        }
        fn tick(&mut self, ctx: &ChannelCtx) {
            if self.next_wake().is_some() {
                self.flush(ctx);
            }
        }
        fn close(&mut self, ctx: &ChannelCtx) {
            let delivered = ctx.stats.snapshot().delivered;
            self.seen.lock().push(Seen::Close { delivered });
        }
    }

    fn lines(n: usize) -> Work {
        let mut b = Batch::default();
        for i in 0..n {
            b.push_line(format!("line {i}").as_bytes(), Priority::Error, i as u64);
        }
        Work::Lines(Arc::new(b))
    }

    /// A worker on a [`Buffered`] channel, and the channel's `keep`.
    fn worker(seen: &Arc<Mutex<Vec<Seen>>>) -> (Worker, Arc<AtomicUsize>) {
        let shared = Arc::new(ChannelShared::new(
            "test",
            WrittenBy::OwnWorker,
            Queue::new().unwrap(),
            Arc::new(Progress::default()),
            Instant::now(),
        ));
        let ctx = ChannelCtx {
            name: "test",
            log: Logger::stderr(),
            stats: Arc::clone(shared.stats()),
            buffered: true,
            output_timeout: Duration::from_secs(2),
            closing: Arc::new(AtomicBool::new(false)),
            aborting: shared.aborting_flag(),
        };
        let keep = Arc::new(AtomicUsize::new(0));
        let channel = Buffered {
            shared: Arc::clone(&shared),
            buffered: 0,
            keep: Arc::clone(&keep),
            seen: Arc::clone(seen),
        };
        let options = FormatOptions {
            json: false,
            iso8601: false,
            include_output: true,
            include_tags: true,
            include_message: false,
            include_output_fields: true,
            hostname: "h".to_string(),
            extras: Extras::default(),
        };
        let worker = Worker::new(
            shared,
            Box::new(channel),
            ctx,
            Arc::new(BatchPool::default()),
            Formatter::new(options, LocalZone::utc()),
            Arc::new(AlertPool::default()),
        );
        (worker, keep)
    }

    #[test]
    fn a_flush_is_done_after_what_was_queued_before_it_and_close_after_everything() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut w, _) = worker(&seen);
        let shared = Arc::clone(&w.shared);
        // All of it queued before the worker's first step: only the order in the queue tells
        // the flush where it stands.
        shared.queue_work(lines(2));
        shared.queue_work(lines(1));
        shared.queue_request(Work::Flush(1));
        shared.queue_work(lines(3));
        shared.queue_request(Work::Close);
        assert_eq!(w.step(), Step::Finished);
        assert_eq!(
            *seen.lock(),
            [
                Seen::Deliver {
                    lines: 2,
                    flush_1_done: false
                },
                Seen::Deliver {
                    lines: 1,
                    flush_1_done: false
                },
                // The flush delivers exactly the first group, and is reported done at once.
                Seen::Flush { delivered: 3 },
                Seen::Deliver {
                    lines: 3,
                    flush_1_done: true
                },
                // Close flushes the rest, then closes.
                Seen::Flush { delivered: 6 },
                Seen::Close { delivered: 6 },
            ]
        );
        assert!(shared.has_flushed(1) && !shared.has_flushed(2));
        assert!(shared.is_finished());
        assert_eq!(w.step(), Step::Finished);
    }

    #[test]
    fn a_flush_waits_for_lines_the_channel_still_holds() {
        // A line the channel could not settle at its flush (held for a retry): the flush is
        // done only once the retry settled it.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (mut w, keep) = worker(&seen);
        let shared = Arc::clone(&w.shared);
        keep.store(1, Ordering::SeqCst);
        shared.queue_work(lines(2));
        shared.queue_request(Work::Flush(1));
        assert_eq!(w.step(), Step::Again);
        assert_eq!(w.step(), Step::Idle(w.next_wake()));
        assert!(!shared.has_flushed(1), "done while a line is held");
        keep.store(0, Ordering::SeqCst);
        w.step();
        assert!(shared.has_flushed(1));
        assert_eq!(shared.stats().snapshot().delivered, 2);
    }
}
