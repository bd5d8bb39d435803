//! What the requests of an HTTP-transport channel carry. One transport (libcurl client, store,
//! spool, batching, retries), several payload formats: Falco's alert lines (`http_output`),
//! OTLP/HTTP JSON logs requests (`otlp_output`), and the SIEM payloads (`http_output.format`:
//! Splunk HEC, Elasticsearch bulk, Loki; `siem.rs`). Each stored line is one alert as formatted
//! for the channel: a Falco line (by the fan-out thread), or one OTLP `LogRecord` object or one
//! SIEM record (by the channel's worker).

use std::io::{self, Write};

use super::batch;
use super::retry::{self, Verdict};
use super::siem::Siem;
use crate::outputs::otlp::Envelope;

/// How much of an answer is kept: the start of a refusal for the log, or a whole OTLP answer
/// (its `partialSuccess`).
const LINES_ANSWER_KEPT: usize = 256;
const OTLP_ANSWER_KEPT: usize = 64 << 10;

pub enum Payload {
    /// Falco's lines: one per request as Falco posts it, or NDJSON batches.
    Lines {
        batching: bool,
        content_type: &'static str,
    },
    /// `ExportLogsServiceRequest` in OTLP's JSON encoding.
    Otlp(Envelope),
    /// A SIEM's own API (`http_output.format`).
    Siem(Siem),
}

/// What an answer means for the records of a request.
#[derive(Debug)]
pub enum Judgement {
    /// For all of them.
    Whole(Verdict),
    /// Taken (2xx), but `refused` of them refused for good (OTLP `partialSuccess`, bulk item
    /// errors): those are failed, the others delivered.
    Partly { refused: u64, message: String },
    /// The first `delivered` were taken, the next one refused for good, the rest not looked at
    /// (Splunk HEC's `invalid-event-number`): they are sent again.
    Prefix { delivered: usize, message: String },
}

/// Records a receiver accepted the request but refused (OTLP `partialSuccess`).
#[derive(Debug, PartialEq, Eq)]
pub struct Rejected {
    pub count: u64,
    pub message: String,
}

impl Payload {
    pub fn lines(json_output: bool, batch_max_alerts: usize) -> Payload {
        let batching = batch_max_alerts > 1;
        Payload::Lines {
            batching,
            content_type: batch::content_type(json_output, batching),
        }
    }

    pub fn content_type(&self) -> &'static str {
        match self {
            Payload::Lines { content_type, .. } => content_type,
            Payload::Otlp(_) => "application/json",
            Payload::Siem(s) => s.content_type(),
        }
    }

    pub fn answer_kept(&self) -> usize {
        match self {
            Payload::Lines { .. } => LINES_ANSWER_KEPT,
            Payload::Otlp(_) => OTLP_ANSWER_KEPT,
            Payload::Siem(s) => s.answer_kept(),
        }
    }

    /// Turns stored lines (each followed by `\n`) into the request body, gzipped if asked.
    pub fn finish_body(&self, body: &mut Vec<u8>, gzip: bool) -> io::Result<()> {
        match self {
            Payload::Lines { batching, .. } => batch::finish_body(body, *batching, gzip),
            Payload::Otlp(_) | Payload::Siem(_) => {
                *body = match self {
                    Payload::Otlp(env) => env.request(body),
                    Payload::Siem(s) => s.request(body),
                    Payload::Lines { .. } => unreachable!("matched above"),
                };
                if gzip {
                    let mut enc = flate2::write::GzEncoder::new(
                        Vec::with_capacity(body.len() / 4 + 64),
                        flate2::Compression::fast(),
                    );
                    enc.write_all(body)?;
                    *body = enc.finish()?;
                }
                Ok(())
            }
        }
    }

    /// What an answer means for the `sent` records of the request.
    pub fn judge(&self, code: u32, answer: &[u8], sent: usize) -> Judgement {
        if let Payload::Siem(s) = self {
            return s.judge(code, answer, sent);
        }
        match self.classify(code) {
            Verdict::Delivered => match self.rejected(answer) {
                Some(r) => Judgement::Partly {
                    refused: r.count,
                    message: r.message,
                },
                None => Judgement::Whole(Verdict::Delivered),
            },
            other => Judgement::Whole(other),
        }
    }

    /// What an answer's status means for the request.
    pub fn classify(&self, code: u32) -> Verdict {
        match self {
            Payload::Lines { .. } | Payload::Siem(_) => retry::classify_status(code),
            // OTLP/HTTP: only these are retryable; every other 4xx and 5xx is final.
            Payload::Otlp(_) => match code {
                200..=299 => Verdict::Delivered,
                429 | 502 | 503 | 504 => Verdict::Retry,
                _ => Verdict::Permanent,
            },
        }
    }

    /// Records refused inside a successful answer.
    pub fn rejected(&self, answer: &[u8]) -> Option<Rejected> {
        match self {
            Payload::Lines { .. } | Payload::Siem(_) => None,
            Payload::Otlp(_) => crate::outputs::otlp::partial_success(answer),
        }
    }
}
