//! What to do after an attempt (delivered, give up, retry) and when to retry: exponential backoff
//! with jitter, or the server's `Retry-After`.

use std::time::{Duration, SystemTime};

/// The first retry waits about this long; each further failure doubles it.
const BASE_DELAY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// The server refused the request for good (e.g. 400): retrying cannot help.
    Permanent,
    /// The server or the network may do better later (408, 429, 5xx, connection errors).
    Retry,
}

/// Falco treated any answer as delivered; this library only trusts a 2xx.
pub fn classify_status(code: u32) -> Verdict {
    match code {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Permanent,
    }
}

/// `Retry-After` as delta-seconds or as an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = crate::date::parse_http_date(value)?;
    let when =
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(when).ok()?))?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The delay before the next attempt of the same request.
pub struct Backoff {
    failures: u32,
    max: Duration,
    rng: u64,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        // Seeded per channel so that many hosts restarted together do not retry in lockstep.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let seed = nanos ^ (std::process::id() as u64).rotate_left(32) ^ (&max as *const _ as u64);
        Backoff {
            failures: 0,
            max,
            rng: seed | 1,
        }
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Records one more failure and returns how long to wait. A server's `Retry-After` wins over
    /// the computed delay, but never beyond `retry_max_backoff_ms` (a misconfigured server must
    /// not hold alerts for hours).
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if let Some(wait) = retry_after {
            return wait.min(self.max);
        }
        let exp = BASE_DELAY
            .saturating_mul(1u32 << (self.failures - 1).min(20))
            .min(self.max);
        // "Equal jitter": between half and all of the exponential delay.
        let half = exp / 2;
        let span = (exp - half).as_micros() as u64;
        let jitter = if span == 0 {
            0
        } else {
            self.next_random() % (span + 1)
        };
        half + Duration::from_micros(jitter)
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: plenty for spreading retries, no crate needed.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify_status(200), Verdict::Delivered);
        assert_eq!(classify_status(204), Verdict::Delivered);
        assert_eq!(classify_status(408), Verdict::Retry);
        assert_eq!(classify_status(429), Verdict::Retry);
        assert_eq!(classify_status(503), Verdict::Retry);
        assert_eq!(classify_status(400), Verdict::Permanent);
        assert_eq!(classify_status(404), Verdict::Permanent);
        assert_eq!(classify_status(301), Verdict::Permanent);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784111777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_secs(2));
        let d1 = b.next_delay(None);
        assert!(
            d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
            "{d1:?}"
        );
        let d2 = b.next_delay(None);
        assert!(
            d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200),
            "{d2:?}"
        );
        for _ in 0..30 {
            assert!(b.next_delay(None) <= Duration::from_secs(2));
        }
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            b.next_delay(Some(Duration::from_secs(60))),
            Duration::from_secs(2)
        );
        b.reset();
        assert!(b.next_delay(None) <= Duration::from_millis(100));
    }
}
