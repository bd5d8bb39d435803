//! One thread per handle that watches the workers: reports a channel blocked longer than
//! `output_timeout`, and logs queue-full drops (first one, then at most once a second). Doing
//! this here keeps logging off the engine's threads: the log callback only runs on library
//! threads, as the contract says.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::log::Logger;
use crate::outputs::log_limit::LogLimit;
use crate::runtime::worker::ChannelShared;

#[derive(Default)]
pub struct Stop {
    stopped: Mutex<bool>,
    cond: Condvar,
}

impl Stop {
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.cond.notify_all();
    }
    /// Sleeps up to `d`; true once stopped.
    fn sleep(&self, d: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.cond.wait_for(&mut stopped, d);
        }
        *stopped
    }
}

struct Watched {
    shared: Arc<ChannelShared>,
    reported_busy_since: u64,
    logged_drops: u64,
    drop_log: LogLimit,
}

pub fn run(channels: Vec<Arc<ChannelShared>>, timeout: Duration, log: Logger, stop: Arc<Stop>) {
    let period = (timeout / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let mut watched: Vec<Watched> = channels
        .into_iter()
        .map(|shared| Watched {
            shared,
            reported_busy_since: 0,
            logged_drops: 0,
            drop_log: LogLimit::every(Duration::from_secs(1)),
        })
        .collect();
    while !stop.sleep(period) {
        for w in &mut watched {
            check_stall(w, timeout, &log);
            check_drops(w, &log, false);
        }
    }
    // Drops that happened just before close still deserve their line.
    for w in &mut watched {
        check_drops(w, &log, true);
    }
}

fn check_stall(w: &mut Watched, timeout: Duration, log: &Logger) {
    let Some(since) = w.shared.busy_since_ms() else {
        return;
    };
    if since == w.reported_busy_since {
        return;
    }
    let blocked = w.shared.now_ms().saturating_sub(since);
    if blocked >= timeout.as_millis() as u64 {
        w.reported_busy_since = since;
        let effect = if w.shared.is_busy_on_fanout_thread() {
            "the fan-out thread is writing it, so every channel waits until the write \
             completes (outputs_queue.thread_per_channel: true isolates it)"
        } else {
            "its alerts queue up while the other channels keep delivering"
        };
        // Falco logs its output timeout at CRIT (falco_outputs.cpp).
        log.critical(&format!(
            "{} output: output timeout: blocked for {} ms (output_timeout {} ms); {effect}",
            w.shared.name(),
            blocked,
            timeout.as_millis()
        ));
    }
}

/// Logs the drops since the last line, at most once a second unless `last` (at close).
fn check_drops(w: &mut Watched, log: &Logger, last: bool) {
    let dropped = w.shared.stats().dropped_queue_full.load(Ordering::Relaxed);
    if dropped == w.logged_drops {
        return;
    }
    if w.drop_log.allow().is_none() && !last {
        return;
    }
    log.error(&format!(
        "{} output: queue full (outputs_queue.capacity), {} alerts dropped ({} in total)",
        w.shared.name(),
        dropped - w.logged_drops,
        dropped
    ));
    w.logged_drops = dropped;
}
