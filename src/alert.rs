//! An alert as the library owns it: one UTF-8 arena plus spans, so copying an alert off the
//! engine's thread costs a handful of allocations whatever its number of fields. The engine
//! fills a [`RawAlert`] (the host's bytes); the fan-out thread checks it into an [`Alert`].

use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::Arc;

/// Falco's priority, numerically equal to the syslog severity.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
#[repr(u8)]
pub enum Priority {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Informational = 6,
    Debug = 7,
}

impl Priority {
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];

    /// The priority with this number (0..=7), as the C ABI passes it.
    pub fn from_i32(value: i32) -> Option<Priority> {
        usize::try_from(value)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The name Falco prints ("Warning", "Informational", ...).
    pub fn name(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }

    /// Parses a priority name the way Falco's config does (case-insensitive, "info" accepted).
    pub fn parse(name: &str) -> Option<Priority> {
        let lower = name.trim().to_ascii_lowercase();
        match lower.as_str() {
            "emergency" => Some(Priority::Emergency),
            "alert" => Some(Priority::Alert),
            "critical" => Some(Priority::Critical),
            "error" => Some(Priority::Error),
            "warning" => Some(Priority::Warning),
            "notice" => Some(Priority::Notice),
            "info" | "informational" => Some(Priority::Informational),
            "debug" => Some(Priority::Debug),
            _ => None,
        }
    }
}

/// How a field's value is rendered in JSON (the C ABI's `FALCO_FIELD_*`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldKind {
    String,
    Number,
    Bool,
    Null,
    Json,
}

impl FieldKind {
    pub fn from_i32(value: i32) -> Option<FieldKind> {
        match value {
            0 => Some(FieldKind::String),
            1 => Some(FieldKind::Number),
            2 => Some(FieldKind::Bool),
            3 => Some(FieldKind::Null),
            4 => Some(FieldKind::Json),
            _ => None,
        }
    }
}

/// What produced the alert: a rule match (`emit`) or a generic message (`emit_msg`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AlertKind {
    Event,
    Message,
}

type Span = Range<u32>;

#[derive(Clone, Debug)]
struct FieldSpans {
    name: Span,
    /// `None` renders as JSON null.
    value: Option<Span>,
    kind: FieldKind,
}

/// One field of an alert, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
    pub kind: FieldKind,
}

/// An owned alert: one arena of text plus spans. Every string is valid UTF-8 (repaired with
/// U+FFFD): an `Alert` is only made by [`RawAlert::checked`] (or [`AlertBuilder::build`]),
/// which checks the arena and every span.
#[derive(Clone, Debug)]
pub struct Alert {
    pub time_ns: u64,
    pub priority: Priority,
    pub kind: AlertKind,
    /// Bytes, not `String`, so that a [`RawAlert`] can hold what the host gave before it is
    /// checked. Kept as a `Vec` (not boxed) so that a recycled alert keeps its capacity.
    text: Vec<u8>,
    rule: Span,
    source: Span,
    message: Span,
    /// The fields, then the tags (as `name`): one allocation for both.
    entries: Vec<FieldSpans>,
    fields_len: usize,
    /// [`Alert::check`] ran since the text was last written (for [`RawAlert::as_checked`]; an
    /// `Alert` is valid whatever this says).
    checked: bool,
}

/// Alerts whose buffers grew beyond this are not recycled (one huge message must not pin
/// memory in the pool).
const RECYCLE_MAX_TEXT: usize = 64 * 1024;
const RECYCLE_MAX_ENTRIES: usize = 256;

impl Alert {
    /// An alert with nothing in it (valid: empty spans of an empty arena).
    fn empty() -> Alert {
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
        // SAFETY: an `Alert` exists only after `check` (the fields are private, and a
        // `RawAlert` becomes an `Alert` only through `RawAlert::checked`), which made `text`
        // UTF-8 and every span lie inside it on char boundaries; nothing writes to an `Alert`'s
        // text. Checking boundaries again cost ~50 instructions per field read.
        unsafe { std::str::from_utf8_unchecked(self.text.get_unchecked(range)) }
    }

    /// Makes the arena what an `Alert` promises (see [`Alert::is_valid`]), repairing it where
    /// it is not: invalid UTF-8 is replaced with U+FFFD string by string, exactly as if each
    /// string had been repaired on its own.
    fn check(&mut self) {
        if !self.checked && !self.is_valid() {
            self.repair();
        }
        self.checked = true;
    }

    /// UTF-8, every span inside the arena on char boundaries. The common case is one ASCII
    /// pass over the arena.
    fn is_valid(&self) -> bool {
        let len = self.text.len();
        let inside = |s: &Span| s.start <= s.end && s.end as usize <= len;
        // `&`, not `&&`: no branch per span.
        let mut ok = inside(&self.rule) & inside(&self.source) & inside(&self.message);
        for e in &self.entries {
            ok &= inside(&e.name) & e.value.as_ref().map_or(true, inside);
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
                .all(|e| on(&e.name) && e.value.as_ref().map_or(true, on))
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

/// An alert as an engine thread fills it: the host's bytes, not yet checked as UTF-8. The
/// fan-out thread (which reads every byte anyway) turns it into an [`Alert`] with
/// [`RawAlert::checked`], so `emit` copies each string once and scans nothing. Nothing can
/// read a `RawAlert`'s text as `str` (only [`RawAlert::as_checked`], once it was checked).
#[repr(transparent)]
#[derive(Clone, Debug)]
pub struct RawAlert(Alert);

impl RawAlert {
    /// An alert with nothing in it, to be filled by [`AlertBuilder::reuse`].
    pub fn empty() -> RawAlert {
        RawAlert(Alert::empty())
    }

    pub fn priority(&self) -> Priority {
        self.0.priority
    }

    /// Small enough to be kept for reuse (see [`Alert::recyclable`]).
    pub fn recyclable(&self) -> bool {
        self.0.recyclable()
    }

    /// Checks it now (an engine thread that must read its text: a channel's `match`).
    pub fn check(&mut self) -> &Alert {
        self.0.check();
        &self.0
    }

    /// The alert, if [`RawAlert::check`] already ran.
    pub fn as_checked(&self) -> Option<&Alert> {
        self.0.checked.then_some(&self.0)
    }

    /// The alert, checked (and repaired where it is not UTF-8): on the fan-out thread.
    pub fn checked(mut raw: Arc<RawAlert>) -> Arc<Alert> {
        // Read first: a valid alert is not written to, so its cache lines stay clean for the
        // engine thread that refills it next (on the other core).
        if !(raw.0.checked || raw.0.is_valid()) {
            // Unique when it comes from the intake (emit hands its only reference over).
            Arc::make_mut(&mut raw).0.check();
        }
        // SAFETY: `RawAlert` is `repr(transparent)` over `Alert` (same size and alignment, as
        // `Arc::from_raw` requires), and the `Alert` invariant holds: checked before, found
        // valid, or repaired just above.
        unsafe { Arc::from_raw(Arc::into_raw(raw).cast::<Alert>()) }
    }

    /// The alert, checked on this thread (tests, Rust callers).
    pub fn into_checked(mut self) -> Alert {
        self.0.check();
        self.0
    }

    /// A spent alert, for reuse by an engine thread.
    pub fn recycle(alert: Arc<Alert>) -> Arc<RawAlert> {
        // SAFETY: `repr(transparent)` as above; every `Alert` is a valid `RawAlert` (it only
        // has fewer guarantees).
        unsafe { Arc::from_raw(Arc::into_raw(alert).cast::<RawAlert>()) }
    }
}

impl From<Alert> for RawAlert {
    /// An alert already checked (a Rust caller's): nothing to check again.
    fn from(mut alert: Alert) -> RawAlert {
        alert.checked = true;
        RawAlert(alert)
    }
}

/// Strings measured before the arena is (re)allocated: one exact allocation for an alert of
/// up to this many strings.
const PENDING: usize = 32;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_repaired_with_replacement_character() {
        let mut raw = RawAlert::empty();
        let mut b = AlertBuilder::reuse(&mut raw, 2);
        b.rule(b"r\xffule").unwrap();
        b.source(b"syscall").unwrap();
        b.message(b"bad \xc3 byte").unwrap();
        b.field(b"n\x80", Some(b"v\xfe"), FieldKind::String)
            .unwrap();
        b.tag(b"t\xff").unwrap();
        b.build(1, Priority::Error, AlertKind::Event);
        let a = raw.into_checked();
        assert_eq!(a.rule(), "r\u{fffd}ule");
        assert_eq!(a.message(), "bad \u{fffd} byte");
        assert_eq!(a.field(0).name, "n\u{fffd}");
        assert_eq!(a.field(0).value, Some("v\u{fffd}"));
        assert_eq!(a.tags().collect::<Vec<_>>(), ["t\u{fffd}"]);
    }

    #[test]
    fn fields_and_tags_keep_their_order_when_interleaved() {
        let mut raw = RawAlert::empty();
        let mut b = AlertBuilder::reuse(&mut raw, 4);
        b.rule(b"r")
            .unwrap()
            .source(b"s")
            .unwrap()
            .message(b"m")
            .unwrap();
        b.tag(b"t1").unwrap();
        b.field(b"f1", Some(b"v1"), FieldKind::String).unwrap();
        b.tag(b"t2").unwrap();
        b.field(b"f2", None, FieldKind::Null).unwrap();
        b.build(1, Priority::Error, AlertKind::Event);
        let a = raw.into_checked();
        assert_eq!(a.fields_len(), 2);
        assert_eq!(a.field(0).name, "f1");
        assert_eq!(a.field(0).value, Some("v1"));
        assert_eq!(a.field(1).name, "f2");
        assert_eq!(a.field(1).value, None);
        assert_eq!(a.tags().collect::<Vec<_>>(), ["t1", "t2"]);
        assert_eq!(a.tags_len(), 2);
    }

    #[test]
    fn null_kind_drops_the_value() {
        let a = alert_from_parts(
            0,
            Priority::Debug,
            "r",
            "s",
            "m",
            &[("x", Some("ignored"), FieldKind::Null)],
            &[],
        );
        assert_eq!(a.field(0).value, None);
    }

    /// Issue 9.10: `reuse` took the buffers but left the spans, so the safe accessors read past
    /// the (now empty) arena: undefined behaviour that Miri reports as a dangling reference.
    /// Now the builder borrows the alert (nothing reads it meanwhile), a builder given up
    /// half-way (a NULL field: the alert is not queued) leaves it empty, and it is readable only
    /// once checked.
    #[test]
    fn an_alert_given_to_reuse_reads_as_nothing_until_rebuilt_and_checked() {
        let mut raw = RawAlert::from(alert_from_parts(
            1,
            Priority::Error,
            "a rule with a long name",
            "syscall",
            "some message",
            &[("proc.name", Some("bash"), FieldKind::String)],
            &["tag"],
        ));
        // Given up half-way (as emit does on a NULL field): the builder is dropped unbuilt.
        AlertBuilder::reuse(&mut raw, 0).rule(b"half").unwrap();
        assert!(
            raw.as_checked().is_none(),
            "unchecked bytes are not readable"
        );
        let a = raw.check();
        assert_eq!((a.rule(), a.source(), a.message()), ("", "", ""));
        assert_eq!((a.fields_len(), a.tags_len()), (0, 0));
        assert_eq!(a.fields().count() + a.tags().count(), 0);

        let mut b = AlertBuilder::reuse(&mut raw, 0);
        b.rule(b"r2")
            .unwrap()
            .source(b"s")
            .unwrap()
            .message(b"m")
            .unwrap();
        b.build(2, Priority::Notice, AlertKind::Event);
        assert!(
            raw.as_checked().is_none(),
            "unchecked bytes are not readable"
        );
        let a = RawAlert::checked(Arc::new(raw));
        assert_eq!((a.rule(), a.source(), a.message()), ("r2", "s", "m"));
        assert_eq!(a.fields_len(), 0);
        assert_eq!(a.time_ns, 2);
    }

    /// The arena is allocated once, to the exact size, however many strings (up to PENDING);
    /// more strings than that still all land in the right places.
    #[test]
    fn the_arena_is_one_exact_allocation_and_long_alerts_keep_every_string() {
        let a = alert_from_parts(
            1,
            Priority::Error,
            "rule",
            "src",
            "message",
            &[("n", Some("vv"), FieldKind::String)],
            &["t"],
        );
        assert_eq!(a.text.len(), "rulesrcmessagenvvt".len());
        let mut raw = RawAlert::empty();
        let mut b = AlertBuilder::reuse(&mut raw, 0);
        b.rule(b"rule")
            .unwrap()
            .source(b"src")
            .unwrap()
            .message(b"msg")
            .unwrap();
        b.field(b"n", Some(b"v"), FieldKind::String).unwrap();
        b.build(1, Priority::Error, AlertKind::Event);
        assert_eq!(raw.0.text.capacity(), "rulesrcmsgnv".len());

        let names: Vec<String> = (0..3 * PENDING).map(|i| format!("field{i}")).collect();
        let values: Vec<String> = (0..3 * PENDING).map(|i| format!("{}", i * 7)).collect();
        let mut b = AlertBuilder::reuse(&mut raw, 0);
        b.rule(b"r")
            .unwrap()
            .source(b"s")
            .unwrap()
            .message(b"m")
            .unwrap();
        for (n, v) in names.iter().zip(&values) {
            b.field(n.as_bytes(), Some(v.as_bytes()), FieldKind::Number)
                .unwrap();
        }
        b.tag(b"last").unwrap();
        b.build(1, Priority::Error, AlertKind::Event);
        let a = RawAlert::checked(Arc::new(raw));
        assert_eq!(a.fields_len(), 3 * PENDING);
        for (i, f) in a.fields().enumerate() {
            assert_eq!(
                (f.name, f.value),
                (names[i].as_str(), Some(values[i].as_str()))
            );
        }
        assert_eq!(a.tags().collect::<Vec<_>>(), ["last"]);
    }

    /// Strings of every length up to past the short-copy cases come back byte for byte.
    #[test]
    fn strings_of_every_length_are_copied_exactly() {
        let text: String = ('a'..='z').chain('A'..='Z').collect();
        let names: Vec<&str> = (0..=40).map(|n| &text[..n]).collect();
        let values: Vec<&str> = (0..=40).map(|n| &text[52 - n..]).collect();
        let fields: Vec<_> = names
            .iter()
            .zip(&values)
            .map(|(n, v)| (*n, Some(*v), FieldKind::String))
            .collect();
        let a = alert_from_parts(1, Priority::Error, "r", "s", "m", &fields, &names);
        for (i, f) in a.fields().enumerate() {
            assert_eq!((f.name, f.value), (names[i], Some(values[i])), "length {i}");
        }
        assert_eq!(a.tags().collect::<Vec<_>>(), names);
    }

    /// The check runs on whole arena, but repairs string by string: bytes that would form a
    /// valid character across two strings are still two invalid ones, as before.
    #[test]
    fn a_character_split_across_two_strings_is_repaired_in_each() {
        let mut raw = RawAlert::empty();
        let mut b = AlertBuilder::reuse(&mut raw, 1);
        // "é" is C3 A9: the rule ends with its first byte, the source starts with its second.
        b.rule(b"r\xc3").unwrap().source(b"\xa9s").unwrap();
        b.message("caf\u{e9} \u{1f600}".as_bytes()).unwrap();
        b.field(b"k", Some(b"\xe2\x82"), FieldKind::String).unwrap();
        b.build(1, Priority::Error, AlertKind::Event);
        let a = raw.into_checked();
        assert_eq!(a.rule(), "r\u{fffd}");
        assert_eq!(a.source(), "\u{fffd}s");
        assert_eq!(a.message(), "caf\u{e9} \u{1f600}");
        assert_eq!(a.field(0).value, Some("\u{fffd}"));

        // Valid UTF-8 that is not ASCII is kept as it is.
        let a = alert_from_parts(1, Priority::Error, "règle", "s", "m", &[], &["tâg"]);
        assert_eq!((a.rule(), a.tags().next()), ("règle", Some("tâg")));
    }

    #[test]
    fn priorities_round_trip_through_numbers_and_names() {
        for (i, p) in Priority::ALL.iter().enumerate() {
            assert_eq!(Priority::from_i32(i as i32), Some(*p));
            assert_eq!(Priority::parse(p.name()), Some(*p));
        }
        assert_eq!(Priority::from_i32(8), None);
        assert_eq!(Priority::from_i32(-1), None);
        assert_eq!(Priority::parse("INFO"), Some(Priority::Informational));
        assert_eq!(Priority::parse("verbose"), None);
    }
}
