//! `nats_output` into an R3 stream of a three-node cluster (routes on loopback) while the
//! stream's leader is SIGKILLed and restarted and a follower is SIGSTOPped for 10 s: every alert
//! stored exactly once (distinct `Nats-Msg-Id` = stream count = `delivered`), and in emit order
//! except for the bounded reordering docs/nats.md states around a failure.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support::accounting::assert_outputs_settled;
use crate::support::handle::*;
use crate::support::nats::*;
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};

const N: u64 = 20_000;
const WINDOW: u64 = 64;

fn alert(n: u64) -> Alert {
    let num = n.to_string();
    alert_from_parts(
        1_507_591_916_746_609_046 + n,
        Priority::Warning,
        "Cluster rule",
        "syscall",
        &format!("alert {n}"),
        &[("evt.num", Some(&num), FieldKind::Number)],
        &[],
    )
}

#[test]
fn nats_r3_leader_killed_and_follower_stopped_each_alert_once() {
    if !have_nats() {
        return;
    }
    let mut nats = Nats::cluster3();
    let js = Js::connect(&nats.urls());
    js.create_stream(stream_config("FALCO", &["falco.>"], 3));
    let yaml = format!(
        "stdout_output: {{enabled: false}}\njson_output: true\nnats_output:\n  enabled: true\n  servers: {}\n  timeout_ms: 2000\n  retry_max_backoff_ms: 1000\n  max_in_flight: {WINDOW}\n",
        nats.servers_yaml()
    );
    let (out, logs) = open(&yaml);
    // 20,000 alerts at about 1,000/s; the faults at fixed points of the stream.
    let start = Instant::now();
    let mut killed = String::new();
    let mut cont = None;
    for n in 0..N {
        out.emit(alert(n)).unwrap();
        if n % 100 == 99 {
            let due = start + Duration::from_millis(n + 1);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        if n == 4_000 {
            killed = js.leader("FALCO");
            eprintln!("killing the leader {killed} at alert {n}");
            nats.node(&killed).kill();
        }
        if n == 9_000 {
            eprintln!("restarting {killed} at alert {n}");
            nats.node(&killed).start();
        }
        if n == 11_000 {
            let leader = js.leader("FALCO");
            let follower = nats.nodes.iter().find(|x| x.name != leader).unwrap();
            let pid = follower.pid().unwrap();
            eprintln!("SIGSTOP follower {} for 10 s at alert {n}", follower.name);
            follower.signal("STOP");
            cont = Some(std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(10));
                let _ = std::process::Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .status();
            }));
        }
    }
    cont.unwrap().join().unwrap();
    out.flush(Duration::from_secs(180))
        .expect("every alert acknowledged");
    let all = assert_outputs_settled(&out);
    let c = all.iter().find(|(n, _)| n == "nats").unwrap().1;
    let dups = out
        .stats()
        .iter()
        .find(|(n, _)| *n == "nats")
        .unwrap()
        .1
        .duplicates;
    out.close(Some(Duration::from_secs(10))).unwrap();
    assert_eq!((c.delivered, c.failed, c.discarded), (N, 0, 0), "{c}");

    let msgs = js.messages("FALCO");
    let count = js.count("FALCO");
    let ids: HashSet<String> = msgs
        .iter()
        .map(|m| m.header("Nats-Msg-Id").unwrap().to_string())
        .collect();
    assert_eq!(msgs.len() as u64, N, "stream holds {} messages", msgs.len());
    assert_eq!((count, ids.len() as u64), (N, N), "each alert exactly once");
    // Order: the alert numbers in stream order; an alert may be stored after at most
    // WINDOW - 1 alerts emitted after it (docs/nats.md, Order).
    let nums: Vec<u64> = msgs
        .iter()
        .map(|m| evt_num(std::str::from_utf8(&m.body).unwrap()))
        .collect();
    let mut displaced = 0;
    let mut max_seen = 0u64;
    for (pos, &num) in nums.iter().enumerate() {
        if pos > 0 && num < max_seen {
            displaced += 1;
            assert!(
                max_seen - num < WINDOW,
                "alert {num} stored after alert {max_seen}: more than max_in_flight apart"
            );
        }
        max_seen = max_seen.max(num);
    }
    eprintln!(
        "nats R3: {N} alerts, stream count {count}, distinct ids {}, delivered {}, duplicates {dups}, stored out of order {displaced}; warnings: {}",
        ids.len(),
        c.delivered,
        logs.lines().len()
    );
}
