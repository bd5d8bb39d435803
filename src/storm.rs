//! Storm control (`<output>.storm`, an extension, off by default): per channel, past `max`
//! alerts of the same key within `window`, further alerts of that key are held back, and when
//! the window ends one summary alert takes their place. Nothing is hidden: every held-back
//! alert is counted (`suppressed`), and the summary says how many and from when to when.
//!
//! A window starts at the first alert of a key and lasts `window` (measured on the monotonic
//! clock at emit). Its first `max` alerts pass; the others are held back. When it ends (seen
//! at the next alert of the key, or by the fan-out thread, which looks at least once a second,
//! or at close), a summary is queued for the channel if anything was held back: a copy of the
//! first held-back alert (its rule, priority, source, time, fields and tags) whose message says
//! `storm control: N alerts held back from <first> to <last> (<key>); the first: <message>`,
//! with the fields `storm.held_back`, `storm.first_time` and `storm.last_time` added. The next
//! alert of the key starts a new window.
//!
//! At most [`MAX_KEYS`] keys are tracked per channel: an alert with a new key beyond them
//! passes (storm control never holds back what it cannot account for).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::alert::{Alert, AlertBuilder, AlertKind, FieldKind, RawAlert};
use crate::config::StormConfig;
use crate::date::rfc3339_utc;

pub const MAX_KEYS: usize = 10_000;

/// What makes two alerts "the same" for storm control.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Rule,
    Priority,
    Source,
    Tags,
    /// An output field by name; `hostname` falls back to the handle's host name.
    Field(String),
}

struct Window {
    end: Instant,
    passed: u64,
    held: u64,
    first: Option<Arc<Alert>>,
    first_ns: u64,
    last_ns: u64,
}

pub struct Storm {
    parts: Vec<Part>,
    max: u64,
    window: Duration,
    hostname: String,
    windows: HashMap<String, Window>,
    /// The earliest end of a window (nothing to look at before it).
    next_end: Option<Instant>,
    key: String,
}

/// Whether an alert passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Hold,
}

impl Storm {
    /// None when the block does not turn storm control on (`max: 0`).
    pub fn new(cfg: &StormConfig, hostname: &str) -> Option<Storm> {
        if cfg.max == 0 {
            return None;
        }
        let parts = cfg
            .per
            .iter()
            .map(|p| match p.as_str() {
                "rule" => Part::Rule,
                "priority" => Part::Priority,
                "source" => Part::Source,
                "tags" => Part::Tags,
                other => Part::Field(other.to_string()),
            })
            .collect();
        Some(Storm {
            parts,
            max: cfg.max,
            window: Duration::from_millis(cfg.window_ms),
            hostname: hostname.to_string(),
            windows: HashMap::new(),
            next_end: None,
            key: String::new(),
        })
    }

    /// Decides for one alert; a window of its key that has ended yields its summary first
    /// (into `summaries`).
    pub fn offer(
        &mut self,
        alert: &Arc<RawAlert>,
        now: Instant,
        summaries: &mut Vec<Alert>,
    ) -> Verdict {
        let Some(a) = alert.as_checked() else {
            return Verdict::Pass; // emit checks the text of every alert when a storm is set
        };
        if a.kind != AlertKind::Event {
            return Verdict::Pass;
        }
        self.make_key(a);
        if let Some(w) = self.windows.get(self.key.as_str()) {
            if now >= w.end {
                if let Some(w) = self.windows.remove(self.key.as_str()) {
                    summaries.extend(summary(&self.key_text(a), w));
                }
            }
        }
        if !self.windows.contains_key(self.key.as_str()) {
            if self.windows.len() >= MAX_KEYS {
                return Verdict::Pass;
            }
            let end = now + self.window;
            self.next_end = Some(self.next_end.map_or(end, |n| n.min(end)));
            self.windows.insert(
                self.key.clone(),
                Window {
                    end,
                    passed: 0,
                    held: 0,
                    first: None,
                    first_ns: 0,
                    last_ns: 0,
                },
            );
        }
        let w = self
            .windows
            .get_mut(self.key.as_str())
            .expect("inserted above");
        if w.passed < self.max {
            w.passed += 1;
            return Verdict::Pass;
        }
        w.held += 1;
        if w.first.is_none() {
            w.first = Some(Arc::new(a.clone()));
            w.first_ns = a.time_ns;
        }
        w.first_ns = w.first_ns.min(a.time_ns);
        w.last_ns = w.last_ns.max(a.time_ns);
        Verdict::Hold
    }

    /// The summaries of the windows that ended by `now` (every window with `all`, at close);
    /// forgets ended windows.
    pub fn due(&mut self, now: Instant, all: bool, summaries: &mut Vec<Alert>) {
        if !all && self.next_end.is_none_or(|n| now < n) {
            return;
        }
        let mut next: Option<Instant> = None;
        let mut ended = Vec::new();
        for (k, w) in &self.windows {
            if all || now >= w.end {
                ended.push(k.clone());
            } else {
                next = Some(next.map_or(w.end, |n| n.min(w.end)));
            }
        }
        self.next_end = next;
        for k in ended {
            if let Some(w) = self.windows.remove(&k) {
                let described = w.first.as_ref().map(|a| self.key_text(a));
                if let Some(d) = described {
                    summaries.extend(summary(&d, w));
                }
            }
        }
    }

    fn value<'a>(&'a self, a: &'a Alert, part: &Part) -> std::borrow::Cow<'a, str> {
        match part {
            Part::Rule => a.rule().into(),
            Part::Priority => a.priority.name().into(),
            Part::Source => a.source().into(),
            Part::Tags => a.tags().collect::<Vec<_>>().join(",").into(),
            Part::Field(name) => match a.fields().find(|f| f.name == name) {
                Some(f) => f.value.unwrap_or("<NA>").into(),
                None if name == "hostname" => self.hostname.as_str().into(),
                None => "<NA>".into(),
            },
        }
    }

    /// The key: each part's length and value (unambiguous whatever the values hold).
    fn make_key(&mut self, a: &Alert) {
        let mut key = std::mem::take(&mut self.key);
        key.clear();
        for p in &self.parts {
            let v = self.value(a, p);
            key.push_str(&v.len().to_string());
            key.push(':');
            key.push_str(&v);
        }
        self.key = key;
    }

    /// `rule=Write below binary dir hostname=node-7`, for the summary's message.
    fn key_text(&self, a: &Alert) -> String {
        let name = |p: &Part| match p {
            Part::Rule => "rule".to_string(),
            Part::Priority => "priority".to_string(),
            Part::Source => "source".to_string(),
            Part::Tags => "tags".to_string(),
            Part::Field(n) => n.clone(),
        };
        self.parts
            .iter()
            .map(|p| format!("{}={}", name(p), self.value(a, p)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The summary of a window, when it held anything back.
fn summary(key: &str, w: Window) -> Option<Alert> {
    let first = w.first?;
    let (from, to) = (rfc3339_utc(w.first_ns), rfc3339_utc(w.last_ns));
    let message = format!(
        "storm control: {} alerts held back from {from} to {to} ({key}); the first: {}",
        w.held,
        first.message()
    );
    let held = w.held.to_string();
    let mut raw = RawAlert::empty();
    let mut b = AlertBuilder::reuse(&mut raw, first.fields_len() + 3 + first.tags_len());
    // Spans overflow only past 4 GiB: the first alert's text fitted, and the additions are
    // short.
    let _ = b.rule(first.rule().as_bytes());
    let _ = b.source(first.source().as_bytes());
    let _ = b.message(message.as_bytes());
    for f in first.fields() {
        let _ = b.field(f.name.as_bytes(), f.value.map(str::as_bytes), f.kind);
    }
    let _ = b.field(b"storm.held_back", Some(held.as_bytes()), FieldKind::Number);
    let _ = b.field(
        b"storm.first_time",
        Some(from.as_bytes()),
        FieldKind::String,
    );
    let _ = b.field(b"storm.last_time", Some(to.as_bytes()), FieldKind::String);
    for t in first.tags() {
        let _ = b.tag(t.as_bytes());
    }
    b.build(w.first_ns, first.priority, AlertKind::Event);
    Some(raw.into_checked())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{alert_from_parts, Priority};

    fn cfg(per: &[&str], max: u64, window_ms: u64) -> StormConfig {
        StormConfig {
            per: per.iter().map(|s| s.to_string()).collect(),
            max,
            window_ms,
        }
    }

    fn raw(rule: &str, t: u64, pod: &str) -> Arc<RawAlert> {
        let a = alert_from_parts(
            t,
            Priority::Error,
            rule,
            "syscall",
            "m",
            &[("k8s.pod.name", Some(pod), FieldKind::String)],
            &["t"],
        );
        Arc::new(RawAlert::from(a))
    }

    #[test]
    fn past_max_within_the_window_is_held_and_summarised_once() {
        let mut s = Storm::new(&cfg(&["rule"], 3, 1000), "h").unwrap();
        let t0 = Instant::now();
        let mut sums = Vec::new();
        let verdicts: Vec<_> = (0..10)
            .map(|i| s.offer(&raw("r", 100 + i, "p"), t0, &mut sums))
            .collect();
        assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Pass).count(), 3);
        // Another rule has a window of its own.
        assert_eq!(s.offer(&raw("other", 1, "p"), t0, &mut sums), Verdict::Pass);
        s.due(t0 + Duration::from_millis(999), false, &mut sums);
        assert!(sums.is_empty());
        s.due(t0 + Duration::from_millis(1000), false, &mut sums);
        assert_eq!(sums.len(), 1, "one summary: `other` held nothing back");
        let m = sums[0].message();
        assert!(
            m.starts_with("storm control: 7 alerts held back from 1970-01-01T00:00:00.000000103Z to 1970-01-01T00:00:00.000000109Z (rule=r); the first: m"),
            "{m}"
        );
        assert_eq!(sums[0].time_ns, 103);
        assert_eq!(sums[0].rule(), "r");
        let held = sums[0]
            .fields()
            .find(|f| f.name == "storm.held_back")
            .unwrap();
        assert_eq!(held.value, Some("7"));
        // A new window after the end.
        sums.clear();
        assert_eq!(
            s.offer(&raw("r", 200, "p"), t0 + Duration::from_secs(2), &mut sums),
            Verdict::Pass
        );
        assert!(sums.is_empty());
    }

    #[test]
    fn the_next_alert_of_an_ended_window_brings_its_summary_and_fields_split_keys() {
        let mut s = Storm::new(&cfg(&["rule", "k8s.pod.name"], 1, 1000), "h").unwrap();
        let t0 = Instant::now();
        let mut sums = Vec::new();
        assert_eq!(s.offer(&raw("r", 1, "a"), t0, &mut sums), Verdict::Pass);
        assert_eq!(s.offer(&raw("r", 2, "b"), t0, &mut sums), Verdict::Pass);
        assert_eq!(s.offer(&raw("r", 3, "a"), t0, &mut sums), Verdict::Hold);
        let later = t0 + Duration::from_secs(1);
        assert_eq!(s.offer(&raw("r", 4, "a"), later, &mut sums), Verdict::Pass);
        assert_eq!(sums.len(), 1);
        assert!(sums[0].message().contains("(rule=r k8s.pod.name=a)"));
        // At close every window with something held back is summarised.
        assert_eq!(s.offer(&raw("r", 5, "a"), later, &mut sums), Verdict::Hold);
        s.due(later, true, &mut sums);
        assert_eq!(sums.len(), 2);
        assert!(s.windows.is_empty());
    }

    #[test]
    fn keys_beyond_the_bound_pass() {
        let mut s = Storm::new(&cfg(&["k8s.pod.name"], 1, 60_000), "h").unwrap();
        let t0 = Instant::now();
        let mut sums = Vec::new();
        for i in 0..MAX_KEYS {
            s.offer(&raw("r", 1, &i.to_string()), t0, &mut sums);
        }
        for _ in 0..3 {
            assert_eq!(s.offer(&raw("r", 1, "new"), t0, &mut sums), Verdict::Pass);
        }
    }
}
