//! A channel's queue: the fan-out thread pushes formatted batches (and the flush and close
//! requests, behind them) and wakes the channel's worker, which drains it.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::alert::Alert;
use crate::batch::Batch;
use crate::runtime::waker::Waker;

/// What the fan-out thread hands a worker, in order: Falco's lines, formatted once and shared by
/// every channel that takes them, or the alerts themselves for a channel with a format of its
/// own; and the handle's requests, queued behind everything emitted before them (as spdlog's
/// `async_msg_type {log, flush, terminate}`), so the worker meets them in the right place.
pub enum Work {
    Lines(Arc<Batch>),
    Alerts(Vec<Arc<Alert>>),
    /// `flush` number N: flush the channel; the flush is done once it holds nothing.
    Flush(u64),
    /// `close`: the last item ever queued. Close the channel once it holds nothing.
    Close,
}

impl Work {
    /// Alerts it carries (none for a request).
    pub fn len(&self) -> usize {
        match self {
            Work::Lines(b) => b.len(),
            Work::Alerts(a) => a.len(),
            Work::Flush(_) | Work::Close => 0,
        }
    }
}

/// A channel's queue of [`Work`]: the fan-out thread pushes, the worker drains.
pub struct Queue {
    items: Mutex<VecDeque<Work>>,
    /// Lines in `items`, readable without the lock.
    lines: AtomicUsize,
    sleeping: AtomicBool,
    pub waker: Waker,
}

impl Queue {
    pub fn new() -> io::Result<Queue> {
        Ok(Queue {
            items: Mutex::new(VecDeque::new()),
            lines: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            waker: Waker::new()?,
        })
    }

    /// Queues work (from the fan-out thread, never from an engine thread), and wakes the
    /// worker if it sleeps and `wake` (else the caller writes it or wakes it later).
    pub fn push(&self, work: Work, wake: bool) {
        {
            let mut items = self.items.lock();
            self.lines.fetch_add(work.len(), Ordering::SeqCst);
            items.push_back(work);
        }
        if wake {
            self.wake_if_sleeping();
        }
    }

    /// Wakes the worker if it sleeps (one write(2)); nothing otherwise.
    pub fn wake_if_sleeping(&self) {
        // SeqCst pairs with `sleep`'s "sleeping = true, then look at the queue": either the
        // worker sees what was pushed, or this sees it sleeping.
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
    }

    /// Moves everything queued into `out` (which the worker keeps between calls).
    pub fn drain_into(&self, out: &mut VecDeque<Work>) {
        let mut items = self.items.lock();
        if out.is_empty() {
            std::mem::swap(&mut *items, out);
        } else {
            out.extend(items.drain(..));
        }
        self.lines.store(0, Ordering::SeqCst);
    }

    pub fn is_empty(&self) -> bool {
        self.lines.load(Ordering::SeqCst) == 0 && self.items.lock().is_empty()
    }

    /// Lines waiting in the queue (not yet taken by the worker).
    pub fn lines(&self) -> usize {
        self.lines.load(Ordering::Relaxed)
    }

    /// Sleeps until the fan-out thread (work, `flush`, `close`), `reopen` or an abort wakes the
    /// worker, or the timeout. The queue and `has_work` (the flags) are re-checked after
    /// announcing the sleep, so no wake-up is lost.
    /// No spinning: the fan-out thread hands over work at most every `max_delay`, so there is
    /// nothing to gain by polling for it.
    pub fn sleep(&self, timeout: Duration, has_work: impl Fn() -> bool) {
        self.sleeping.store(true, Ordering::SeqCst);
        if self.is_empty() && !has_work() {
            self.waker.wait(timeout);
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    //! The queue's contract as the fan-out thread and the workers rely on it: FIFO, who wakes
    //! whom, and no lost wake-up.

    use super::*;
    use crate::alert::Priority;
    use std::time::Instant;

    fn batch(n: usize) -> Work {
        let mut b = Batch::default();
        for i in 0..n {
            b.push_line(format!("line {i}").as_bytes(), Priority::Error, i as u64);
        }
        Work::Lines(Arc::new(b))
    }

    /// Generous for a loaded two-core machine; a missed wake-up would wait for the full timeout.
    const LONG: Duration = Duration::from_secs(20);
    const PROMPT: Duration = Duration::from_secs(10);

    #[test]
    fn work_comes_out_in_push_order_and_a_drain_appends() {
        let q = Queue::new().unwrap();
        q.push(batch(2), true);
        q.push(batch(3), true);
        assert_eq!(q.lines(), 5);
        let mut out = VecDeque::new();
        q.drain_into(&mut out);
        q.push(batch(1), true);
        q.drain_into(&mut out);
        assert_eq!(out.iter().map(Work::len).collect::<Vec<_>>(), [2, 3, 1]);
        assert!(q.is_empty());
    }

    /// A worker that sleeps on `q` (for up to [`LONG`]) and returns how long it slept.
    /// Returns once the worker has announced its sleep (a fixed pause was not always enough on
    /// a loaded machine: a push before the sleep is, rightly, not slept through).
    fn sleeper(q: &Arc<Queue>) -> std::thread::JoinHandle<Duration> {
        let worker = {
            let q = Arc::clone(q);
            std::thread::spawn(move || {
                let t = Instant::now();
                q.sleep(LONG, || false);
                t.elapsed()
            })
        };
        let deadline = Instant::now() + PROMPT;
        while !q.sleeping.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        worker
    }

    #[test]
    fn a_push_wakes_a_sleeping_worker() {
        let q = Arc::new(Queue::new().unwrap());
        let worker = sleeper(&q);
        q.push(batch(1), true);
        let slept = worker.join().unwrap();
        assert!(slept < PROMPT, "woken after {slept:?}");
    }

    #[test]
    fn a_quiet_push_leaves_the_worker_asleep_until_woken() {
        // The fan-out thread pushes quietly to a channel it may write itself. The worker has
        // announced its sleep (as `sleep` does before it waits): no wake-up may be sent.
        let q = Queue::new().unwrap();
        let signalled = |q: &Queue| q.waker.is_signalled();
        q.sleeping.store(true, Ordering::SeqCst);
        q.push(batch(1), false);
        assert!(!signalled(&q), "a quiet push woke the worker");
        assert!(q.sleeping.load(Ordering::SeqCst));
        q.wake_if_sleeping();
        assert!(signalled(&q), "wake_if_sleeping did not wake it");
        // A normal push wakes a sleeping worker the same way.
        let q = Queue::new().unwrap();
        q.sleeping.store(true, Ordering::SeqCst);
        q.push(batch(1), true);
        assert!(signalled(&q));
    }

    #[test]
    fn a_wake_before_the_sleep_is_not_lost() {
        // `reopen` from a signal handler may wake the worker just before it goes to sleep.
        let q = Queue::new().unwrap();
        q.waker.wake();
        let t = Instant::now();
        q.sleep(LONG, || false);
        assert!(t.elapsed() < PROMPT, "slept {:?}", t.elapsed());
        // The wake-up was consumed: the next sleep waits for its timeout.
        let t = Instant::now();
        q.sleep(Duration::from_millis(30), || false);
        assert!(
            t.elapsed() >= Duration::from_millis(29),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn sleep_returns_at_once_with_queued_work_or_other_requests() {
        let q = Queue::new().unwrap();
        let t = Instant::now();
        q.sleep(LONG, || true);
        assert!(t.elapsed() < PROMPT);
        q.push(batch(1), true);
        let t = Instant::now();
        q.sleep(LONG, || false);
        assert!(t.elapsed() < PROMPT);
    }

    #[test]
    fn an_idle_sleep_lasts_its_timeout() {
        let q = Queue::new().unwrap();
        let t = Instant::now();
        q.sleep(Duration::from_millis(100), || false);
        let slept = t.elapsed();
        assert!(
            slept >= Duration::from_millis(99) && slept < PROMPT,
            "{slept:?}"
        );
    }
}
