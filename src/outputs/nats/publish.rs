//! Publishing: records out in order with at most `window` awaiting their PubAck (kept in flight
//! across calls), each answer classified. Runs inside the channel's current-thread runtime; each
//! ack is awaited by its own task, so that every ack's timeout runs from its publish, not from
//! its turn.
//!
//! A record is published from the bytes the store gave back, without a copy: its subject and
//! body are parts of the pass's buffer (`Bytes`), only the header values are made anew.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::time::Duration;

use async_nats::jetstream::context::{Context, PublishErrorKind};
use async_nats::jetstream::publish::PublishAck;
use async_nats::{Client, HeaderMap, HeaderName, HeaderValue, Subject};
use bytes::Bytes;

use super::record::{self, Record};

/// How often a wait for an ack looks at the close deadline: well within the 200 ms close gives
/// a worker after the deadline, so that what it holds is counted by the channel itself, not
/// reported as left behind with a blocked worker (as it was once under CI load at 100 ms).
const ABORT_POLL: Duration = Duration::from_millis(20);
/// JetStream's error codes for refusals a re-send cannot change.
const STREAM_STORE_FAILED: u64 = 10077; // maximum messages / bytes exceeded (discard: new)
const STREAM_MESSAGE_EXCEEDS_MAXIMUM: u64 = 10054; // message size exceeds maximum

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server took it: a PubAck (`duplicate`: the stream already held that id), or for a
    /// core publish the flush that followed it.
    Delivered { duplicate: bool },
    /// Refused for good (a stream limit, the message size, a damaged record).
    Refused(String),
    /// Not taken now; sent again later.
    Retry(Reason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `503 no responders`: no stream takes the subject (yet).
    NoStream,
    Timeout,
    Other(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NoStream => f.write_str("no stream takes the subject (503 no responders)"),
            Reason::Timeout => f.write_str("no acknowledgement within timeout_ms"),
            Reason::Other(m) => f.write_str(m),
        }
    }
}

/// The message's headers (names made at compile time: no parsing or allocation per message).
pub fn headers(r: &Record<'_>) -> HeaderMap {
    const NAMES: [HeaderName; 5] = [
        HeaderName::from_static("Nats-Msg-Id"),
        HeaderName::from_static("Falco-Priority"),
        HeaderName::from_static("Falco-Rule"),
        HeaderName::from_static("Falco-Source"),
        HeaderName::from_static("Falco-Hostname"),
    ];
    let values = [r.msg_id, r.priority, r.rule, r.source, r.hostname];
    NAMES
        .into_iter()
        .zip(values)
        .map(|(k, v)| (k, HeaderValue::from_lossy(v)))
        .collect()
}

/// A stored record as a message: subject and body share `bytes`; `None` for a damaged record.
fn message(bytes: &Bytes) -> Option<(Subject, HeaderMap, Bytes)> {
    let r = record::parse(bytes)?;
    let subject = Subject::from_utf8(bytes.slice_ref(r.subject.as_bytes())).ok()?;
    Some((subject, headers(&r), bytes.slice_ref(r.body)))
}

/// Waits for one ack task, looking at the close deadline every [`ABORT_POLL`]; `None` when the
/// deadline passed. An ack already in (the usual case at saturation) costs no timer.
async fn ack(task: &mut AckTask, aborting: &dyn Fn() -> bool) -> Option<AckResult> {
    if task.is_finished() {
        return Some(task.await);
    }
    loop {
        match tokio::time::timeout(ABORT_POLL, &mut *task).await {
            Ok(r) => return Some(r),
            Err(_) if aborting() => return None,
            Err(_) => {}
        }
    }
}

fn classify(e: &async_nats::jetstream::context::PublishError) -> Outcome {
    match e.kind() {
        PublishErrorKind::StreamNotFound => Outcome::Retry(Reason::NoStream),
        PublishErrorKind::TimedOut => Outcome::Retry(Reason::Timeout),
        PublishErrorKind::MaxPayloadExceeded => {
            Outcome::Refused("the message is larger than the server's max_payload".into())
        }
        _ => {
            let api = std::error::Error::source(e)
                .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>());
            match api {
                Some(a)
                    if [STREAM_STORE_FAILED, STREAM_MESSAGE_EXCEEDS_MAXIMUM]
                        .contains(&a.error_code().0) =>
                {
                    Outcome::Refused(format!("the stream refused it: {a}"))
                }
                Some(a) => Outcome::Retry(Reason::Other(format!("JetStream error: {a}"))),
                None => Outcome::Retry(Reason::Other(e.to_string())),
            }
        }
    }
}

type AckResult = Result<
    Result<PublishAck, async_nats::jetstream::context::PublishError>,
    tokio::task::JoinError,
>;
type AckTask =
    tokio::task::JoinHandle<Result<PublishAck, async_nats::jetstream::context::PublishError>>;

/// A record sent and not yet counted: its PubAck to come, or what was known when sending it.
enum Slot {
    Ack(AckTask),
    Known(Outcome),
}

/// The records sent through JetStream and not yet counted, oldest first: they are the oldest
/// records of the store they were read from (`from_overflow`), which keeps them until they are
/// answered. Kept across calls, so that the window stays full while the worker formats the next
/// alerts.
#[derive(Default)]
pub struct InFlight {
    slots: VecDeque<Slot>,
    pub from_overflow: bool,
}

/// What one call of [`InFlight::run`] came to.
pub struct Answers {
    /// How many of the records given were sent (or answered at once: damaged, too large).
    pub sent: usize,
    /// The answers of the oldest records, in order, up to and including the first that must be
    /// retried (then nothing is in flight any more: those records are sent again later).
    pub outcomes: Vec<Outcome>,
    /// The close deadline passed: nothing is in flight any more.
    pub aborted: bool,
}

fn outcome(res: AckResult) -> Outcome {
    match res {
        Ok(Ok(ack)) => Outcome::Delivered {
            duplicate: ack.duplicate,
        },
        Ok(Err(e)) => classify(&e),
        Err(join) => Outcome::Retry(Reason::Other(format!("ack task failed: {join}"))),
    }
}

/// Hands one record to the client; its ack is awaited by a task of its own from now on.
async fn send(js: &Context, record: &Bytes) -> Slot {
    let Some((subject, headers, body)) = message(record) else {
        return Slot::Known(Outcome::Refused("a damaged record in the spool".into()));
    };
    match js.publish_with_headers(subject, headers, body).await {
        Ok(ack) => Slot::Ack(tokio::spawn(ack.into_future())),
        Err(e) => Slot::Known(classify(&e)),
    }
}

impl InFlight {
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Forgets what is in flight: its answers will not be counted, and the records, still in
    /// the store, are sent again later with their ids (the stream drops those it holds).
    pub fn abandon(&mut self) {
        for slot in self.slots.drain(..) {
            if let Slot::Ack(task) = slot {
                task.abort();
            }
        }
    }

    /// Sends `records` (the store's records after those in flight) in order, at most `window`
    /// in flight, and takes the answers already in, oldest first. It waits for the oldest answer
    /// when the window is full, when a send must be retried (the answers before it still
    /// count), and with `drain` until nothing is in flight. Sends nothing after a record that
    /// must be retried.
    pub async fn run(
        &mut self,
        js: &Context,
        records: &[Bytes],
        window: usize,
        drain: bool,
        aborting: &dyn Fn() -> bool,
    ) -> Answers {
        let mut a = Answers {
            sent: 0,
            outcomes: Vec::new(),
            aborted: false,
        };
        let mut blocked = false;
        loop {
            while !blocked && a.sent < records.len() && self.slots.len() < window {
                let slot = send(js, &records[a.sent]).await;
                a.sent += 1;
                blocked = matches!(slot, Slot::Known(Outcome::Retry(_)));
                self.slots.push_back(slot);
            }
            let wait = drain || blocked || a.sent < records.len();
            let o = match self.slots.pop_front() {
                None => break,
                Some(Slot::Known(o)) => o,
                Some(Slot::Ack(task)) if !wait && !task.is_finished() => {
                    self.slots.push_front(Slot::Ack(task));
                    break;
                }
                Some(Slot::Ack(mut task)) => match ack(&mut task, aborting).await {
                    Some(res) => outcome(res),
                    None => {
                        task.abort();
                        self.abandon();
                        a.aborted = true;
                        break;
                    }
                },
            };
            let retry = matches!(o, Outcome::Retry(_));
            a.outcomes.push(o);
            if retry {
                self.abandon();
                break;
            }
        }
        a
    }
}

/// Core publish: every record handed to the client, then one flush; the server took them all
/// when the flush returns (at most once: nothing acknowledges that they were stored).
pub async fn core(client: &Client, records: &[Bytes], timeout: Duration) -> Vec<Option<Outcome>> {
    let mut out: Vec<Option<Outcome>> = vec![None; records.len()];
    let mut sent = Vec::with_capacity(records.len());
    for (i, bytes) in records.iter().enumerate() {
        let Some((subject, headers, body)) = message(bytes) else {
            out[i] = Some(Outcome::Refused("a damaged record in the spool".into()));
            continue;
        };
        let res =
            tokio::time::timeout(timeout, client.publish_with_headers(subject, headers, body))
                .await;
        match res {
            Ok(Ok(())) => sent.push(i),
            Ok(Err(e)) => {
                out[i] = Some(Outcome::Retry(Reason::Other(format!(
                    "publish failed: {e}"
                ))));
                break;
            }
            Err(_) => {
                out[i] = Some(Outcome::Retry(Reason::Timeout));
                break;
            }
        }
    }
    let flushed = match tokio::time::timeout(timeout, client.flush()).await {
        Ok(Ok(())) => Outcome::Delivered { duplicate: false },
        Ok(Err(e)) => Outcome::Retry(Reason::Other(format!("flush failed: {e}"))),
        Err(_) => Outcome::Retry(Reason::Timeout),
    };
    for i in sent {
        out[i] = Some(flushed.clone());
    }
    out
}
