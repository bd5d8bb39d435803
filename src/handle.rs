//! The handle's lifecycle: opens the channels and starts the fan-out thread (`runtime/fanout.rs`) and
//! the workers; `emit` counts each alert for the channels that take it and appends it to the
//! one intake; flush and close go through the fan-out thread, which queues them to every worker
//! behind the alerts emitted before them; reopen goes straight to the workers (a flag).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::alert::{Alert, RawAlert};
use crate::batch::{BatchPool, MAX_BATCH_LINES};
use crate::config::{self, Config, ConfigSources};
use crate::date::LocalZone;
use crate::error::{EmitError, InitError, InitErrorKind, Timeout};
use crate::format::{FormatOptions, Formatter};
use crate::hostname::default_hostname;
use crate::log::Logger;
use crate::outputs::{self, ChannelCtx};
use crate::runtime::alert_pool::AlertPool;
use crate::runtime::fanout::{self, Fanout};
use crate::runtime::intake::{Admission, Intake};
use crate::runtime::queue::Queue;
use crate::runtime::route::Route;
use crate::runtime::watchdog::{self, Stop};
use crate::runtime::worker::{ChannelShared, Progress, Worker, WrittenBy};
use crate::signals::spawn_blocking_signals;
use crate::stats::{ChannelStats, StatsSnapshot};

/// How to open a handle (the Rust face of `falco_outputs_options`).
#[derive(Clone)]
pub struct Options {
    pub config_path: Option<String>,
    pub config_yaml: Option<String>,
    pub overrides: Vec<String>,
    /// `None`: `$FALCO_HOSTNAME`, else gethostname().
    pub hostname: Option<String>,
    pub log: Logger,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_path: None,
            config_yaml: None,
            overrides: Vec::new(),
            hostname: None,
            log: Logger::stderr(),
        }
    }
}

/// An open set of channels with their workers.
pub struct Outputs {
    /// Where emit puts alerts; the fan-out thread takes them from there.
    intake: Arc<Intake>,
    fanout: Option<JoinHandle<()>>,
    channels: Vec<Arc<ChannelShared>>,
    /// `outputs_queue.capacity` (0: unbounded).
    capacity: u64,
    workers: Vec<JoinHandle<()>>,
    watchdog: Option<(JoinHandle<()>, Arc<Stop>)>,
    progress: Arc<Progress>,
    /// When the handle opened: the watchdog's clock.
    epoch: Instant,
    /// Set by [`Outputs::begin_close`]: emit refuses, a waiting flush returns.
    closing: AtomicBool,
    /// `shutdown` ran (close, then drop, must not run it twice).
    shut_down: AtomicBool,
    pool: Arc<AlertPool>,
    output_timeout: Duration,
    log: Logger,
}

impl Outputs {
    /// Loads and validates the configuration, opens the channels, starts the workers.
    pub fn open(options: Options) -> Result<Outputs, InitError> {
        let log = options.log.gated();
        let sources = ConfigSources {
            config_path: options.config_path.as_deref(),
            config_yaml: options.config_yaml.as_deref(),
            overrides: &options.overrides,
        };
        let cfg = config::load(&sources, &mut |w| log.warning(&w))?;
        let hostname = options.hostname.clone().unwrap_or_else(default_hostname);
        let formatter = Formatter::new(
            FormatOptions::from_config(&cfg, &hostname),
            LocalZone::from_env(),
        );
        let mut opened = open_channels(&cfg, &log, &hostname)?;
        let intake = new_intake(&cfg, &mut opened, &hostname)?;
        let mut outputs = Outputs::new(intake, &cfg, log);
        let own_format: Vec<bool> = opened.iter().map(|ch| ch.channel.own_format()).collect();
        let batches = Arc::new(BatchPool::default());
        let mut local = Vec::new();
        for ch in opened {
            outputs.start_worker(ch, &cfg, &formatter, &batches, &mut local)?;
        }
        outputs.start_fanout(Fanout {
            intake: Arc::clone(&outputs.intake),
            channels: outputs.channels.clone(),
            own_format,
            formatter,
            alerts: Arc::clone(&outputs.pool),
            batches,
            max_delay: Duration::from_millis(cfg.outputs_queue.max_delay_ms),
            local,
        })?;
        outputs.start_watchdog()?;
        Ok(outputs)
    }

    /// A handle with no thread started yet.
    fn new(intake: Intake, cfg: &Config, log: Logger) -> Outputs {
        Outputs {
            intake: Arc::new(intake),
            fanout: None,
            channels: Vec::new(),
            capacity: cfg.outputs_queue.capacity as u64,
            workers: Vec::new(),
            watchdog: None,
            progress: Arc::new(Progress::default()),
            epoch: Instant::now(),
            closing: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            pool: Arc::new(AlertPool::default()),
            output_timeout: Duration::from_millis(cfg.output_timeout_ms),
            log,
        }
    }

    /// Starts the worker of an opened channel (and lists it in `local` when the fan-out thread
    /// may write it). On failure the caller drops `self`, which stops the workers started.
    fn start_worker(
        &mut self,
        ch: outputs::OpenedChannel,
        cfg: &Config,
        formatter: &Formatter,
        batches: &Arc<BatchPool>,
        local: &mut Vec<(Arc<ChannelShared>, Arc<Mutex<Worker>>)>,
    ) -> Result<(), InitError> {
        let written_by = WrittenBy::new(
            ch.channel.writes_locally(),
            cfg.outputs_queue.thread_per_channel,
        );
        let queue = Queue::new()
            .map_err(|e| InitError::io(format!("cannot create a wake-up eventfd: {e}")))?;
        let shared = Arc::new(ChannelShared::new(
            ch.name,
            written_by,
            queue,
            Arc::clone(&self.progress),
            self.epoch,
        ));
        let ctx = ChannelCtx {
            name: ch.name,
            log: self.log.clone(),
            stats: Arc::clone(shared.stats()),
            buffered: cfg.buffered_outputs,
            output_timeout: self.output_timeout,
            closing: Arc::new(AtomicBool::new(false)),
            aborting: shared.aborting_flag(),
        };
        let worker = Arc::new(Mutex::new(Worker::new(
            Arc::clone(&shared),
            ch.channel,
            ctx,
            Arc::clone(batches),
            formatter.clone(),
            Arc::clone(&self.pool),
        )));
        if written_by == WrittenBy::FanoutWhenIdle {
            local.push((Arc::clone(&shared), Arc::clone(&worker)));
        }
        self.channels.push(shared);
        let handle = spawn_blocking_signals(format!("falco-out-{}", ch.name), move || {
            Worker::run(worker)
        })
        .map_err(|e| InitError::io(format!("cannot start the {} worker thread: {e}", ch.name)))?;
        self.workers.push(handle);
        Ok(())
    }

    fn start_fanout(&mut self, fanout: Fanout) -> Result<(), InitError> {
        let handle = spawn_blocking_signals("falco-out-fmt".into(), move || fanout.run())
            .map_err(|e| InitError::io(format!("cannot start the fan-out thread: {e}")))?;
        self.fanout = Some(handle);
        Ok(())
    }

    fn start_watchdog(&mut self) -> Result<(), InitError> {
        let stop = Arc::new(Stop::default());
        let (watched, stop2, log) = (self.channels.clone(), Arc::clone(&stop), self.log.clone());
        let timeout = self.output_timeout;
        let handle = spawn_blocking_signals("falco-out-wdog".into(), move || {
            watchdog::run(watched, timeout, log, stop2)
        })
        .map_err(|e| InitError::io(format!("cannot start the watchdog thread: {e}")))?;
        self.watchdog = Some((handle, stop));
        Ok(())
    }

    /// Queues the alert for every channel whose `min_priority` admits it. Never blocks on I/O.
    pub fn emit(&self, alert: Alert) -> Result<(), EmitError> {
        self.emit_shared(Arc::new(RawAlert::from(alert)))
    }

    /// An alert from the recycling pool, to fill in place (`Arc::make_mut` does not copy it: a
    /// pooled alert is unique; then [`crate::alert::AlertBuilder::reuse`]) and hand to
    /// [`Outputs::emit_shared`].
    pub fn recycled_alert(&self) -> Arc<RawAlert> {
        self.pool.take()
    }

    /// [`Outputs::emit`] for an alert already behind an `Arc` (e.g. from the pool), not yet
    /// checked as UTF-8: the fan-out thread does that.
    ///
    /// Safe Rust cannot call this while `close` runs (close takes the handle by value); the C
    /// ABI admits calls through its own gate and stops them before `close` (see `ffi.rs`).
    pub fn emit_shared(&self, alert: Arc<RawAlert>) -> Result<(), EmitError> {
        if self.closing.load(Ordering::Relaxed) {
            return Err(EmitError::Closed);
        }
        // A channel's backlog: admitted to it, not yet delivered, failed or discarded.
        let full = |i: usize, enqueued: u64| {
            self.capacity != 0 && {
                let s = self.channels[i].stats();
                let settled = s.delivered.load(Ordering::Relaxed)
                    + s.failed.load(Ordering::Relaxed)
                    + s.discarded.load(Ordering::Relaxed);
                enqueued.saturating_sub(settled) >= self.capacity
            }
        };
        let pushed = self.intake.push(alert, full);
        if let Some(alert) = pushed.untaken {
            self.pool.give_back_untaken(alert);
        }
        let dropped = pushed.dropped;
        if dropped == 0 {
            return Ok(());
        }
        for (i, ch) in self.channels.iter().enumerate() {
            if dropped & (1 << i) != 0 {
                ChannelStats::add(&ch.stats().dropped_queue_full, 1);
            }
        }
        Err(EmitError::QueueFull)
    }

    /// Asks every channel to reopen. Async-signal-safe: atomics and one write(2) per channel.
    pub fn reopen(&self) {
        for ch in &self.channels {
            ch.request_reopen();
        }
    }

    /// Waits until everything emitted before the call is delivered (or failed) and flushed.
    /// Wakes the fan-out thread at once (whatever `max_delay`), which queues a
    /// [`Work::Flush`](crate::runtime::queue::Work::Flush) for every worker behind what was
    /// emitted before.
    pub fn flush(&self, timeout: Duration) -> Result<(), Timeout> {
        let deadline = Instant::now() + timeout;
        let (generation, targets) = self.intake.request_flush();
        let done = || {
            self.channels
                .iter()
                .zip(&targets)
                .all(|(ch, enqueued)| ch.has_flushed(generation) && ch.settled_up_to(*enqueued))
        };
        // A close that begins meanwhile ends the wait: close drains (or discards and counts).
        let closing = || self.closing.load(Ordering::Acquire);
        if self.progress.wait_until(deadline, || done() || closing()) && !closing() {
            Ok(())
        } else {
            Err(Timeout)
        }
    }

    /// The first step of close, for the C ABI's racing callers: from now on emit returns
    /// `Closed` and a flush that is waiting returns at once.
    pub fn begin_close(&self) {
        self.closing.store(true, Ordering::Release);
        self.progress.notify();
    }

    /// Alerts and messages taken by `emit`.
    pub fn accepted(&self) -> u64 {
        self.intake.counts().accepted
    }

    /// Each channel's counters, in the order the channels were opened. `enqueued` and
    /// `filtered` are counted by emit in the intake (read first, so that
    /// `delivered + failed + discarded <= enqueued` in every snapshot).
    pub fn stats(&self) -> Vec<(&'static str, StatsSnapshot)> {
        let counts = self.intake.counts();
        self.channels
            .iter()
            .enumerate()
            .map(|(i, ch)| {
                let mut s = ch.stats().snapshot();
                s.enqueued = counts.enqueued[i];
                s.filtered = counts.filtered[i];
                s.suppressed = counts.suppressed[i];
                s.summaries = counts.summaries[i];
                (ch.name(), s)
            })
            .collect()
    }

    /// The counters in the Prometheus text format (see `metrics.rs`).
    pub fn metrics_text(&self) -> String {
        // Waiting for a channel: in the intake (not yet formatted) or in its own queue.
        let intake = self.intake.len() as u64;
        let channels: Vec<_> = self
            .channels
            .iter()
            .zip(self.stats())
            .map(|(ch, (name, stats))| crate::metrics::ChannelMetrics {
                name,
                stats,
                queue_depth: intake + ch.queued_lines() as u64,
            })
            .collect();
        crate::metrics::to_prometheus(env!("CARGO_PKG_VERSION"), self.accepted(), &channels)
    }

    /// Drains up to `timeout` (`None`: `output_timeout`), flushes, stops the workers and closes
    /// the channels. `Err(Timeout)` when something had to be discarded (counted and logged).
    pub fn close(mut self, timeout: Option<Duration>) -> Result<(), Timeout> {
        self.shutdown(timeout.unwrap_or(self.output_timeout))
    }

    fn shutdown(&mut self, timeout: Duration) -> Result<(), Timeout> {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.begin_close();
        let deadline = Instant::now() + timeout;
        // The fan-out thread queues what is left, then a `Work::Close` behind it for each worker.
        self.intake.request_close();
        let mut result = Ok(());
        if !self.progress.wait_until(deadline, || self.all_finished()) {
            result = Err(Timeout);
            self.abort_at_deadline(timeout);
        }
        self.join_finished_threads();
        // A worker left behind must not call the host's callback once close has returned.
        self.log.close_gate();
        result
    }

    /// The fan-out thread and every worker have finished.
    fn all_finished(&self) -> bool {
        self.intake.is_finished() && self.channels.iter().all(|ch| ch.is_finished())
    }

    /// Close's deadline passed: stops the fan-out thread and the workers, counts what they
    /// still held as discarded, and logs it per channel.
    fn abort_at_deadline(&self, timeout: Duration) {
        let discarded_before: Vec<u64> = self
            .channels
            .iter()
            .map(|ch| ch.stats().discarded.load(Ordering::Relaxed))
            .collect();
        self.intake.abort();
        for ch in &self.channels {
            ch.abort();
        }
        // A worker that is not stuck in a system call stops within a few milliseconds.
        self.progress
            .wait_until(Instant::now() + Duration::from_millis(200), || {
                self.all_finished()
            });
        if !self.intake.is_finished() {
            // The fan-out thread is stuck (in a local channel's write): what is still in the
            // intake will never be formatted.
            let mut left = Vec::new();
            self.intake.take_left(&mut left);
            fanout::discard(&self.intake, &self.channels, &mut left);
        }
        for (i, (ch, before)) in self.channels.iter().zip(discarded_before).enumerate() {
            ch.discard_queued();
            let discarded = ch.stats().discarded.load(Ordering::Relaxed) - before;
            let stuck = !ch.is_finished();
            if discarded > 0 || stuck {
                self.log.error(&format!(
                    "{} output: close: deadline of {} ms passed; {} alerts discarded{}",
                    ch.name(),
                    timeout.as_millis(),
                    discarded,
                    if stuck {
                        self.left_behind(i, ch)
                    } else {
                        String::new()
                    }
                ));
            }
        }
    }

    /// For close's log line: who was left blocked holding how many alerts. A blocked worker
    /// holds the alerts of the write it is in: written if that system call completes,
    /// otherwise lost; close cannot tell which.
    fn left_behind(&self, i: usize, ch: &ChannelShared) -> String {
        let writer = if ch.is_busy_on_fanout_thread() {
            "the fan-out thread, writing it,"
        } else {
            "the worker"
        };
        format!(
            "; {writer} is blocked and was left behind holding {} alerts",
            self.stats()[i].1.pending()
        )
    }

    /// Joins the threads that finished; one left behind (blocked in a system call) is
    /// detached: it owns what it uses through its Arcs.
    fn join_finished_threads(&mut self) {
        for (ch, handle) in self.channels.iter().zip(self.workers.drain(..)) {
            if ch.is_finished() {
                let _ = handle.join();
            }
        }
        if let Some(handle) = self.fanout.take() {
            if self.intake.is_finished() {
                let _ = handle.join();
            }
        }
        if let Some((handle, stop)) = self.watchdog.take() {
            stop.stop();
            let _ = handle.join();
        }
    }
}

/// Opens every enabled channel; at most [`config::MAX_CHANNELS`] (one bit each).
fn open_channels(
    cfg: &Config,
    log: &Logger,
    hostname: &str,
) -> Result<Vec<outputs::OpenedChannel>, InitError> {
    let opened = outputs::open_enabled(cfg, log, hostname)?;
    // `config::load` refused more before anything was opened; one bit per channel.
    if opened.len() > config::MAX_CHANNELS {
        return Err(InitError::new(
            InitErrorKind::ChannelCap,
            None,
            "more than 64 output channels".into(),
        ));
    }
    Ok(opened)
}

/// The intake, with what decides at emit whether each channel takes an alert.
fn new_intake(
    cfg: &Config,
    opened: &mut [outputs::OpenedChannel],
    hostname: &str,
) -> Result<Intake, InitError> {
    let capacity = cfg.outputs_queue.capacity;
    // A burst wakes the fan-out thread at once at this many waiting alerts (well before a
    // bounded queue would fill), otherwise it comes every max_delay.
    let high_water = if capacity == 0 {
        MAX_BATCH_LINES
    } else {
        (capacity / 2).clamp(1, MAX_BATCH_LINES)
    };
    let routes = opened
        .iter_mut()
        .map(|ch| Admission {
            min_priority: ch.min_priority,
            route: Route::new(&ch.match_block),
            storm: crate::storm::Storm::new(&ch.storm, hostname),
        })
        .collect();
    Intake::new(routes, high_water, cfg.outputs_queue.max_delay_ms == 0)
        .map_err(|e| InitError::io(format!("cannot create a wake-up eventfd: {e}")))
}

impl Drop for Outputs {
    fn drop(&mut self) {
        let timeout = self.output_timeout;
        let _ = self.shutdown(timeout);
    }
}
