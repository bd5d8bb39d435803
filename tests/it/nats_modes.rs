//! `nats_output`'s two other promises (docs/nats.md, Delivery): `jetstream: false` is a core
//! publish counted delivered once the server took it (at most once: nothing says a stream
//! stored it), and `max_in_flight: 1` keeps the stream in emit order strictly, also across a
//! server killed and restarted mid-stream.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support::accounting::assert_outputs_settled;
use crate::support::handle::*;
use crate::support::nats::*;
use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};
use falco_outputs::Outputs;

fn alert(n: u64) -> Alert {
    let num = n.to_string();
    alert_from_parts(
        1_507_591_916_746_609_046 + n,
        Priority::Error,
        "Mode rule",
        "syscall",
        &format!("alert {n}"),
        &[("evt.num", Some(&num), FieldKind::Number)],
        &[],
    )
}

fn yaml(servers: &str, extra: &str) -> String {
    format!(
        "stdout_output: {{enabled: false}}\njson_output: true\nnats_output:\n  enabled: true\n  servers: {servers}\n  timeout_ms: 1000\n  retry_max_backoff_ms: 500\n{extra}"
    )
}

fn nats_counts(out: &Outputs) -> (u64, u64, u64, u64) {
    let all = assert_outputs_settled(out);
    let c = all.iter().find(|(n, _)| n == "nats").unwrap().1;
    let dups = out
        .stats()
        .iter()
        .find(|(n, _)| *n == "nats")
        .unwrap()
        .1
        .duplicates;
    (c.delivered, c.failed, c.discarded, dups)
}

fn nums(js: &Js, stream: &str) -> Vec<u64> {
    js.messages(stream)
        .iter()
        .map(|m| evt_num(std::str::from_utf8(&m.body).unwrap()))
        .collect()
}

#[test]
fn nats_core_publish_is_counted_delivered_when_the_server_took_it_stored_or_not() {
    if !have_nats() {
        return;
    }
    const N: u64 = 1_000;
    let nats = Nats::single(ServerOpts::default());
    let js = Js::connect(&nats.urls());
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));

    // With a stream on the subjects: each core publish is stored (the server took it).
    let (out, _logs) = open(&yaml(&nats.servers_yaml(), "  jetstream: false\n"));
    for n in 0..N {
        out.emit(alert(n)).unwrap();
    }
    out.flush(Duration::from_secs(30)).expect("flushed");
    assert_eq!(
        nats_counts(&out),
        (N, 0, 0, 0),
        "delivered, failed, discarded, duplicates"
    );
    out.close(Some(Duration::from_secs(10))).unwrap();
    let msgs = js.messages("FALCO");
    let ids: HashSet<&str> = msgs
        .iter()
        .map(|m| m.header("Nats-Msg-Id").unwrap())
        .collect();
    assert_eq!((msgs.len() as u64, ids.len() as u64), (N, N));
    assert_eq!(
        nums(&js, "FALCO"),
        (0..N).collect::<Vec<_>>(),
        "one connection: in order"
    );

    // No stream takes these subjects: still counted delivered (the server took them), and no
    // stream holds them; with jetstream: true they would be held and retried (503).
    let (out, logs) = open(&yaml(
        &nats.servers_yaml(),
        "  jetstream: false\n  subject: \"nostream.{priority}\"\n",
    ));
    for n in 0..100 {
        out.emit(alert(n)).unwrap();
    }
    out.flush(Duration::from_secs(30)).expect("flushed");
    assert_eq!(
        nats_counts(&out),
        (100, 0, 0, 0),
        "counted delivered, stored nowhere"
    );
    out.close(Some(Duration::from_secs(10))).unwrap();
    assert!(
        !logs.lines().iter().any(|l| l.contains("cannot publish")),
        "no failure: {:?}",
        logs.lines()
    );
    js.create_stream(stream_config("LATE", &["nostream.>"], 1));
    assert_eq!(js.count("LATE"), 0, "at most once: nothing re-sent later");
    assert_eq!(js.count("FALCO"), N);
}

#[test]
fn nats_max_in_flight_1_keeps_strict_order_across_a_server_restart() {
    if !have_nats() {
        return;
    }
    const N: u64 = 3_000;
    let mut nats = Nats::single(ServerOpts::default());
    let js = Js::connect(&nats.urls());
    js.create_stream(stream_config("FALCO", &["falco.>"], 1));
    let (out, logs) = open(&yaml(&nats.servers_yaml(), "  max_in_flight: 1\n"));
    // 3,000 alerts at about 1,000/s; the server SIGKILLed at alert 1,000 and restarted (same
    // port, same store) at alert 2,000, 1 s later while alerts keep coming.
    let start = Instant::now();
    for n in 0..N {
        out.emit(alert(n)).unwrap();
        if n % 100 == 99 {
            let due = start + Duration::from_millis(n + 1);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        if n == 1_000 {
            nats.nodes[0].kill();
        }
        if n == 2_000 {
            nats.nodes[0].start();
        }
    }
    out.flush(Duration::from_secs(120))
        .expect("every alert acknowledged");
    let (delivered, failed, discarded, dups) = nats_counts(&out);
    out.close(Some(Duration::from_secs(10))).unwrap();
    assert_eq!((delivered, failed, discarded), (N, 0, 0));
    let js = Js::connect(&nats.urls());
    let got = nums(&js, "FALCO");
    assert_eq!(got.len() as u64, N, "each alert once");
    let out_of_order = got.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "strictly in emit order");
    assert!(
        logs.lines().iter().any(|l| l.contains("cannot publish")),
        "the outage was seen: {:?}",
        logs.lines()
    );
    eprintln!(
        "max_in_flight 1: {N} alerts through a server restart, duplicates {dups}, out of order {out_of_order}, {} log lines",
        logs.lines().len()
    );
}
