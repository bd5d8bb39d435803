//! The handle's lifecycle: opens the channels and starts the fan-out thread (`runtime/fanout.rs`) and
//! the workers; `emit` counts each alert for the channels that take it and appends it to the
//! one intake; flush and close go through the fan-out thread, reopen straight to the workers.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::alert::{Alert, RawAlert};
use crate::batch::{BatchPool, MAX_BATCH_LINES};
use crate::config::{self, ConfigSources};
use crate::date::LocalZone;
use crate::error::{EmitError, InitError, InitErrorKind, Timeout};
use crate::format::{FormatOptions, Formatter};
use crate::hostname::default_hostname;
use crate::log::Logger;
use crate::outputs::{self, ChannelCtx};
use crate::runtime::alert_pool::AlertPool;
use crate::runtime::fanout::{self, Fanout};
use crate::runtime::queue::{Admission, Intake, Queue};
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
        let output_timeout = Duration::from_millis(cfg.output_timeout_ms);
        let mut opened = outputs::open_enabled(&cfg, &log, &hostname)?;
        // `config::load` refused more before anything was opened; one bit per channel.
        if opened.len() > config::MAX_CHANNELS {
            return Err(InitError::new(
                InitErrorKind::ChannelCap,
                None,
                "more than 64 output channels".into(),
            ));
        }

        let capacity = cfg.outputs_queue.capacity;
        // A burst wakes the fan-out thread at once at this many waiting alerts (well before a
        // bounded queue would fill), otherwise it comes every max_delay.
        let high_water = if capacity == 0 {
            MAX_BATCH_LINES
        } else {
            (capacity / 2).clamp(1, MAX_BATCH_LINES)
        };
        let max_delay = Duration::from_millis(cfg.outputs_queue.max_delay_ms);
        let routes = opened
            .iter_mut()
            .map(|ch| Admission {
                min_priority: ch.min_priority,
                route: Route::new(&ch.match_block),
                storm: crate::storm::Storm::new(&ch.storm, &hostname),
            })
            .collect();
        let intake = Intake::new(routes, high_water, max_delay.is_zero())
            .map_err(|e| InitError::io(format!("cannot create a wake-up eventfd: {e}")))?;
        let progress = Arc::new(Progress::default());
        let epoch = Instant::now();
        let batches = Arc::new(BatchPool::default());
        let mut outputs = Outputs {
            intake: Arc::new(intake),
            fanout: None,
            channels: Vec::new(),
            capacity: capacity as u64,
            workers: Vec::new(),
            watchdog: None,
            progress: Arc::clone(&progress),
            closing: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            pool: Arc::new(AlertPool::default()),
            output_timeout,
            log: log.clone(),
        };
        let own_format: Vec<bool> = opened.iter().map(|ch| ch.channel.own_format()).collect();
        let mut local = Vec::new();
        for ch in opened {
            let written_by = WrittenBy::new(
                ch.channel.writes_locally(),
                cfg.outputs_queue.thread_per_channel,
            );
            let queue = Queue::new()
                .map_err(|e| InitError::io(format!("cannot create a wake-up eventfd: {e}")))?;
            let shared = Arc::new(ChannelShared {
                name: ch.name,
                written_by,
                queue,
                stats: Arc::new(ChannelStats::default()),
                reopen_requested: AtomicBool::new(false),
                flush_requested: AtomicU64::new(0),
                flush_done: AtomicU64::new(0),
                closing: Arc::new(AtomicBool::new(false)),
                aborting: Arc::new(AtomicBool::new(false)),
                busy_since_ms: AtomicU64::new(0),
                busy_on_fanout_thread: AtomicBool::new(false),
                finished: AtomicBool::new(false),
                progress: Arc::clone(&progress),
                epoch,
            });
            let ctx = ChannelCtx {
                name: ch.name,
                log: log.clone(),
                stats: Arc::clone(&shared.stats),
                buffered: cfg.buffered_outputs,
                output_timeout,
                closing: Arc::clone(&shared.closing),
                aborting: Arc::clone(&shared.aborting),
            };
            let worker = Arc::new(Mutex::new(Worker::new(
                Arc::clone(&shared),
                ch.channel,
                ctx,
                Arc::clone(&batches),
                formatter.clone(),
                Arc::clone(&outputs.pool),
            )));
            if written_by == WrittenBy::FanoutWhenIdle {
                local.push((Arc::clone(&shared), Arc::clone(&worker)));
            }
            outputs.channels.push(shared);
            // On failure `outputs` is dropped here, which stops the workers already started.
            let handle = spawn_blocking_signals(format!("falco-out-{}", ch.name), move || {
                Worker::run(worker)
            })
            .map_err(|e| {
                InitError::io(format!("cannot start the {} worker thread: {e}", ch.name))
            })?;
            outputs.workers.push(handle);
        }
        let fanout = Fanout {
            intake: Arc::clone(&outputs.intake),
            channels: outputs.channels.clone(),
            own_format,
            formatter,
            alerts: Arc::clone(&outputs.pool),
            batches,
            max_delay,
            local,
        };
        outputs.fanout = Some(
            spawn_blocking_signals("falco-out-fmt".into(), move || fanout.run())
                .map_err(|e| InitError::io(format!("cannot start the fan-out thread: {e}")))?,
        );
        let stop = Arc::new(Stop::default());
        let (watched, stop2, wlog) = (outputs.channels.clone(), Arc::clone(&stop), log.clone());
        let handle = spawn_blocking_signals("falco-out-wdog".into(), move || {
            watchdog::run(watched, output_timeout, wlog, stop2)
        })
        .map_err(|e| InitError::io(format!("cannot start the watchdog thread: {e}")))?;
        outputs.watchdog = Some((handle, stop));
        Ok(outputs)
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
                let s = &self.channels[i].stats;
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
                ChannelStats::add(&ch.stats.dropped_queue_full, 1);
            }
        }
        Err(EmitError::QueueFull)
    }

    /// Asks every channel to reopen. Async-signal-safe: atomics and one write(2) per channel.
    pub fn reopen(&self) {
        for ch in &self.channels {
            ch.reopen_requested.store(true, Ordering::Release);
            ch.queue.waker.wake();
        }
    }

    /// Waits until everything emitted before the call is delivered (or failed) and flushed.
    /// Wakes the fan-out thread at once (whatever `max_delay`), which forwards the request to
    /// every worker once it has queued everything that was emitted before.
    pub fn flush(&self, timeout: Duration) -> Result<(), Timeout> {
        let deadline = Instant::now() + timeout;
        let targets = self.intake.counts().enqueued;
        let generation = self.intake.flush_requested.fetch_add(1, Ordering::AcqRel) + 1;
        self.intake.waker.wake();
        let done = || {
            self.channels.iter().zip(&targets).all(|(ch, enqueued)| {
                ch.flush_done.load(Ordering::Acquire) >= generation && ch.settled_up_to(*enqueued)
            })
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
                let mut s = ch.stats.snapshot();
                s.enqueued = counts.enqueued[i];
                s.filtered = counts.filtered[i];
                s.suppressed = counts.suppressed[i];
                s.summaries = counts.summaries[i];
                (ch.name, s)
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
                queue_depth: intake + ch.queue.lines() as u64,
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
        // The fan-out thread queues what is left, then tells each worker to finish.
        self.intake.closing.store(true, Ordering::Release);
        self.intake.waker.wake();
        let all_finished = || {
            self.intake.finished.load(Ordering::Acquire)
                && self
                    .channels
                    .iter()
                    .all(|ch| ch.finished.load(Ordering::Acquire))
        };
        let mut result = Ok(());
        if !self.progress.wait_until(deadline, all_finished) {
            result = Err(Timeout);
            let discarded_before: Vec<u64> = self
                .channels
                .iter()
                .map(|ch| ch.stats.discarded.load(Ordering::Relaxed))
                .collect();
            self.intake.aborting.store(true, Ordering::Release);
            self.intake.waker.wake();
            for ch in &self.channels {
                ch.aborting.store(true, Ordering::Release);
                ch.queue.waker.wake();
            }
            // A worker that is not stuck in a system call stops within a few milliseconds.
            self.progress
                .wait_until(Instant::now() + Duration::from_millis(200), all_finished);
            if !self.intake.finished.load(Ordering::Acquire) {
                // The fan-out thread is stuck (in a local channel's write): what is still in
                // the intake will never be formatted.
                let mut left = Vec::new();
                self.intake.take(&mut left);
                fanout::discard(&self.intake, &self.channels, &mut left);
            }
            for (i, (ch, before)) in self.channels.iter().zip(discarded_before).enumerate() {
                ch.discard_queued();
                let discarded = ch.stats.discarded.load(Ordering::Relaxed) - before;
                let stuck = !ch.finished.load(Ordering::Acquire);
                if discarded > 0 || stuck {
                    // A blocked worker holds the alerts of the write it is in: written if that
                    // system call completes, otherwise lost; close cannot tell which.
                    let holding = if stuck {
                        let writer = if ch.busy_on_fanout_thread.load(Ordering::Acquire) {
                            "the fan-out thread, writing it,"
                        } else {
                            "the worker"
                        };
                        format!(
                            "; {writer} is blocked and was left behind holding {} alerts",
                            self.stats()[i].1.pending()
                        )
                    } else {
                        String::new()
                    };
                    self.log.error(&format!(
                        "{} output: close: deadline of {} ms passed; {} alerts discarded{}",
                        ch.name,
                        timeout.as_millis(),
                        discarded,
                        holding
                    ));
                }
            }
        }
        for (ch, handle) in self.channels.iter().zip(self.workers.drain(..)) {
            if ch.finished.load(Ordering::Acquire) {
                let _ = handle.join();
            }
            // Otherwise the thread is detached; it owns what it uses through its Arcs.
        }
        if let Some(handle) = self.fanout.take() {
            if self.intake.finished.load(Ordering::Acquire) {
                let _ = handle.join();
            }
        }
        if let Some((handle, stop)) = self.watchdog.take() {
            stop.stop();
            let _ = handle.join();
        }
        // A worker left behind must not call the host's callback once close has returned.
        self.log.close_gate();
        result
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        let timeout = self.output_timeout;
        let _ = self.shutdown(timeout);
    }
}
