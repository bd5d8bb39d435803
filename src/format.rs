//! The text line and the JSON line of an alert, byte for byte as Falco prints them
//! (`falco_formats::format_event` and `falco_outputs::handle_msg`).
//!
//! This is the hot path: a [`Formatter`] lives on one worker thread and keeps its scratch
//! buffers and the formatted date of the last second it saw, so formatting an alert in steady
//! state allocates nothing beyond the growth of the caller's output buffer.

use crate::alert::{Alert, AlertKind, Field, FieldKind};
use crate::config::Config;
use crate::localtime::LocalZone;

/// What the line looks like; taken from the configuration once.
#[derive(Clone, Debug)]
pub struct FormatOptions {
    /// `json_output`.
    pub json: bool,
    /// `time_format_iso_8601`.
    pub iso8601: bool,
    /// `json_include_output_property`.
    pub include_output: bool,
    /// `json_include_tags_property`.
    pub include_tags: bool,
    /// `json_include_message_property`.
    pub include_message: bool,
    /// `json_include_output_fields_property`.
    pub include_output_fields: bool,
    pub hostname: String,
}

impl FormatOptions {
    pub fn from_config(cfg: &Config, hostname: &str) -> Self {
        FormatOptions {
            json: cfg.json_output,
            iso8601: cfg.time_format_iso_8601,
            include_output: cfg.json_include_output_property,
            include_tags: cfg.json_include_tags_property,
            include_message: cfg.json_include_message_property,
            include_output_fields: cfg.json_include_output_fields_property,
            hostname: hostname.to_string(),
        }
    }
}

/// The source Falco gives generic messages (`emit_msg`).
const INTERNAL_SOURCE: &str = "internal";

/// Formats alerts; one per worker thread (it holds caches and scratch space).
#[derive(Clone)]
pub struct Formatter {
    opts: FormatOptions,
    zone: LocalZone,
    /// `{"hostname":"<escaped>"`, built once.
    json_head: Vec<u8>,
    /// Local time of `local_sec`: `HH:MM:SS.` or `YYYY-MM-DDTHH:MM:SS.`.
    local_sec: i64,
    local_head: [u8; 20],
    local_head_len: usize,
    /// `+hhmm` (iso8601 only).
    local_zone: [u8; 5],
    /// UTC time of `utc_sec`: `YYYY-MM-DDTHH:MM:SS.`.
    utc_sec: i64,
    utc_head: [u8; 20],
    /// One value rendered before it is escaped again (emit_msg text).
    scratch: Vec<u8>,
}

impl Formatter {
    pub fn new(opts: FormatOptions, zone: LocalZone) -> Formatter {
        let mut json_head = Vec::with_capacity(opts.hostname.len() + 16);
        json_head.extend_from_slice(b"{\"hostname\":");
        push_json_str(&mut json_head, opts.hostname.as_bytes());
        Formatter {
            opts,
            zone,
            json_head,
            local_sec: i64::MIN,
            local_head: [0; 20],
            local_head_len: 0,
            local_zone: [0; 5],
            utc_sec: i64::MIN,
            utc_head: [0; 20],
            scratch: Vec::with_capacity(256),
        }
    }

    pub fn options(&self) -> &FormatOptions {
        &self.opts
    }

    /// The alert's line, without a trailing newline.
    pub fn line(&mut self, alert: &Alert) -> String {
        let mut out = Vec::with_capacity(alert.message().len() + 64);
        self.write_line(alert, &mut out);
        // Everything written is UTF-8: valid input, ASCII escapes and ASCII punctuation.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Appends the alert's line, WITHOUT a trailing newline, to `out`: the text or the JSON line
    /// per the options; an [`AlertKind::Message`] alert takes the `emit_msg` shapes.
    pub fn write_line(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        match (alert.kind, self.opts.json) {
            (AlertKind::Event, false) => self.event_text(alert, out),
            (AlertKind::Event, true) => self.event_json(alert, out),
            (AlertKind::Message, false) => self.msg_text(alert, out),
            (AlertKind::Message, true) => self.msg_json(alert, out),
        }
    }

    // ---- shapes ---------------------------------------------------------------------------

    /// `<time>: <Priority> <message>`, escaped as a JSON string body.
    fn event_text(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        self.push_prefix(alert, out);
        escape_into(out, alert.message().as_bytes());
    }

    fn event_json(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        let message = alert.message().as_bytes();
        out.reserve(self.json_head.len() + 2 * message.len() + 256);
        out.extend_from_slice(&self.json_head);
        if self.opts.include_message {
            out.extend_from_slice(b",\"message\":");
            push_json_str(out, message);
        }
        if self.opts.include_output {
            out.extend_from_slice(b",\"output\":\"");
            self.push_prefix(alert, out);
            escape_into(out, message);
            out.push(b'"');
        }
        if self.opts.include_output_fields {
            out.extend_from_slice(b",\"output_fields\":{");
            let time_key: &[u8] = if self.opts.iso8601 {
                b"evt.time.iso8601"
            } else {
                b"evt.time"
            };
            with_sorted_fields(alert, |fields| {
                let mut first = true;
                let mut time_done = false;
                for f in fields {
                    let name = f.name.as_bytes();
                    if !time_done && name >= time_key {
                        push_time_field(out, time_key, alert.time_ns, &mut first);
                        time_done = true;
                        if name == time_key {
                            continue; // Falco's time field replaces the host's
                        }
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    push_json_str(out, name);
                    out.push(b':');
                    push_value(out, f);
                }
                if !time_done {
                    push_time_field(out, time_key, alert.time_ns, &mut first);
                }
            });
            out.push(b'}');
        }
        self.push_json_tail(alert, alert.source().as_bytes(), true, out);
    }

    /// `<time>: <Priority> <message> (k1=v1 k2=v2)`, each value JSON-encoded, fields sorted by
    /// name like the nlohmann object Falco iterates; the whole line escaped like a text line.
    fn msg_text(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        self.push_prefix(alert, out);
        escape_into(out, alert.message().as_bytes());
        if alert.fields_len() == 0 {
            return;
        }
        out.extend_from_slice(b" (");
        let mut scratch = std::mem::take(&mut self.scratch);
        with_sorted_fields(alert, |fields| {
            for (k, f) in fields.iter().enumerate() {
                if k > 0 {
                    out.push(b' ');
                }
                escape_into(out, f.name.as_bytes());
                out.push(b'=');
                scratch.clear();
                push_value(&mut scratch, f);
                escape_into(out, &scratch);
            }
        });
        out.push(b')');
        self.scratch = scratch;
    }

    fn msg_json(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.json_head);
        out.extend_from_slice(b",\"output\":");
        push_json_str(out, alert.message().as_bytes());
        out.extend_from_slice(b",\"output_fields\":{");
        with_sorted_fields(alert, |fields| {
            for (k, f) in fields.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_json_str(out, f.name.as_bytes());
                out.push(b':');
                push_value(out, f);
            }
        });
        out.push(b'}');
        self.push_json_tail(alert, INTERNAL_SOURCE.as_bytes(), false, out);
    }

    // ---- pieces ---------------------------------------------------------------------------

    /// `,"priority":..,"rule":..,"source":..[,"tags":[..]],"time":"..Z"}`
    fn push_json_tail(&mut self, alert: &Alert, source: &[u8], tags: bool, out: &mut Vec<u8>) {
        out.extend_from_slice(b",\"priority\":\"");
        out.extend_from_slice(alert.priority.name().as_bytes());
        out.extend_from_slice(b"\",\"rule\":");
        push_json_str(out, alert.rule().as_bytes());
        out.extend_from_slice(b",\"source\":");
        push_json_str(out, source);
        if tags && self.opts.include_tags {
            out.extend_from_slice(b",\"tags\":[");
            let n = alert.tags_len();
            if n <= 16 {
                let mut buf = [""; 16];
                for (slot, t) in buf.iter_mut().zip(alert.tags()) {
                    *slot = t;
                }
                push_tags(out, &mut buf[..n]);
            } else {
                let mut many: Vec<&str> = alert.tags().collect();
                push_tags(out, &mut many);
            }
            out.push(b']');
        }
        out.extend_from_slice(b",\"time\":\"");
        let secs = (alert.time_ns / NS) as i64;
        if secs != self.utc_sec {
            self.utc_sec = secs;
            write_date_time(&mut self.utc_head, secs);
            self.utc_head[19] = b'.';
        }
        out.extend_from_slice(&self.utc_head);
        push_nanos(out, (alert.time_ns % NS) as u32);
        out.extend_from_slice(b"Z\"}");
    }

    /// `<time>: <Priority> ` (plain ASCII; needs no escaping).
    fn push_prefix(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        let secs = (alert.time_ns / NS) as i64;
        if secs != self.local_sec {
            self.refresh_local(secs);
        }
        out.extend_from_slice(&self.local_head[..self.local_head_len]);
        push_nanos(out, (alert.time_ns % NS) as u32);
        if self.opts.iso8601 {
            out.extend_from_slice(&self.local_zone);
        }
        out.extend_from_slice(b": ");
        out.extend_from_slice(alert.priority.name().as_bytes());
        out.push(b' ');
    }

    fn refresh_local(&mut self, secs: i64) {
        let offset = self.zone.offset_at(secs);
        let local = secs + i64::from(offset);
        self.local_sec = secs;
        if self.opts.iso8601 {
            write_date_time(&mut self.local_head, local);
            self.local_head[19] = b'.';
            self.local_head_len = 20;
            // strftime %z: sign, then hours and minutes of the offset (seconds dropped).
            let (sign, abs) = if offset < 0 {
                (b'-', -(offset as i64))
            } else {
                (b'+', offset as i64)
            };
            let minutes = abs / 60;
            self.local_zone[0] = sign;
            put2(&mut self.local_zone[1..3], (minutes / 60 % 100) as u32);
            put2(&mut self.local_zone[3..5], (minutes % 60) as u32);
        } else {
            let sod = local.rem_euclid(86_400) as u32;
            put2(&mut self.local_head[0..2], sod / 3600);
            self.local_head[2] = b':';
            put2(&mut self.local_head[3..5], sod / 60 % 60);
            self.local_head[5] = b':';
            put2(&mut self.local_head[6..8], sod % 60);
            self.local_head[8] = b'.';
            self.local_head_len = 9;
        }
    }
}

/// Fields gathered on the stack up to this many (beyond, one Vec per alert).
const STACK_FIELDS: usize = 16;
const NO_FIELD: Field<'static> = Field {
    name: "",
    value: None,
    kind: FieldKind::Null,
};

/// Calls `f` with the alert's fields sorted by name (bytes, as std::map<std::string> orders
/// them), a later field of the same name replacing an earlier one (std::map assignment).
#[inline]
fn with_sorted_fields<R>(alert: &Alert, f: impl FnOnce(&[Field<'_>]) -> R) -> R {
    let n = alert.fields_len();
    if n <= STACK_FIELDS {
        let mut buf = [NO_FIELD; STACK_FIELDS];
        for (i, slot) in buf.iter_mut().enumerate().take(n) {
            // Member by member: copying the whole struct reads the byte-sized kind back with
            // an 8-byte load just after the callee's 1-byte store, a store-forwarding stall
            // that cost more than everything else in this loop.
            let f = alert.field(i);
            slot.name = f.name;
            slot.value = f.value;
            slot.kind = f.kind;
        }
        let len = sort_dedup(&mut buf[..n]);
        f(&buf[..len])
    } else {
        let mut many: Vec<Field<'_>> = alert.fields().collect();
        let len = sort_dedup(&mut many);
        f(&many[..len])
    }
}

/// Stable sort by name, then keep the last of each run of equal names; returns the new length.
fn sort_dedup(fields: &mut [Field<'_>]) -> usize {
    let n = fields.len();
    // Hosts usually pass fields already sorted (Falco's own come out of a std::map).
    let sorted = fields
        .windows(2)
        .all(|w| cmp_bytes(w[0].name.as_bytes(), w[1].name.as_bytes()).is_lt());
    if sorted {
        return n; // sorted strictly: no duplicates either
    }
    fields.sort_by(|a, b| cmp_bytes(a.name.as_bytes(), b.name.as_bytes()));
    let mut w = 0;
    for r in 0..n {
        if r + 1 < n && fields[r + 1].name == fields[r].name {
            continue;
        }
        fields[w] = fields[r];
        w += 1;
    }
    w
}

/// Byte-wise comparison that settles most names on their first 8 bytes without a memcmp call.
#[inline]
fn cmp_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match prefix8(a).cmp(&prefix8(b)) {
        std::cmp::Ordering::Equal => a.cmp(b),
        other => other,
    }
}

#[inline(always)]
fn prefix8(s: &[u8]) -> u64 {
    if s.len() >= 8 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&s[..8]);
        u64::from_be_bytes(b)
    } else {
        // Built in registers: a short copy through the stack would stall the load after it.
        let mut v = 0u64;
        for (k, &c) in s.iter().enumerate() {
            v |= u64::from(c) << (56 - 8 * k);
        }
        v
    }
}

/// Tags sorted and de-duplicated (Falco keeps them in a std::set<std::string>).
fn push_tags(out: &mut Vec<u8>, tags: &mut [&str]) {
    if !tags
        .windows(2)
        .all(|w| cmp_bytes(w[0].as_bytes(), w[1].as_bytes()).is_le())
    {
        tags.sort_unstable_by(|a, b| cmp_bytes(a.as_bytes(), b.as_bytes()));
    }
    let mut prev: Option<&str> = None;
    for &t in tags.iter() {
        if prev == Some(t) {
            continue;
        }
        if prev.is_some() {
            out.push(b',');
        }
        prev = Some(t);
        push_json_str(out, t.as_bytes());
    }
}

const NS: u64 = 1_000_000_000;

fn push_time_field(out: &mut Vec<u8>, key: &[u8], time_ns: u64, first: &mut bool) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    out.extend_from_slice(key);
    out.extend_from_slice(b"\":");
    push_u64(out, time_ns);
}

// ---- values ---------------------------------------------------------------------------------

/// A field's value as Falco's output_fields holds it.
fn push_value(out: &mut Vec<u8>, f: &Field<'_>) {
    let Some(v) = f.value else {
        out.extend_from_slice(b"null");
        return;
    };
    match f.kind {
        FieldKind::Null => out.extend_from_slice(b"null"),
        FieldKind::String => push_json_str(out, v.as_bytes()),
        FieldKind::Number => {
            if is_json_number(v.as_bytes()) {
                out.extend_from_slice(v.as_bytes());
            } else {
                push_json_str(out, v.as_bytes());
            }
        }
        FieldKind::Bool => {
            if v == "true" || v == "false" {
                out.extend_from_slice(v.as_bytes());
            } else {
                push_json_str(out, v.as_bytes());
            }
        }
        FieldKind::Json => match serde_json::from_str::<serde_json::Value>(v) {
            Ok(value) => push_json_value(out, &value),
            Err(_) => push_json_str(out, v.as_bytes()),
        },
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_json_number(s: &[u8]) -> bool {
    let mut i = 0;
    let n = s.len();
    if i < n && s[i] == b'-' {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while i < n && s[i].is_ascii_digit() {
                i += 1;
            }
        }
        _ => return false,
    }
    if i < n && s[i] == b'.' {
        i += 1;
        let start = i;
        while i < n && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if i < n && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        if i < n && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < n && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == n
}

/// A parsed JSON value, compact, object keys sorted by bytes (nlohmann's std::map).
fn push_json_value(out: &mut Vec<u8>, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                push_u64(out, u);
            } else if let Some(i) = n.as_i64() {
                out.push(b'-');
                push_u64(out, i.unsigned_abs());
            } else if let Some(f) = n.as_f64() {
                push_f64_like_nlohmann(out, f);
            } else {
                out.extend_from_slice(b"null");
            }
        }
        Value::String(s) => push_json_str(out, s.as_bytes()),
        Value::Array(items) => {
            out.push(b'[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_json_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sort here rather than trusting the map's order: a `preserve_order` feature enabled
            // anywhere in a build would otherwise change our bytes.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (k, (key, item)) in entries.into_iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_json_str(out, key.as_bytes());
                out.push(b':');
                push_json_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// A double the way nlohmann::json dumps it: shortest round-trip digits, fixed notation for
/// decimal exponents in (-4, 15] with `.0` added to integral values, else `d.ddde+XX`.
fn push_f64_like_nlohmann(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    let f = f.abs();
    if f == 0.0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    // Rust's `{:e}` prints the shortest round-trip digits: "1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let e: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = e + 1; // position of the decimal point relative to the first digit
    const MIN_EXP: i32 = -4;
    const MAX_EXP: i32 = 15;
    if k <= n && n <= MAX_EXP {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat(b'0').take((n - k) as usize));
        out.extend_from_slice(b".0");
    } else if 0 < n && n <= MAX_EXP {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if MIN_EXP < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat(b'0').take((-n) as usize));
        out.extend_from_slice(&digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        let x = n - 1;
        out.push(if x < 0 { b'-' } else { b'+' });
        let x = x.unsigned_abs();
        if x < 10 {
            out.push(b'0');
        }
        push_u64(out, u64::from(x));
    }
}

// ---- strings --------------------------------------------------------------------------------

/// `"` + escaped + `"`.
#[inline(always)]
fn push_json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    if s.len() < 16 && short_is_clean(s) {
        out.extend_from_slice(s);
    } else {
        escape_into(out, s);
    }
    out.push(b'"');
}

#[inline(always)]
fn byte_needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Appends `s` escaped as a JSON string body the way nlohmann::json dumps it with
/// `ensure_ascii = false`: `\"`, `\\`, `\b \f \n \r \t`, other bytes below 0x20 as `\u00xx`;
/// everything else (DEL, UTF-8) as is. Clean runs are copied whole.
#[inline]
pub fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    let first = if s.len() < 16 && short_is_clean(s) {
        None
    } else {
        find_escape(s, 0)
    };
    match first {
        None => out.extend_from_slice(s),
        Some(j) => escape_from(out, s, j),
    }
}

/// Whether a string shorter than 16 bytes needs no escaping, with at most two overlapping
/// word loads (field names and values are mostly this short).
#[inline(always)]
fn short_is_clean(s: &[u8]) -> bool {
    let n = s.len();
    if n >= 8 {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&s[..8]);
        b.copy_from_slice(&s[n - 8..]);
        escape_mask(u64::from_le_bytes(a)) | escape_mask(u64::from_le_bytes(b)) == 0
    } else if n >= 4 {
        let mut a = [0u8; 4];
        let mut b = [0u8; 4];
        a.copy_from_slice(&s[..4]);
        b.copy_from_slice(&s[n - 4..]);
        let w = u64::from(u32::from_le_bytes(a)) | u64::from(u32::from_le_bytes(b)) << 32;
        escape_mask(w) == 0
    } else {
        !s.iter().any(|&c| byte_needs_escape(c))
    }
}

/// [`escape_into`] once the first byte to escape, at `j`, is known.
fn escape_from(out: &mut Vec<u8>, s: &[u8], mut j: usize) {
    let mut start = 0;
    loop {
        out.extend_from_slice(&s[start..j]);
        push_escape(out, s[j]);
        start = j + 1;
        match find_escape(s, start) {
            Some(next) => j = next,
            None => break,
        }
    }
    out.extend_from_slice(&s[start..]);
}

/// Mask with the high bit set in each byte of `w` that is < 0x20, `"` or `\`. The lowest set
/// bit is exact (borrows only create false positives above a true match).
#[inline(always)]
fn escape_mask(w: u64) -> u64 {
    let ctl = w.wrapping_sub(LO * 0x20) & !w;
    let q = w ^ (LO * u64::from(b'"'));
    let q = q.wrapping_sub(LO) & !q;
    let b = w ^ (LO * u64::from(b'\\'));
    let b = b.wrapping_sub(LO) & !b;
    (ctl | q | b) & HI
}

/// Index of the first byte at or after `i` that needs escaping.
#[inline(always)]
fn find_escape(s: &[u8], mut i: usize) -> Option<usize> {
    let n = s.len();
    #[cfg(target_arch = "x86_64")]
    if n >= 16 {
        return find_escape_sse2(s, i);
    }
    while i + 8 <= n {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        let m = escape_mask(u64::from_le_bytes(w));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i < n {
        if n >= 8 {
            // The tail: re-read the last 8 bytes (overlapping what was checked) and ignore the
            // bytes before `i`. One load, no copy through memory.
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[n - 8..]);
            let skip = (i + 8 - n) * 8; // bits of already-checked bytes, < 64
            let m = (escape_mask(u64::from_le_bytes(w)) >> skip) << skip;
            if m != 0 {
                return Some(n - 8 + (m.trailing_zeros() / 8) as usize);
            }
        } else {
            return s[i..]
                .iter()
                .position(|&c| byte_needs_escape(c))
                .map(|k| i + k);
        }
    }
    None
}

/// [`find_escape`] 16 bytes at a time (SSE2 is part of x86_64), for `s.len() >= 16`.
#[cfg(target_arch = "x86_64")]
#[inline]
fn find_escape_sse2(s: &[u8], mut i: usize) -> Option<usize> {
    use std::arch::x86_64::*;
    let n = s.len();
    if n < 16 || i >= n {
        return None;
    }
    #[inline(always)]
    fn mask16(chunk: &[u8]) -> u32 {
        assert!(chunk.len() >= 16);
        // SAFETY: `chunk` has at least 16 readable bytes (asserted above); the load is
        // unaligned; SSE2 is always available on x86_64.
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let k1f = _mm_set1_epi8(0x1f);
            let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, k1f), k1f); // v <= 0x1f, unsigned
            let q = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let b = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(ctl, q), b)) as u32
        }
    }
    while i + 16 <= n {
        let m = mask16(&s[i..i + 16]);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    if i < n {
        // Re-read the last 16 bytes and ignore those before `i`.
        let skip = i + 16 - n; // < 16
        let m = (mask16(&s[n - 16..]) >> skip) << skip;
        if m != 0 {
            return Some(n - 16 + m.trailing_zeros() as usize);
        }
    }
    None
}

#[cold]
fn push_escape(out: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(c >> 4) as usize],
            HEX[(c & 15) as usize],
        ]),
    }
}

// ---- digits ---------------------------------------------------------------------------------

static PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

#[inline(always)]
fn put2(dst: &mut [u8], v: u32) {
    let v = (v % 100) as usize * 2;
    dst[0] = PAIRS[v];
    dst[1] = PAIRS[v + 1];
}

/// Nine digits, zero-padded.
#[inline]
fn push_nanos(out: &mut Vec<u8>, ns: u32) {
    let mut b = [0u8; 9];
    let hi = ns / 10_000_000; // 0..=99
    let rest = ns % 10_000_000;
    put2(&mut b[0..2], hi);
    put2(&mut b[2..4], rest / 100_000);
    put2(&mut b[4..6], rest / 1_000 % 100);
    put2(&mut b[6..8], rest / 10 % 100);
    b[8] = b'0' + (rest % 10) as u8;
    out.extend_from_slice(&b);
}

#[inline]
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut b = [0u8; 20];
    let mut i = 20;
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        b[i] = PAIRS[r];
        b[i + 1] = PAIRS[r + 1];
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        b[i] = PAIRS[r];
        b[i + 1] = PAIRS[r + 1];
    } else {
        i -= 1;
        b[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&b[i..]);
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the epoch (already shifted to local time) into the
/// first 19 bytes of `dst`.
fn write_date_time(dst: &mut [u8; 20], secs: i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    put2(&mut dst[0..2], y / 100);
    put2(&mut dst[2..4], y % 100);
    dst[4] = b'-';
    put2(&mut dst[5..7], m);
    dst[7] = b'-';
    put2(&mut dst[8..10], d);
    dst[10] = b'T';
    put2(&mut dst[11..13], sod / 3600);
    dst[13] = b':';
    put2(&mut dst[14..16], sod / 60 % 60);
    dst[16] = b':';
    put2(&mut dst[17..19], sod % 60);
}

/// Howard Hinnant's days -> (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{alert_from_parts, AlertBuilder, Priority};

    type F<'a> = (&'a str, Option<&'a str>, FieldKind);

    fn opts(json: bool, iso8601: bool) -> FormatOptions {
        FormatOptions {
            json,
            iso8601,
            include_output: true,
            include_tags: true,
            include_message: false,
            include_output_fields: true,
            hostname: "h".to_string(),
        }
    }

    fn msg_alert(time_ns: u64, p: Priority, rule: &str, msg: &str, fields: &[F<'_>]) -> Alert {
        let mut b = AlertBuilder::with_capacity(64, fields.len(), 0);
        b.rule(rule.as_bytes()).unwrap();
        b.source(b"internal").unwrap();
        b.message(msg.as_bytes()).unwrap();
        for (n, v, k) in fields {
            b.field(n.as_bytes(), v.map(str::as_bytes), *k).unwrap();
        }
        b.build(time_ns, p, AlertKind::Message)
    }

    fn la_zones() -> Vec<LocalZone> {
        let mut zones = vec![LocalZone::from_tz("PST8PDT,M3.2.0,M11.1.0").unwrap()];
        if std::path::Path::new("/usr/share/zoneinfo/America/Los_Angeles").exists() {
            zones.push(LocalZone::from_tz("America/Los_Angeles").unwrap());
        }
        zones
    }

    const BIN_DIR_JSON: &str = r#"{"hostname":"h","output":"16:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)","output_fields":{"evt.time":1507591916746609046,"fd.name":"/bin/hack","proc.cmdline":"touch /bin/hack","user.name":"root"},"priority":"Error","rule":"Write below binary dir","source":"syscall","tags":["filesystem"],"time":"2017-10-09T23:31:56.746609046Z"}"#;

    fn bin_dir_alert() -> Alert {
        alert_from_parts(
            1_507_591_916_746_609_046,
            Priority::Error,
            "Write below binary dir",
            "syscall",
            "File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)",
            &[
                ("user.name", Some("root"), FieldKind::String),
                ("proc.cmdline", Some("touch /bin/hack"), FieldKind::String),
                ("fd.name", Some("/bin/hack"), FieldKind::String),
            ],
            &["filesystem"],
        )
    }

    #[test]
    fn golden_text_iso_utc() {
        let a = alert_from_parts(
            1_470_327_477_881_781_397,
            Priority::Warning,
            "r",
            "syscall",
            "An open was seen (command=cat /dev/null)",
            &[],
            &[],
        );
        let mut f = Formatter::new(opts(false, true), LocalZone::utc());
        assert_eq!(
            f.line(&a),
            "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)"
        );
        let mut f = Formatter::new(opts(false, false), LocalZone::utc());
        assert_eq!(
            f.line(&a),
            "16:17:57.881781397: Warning An open was seen (command=cat /dev/null)"
        );
    }

    #[test]
    fn golden_design_json_example() {
        for zone in la_zones() {
            let mut f = Formatter::new(opts(true, false), zone.clone());
            assert_eq!(f.line(&bin_dir_alert()), BIN_DIR_JSON, "{zone:?}");
            let mut f = Formatter::new(opts(false, false), zone);
            assert_eq!(
                f.line(&bin_dir_alert()),
                "16:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)"
            );
        }
    }

    #[test]
    fn json_line_parses_and_output_is_the_text_line() {
        let mut f = Formatter::new(opts(true, false), la_zones().remove(0));
        let line = f.line(&bin_dir_alert());
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let mut t = Formatter::new(opts(false, false), la_zones().remove(0));
        assert_eq!(v["output"], t.line(&bin_dir_alert()));
    }

    #[test]
    fn iso_local_time_with_negative_offset_and_dst() {
        let zone = la_zones().remove(0);
        let mut f = Formatter::new(opts(false, true), zone);
        let summer = alert_from_parts(
            1_507_591_916_000_000_001,
            Priority::Notice,
            "r",
            "s",
            "m",
            &[],
            &[],
        );
        assert_eq!(
            f.line(&summer),
            "2017-10-09T16:31:56.000000001-0700: Notice m"
        );
        // Same formatter, another second (cache refresh) in winter: -0800 and the previous day.
        let winter = alert_from_parts(
            1_483_228_800_123_000_000,
            Priority::Debug,
            "r",
            "s",
            "m",
            &[],
            &[],
        );
        assert_eq!(
            f.line(&winter),
            "2016-12-31T16:00:00.123000000-0800: Debug m"
        );
        let half = LocalZone::from_tz("IST-5:30").unwrap();
        let mut f = Formatter::new(opts(false, true), half);
        assert_eq!(
            f.line(&winter),
            "2017-01-01T05:30:00.123000000+0530: Debug m"
        );
        let neg_half = LocalZone::from_tz("NST3:30").unwrap();
        let mut f = Formatter::new(opts(false, true), neg_half);
        assert_eq!(
            f.line(&winter),
            "2016-12-31T20:30:00.123000000-0330: Debug m"
        );
    }

    #[test]
    fn time_cache_follows_each_alert() {
        let mut f = Formatter::new(opts(false, false), LocalZone::utc());
        let at = |ns| alert_from_parts(ns, Priority::Alert, "r", "s", "x", &[], &[]);
        assert_eq!(f.line(&at(0)), "00:00:00.000000000: Alert x");
        assert_eq!(f.line(&at(999_999_999)), "00:00:00.999999999: Alert x");
        assert_eq!(
            f.line(&at(86_399_000_000_007)),
            "23:59:59.000000007: Alert x"
        );
        assert_eq!(
            f.line(&at(86_400_000_000_000)),
            "00:00:00.000000000: Alert x"
        );
        let mut j = Formatter::new(opts(true, false), LocalZone::utc());
        let line = j.line(&at(951_782_400_000_000_000)); // leap day 2000
        assert!(
            line.ends_with(r#""time":"2000-02-29T00:00:00.000000000Z"}"#),
            "{line}"
        );
        let line = j.line(&at(u64::MAX));
        assert!(
            line.ends_with(r#""time":"2554-07-21T23:34:33.709551615Z"}"#),
            "{line}"
        );
    }

    #[test]
    fn text_line_escapes_like_nlohmann_dump() {
        let msg = "q\"b\\n\nt\tr\rb\u{8}f\u{c}esc\u{1b}nul\u{0}us\u{1f}del\u{7f}é日本\u{fffd}😀/";
        let a = alert_from_parts(0, Priority::Critical, "r", "s", msg, &[], &[]);
        let mut f = Formatter::new(opts(false, false), LocalZone::utc());
        let line = f.line(&a);
        assert_eq!(
            line,
            "00:00:00.000000000: Critical q\\\"b\\\\n\\nt\\tr\\rb\\bf\\fesc\\u001bnul\\u0000us\\u001fdel\u{7f}é日本\u{fffd}😀/"
        );
        assert!(!line.contains('\n'));
        // The escaped body is exactly what a JSON encoder makes of the raw line.
        let raw = format!("00:00:00.000000000: Critical {msg}");
        let enc = serde_json::to_string(&raw).unwrap();
        assert_eq!(line, enc[1..enc.len() - 1]);
    }

    #[test]
    fn escaping_handles_every_position_of_a_word() {
        for len in 0..40 {
            for pos in 0..len {
                for c in [b'"', b'\\', b'\n', 0x01, 0x1f] {
                    let mut s = vec![b'a'; len];
                    s[pos] = c;
                    let s = String::from_utf8(s).unwrap();
                    let mut out = Vec::new();
                    escape_into(&mut out, s.as_bytes());
                    let enc = serde_json::to_string(&s).unwrap();
                    assert_eq!(out, enc.as_bytes()[1..enc.len() - 1], "{s:?}");
                }
            }
        }
        // Bytes >= 0x80 and just above 0x20 must not look like escapes to the word test.
        let s = "\u{7f}\u{80}\u{ff}!#[]]]]]]]]]] \u{a0}\u{2028}";
        let mut out = Vec::new();
        escape_into(&mut out, s.as_bytes());
        assert_eq!(out, s.as_bytes());
    }

    #[test]
    fn escaping_matches_a_json_encoder_on_random_strings() {
        let alphabet = [
            "a", "Z", " ", "\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{7f}", "é", "\u{fffd}", "😀",
            "/",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let len = (seed >> 33) % 80;
            let mut s = String::new();
            for _ in 0..len {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                // Mostly clean text so that long clean runs and sparse escapes both occur.
                let k = (seed >> 40) as usize % (alphabet.len() * 4);
                s.push_str(alphabet.get(k).copied().unwrap_or("x"));
            }
            let mut out = Vec::new();
            escape_into(&mut out, s.as_bytes());
            let enc = serde_json::to_string(&s).unwrap();
            assert_eq!(out, enc.as_bytes()[1..enc.len() - 1], "{s:?}");
        }
    }

    #[test]
    fn json_escapes_every_string_and_output_once() {
        let a = alert_from_parts(
            0,
            Priority::Informational,
            "ru\"le",
            "sou\\rce",
            "line1\nline2 \"q\"",
            &[("na\"me", Some("v\u{1b}"), FieldKind::String)],
            &["t\n"],
        );
        let mut o = opts(true, false);
        o.hostname = "ho\"st\t".to_string();
        o.include_message = true;
        let mut f = Formatter::new(o, LocalZone::utc());
        assert_eq!(
            f.line(&a),
            r#"{"hostname":"ho\"st\t","message":"line1\nline2 \"q\"","output":"00:00:00.000000000: Informational line1\nline2 \"q\"","output_fields":{"evt.time":0,"na\"me":"v\u001b"},"priority":"Informational","rule":"ru\"le","source":"sou\\rce","tags":["t\n"],"time":"1970-01-01T00:00:00.000000000Z"}"#
        );
    }

    #[test]
    fn json_include_flags() {
        let a = alert_from_parts(
            5,
            Priority::Emergency,
            "r",
            "k8s_audit",
            "m",
            &[("a", Some("1"), FieldKind::Number)],
            &["b", "a"],
        );
        let tail = r#""priority":"Emergency","rule":"r","source":"k8s_audit""#;
        let time = r#""time":"1970-01-01T00:00:00.000000005Z"}"#;
        for bits in 0..16u32 {
            let mut o = opts(true, false);
            o.include_output = bits & 1 != 0;
            o.include_tags = bits & 2 != 0;
            o.include_message = bits & 4 != 0;
            o.include_output_fields = bits & 8 != 0;
            let mut want = String::from(r#"{"hostname":"h","#);
            if o.include_message {
                want += r#""message":"m","#;
            }
            if o.include_output {
                want += r#""output":"00:00:00.000000005: Emergency m","#;
            }
            if o.include_output_fields {
                want += r#""output_fields":{"a":1,"evt.time":5},"#;
            }
            want += tail;
            want += ",";
            if o.include_tags {
                want += r#""tags":["a","b"],"#;
            }
            want += time;
            let mut f = Formatter::new(o, LocalZone::utc());
            assert_eq!(f.line(&a), want, "bits {bits:04b}");
        }
    }

    #[test]
    fn field_kinds_and_fallbacks() {
        let fields: &[F<'_>] = &[
            ("s", Some("text"), FieldKind::String),
            ("s_none", None, FieldKind::String),
            ("n_int", Some("-42"), FieldKind::Number),
            ("n_float", Some("1.50e+10"), FieldKind::Number),
            ("n_zero", Some("0"), FieldKind::Number),
            ("n_bad1", Some("012"), FieldKind::Number),
            ("n_bad2", Some("1."), FieldKind::Number),
            ("n_bad3", Some("<NA>"), FieldKind::Number),
            ("n_bad4", Some(" 1"), FieldKind::Number),
            ("n_bad5", Some(""), FieldKind::Number),
            ("n_bad6", Some("1e"), FieldKind::Number),
            ("n_bad7", Some("NaN"), FieldKind::Number),
            ("b_t", Some("true"), FieldKind::Bool),
            ("b_f", Some("false"), FieldKind::Bool),
            ("b_bad", Some("True"), FieldKind::Bool),
            ("nul", Some("ignored"), FieldKind::Null),
            ("j_obj", Some("{ \"z\" : [1, 2.5, \"x\\ty\"],\n \"a\": {\"c\":null, \"b\":true} }"), FieldKind::Json),
            ("j_num", Some(" 1e3 "), FieldKind::Json),
            ("j_small", Some("[1.5e-7, 0.0001, -0, 12345678901234567890, -9223372036854775808, 1e16, 123456789012345.6]"), FieldKind::Json),
            ("j_bad", Some("{\"a\":"), FieldKind::Json),
            ("j_none", None, FieldKind::Json),
        ];
        let a = alert_from_parts(7, Priority::Warning, "r", "s", "m", fields, &[]);
        let mut o = opts(true, false);
        o.include_output = false;
        o.include_tags = false;
        let mut f = Formatter::new(o, LocalZone::utc());
        let line = f.line(&a);
        let want = concat!(
            r#"{"hostname":"h","output_fields":{"#,
            r#""b_bad":"True","b_f":false,"b_t":true,"evt.time":7,"#,
            r#""j_bad":"{\"a\":","j_none":null,"j_num":1000.0,"#,
            r#""j_obj":{"a":{"b":true,"c":null},"z":[1,2.5,"x\ty"]},"#,
            r#""j_small":[1.5e-07,0.0001,"#,
        );
        assert!(line.starts_with(want), "{line}");
        let rest = &line[want.len()..];
        // serde_json reads "-0" as -0.0 where nlohmann keeps the integer 0.
        let rest = rest
            .strip_prefix("-0.0,")
            .or_else(|| rest.strip_prefix("0,"))
            .unwrap_or_else(|| panic!("{rest}"));
        assert_eq!(
            rest,
            concat!(
                r#"12345678901234567890,-9223372036854775808,1e+16,123456789012345.6],"#,
                r#""n_bad1":"012","n_bad2":"1.","n_bad3":"<NA>","n_bad4":" 1","n_bad5":"","#,
                r#""n_bad6":"1e","n_bad7":"NaN","n_float":1.50e+10,"n_int":-42,"n_zero":0,"#,
                r#""nul":null,"s":"text","s_none":null},"#,
                r#""priority":"Warning","rule":"r","source":"s","time":"1970-01-01T00:00:00.000000007Z"}"#
            )
        );
        serde_json::from_str::<serde_json::Value>(&line).unwrap();
    }

    #[test]
    fn json_number_grammar() {
        for ok in [
            "0", "-0", "1", "-12", "0.5", "1e5", "1E+5", "1.25e-3", "-0.0e0",
        ] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "1 ", "inf", "--1",
        ] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn floats_are_dumped_like_nlohmann() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e14, "100000000000000.0"),
            (1e15, "1e+15"),
            (1e16, "1e+16"),
            (0.001, "0.001"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e300, "1.5e+300"),
            (2.5e-300, "2.5e-300"),
            (0.1, "0.1"),
            (123.456, "123.456"),
        ];
        for (f, want) in cases {
            let mut out = Vec::new();
            push_f64_like_nlohmann(&mut out, *f);
            assert_eq!(String::from_utf8(out).unwrap(), *want, "{f}");
        }
    }

    #[test]
    fn tags_are_sorted_and_deduplicated() {
        let mut o = opts(true, false);
        o.include_output = false;
        o.include_output_fields = false;
        let mut f = Formatter::new(o, LocalZone::utc());
        let tags = [
            "mitre_persistence",
            "filesystem",
            "T1543",
            "filesystem",
            "",
            "Z",
            "a",
        ];
        let a = alert_from_parts(0, Priority::Error, "r", "s", "m", &[], &tags);
        assert_eq!(
            f.line(&a),
            r#"{"hostname":"h","priority":"Error","rule":"r","source":"s","tags":["","T1543","Z","a","filesystem","mitre_persistence"],"time":"1970-01-01T00:00:00.000000000Z"}"#
        );
        let none = alert_from_parts(0, Priority::Error, "r", "s", "m", &[], &[]);
        assert!(f.line(&none).contains(r#""tags":[],"#));
        let many: Vec<String> = (0..40).rev().map(|i| format!("t{:02}", i % 20)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let a = alert_from_parts(0, Priority::Error, "r", "s", "m", &[], &many);
        let want: Vec<String> = (0..20).map(|i| format!("\"t{i:02}\"")).collect();
        assert!(f
            .line(&a)
            .contains(&format!("\"tags\":[{}]", want.join(","))));
    }

    #[test]
    fn duplicate_field_names_keep_the_last_and_time_field_wins() {
        let fields: &[F<'_>] = &[
            ("b", Some("first"), FieldKind::String),
            ("evt.time", Some("host"), FieldKind::String),
            ("a", Some("1"), FieldKind::Number),
            ("b", Some("second"), FieldKind::String),
            ("evt.time.iso8601", Some("host-iso"), FieldKind::String),
            ("zz", None, FieldKind::Null),
            ("b", Some("third"), FieldKind::String),
        ];
        let a = alert_from_parts(9, Priority::Error, "r", "s", "m", fields, &[]);
        let mut o = opts(true, false);
        o.include_output = false;
        o.include_tags = false;
        let mut f = Formatter::new(o.clone(), LocalZone::utc());
        assert!(f.line(&a).contains(
            r#""output_fields":{"a":1,"b":"third","evt.time":9,"evt.time.iso8601":"host-iso","zz":null},"#
        ));
        o.iso8601 = true;
        let mut f = Formatter::new(o, LocalZone::utc());
        assert!(f.line(&a).contains(
            r#""output_fields":{"a":1,"b":"third","evt.time":"host","evt.time.iso8601":9,"zz":null},"#
        ));
        // The time field goes last when every name sorts before it, first when none does.
        let early = alert_from_parts(
            9,
            Priority::Error,
            "r",
            "s",
            "m",
            &[("a", None, FieldKind::Null)],
            &[],
        );
        let late = alert_from_parts(
            9,
            Priority::Error,
            "r",
            "s",
            "m",
            &[("z", None, FieldKind::Null)],
            &[],
        );
        let mut f = Formatter::new(opts(true, false), LocalZone::utc());
        assert!(f
            .line(&early)
            .contains(r#""output_fields":{"a":null,"evt.time":9}"#));
        assert!(f
            .line(&late)
            .contains(r#""output_fields":{"evt.time":9,"z":null}"#));
    }

    #[test]
    fn emit_msg_text_with_and_without_fields() {
        let zone = la_zones().remove(0);
        let mut f = Formatter::new(opts(false, false), zone.clone());
        let ts = 1_507_591_916_746_609_046;
        let a = msg_alert(
            ts,
            Priority::Debug,
            "Falco internal: hot restart",
            "Falco restarted",
            &[],
        );
        assert_eq!(f.line(&a), "16:31:56.746609046: Debug Falco restarted");
        let fields: &[F<'_>] = &[
            ("n_drops", Some("12"), FieldKind::Number),
            ("ebpf_enabled", Some("false"), FieldKind::Bool),
            ("path", Some("/tmp/a \"b\""), FieldKind::String),
            ("n_drops", Some("13"), FieldKind::Number),
            ("extra", Some("{\"k\": [1, 2]}"), FieldKind::Json),
            ("none", None, FieldKind::Null),
        ];
        let a = msg_alert(
            ts,
            Priority::Critical,
            "Falco internal: syscall event drop",
            "Drops.\n",
            fields,
        );
        assert_eq!(
            f.line(&a),
            r#"16:31:56.746609046: Critical Drops.\n (ebpf_enabled=false extra={\"k\":[1,2]} n_drops=13 none=null path=\"/tmp/a \\\"b\\\"\")"#
        );
        let mut f = Formatter::new(opts(false, true), zone);
        assert_eq!(
            f.line(&a),
            r#"2017-10-09T16:31:56.746609046-0700: Critical Drops.\n (ebpf_enabled=false extra={\"k\":[1,2]} n_drops=13 none=null path=\"/tmp/a \\\"b\\\"\")"#
        );
    }

    #[test]
    fn emit_msg_json_with_and_without_fields() {
        let mut o = opts(true, true);
        // emit_msg JSON has a fixed shape whatever the include flags say.
        o.include_message = true;
        o.include_output = false;
        o.include_output_fields = false;
        o.include_tags = false;
        let mut f = Formatter::new(o, LocalZone::utc());
        let ts = 1_470_327_477_881_781_397;
        let a = msg_alert(
            ts,
            Priority::Notice,
            "Falco internal: hot restart",
            "Falco \"restarted\"",
            &[],
        );
        assert_eq!(
            f.line(&a),
            r#"{"hostname":"h","output":"Falco \"restarted\"","output_fields":{},"priority":"Notice","rule":"Falco internal: hot restart","source":"internal","time":"2016-08-04T16:17:57.881781397Z"}"#
        );
        let fields: &[F<'_>] = &[
            ("n_evts", Some("100"), FieldKind::Number),
            ("cur", Some("{\"b\":1,\"a\":2}"), FieldKind::Json),
            ("n_evts", Some("101"), FieldKind::Number),
            ("ok", Some("yes"), FieldKind::Bool),
        ];
        let a = msg_alert(
            ts,
            Priority::Critical,
            "Falco internal: syscall event drop",
            "Drops",
            fields,
        );
        assert_eq!(
            f.line(&a),
            r#"{"hostname":"h","output":"Drops","output_fields":{"cur":{"a":2,"b":1},"n_evts":101,"ok":"yes"},"priority":"Critical","rule":"Falco internal: syscall event drop","source":"internal","time":"2016-08-04T16:17:57.881781397Z"}"#
        );
    }

    #[test]
    fn write_line_appends_without_newline() {
        let mut f = Formatter::new(opts(false, false), LocalZone::utc());
        let a = alert_from_parts(0, Priority::Error, "r", "s", "m", &[], &[]);
        let mut out = b"prev\n".to_vec();
        f.write_line(&a, &mut out);
        f.write_line(&a, &mut out);
        assert_eq!(
            out,
            b"prev\n00:00:00.000000000: Error m00:00:00.000000000: Error m"
        );
    }
}
