//! Where every engine thread puts its alerts: one lock, no system call in steady state. The
//! fan-out thread takes them all at once, on its timer (see `runtime/fanout.rs`).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::alert::{Alert, Priority, RawAlert};
use crate::runtime::route::Route;
use crate::runtime::waker::Waker;
use crate::storm::{Storm, Verdict};

/// One accepted alert and the channels that take it (bit i: channel i admitted it and its
/// queue was not full), decided once, at emit.
pub struct Entry {
    alert: Slot,
    pub takers: u64,
}

/// The alert as emit queued it (not yet checked as UTF-8), then as the fan-out thread reads it.
enum Slot {
    Raw(Arc<RawAlert>),
    Checked(Arc<Alert>),
    Moving,
}

impl Entry {
    /// The alert, checked (UTF-8, repaired) the first time it is read: on the fan-out thread,
    /// right before it is formatted, so that emit scans nothing.
    pub fn alert(&mut self) -> &Arc<Alert> {
        if let Slot::Raw(_) = self.alert {
            if let Slot::Raw(raw) = std::mem::replace(&mut self.alert, Slot::Moving) {
                self.alert = Slot::Checked(RawAlert::checked(raw));
            }
        }
        match &self.alert {
            Slot::Checked(alert) => alert,
            _ => unreachable!("checked just above"),
        }
    }

    /// The alert, taken out once it is formatted (to give it back for reuse right away);
    /// `None` the second time.
    pub fn take_alert(&mut self) -> Option<Arc<Alert>> {
        self.alert();
        match std::mem::replace(&mut self.alert, Slot::Moving) {
            Slot::Checked(alert) => Some(alert),
            _ => None,
        }
    }
}

/// What decides, at emit, whether a channel takes an alert.
pub struct Admission {
    pub min_priority: Priority,
    /// The channel's `match` block.
    pub route: Route,
    /// The channel's storm control, when on.
    pub storm: Option<Storm>,
}

/// An [`Admission`] as emit checks it: the route only where it is not "everything" (so that
/// the common case reads 16 bytes per channel).
struct PriorityAndRoute {
    min_priority: Priority,
    route: Option<Box<Route>>,
}

impl PriorityAndRoute {
    fn new(a: Admission) -> PriorityAndRoute {
        PriorityAndRoute {
            min_priority: a.min_priority,
            route: (!a.route.is_everything()).then(|| Box::new(a.route)),
        }
    }

    #[inline]
    fn admits(&self, alert: &RawAlert) -> bool {
        alert.priority() <= self.min_priority
            && self.route.as_ref().is_none_or(|r| r.admits_raw(alert))
    }
}

/// Counters kept under the intake's lock (plain integers: the lock already orders them).
#[derive(Default, Clone)]
pub struct IntakeCounts {
    /// Alerts and messages taken by emit.
    pub accepted: u64,
    /// Per channel: alerts admitted (priority passed, queue not full).
    pub enqueued: Vec<u64>,
    /// Per channel: skipped by `min_priority`.
    pub filtered: Vec<u64>,
    /// Per channel: held back by storm control (never queued; a summary tells of them).
    pub suppressed: Vec<u64>,
    /// Per channel: storm summaries the library made and queued (counted in `enqueued`).
    pub summaries: Vec<u64>,
}

struct IntakeState {
    entries: Vec<Entry>,
    /// The handle's requests, under the same lock as `entries`: a take hands over the alerts
    /// and the requests made after them together.
    requests: Requests,
    counts: IntakeCounts,
    /// Per channel, its storm control (None: off). Under the lock: emit decides with it.
    storms: Vec<Option<Storm>>,
    /// Summaries made, waiting to be queued (a scratch vector).
    summaries: Vec<Alert>,
}

impl IntakeState {
    /// Queues channel `i`'s summaries for it alone.
    fn queue_summaries(&mut self, i: usize) {
        for s in self.summaries.drain(..) {
            self.entries.push(Entry {
                alert: Slot::Checked(Arc::new(s)),
                takers: 1 << i,
            });
            self.counts.enqueued[i] += 1;
            self.counts.summaries[i] += 1;
        }
    }
}

/// How the fan-out thread sleeps (what a producer must do to get it going).
pub const AWAKE: u8 = 0;
/// Sleeping at most `max_delay`: producers need not wake it, except at the high-water mark.
pub const TICKING: u8 = 1;
/// Idle (no alert for a while): the next alert wakes it.
pub const IDLE: u8 = 2;

/// What [`Intake::push`] did with an alert.
#[derive(Debug)]
pub struct Pushed {
    /// The channels whose queue was full (bit i: channel i; the caller counts those).
    pub dropped: u64,
    /// The alert itself when no channel takes it (each filtered or dropped it): never queued.
    pub untaken: Option<Arc<RawAlert>>,
}

/// Where every engine thread puts its alerts.
pub struct Intake {
    state: Mutex<IntakeState>,
    filters: Vec<PriorityAndRoute>,
    /// Some channel's `match` reads rule, source or tags: emit checks the text at once.
    reads_text: bool,
    /// Some channel has storm control.
    any_storm: bool,
    /// `entries.len()`, readable without the lock.
    len: AtomicUsize,
    /// The fan-out thread's [`AWAKE`] / [`TICKING`] / [`IDLE`].
    pub sleep_state: AtomicU8,
    /// At this many waiting alerts a producer wakes a ticking fan-out thread at once.
    pub high_water: usize,
    /// `outputs_queue.max_delay_ms` is 0: every alert wakes the fan-out thread.
    pub wake_every_alert: bool,
    pub waker: Waker,
    /// Close's deadline passed: the fan-out thread stops (a flag: it must work while the
    /// fan-out thread is busy).
    aborting: AtomicBool,
    /// The fan-out thread has exited.
    finished: AtomicBool,
}

/// What the handle asked the fan-out thread to pass on to every channel, behind the alerts
/// emitted before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    /// The number of the last `flush` (0: none yet).
    pub flush: u64,
    /// `close` has begun.
    pub close: bool,
}

impl Intake {
    pub fn new(
        routes: Vec<Admission>,
        high_water: usize,
        wake_every_alert: bool,
    ) -> io::Result<Intake> {
        let n = routes.len();
        // Storm keys read the rule, fields...: emit checks the text then too.
        let reads_text = routes
            .iter()
            .any(|a| a.route.reads_text() || a.storm.is_some());
        let mut storms = Vec::with_capacity(n);
        let filters = routes
            .into_iter()
            .map(|mut a| {
                storms.push(a.storm.take());
                PriorityAndRoute::new(a)
            })
            .collect();
        let any_storm = storms.iter().any(Option::is_some);
        Ok(Intake {
            state: Mutex::new(IntakeState {
                entries: Vec::new(),
                requests: Requests::default(),
                counts: IntakeCounts {
                    accepted: 0,
                    enqueued: vec![0; n],
                    filtered: vec![0; n],
                    suppressed: vec![0; n],
                    summaries: vec![0; n],
                },
                storms,
                summaries: Vec::new(),
            }),
            any_storm,
            filters,
            reads_text,
            len: AtomicUsize::new(0),
            sleep_state: AtomicU8::new(AWAKE),
            high_water: high_water.max(1),
            wake_every_alert,
            waker: Waker::new()?,
            aborting: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        })
    }

    /// Accepts one alert: counts it for every channel (filtered or enqueued, unless dropped as
    /// full) and queues it for the fan-out thread. `full(i, enqueued_i)` says whether channel
    /// i's backlog is at its bound. An alert no channel takes is not queued but handed back
    /// ([`Pushed::untaken`]), so the intake only ever holds alerts within the channels' bounds.
    ///
    /// No system call unless the fan-out thread is idle, the high-water mark is reached, or
    /// `max_delay_ms` is 0.
    pub fn push(&self, mut alert: Arc<RawAlert>, full: impl Fn(usize, u64) -> bool) -> Pushed {
        if self.reads_text && alert.as_checked().is_none() {
            // Unique: emit hands its only reference over (no copy).
            Arc::make_mut(&mut alert).check();
        }
        let (len, dropped) = {
            let mut st = self.state.lock();
            let st = &mut *st;
            let (mut dropped, mut takers) = (0u64, 0u64);
            st.counts.accepted += 1;
            let now = self.any_storm.then(Instant::now);
            for (i, filter) in self.filters.iter().enumerate() {
                if !filter.admits(&alert) {
                    st.counts.filtered[i] += 1;
                    continue;
                }
                if let (Some(storm), Some(now)) = (st.storms[i].as_mut(), now) {
                    let verdict = storm.offer(&alert, now, &mut st.summaries);
                    st.queue_summaries(i);
                    if verdict == Verdict::Hold {
                        st.counts.suppressed[i] += 1;
                        continue;
                    }
                }
                if full(i, st.counts.enqueued[i]) {
                    dropped |= 1 << i;
                } else {
                    st.counts.enqueued[i] += 1;
                    takers |= 1 << i;
                }
            }
            if takers == 0 {
                // Every channel filtered or dropped it: nothing to format, and queueing it
                // anyway would let memory grow past `outputs_queue.capacity` when the channels
                // are full and alerts keep coming.
                self.len.store(st.entries.len(), Ordering::SeqCst);
                return Pushed {
                    dropped,
                    untaken: Some(alert),
                };
            }
            st.entries.push(Entry {
                alert: Slot::Raw(alert),
                takers,
            });
            let len = st.entries.len();
            self.len.store(len, Ordering::SeqCst);
            (len, dropped)
        };
        // SeqCst pairs with the fan-out thread's "state = IDLE, then look at len": either it
        // sees this alert, or this load sees IDLE and wakes it.
        let state = self.sleep_state.load(Ordering::SeqCst);
        let wake = match state {
            AWAKE => false,
            TICKING => len >= self.high_water || self.wake_every_alert,
            _ => true,
        };
        if wake && self.sleep_state.swap(AWAKE, Ordering::SeqCst) != AWAKE {
            self.waker.wake();
        }
        Pushed {
            dropped,
            untaken: None,
        }
    }

    /// Everything queued, swapped with `spare` (the fan-out thread's empty vector), with the
    /// requests made so far: every alert emitted before a request is in `spare` when the
    /// request is returned. First queues the storm summaries of the windows that ended (every
    /// window with something held back once close has begun).
    pub fn take(&self, spare: &mut Vec<Entry>) -> Requests {
        let mut st = self.state.lock();
        let st = &mut *st;
        if self.any_storm {
            let now = Instant::now();
            for i in 0..st.storms.len() {
                if let Some(storm) = st.storms[i].as_mut() {
                    storm.due(now, st.requests.close, &mut st.summaries);
                    st.queue_summaries(i);
                }
            }
        }
        std::mem::swap(&mut st.entries, spare);
        self.len.store(0, Ordering::SeqCst);
        st.requests
    }

    /// What is left once the fan-out thread is gone or stuck (no storm summaries: nothing
    /// will format them).
    pub fn take_left(&self, spare: &mut Vec<Entry>) {
        let mut st = self.state.lock();
        std::mem::swap(&mut st.entries, spare);
        self.len.store(0, Ordering::SeqCst);
    }

    /// Asks for a flush and wakes the fan-out thread; returns its number and each channel's
    /// `enqueued` count at that moment (what the flush must see settled).
    pub fn request_flush(&self) -> (u64, Vec<u64>) {
        let (generation, enqueued) = {
            let mut st = self.state.lock();
            st.requests.flush += 1;
            (st.requests.flush, st.counts.enqueued.clone())
        };
        self.waker.wake();
        (generation, enqueued)
    }

    /// Begins close and wakes the fan-out thread.
    pub fn request_close(&self) {
        self.state.lock().requests.close = true;
        self.waker.wake();
    }

    /// A request newer than `seen` (what the fan-out thread last passed on).
    pub fn has_requests_after(&self, seen: Requests) -> bool {
        self.state.lock().requests != seen || self.is_aborting()
    }

    /// Close's deadline passed: the fan-out thread stops and counts what it did not queue as
    /// discarded.
    pub fn abort(&self) {
        self.aborting.store(true, Ordering::Release);
        self.waker.wake();
    }

    pub fn is_aborting(&self) -> bool {
        self.aborting.load(Ordering::Acquire)
    }

    /// The fan-out thread has exited (it passed close on, or stopped at abort).
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    pub fn mark_finished(&self) {
        self.finished.store(true, Ordering::Release);
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::SeqCst)
    }

    /// A copy of the counters (taken under the lock: every alert counted is in the intake or
    /// beyond it).
    pub fn counts(&self) -> IntakeCounts {
        self.state.lock().counts.clone()
    }

    /// Gives the memory of a vector that grew during a burst back.
    pub fn shrink(&self) {
        let mut st = self.state.lock();
        if st.entries.is_empty() {
            st.entries = Vec::new();
        }
    }

    /// Whether channel `i` takes this entry (admitted, and its queue was not full).
    pub fn admits(&self, i: usize, entry: &Entry) -> bool {
        entry.takers & (1 << i) != 0
    }
}

#[cfg(test)]
mod tests {
    //! The intake's contract as emit and the fan-out thread rely on it: FIFO, counts per
    //! channel, a bound that drops (and says which channel), one take hands over everything,
    //! and producers wake the fan-out thread only when they must.

    use super::*;
    use crate::alert::alert_from_parts;
    use std::time::{Duration, Instant};

    fn alert(n: u64, priority: Priority) -> Arc<RawAlert> {
        Arc::new(RawAlert::from(alert_from_parts(
            n,
            priority,
            "r",
            "s",
            "m",
            &[],
            &[],
        )))
    }

    fn intake(min: &[Priority], high_water: usize) -> Intake {
        let routes = min
            .iter()
            .map(|&m| Admission {
                min_priority: m,
                route: Route::default(),
                storm: None,
            })
            .collect();
        Intake::new(routes, high_water, false).unwrap()
    }

    /// Generous for a loaded two-core machine; a missed wake-up would wait for the full timeout.
    const LONG: Duration = Duration::from_secs(20);
    const PROMPT: Duration = Duration::from_secs(10);

    #[test]
    fn the_intake_keeps_order_and_counts_per_channel() {
        let i = intake(&[Priority::Debug, Priority::Error], 1000);
        for n in 0..5 {
            let p = if n % 2 == 0 {
                Priority::Error
            } else {
                Priority::Debug
            };
            assert_eq!(i.push(alert(n, p), |_, _| false).dropped, 0);
        }
        let mut got = Vec::new();
        i.take(&mut got);
        assert_eq!(
            got.iter_mut()
                .map(|e| e.alert().time_ns)
                .collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(i.len(), 0);
        let c = i.counts();
        assert_eq!(c.accepted, 5);
        assert_eq!((c.enqueued[0], c.filtered[0]), (5, 0));
        // Channel 1 takes Error and above: the two Debug alerts are filtered there.
        assert_eq!((c.enqueued[1], c.filtered[1]), (3, 2));
        assert!(got.iter().all(|e| i.admits(0, e)));
        assert_eq!(got.iter().filter(|e| i.admits(1, e)).count(), 3);
    }

    /// A raw alert with invalid UTF-8: a channel whose `match` reads the rule decides on the
    /// repaired rule at push; the fan-out thread reads every string repaired.
    #[test]
    fn a_route_on_the_rule_sees_it_repaired_and_so_does_the_fanout() {
        use crate::alert::{AlertBuilder, AlertKind, FieldKind};
        use crate::config::Match;
        let raw = |rule: &'static [u8]| {
            let mut raw = RawAlert::empty();
            let mut b = AlertBuilder::reuse(&mut raw, 2);
            b.rule(rule).unwrap().source(b"s\xff").unwrap();
            b.message(b"m\xc3").unwrap();
            b.field(b"k\xfe", Some(b"v\x80"), FieldKind::String)
                .unwrap();
            b.tag(b"t\xff").unwrap();
            b.build(1, Priority::Error, AlertKind::Event);
            Arc::new(raw)
        };
        let routed = |rules: &[&str]| Admission {
            min_priority: Priority::Debug,
            route: Route::new(&Match {
                rules: rules.iter().map(|r| r.to_string()).collect(),
                ..Match::default()
            }),
            storm: None,
        };
        for (with_route, routes) in [
            (
                true,
                vec![
                    routed(&["r\u{fffd}le"]),
                    routed(&["r?le"]),
                    routed(&["rule"]),
                ],
            ),
            (false, vec![routed(&[])]),
        ] {
            let i = Intake::new(routes, 1000, false).unwrap();
            i.push(raw(b"r\xffle"), |_, _| false);
            let mut got = Vec::new();
            i.take(&mut got);
            if with_route {
                let c = i.counts();
                assert_eq!(c.enqueued, [1, 1, 0], "only the repaired name matches");
                assert_eq!(c.filtered, [0, 0, 1]);
            }
            let a = got[0].alert();
            assert_eq!(
                (a.rule(), a.source(), a.message()),
                ("r\u{fffd}le", "s\u{fffd}", "m\u{fffd}")
            );
            assert_eq!(a.field(0).name, "k\u{fffd}");
            assert_eq!(a.field(0).value, Some("v\u{fffd}"));
            assert_eq!(a.tags().collect::<Vec<_>>(), ["t\u{fffd}"]);
        }
    }

    #[test]
    fn a_full_channel_drops_there_only_and_is_named() {
        let i = intake(&[Priority::Debug, Priority::Debug], 1000);
        // Channel 1 is "full" from its third alert on.
        let full = |ch: usize, enqueued: u64| ch == 1 && enqueued >= 2;
        let dropped: Vec<u64> = (0..4)
            .map(|n| i.push(alert(n, Priority::Error), full).dropped)
            .collect();
        assert_eq!(dropped, [0, 0, 0b10, 0b10]);
        let c = i.counts();
        assert_eq!((c.accepted, c.enqueued[0], c.enqueued[1]), (4, 4, 2));
        let mut got = Vec::new();
        i.take(&mut got);
        assert_eq!(got.iter().filter(|e| i.admits(1, e)).count(), 2);
        assert_eq!(got.iter().filter(|e| i.admits(0, e)).count(), 4);
    }

    #[test]
    fn producers_wake_an_idle_fanout_a_ticking_one_only_at_the_high_water_mark() {
        let i = intake(&[Priority::Debug], 3);
        i.sleep_state.store(TICKING, Ordering::SeqCst);
        i.push(alert(0, Priority::Error), |_, _| false);
        i.push(alert(1, Priority::Error), |_, _| false);
        assert_eq!(
            i.sleep_state.load(Ordering::SeqCst),
            TICKING,
            "no wake below the mark"
        );
        i.push(alert(2, Priority::Error), |_, _| false);
        assert_eq!(
            i.sleep_state.load(Ordering::SeqCst),
            AWAKE,
            "woken at the mark"
        );
        // The wake-up is in the eventfd: the next wait returns at once.
        let t = Instant::now();
        i.waker.wait(LONG);
        assert!(t.elapsed() < PROMPT);

        i.sleep_state.store(IDLE, Ordering::SeqCst);
        i.push(alert(3, Priority::Error), |_, _| false);
        assert_eq!(
            i.sleep_state.load(Ordering::SeqCst),
            AWAKE,
            "idle: woken by any alert"
        );
        let t = Instant::now();
        i.waker.wait(LONG);
        assert!(t.elapsed() < PROMPT);
    }

    #[test]
    fn concurrent_producers_lose_nothing_and_each_keeps_its_order() {
        const PRODUCERS: u64 = 4;
        const EACH: u64 = 20_000;
        let i = Arc::new(intake(&[Priority::Debug], 1 << 30));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let i = Arc::clone(&i);
                std::thread::spawn(move || {
                    for n in 0..EACH {
                        i.push(alert(p * EACH + n, Priority::Error), |_, _| false);
                    }
                })
            })
            .collect();
        let mut got = Vec::new();
        let mut out = Vec::new();
        let deadline = Instant::now() + LONG;
        while (got.len() as u64) < PRODUCERS * EACH && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            i.take(&mut out);
            got.extend(out.iter_mut().map(|e| e.alert().time_ns));
            out.clear();
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(got.len() as u64, PRODUCERS * EACH);
        assert_eq!(i.counts().enqueued[0], PRODUCERS * EACH);
        for p in 0..PRODUCERS {
            let mine: Vec<u64> = got.iter().copied().filter(|n| n / EACH == p).collect();
            assert_eq!(mine, (p * EACH..(p + 1) * EACH).collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_alert_no_channel_takes_is_handed_back_not_queued() {
        // Channel 0 takes Warning or worse; channel 1 is full.
        let i = intake(&[Priority::Warning, Priority::Debug], 1000);
        let full = |ch: usize, _| ch == 1;
        let p = i.push(alert(1, Priority::Error), full);
        assert_eq!((p.dropped, p.untaken.is_none(), i.len()), (0b10, true, 1));
        let p = i.push(alert(2, Priority::Debug), full);
        assert_eq!((p.dropped, p.untaken.is_some(), i.len()), (0b10, true, 1));
        let c = i.counts();
        assert_eq!(
            (c.accepted, c.enqueued, c.filtered),
            (2, vec![1, 0], vec![1, 0])
        );
    }

    #[test]
    fn a_take_hands_over_each_request_with_every_alert_emitted_before_it() {
        let i = intake(&[Priority::Debug], 1000);
        let mut got = Vec::new();
        assert_eq!(i.take(&mut got), Requests::default());
        i.push(alert(0, Priority::Error), |_, _| false);
        i.push(alert(1, Priority::Error), |_, _| false);
        assert_eq!(
            i.request_flush(),
            (1, vec![2]),
            "its number, and what it waits for"
        );
        assert!(i.has_requests_after(Requests::default()));
        let requests = i.take(&mut got);
        assert_eq!((got.len(), requests.flush, requests.close), (2, 1, false));
        assert!(!i.has_requests_after(requests));
        got.clear();
        i.push(alert(2, Priority::Error), |_, _| false);
        i.request_close();
        let requests = i.take(&mut got);
        assert_eq!((got.len(), requests.flush, requests.close), (1, 1, true));
    }
}
