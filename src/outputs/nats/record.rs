//! What the channel keeps for each alert until its PubAck, in memory or in the spool: the
//! message's identity, subject, header values and body, as one record.
//!
//! ```text
//! FON1 US <Nats-Msg-Id> US <subject> US <priority> US <rule> US <source> US <hostname> US <body>
//! ```
//!
//! `US` is the byte 0x1F. Every field but the body has its control characters (0x00-0x1F,
//! 0x7F) replaced by a space when written, so it holds no `US`, CR or LF (a NATS header value
//! may not hold CR or LF either); the body is the rest of the record, as formatted (an alert's
//! line never holds a newline, so a record never does: the memory store joins records with
//! `\n`). The spool stores records as opaque bytes.
//!
//! The `Nats-Msg-Id` is `<run>-<n>`: `run` is 16 hex digits of randomness drawn when the
//! channel opens (from the OS: `/dev/urandom`), `n` counts the alerts this channel took in that
//! run, from 1. Random 64 bits per run make ids unique across hosts and restarts (two runs
//! share a `run` with probability about k²/2⁶⁵ for k runs ever: 3·10⁻⁸ for a million), and the
//! id is written into the record before the first publish, so every re-send of that alert
//! (after a lost ack, a reconnect, a leader change, a restart from the spool) carries it.

use std::io::Read;

const MAGIC: &[u8] = b"FON1";
const US: u8 = 0x1f;

/// The header fields of a record, in order after the magic.
pub const FIELDS: usize = 6;

/// A record read back.
pub struct Record<'a> {
    pub msg_id: &'a str,
    pub subject: &'a str,
    pub priority: &'a str,
    pub rule: &'a str,
    pub source: &'a str,
    pub hostname: &'a str,
    pub body: &'a [u8],
}

/// Appends one header field, control characters made spaces, then the separator.
pub fn push_field(out: &mut Vec<u8>, value: &str) {
    for b in value.bytes() {
        out.push(if b < 0x20 || b == 0x7f { b' ' } else { b });
    }
    out.push(US);
}

/// Starts a record: the magic and its separator.
pub fn start(out: &mut Vec<u8>) {
    out.extend_from_slice(MAGIC);
    out.push(US);
}

/// Reads a record back; `None` when it is not one (a damaged or foreign record).
pub fn parse(bytes: &[u8]) -> Option<Record<'_>> {
    let mut it = bytes.splitn(FIELDS + 2, |b| *b == US);
    if it.next()? != MAGIC {
        return None;
    }
    let mut f = [""; FIELDS];
    for slot in &mut f {
        *slot = std::str::from_utf8(it.next()?).ok()?;
    }
    let body = it.next()?;
    Some(Record {
        msg_id: f[0],
        subject: f[1],
        priority: f[2],
        rule: f[3],
        source: f[4],
        hostname: f[5],
        body,
    })
}

/// The ids of one run of the channel.
pub struct MsgIds {
    run: String,
    next: u64,
}

impl MsgIds {
    /// A new run: 64 random bits from the OS.
    pub fn new() -> std::io::Result<MsgIds> {
        let mut b = [0u8; 8];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
        Ok(MsgIds {
            run: format!("{:016x}", u64::from_le_bytes(b)),
            next: 1,
        })
    }

    /// Appends the next id.
    pub fn push_next(&mut self, out: &mut Vec<u8>) {
        use std::io::Write;
        let _ = write!(out, "{}-{}", self.run, self.next);
        out.push(US);
        self.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_with_control_characters_made_spaces() {
        let mut ids = MsgIds::new().unwrap();
        let mut r = Vec::new();
        start(&mut r);
        ids.push_next(&mut r);
        for v in ["falco.warning.x", "Warning", "a\x1fb\r\nc", "syscall", "h"] {
            push_field(&mut r, v);
        }
        r.extend_from_slice("{\"x\":\"\u{1f}é\"}".as_bytes());
        let rec = parse(&r).unwrap();
        assert!(rec.msg_id.ends_with("-1") && rec.msg_id.len() == 18);
        assert_eq!(rec.subject, "falco.warning.x");
        assert_eq!(rec.rule, "a b  c");
        assert_eq!(rec.hostname, "h");
        assert_eq!(rec.body, "{\"x\":\"\u{1f}é\"}".as_bytes());
        assert!(!r.contains(&b'\n'));
        assert!(parse(b"FOO\x1fx").is_none());
    }

    #[test]
    fn runs_differ() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        MsgIds::new().unwrap().push_next(&mut a);
        MsgIds::new().unwrap().push_next(&mut b);
        assert_ne!(a, b);
    }
}
