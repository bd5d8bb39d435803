//! Log lines for events that can repeat at the alert rate: the first one, then at most one a
//! second with the number of similar lines held back.

use std::time::{Duration, Instant};

use super::ChannelCtx;

#[derive(Default)]
pub struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
    pub fn text(msg: &str, held_back: u64) -> String {
        if held_back == 0 {
            msg.to_string()
        } else {
            format!("{msg} ({held_back} similar message(s) held back)")
        }
    }
    pub fn error(&mut self, ctx: &ChannelCtx, msg: &str) {
        if let Some(n) = self.allow() {
            ctx.error(&Self::text(msg, n));
        }
    }
    pub fn warning(&mut self, ctx: &ChannelCtx, msg: &str) {
        if let Some(n) = self.allow() {
            ctx.warning(&Self::text(msg, n));
        }
    }
    pub fn flush(&mut self, ctx: &ChannelCtx) {
        if self.suppressed > 0 {
            ctx.warning(&format!(
                "{} similar program message(s) held back in the last second",
                std::mem::take(&mut self.suppressed)
            ));
            self.last = Some(Instant::now());
        }
    }
}
