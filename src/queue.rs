//! A channel's queue: many engine threads push, one worker drains everything at once.
//!
//! The worker sleeps on an eventfd rather than a condition variable because `reopen` must be
//! able to wake it from a signal handler, and write(2) is async-signal-safe. Producers only pay
//! for the write(2) when the worker is actually asleep.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::alert::Alert;
use crate::stats::ChannelStats;

/// An eventfd: `wake` is async-signal-safe, `wait` sleeps until woken or timed out.
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        // SAFETY: eventfd returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Async-signal-safe: one write(2), no allocation, no lock. A full counter (EAGAIN) already
    /// means "woken".
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8);
        }
    }

    /// Sleeps until `wake` or the timeout, then resets the counter.
    pub fn wait(&self, timeout: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one pollfd on the stack; then an 8-byte read into a local.
        unsafe {
            libc::poll(&mut pfd, 1, ms);
            let mut counter: u64 = 0;
            libc::read(self.fd.as_raw_fd(), (&mut counter as *mut u64).cast(), 8);
        }
    }
}

/// How long an idle worker polls its queue before sleeping on the eventfd.
const SPIN: Duration = Duration::from_micros(20);

/// Why an alert was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

pub struct Queue {
    items: Mutex<VecDeque<Arc<Alert>>>,
    /// 0 = unbounded.
    capacity: usize,
    /// `items.len()`, readable without the lock (the worker's spin before sleeping).
    len: AtomicUsize,
    sleeping: AtomicBool,
    pub waker: Waker,
}

impl Queue {
    pub fn new(capacity: usize) -> io::Result<Queue> {
        Ok(Queue {
            items: Mutex::new(VecDeque::new()),
            capacity,
            len: AtomicUsize::new(0),
            sleeping: AtomicBool::new(false),
            waker: Waker::new()?,
        })
    }

    /// Queues the alert unless the queue is full. `enqueued` is counted under the lock so that
    /// a flush's snapshot of it never counts an alert that is not on the queue yet.
    pub fn push(&self, alert: &Arc<Alert>, stats: &ChannelStats) -> Result<(), QueueFull> {
        {
            let mut items = self.items.lock();
            if self.capacity != 0 && items.len() >= self.capacity {
                return Err(QueueFull);
            }
            items.push_back(Arc::clone(alert));
            self.len.store(items.len(), Ordering::Relaxed);
            ChannelStats::add(&stats.enqueued, 1);
        }
        // The mutex orders this load after the worker's `sleeping = true` whenever the worker
        // saw an empty queue, so a sleeping worker is never missed.
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.waker.wake();
        }
        Ok(())
    }

    /// Moves everything queued into `out` (which the worker keeps between calls).
    pub fn drain_into(&self, out: &mut VecDeque<Arc<Alert>>) {
        let mut items = self.items.lock();
        if out.is_empty() {
            std::mem::swap(&mut *items, out);
        } else {
            out.extend(items.drain(..));
        }
        self.len.store(0, Ordering::Relaxed);
    }

    pub fn len(&self) -> usize {
        self.items.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sleeps until a producer, `reopen`, `flush` or `close` wakes the worker, or the timeout.
    /// `has_work` is re-checked after announcing the sleep, so no wake-up is lost.
    ///
    /// It first spins for up to [`SPIN`]: under a steady flow the next alert is microseconds
    /// away, and going to sleep would cost the producer a write(2) on its next emit and the
    /// worker a wake-up (a system call and a context switch on each side per few alerts).
    /// At 1,000 evenly spaced alerts/s the spinning costs at most 2% of a core per channel.
    pub fn sleep(&self, timeout: Duration, has_work: impl Fn() -> bool) {
        let spin_end = Instant::now() + SPIN.min(timeout);
        let mut spins = 0u32;
        while self.len.load(Ordering::Relaxed) == 0 && !has_work() {
            spins += 1;
            if spins % 64 == 0 && Instant::now() >= spin_end {
                break;
            }
            std::hint::spin_loop();
        }
        if self.len.load(Ordering::Relaxed) != 0 {
            return;
        }
        self.sleeping.store(true, Ordering::SeqCst);
        if self.is_empty() && !has_work() {
            self.waker.wait(timeout);
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    //! The queue's contract as the worker relies on it: FIFO, a hard bound counted only for what
    //! was queued, everything handed over by one drain, and no lost wake-up.

    use super::*;
    use crate::alert::{alert_from_parts, Priority};

    fn alert(n: u64) -> Arc<Alert> {
        Arc::new(alert_from_parts(
            n,
            Priority::Warning,
            "r",
            "s",
            "m",
            &[],
            &[],
        ))
    }

    fn numbers(items: &VecDeque<Arc<Alert>>) -> Vec<u64> {
        items.iter().map(|a| a.time_ns).collect()
    }

    /// Generous for a loaded two-core machine; a missed wake-up would wait for the full timeout.
    const LONG: Duration = Duration::from_secs(20);
    const PROMPT: Duration = Duration::from_secs(10);

    #[test]
    fn alerts_come_out_in_push_order_and_a_drain_appends() {
        let q = Queue::new(0).unwrap();
        let stats = ChannelStats::default();
        for n in 0..5 {
            q.push(&alert(n), &stats).unwrap();
        }
        let mut out = VecDeque::new();
        q.drain_into(&mut out);
        assert_eq!(numbers(&out), [0, 1, 2, 3, 4]);
        assert!(q.is_empty());

        // The worker has not finished the first drain: the next one goes after it.
        for n in 5..8 {
            q.push(&alert(n), &stats).unwrap();
        }
        q.drain_into(&mut out);
        assert_eq!(numbers(&out), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(stats.snapshot().enqueued, 8);
    }

    #[test]
    fn a_full_queue_refuses_and_counts_only_what_it_queued() {
        let q = Queue::new(3).unwrap();
        let stats = ChannelStats::default();
        for n in 0..3 {
            assert_eq!(q.push(&alert(n), &stats), Ok(()));
        }
        assert_eq!(q.push(&alert(3), &stats), Err(QueueFull));
        assert_eq!(q.push(&alert(4), &stats), Err(QueueFull));
        assert_eq!((q.len(), stats.snapshot().enqueued), (3, 3));

        // A drain makes room for exactly `capacity` more.
        let mut out = VecDeque::new();
        q.drain_into(&mut out);
        for n in 5..8 {
            assert_eq!(q.push(&alert(n), &stats), Ok(()));
        }
        assert_eq!(q.push(&alert(8), &stats), Err(QueueFull));
        q.drain_into(&mut out);
        assert_eq!(numbers(&out), [0, 1, 2, 5, 6, 7]);
        assert_eq!(stats.snapshot().enqueued, 6);
    }

    #[test]
    fn capacity_zero_is_unbounded() {
        let q = Queue::new(0).unwrap();
        let stats = ChannelStats::default();
        let a = alert(0);
        for _ in 0..100_000 {
            q.push(&a, &stats).unwrap();
        }
        assert_eq!(q.len(), 100_000);
    }

    #[test]
    fn a_push_wakes_a_sleeping_worker() {
        let q = Arc::new(Queue::new(0).unwrap());
        let worker = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                let t = Instant::now();
                q.sleep(LONG, || false);
                t.elapsed()
            })
        };
        // Let the worker get past its spin into the eventfd wait (if it has not, the push is
        // seen by the spin or the re-check: also no wait).
        std::thread::sleep(Duration::from_millis(50));
        q.push(&alert(1), &ChannelStats::default()).unwrap();
        let slept = worker.join().unwrap();
        assert!(slept < PROMPT, "woken after {slept:?}");
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_wake_before_the_sleep_is_not_lost() {
        // `reopen` from a signal handler may wake the worker just before it goes to sleep.
        let q = Queue::new(0).unwrap();
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
    fn sleep_returns_at_once_with_queued_alerts_or_other_work() {
        let q = Queue::new(0).unwrap();
        let t = Instant::now();
        q.sleep(LONG, || true);
        assert!(t.elapsed() < PROMPT);

        q.push(&alert(1), &ChannelStats::default()).unwrap();
        let t = Instant::now();
        q.sleep(LONG, || false);
        assert!(t.elapsed() < PROMPT);
    }

    #[test]
    fn an_idle_sleep_lasts_its_timeout() {
        let q = Queue::new(0).unwrap();
        let t = Instant::now();
        q.sleep(Duration::from_millis(100), || false);
        let slept = t.elapsed();
        assert!(
            slept >= Duration::from_millis(99) && slept < PROMPT,
            "{slept:?}"
        );
    }

    #[test]
    fn concurrent_producers_lose_nothing_and_each_keeps_its_order() {
        const PRODUCERS: u64 = 4;
        const EACH: u64 = 20_000;
        let q = Arc::new(Queue::new(0).unwrap());
        let stats = Arc::new(ChannelStats::default());
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (q, stats) = (Arc::clone(&q), Arc::clone(&stats));
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        q.push(&alert(p * EACH + i), &stats).unwrap();
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        let mut out = VecDeque::new();
        let deadline = Instant::now() + LONG;
        while (got.len() as u64) < PRODUCERS * EACH && Instant::now() < deadline {
            q.sleep(Duration::from_millis(100), || false);
            q.drain_into(&mut out);
            got.extend(out.drain(..).map(|a| a.time_ns));
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(got.len() as u64, PRODUCERS * EACH);
        assert_eq!(stats.snapshot().enqueued, PRODUCERS * EACH);
        for p in 0..PRODUCERS {
            let mine: Vec<u64> = got.iter().copied().filter(|n| n / EACH == p).collect();
            assert_eq!(mine, (p * EACH..(p + 1) * EACH).collect::<Vec<_>>());
        }
    }
}
