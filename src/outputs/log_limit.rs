//! The one rate limit for log lines about events that can repeat at the alert rate (a failing
//! program, a full spool, an unreachable daemon, a full queue): the first line at once, then at
//! most one per interval, and how many similar lines were held back meanwhile.

use std::time::{Duration, Instant};

use super::ChannelCtx;

pub struct LogLimit {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl LogLimit {
    /// At most one line per `every`.
    pub const fn every(every: Duration) -> LogLimit {
        LogLimit {
            every,
            last: None,
            held_back: 0,
        }
    }

    /// Whether a line may be logged at `now`: if so, how many were held back since the last
    /// one (and a new interval starts); if not, this one is counted as held back.
    pub fn allow_at(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < self.every)
        {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }

    pub fn allow(&mut self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    /// `msg` as an error of the channel, unless held back.
    pub fn error(&mut self, ctx: &ChannelCtx, msg: &str) {
        if let Some(n) = self.allow() {
            ctx.error(&with_held_back(msg, n));
        }
    }

    /// `msg` as a warning of the channel, unless held back.
    pub fn warning(&mut self, ctx: &ChannelCtx, msg: &str) {
        if let Some(n) = self.allow() {
            ctx.warning(&with_held_back(msg, n));
        }
    }

    /// Says how many lines were held back since the last one, if any (at tick and close, so a
    /// burst that stopped is still reported).
    pub fn flush(&mut self, ctx: &ChannelCtx) {
        if self.held_back > 0 {
            ctx.warning(&format!(
                "{} similar message(s) held back",
                std::mem::take(&mut self.held_back)
            ));
            self.last = Some(Instant::now());
        }
    }
}

fn with_held_back(msg: &str, held_back: u64) -> String {
    if held_back == 0 {
        msg.to_string()
    } else {
        format!("{msg} ({held_back} similar message(s) held back)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_then_one_per_interval_with_the_count_held_back() {
        let mut limit = LogLimit::every(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limit.allow_at(t0), Some(0));
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(9)), None);
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(11)), None);
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(25)), Some(1));
    }

    #[test]
    fn the_held_back_count_is_appended_only_when_there_is_one() {
        assert_eq!(with_held_back("m", 0), "m");
        assert_eq!(with_held_back("m", 3), "m (3 similar message(s) held back)");
    }
}
