//! [`Alert`]: the checked alert, one UTF-8 arena plus spans, and its reading; the check that
//! makes a host's bytes one (UTF-8, spans inside the arena on char boundaries), repairing them
//! where they are not.

use std::ops::Range;

use super::kinds::{AlertKind, FieldKind, Priority};

pub(super) type Span = Range<u32>;

#[derive(Clone, Debug)]
pub(super) struct FieldSpans {
    pub(super) name: Span,
    /// `None` renders as JSON null.
    pub(super) value: Option<Span>,
    pub(super) kind: FieldKind,
}

/// One field of an alert, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
    pub kind: FieldKind,
}

/// An owned alert: one arena of text plus spans. Every string is valid UTF-8 (repaired with
/// U+FFFD): an `Alert` is only made by [`RawAlert::checked`](super::RawAlert::checked) (or
/// [`AlertBuilder::build`](super::AlertBuilder::build)), which checks the arena and every span.
#[derive(Clone, Debug)]
pub struct Alert {
    pub time_ns: u64,
    pub priority: Priority,
    pub kind: AlertKind,
    /// Bytes, not `String`, so that a [`RawAlert`](super::RawAlert) can hold what the host gave before it is
    /// checked. Kept as a `Vec` (not boxed) so that a recycled alert keeps its capacity.
    pub(super) text: Vec<u8>,
    pub(super) rule: Span,
    pub(super) source: Span,
    pub(super) message: Span,
    /// The fields, then the tags (as `name`): one allocation for both.
    pub(super) entries: Vec<FieldSpans>,
    pub(super) fields_len: usize,
    /// [`Alert::check`] ran since the text was last written (for
    /// [`RawAlert::as_checked`](super::RawAlert::as_checked); an
    /// `Alert` is valid whatever this says).
    pub(super) checked: bool,
}

/// Alerts whose buffers grew beyond this are not recycled (one huge message must not pin
/// memory in the pool).
const RECYCLE_MAX_TEXT: usize = 64 * 1024;
const RECYCLE_MAX_ENTRIES: usize = 256;

impl Alert {
    /// An alert with nothing in it (valid: empty spans of an empty arena).
    pub(super) fn empty() -> Alert {
        Alert {
            time_ns: 0,
            priority: Priority::Debug,
            kind: AlertKind::Event,
            text: Vec::new(),
            rule: 0..0,
            source: 0..0,
            message: 0..0,
            entries: Vec::new(),
            fields_len: 0,
            checked: true,
        }
    }

    /// Small enough to be kept for reuse.
    pub fn recyclable(&self) -> bool {
        self.text.capacity() <= RECYCLE_MAX_TEXT && self.entries.capacity() <= RECYCLE_MAX_ENTRIES
    }

    pub fn rule(&self) -> &str {
        self.slice(&self.rule)
    }
    pub fn source(&self) -> &str {
        self.slice(&self.source)
    }
    /// The rule's rendered output, without time and priority.
    pub fn message(&self) -> &str {
        self.slice(&self.message)
    }
    pub fn fields_len(&self) -> usize {
        self.fields_len
    }
    /// The `i`-th field in the order the host gave them.
    pub fn field(&self, i: usize) -> Field<'_> {
        let f = &self.entries[..self.fields_len][i];
        Field {
            name: self.slice(&f.name),
            value: f.value.as_ref().map(|v| self.slice(v)),
            kind: f.kind,
        }
    }
    pub fn fields(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        (0..self.fields_len).map(move |i| self.field(i))
    }
    /// Tags in the order the host gave them (formatting sorts and de-duplicates).
    pub fn tags(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries[self.fields_len..]
            .iter()
            .map(move |t| self.slice(&t.name))
    }
    pub fn tags_len(&self) -> usize {
        self.entries.len() - self.fields_len
    }

    #[inline]
    fn slice(&self, span: &Span) -> &str {
        let range = span.start as usize..span.end as usize;
        debug_assert!(std::str::from_utf8(&self.text[range.clone()]).is_ok());
        // SAFETY: an `Alert` exists only after `check` (the fields are private to `alert/`, and
        // a `RawAlert` becomes an `Alert` only through `RawAlert::checked`), which made `text`
        // UTF-8 and every span lie inside it on char boundaries; nothing writes to an `Alert`'s
        // text. Checking boundaries again cost ~50 instructions per field read.
        unsafe { std::str::from_utf8_unchecked(self.text.get_unchecked(range)) }
    }

    /// Makes the arena what an `Alert` promises (see [`Alert::is_valid`]), repairing it where
    /// it is not: invalid UTF-8 is replaced with U+FFFD string by string, exactly as if each
    /// string had been repaired on its own.
    pub(super) fn check(&mut self) {
        if !self.checked && !self.is_valid() {
            self.repair();
        }
        self.checked = true;
    }

    /// UTF-8, every span inside the arena on char boundaries. The common case is one ASCII
    /// pass over the arena.
    pub(super) fn is_valid(&self) -> bool {
        let len = self.text.len();
        let inside = |s: &Span| s.start <= s.end && s.end as usize <= len;
        // `&`, not `&&`: no branch per span.
        let mut ok = inside(&self.rule) & inside(&self.source) & inside(&self.message);
        for e in &self.entries {
            ok &= inside(&e.name) & e.value.as_ref().is_none_or(inside);
        }
        // ASCII: every position is a char boundary.
        ok && (self.text.is_ascii() || self.utf8_on_boundaries())
    }

    /// Valid UTF-8, and every span starts and ends on a char boundary (a character split
    /// between two strings is invalid in each).
    #[cold]
    fn utf8_on_boundaries(&self) -> bool {
        let Ok(t) = std::str::from_utf8(&self.text) else {
            return false;
        };
        let on =
            |s: &Span| t.is_char_boundary(s.start as usize) && t.is_char_boundary(s.end as usize);
        on(&self.rule)
            && on(&self.source)
            && on(&self.message)
            && self
                .entries
                .iter()
                .all(|e| on(&e.name) && e.value.as_ref().is_none_or(on))
    }

    /// Rebuilds the arena with each string repaired on its own (U+FFFD for invalid UTF-8).
    #[cold]
    fn repair(&mut self) {
        let old = std::mem::take(&mut self.text);
        let mut text = String::with_capacity(old.len() + 16);
        let mut fix = |span: &mut Span| {
            let bytes = old
                .get(span.start as usize..span.end as usize)
                .unwrap_or_default();
            let start = text.len() as u32;
            text.push_str(&String::from_utf8_lossy(bytes));
            // The repaired arena can exceed 4 GiB only if the host's did (3 bytes per byte):
            // such an alert is cut to empty strings rather than wrapped.
            *span = match u32::try_from(text.len()) {
                Ok(end) => start..end,
                Err(_) => 0..0,
            };
        };
        fix(&mut self.rule);
        fix(&mut self.source);
        fix(&mut self.message);
        for e in &mut self.entries {
            fix(&mut e.name);
            if let Some(v) = &mut e.value {
                fix(v);
            }
        }
        self.text = text.into_bytes();
    }
}
