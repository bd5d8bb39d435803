//! Syslog message bytes: the RFC 3164 header glibc's syslog(3) writes, the RFC 5424 header, and
//! the framing each transport needs. Pure functions, so the exact bytes are unit-tested here.

use std::io::Write;

use crate::config::SyslogFormat;
use crate::date::{Civil, LocalZone, NS_PER_SEC};

/// How one message is delimited on a stream (a datagram carries the message as it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// Followed by a NUL byte: what glibc's syslog(3) does on a unix stream socket.
    NulTerminated,
    /// RFC 6587 octet counting, `LEN SP MSG` (TCP).
    OctetCounted,
}

/// Everything about a message that does not change from one alert to the next.
pub struct Header {
    pub format: SyslogFormat,
    /// Facility number (user = 1).
    pub facility: u8,
    /// syslog(3)'s tag: the program's short name.
    pub tag: String,
    /// Sent in RFC 3164 messages over the network and in every RFC 5424 message. glibc sends no
    /// hostname over /dev/log (the local daemon adds its own), so it is `None` there.
    pub hostname: Option<String>,
    pub pid: u32,
    /// Local time zone for the timestamps, as glibc's localtime would pick it.
    pub zone: LocalZone,
}

/// Broken-down local time of `time_ns`, its nanoseconds and its UTC offset in seconds.
fn local_time(zone: &LocalZone, time_ns: u64) -> (Civil, u32, i32) {
    let secs = (time_ns / NS_PER_SEC) as i64;
    let offset = zone.offset_at(secs);
    let local = Civil::from_unix(secs + i64::from(offset));
    (local, (time_ns % NS_PER_SEC) as u32, offset)
}

/// RFC 5424 fields (HOSTNAME, APP-NAME) are printable US-ASCII without spaces, bounded in length;
/// anything else becomes `_`, and an empty field is the nil value `-`.
fn push_5424_field(out: &mut Vec<u8>, value: &str, max: usize) {
    if value.is_empty() {
        out.push(b'-');
        return;
    }
    out.extend(
        value
            .bytes()
            .take(max)
            .map(|b| if b.is_ascii_graphic() { b } else { b'_' }),
    );
}

/// Appends one message to `out`, not framed: header, then `msg` (one alert line, no newline).
pub fn encode(out: &mut Vec<u8>, header: &Header, severity: u8, time_ns: u64, msg: &[u8]) {
    let pri = u32::from(header.facility) * 8 + u32::from(severity & 7);
    let (t, nanos, offset) = local_time(&header.zone, time_ns);
    // Writing into a Vec cannot fail.
    match header.format {
        SyslogFormat::Rfc3164 => {
            // glibc: "<%d>%s %s: " with the timestamp from strftime("%h %e %T") in the C locale.
            let _ = write!(
                out,
                "<{}>{} {:2} {:02}:{:02}:{:02} ",
                pri,
                t.month_abbrev(),
                t.day,
                t.hour,
                t.minute,
                t.second
            );
            if let Some(host) = &header.hostname {
                out.extend_from_slice(host.as_bytes());
                out.push(b' ');
            }
            out.extend_from_slice(header.tag.as_bytes());
            out.extend_from_slice(b": ");
        }
        SyslogFormat::Rfc5424 => {
            let sign = if offset < 0 { '-' } else { '+' };
            let off = offset.unsigned_abs();
            let _ = write!(
                out,
                "<{}>1 {:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02} ",
                pri,
                t.year,
                t.month,
                t.day,
                t.hour,
                t.minute,
                t.second,
                nanos / 1000,
                sign,
                off / 3600,
                off % 3600 / 60
            );
            push_5424_field(out, header.hostname.as_deref().unwrap_or(""), 255);
            out.push(b' ');
            push_5424_field(out, &header.tag, 48);
            // PROCID, then no MSGID and no structured data.
            let _ = write!(out, " {} - - ", header.pid);
        }
    }
    out.extend_from_slice(msg);
}

/// Appends `msg` (from [`encode`]) to `out`, framed for its transport.
pub fn frame(out: &mut Vec<u8>, framing: Framing, msg: &[u8]) {
    if framing == Framing::OctetCounted {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{} ", msg.len());
    }
    out.extend_from_slice(msg);
    if framing == Framing::NulTerminated {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2016-08-04T16:17:57.881781397Z
    const T: u64 = 1_470_327_477_881_781_397;

    fn header(format: SyslogFormat, hostname: Option<&str>, zone: &str) -> Header {
        Header {
            format,
            facility: 1,
            tag: "falco".into(),
            hostname: hostname.map(str::to_owned),
            pid: 4242,
            zone: LocalZone::from_tz(zone).unwrap(),
        }
    }

    fn enc(h: &Header, sev: u8, t: u64, msg: &str) -> String {
        let mut out = Vec::new();
        encode(&mut out, h, sev, t, msg.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rfc3164_local_is_glibc_syslog() {
        let h = header(SyslogFormat::Rfc3164, None, "UTC0");
        assert_eq!(
            enc(&h, 4, T, "16:17:57.881781397: Warning x"),
            "<12>Aug  4 16:17:57 falco: 16:17:57.881781397: Warning x"
        );
    }

    #[test]
    fn rfc3164_uses_local_time_and_pads_the_day() {
        // UTC-3 all year: 16:17 UTC is 13:17 local.
        let h = header(SyslogFormat::Rfc3164, None, "<-03>3");
        assert_eq!(enc(&h, 0, T, "m"), "<8>Aug  4 13:17:57 falco: m");
        // 2016-12-25
        let h = header(SyslogFormat::Rfc3164, None, "UTC0");
        assert_eq!(
            enc(&h, 7, 1_482_624_000_000_000_000, "m"),
            "<15>Dec 25 00:00:00 falco: m"
        );
    }

    #[test]
    fn rfc3164_network_carries_the_hostname() {
        let mut h = header(SyslogFormat::Rfc3164, Some("web-1"), "UTC0");
        h.facility = 16;
        assert_eq!(enc(&h, 6, T, "m"), "<134>Aug  4 16:17:57 web-1 falco: m");
    }

    #[test]
    fn rfc5424_has_microseconds_offset_and_nil_fields() {
        let h = header(SyslogFormat::Rfc5424, Some("web-1"), "<+0530>-5:30");
        assert_eq!(
            enc(&h, 3, T, "m"),
            "<11>1 2016-08-04T21:47:57.881781+05:30 web-1 falco 4242 - - m"
        );
        let h = header(SyslogFormat::Rfc5424, None, "<-03>3");
        assert_eq!(
            enc(&h, 3, T, "m"),
            "<11>1 2016-08-04T13:17:57.881781-03:00 - falco 4242 - - m"
        );
    }

    #[test]
    fn rfc5424_fields_are_sanitised() {
        let mut h = header(SyslogFormat::Rfc5424, Some("a b"), "UTC0");
        h.tag = "x".repeat(60) + " é";
        let s = enc(&h, 3, T, "m");
        assert_eq!(
            s,
            format!(
                "<11>1 2016-08-04T16:17:57.881781+00:00 a_b {} 4242 - - m",
                "x".repeat(48)
            )
        );
    }

    #[test]
    fn framings() {
        let h = header(SyslogFormat::Rfc3164, None, "UTC0");
        let msg = "<12>Aug  4 16:17:57 falco: m";
        assert_eq!(enc(&h, 4, T, "m"), msg);
        let mut out = Vec::new();
        frame(&mut out, Framing::NulTerminated, msg.as_bytes());
        assert_eq!(out, format!("{msg}\0").into_bytes());
        let mut out = b"prev".to_vec();
        frame(&mut out, Framing::OctetCounted, msg.as_bytes());
        assert_eq!(out, format!("prev{} {msg}", msg.len()).into_bytes());
    }
}
