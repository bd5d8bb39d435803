//! The NATS channel (`nats_output`, docs/nats.md): each alert published to a subject made from
//! a template, with a stable `Nats-Msg-Id`, and, with `jetstream: true`, counted delivered only
//! when its PubAck arrived. Alerts wait in memory or in the HTTP channel's spool (the same
//! store, same guarantees) until then, and keep their id there.
//!
//! The client is `async-nats` on a current-thread tokio runtime that this channel owns: the
//! runtime runs only on the channel's worker thread, inside `deliver`, `tick`, `flush` and
//! `close` (the worker ticks at least once a second, which keeps the connection answered).
//!
//! | file | concern |
//! | --- | --- |
//! | `mod.rs` | the channel: store, accounting, retries, logs |
//! | `record.rs` | what is kept per alert (id, subject, headers, body) and how ids are made |
//! | `subject.rs` | the subject template and the token mapping |
//! | `connect.rs` | client options: servers, auth, TLS, reconnect backoff |
//! | `events.rs` | what the client reported, kept for the worker to log |
//! | `tls.rs` | the TLS settings when `server_name` is set: the certificate checked for that name |
//! | `publish.rs` | publishing with a window of PubAcks kept in flight across calls, each answer classified |

mod connect;
mod events;
mod publish;
mod record;
mod subject;
mod tls;

use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use bytes::Bytes;
use tokio::runtime::Runtime;

use crate::alert::{Alert, AlertKind};
use crate::config::{BodyFormat, NatsConfig, SubjectPart};
use crate::error::InitError;
use crate::format::Formatter;
use crate::log::Logger;
use crate::outputs::http::retry::Backoff;
use crate::outputs::http::spool::Spool;
use crate::outputs::http::store::{self, Store};
use crate::outputs::log_limit::LogLimit;
use crate::outputs::{Batch, Channel, ChannelCtx};

use events::Events;
use publish::{Answers, InFlight, Outcome, Reason};
use record::MsgIds;

/// While failing, the channel says so at most this often (no stream: once per outage).
const OUTAGE_LOG_EVERY: Duration = Duration::from_secs(30);
/// How long `close` waits at most between looks at the abort flag.
const CLOSE_POLL: Duration = Duration::from_millis(50);
/// Records read from the store for one pass of publishing, per slot of the window.
const PASS_PER_SLOT: usize = 4;
/// Records one pass publishes at most.
const PASS_MAX: usize = 8192;
/// How long an idle tick lets the client's connection task run.
const IDLE_RUN: Duration = Duration::from_millis(2);
/// When everything held is in flight, how long after the last publish the worker looks at the
/// answers if no new alert came meanwhile (a new alert's `deliver` takes those that are in).
const IN_FLIGHT_LOOK: Duration = Duration::from_millis(1);

enum Client {
    JetStream(jetstream::Context),
    Core(async_nats::Client, Duration),
}

pub struct NatsChannel {
    rt: Runtime,
    client: Client,
    events: Events,
    event_log: LogLimit,
    template: Vec<SubjectPart>,
    format: BodyFormat,
    /// The worker's formatter with `json` set as the block's `format` says (made at first use).
    own_formatter: Option<Formatter>,
    ids: MsgIds,
    subject: String,
    window: usize,
    /// Records sent and not yet answered: the oldest of `store` (or of `overflow`).
    in_flight: InFlight,
    /// When a `deliver` last left records in flight.
    in_flight_since: Option<Instant>,
    store: Store,
    /// Where records go when the spool cannot be written (disk full): memory, after the spool's.
    overflow: Store,
    /// The oldest records of `store` that a previous run left in the spool.
    inherited: usize,
    max_bytes: u64,
    retry_at: Option<Instant>,
    backoff: Backoff,
    outage: Option<Outage>,
    /// The servers without credentials, for log lines.
    target: String,
    /// TLS is required (a failed handshake shows as the client's "IO error").
    tls: bool,
    buf: Vec<u8>,
    drop_log: LogLimit,
    refused_log: LogLimit,
    spool_error_log: LogLimit,
}

/// What one pass of publishing came to.
#[derive(Default)]
struct Pass {
    /// Records answered (delivered or refused), oldest first: those the store forgets.
    done: usize,
    /// The first record that must be sent again, and why.
    retry: Option<Reason>,
    /// Why each refused record was refused.
    refused: Vec<String>,
}

struct Outage {
    since: Instant,
    attempts: u64,
    reason: Reason,
    log: LogLimit,
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms.min(10 * 365 * 86_400_000))
}

impl NatsChannel {
    /// Opens the channel; `block` names the configuration block in messages.
    pub fn open(
        cfg: &NatsConfig,
        block: &str,
        log: &Logger,
        hostname: &str,
    ) -> Result<NatsChannel, InitError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                InitError::io(format!("{block}: cannot start the client's runtime: {e}"))
            })?;
        let events = Events::default();
        let servers = connect::servers(cfg, block)?;
        let target = cfg.servers.redacted();
        let client = rt.block_on(async {
            let opts = connect::options(cfg, block, hostname, events.clone()).await?;
            // Returns at once: the client connects (and reconnects) in the background.
            opts.connect(servers).await.map_err(|e| {
                InitError::config(format!("{block}.servers: cannot connect to {target}: {e}"))
            })
        })?;
        let timeout = millis(cfg.timeout_ms);
        let client = if cfg.jetstream {
            // The context spawns its acker task on the runtime.
            let _in_rt = rt.enter();
            let mut js = jetstream::new(client);
            js.set_timeout(timeout);
            Client::JetStream(js)
        } else {
            Client::Core(client, timeout)
        };
        let ids = MsgIds::new()
            .map_err(|e| InitError::io(format!("{block}: cannot read /dev/urandom: {e}")))?;
        let max_bytes = cfg.spool_max_mb.saturating_mul(1 << 20);
        let what = block.replace('_', " ");
        let (mut store, mut inherited) = (Store::memory(), 0);
        if !cfg.spool_dir.is_empty() {
            let spool = Spool::open(
                Path::new(&cfg.spool_dir),
                max_bytes,
                &format!("{block}.spool_dir"),
                log,
            )?;
            inherited = spool.len();
            store = Store::Spool(Box::new(spool));
            if inherited > 0 {
                log.notice(&format!(
                    "{what}: {inherited} alerts left in spool_dir by a previous run; publishing them to {target} first, with their ids"
                ));
            }
        }
        Ok(NatsChannel {
            rt,
            client,
            events,
            event_log: LogLimit::every(Duration::from_secs(10)),
            template: cfg.subject.0.clone(),
            format: cfg.format,
            own_formatter: None,
            ids,
            subject: String::new(),
            window: cfg.max_in_flight,
            in_flight: InFlight::default(),
            in_flight_since: None,
            store,
            overflow: Store::memory(),
            inherited,
            max_bytes,
            retry_at: None,
            backoff: Backoff::new(millis(cfg.retry_max_backoff_ms.max(1))),
            outage: None,
            target,
            tls: connect::tls_required(cfg),
            buf: Vec::new(),
            drop_log: LogLimit::every(Duration::from_secs(1)),
            refused_log: LogLimit::every(Duration::from_secs(1)),
            spool_error_log: LogLimit::every(Duration::from_secs(1)),
        })
    }

    fn total(&self) -> usize {
        self.store.len() + self.overflow.len()
    }

    fn report_held(&self, ctx: &ChannelCtx) {
        ctx.set_held_bytes(self.store.bytes() + self.overflow.bytes());
    }

    /// Counts `n` of the oldest records as `how`, skipping those a previous run left.
    fn account(&mut self, n: usize, how: fn(&ChannelCtx, usize), ctx: &ChannelCtx) {
        let old = n.min(self.inherited);
        self.inherited -= old;
        how(ctx, n - old);
        if old > 0 && self.inherited == 0 {
            ctx.log.notice(&format!(
                "{} output: the alerts of a previous run are published",
                ctx.name
            ));
        }
    }

    fn store_records(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        let records = (0..batch.len()).map(|i| batch.line(i));
        if self.overflow.is_empty() {
            match self.store.push(records) {
                Ok(_) => return,
                Err(e) => {
                    ctx.write_error();
                    self.spool_error_log.error(
                        ctx,
                        &format!("cannot write to spool_dir ({e}); keeping alerts in memory"),
                    );
                }
            }
        }
        let _ = self.overflow.push((0..batch.len()).map(|i| batch.line(i)));
    }

    fn note_damage(&mut self, ctx: &ChannelCtx) {
        let d = self.store.take_damage();
        ctx.spool_corrupt(d.places);
        if d.lost > 0 {
            self.account(d.lost as usize, ChannelCtx::discarded, ctx);
        }
    }

    fn enforce_bound(&mut self, ctx: &ChannelCtx) {
        let over_mem = self.overflow.bytes();
        let mut dropped = self
            .store
            .enforce_bound(self.max_bytes.saturating_sub(over_mem))
            .unwrap_or_else(|e| {
                ctx.write_error();
                ctx.error(&format!("cannot drop alerts from spool_dir: {e}"));
                0
            });
        dropped += self.overflow.enforce_bound(self.max_bytes).unwrap_or(0);
        self.note_damage(ctx);
        if dropped > 0 {
            self.account(dropped, ChannelCtx::discarded, ctx);
            self.drop_log.error(
                ctx,
                &format!(
                    "alerts held over spool_max_mb ({} MiB) while {} is failing: dropped the {dropped} oldest",
                    self.max_bytes >> 20,
                    self.target,
                ),
            );
        }
    }

    /// Logs what the client reported since the last look (connects, disconnects, refusals).
    fn log_events(&mut self, ctx: &ChannelCtx) {
        for e in self.events.take() {
            if e == "connected" {
                ctx.log.notice(&format!(
                    "{} output: connected to {}",
                    ctx.name, self.target
                ));
            } else {
                let hint = if self.tls && e.ends_with("IO error") {
                    " (TLS is required: a server certificate that ca_cert does not verify, a \
                     name that does not match, or a server without TLS fails so)"
                } else {
                    ""
                };
                self.event_log
                    .warning(ctx, &format!("{}: {e}{hint}", self.target));
            }
        }
    }

    /// Publishes what is held, oldest first, and counts the answers that are in. With `drain`,
    /// until everything is answered or a record must wait for a retry; without (`deliver`),
    /// the last window of records may stay in flight, answered at a later call.
    fn pump(&mut self, ctx: &ChannelCtx, drain: bool) {
        loop {
            let waiting = self.retry_at.is_some_and(|t| Instant::now() < t);
            let (from_overflow, got) = if waiting {
                // Nothing new is sent before the retry; what is in flight is still answered.
                (self.in_flight.from_overflow, 0)
            } else {
                self.retry_at = None;
                self.read_pass(ctx)
            };
            if got == 0 && self.in_flight.is_empty() {
                break;
            }
            let answers = self.publish_pass(from_overflow, got, drain, ctx);
            let pass = self.settle(answers.outcomes, ctx);
            self.consume(from_overflow, pass.done, ctx);
            if let Some(why) = pass.refused.first() {
                self.refused_log.error(
                    ctx,
                    &format!(
                        "{} alerts refused by {}, not retried (counted failed): {why}",
                        pass.refused.len(),
                        self.target
                    ),
                );
            }
            if let Some(r) = pass.retry {
                ctx.retrying();
                self.schedule_retry(r, ctx);
                break;
            }
            if answers.aborted {
                // The close deadline passed.
                break;
            }
            if pass.done > 0 {
                self.recovered(ctx);
            }
            if answers.sent == 0 && pass.done == 0 {
                // Everything held is in flight, and no answer is in yet.
                break;
            }
        }
        self.in_flight_since = (!self.in_flight.is_empty()).then(Instant::now);
        self.note_damage(ctx);
    }

    /// Reads the oldest records not in flight into `buf` (the spool's first, then the
    /// overflow's; while records are in flight, from their store): whether they came from the
    /// overflow, and how many (0 after a read error, which schedules a retry).
    fn read_pass(&mut self, ctx: &ChannelCtx) -> (bool, usize) {
        let skip = self.in_flight.len();
        let from_overflow = if skip > 0 {
            self.in_flight.from_overflow
        } else {
            self.store.is_empty()
        };
        let held = if from_overflow {
            self.overflow.len()
        } else {
            self.store.len()
        };
        let want = held
            .saturating_sub(skip)
            .min((self.window * PASS_PER_SLOT).min(PASS_MAX));
        self.buf.clear();
        if want == 0 {
            return (from_overflow, 0);
        }
        let peeked = if from_overflow {
            self.overflow.peek_after(skip, want, &mut self.buf)
        } else {
            self.store.peek_after(skip, want, &mut self.buf)
        };
        match peeked {
            Ok(n) => (from_overflow, n),
            Err(e) => {
                ctx.retrying();
                ctx.error(&format!("cannot read alerts back from spool_dir: {e}"));
                self.schedule_retry(Reason::Other("spool read error".into()), ctx);
                (from_overflow, 0)
            }
        }
    }

    /// Publishes the `got` records in `buf` after those in flight, and takes the answers. The
    /// records are parts of the buffer (no copy); the buffer is taken back for the next pass
    /// once the client let go of every part (it has, once it wrote them all).
    fn publish_pass(
        &mut self,
        from_overflow: bool,
        got: usize,
        drain: bool,
        ctx: &ChannelCtx,
    ) -> Answers {
        let pass = Bytes::from(std::mem::take(&mut self.buf));
        let mut records = Vec::with_capacity(got);
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &pass).take(got) {
            records.push(pass.slice(start..end));
            start = end + 1;
        }
        let aborting = || ctx.is_aborting();
        let answers = match &self.client {
            Client::JetStream(js) => {
                if self.in_flight.is_empty() {
                    self.in_flight.from_overflow = from_overflow;
                }
                self.rt.block_on(
                    self.in_flight
                        .run(js, &records, self.window, drain, &aborting),
                )
            }
            Client::Core(c, timeout) => {
                let out = self.rt.block_on(publish::core(c, &records, *timeout));
                Answers {
                    sent: records.len(),
                    outcomes: out.into_iter().map_while(|o| o).collect(),
                    aborted: false,
                }
            }
        };
        drop(records);
        if let Ok(buf) = pass.try_into_mut() {
            self.buf = buf.into();
        }
        answers
    }

    /// Counts the answers in order, up to the first record to be retried.
    fn settle(&mut self, outcomes: Vec<Outcome>, ctx: &ChannelCtx) -> Pass {
        let mut pass = Pass::default();
        for o in outcomes {
            match o {
                Outcome::Delivered { duplicate } => {
                    if duplicate {
                        ctx.duplicate();
                    }
                    self.account(1, ChannelCtx::delivered, ctx);
                }
                Outcome::Refused(why) => {
                    self.account(1, ChannelCtx::failed, ctx);
                    pass.refused.push(why);
                }
                Outcome::Retry(r) => {
                    pass.retry = Some(r);
                    break;
                }
            }
            pass.done += 1;
        }
        pass
    }

    /// Forgets the `done` oldest records of the store they were read from.
    fn consume(&mut self, from_overflow: bool, done: usize, ctx: &ChannelCtx) {
        let res = if from_overflow {
            self.overflow.consume(done)
        } else {
            self.store.consume(done)
        };
        if let Err(e) = res {
            ctx.write_error();
            ctx.error(&format!(
                "cannot mark alerts as published in spool_dir: {e}"
            ));
        }
    }

    fn schedule_retry(&mut self, reason: Reason, ctx: &ChannelCtx) {
        let delay = self.backoff.next_delay(None);
        let now = Instant::now();
        self.retry_at = Some(now + delay);
        let held = self.total();
        let o = self.outage.get_or_insert_with(|| Outage {
            since: now,
            attempts: 0,
            reason: reason.clone(),
            log: LogLimit::every(OUTAGE_LOG_EVERY),
        });
        o.attempts += 1;
        let changed = o.reason != reason;
        o.reason = reason.clone();
        // No stream: said once per outage (it lasts until someone creates the stream).
        if reason == Reason::NoStream && o.attempts > 1 && !changed {
            return;
        }
        if !changed && o.log.allow_at(now).is_none() {
            return;
        }
        if o.attempts == 1 {
            ctx.warning(&format!(
                "cannot publish to {}: {reason}; {held} alerts kept, retrying in {} ms",
                self.target,
                delay.as_millis()
            ));
        } else {
            ctx.warning(&format!(
                "still cannot publish to {} after {} attempts over {} s: {reason}; {held} alerts kept",
                self.target,
                o.attempts,
                now.duration_since(o.since).as_secs()
            ));
        }
    }

    fn recovered(&mut self, ctx: &ChannelCtx) {
        self.backoff.reset();
        if let Some(o) = self.outage.take() {
            ctx.log.notice(&format!(
                "{} output: publishing to {} again after {} failed attempts over {} ms",
                ctx.name,
                self.target,
                o.attempts,
                o.since.elapsed().as_millis()
            ));
        }
    }

    /// Lets the client's connection task run for `d` (answers pings, reconnects).
    fn run_client(&mut self, d: Duration) {
        self.rt.block_on(async move { tokio::time::sleep(d).await });
    }

    /// The close deadline passed with records still held.
    fn abandon(&mut self, ctx: &ChannelCtx) {
        self.in_flight.abandon();
        let left = store::abandon(&mut self.store, &mut self.overflow);
        if left.kept > 0 {
            ctx.warning(&format!(
                "{} alerts not acknowledged by {} by the close deadline stay in spool_dir for the next start",
                left.kept, self.target
            ));
        }
        // Counted here, reported once by close with the channel's total.
        self.account(left.dropped, ChannelCtx::discarded, ctx);
        ctx.discarded(left.dropped_overflow);
    }
}

impl Channel for NatsChannel {
    fn format(&mut self, formatter: &mut Formatter, alert: &Alert, out: &mut Vec<u8>) {
        let source = match alert.kind {
            AlertKind::Event => alert.source(),
            AlertKind::Message => "internal",
        };
        // Borrowed, not cloned: the formatter is needed mutably only for the body, after.
        let hostname = &formatter.options().hostname;
        self.subject.clear();
        subject::render(
            &self.template,
            &subject::Values {
                priority: alert.priority.name(),
                rule: alert.rule(),
                source,
                hostname,
                tag: alert.tags().next(),
            },
            &mut self.subject,
        );
        record::start(out);
        self.ids.push_next(out);
        record::push_field(out, &self.subject);
        record::push_field(out, alert.priority.name());
        record::push_field(out, alert.rule());
        record::push_field(out, source);
        record::push_field(out, hostname);
        let json = match self.format {
            BodyFormat::Global => formatter.options().json,
            BodyFormat::Json => true,
            BodyFormat::Text => false,
        };
        if json == formatter.options().json {
            formatter.write_line(alert, out);
        } else {
            self.own_formatter
                .get_or_insert_with(|| formatter.with_json(json))
                .write_line(alert, out);
        }
    }

    fn own_format(&self) -> bool {
        true
    }

    fn deliver(&mut self, batch: &Batch, ctx: &ChannelCtx) {
        if batch.is_empty() {
            return;
        }
        self.store_records(batch, ctx);
        if !self.in_flight.is_empty() && self.store.bytes() + self.overflow.bytes() > self.max_bytes
        {
            // The bound drops the oldest records: none of them may be in flight.
            self.pump(ctx, true);
            self.in_flight.abandon();
        }
        self.enforce_bound(ctx);
        self.pump(ctx, false);
        self.log_events(ctx);
        self.report_held(ctx);
    }

    fn flush(&mut self, ctx: &ChannelCtx) {
        self.pump(ctx, true);
        self.store.sync(true);
        self.report_held(ctx);
    }

    fn tick(&mut self, ctx: &ChannelCtx) {
        if self.total() == 0 || self.retry_at.is_some_and(|t| Instant::now() < t) {
            self.run_client(IDLE_RUN);
        }
        self.pump(ctx, true);
        self.store.sync(false);
        self.log_events(ctx);
        for l in [
            &mut self.drop_log,
            &mut self.refused_log,
            &mut self.spool_error_log,
            &mut self.event_log,
        ] {
            l.flush(ctx);
        }
        self.report_held(ctx);
    }

    fn next_wake(&self) -> Option<Instant> {
        if self.total() == 0 {
            return None;
        }
        let look = (!self.in_flight.is_empty())
            .then(|| self.in_flight_since.unwrap_or_else(Instant::now) + IN_FLIGHT_LOOK);
        match (self.retry_at, look) {
            (Some(retry), Some(look)) => Some(retry.min(look)),
            (Some(retry), None) => Some(retry),
            // Everything held is in flight: look at the answers shortly.
            (None, Some(look)) if self.in_flight.len() >= self.total() => Some(look),
            _ => Some(Instant::now()),
        }
    }

    fn held(&self) -> usize {
        self.total() - self.inherited.min(self.total())
    }

    fn close(&mut self, ctx: &ChannelCtx) {
        loop {
            self.pump(ctx, true);
            self.log_events(ctx);
            if self.total() == 0 {
                break;
            }
            if self.held() == 0 && matches!(self.store, Store::Spool(_)) {
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
            let wait = self.retry_at.map_or(Duration::ZERO, |t| {
                t.saturating_duration_since(Instant::now())
            });
            self.run_client(wait.clamp(Duration::from_millis(1), CLOSE_POLL));
        }
        self.store.sync(true);
        for l in [
            &mut self.drop_log,
            &mut self.refused_log,
            &mut self.spool_error_log,
            &mut self.event_log,
        ] {
            l.flush(ctx);
        }
        self.report_held(ctx);
    }
}
