//! Routing: which alerts a channel takes, from its `match` block (rules, tags, sources, with `*`
//! and `?` globs, and a minimum priority). Checked by `emit` for each channel; an alert a
//! channel does not take is counted `filtered` there.

use crate::alert::{Alert, AlertKind, Priority, RawAlert};
use crate::config::Match;

/// The source `emit_msg` messages have.
const INTERNAL_SOURCE: &str = "internal";

/// A channel's compiled `match`. Each list given must match (any of its patterns); an empty
/// list matches everything.
#[derive(Debug, Clone, Default)]
pub struct Route {
    rules: Vec<String>,
    tags: Vec<String>,
    sources: Vec<String>,
    min_priority: Option<Priority>,
    max_priority: Option<Priority>,
}

impl Route {
    pub fn new(m: &Match) -> Route {
        Route {
            rules: m.rules.clone(),
            tags: m.tags.clone(),
            sources: m.sources.clone(),
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
        let any = |patterns: &[String], text: &str| patterns.iter().any(|p| glob(p, text));
        if !self.rules.is_empty() && !any(&self.rules, alert.rule()) {
            return false;
        }
        let source = match alert.kind {
            AlertKind::Event => alert.source(),
            AlertKind::Message => INTERNAL_SOURCE,
        };
        if !self.sources.is_empty() && !any(&self.sources, source) {
            return false;
        }
        self.tags.is_empty() || alert.tags().any(|t| any(&self.tags, t))
    }
}

/// `*` any run of characters, `?` one character, everything else itself (case-sensitive, as
/// Falco's rule names and tags are). On bytes, without allocating: it runs on `emit`'s thread.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // The UTF-8 character starting at t[i] (text is valid UTF-8, i on a boundary).
    let char_len = |i: usize| match t[i] {
        b if b < 0x80 => 1,
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        _ => 2,
    };
    let (mut pi, mut ti) = (0, 0);
    // The last `*` and the text position it was tried at: on a mismatch, retry one character
    // further (linear per `*` in practice, never exponential).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'?') => {
                pi += 1;
                ti += char_len(ti);
            }
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    let next = st + char_len(st);
                    star = Some((sp, next));
                    pi = sp + 1;
                    ti = next;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{alert_from_parts, FieldKind};

    #[test]
    fn globs() {
        assert!(glob("Write below *", "Write below binary dir"));
        assert!(glob("*shell*", "Terminal shell in container"));
        assert!(glob("T1?55", "T1555"));
        assert!(glob("exact", "exact"));
        assert!(glob("*", ""));
        assert!(!glob("exact", "exactly"));
        assert!(!glob("a*b", "acbd"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("?", ""));
        assert!(glob("é?", "éà"));
        assert!(glob("*à", "ééà"));
        assert!(!glob("??", "é"));
        assert!(glob("*rule*", "a rule here"));
    }

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
