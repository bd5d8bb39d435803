//! An alert as the library owns it: one UTF-8 arena plus spans, so copying an alert off the
//! engine's thread costs a handful of allocations whatever its number of fields.

use std::ops::Range;

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

/// An owned alert. Every string is valid UTF-8 (repaired with U+FFFD on the way in).
#[derive(Clone, Debug)]
pub struct Alert {
    pub time_ns: u64,
    pub priority: Priority,
    pub kind: AlertKind,
    /// Kept as `String`/`Vec` (not boxed) so that a recycled alert keeps its capacity.
    text: String,
    rule: Span,
    source: Span,
    message: Span,
    /// The fields, then the tags (as `name`): one allocation for both.
    entries: Vec<FieldSpans>,
    fields_len: usize,
}

/// Alerts whose buffers grew beyond this are not recycled (one huge message must not pin
/// memory in the pool).
const RECYCLE_MAX_TEXT: usize = 64 * 1024;
const RECYCLE_MAX_ENTRIES: usize = 256;

impl Alert {
    /// An alert with nothing in it, to be filled by [`AlertBuilder::reuse`].
    pub fn empty() -> Alert {
        Alert {
            time_ns: 0,
            priority: Priority::Debug,
            kind: AlertKind::Event,
            text: String::new(),
            rule: 0..0,
            source: 0..0,
            message: 0..0,
            entries: Vec::new(),
            fields_len: 0,
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
        debug_assert!(self.text.get(range.clone()).is_some());
        // SAFETY: every span was made by `AlertBuilder::push` for this very arena (the fields
        // are private and `text` is never modified), so it lies inside `text` on char
        // boundaries. Checking boundaries again cost ~50 instructions per field read.
        unsafe { self.text.get_unchecked(range) }
    }
}

/// Builds an [`Alert`] into one arena. Byte strings are checked as UTF-8 and repaired with
/// U+FFFD when they are not.
pub struct AlertBuilder {
    text: String,
    rule: Span,
    source: Span,
    message: Span,
    /// Fields, then tags (see [`Alert`]).
    entries: Vec<FieldSpans>,
    fields_len: usize,
}

/// The arena would exceed 4 GiB (spans are 32-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

impl AlertBuilder {
    pub fn with_capacity(bytes: usize, fields: usize, tags: usize) -> AlertBuilder {
        AlertBuilder {
            text: String::with_capacity(bytes),
            rule: 0..0,
            source: 0..0,
            message: 0..0,
            entries: Vec::with_capacity(fields + tags),
            fields_len: 0,
        }
    }

    // Inlined: returned through memory, the span was written as two 4-byte stores and read
    // back as one 8-byte load, a store-forwarding stall that was 70% of `field`'s time.
    #[inline(always)]
    fn push(&mut self, bytes: &[u8]) -> Result<Span, TooLarge> {
        let start = self.text.len();
        if bytes.is_ascii() {
            // SAFETY: ASCII is UTF-8. The common case: std's word-at-a-time ASCII check instead
            // of the general validator, which was 40% of `emit` for the seed alert.
            self.text
                .push_str(unsafe { std::str::from_utf8_unchecked(bytes) });
        } else {
            match std::str::from_utf8(bytes) {
                Ok(s) => self.text.push_str(s),
                Err(_) => self.text.push_str(&String::from_utf8_lossy(bytes)),
            }
        }
        let end = u32::try_from(self.text.len()).map_err(|_| TooLarge)?;
        Ok(start as u32..end)
    }

    /// A builder that writes into `alert`'s buffers (cleared), keeping their capacity: the
    /// emit path allocates nothing when the alert comes from the pool. `alert` is left empty
    /// (no spans into the buffers it gave away), so reading it before
    /// [`AlertBuilder::build_into`] gives empty strings, never memory it no longer owns.
    pub fn reuse(alert: &mut Alert) -> AlertBuilder {
        let old = std::mem::replace(alert, Alert::empty());
        let mut text = old.text;
        let mut entries = old.entries;
        text.clear();
        entries.clear();
        AlertBuilder {
            text,
            rule: 0..0,
            source: 0..0,
            message: 0..0,
            entries,
            fields_len: 0,
        }
    }

    pub fn rule(&mut self, bytes: &[u8]) -> Result<&mut Self, TooLarge> {
        self.rule = self.push(bytes)?;
        Ok(self)
    }
    pub fn source(&mut self, bytes: &[u8]) -> Result<&mut Self, TooLarge> {
        self.source = self.push(bytes)?;
        Ok(self)
    }
    pub fn message(&mut self, bytes: &[u8]) -> Result<&mut Self, TooLarge> {
        self.message = self.push(bytes)?;
        Ok(self)
    }
    pub fn field(
        &mut self,
        name: &[u8],
        value: Option<&[u8]>,
        kind: FieldKind,
    ) -> Result<&mut Self, TooLarge> {
        let name = self.push(name)?;
        let value = match value {
            Some(v) if kind != FieldKind::Null => Some(self.push(v)?),
            _ => None,
        };
        // Fields go before the tags; hosts add all fields first, so this is a push.
        let spans = FieldSpans { name, value, kind };
        if self.fields_len == self.entries.len() {
            self.entries.push(spans);
        } else {
            self.entries.insert(self.fields_len, spans);
        }
        self.fields_len += 1;
        Ok(self)
    }
    pub fn tag(&mut self, bytes: &[u8]) -> Result<&mut Self, TooLarge> {
        let span = self.push(bytes)?;
        self.entries.push(FieldSpans {
            name: span,
            value: None,
            kind: FieldKind::Null,
        });
        Ok(self)
    }

    pub fn build(self, time_ns: u64, priority: Priority, kind: AlertKind) -> Alert {
        let mut alert = Alert::empty();
        self.build_into(&mut alert, time_ns, priority, kind);
        alert
    }

    /// Finishes the alert in `target` (usually the one given to [`AlertBuilder::reuse`]).
    pub fn build_into(self, target: &mut Alert, time_ns: u64, priority: Priority, kind: AlertKind) {
        *target = Alert {
            time_ns,
            priority,
            kind,
            text: self.text,
            rule: self.rule,
            source: self.source,
            message: self.message,
            entries: self.entries,
            fields_len: self.fields_len,
        };
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
    let bytes = rule.len()
        + source.len()
        + message.len()
        + fields
            .iter()
            .map(|(n, v, _)| n.len() + v.map_or(0, str::len))
            .sum::<usize>()
        + tags.iter().map(|t| t.len()).sum::<usize>();
    let mut b = AlertBuilder::with_capacity(bytes, fields.len(), tags.len());
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
    b.build(time_ns, priority, AlertKind::Event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_repaired_with_replacement_character() {
        let mut b = AlertBuilder::with_capacity(0, 1, 1);
        b.rule(b"r\xffule").unwrap();
        b.source(b"syscall").unwrap();
        b.message(b"bad \xc3 byte").unwrap();
        b.field(b"n\x80", Some(b"v\xfe"), FieldKind::String)
            .unwrap();
        b.tag(b"t\xff").unwrap();
        let a = b.build(1, Priority::Error, AlertKind::Event);
        assert_eq!(a.rule(), "r\u{fffd}ule");
        assert_eq!(a.message(), "bad \u{fffd} byte");
        assert_eq!(a.field(0).name, "n\u{fffd}");
        assert_eq!(a.field(0).value, Some("v\u{fffd}"));
        assert_eq!(a.tags().collect::<Vec<_>>(), ["t\u{fffd}"]);
    }

    #[test]
    fn fields_and_tags_keep_their_order_when_interleaved() {
        let mut b = AlertBuilder::with_capacity(0, 2, 2);
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
        let a = b.build(1, Priority::Error, AlertKind::Event);
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
    #[test]
    fn an_alert_given_to_reuse_reads_as_empty_until_rebuilt() {
        let mut a = alert_from_parts(
            1,
            Priority::Error,
            "a rule with a long name",
            "syscall",
            "some message",
            &[("proc.name", Some("bash"), FieldKind::String)],
            &["tag"],
        );
        let b = AlertBuilder::reuse(&mut a);
        assert_eq!((a.rule(), a.source(), a.message()), ("", "", ""));
        assert_eq!((a.fields_len(), a.tags_len()), (0, 0));
        assert_eq!(a.fields().count() + a.tags().count(), 0);
        drop(b);
        assert_eq!(a.rule(), "");

        let mut b = AlertBuilder::reuse(&mut a);
        b.rule(b"r2")
            .unwrap()
            .source(b"s")
            .unwrap()
            .message(b"m")
            .unwrap();
        b.build_into(&mut a, 2, Priority::Notice, AlertKind::Event);
        assert_eq!((a.rule(), a.source(), a.message()), ("r2", "s", "m"));
        assert_eq!(a.fields_len(), 0);
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
