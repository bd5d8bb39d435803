//! The SIEM payloads of the HTTP transport (`http_output.format`, an extension; docs/http.md):
//! Splunk HEC events, Elasticsearch bulk NDJSON, Loki push streams. Like OTLP's payload, each
//! alert is formatted once by the worker into one stored record (one line, what the store and
//! the spool hold); a request is built from a batch of records; the answer is judged by the
//! API's own rules. The transport (client, store, spool, batching, retries) is the HTTP
//! channel's, unchanged.
//!
//! Each payload has the same four operations (`content_type`, `write_record`, `request`,
//! `judge`): the shape of a `Payload` trait, once the transport takes one.

use super::payload::Judgement;
use super::siem_elastic::ElasticBulk;
use super::siem_loki::LokiPush;
use super::siem_splunk::SplunkHec;
use crate::alert::Alert;
use crate::config::{HttpConfig, HttpFormat};
use crate::format::Formatter;

pub enum Siem {
    Splunk(SplunkHec),
    Elastic(ElasticBulk),
    Loki(LokiPush),
}

impl Siem {
    /// None for Falco's own lines.
    pub fn new(http: &HttpConfig) -> Option<Siem> {
        Some(match http.format {
            HttpFormat::Falco => return None,
            HttpFormat::SplunkHec => Siem::Splunk(SplunkHec::new(&http.splunk_hec)),
            HttpFormat::ElasticsearchBulk => {
                Siem::Elastic(ElasticBulk::new(&http.elasticsearch_bulk))
            }
            HttpFormat::Loki => Siem::Loki(LokiPush::new(&http.loki)),
        })
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Siem::Splunk(_) => "application/json",
            Siem::Elastic(_) => "application/x-ndjson",
            Siem::Loki(_) => "application/json",
        }
    }

    /// How much of an answer the client keeps (the whole bulk answer: its per-item results).
    pub fn answer_kept(&self) -> usize {
        match self {
            Siem::Elastic(_) => 32 << 20,
            _ => 64 << 10,
        }
    }

    /// One alert as one stored record, without a newline.
    pub fn write_record(&mut self, f: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        match self {
            Siem::Splunk(p) => p.write_record(f, alert, out),
            Siem::Elastic(p) => p.write_record(f, alert, out),
            Siem::Loki(p) => p.write_record(f, alert, out),
        }
    }

    /// The request body for stored records, each followed by `\n`.
    pub fn request(&self, records: &[u8]) -> Vec<u8> {
        match self {
            Siem::Splunk(p) => p.request(records),
            Siem::Elastic(p) => p.request(records),
            Siem::Loki(p) => p.request(records),
        }
    }

    /// What the answer means for the `sent` records of the request.
    pub fn judge(&self, code: u32, answer: &[u8], sent: usize) -> Judgement {
        match self {
            Siem::Splunk(p) => p.judge(code, answer, sent),
            Siem::Elastic(p) => p.judge(code, answer, sent),
            Siem::Loki(p) => p.judge(code, answer, sent),
        }
    }
}

/// The stored records of a request, without their newlines.
pub fn records(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.strip_suffix(b"\n")
        .unwrap_or(body)
        .split(|&b| b == b'\n')
        .filter(|r| !r.is_empty())
}
