//! The host dies (issue 18, test 3): a process feeding the NATS channel with `spool_dir` is
//! SIGKILLed at random moments, at least 30 times, and restarted on the same spool each time.
//! Every alert the channel accepted (its `deliver` returned: the alert is in the spool, with its
//! `Nats-Msg-Id`) before a kill is in the JetStream stream exactly once at the end.
//!
//! The killed process is this test binary re-run as the test's child (`nats_crash_child`): it prints `stored R I`
//! after each `deliver` returns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::nats::*;
use crate::support::*;
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};
use falco_outputs::testing::{open_nats, Batch, Channel, FormatOptions, Formatter, LocalZone};

const ROUNDS: u64 = 40;
const MIN_ROUNDS: u64 = 30;
/// The whole test stays under this (rounds are cut short on a loaded machine).
const BUDGET: Duration = Duration::from_secs(120);

fn alert(round: u64, i: u64) -> Alert {
    let (r, n) = (round.to_string(), i.to_string());
    alert_from_parts(
        1_507_591_916_746_609_046 + i,
        Priority::Error,
        "Crash rule",
        "syscall",
        &format!("crash round {round} alert {i}"),
        &[
            ("round", Some(&r), FieldKind::Number),
            ("i", Some(&n), FieldKind::Number),
        ],
        &[],
    )
}

fn yaml(url: &str, dir: &str) -> String {
    format!(
        "json_output: true\nnats_output:\n  enabled: true\n  servers: [{url}]\n  spool_dir: {dir}\n  timeout_ms: 1000\n  retry_max_backoff_ms: 200\n  max_in_flight: 32\n"
    )
}

/// The killed process: hands alerts to the channel as its worker would, saying which.
fn nats_crash_child() {
    let arg = std::env::var("FALCO_NATS_CRASH_CHILD").expect("set by the parent");
    let mut it = arg.split(' ');
    let (url, dir, round) = (
        it.next().unwrap().to_string(),
        it.next().unwrap().to_string(),
        it.next().unwrap().parse::<u64>().unwrap(),
    );
    let h = Harness::new("nats", false, Duration::from_secs(2));
    let mut ch = open_nats(&yaml(&url, &dir), &h.logger(), "h").unwrap();
    let mut fmt = Formatter::new(
        FormatOptions {
            json: true,
            include_output: true,
            include_output_fields: true,
            hostname: "h".into(),
            ..FormatOptions::default()
        },
        LocalZone::utc(),
    );
    let mut rng = round.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut i = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let n = 1 + next() % 40;
        let mut b = Batch::default();
        for j in i..i + n {
            let a = alert(round, j);
            b.push_with(a.priority, a.time_ns, |out| ch.format(&mut fmt, &a, out));
        }
        ch.deliver(&b, &h.ctx);
        i += n;
        println!("stored {round} {}", i - 1);
        if next() % 3 == 0 {
            ch.tick(&h.ctx);
        }
    }
    println!("child round {round} ran out of time");
}

#[test]
fn nats_every_alert_stored_before_a_sigkill_is_in_the_stream_exactly_once() {
    in_child_process(nats_crash_child, kill_children_then_publish);
}

fn kill_children_then_publish(child: &TestChild) {
    if !have_nats() {
        return;
    }
    let started = Instant::now();
    let nats = Nats::single(ServerOpts::default());
    let url = nats.urls()[0].clone();
    let js = Js::connect(&nats.urls());
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));
    let spool = tempfile::tempdir().unwrap();
    let dir = spool.path().display().to_string();
    let mut rng: u64 = 0x5EED_0018;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut accepted: HashMap<u64, u64> = HashMap::new();
    let mut rounds = 0;
    for round in 0..ROUNDS {
        if started.elapsed() > BUDGET - Duration::from_secs(40) {
            break;
        }
        rounds += 1;
        let mut child = child
            .command()
            .env("FALCO_NATS_CRASH_CHILD", format!("{url} {dir} {round}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("stored ") {
                    let (_, i) = rest.split_once(' ').unwrap();
                    last = Some(i.parse::<u64>().unwrap());
                }
            }
            last
        });
        std::thread::sleep(Duration::from_millis(50 + next() % 400));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        // Killed, not exited: a child that failed (panicked) exits before the kill.
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "round {round}: the child was not killed: {status:?}"
        );
        if let Some(last) = reader.join().unwrap() {
            accepted.insert(round, last);
        }
    }
    // A last run on the same spool, not killed: publishes what the killed ones left.
    let h = Harness::new("nats", false, Duration::from_secs(2));
    let mut ch = open_nats(&yaml(&url, &dir), &h.logger(), "h").unwrap();
    // Bounded: 30 s of ticks, the worker's loop while idle.
    let end = Instant::now() + Duration::from_secs(30);
    ch.tick(&h.ctx);
    while ch.next_wake().is_some() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        ch.tick(&h.ctx);
    }
    assert!(ch.next_wake().is_none(), "the spool did not drain in 30 s");
    ch.close(&h.ctx);

    let want: BTreeSet<(u64, u64)> = accepted
        .iter()
        .flat_map(|(r, last)| (0..=*last).map(move |i| (*r, i)))
        .collect();
    let msgs = js.messages("FALCO");
    let mut seen: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for m in &msgs {
        let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap();
        let f = &v["output_fields"];
        let k = (f["round"].as_u64().unwrap(), f["i"].as_u64().unwrap());
        *seen.entry(k).or_default() += 1;
        ids.insert(m.header("Nats-Msg-Id").unwrap().to_string());
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    let missing: Vec<_> = want
        .iter()
        .filter(|k| !seen.contains_key(k))
        .take(5)
        .collect();
    eprintln!(
        "nats crash: {rounds} rounds SIGKILLed in {:.1} s; {} alerts accepted before the kills, stream holds {} messages ({} distinct alerts, {} distinct ids); missing {}, twice {}",
        started.elapsed().as_secs_f64(),
        want.len(),
        msgs.len(),
        seen.len(),
        ids.len(),
        want.iter().filter(|k| !seen.contains_key(k)).count(),
        seen.values().filter(|n| **n > 1).count(),
    );
    assert!(
        rounds >= MIN_ROUNDS,
        "only {rounds} rounds within the time budget"
    );
    assert!(!want.is_empty());
    assert!(
        missing.is_empty(),
        "accepted before a kill, not in the stream: {missing:?}"
    );
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(ids.len(), msgs.len(), "one message per id");
}
