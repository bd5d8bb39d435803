//! A pattern list's decisions, keyed by the text decided (a rule name, a tag, a source): an
//! engine has a few hundred rules and tags, so after the first alerts every decision is one
//! hash lookup. Bounded: at most [`MAX_ENTRIES`] texts of at most [`MAX_TEXT`] bytes, and
//! [`MAX_BYTES`] in all; when full it starts over (a longer text is decided every time: at the
//! globs' linear cost, which hashing it would be close to anyway).

use std::collections::HashMap;

use parking_lot::Mutex;

const MAX_ENTRIES: usize = 4096;
const MAX_TEXT: usize = 64 << 10;
const MAX_BYTES: usize = 4 << 20;

#[derive(Debug, Default)]
pub struct Decisions {
    /// Uncontended: emit decides under the intake's lock.
    map: Mutex<Map>,
}

#[derive(Debug, Default)]
struct Map {
    decided: HashMap<Box<str>, bool>,
    bytes: usize,
}

impl Decisions {
    /// The decision for `text`, from `decide` the first time.
    pub fn get_or_decide(&self, text: &str, decide: impl FnOnce() -> bool) -> bool {
        if text.len() > MAX_TEXT {
            return decide();
        }
        let mut m = self.map.lock();
        if let Some(&d) = m.decided.get(text) {
            return d;
        }
        let d = decide();
        if m.decided.len() >= MAX_ENTRIES || m.bytes + text.len() > MAX_BYTES {
            m.decided.clear();
            m.bytes = 0;
        }
        m.decided.insert(text.into(), d);
        m.bytes += text.len();
        d
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().decided.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_text_is_decided_once_and_the_cache_stays_bounded() {
        let d = Decisions::default();
        let calls = std::cell::Cell::new(0);
        let decide = || {
            calls.set(calls.get() + 1);
            true
        };
        assert!(d.get_or_decide("r", decide));
        assert!(d.get_or_decide("r", decide));
        assert_eq!(calls.get(), 1);
        for i in 0..3 * MAX_ENTRIES {
            d.get_or_decide(&i.to_string(), || false);
            assert!(d.len() <= MAX_ENTRIES);
        }
        let long = "x".repeat(MAX_TEXT + 1);
        d.get_or_decide(&long, decide);
        d.get_or_decide(&long, decide);
        assert_eq!(calls.get(), 3, "a text over MAX_TEXT is decided every time");
    }
}
