//! bench/run's NATS rows (issue 18, test 6; docs/performance.md): the same client as the
//! library's `nats_output` (async-nats, on a current-thread runtime) driven directly, as the
//! limit and as falcosidekick's pattern, and the stream setup and checks around them.
//!
//! ```text
//! nats_bench stream   --servers URLS --name S --replicas R   # (re)create stream S on falco.>
//! nats_bench count    --servers URLS --name S                # messages=N
//! nats_bench limit    --servers URLS --name S --n N --window W [--rate R]
//! nats_bench sidekick --servers URLS --name S --n N [--rate R]
//! ```
//!
//! `limit` reads the first message stored in S (the library's, from the run before: its subject,
//! headers and body) and publishes it N times through JetStream, each with a fresh
//! `Nats-Msg-Id`, at most W awaiting their PubAck (each ack awaited by its own task, as the
//! library does), until every PubAck arrived. `sidekick` sends the same subject and body as a
//! core publish over a fresh connection per alert (connect, publish, flush, close), which is
//! what falcosidekick's NATS output does. Both print one key=value line: `alerts`, `secs`,
//! `rate`, `acked`, and `proc_cpu_ns` (this process's CPU time per alert, all threads).
//! `--rate R` paces the alerts at R/s on a fixed schedule.

use std::collections::VecDeque;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use async_nats::ServerAddr;

fn die(msg: &str) -> ! {
    eprintln!("nats_bench: {msg}");
    std::process::exit(2)
}

fn proc_cpu_ns() -> u64 {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime) + us(ru.ru_stime)) * 1000
}

struct Args {
    cmd: String,
    servers: Vec<ServerAddr>,
    name: String,
    replicas: usize,
    n: u64,
    window: usize,
    rate: f64,
}

fn args() -> Args {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().unwrap_or_else(|| die("no command"));
    let mut a = Args {
        cmd,
        servers: Vec::new(),
        name: String::new(),
        replicas: 1,
        n: 1000,
        window: 256,
        rate: 0.0,
    };
    while let Some(k) = it.next() {
        let v = it
            .next()
            .unwrap_or_else(|| die(&format!("{k} needs a value")));
        let bad = || -> ! { die(&format!("{k}: bad value {v}")) };
        match k.as_str() {
            "--servers" => {
                a.servers = v
                    .split(',')
                    .map(|u| u.parse().unwrap_or_else(|e| die(&format!("{u}: {e}"))))
                    .collect()
            }
            "--name" => a.name = v,
            "--replicas" => a.replicas = v.parse().ok().unwrap_or_else(|| bad()),
            "--n" => a.n = v.parse().ok().unwrap_or_else(|| bad()),
            "--window" => a.window = v.parse().ok().unwrap_or_else(|| bad()),
            "--rate" => a.rate = v.parse().ok().unwrap_or_else(|| bad()),
            _ => die(&format!("unknown argument {k}")),
        }
    }
    if a.servers.is_empty() || a.name.is_empty() {
        die("--servers and --name are required");
    }
    a
}

/// Sleeps until alert `i`'s time on a fixed schedule of `rate` per second (0: no wait).
async fn pace(start: Instant, i: u64, rate: f64) {
    if rate > 0.0 {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
    }
}

async fn context(a: &Args) -> jetstream::Context {
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(a.servers.clone())
        .await
        .unwrap_or_else(|e| die(&format!("connect: {e}")));
    let mut js = jetstream::new(client);
    js.set_timeout(Duration::from_secs(10));
    js
}

async fn make_stream(a: &Args) {
    let js = context(a).await;
    let _ = js.delete_stream(&a.name).await;
    let cfg = stream::Config {
        name: a.name.clone(),
        subjects: vec!["falco.>".into()],
        num_replicas: a.replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    // A new cluster elects its meta leader first: bounded retries (60 s).
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        match js.create_stream(cfg.clone()).await {
            Ok(_) => break,
            Err(e) if Instant::now() < end => {
                eprintln!("nats_bench: create_stream: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => die(&format!("create_stream: {e}")),
        }
    }
    println!("stream={} replicas={}", a.name, a.replicas);
}

async fn count(a: &Args) -> u64 {
    let js = context(a).await;
    let mut s = js
        .get_stream(&a.name)
        .await
        .unwrap_or_else(|e| die(&format!("get_stream: {e}")));
    s.info()
        .await
        .unwrap_or_else(|e| die(&format!("info: {e}")))
        .state
        .messages
}

/// The first stored message: subject, headers, body.
async fn template(a: &Args, js: &jetstream::Context) -> jetstream::message::StreamMessage {
    let s = js
        .get_stream(&a.name)
        .await
        .unwrap_or_else(|e| die(&format!("get_stream: {e}")));
    s.get_raw_message(1)
        .await
        .unwrap_or_else(|e| die(&format!("no message 1 in {} to copy: {e}", a.name)))
}

fn report(n: u64, secs: f64, acked: u64, cpu: u64) {
    println!(
        "alerts={n} secs={secs:.6} rate={:.0} acked={acked} proc_cpu_ns={:.0}",
        n as f64 / secs,
        cpu as f64 / n as f64
    );
}

async fn limit(a: &Args) {
    let js = context(a).await;
    let m = template(a, &js).await;
    let run = format!("{:016x}", u64::from(std::process::id()) ^ 0x5eed_0000_0000);
    type Ack = tokio::task::JoinHandle<
        Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
    >;
    let mut pending: VecDeque<Ack> = VecDeque::new();
    let mut acked = 0u64;
    let take =
        |r: Result<Result<_, jetstream::context::PublishError>, tokio::task::JoinError>| match r {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => die(&format!("PubAck: {e}")),
            Err(e) => die(&format!("ack task: {e}")),
        };
    let (cpu0, t0) = (proc_cpu_ns(), Instant::now());
    for i in 0..a.n {
        pace(t0, i, a.rate).await;
        while pending.len() >= a.window {
            take(pending.pop_front().unwrap().await);
            acked += 1;
        }
        let mut h = m.headers.clone();
        h.insert("Nats-Msg-Id", format!("{run}-limit-{}", i + 1).as_str());
        let ack = js
            .publish_with_headers(m.subject.clone(), h, m.payload.clone())
            .await
            .unwrap_or_else(|e| die(&format!("publish: {e}")));
        pending.push_back(tokio::spawn(ack.into_future()));
        while pending.front().is_some_and(|t| t.is_finished()) {
            take(pending.pop_front().unwrap().await);
            acked += 1;
        }
    }
    for t in pending {
        take(t.await);
        acked += 1;
    }
    report(a.n, t0.elapsed().as_secs_f64(), acked, proc_cpu_ns() - cpu0);
}

async fn sidekick(a: &Args) {
    let js = context(a).await;
    let m = template(a, &js).await;
    drop(js);
    let (cpu0, t0) = (proc_cpu_ns(), Instant::now());
    for i in 0..a.n {
        pace(t0, i, a.rate).await;
        // falcosidekick's NATS output: nats.Connect, Publish, Flush and Close, per alert.
        let nc = async_nats::connect(a.servers.clone())
            .await
            .unwrap_or_else(|e| die(&format!("connect: {e}")));
        nc.publish(m.subject.clone(), m.payload.clone())
            .await
            .unwrap_or_else(|e| die(&format!("publish: {e}")));
        nc.flush()
            .await
            .unwrap_or_else(|e| die(&format!("flush: {e}")));
        drop(nc);
    }
    report(a.n, t0.elapsed().as_secs_f64(), a.n, proc_cpu_ns() - cpu0);
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match a.cmd.as_str() {
            "stream" => make_stream(&a).await,
            "count" => println!("messages={}", count(&a).await),
            "limit" => limit(&a).await,
            "sidekick" => sidekick(&a).await,
            c => die(&format!("unknown command {c}")),
        }
    });
}
