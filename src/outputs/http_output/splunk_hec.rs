//! Splunk HTTP Event Collector (`format: splunk_hec`): each alert is one HEC event,
//! `{"time":<seconds>.<micros>,"host":..,"source":..,"sourcetype":..,"index":..,"event":<Falco's
//! JSON alert>}`, events sent back to back to `/services/collector/event` with
//! `Authorization: Splunk <token>` (added to the transport's headers at open).
//!
//! Answers (Splunk's "HTTP Event Collector status codes"): 200 `{"text":"Success","code":0}`;
//! 503 "Server is busy" (9) and other 5xx, 408 and 429 are retried; a 400 naming
//! `invalid-event-number` N means events 0..N were indexed and event N refused: the first N are
//! delivered, the Nth failed, the rest are sent again; any other 4xx (401/403 token errors,
//! such as `{"text":"Invalid token","code":4}`) fails the request's alerts, logged with the text.

use crate::alert::Alert;
use crate::config::SplunkHecConfig;
use crate::format::{push_json_string, Formatter};
use crate::outputs::http::payload::{Judgement, Payload};
use crate::outputs::http::retry;

pub struct SplunkHec {
    source: String,
    sourcetype: String,
    index: String,
}

impl SplunkHec {
    pub fn new(cfg: &SplunkHecConfig) -> SplunkHec {
        SplunkHec {
            source: cfg.source.clone(),
            sourcetype: cfg.sourcetype.clone(),
            index: cfg.index.clone(),
        }
    }

    /// `Authorization: Splunk <token>`.
    pub fn authorization(cfg: &SplunkHecConfig) -> (String, String) {
        ("Authorization".to_string(), format!("Splunk {}", cfg.token))
    }
}

impl Payload for SplunkHec {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn answer_kept(&self) -> usize {
        64 << 10
    }

    fn write_record(&mut self, f: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        let ns = alert.time_ns;
        out.extend_from_slice(
            format!(
                "{{\"time\":{}.{:06},\"host\":",
                ns / 1_000_000_000,
                ns % 1_000_000_000 / 1000
            )
            .as_bytes(),
        );
        let host = f.options().hostname.clone();
        push_json_string(out, host.as_bytes());
        out.extend_from_slice(b",\"source\":");
        push_json_string(out, self.source.as_bytes());
        out.extend_from_slice(b",\"sourcetype\":");
        push_json_string(out, self.sourcetype.as_bytes());
        if !self.index.is_empty() {
            out.extend_from_slice(b",\"index\":");
            push_json_string(out, self.index.as_bytes());
        }
        out.extend_from_slice(b",\"event\":");
        f.write_json_line(alert, out);
        out.push(b'}');
    }

    /// Events back to back, one per line (HEC reads a stream of JSON objects): as stored.
    fn request(&self, _records: &mut Vec<u8>) {}

    fn judge(&self, code: u32, answer: &[u8], sent: usize) -> Judgement {
        let v: Option<serde_json::Value> = serde_json::from_slice(answer).ok();
        let text = v
            .as_ref()
            .and_then(|v| v.get("text"))
            .and_then(|t| t.as_str())
            .unwrap_or("")
            .to_string();
        if code == 400 {
            if let Some(n) = v
                .as_ref()
                .and_then(|v| v.get("invalid-event-number"))
                .and_then(|n| n.as_u64())
            {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n < sent {
                    return Judgement::Prefix {
                        delivered: n,
                        message: format!("event {n} refused: {text}"),
                    };
                }
            }
        }
        Judgement::Whole(retry::classify_status(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        let p = SplunkHec::new(&SplunkHecConfig::default());
        let ok = br#"{"text":"Success","code":0}"#;
        assert!(matches!(
            p.judge(200, ok, 3),
            Judgement::Whole(retry::Verdict::Delivered)
        ));
        let bad = br#"{"text":"Invalid token","code":4}"#;
        assert!(matches!(
            p.judge(403, bad, 3),
            Judgement::Whole(retry::Verdict::Permanent)
        ));
        let busy = br#"{"text":"Server is busy","code":9}"#;
        assert!(matches!(
            p.judge(503, busy, 3),
            Judgement::Whole(retry::Verdict::Retry)
        ));
        let invalid = br#"{"text":"Invalid data format","code":6,"invalid-event-number":2}"#;
        match p.judge(400, invalid, 5) {
            Judgement::Prefix { delivered, .. } => assert_eq!(delivered, 2),
            _ => panic!("not a prefix"),
        }
    }
}
