//! What the requests of an HTTP-transport channel carry: the [`Payload`] trait. The transport
//! (`http.rs`: libcurl client, store, spool, batching, retries, gzip) is one; each channel on it
//! is a payload and a configuration block (`outputs/http_output.rs`, `outputs/otlp.rs`).
//!
//! A stored record is one alert as the payload formats it, on one line (what the store and the
//! spool hold); a request is built from a batch of records; the answer is judged by the
//! payload's API.

use super::retry::{self, Verdict};
use crate::alert::Alert;
use crate::format::Formatter;

pub trait Payload: Send {
    /// The `Content-Type` of every request.
    fn content_type(&self) -> &'static str;

    /// How much of an answer the client keeps: the start of a refusal for the log, or a whole
    /// answer the payload reads (per-record results).
    fn answer_kept(&self) -> usize {
        256
    }

    /// True when the payload formats its records itself ([`Payload::write_record`]); false
    /// for Falco's line, formatted once per alert by the fan-out thread.
    fn own_format(&self) -> bool {
        true
    }

    /// One alert as one stored record, without a newline.
    fn write_record(&mut self, f: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        f.write_line(alert, out)
    }

    /// The request body for stored records (each followed by `\n`), in place; the transport
    /// gzips it afterwards when asked.
    fn request(&self, records: &mut Vec<u8>);

    /// What an answer means for the `sent` records of the request.
    fn judge(&self, code: u32, _answer: &[u8], _sent: usize) -> Judgement {
        Judgement::Whole(retry::classify_status(code))
    }
}

/// What an answer means for the records of a request.
#[derive(Debug)]
pub enum Judgement {
    /// For all of them.
    Whole(Verdict),
    /// Taken (2xx), but `refused` of them refused for good (per-record errors in the answer):
    /// those are failed, the others delivered.
    Partly { refused: u64, message: String },
    /// The first `delivered` were taken, the next one refused for good, the rest not looked at
    /// (an answer naming the first bad record): they are sent again.
    Prefix { delivered: usize, message: String },
}

/// The stored records of a request, without their newlines.
pub fn records(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.strip_suffix(b"\n")
        .unwrap_or(body)
        .split(|&b| b == b'\n')
        .filter(|r| !r.is_empty())
}
