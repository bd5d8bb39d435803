//! Request bodies gzipped (`compress_uploads`): libcurl can only ask for compressed answers, so
//! the transport compresses what it sends itself, whatever the payload.

use std::io::Write;

/// Replaces `body` with its gzip encoding.
pub fn compress(body: &mut Vec<u8>) -> std::io::Result<()> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        flate2::Compression::fast(),
    );
    enc.write_all(body)?;
    *body = enc.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn round_trips() {
        let mut b = b"one\ntwo\n".to_vec();
        compress(&mut b).unwrap();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&b[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "one\ntwo\n");
    }
}
