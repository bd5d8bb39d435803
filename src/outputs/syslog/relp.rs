//! RELP framing (rsyslog's Reliable Event Logging Protocol), the client side: frames we send
//! (`open`, `syslog`, `close`) and a parser for what the server sends back (`rsp`,
//! `serverclose`). The parser takes bytes as they arrive and bounds everything it reads: a
//! hostile or broken server gets a protocol error (the connection is dropped and what it had
//! not confirmed is sent again), never a large allocation, a panic or a hang.
//!
//! ```text
//! FRAME  = TXNR SP COMMAND SP DATALEN [SP DATA] LF
//! TXNR   = 1*9DIGIT (1..999999999; 0 for serverclose)    COMMAND = 1*32ALPHA
//! ```

use std::fmt;
use std::io::Write;
use std::time::Duration;

/// RELP holds its alerts while the server is away and retries from this delay, doubling up to
/// [`RELP_RETRY_MAX`], so a restarted server is found again within seconds.
pub(super) const RELP_RETRY_MIN: Duration = Duration::from_millis(100);
pub(super) const RELP_RETRY_MAX: Duration = Duration::from_secs(5);
/// RELP transactions outstanding on the wire at once.
pub(super) const RELP_WINDOW: usize = 1024;

/// Largest transaction number; the next one is 1 again.
pub const TXNR_MAX: u32 = 999_999_999;
/// Largest response we accept: `200 OK` plus the server's offers is a few hundred bytes.
pub const MAX_RESPONSE_DATA: usize = 64 * 1024;
const MAX_COMMAND: usize = 32;
const MAX_DIGITS: usize = 9;

/// What we offer at `open`: protocol version 0, the `syslog` command.
pub fn open_offers() -> String {
    format!(
        "relp_version=0\nrelp_software=falco-outputs,{},https://falco.org\ncommands=syslog",
        env!("CARGO_PKG_VERSION")
    )
}

/// Appends one frame to `out`.
pub fn frame(out: &mut Vec<u8>, txnr: u32, command: &str, data: &[u8]) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{txnr} {command} {}", data.len());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

/// The transaction number after `t`.
pub fn next_txnr(t: u32) -> u32 {
    if t >= TXNR_MAX {
        1
    } else {
        t + 1
    }
}

/// One frame from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// `rsp`: the answer to transaction `txnr`, with its status code (200 = OK; 0 when the
    /// answer has no data, as the answer to `close`) and text.
    Rsp { txnr: u32, code: u16, text: String },
    /// `serverclose`: the server is closing the session.
    ServerClose,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RELP protocol error: {}", self.0)
    }
}

/// Accumulates the server's bytes and cuts them into replies.
#[derive(Default)]
pub struct Parser {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed by returned replies.
    pos: usize,
}

fn bad<T>(why: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(why.into()))
}

/// Reads a NUMBER at `s[i..]` ending at `stop`: `Ok(None)` if more bytes are needed.
fn number(s: &[u8], i: &mut usize, what: &str) -> Result<Option<u32>, ProtocolError> {
    let start = *i;
    while *i < s.len() && s[*i].is_ascii_digit() {
        *i += 1;
        if *i - start > MAX_DIGITS {
            return bad(format!("{what} longer than {MAX_DIGITS} digits"));
        }
    }
    if *i == s.len() {
        return Ok(None);
    }
    if *i == start {
        return bad(format!("{what} is not a number"));
    }
    // At most 9 ASCII digits: fits in u32.
    let text = std::str::from_utf8(&s[start..*i]).unwrap_or("0");
    Ok(Some(text.parse().unwrap_or(0)))
}

impl Parser {
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete reply, `Ok(None)` if it has not fully arrived.
    pub fn next(&mut self) -> Result<Option<Reply>, ProtocolError> {
        let Some(frame) = cut_frame(&self.buf[self.pos..])? else {
            return Ok(None);
        };
        let reply = match frame.command.as_str() {
            "rsp" => rsp(frame.txnr, frame.data)?,
            "serverclose" => Reply::ServerClose,
            other => return bad(format!("unexpected command '{other}' from the server")),
        };
        self.pos += frame.len;
        Ok(Some(reply))
    }
}

/// One complete frame, cut from the bytes received.
struct Frame<'a> {
    txnr: u32,
    command: String,
    data: &'a [u8],
    /// Bytes it takes, trailer included.
    len: usize,
}

/// The frame at the start of `s`: `Ok(None)` if it has not fully arrived.
fn cut_frame(s: &[u8]) -> Result<Option<Frame<'_>>, ProtocolError> {
    let mut i = 0;
    let Some(txnr) = number(s, &mut i, "transaction number")? else {
        return Ok(None);
    };
    if s[i] != b' ' {
        return bad("no space after the transaction number");
    }
    i += 1;
    let cmd_start = i;
    while i < s.len() && s[i].is_ascii_alphabetic() {
        i += 1;
        if i - cmd_start > MAX_COMMAND {
            return bad("command longer than 32 letters");
        }
    }
    if i == s.len() {
        return Ok(None);
    }
    if i == cmd_start || s[i] != b' ' {
        return bad("malformed command");
    }
    let command = String::from_utf8_lossy(&s[cmd_start..i]).into_owned();
    i += 1;
    let Some(len) = number(s, &mut i, "data length")? else {
        return Ok(None);
    };
    let len = len as usize;
    if len > MAX_RESPONSE_DATA {
        return bad(format!("data length {len} over {MAX_RESPONSE_DATA}"));
    }
    let data_start = if len > 0 {
        if s[i] != b' ' {
            return bad("no space before the data");
        }
        i + 1
    } else {
        i
    };
    // DATA, then the LF trailer.
    if s.len() <= data_start + len {
        return Ok(None);
    }
    if s[data_start + len] != b'\n' {
        return bad("no LF after the data");
    }
    Ok(Some(Frame {
        txnr,
        command,
        data: &s[data_start..data_start + len],
        len: data_start + len + 1,
    }))
}

/// An `rsp` frame's reply: its status code and the first line of its text.
fn rsp(txnr: u32, data: &[u8]) -> Result<Reply, ProtocolError> {
    if txnr == 0 || txnr > TXNR_MAX {
        return bad(format!("rsp with transaction number {txnr}"));
    }
    if data.is_empty() {
        // The answer to `close` carries no status.
        return Ok(Reply::Rsp {
            txnr,
            code: 0,
            text: String::new(),
        });
    }
    let code_end = data.iter().position(|b| !b.is_ascii_digit());
    let code_end = code_end.unwrap_or(data.len());
    if code_end != 3 {
        return bad("rsp without a 3-digit status code");
    }
    let code = std::str::from_utf8(&data[..3])
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // The text: up to the end of the first line, bounded.
    let rest = &data[3..];
    let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    let text = String::from_utf8_lossy(&rest[..line_end.min(200)])
        .trim()
        .to_string();
    Ok(Reply::Rsp { txnr, code, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Result<Vec<Reply>, ProtocolError> {
        let mut p = Parser::default();
        p.push(bytes);
        let mut out = Vec::new();
        while let Some(r) = p.next()? {
            out.push(r);
        }
        Ok(out)
    }

    fn rsp(txnr: u32, code: u16, text: &str) -> Reply {
        Reply::Rsp {
            txnr,
            code,
            text: text.into(),
        }
    }

    #[test]
    fn frames_as_rsyslog_expects() {
        let mut out = Vec::new();
        frame(&mut out, 2, "syslog", b"<12>Aug  4 16:17:57 h falco: m");
        frame(&mut out, 3, "close", b"");
        assert_eq!(
            out,
            b"2 syslog 30 <12>Aug  4 16:17:57 h falco: m\n3 close 0\n".to_vec()
        );
        assert_eq!(next_txnr(1), 2);
        assert_eq!(next_txnr(TXNR_MAX), 1);
        assert!(open_offers().starts_with("relp_version=0\n"));
        assert!(open_offers().ends_with("\ncommands=syslog"));
    }

    #[test]
    fn parses_responses_in_any_chunking() {
        let stream = b"1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n2 rsp 6 200 OK\n3 rsp 14 500 queue full\n4 rsp 0\n0 serverclose 0\n";
        let want = vec![
            rsp(1, 200, "OK"),
            rsp(2, 200, "OK"),
            rsp(3, 500, "queue full"),
            rsp(4, 0, ""),
            Reply::ServerClose,
        ];
        assert_eq!(parse_all(stream).unwrap(), want);
        // Byte by byte, and in every split into two pieces: the same replies.
        for split in 0..stream.len() {
            let mut p = Parser::default();
            let mut got = Vec::new();
            for piece in [&stream[..split], &stream[split..]] {
                p.push(piece);
                while let Some(r) = p.next().unwrap() {
                    got.push(r);
                }
            }
            assert_eq!(got, want, "split at {split}");
        }
        let mut p = Parser::default();
        let mut got = Vec::new();
        for b in stream.iter() {
            p.push(std::slice::from_ref(b));
            while let Some(r) = p.next().unwrap() {
                got.push(r);
            }
        }
        assert_eq!(got, want);
    }

    #[test]
    fn hostile_input_is_an_error_never_an_allocation() {
        for (input, why) in [
            (&b"x rsp 6 200 OK\n"[..], "not a number"),
            (b"1234567890 rsp 6 200 OK\n", "longer than 9 digits"),
            (b"1  rsp 6 200 OK\n", "malformed command"),
            (b"1 r-p 6 200 OK\n", "malformed command"),
            (b"1 rsp 999999999 200", "over 65536"),
            (b"1 rsp 99999999999", "longer than 9 digits"),
            (b"1 rsp 6x200 OK\n", "no space before the data"),
            (b"1 rsp 6 200 OKX", "no LF after the data"),
            (b"1 rsp 6 2x0 OK\n", "3-digit status code"),
            (b"1 rsp 2 20\n", "3-digit status code"),
            (b"0 rsp 6 200 OK\n", "transaction number 0"),
            (b"1 syslog 1 x\n", "unexpected command 'syslog'"),
            (b"1 abcdefghijklmnopqrstuvwxyzabcdefg", "longer than 32"),
        ] {
            match parse_all(input) {
                Err(ProtocolError(m)) => {
                    assert!(m.contains(why), "{:?}: {m}", String::from_utf8_lossy(input))
                }
                Ok(r) => panic!("{:?} accepted: {r:?}", String::from_utf8_lossy(input)),
            }
        }
        // Incomplete but well-formed so far: wait for more, keep nothing large.
        for input in [&b"1"[..], b"12 rs", b"12 rsp 6", b"12 rsp 6 200 O", b""] {
            assert_eq!(parse_all(input), Ok(vec![]), "{input:?}");
        }
    }

    /// Random bytes and random mutations of valid streams: the parser returns replies, an
    /// error or "need more", and never panics or consumes past its input.
    #[test]
    fn random_input_never_panics() {
        let valid = b"1 rsp 6 200 OK\n2 rsp 6 200 OK\n0 serverclose 0\n".to_vec();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..20_000 {
            let mut input = if round % 2 == 0 {
                let n = (rand() % 64) as usize;
                (0..n).map(|_| (rand() % 256) as u8).collect::<Vec<u8>>()
            } else {
                let mut v = valid.clone();
                for _ in 0..1 + rand() % 4 {
                    let i = (rand() as usize) % v.len();
                    v[i] = b"0123456789 \nrspa\xff"[(rand() % 17) as usize];
                }
                v
            };
            if round % 3 == 0 {
                input.truncate((rand() as usize) % (input.len() + 1));
            }
            let mut p = Parser::default();
            p.push(&input);
            for _ in 0..input.len() + 1 {
                match p.next() {
                    Ok(Some(_)) => assert!(p.pos <= p.buf.len()),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}
