//! Building an alert: [`AlertBuilder`] fills a [`RawAlert`] in place, each string measured,
//! the arena grown once, each string copied once.

use std::mem::MaybeUninit;

use super::checked::{Alert, FieldSpans, Span};
use super::kinds::{AlertKind, FieldKind, Priority};
use super::raw::RawAlert;

/// Strings measured before the arena is (re)allocated: one exact allocation for an alert of
/// up to this many strings.
pub(super) const PENDING: usize = 32;

/// `dst.copy_from_slice(src)`, without a call to `memcpy` for the short strings most field
/// names and values are (two overlapping loads and stores).
#[inline(always)]
fn copy(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if (8..=16).contains(&n) {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if (4..8).contains(&n) {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else if n < 4 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    } else {
        dst.copy_from_slice(src);
    }
}

/// Fills a [`RawAlert`] in place: each string is measured by the caller (its slice), the arena
/// grows once to the exact size, then each string is copied once. No UTF-8 check here: that is
/// [`RawAlert::checked`]'s, off the engine thread.
pub struct AlertBuilder<'r, 'a> {
    alert: &'r mut Alert,
    /// The arena's length once the pending strings are copied.
    end: usize,
    pending_len: usize,
    /// `pending[..pending_len]` are initialised. Not initialised up front: that was 64 stores
    /// (and 8 lines of code) per emit.
    pending: [MaybeUninit<&'a [u8]>; PENDING],
}

/// The arena would exceed 4 GiB (spans are 32-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl<'r, 'a> AlertBuilder<'r, 'a> {
    /// A builder that writes into `raw`'s buffers (cleared), keeping their capacity: the emit
    /// path allocates nothing when the alert comes from the pool. `entries` (fields + tags) is
    /// reserved exactly. Until [`AlertBuilder::build`], `raw` is an empty, unchecked alert.
    pub fn reuse(raw: &'r mut RawAlert, entries: usize) -> AlertBuilder<'r, 'a> {
        let alert = &mut raw.0;
        alert.text.clear();
        alert.entries.clear();
        alert.entries.reserve_exact(entries);
        alert.fields_len = 0;
        (alert.rule, alert.source, alert.message) = (0..0, 0..0, 0..0);
        alert.checked = false;
        AlertBuilder {
            alert,
            end: 0,
            pending_len: 0,
            // SAFETY: an array of `MaybeUninit` needs no initialisation.
            pending: unsafe {
                MaybeUninit::<[MaybeUninit<&'a [u8]>; PENDING]>::uninit().assume_init()
            },
        }
    }

    /// Plans `bytes` at the end of the arena; copied at the latest by `build`.
    // Inlined: returned through memory, the span was written as two 4-byte stores and read
    // back as one 8-byte load, a store-forwarding stall that was 70% of `field`'s time.
    #[inline(always)]
    fn push(&mut self, bytes: &'a [u8]) -> Result<Span, TooLarge> {
        let start = self.end;
        let end = start + bytes.len();
        let (Ok(s), Ok(e)) = (u32::try_from(start), u32::try_from(end)) else {
            return Err(TooLarge);
        };
        if self.pending_len == PENDING {
            self.copy_pending();
        }
        self.pending[self.pending_len] = MaybeUninit::new(bytes);
        self.pending_len += 1;
        self.end = end;
        Ok(s..e)
    }

    /// Grows the arena once to its planned length and copies the pending strings.
    #[inline(never)]
    fn copy_pending(&mut self) {
        let text = &mut self.alert.text;
        let mut at = text.len();
        text.reserve_exact(self.end - at);
        text.resize(self.end, 0);
        for bytes in &self.pending[..self.pending_len] {
            // SAFETY: `push` initialised `pending[..pending_len]`.
            let bytes: &[u8] = unsafe { bytes.assume_init() };
            copy(&mut text[at..at + bytes.len()], bytes);
            at += bytes.len();
        }
        self.pending_len = 0;
    }

    #[inline]
    pub fn rule(&mut self, bytes: &'a [u8]) -> Result<&mut Self, TooLarge> {
        self.alert.rule = self.push(bytes)?;
        Ok(self)
    }
    #[inline]
    pub fn source(&mut self, bytes: &'a [u8]) -> Result<&mut Self, TooLarge> {
        self.alert.source = self.push(bytes)?;
        Ok(self)
    }
    #[inline]
    pub fn message(&mut self, bytes: &'a [u8]) -> Result<&mut Self, TooLarge> {
        self.alert.message = self.push(bytes)?;
        Ok(self)
    }
    #[inline]
    pub fn field(
        &mut self,
        name: &'a [u8],
        value: Option<&'a [u8]>,
        kind: FieldKind,
    ) -> Result<&mut Self, TooLarge> {
        let name = self.push(name)?;
        let value = match value {
            Some(v) if kind != FieldKind::Null => Some(self.push(v)?),
            _ => None,
        };
        // Fields go before the tags; hosts add all fields first, so this is a push.
        let spans = FieldSpans { name, value, kind };
        let a = &mut *self.alert;
        if a.fields_len == a.entries.len() {
            a.entries.push(spans);
        } else {
            a.entries.insert(a.fields_len, spans);
        }
        a.fields_len += 1;
        Ok(self)
    }
    #[inline]
    pub fn tag(&mut self, bytes: &'a [u8]) -> Result<&mut Self, TooLarge> {
        let span = self.push(bytes)?;
        self.alert.entries.push(FieldSpans {
            name: span,
            value: None,
            kind: FieldKind::Null,
        });
        Ok(self)
    }

    /// Copies what is pending and finishes the alert in place (unchecked).
    pub fn build(mut self, time_ns: u64, priority: Priority, kind: AlertKind) {
        self.copy_pending();
        debug_assert_eq!(self.alert.text.len(), self.end);
        self.alert.time_ns = time_ns;
        self.alert.priority = priority;
        self.alert.kind = kind;
    }
}

/// Convenience for Rust callers and tests: an alert from string slices.
pub fn alert_from_parts(
    time_ns: u64,
    priority: Priority,
    rule: &str,
    source: &str,
    message: &str,
    fields: &[(&str, Option<&str>, FieldKind)],
    tags: &[&str],
) -> Alert {
    let mut raw = RawAlert::empty();
    let mut b = AlertBuilder::reuse(&mut raw, fields.len() + tags.len());
    // Spans only overflow past 4 GiB, which &str inputs of a test never reach.
    let _ = b.rule(rule.as_bytes());
    let _ = b.source(source.as_bytes());
    let _ = b.message(message.as_bytes());
    for (n, v, k) in fields {
        let _ = b.field(n.as_bytes(), v.map(str::as_bytes), *k);
    }
    for t in tags {
        let _ = b.tag(t.as_bytes());
    }
    b.build(time_ns, priority, AlertKind::Event);
    raw.into_checked()
}
