//! Falco's own payload (`http_output.format: falco`): one line per request as Falco posts it,
//! or several lines as NDJSON when batching.

use crate::outputs::http::payload::Payload;

/// Falco's lines: formatted once per alert by the fan-out thread, shared with other channels.
pub struct Lines {
    batching: bool,
    content_type: &'static str,
}

impl Lines {
    pub fn new(json_output: bool, batch_max_alerts: usize) -> Lines {
        let batching = batch_max_alerts > 1;
        Lines {
            batching,
            content_type: content_type(json_output, batching),
        }
    }
}

impl Payload for Lines {
    fn content_type(&self) -> &'static str {
        self.content_type
    }

    fn own_format(&self) -> bool {
        false
    }

    fn request(&self, records: &mut Vec<u8>) {
        finish_body(records, self.batching)
    }
}

/// The `Content-Type` of every request of a channel. Batching is a per-channel choice, so a
/// receiver sees one format whatever the batch size of a given request.
fn content_type(json_output: bool, batching: bool) -> &'static str {
    match (json_output, batching) {
        (true, true) => "application/x-ndjson",
        (true, false) => "application/json",
        (false, _) => "text/plain",
    }
}

/// Turns `lines` (each followed by `\n`, as the store hands them out) into the body to send.
/// Without batching the body is the bare line, as Falco posts it; with batching every line keeps
/// its newline (NDJSON).
fn finish_body(lines: &mut Vec<u8>, batching: bool) {
    if !batching && lines.last() == Some(&b'\n') {
        lines.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_loses_its_newline() {
        let mut b = b"{\"a\":1}\n".to_vec();
        finish_body(&mut b, false);
        assert_eq!(b, b"{\"a\":1}");
    }

    #[test]
    fn batch_keeps_newlines() {
        let mut b = b"one\ntwo\n".to_vec();
        finish_body(&mut b, true);
        assert_eq!(b, b"one\ntwo\n");
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(true, false), "application/json");
        assert_eq!(content_type(true, true), "application/x-ndjson");
        assert_eq!(content_type(false, true), "text/plain");
    }
}
