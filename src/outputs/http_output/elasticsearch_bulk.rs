//! Elasticsearch bulk API (`format: elasticsearch_bulk`): NDJSON, for each alert an action line
//! `{"create":{"_index":"<index>","_id":"<id>"}}` and the document: Falco's JSON alert with
//! `@timestamp` (the event time) first, so that it also fits a data stream (which takes
//! `create` only).
//!
//! The `_id` is a 128-bit hash of the document, so a request sent again is idempotent: a
//! document the cluster already has answers 409 (version conflict) and counts as delivered,
//! never as a second copy. That makes the bulk API's retry rule safe to follow: the answer of a
//! 2xx lists each item's status; items with 429 (`es_rejected_execution_exception`) are retried
//! by sending the request again; items with another error (a mapping refusal, 400) are failed;
//! the rest are delivered. A request-level 429 or 5xx is retried; another 4xx fails it.
//! Two alerts whose documents are identical byte for byte (same time to the nanosecond, same
//! fields) are one document in the index.

use std::hash::{Hash, Hasher};

use crate::alert::Alert;
use crate::config::ElasticsearchConfig;
use crate::date::rfc3339_utc;
use crate::format::{push_json_string, Formatter};
use crate::outputs::http::payload::{records, Judgement, Payload};
use crate::outputs::http::retry::{self, Verdict};

pub struct ElasticBulk {
    /// `{"create":{"_index":"<index>","_id":"`
    action_head: Vec<u8>,
}

impl ElasticBulk {
    pub fn new(cfg: &ElasticsearchConfig) -> ElasticBulk {
        let mut action_head = b"{\"create\":{\"_index\":".to_vec();
        push_json_string(&mut action_head, cfg.index.as_bytes());
        action_head.extend_from_slice(b",\"_id\":\"");
        ElasticBulk { action_head }
    }
}

impl Payload for ElasticBulk {
    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    /// The whole bulk answer: its per-item results.
    fn answer_kept(&self) -> usize {
        32 << 20
    }

    fn write_record(&mut self, f: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"@timestamp\":\"");
        out.extend_from_slice(rfc3339_utc(alert.time_ns).as_bytes());
        out.extend_from_slice(b"\",");
        let start = out.len();
        f.write_json_line(alert, out);
        // Falco's object without its opening brace follows ours.
        if out.get(start) == Some(&b'{') {
            out.remove(start);
        }
    }

    fn request(&self, records_: &mut Vec<u8>) {
        let body = std::mem::take(records_);
        let mut req = Vec::with_capacity(body.len() * 2);
        for doc in records(&body) {
            req.extend_from_slice(&self.action_head);
            req.extend_from_slice(document_id(doc).as_bytes());
            req.extend_from_slice(b"\"}}\n");
            req.extend_from_slice(doc);
            req.push(b'\n');
        }
        *records_ = req;
    }

    fn judge(&self, code: u32, answer: &[u8], sent: usize) -> Judgement {
        if !(200..=299).contains(&code) {
            return Judgement::Whole(retry::classify_status(code));
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(answer) else {
            // Not the bulk answer (cut, or a proxy's): which documents are in is unknown.
            // Sending again is safe (409 for those already in).
            return Judgement::Whole(Verdict::Retry);
        };
        if v.get("errors").and_then(|e| e.as_bool()) == Some(false) {
            return Judgement::Whole(Verdict::Delivered);
        }
        let Some(items) = v.get("items").and_then(|i| i.as_array()) else {
            return Judgement::Whole(Verdict::Retry);
        };
        if items.len() != sent {
            return Judgement::Whole(Verdict::Retry);
        }
        let (mut refused, mut again) = (0u64, false);
        let mut message = String::new();
        for item in items {
            let result = item
                .as_object()
                .and_then(|o| o.values().next())
                .cloned()
                .unwrap_or_default();
            let status = result.get("status").and_then(|s| s.as_u64()).unwrap_or(0);
            match status {
                200..=299 | 409 => {}
                429 => again = true,
                _ => {
                    refused += 1;
                    if message.is_empty() {
                        let e = &result["error"];
                        message = format!(
                            "{} {}: {}",
                            status,
                            e["type"].as_str().unwrap_or("?"),
                            e["reason"].as_str().unwrap_or("?")
                        );
                    }
                }
            }
        }
        if again {
            return Judgement::Whole(Verdict::Retry);
        }
        if refused == 0 {
            return Judgement::Whole(Verdict::Delivered);
        }
        Judgement::Partly { refused, message }
    }
}

/// 32 hex digits: two SipHash-1-3 runs (std's fixed-key hasher) over the document.
fn document_id(doc: &[u8]) -> String {
    let h = |salt: u8| {
        #[allow(deprecated)]
        let mut s = std::hash::SipHasher::new();
        salt.hash(&mut s);
        doc.hash(&mut s);
        s.finish()
    };
    format!("{:016x}{:016x}", h(0), h(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_differ_by_document() {
        assert_eq!(document_id(b"{\"a\":1}"), document_id(b"{\"a\":1}"));
        assert_ne!(document_id(b"{\"a\":1}"), document_id(b"{\"a\":2}"));
        assert_eq!(document_id(b"x").len(), 32);
    }

    #[test]
    fn item_results_decide() {
        let p = ElasticBulk::new(&ElasticsearchConfig::default());
        let ok = br#"{"took":1,"errors":false,"items":[{"create":{"status":201}}]}"#;
        assert!(matches!(
            p.judge(200, ok, 1),
            Judgement::Whole(Verdict::Delivered)
        ));
        let partial = br#"{"took":1,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"bad"}}},{"create":{"status":409}}]}"#;
        match p.judge(200, partial, 3) {
            Judgement::Partly { refused, message } => {
                assert_eq!(refused, 1);
                assert!(message.contains("document_parsing_exception"), "{message}");
            }
            _ => panic!("not partly"),
        }
        let busy = br#"{"took":1,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429}}]}"#;
        assert!(matches!(
            p.judge(200, busy, 2),
            Judgement::Whole(Verdict::Retry)
        ));
        assert!(matches!(
            p.judge(200, b"<html>", 2),
            Judgement::Whole(Verdict::Retry)
        ));
        assert!(matches!(
            p.judge(413, b"", 2),
            Judgement::Whole(Verdict::Permanent)
        ));
    }
}
