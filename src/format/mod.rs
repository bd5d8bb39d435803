//! The text line and the JSON line of an alert, byte for byte as Falco prints them
//! (`falco_formats::format_event` and `falco_outputs::handle_msg`).
//!
//! This is the hot path: a [`Formatter`] lives on one worker thread and keeps its scratch
//! buffers and the formatted date of the last second it saw, so formatting an alert in steady
//! state allocates nothing beyond the growth of the caller's output buffer.
//!
//! | file | concern |
//! | --- | --- |
//! | `mod.rs` | the output shapes: text line, JSON line, and the `emit_msg` variants |
//! | `fields.rs` | field and tag order (std::map / std::set, last duplicate wins) |
//! | `value.rs` | a field's JSON value, numbers as nlohmann::json prints them |
//! | `escape.rs` | the JSON string escaper |
//!
//! Dates come from [`crate::date`].

mod escape;
mod extras;
mod fields;
mod value;

#[cfg(test)]
mod tests;

pub use escape::escape_into;
pub(crate) use escape::push_json_str as push_json_string;
pub use extras::Extras;
pub(crate) use fields::with_sorted_fields as with_fields_sorted;

use crate::alert::{Alert, AlertKind};
use crate::config::Config;
use crate::date::{utc_offset, write_date_time, write_time_of_day, LocalZone, NS_PER_SEC as NS};
use crate::digits::{push_nanos, push_u64};
use escape::push_json_str;
use fields::{push_tags, with_sorted_fields};
use value::push_value;

/// What the line looks like; taken from the configuration once.
#[derive(Clone, Debug, Default)]
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
    /// `append_output`, `outputs_static_fields`, `outputs_static_tags`.
    pub extras: Extras,
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
            extras: Extras {
                appends: crate::config::applicable_appends(&cfg.append_output, &mut |_| {}),
                static_fields: cfg.outputs_static_fields.clone(),
                static_tags: cfg.outputs_static_tags.clone(),
            },
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

    /// A formatter with the same options, except JSON or text as `json` says (a channel whose
    /// block has its own `format`).
    pub fn with_json(&self, json: bool) -> Formatter {
        let mut opts = self.opts.clone();
        opts.json = json;
        Formatter::new(opts, self.zone.clone())
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

    /// Appends the alert's JSON line (as [`Formatter::write_line`] with `json_output`): what a
    /// SIEM payload carries as its event, whatever `json_output` says.
    pub fn write_json_line(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        match alert.kind {
            AlertKind::Event => self.event_json(alert, out),
            AlertKind::Message => self.msg_json(alert, out),
        }
    }

    /// Appends the alert's text line (as [`Formatter::write_line`] without `json_output`), which
    /// is also the body of a JSON string holding Falco's `output`: what an OTLP record carries.
    pub fn write_text_line(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        match alert.kind {
            AlertKind::Event => self.event_text(alert, out),
            AlertKind::Message => self.msg_text(alert, out),
        }
    }

    // ---- shapes ---------------------------------------------------------------------------

    /// `<time>: <Priority> <message>`, escaped as a JSON string body.
    fn event_text(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        self.push_prefix(alert, out);
        if self.opts.extras.appends.is_empty() {
            escape_into(out, alert.message().as_bytes());
        } else {
            self.opts.extras.escape_message(alert, out);
        }
    }

    fn event_json(&mut self, alert: &Alert, out: &mut Vec<u8>) {
        if !self.opts.extras.is_empty() {
            // Taken out for the call so that it can borrow it while the time caches change.
            let extras = std::mem::take(&mut self.opts.extras);
            self.event_json_with(alert, &extras, out);
            self.opts.extras = extras;
            return;
        }
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
            push_output_fields(out, alert, Some(self.time_key()), &[]);
        }
        self.push_json_tail(alert, alert.source().as_bytes(), Some(&[]), out);
    }

    /// [`Formatter::event_json`] with what the configuration adds: Falco renders an
    /// `append_output` text into the message (so into `message` and `output`), its fields into
    /// `output_fields`.
    fn event_json_with(&mut self, alert: &Alert, extras: &Extras, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.json_head);
        if self.opts.include_message {
            out.extend_from_slice(b",\"message\":\"");
            extras.escape_message(alert, out);
            out.push(b'"');
        }
        if self.opts.include_output {
            out.extend_from_slice(b",\"output\":\"");
            self.push_prefix(alert, out);
            extras.escape_message(alert, out);
            out.push(b'"');
        }
        if self.opts.include_output_fields {
            let fields = extras.fields(alert);
            push_output_fields(out, alert, Some(self.time_key()), &fields);
        }
        self.push_json_tail(
            alert,
            alert.source().as_bytes(),
            Some(&extras.static_tags),
            out,
        );
    }

    fn time_key(&self) -> &'static [u8] {
        if self.opts.iso8601 {
            b"evt.time.iso8601"
        } else {
            b"evt.time"
        }
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
        push_output_fields(out, alert, None, &[]);
        self.push_json_tail(alert, INTERNAL_SOURCE.as_bytes(), None, out);
    }

    // ---- pieces ---------------------------------------------------------------------------

    /// `,"priority":..,"rule":..,"source":..[,"tags":[..]],"time":"..Z"}`
    /// `tags`: `None` for no `tags` key (emit_msg), else the tags added to the alert's.
    fn push_json_tail(
        &mut self,
        alert: &Alert,
        source: &[u8],
        tags: Option<&[String]>,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(b",\"priority\":\"");
        out.extend_from_slice(alert.priority.name().as_bytes());
        out.extend_from_slice(b"\",\"rule\":");
        push_json_str(out, alert.rule().as_bytes());
        out.extend_from_slice(b",\"source\":");
        push_json_str(out, source);
        if let (Some(added), true) = (tags, self.opts.include_tags) {
            out.extend_from_slice(b",\"tags\":[");
            let n = alert.tags_len();
            if !added.is_empty() {
                let mut many: Vec<&str> = alert.tags().collect();
                many.extend(added.iter().map(String::as_str));
                push_tags(out, &mut many);
            } else if n <= 16 {
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

    /// The prefix's date for a new second. ISO 8601 is UTC whatever the zone, `+0000`
    /// (libsinsp's `ts_to_iso_8601`: gmtime and `%z`); the plain time is local
    /// (`ts_to_string`: localtime).
    fn refresh_local(&mut self, secs: i64) {
        self.local_sec = secs;
        if self.opts.iso8601 {
            write_date_time(&mut self.local_head, secs);
            self.local_head[19] = b'.';
            self.local_head_len = 20;
            self.local_zone = utc_offset(0);
        } else {
            let local = secs + i64::from(self.zone.offset_at(secs));
            write_time_of_day(&mut self.local_head, local);
            self.local_head[8] = b'.';
            self.local_head_len = 9;
        }
    }
}

/// Writes `output_fields` entries in name order, the alert's fields interleaved with the time
/// field and the extras.
struct FieldWriter<'o, 'e> {
    out: &'o mut Vec<u8>,
    first: bool,
    time_key: Option<&'static [u8]>,
    time_ns: u64,
    extras: std::iter::Peekable<std::slice::Iter<'e, (&'e str, &'e str)>>,
}

impl FieldWriter<'_, '_> {
    fn comma(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    /// Writes the time field and the extras that sort before `name`, and the one named `name`
    /// if any (an extra wins over the time field, both over the alert's field); true when
    /// `name` was written. `None`: everything left.
    fn flush_until(&mut self, name: Option<&[u8]>) -> bool {
        loop {
            let extra = self.extras.peek().map(|(k, v)| (k.as_bytes(), *v));
            let time = self.time_key;
            let next = match (extra, time) {
                (Some((k, _)), Some(t)) => k.min(t),
                (Some((k, _)), None) => k,
                (None, Some(t)) => t,
                (None, None) => return false,
            };
            if name.is_some_and(|name| next > name) {
                return false;
            }
            self.comma();
            if let Some((k, v)) = extra.filter(|(k, _)| *k == next) {
                push_json_str(self.out, k);
                self.out.push(b':');
                push_json_str(self.out, v.as_bytes());
                self.extras.next();
            } else {
                self.out.push(b'"');
                self.out.extend_from_slice(next);
                self.out.extend_from_slice(b"\":");
                push_u64(self.out, self.time_ns);
            }
            if time == Some(next) {
                self.time_key = None;
            }
            if name == Some(next) {
                return true;
            }
        }
    }
}

/// `,"output_fields":{...}`: the alert's fields, Falco's time field (`evt.time` or
/// `evt.time.iso8601`, the alert's time in ns) and `extras` (string values), merged in name
/// order. On a name given twice, an extra wins over the time field, which wins over the
/// alert's field (the order Falco assigns them in `format_event`).
fn push_output_fields(
    out: &mut Vec<u8>,
    alert: &Alert,
    time_key: Option<&'static [u8]>,
    extras: &[(&str, &str)],
) {
    out.extend_from_slice(b",\"output_fields\":{");
    let mut w = FieldWriter {
        out,
        first: true,
        time_key,
        time_ns: alert.time_ns,
        extras: extras.iter().peekable(),
    };
    with_sorted_fields(alert, |fields| {
        for f in fields {
            let name = f.name.as_bytes();
            // What sorts before this field, then this name from the source that wins.
            if w.flush_until(Some(name)) {
                continue;
            }
            w.comma();
            push_json_str(w.out, name);
            w.out.push(b':');
            push_value(w.out, f);
        }
        w.flush_until(None);
    });
    out.push(b'}');
}
