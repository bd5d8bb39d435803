//! `match` patterns compiled so that deciding one costs time linear in the text: `*` any run of
//! characters, `?` one character, everything else itself (case-sensitive, as Falco's rule names
//! and tags are).
//!
//! A pattern is its runs between `*`s. The first run must match at the start, the last at the
//! end, and each run in between is placed at its leftmost occurrence after the previous one
//! (leftmost is always right: every occurrence of a run has the same number of characters, so
//! the leftmost leaves the most room to the runs after it). A run without `?` is found by
//! `memchr::memmem` (Two-Way with a vectorised prefilter: linear in text + run); one with `?` by a
//! bit-parallel shift-and over characters (text × ⌈run/64⌉ word operations). The backtracking
//! matcher this replaces cost pattern × text: `*` + 5,000 `a` + `b` against a 1 MiB rule name
//! took seconds per emit.

use std::collections::HashMap;

use memchr::memmem;

#[derive(Debug)]
pub struct Glob {
    /// The runs between `*`s (one run: no `*`, the whole text must match it).
    runs: Vec<Run>,
    /// The bytes the pattern's literal text holds: a text lacking one cannot match.
    needs: ByteSet,
}

/// Which byte values occur in a text.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ByteSet([u64; 4]);

impl ByteSet {
    pub fn of(text: &[u8]) -> ByteSet {
        let mut s = ByteSet::default();
        for &b in text {
            s.0[(b >> 6) as usize] |= 1 << (b & 63);
        }
        s
    }

    fn within(&self, other: &ByteSet) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a & !b == 0)
    }
}

#[derive(Debug)]
struct Run {
    /// The run as written (`?` included).
    text: String,
    /// Present when the run holds a `?`.
    shift_and: Option<ShiftAnd>,
    /// Finds a run without `?` (linear in text + run).
    finder: memmem::Finder<'static>,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let runs = pattern
            .split('*')
            .map(|r| Run {
                text: r.to_string(),
                shift_and: r.contains('?').then(|| ShiftAnd::new(r)),
                finder: memmem::Finder::new(r.as_bytes()).into_owned(),
            })
            .collect();
        let literal: Vec<u8> = pattern.bytes().filter(|b| !b"*?".contains(b)).collect();
        Glob {
            runs,
            needs: ByteSet::of(&literal),
        }
    }

    /// [`Glob::matches`], skipped in O(1) when `text` (whose bytes are `present`) lacks a byte
    /// the pattern needs: many patterns against one long text cost a pass over the text each
    /// only when every byte they name is in it.
    pub fn matches_given(&self, text: &str, present: &ByteSet) -> bool {
        self.needs.within(present) && self.matches(text)
    }

    pub fn matches(&self, text: &str) -> bool {
        let t = text.as_bytes();
        let (first, last) = match self.runs.as_slice() {
            [only] => return match_at(&only.text, t, 0) == Some(t.len()),
            [first, .., last] => (first, last),
            [] => return t.is_empty(),
        };
        let Some(mut from) = match_at(&first.text, t, 0) else {
            return false;
        };
        let Some(to) = match_before(&last.text, t, t.len(), from) else {
            return false;
        };
        for run in &self.runs[1..self.runs.len() - 1] {
            if run.text.is_empty() {
                continue;
            }
            // `from` and `to` are character boundaries: matching moves by whole characters.
            let hay = &text[from..to];
            let end = match &run.shift_and {
                Some(sa) => sa.first_end(hay),
                None => run.finder.find(hay.as_bytes()).map(|i| i + run.text.len()),
            };
            match end {
                Some(e) => from += e,
                None => return false,
            }
        }
        true
    }
}

/// The length of the UTF-8 character starting with byte `b`.
fn char_len(b: u8) -> usize {
    match b {
        b if b < 0x80 => 1,
        b if b >= 0xF0 => 4,
        b if b >= 0xE0 => 3,
        _ => 2,
    }
}

/// Matches `run` at `t[at..]`: where the match ends.
fn match_at(run: &str, t: &[u8], mut at: usize) -> Option<usize> {
    for &c in run.as_bytes() {
        if c == b'?' {
            at += char_len(*t.get(at)?);
        } else if t.get(at) == Some(&c) {
            at += 1;
        } else {
            return None;
        }
    }
    (at <= t.len()).then_some(at)
}

/// Matches `run` ending at `end`, not starting before `floor`: where the match starts.
fn match_before(run: &str, t: &[u8], mut end: usize, floor: usize) -> Option<usize> {
    for &c in run.as_bytes().iter().rev() {
        if end <= floor {
            return None;
        }
        end -= 1;
        if c == b'?' {
            // Back to the start of the character (continuation bytes are 0b10xx_xxxx).
            while end > floor && t[end] & 0xC0 == 0x80 {
                end -= 1;
            }
        } else if t[end] != c {
            return None;
        }
    }
    Some(end)
}

/// Shift-and over the run's characters: bit i of the state is set when the last i+1 text
/// characters match the run's first i+1.
#[derive(Debug)]
struct ShiftAnd {
    /// The run's length in characters.
    len: usize,
    words: usize,
    /// Per ASCII character, `words` words of positions it matches (`?` positions included).
    ascii: Vec<u64>,
    /// The same for the run's other characters.
    other: HashMap<char, Vec<u64>>,
    /// The `?` positions (what any other character matches).
    any: Vec<u64>,
}

impl ShiftAnd {
    fn new(run: &str) -> ShiftAnd {
        let len = run.chars().count();
        let words = len.div_ceil(64).max(1);
        let set = |m: &mut [u64], i: usize| m[i / 64] |= 1 << (i % 64);
        let mut any = vec![0; words];
        for (i, c) in run.chars().enumerate() {
            if c == '?' {
                set(&mut any, i);
            }
        }
        let mut ascii: Vec<u64> = (0..128).flat_map(|_| any.iter().copied()).collect();
        let mut other: HashMap<char, Vec<u64>> = HashMap::new();
        for (i, c) in run.chars().enumerate().filter(|(_, c)| *c != '?') {
            if c.is_ascii() {
                set(&mut ascii[c as usize * words..][..words], i);
            } else {
                set(other.entry(c).or_insert_with(|| any.clone()), i);
            }
        }
        ShiftAnd {
            len,
            words,
            ascii,
            other,
            any,
        }
    }

    /// Where the first occurrence in `hay` ends (bytes), if any.
    fn first_end(&self, hay: &str) -> Option<usize> {
        let top = (self.len - 1) / 64;
        let top_bit = 1u64 << ((self.len - 1) % 64);
        let mut state = vec![0u64; self.words];
        for (i, c) in hay.char_indices() {
            let mask = if c.is_ascii() {
                &self.ascii[c as usize * self.words..][..self.words]
            } else {
                self.other.get(&c).map_or(&self.any[..], |m| &m[..])
            };
            let mut carry = 1;
            for (s, m) in state.iter_mut().zip(mask) {
                let next = (*s << 1) | carry;
                carry = *s >> 63;
                *s = next & m;
            }
            if state[top] & top_bit != 0 {
                return Some(i + c.len_utf8());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str, t: &str) -> bool {
        Glob::new(p).matches(t)
    }

    #[test]
    fn globs() {
        assert!(glob("Write below *", "Write below binary dir"));
        assert!(glob("*shell*", "Terminal shell in container"));
        assert!(glob("T1?55", "T1555"));
        assert!(glob("exact", "exact"));
        assert!(glob("*", ""));
        assert!(glob("", ""));
        assert!(!glob("", "a"));
        assert!(!glob("exact", "exactly"));
        assert!(!glob("a*b", "acbd"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("?", ""));
        assert!(glob("é?", "éà"));
        assert!(glob("*à", "ééà"));
        assert!(!glob("??", "é"));
        assert!(glob("*rule*", "a rule here"));
        assert!(glob("*?é?*", "xàéy"));
        assert!(!glob("*?é?*", "éy"));
        assert!(glob("a*?b?*c", "aXbYc"));
        assert!(!glob("ab*ba", "aba"), "prefix and suffix may not overlap");
        assert!(glob("ab*ba", "abba"));
        assert!(glob("**a**", "xay"));
        assert!(glob("*a?c*a?c*", "xxabcyyadcz"));
        assert!(!glob("*a?c*a?c*", "xxabcyy"));
    }

    /// The compiled matcher agrees with a plain recursive definition on every short pattern
    /// and text over a small alphabet.
    #[test]
    fn agrees_with_the_definition() {
        fn reference(p: &[char], t: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some(('*', rest)) => (0..=t.len()).any(|i| reference(rest, &t[i..])),
                Some(('?', rest)) => !t.is_empty() && reference(rest, &t[1..]),
                Some((c, rest)) => t.first() == Some(c) && reference(rest, &t[1..]),
            }
        }
        let alphabet = ['a', 'é', '*', '?'];
        let texts = ['a', 'é', 'b'];
        let all = |alpha: &[char], n: usize| -> Vec<String> {
            let mut out = vec![String::new()];
            for _ in 0..n {
                let prev = out.clone();
                for s in &prev {
                    for c in alpha {
                        out.push(format!("{s}{c}"));
                    }
                }
            }
            out.sort();
            out.dedup();
            out
        };
        let patterns = all(&alphabet, 4);
        let strings = all(&texts, 5);
        for p in &patterns {
            let g = Glob::new(p);
            let pc: Vec<char> = p.chars().collect();
            for t in &strings {
                let tc: Vec<char> = t.chars().collect();
                let want = reference(&pc, &tc);
                assert_eq!(g.matches(t), want, "{p:?} against {t:?}");
                let present = ByteSet::of(t.as_bytes());
                assert_eq!(g.matches_given(t, &present), want, "{p:?} against {t:?}");
            }
        }
        // A run of more than 64 characters holding a `?` (several words of state).
        let long = format!("*{}?b*", "a".repeat(100));
        assert!(glob(&long, &format!("x{}zb", "a".repeat(100))));
        assert!(!glob(&long, &format!("x{}zc", "a".repeat(100))));
    }
}
