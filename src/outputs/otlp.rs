//! `otlp_output`: alerts as OpenTelemetry log records, sent as OTLP/HTTP JSON
//! (`ExportLogsServiceRequest`) to a collector. The transport is the HTTP channel's (libcurl
//! client, store and spool, batching, retries); this module is its [`Payload`]: what a record
//! and a request look like and what the answer means. The mapping is documented in docs/otlp.md.
//!
//! Each alert is formatted once, on the worker, into one `LogRecord` JSON object on one line;
//! those lines are what the store and the spool hold, and a request wraps a batch of them in the
//! resource and scope envelope built at open.

use std::time::SystemTime;

use crate::alert::{Alert, AlertKind, FieldKind, Priority};
use crate::config::{HttpMethod, HttpTransportConfig, OtlpConfig};
use crate::error::InitError;
use crate::format::{push_json_string, with_fields_sorted, Formatter};
use crate::log::Logger;
use crate::outputs::http::payload::{Judgement, Payload};
use crate::outputs::http::retry::Verdict;
use crate::outputs::http::HttpChannel;
use crate::outputs::http::Requests;

/// The instrumentation scope of every record.
const SCOPE_NAME: &str = "falco-outputs";
/// OTLP/HTTP's path for logs, added to a URL that has none.
const LOGS_PATH: &str = "/v1/logs";
/// Attribute keys the record sets itself; an output field of the same name is left out so that
/// keys stay unique, as OTLP requires.
const RESERVED: [&str; 4] = ["priority", "rule", "source", "tags"];

/// Opens the channel: the HTTP transport with the OTLP payload.
pub fn open(cfg: &OtlpConfig, log: &Logger, hostname: &str) -> Result<HttpChannel, InitError> {
    let envelope = Envelope::new(hostname, &cfg.resource_attributes);
    HttpChannel::open_with(
        &transport(cfg),
        REQUESTS,
        Box::new(envelope),
        "otlp_output",
        log,
    )
}

/// The HTTP transport's settings for an `otlp_output` block: its own keys, with `/v1/logs` added
/// to a URL without a path.
fn transport(cfg: &OtlpConfig) -> HttpTransportConfig {
    let url = &cfg.transport.url;
    HttpTransportConfig {
        url: with_logs_path(url.as_str())
            .parse()
            .unwrap_or_else(|_| url.clone()),
        ..cfg.transport.clone()
    }
}

/// OTLP's requests: a POST, answers not echoed; a timeout is retried with backoff like any
/// transient failure.
const REQUESTS: Requests = Requests {
    method: HttpMethod::Post,
    echo: false,
    max_consecutive_timeouts: 0,
};

/// `http://collector:4318` -> `http://collector:4318/v1/logs`; a URL with a path is kept.
fn with_logs_path(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.find(['/', '?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'/' => url.to_string(),
        Some(i) => format!("{scheme}://{}{LOGS_PATH}{}", &rest[..i], &rest[i..]),
        None => format!("{scheme}://{rest}{LOGS_PATH}"),
    }
}

/// OpenTelemetry's syslog mapping (logs data model, appendix B): Falco priorities are syslog
/// severities.
pub fn severity_number(p: Priority) -> u8 {
    match p {
        Priority::Emergency => 21, // FATAL
        Priority::Alert => 19,     // ERROR3
        Priority::Critical => 18,  // ERROR2
        Priority::Error => 17,     // ERROR
        Priority::Warning => 13,   // WARN
        Priority::Notice => 10,    // INFO2
        Priority::Informational => 9,
        Priority::Debug => 5,
    }
}

/// Appends the alert's `LogRecord` (one JSON object, no newline).
fn write_record(formatter: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
    let observed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    out.extend_from_slice(b"{\"timeUnixNano\":\"");
    out.extend_from_slice(alert.time_ns.to_string().as_bytes());
    out.extend_from_slice(b"\",\"observedTimeUnixNano\":\"");
    out.extend_from_slice(observed.to_string().as_bytes());
    out.extend_from_slice(b"\",\"severityNumber\":");
    out.extend_from_slice(severity_number(alert.priority).to_string().as_bytes());
    out.extend_from_slice(b",\"severityText\":\"");
    out.extend_from_slice(alert.priority.name().as_bytes());
    // The text line is already escaped as a JSON string body (one alert, one line).
    out.extend_from_slice(b"\",\"body\":{\"stringValue\":\"");
    formatter.write_text_line(alert, out);
    out.extend_from_slice(b"\"},\"attributes\":[");
    let source = match alert.kind {
        AlertKind::Event => alert.source(),
        AlertKind::Message => "internal",
    };
    string_attr(out, "rule", alert.rule());
    out.push(b',');
    string_attr(out, "priority", alert.priority.name());
    out.push(b',');
    string_attr(out, "source", source);
    if alert.kind == AlertKind::Event {
        out.extend_from_slice(b",{\"key\":\"tags\",\"value\":{\"arrayValue\":{\"values\":[");
        for (i, tag) in alert.tags().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"stringValue\":");
            push_json_string(out, tag.as_bytes());
            out.push(b'}');
        }
        out.extend_from_slice(b"]}}}");
    }
    with_fields_sorted(alert, |fields| {
        for f in fields.iter().filter(|f| !RESERVED.contains(&f.name)) {
            out.extend_from_slice(b",{\"key\":");
            push_json_string(out, f.name.as_bytes());
            out.extend_from_slice(b",\"value\":");
            push_any_value(out, f.kind, f.value);
            out.push(b'}');
        }
    });
    out.extend_from_slice(b"]}");
}

fn string_attr(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(b"{\"key\":");
    push_json_string(out, key.as_bytes());
    out.extend_from_slice(b",\"value\":{\"stringValue\":");
    push_json_string(out, value.as_bytes());
    out.extend_from_slice(b"}}");
}

/// A field's value as an OTLP `AnyValue`, typed by its kind: an integer literal is an
/// `intValue` (a string in OTLP JSON, as int64 is), another number a `doubleValue`, a boolean a
/// `boolValue`, NULL the empty value; anything that does not parse as its kind says, an integer
/// beyond int64, and JSON values, are strings.
fn push_any_value(out: &mut Vec<u8>, kind: FieldKind, value: Option<&str>) {
    let Some(v) = value else {
        out.extend_from_slice(b"{}");
        return;
    };
    match kind {
        FieldKind::Null => {
            out.extend_from_slice(b"{}");
            return;
        }
        FieldKind::Number => {
            if let Ok(i) = v.parse::<i64>() {
                out.extend_from_slice(format!("{{\"intValue\":\"{i}\"}}").as_bytes());
                return;
            }
            let integer = v.strip_prefix('-').unwrap_or(v);
            let integer = !integer.is_empty() && integer.bytes().all(|b| b.is_ascii_digit());
            // An integer beyond int64 (a u64 inode, say) stays exact, as a string.
            if let Some(f) = v.parse::<f64>().ok().filter(|f| f.is_finite() && !integer) {
                out.extend_from_slice(format!("{{\"doubleValue\":{f:?}}}").as_bytes());
                return;
            }
        }
        FieldKind::Bool if v == "true" || v == "false" => {
            out.extend_from_slice(format!("{{\"boolValue\":{v}}}").as_bytes());
            return;
        }
        _ => {}
    }
    out.extend_from_slice(b"{\"stringValue\":");
    push_json_string(out, v.as_bytes());
    out.push(b'}');
}

/// The request around a batch of records: the resource (`service.name`, `host.name`, then the
/// configured attributes) and the instrumentation scope, built once.
pub struct Envelope {
    head: Vec<u8>,
}

const TAIL: &[u8] = b"]}]}]}";

impl Envelope {
    pub fn new(hostname: &str, extra: &[(String, String)]) -> Envelope {
        let mut attrs: Vec<(&str, &str)> = vec![("service.name", "falco"), ("host.name", hostname)];
        for (k, v) in extra {
            match attrs.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = v,
                None => attrs.push((k, v)),
            }
        }
        let mut head = b"{\"resourceLogs\":[{\"resource\":{\"attributes\":[".to_vec();
        for (i, (k, v)) in attrs.iter().enumerate() {
            if i > 0 {
                head.push(b',');
            }
            string_attr(&mut head, k, v);
        }
        head.extend_from_slice(b"]},\"scopeLogs\":[{\"scope\":{\"name\":\"");
        head.extend_from_slice(SCOPE_NAME.as_bytes());
        head.extend_from_slice(b"\",\"version\":\"");
        head.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
        head.extend_from_slice(b"\"},\"logRecords\":[");
        Envelope { head }
    }

    /// The request for `records`, each followed by `\n` as the store hands them out (a record
    /// never holds a raw newline: JSON escapes it).
    fn request(&self, records: &[u8]) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.head.len() + records.len() + TAIL.len());
        body.extend_from_slice(&self.head);
        let records = records.strip_suffix(b"\n").unwrap_or(records);
        body.extend(records.iter().map(|&b| if b == b'\n' { b',' } else { b }));
        body.extend_from_slice(TAIL);
        body
    }
}

impl Payload for Envelope {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    /// The whole answer: its `partialSuccess`.
    fn answer_kept(&self) -> usize {
        64 << 10
    }

    fn write_record(&mut self, f: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        write_record(f, alert, out)
    }

    fn request(&self, records: &mut Vec<u8>) {
        *records = Envelope::request(self, records);
    }

    fn judge(&self, code: u32, answer: &[u8], _sent: usize) -> Judgement {
        // OTLP/HTTP: only these are retryable; every other 4xx and 5xx is final.
        match code {
            200..=299 => match partial_success(answer) {
                Some(r) => Judgement::Partly {
                    refused: r.count,
                    message: r.message,
                },
                None => Judgement::Whole(Verdict::Delivered),
            },
            429 | 502 | 503 | 504 => Judgement::Whole(Verdict::Retry),
            _ => Judgement::Whole(Verdict::Permanent),
        }
    }
}

/// Records a receiver accepted the request but refused (OTLP `partialSuccess`).
#[derive(Debug, PartialEq, Eq)]
struct Rejected {
    count: u64,
    message: String,
}

/// `{"partialSuccess":{"rejectedLogRecords":N,"errorMessage":".."}}` in a 2xx answer, N > 0.
/// (int64 is a string in OTLP JSON; a number is accepted too.)
fn partial_success(answer: &[u8]) -> Option<Rejected> {
    let v: serde_json::Value = serde_json::from_slice(answer).ok()?;
    let p = v.get("partialSuccess")?;
    let count = match p.get("rejectedLogRecords")? {
        serde_json::Value::String(s) => s.parse::<u64>().ok()?,
        n => n.as_u64()?,
    };
    (count > 0).then(|| Rejected {
        count,
        message: p
            .get("errorMessage")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_path_is_added_only_when_missing() {
        assert_eq!(
            with_logs_path("http://c:4318"),
            "http://c:4318/v1/logs".to_string()
        );
        assert_eq!(with_logs_path("https://c/"), "https://c/");
        assert_eq!(
            with_logs_path("https://c/otlp/v1/logs"),
            "https://c/otlp/v1/logs"
        );
        assert_eq!(with_logs_path("http://c:1?x=1"), "http://c:1/v1/logs?x=1");
    }

    #[test]
    fn severities_follow_the_syslog_mapping_and_keep_the_order() {
        let n: Vec<u8> = Priority::ALL.iter().map(|p| severity_number(*p)).collect();
        assert_eq!(n, [21, 19, 18, 17, 13, 10, 9, 5]);
    }

    #[test]
    fn field_values_keep_their_type_and_never_lose_digits() {
        let v = |kind, value: Option<&str>| {
            let mut out = Vec::new();
            push_any_value(&mut out, kind, value);
            std::string::String::from_utf8(out).unwrap()
        };
        use FieldKind::*;
        assert_eq!(v(Number, Some("-42")), r#"{"intValue":"-42"}"#);
        assert_eq!(v(Number, Some("2.5e3")), r#"{"doubleValue":2500.0}"#);
        assert_eq!(
            v(Number, Some("18446744073709551615")),
            r#"{"stringValue":"18446744073709551615"}"#
        );
        assert_eq!(v(Number, Some("NaN")), r#"{"stringValue":"NaN"}"#);
        assert_eq!(v(Number, Some("1e400")), r#"{"stringValue":"1e400"}"#);
        assert_eq!(v(Bool, Some("true")), r#"{"boolValue":true}"#);
        assert_eq!(v(Bool, Some("yes")), r#"{"stringValue":"yes"}"#);
        assert_eq!(v(Null, Some("x")), "{}");
        assert_eq!(v(String, None), "{}");
        assert_eq!(v(Json, Some("{\"a\":1}")), r#"{"stringValue":"{\"a\":1}"}"#);
    }

    #[test]
    fn partial_success_forms() {
        let r = partial_success(
            br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"bad"}}"#,
        );
        assert_eq!(
            r,
            Some(Rejected {
                count: 2,
                message: "bad".into()
            })
        );
        assert_eq!(
            partial_success(br#"{"partialSuccess":{"rejectedLogRecords":3}}"#).map(|r| r.count),
            Some(3)
        );
        assert_eq!(partial_success(br#"{"partialSuccess":{}}"#), None);
        assert_eq!(partial_success(b"{}"), None);
        assert_eq!(partial_success(b""), None);
        assert_eq!(partial_success(b"not json"), None);
    }

    #[test]
    fn request_joins_records() {
        let env = Envelope::new("h", &[("service.name".into(), "edge".into())]);
        let body = env.request(b"{\"a\":1}\n{\"b\":2}\n");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let rl = &v["resourceLogs"][0];
        assert_eq!(
            rl["resource"]["attributes"][0]["value"]["stringValue"],
            "edge"
        );
        assert_eq!(rl["resource"]["attributes"][1]["key"], "host.name");
        assert_eq!(rl["scopeLogs"][0]["logRecords"][1]["b"], 2);
    }
}
