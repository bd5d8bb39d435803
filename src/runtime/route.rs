//! Routing: which alerts a channel takes, from its `match` block (rules, tags, sources, with `*`
//! and `?` globs, and a minimum priority). Checked by `emit` for each channel; an alert a
//! channel does not take is counted `filtered` there.
//!
//! Emit runs on the engine's threads, so a pattern may never cost more than a pass over the
//! text ([`glob`]), and each distinct rule, tag or source is decided once per pattern list
//! ([`cache`]): the same rule name comes back with every alert of that rule.

mod cache;
mod glob;

use crate::alert::{Alert, AlertKind, Priority, RawAlert};
use crate::config::Match;
use cache::Decisions;
use glob::{ByteSet, Glob};

/// One list of a `match` block: any of its patterns matches.
#[derive(Debug, Default)]
struct Patterns {
    globs: Vec<Glob>,
    decided: Decisions,
}

impl Patterns {
    fn new(patterns: &[String]) -> Patterns {
        Patterns {
            globs: patterns.iter().map(|p| Glob::new(p)).collect(),
            decided: Decisions::default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    fn any(&self, text: &str) -> bool {
        self.decided
            .get_or_decide(text, || match self.globs.as_slice() {
                // One pattern: the pass that gathers the text's bytes would cost what it saves.
                [one] => one.matches(text),
                globs => {
                    let present = ByteSet::of(text.as_bytes());
                    globs.iter().any(|g| g.matches_given(text, &present))
                }
            })
    }
}

/// The source `emit_msg` messages have.
const INTERNAL_SOURCE: &str = "internal";

/// A channel's compiled `match`. Each list given must match (any of its patterns); an empty
/// list matches everything.
#[derive(Debug, Default)]
pub struct Route {
    rules: Patterns,
    tags: Patterns,
    sources: Patterns,
    min_priority: Option<Priority>,
    max_priority: Option<Priority>,
}

impl Route {
    pub fn new(m: &Match) -> Route {
        Route {
            rules: Patterns::new(&m.rules),
            tags: Patterns::new(&m.tags),
            sources: Patterns::new(&m.sources),
            min_priority: (m.min_priority != Priority::Debug).then_some(m.min_priority),
            max_priority: (m.max_priority != Priority::Emergency).then_some(m.max_priority),
        }
    }

    /// Takes every alert (the common case, checked first on the emit path).
    pub fn is_everything(&self) -> bool {
        self.rules.is_empty()
            && self.tags.is_empty()
            && self.sources.is_empty()
            && self.min_priority.is_none()
            && self.max_priority.is_none()
    }

    /// Reads the alert's rule, source or tags (not only its priority): emit must check the
    /// alert's text first (see [`RawAlert`]).
    pub fn reads_text(&self) -> bool {
        !(self.rules.is_empty() && self.tags.is_empty() && self.sources.is_empty())
    }

    /// [`Route::admits`] on emit's thread, before the fan-out thread checked the text: only a
    /// route that [`Route::reads_text`] needs the alert checked (then it is).
    pub fn admits_raw(&self, alert: &RawAlert) -> bool {
        match alert.as_checked() {
            Some(checked) => self.admits(checked),
            None => {
                debug_assert!(!self.reads_text(), "emit checks the text for such a route");
                self.admits_priority(alert.priority())
            }
        }
    }

    fn admits_priority(&self, p: Priority) -> bool {
        // Priorities are ordered most severe first (Emergency = 0).
        !(self.min_priority.is_some_and(|min| p > min)
            || self.max_priority.is_some_and(|max| p < max))
    }

    pub fn admits(&self, alert: &Alert) -> bool {
        if self.is_everything() {
            return true;
        }
        if !self.admits_priority(alert.priority) {
            return false;
        }
        if !self.rules.is_empty() && !self.rules.any(alert.rule()) {
            return false;
        }
        let source = match alert.kind {
            AlertKind::Event => alert.source(),
            AlertKind::Message => INTERNAL_SOURCE,
        };
        if !self.sources.is_empty() && !self.sources.any(source) {
            return false;
        }
        self.tags.is_empty() || alert.tags().any(|t| self.tags.any(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{alert_from_parts, FieldKind};

    fn alert(rule: &str, source: &str, p: Priority, tags: &[&str]) -> Alert {
        alert_from_parts(
            1,
            p,
            rule,
            source,
            "m",
            &[("a", Some("1"), FieldKind::Number)],
            tags,
        )
    }

    #[test]
    fn every_list_given_must_match_one_of_its_patterns() {
        let m = Match {
            rules: vec!["Read sensitive*".into(), "Write below binary dir".into()],
            tags: vec!["mitre_*".into()],
            sources: vec![],
            min_priority: Priority::Warning,
            max_priority: Priority::Emergency,
        };
        let r = Route::new(&m);
        let yes = alert(
            "Read sensitive file",
            "syscall",
            Priority::Error,
            &["mitre_x"],
        );
        assert!(r.admits(&yes));
        assert!(!r.admits(&alert("Other", "syscall", Priority::Error, &["mitre_x"])));
        assert!(!r.admits(&alert(
            "Read sensitive file",
            "syscall",
            Priority::Error,
            &["fs"]
        )));
        assert!(!r.admits(&alert(
            "Read sensitive file",
            "syscall",
            Priority::Notice,
            &["mitre_x"]
        )));
        let src = Route::new(&Match {
            sources: vec!["k8s_audit".into(), "internal".into()],
            ..Match::default()
        });
        assert!(src.admits(&alert("r", "k8s_audit", Priority::Debug, &[])));
        assert!(!src.admits(&alert("r", "syscall", Priority::Debug, &[])));
        assert!(Route::new(&Match::default()).is_everything());
        let band = Route::new(&Match {
            min_priority: Priority::Warning,
            max_priority: Priority::Error,
            ..Match::default()
        });
        let admitted: Vec<Priority> = Priority::ALL
            .into_iter()
            .filter(|p| band.admits(&alert("r", "s", *p, &[])))
            .collect();
        assert_eq!(admitted, [Priority::Error, Priority::Warning]);
    }
}
