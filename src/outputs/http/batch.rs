//! Request bodies: one line as Falco sends it, or several lines as NDJSON, optionally gzipped.

use std::io::Write;

/// The `Content-Type` of every request of a channel. Batching is a per-channel choice, so a
/// receiver sees one format whatever the batch size of a given request.
pub fn content_type(json_output: bool, batching: bool) -> &'static str {
    match (json_output, batching) {
        (true, true) => "application/x-ndjson",
        (true, false) => "application/json",
        (false, _) => "text/plain",
    }
}

/// Turns `lines` (each followed by `\n`, as the store hands them out) into the body to send.
/// Without batching the body is the bare line, as Falco posts it; with batching every line keeps
/// its newline (NDJSON).
pub fn finish_body(lines: &mut Vec<u8>, batching: bool, gzip: bool) -> std::io::Result<()> {
    if !batching && lines.last() == Some(&b'\n') {
        lines.pop();
    }
    if gzip {
        // libcurl can only ask for compressed responses; request bodies are compressed here.
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(lines.len() / 4 + 64),
            flate2::Compression::fast(),
        );
        enc.write_all(lines)?;
        *lines = enc.finish()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn single_line_loses_its_newline() {
        let mut b = b"{\"a\":1}\n".to_vec();
        finish_body(&mut b, false, false).unwrap();
        assert_eq!(b, b"{\"a\":1}");
    }

    #[test]
    fn batch_keeps_newlines_and_gzip_round_trips() {
        let mut b = b"one\ntwo\n".to_vec();
        finish_body(&mut b, true, true).unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&b[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "one\ntwo\n");
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(true, false), "application/json");
        assert_eq!(content_type(true, true), "application/x-ndjson");
        assert_eq!(content_type(false, true), "text/plain");
    }
}
