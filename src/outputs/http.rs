//! The HTTP[s] transport, on libcurl: Falco's `http_output` (one POST per alert, its TLS options),
//! plus what Falco lacks: a 2xx is required, failures are retried in order with backoff, alerts
//! wait in memory or in an on-disk spool, and several alerts may share one request, gzipped
//! when asked. What the requests carry is a [`Payload`] (`payload.rs`): each HTTP-based channel
//! opens this transport with its own (`open_with`); nothing here knows which.
//!
//! Everything runs on the channel's worker thread: `deliver` stores the lines and sends what is
//! due; while the endpoint is failing it returns at once and the retry happens from `tick` at
//! `next_wake`, so the worker keeps draining its queue into the store.

mod client;
mod gzip;
pub(crate) mod payload;
pub(crate) mod retry;
pub(crate) mod spool;
pub(crate) mod store;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crate::alert::Alert;
use crate::config::HttpTransportConfig;
use crate::error::InitError;
use crate::format::Formatter;
use crate::log::Logger;
use crate::outputs::log_limit::LogLimit;
use crate::outputs::{Batch, Channel, ChannelCtx};

pub use client::Requests;
use client::{Client, Outcome};
use payload::{Judgement, Payload};
use retry::{Backoff, Verdict};
use spool::Spool;
use store::Store;

/// While failing, the channel says so at most this often.
const OUTAGE_LOG_EVERY: Duration = Duration::from_secs(30);
/// How much of a server's answer (or error message) a log line shows.
const LOGGED_ANSWER: usize = 256;
/// How long `close` sleeps at most between looks at the abort flag.
const CLOSE_POLL: Duration = Duration::from_millis(50);
/// Longer settings are taken as "forever" (and `Instant + Duration` cannot overflow).
const FOREVER: Duration = Duration::from_secs(10 * 365 * 86400);

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms).min(FOREVER)
}

pub struct HttpChannel {
    client: Client,
    /// Memory, or the spool when `spool_dir` is set.
    store: Store,
    /// Where lines go when the spool cannot be written (disk full): memory, after the spool's.
    overflow: Store,
    /// The oldest lines of `store` that a previous run left in the spool: sent first, but this
    /// handle never counted them, so it does not account for them either.
    inherited: usize,
    batch_max: usize,
    batch_wait: Duration,
    payload: Box<dyn Payload>,
    gzip: bool,
    max_bytes: u64,
    max_consecutive_timeouts: u32,
    /// When the oldest line not yet sent arrived (the `batch_max_wait_ms` clock).
    first_pending_at: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Backoff,
    consecutive_timeouts: u32,
    outage: Option<Outage>,
    /// The URL without credentials or query, for log lines.
    target: String,
    body: Vec<u8>,
    /// Each repeats at the alert rate: logged at most once a second.
    drop_log: LogLimit,
    refused_log: LogLimit,
    spool_error_log: LogLimit,
}

/// The server's answer to a request.
struct Answer {
    code: u32,
    retry_after: Option<String>,
    body_prefix: Vec<u8>,
}

struct Outage {
    since: Instant,
    attempts: u64,
    log: LogLimit,
}

impl HttpChannel {
    /// The transport for any payload; `block` names the configuration block in messages.
    pub(crate) fn open_with(
        http: &HttpTransportConfig,
        requests: Requests,
        payload: Box<dyn Payload>,
        block: &'static str,
        log: &Logger,
    ) -> Result<HttpChannel, InitError> {
        validate(http, block)?;
        let what = block.replace('_', " ");
        if http.insecure {
            log.warning(&format!(
                "{what}: insecure: true, the server's TLS certificate is not verified"
            ));
        }
        let client = Client::open(
            http,
            requests,
            block,
            payload.content_type(),
            payload.answer_kept(),
        )?;
        let max_bytes = http.spool_max_mb.saturating_mul(1 << 20);
        let target = http.url.redacted();
        let mut store = Store::memory();
        let mut inherited = 0;
        if !http.spool_dir.is_empty() {
            let spool = Spool::open(
                Path::new(&http.spool_dir),
                max_bytes,
                &format!("{block}.spool_dir"),
                log,
            )?;
            inherited = spool.len();
            store = Store::Spool(Box::new(spool));
            if inherited > 0 {
                log.notice(&format!(
                    "{what}: {inherited} alerts left in spool_dir by a previous run; delivering them to {target} first"
                ));
            }
            let dropped = store
                .enforce_bound(max_bytes)
                .map_err(|e| InitError::io(format!("{block}.spool_dir {}: {e}", http.spool_dir)))?;
            if dropped > 0 {
                inherited -= dropped.min(inherited);
                log.error(&format!(
                    "{what}: spool over spool_max_mb ({} MiB): dropped the {dropped} oldest alerts of a previous run",
                    http.spool_max_mb
                ));
            }
        }
        Ok(HttpChannel {
            client,
            store,
            overflow: Store::memory(),
            inherited,
            batch_max: http.batch_max_alerts,
            batch_wait: millis(http.batch_max_wait_ms),
            payload,
            gzip: http.compress_uploads,
            max_bytes,
            max_consecutive_timeouts: requests.max_consecutive_timeouts,
            first_pending_at: None,
            retry_at: None,
            backoff: Backoff::new(millis(http.retry_max_backoff_ms.max(1))),
            consecutive_timeouts: 0,
            outage: None,
            target,
            body: Vec::new(),
            drop_log: LogLimit::every(Duration::from_secs(1)),
            refused_log: LogLimit::every(Duration::from_secs(1)),
            spool_error_log: LogLimit::every(Duration::from_secs(1)),
        })
    }

    fn report_held(&self, ctx: &ChannelCtx) {
        ctx.set_held_bytes(self.store.bytes() + self.overflow.bytes());
    }

    fn total(&self) -> usize {
        self.store.len() + self.overflow.len()
    }

    /// Counts `n` of the oldest lines as `how`, skipping those a previous run left.
    fn account(&mut self, n: usize, how: fn(&ChannelCtx, usize), ctx: &ChannelCtx) -> usize {
        let old = n.min(self.inherited);
        self.inherited -= old;
        how(ctx, n - old);
        old
    }

    fn store_lines(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        // An empty line would be an empty body: refused here, the one place lines come in.
        let empty = (0..batch.len())
            .filter(|i| batch.line(*i).is_empty())
            .count();
        if empty > 0 {
            ctx.failed(empty);
            self.refused_log.error(
                ctx,
                &format!("{empty} empty alert lines not sent (an empty body is no alert)"),
            );
        }
        let lines = (0..batch.len())
            .map(|i| batch.line(i))
            .filter(|l| !l.is_empty());
        if self.overflow.is_empty() {
            match self.store.push(lines) {
                Ok(_) => return,
                Err(e) => {
                    ctx.write_error();
                    self.spool_error_log.error(
                        ctx,
                        &format!("cannot write to spool_dir ({e}); keeping alerts in memory",),
                    );
                }
            }
        }
        let lines = (0..batch.len())
            .map(|i| batch.line(i))
            .filter(|l| !l.is_empty());
        let _ = self.overflow.push(lines);
    }

    /// Counts what the spool found damaged: the places in `spool_corrupt`, the alerts lost with
    /// them as `discarded` (a previous run's are only logged, like the rest of its alerts).
    fn note_damage(&mut self, ctx: &ChannelCtx) {
        let d = self.store.take_damage();
        ctx.spool_corrupt(d.places);
        if d.lost > 0 {
            let lost = d.lost as usize;
            self.account(lost, ChannelCtx::discarded, ctx);
        }
    }

    /// Keeps the store within `spool_max_mb` by dropping the oldest lines.
    fn enforce_bound(&mut self, ctx: &ChannelCtx) {
        let over_mem = self.overflow.bytes();
        let mut dropped = match self
            .store
            .enforce_bound(self.max_bytes.saturating_sub(over_mem))
        {
            Ok(n) => n,
            Err(e) => {
                ctx.write_error();
                ctx.error(&format!("cannot drop alerts from spool_dir: {e}"));
                0
            }
        };
        dropped += self.overflow.enforce_bound(self.max_bytes).unwrap_or(0);
        self.note_damage(ctx);
        if dropped > 0 {
            self.account(dropped, ChannelCtx::discarded, ctx);
            self.drop_log.error(
                ctx,
                &format!(
                    "{} alerts held over spool_max_mb ({} MiB) while {} is failing: dropped the {dropped} oldest",
                    self.total() + dropped,
                    self.max_bytes >> 20,
                    self.target,
                ),
            );
        }
    }

    /// Sends what is due, oldest first. `force`: do not wait for a batch to fill (flush, close).
    fn pump(&mut self, ctx: &ChannelCtx, force: bool) {
        self.send_due(ctx, force);
        self.note_damage(ctx);
    }

    fn send_due(&mut self, ctx: &ChannelCtx, force: bool) {
        while let Some((got, from_overflow)) = self.next_request(ctx, force) {
            let go_on = match self.client.send(&self.body, &|| ctx.is_aborting()) {
                Outcome::Aborted => false,
                Outcome::Status {
                    code,
                    retry_after,
                    body_prefix,
                } => {
                    self.consecutive_timeouts = 0;
                    let answer = Answer {
                        code,
                        retry_after,
                        body_prefix,
                    };
                    self.answered(answer, got, from_overflow, ctx)
                }
                Outcome::Transport { message, timeout } => {
                    self.not_answered(&message, timeout, ctx)
                }
            };
            if !go_on {
                return;
            }
        }
    }

    /// The next request's body, when one is due (not waiting for a retry or a batch to fill):
    /// how many alerts it carries, and whether they come from the overflow store.
    fn next_request(&mut self, ctx: &ChannelCtx, force: bool) -> Option<(usize, bool)> {
        let total = self.total();
        if total == 0 {
            self.first_pending_at = None;
            return None;
        }
        let now = Instant::now();
        if let Some(at) = self.retry_at {
            if now < at {
                return None;
            }
            self.retry_at = None;
        }
        let want = total.min(self.batch_max);
        if want < self.batch_max && !force {
            let since = *self.first_pending_at.get_or_insert(now);
            if now < since + self.batch_wait {
                return None;
            }
        }
        let from_overflow = self.store.is_empty();
        self.body.clear();
        let peeked = if from_overflow {
            self.overflow.peek(want, &mut self.body)
        } else {
            self.store.peek(want, &mut self.body)
        };
        match peeked.and_then(|n| self.finish_body().map(|_| n)) {
            Ok(n) if n > 0 => Some((n, from_overflow)),
            Ok(_) => None,
            Err(e) => {
                ctx.retrying();
                ctx.error(&format!("cannot read alerts back from spool_dir: {e}"));
                self.schedule_retry(None, "spool read error", ctx);
                None
            }
        }
    }

    /// The server answered the request of `got` alerts: they are counted as the payload judges
    /// the answer, or kept for a retry. `false`: stop sending for now.
    fn answered(
        &mut self,
        answer: Answer,
        got: usize,
        from_overflow: bool,
        ctx: &ChannelCtx,
    ) -> bool {
        let Answer {
            code,
            retry_after,
            body_prefix,
        } = answer;
        match self.payload.judge(code, &body_prefix, got) {
            Judgement::Whole(Verdict::Delivered) => {
                self.forget(got, from_overflow, ChannelCtx::delivered, ctx);
                self.recovered(ctx);
            }
            Judgement::Partly { refused, message } => {
                self.partially_refused(got, from_overflow, refused, &message, ctx);
                self.recovered(ctx);
            }
            Judgement::Prefix { delivered, message } => {
                // The rest stays first in line: sent again at once.
                self.forget(delivered, from_overflow, ChannelCtx::delivered, ctx);
                self.forget(1, from_overflow, ChannelCtx::failed, ctx);
                self.recovered(ctx);
                self.refused_log.error(
                    ctx,
                    &format!(
                        "{} took {delivered} of {got} alerts and refused the next with HTTP {code}, not retried: {}",
                        self.target,
                        message.chars().take(LOGGED_ANSWER).collect::<String>()
                    ),
                );
            }
            Judgement::Whole(Verdict::Permanent) => {
                self.forget(got, from_overflow, ChannelCtx::failed, ctx);
                self.recovered(ctx);
                self.refused_log.error(
                    ctx,
                    &format!(
                        "{} refused {got} alerts with HTTP {code}, not retried: {:?}",
                        self.target,
                        String::from_utf8_lossy(
                            &body_prefix[..body_prefix.len().min(LOGGED_ANSWER)]
                        ),
                    ),
                );
            }
            Judgement::Whole(Verdict::Retry) => {
                ctx.retrying();
                let wait = retry_after
                    .as_deref()
                    .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
                self.schedule_retry(wait, &format!("HTTP {code}"), ctx);
                return false;
            }
        }
        true
    }

    /// No answer (connection refused, TLS failure, timeout): the alerts are kept for a retry.
    /// `true`: a timeout that Falco's `max_consecutive_timeouts` retries at once.
    fn not_answered(&mut self, message: &str, timeout: bool, ctx: &ChannelCtx) -> bool {
        ctx.retrying();
        if timeout {
            self.consecutive_timeouts = self.consecutive_timeouts.saturating_add(1);
            // Falco retries a timed-out request at once, max_consecutive_timeouts times.
            if self.consecutive_timeouts <= self.max_consecutive_timeouts {
                return true;
            }
            if self.consecutive_timeouts == self.max_consecutive_timeouts + 1 {
                ctx.error(&format!(
                    "{} consecutive timeouts sending to {} (max_consecutive_timeouts: {}); backing off, alerts kept",
                    self.consecutive_timeouts, self.target, self.max_consecutive_timeouts
                ));
            }
        } else {
            self.consecutive_timeouts = 0;
        }
        self.schedule_retry(None, message, ctx);
        false
    }

    /// Turns the stored records in `body` into the request body: the payload's, gzipped if
    /// asked.
    fn finish_body(&mut self) -> std::io::Result<()> {
        self.payload.request(&mut self.body);
        if self.gzip {
            gzip::compress(&mut self.body)?;
        }
        Ok(())
    }

    /// Drops `n` answered lines from where they were peeked and counts them.
    fn forget(
        &mut self,
        n: usize,
        from_overflow: bool,
        how: fn(&ChannelCtx, usize),
        ctx: &ChannelCtx,
    ) {
        let res = if from_overflow {
            self.overflow.consume(n)
        } else {
            self.store.consume(n)
        };
        if let Err(e) = res.map(|_| ()) {
            ctx.write_error();
            ctx.error(&format!("cannot mark alerts as sent in spool_dir: {e}"));
        }
        let old = self.account(n, how, ctx);
        if old > 0 && self.inherited == 0 {
            ctx.log.notice(&format!(
                "{} output: the alerts of a previous run are sent",
                ctx.name
            ));
        }
        // The rest arrived after the batch just sent began to wait: they need not wait again.
        if self.total() == 0 {
            self.first_pending_at = None;
        }
    }

    /// The receiver took the request but refused `count` of its records: those are `failed`
    /// (which ones is not said; the count is what the accounting needs).
    fn partially_refused(
        &mut self,
        got: usize,
        from_overflow: bool,
        count: u64,
        message: &str,
        ctx: &ChannelCtx,
    ) {
        let refused = usize::try_from(count).unwrap_or(usize::MAX).min(got);
        self.forget(got - refused, from_overflow, ChannelCtx::delivered, ctx);
        self.forget(refused, from_overflow, ChannelCtx::failed, ctx);
        self.refused_log.error(
            ctx,
            &format!(
                "{} rejected {} of {got} log records (partial success), not retried: {:?}",
                self.target,
                count,
                message.chars().take(LOGGED_ANSWER).collect::<String>()
            ),
        );
    }

    fn schedule_retry(&mut self, retry_after: Option<Duration>, reason: &str, ctx: &ChannelCtx) {
        let delay = self.backoff.next_delay(retry_after);
        let now = Instant::now();
        self.retry_at = Some(now + delay);
        let held = self.total();
        let o = self.outage.get_or_insert_with(|| Outage {
            since: now,
            attempts: 0,
            log: LogLimit::every(OUTAGE_LOG_EVERY),
        });
        o.attempts += 1;
        if o.log.allow_at(now).is_none() {
            return;
        }
        if o.attempts == 1 {
            ctx.warning(&format!(
                "cannot deliver to {}: {reason}; {held} alerts kept, retrying in {} ms",
                self.target,
                delay.as_millis()
            ));
        } else {
            ctx.warning(&format!(
                "still cannot deliver to {} after {} attempts over {} s: {reason}; {held} alerts kept",
                self.target,
                o.attempts,
                now.duration_since(o.since).as_secs()
            ));
        }
    }

    /// Reports the log lines held back, so that a burst that stopped is still counted.
    fn flush_logs(&mut self, ctx: &ChannelCtx) {
        for limit in [
            &mut self.drop_log,
            &mut self.refused_log,
            &mut self.spool_error_log,
        ] {
            limit.flush(ctx);
        }
    }

    fn recovered(&mut self, ctx: &ChannelCtx) {
        self.backoff.reset();
        if let Some(o) = self.outage.take() {
            ctx.log.notice(&format!(
                "{} output: delivering to {} again after {} failed attempts over {} ms",
                ctx.name,
                self.target,
                o.attempts,
                o.since.elapsed().as_millis()
            ));
        }
    }

    /// The close deadline passed with lines still held.
    fn abandon(&mut self, ctx: &ChannelCtx) {
        let left = store::abandon(&mut self.store, &mut self.overflow);
        if left.kept > 0 {
            ctx.warning(&format!(
                "{} alerts not delivered to {} by the close deadline stay in spool_dir for the next start",
                left.kept, self.target
            ));
        }
        // Counted here, reported once by close with the channel's total.
        self.account(left.dropped, ChannelCtx::discarded, ctx);
        ctx.discarded(left.dropped_overflow);
    }
}

impl Channel for HttpChannel {
    fn format(&mut self, formatter: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        self.payload.write_record(formatter, alert, out)
    }

    fn own_format(&self) -> bool {
        self.payload.own_format()
    }

    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        if batch.is_empty() {
            return;
        }
        self.store_lines(batch, ctx);
        self.enforce_bound(ctx);
        self.first_pending_at.get_or_insert_with(Instant::now);
        self.pump(ctx, false);
        self.report_held(ctx);
    }

    fn flush(&mut self, ctx: &ChannelCtx) {
        self.pump(ctx, true);
        self.store.sync(true);
        self.report_held(ctx);
    }

    fn tick(&mut self, ctx: &ChannelCtx) {
        self.pump(ctx, false);
        self.store.sync(false);
        self.flush_logs(ctx);
        self.report_held(ctx);
    }

    fn next_wake(&self) -> Option<Instant> {
        if self.total() == 0 {
            return None;
        }
        if let Some(at) = self.retry_at {
            return Some(at);
        }
        if self.total() >= self.batch_max {
            return Some(Instant::now());
        }
        Some(
            self.first_pending_at
                .map_or_else(Instant::now, |t| t + self.batch_wait),
        )
    }

    fn held(&self) -> usize {
        self.total() - self.inherited.min(self.total())
    }

    fn close(&mut self, ctx: &ChannelCtx) {
        loop {
            self.pump(ctx, true);
            if self.total() == 0 {
                break;
            }
            if self.held() == 0 && matches!(self.store, Store::Spool(_)) {
                // Only a previous run's alerts are left: safe on disk, no reason to hold close.
                ctx.log.notice(&format!(
                    "{} output: {} alerts of a previous run stay in spool_dir for the next start",
                    ctx.name,
                    self.total()
                ));
                break;
            }
            if ctx.is_aborting() {
                self.abandon(ctx);
                break;
            }
            let now = Instant::now();
            let wait = self
                .retry_at
                .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
            std::thread::sleep(wait.clamp(Duration::from_millis(1), CLOSE_POLL));
        }
        self.store.sync(true);
        self.flush_logs(ctx);
        self.report_held(ctx);
    }
}

/// The certificate files must be readable now (the configuration has checked every value).
fn validate(http: &HttpTransportConfig, block: &str) -> Result<(), InitError> {
    let must_read = |key: &str, path: &str| -> Result<(), InitError> {
        std::fs::File::open(path)
            .map(|_| ())
            .map_err(|e| InitError::config(format!("{block}.{key}: cannot read {path}: {e}")))
    };
    if !http.ca_cert.is_empty() {
        must_read("ca_cert", &http.ca_cert)?;
    } else if !http.ca_bundle.is_empty() {
        must_read("ca_bundle", &http.ca_bundle)?;
    }
    if http.mtls {
        must_read("client_cert", &http.client_cert)?;
        must_read("client_key", &http.client_key)?;
    }
    Ok(())
}
