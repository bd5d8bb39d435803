//! What the requests of an HTTP-transport channel carry. One transport (libcurl client, store,
//! spool, batching, retries), two payload formats: Falco's alert lines (`http_output`) and
//! OTLP/HTTP JSON logs requests (`otlp_output`). Each stored line is one alert as formatted for
//! the channel: a Falco line (by the fan-out thread), or one OTLP `LogRecord` object (by the
//! OTLP channel's worker).

use std::io::{self, Write};

use super::batch;
use super::retry::{self, Verdict};
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
        }
    }

    pub fn answer_kept(&self) -> usize {
        match self {
            Payload::Lines { .. } => LINES_ANSWER_KEPT,
            Payload::Otlp(_) => OTLP_ANSWER_KEPT,
        }
    }

    /// Turns stored lines (each followed by `\n`) into the request body, gzipped if asked.
    pub fn finish_body(&self, body: &mut Vec<u8>, gzip: bool) -> io::Result<()> {
        match self {
            Payload::Lines { batching, .. } => batch::finish_body(body, *batching, gzip),
            Payload::Otlp(env) => {
                *body = env.request(body);
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

    /// What an answer's status means for the request.
    pub fn classify(&self, code: u32) -> Verdict {
        match self {
            Payload::Lines { .. } => retry::classify_status(code),
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
            Payload::Lines { .. } => None,
            Payload::Otlp(_) => crate::outputs::otlp::partial_success(answer),
        }
    }
}
