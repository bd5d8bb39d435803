//! Dates, for the whole crate: the proleptic Gregorian calendar (seconds since the epoch <->
//! year, month, day, time of day), the host's time zone ([`LocalZone`]), the fixed-width date
//! texts the alert formats and syslog headers need, and the HTTP-date of `Retry-After`.
//! No other module computes a date.

mod zone;

pub use zone::LocalZone;

use crate::digits::put2;

pub const NS_PER_SEC: u64 = 1_000_000_000;

/// A point in time broken down into calendar fields (no zone: shift `secs` first for local
/// time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// The calendar fields of `secs` since the epoch.
    pub fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
        }
    }

    /// Seconds since the epoch of these fields (read as UTC).
    pub fn to_unix(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// Three-letter English month name (`Jan`), as strftime's `%b` in the C locale.
    pub fn month_abbrev(&self) -> &'static str {
        MONTHS[(self.month as usize).clamp(1, 12) - 1]
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `YYYY-MM-DDTHH:MM:SS` of `secs` since the epoch (already shifted to the wanted zone) into
/// the first 19 bytes of `dst` (strftime `%FT%T`; years clamped to 0..=9999).
pub fn write_date_time(dst: &mut [u8; 20], secs: i64) {
    let c = Civil::from_unix(secs);
    let y = c.year.clamp(0, 9999) as u32;
    put2(&mut dst[0..2], y / 100);
    put2(&mut dst[2..4], y % 100);
    dst[4] = b'-';
    put2(&mut dst[5..7], c.month);
    dst[7] = b'-';
    put2(&mut dst[8..10], c.day);
    dst[10] = b'T';
    write_time_of_day(&mut dst[11..19], secs);
}

/// `2026-07-12T10:30:05.123456789Z`: `ns` since the epoch, UTC, RFC 3339 with nanoseconds.
pub fn rfc3339_utc(ns: u64) -> String {
    let mut d = [0u8; 20];
    write_date_time(&mut d, (ns / NS_PER_SEC) as i64);
    let mut s = String::from_utf8_lossy(&d[..19]).into_owned();
    s.push_str(&format!(".{:09}Z", ns % NS_PER_SEC));
    s
}

/// `HH:MM:SS` of `secs` since the epoch (strftime `%T`) into the first 8 bytes of `dst`.
pub fn write_time_of_day(dst: &mut [u8], secs: i64) {
    let sod = secs.rem_euclid(86_400) as u32;
    put2(&mut dst[0..2], sod / 3600);
    dst[2] = b':';
    put2(&mut dst[3..5], sod / 60 % 60);
    dst[5] = b':';
    put2(&mut dst[6..8], sod % 60);
}

/// strftime `%z` of an offset in seconds east of UTC: `+hhmm` / `-hhmm` (seconds dropped).
pub fn utc_offset(offset: i32) -> [u8; 5] {
    let (sign, abs) = if offset < 0 {
        (b'-', -i64::from(offset))
    } else {
        (b'+', i64::from(offset))
    };
    let minutes = abs / 60;
    let mut z = [sign, 0, 0, 0, 0];
    put2(&mut z[1..3], (minutes / 60 % 100) as u32);
    put2(&mut z[3..5], (minutes % 60) as u32);
    z
}

/// Howard Hinnant's days -> (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Howard Hinnant's (year, month, day) -> days since the epoch.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An HTTP-date (RFC 9110 §5.6.7) as seconds since the epoch: the preferred IMF-fixdate
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), and the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37
/// GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms a recipient must accept.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let (day, month, year, time) = match words.as_slice() {
        // IMF-fixdate (also RFC 1123 with a numeric zone of +0000).
        [_wkday, day, mon, year, time, zone] if is_gmt(zone) => {
            (day.parse().ok()?, *mon, year.parse::<i64>().ok()?, *time)
        }
        // RFC 850: `06-Nov-94`, two-digit year (RFC 9110: 50 years rule, here 1970..=2069).
        [_weekday, date, time, zone] if is_gmt(zone) => {
            let mut p = date.split('-');
            let (d, m, y) = (p.next()?, p.next()?, p.next()?);
            let y: i64 = y.parse().ok()?;
            let y = if y < 70 { 2000 + y } else { 1900 + y };
            (d.parse().ok()?, m, y, *time)
        }
        // asctime: `Nov  6 08:49:37 1994`.
        [_wkday, mon, day, time, year] => {
            (day.parse().ok()?, *mon, year.parse::<i64>().ok()?, *time)
        }
        _ => return None,
    };
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as u32 + 1;
    let mut t = time.split(':');
    let (h, m, sec) = (t.next()?, t.next()?, t.next()?);
    if t.next().is_some() {
        return None;
    }
    let c = Civil {
        year,
        month,
        day,
        hour: h.parse().ok()?,
        minute: m.parse().ok()?,
        second: sec.parse().ok()?,
    };
    let valid = (1..=31).contains(&c.day) && c.hour < 24 && c.minute < 60 && c.second < 61;
    // A day past the month's end (31 Feb) is not a date.
    (valid && Civil::from_unix(c.to_unix()).day == c.day).then(|| c.to_unix())
}

fn is_gmt(zone: &str) -> bool {
    matches!(zone, "GMT" | "UTC" | "UT" | "+0000" | "Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips_over_centuries() {
        for secs in [
            i64::from(i32::MIN),
            -1,
            0,
            951_782_400,   // 2000-02-29
            1_507_591_916, // 2017-10-09T23:31:56
            18_446_744_073,
            253_402_300_799, // 9999-12-31T23:59:59
        ] {
            assert_eq!(Civil::from_unix(secs).to_unix(), secs, "{secs}");
        }
        let mut s = -86_400 * 366 * 500;
        while s < 86_400 * 366 * 500 {
            assert_eq!(Civil::from_unix(s).to_unix(), s);
            s += 86_400 * 7 + 3_601;
        }
        let c = Civil::from_unix(951_782_400);
        assert_eq!((c.year, c.month, c.day), (2000, 2, 29));
        assert_eq!(c.month_abbrev(), "Feb");
    }

    #[test]
    fn texts() {
        let mut b = [0u8; 20];
        write_date_time(&mut b, 1_507_591_916);
        assert_eq!(&b[..19], b"2017-10-09T23:31:56");
        assert_eq!(&utc_offset(-7 * 3600), b"-0700");
        assert_eq!(&utc_offset(5 * 3600 + 1800), b"+0530");
        assert_eq!(&utc_offset(-(3 * 3600 + 1800)), b"-0330");
        assert_eq!(&utc_offset(0), b"+0000");
    }

    #[test]
    fn http_dates() {
        let want = Some(784_111_777); // 1994-11-06T08:49:37Z
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), want);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), want);
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), want);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 +0000"), want);
        for bad in [
            "",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }
}
