//! Grafana Loki push API (`format: loki`): `POST /loki/api/v1/push` with
//! `{"streams":[{"stream":{<labels>},"values":[["<ns>","<line>"],...]}]}`. The line is what the
//! file channel would write (Falco's text or JSON line), the timestamp the event time in
//! nanoseconds as a string.
//!
//! Labels come from the alert, never from its fields: `priority` (8 values), `rule`, `source`,
//! `hostname` (`loki.labels` picks among them). Rule names are the loaded rules', but to keep
//! the number of streams bounded whatever is loaded, only `loki.max_rules` distinct rules get
//! a label value of their own; later ones share `rule="_other"` (the rule is in the line).
//!
//! Answers: 204 (or any 2xx) delivered; 429 (rate limited, with `Retry-After`) and 5xx retried;
//! another 4xx (400: too old, too long, out of order) fails the request's alerts.

use std::collections::HashSet;

use crate::alert::{Alert, AlertKind};
use crate::config::LokiConfig;
use crate::format::{push_json_string, Formatter};
use crate::outputs::http::payload::{records, Judgement, Payload};
use crate::outputs::http::retry;

pub struct LokiPush {
    labels: Vec<String>,
    max_rules: usize,
    rules: HashSet<String>,
    line: Vec<u8>,
}

impl LokiPush {
    pub fn new(cfg: &LokiConfig) -> LokiPush {
        LokiPush {
            labels: cfg.labels.clone(),
            max_rules: cfg.max_rules,
            rules: HashSet::new(),
            line: Vec::new(),
        }
    }

    fn rule_label<'a>(&mut self, rule: &'a str) -> &'a str {
        if self.rules.contains(rule) {
            return rule;
        }
        if self.rules.len() < self.max_rules {
            self.rules.insert(rule.to_string());
            return rule;
        }
        "_other"
    }
}

impl Payload for LokiPush {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn answer_kept(&self) -> usize {
        64 << 10
    }

    /// `{"stream":{...},"values":[["<ns>","<line>"]]}`: one alert, its own stream (the request
    /// groups them).
    fn write_record(&mut self, f: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        let source = match alert.kind {
            AlertKind::Event => alert.source(),
            AlertKind::Message => "internal",
        };
        let hostname = f.options().hostname.clone();
        out.extend_from_slice(b"{\"stream\":{");
        let labels = self.labels.clone();
        for (i, name) in labels.iter().enumerate() {
            let value = match name.as_str() {
                "priority" => alert.priority.name(),
                "rule" => self.rule_label(alert.rule()),
                "source" => source,
                _ => hostname.as_str(),
            };
            if i > 0 {
                out.push(b',');
            }
            push_json_string(out, name.as_bytes());
            out.push(b':');
            push_json_string(out, value.as_bytes());
        }
        out.extend_from_slice(b"},\"values\":[[\"");
        out.extend_from_slice(alert.time_ns.to_string().as_bytes());
        out.extend_from_slice(b"\",");
        self.line.clear();
        f.write_line(alert, &mut self.line);
        push_json_string(out, &self.line);
        out.extend_from_slice(b"]]}");
    }

    /// The records grouped by stream, in the order each stream first appears; within a stream
    /// the entries keep their order.
    fn request(&self, records_: &mut Vec<u8>) {
        let body = std::mem::take(records_);
        let mut streams: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
        for r in records(&body) {
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(r) else {
                continue; // we wrote it: cannot happen
            };
            let key = v["stream"].to_string();
            let values = v["values"].as_array().cloned().unwrap_or_default();
            match streams.iter_mut().find(|(k, _)| *k == key) {
                Some((_, vs)) => vs.extend(values),
                None => streams.push((key, values)),
            }
        }
        let mut out = b"{\"streams\":[".to_vec();
        for (i, (stream, values)) in streams.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"stream\":");
            out.extend_from_slice(stream.as_bytes());
            out.extend_from_slice(b",\"values\":");
            out.extend_from_slice(
                serde_json::Value::from(values.clone())
                    .to_string()
                    .as_bytes(),
            );
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        *records_ = out;
    }

    fn judge(&self, code: u32, _answer: &[u8], _sent: usize) -> Judgement {
        Judgement::Whole(retry::classify_status(code))
    }
}
