//! Crash consistency of the HTTP spool (issue 9.2): a process feeding the channel is killed with
//! SIGKILL at random moments while the endpoint flaps (answers 200, answers 503, drops the
//! connection, refuses connections), and is restarted on the same spool each time. Every alert
//! the channel had accepted (stored: `deliver` returned) before a kill must reach the endpoint at
//! least once, and every line the endpoint acknowledged must be an alert exactly as it was made.
//!
//! The killed process is this test binary re-run as the test's child (`crash_child`): it prints `stored R I` after
//! each `deliver` returns, so the parent knows what was accepted before the kill.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::http::*;
use crate::support::*;
use falco_outputs::testing::{Channel, HttpChannel};

const ROUNDS: u64 = 60;
/// The whole test stays under this, however loaded the machine (rounds are cut short).
const BUDGET: Duration = Duration::from_secs(75);

const UP: u8 = 0;
const ERROR_503: u8 = 1;
const DROP_CONNECTION: u8 = 2;
const REFUSE: u8 = 3;

/// One alert line, rebuilt from its (round, index) to check what arrives byte for byte.
fn alert(round: u64, i: u64) -> String {
    let pad = "p".repeat(((round * 31 + i * 7) % 200) as usize);
    format!("{{\"output\":\"crash round {round} alert {i}\",\"round\":{round},\"i\":{i},\"pad\":\"{pad}\"}}")
}

/// A small HTTP/1.1 endpoint whose behaviour the test switches while the child sends.
struct FlappingEndpoint {
    port: u16,
    mode: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    /// Bodies answered with 200.
    acked: Arc<Mutex<Vec<String>>>,
    /// Every body received, whatever the answer.
    seen: Arc<Mutex<Vec<String>>>,
}

impl FlappingEndpoint {
    fn start() -> FlappingEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let ep = FlappingEndpoint {
            port,
            mode: Arc::new(AtomicU8::new(UP)),
            stop: Arc::default(),
            acked: Arc::default(),
            seen: Arc::default(),
        };
        let (mode, stop, acked, seen) = (
            ep.mode.clone(),
            ep.stop.clone(),
            ep.acked.clone(),
            ep.seen.clone(),
        );
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !stop.load(Ordering::Relaxed) {
                if mode.load(Ordering::Relaxed) == REFUSE {
                    // Closed: connections are refused until the endpoint comes back.
                    listener = None;
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                let l = match &listener {
                    Some(l) => l,
                    None => match TcpListener::bind(("127.0.0.1", port)) {
                        Ok(l) => {
                            l.set_nonblocking(true).unwrap();
                            listener.insert(l)
                        }
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                    },
                };
                l.set_nonblocking(true).unwrap();
                match l.accept() {
                    Ok((s, _)) => {
                        let (mode, acked, seen) = (mode.clone(), acked.clone(), seen.clone());
                        std::thread::spawn(move || serve(s, &mode, &acked, &seen));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        ep
    }
}

impl Drop for FlappingEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Serves one kept-alive connection: requests with a Content-Length body.
fn serve(s: TcpStream, mode: &AtomicU8, acked: &Mutex<Vec<String>>, seen: &Mutex<Vec<String>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut w = match s.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(s);
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        let mut first = true;
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" && !first {
                break;
            }
            first = false;
            if let Some(v) = line
                .to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
            {
                len = v.parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        seen.lock().unwrap().push(body.clone());
        let status = match mode.load(Ordering::Relaxed) {
            UP => {
                // Recorded before the answer: the client may be killed right after reading it.
                acked.lock().unwrap().push(body);
                "200 OK"
            }
            ERROR_503 => "503 Service Unavailable",
            _ => return,
        };
        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        if w.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// The killed process: stores alerts through the channel as its worker would, saying which.
fn crash_child() {
    let arg = std::env::var("FALCO_SPOOL_CRASH_CHILD").expect("set by the parent");
    let mut it = arg.split(' ');
    let (port, dir, round) = (
        it.next().unwrap(),
        it.next().unwrap().to_string(),
        it.next().unwrap().parse::<u64>().unwrap(),
    );
    let mut cfg = http_config(&format!("http://127.0.0.1:{port}/"));
    cfg.transport.spool_dir = dir;
    cfg.transport.timeout_ms = 300;
    cfg.transport.retry_max_backoff_ms = 40;
    cfg.transport.batch_max_alerts = if round % 3 == 0 { 1 } else { 20 };
    cfg.transport.batch_max_wait_ms = 5;
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
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
        let n = 1 + next() % 8;
        let lines: Vec<String> = (i..i + n).map(|j| alert(round, j)).collect();
        ch.deliver(&batch(&lines), &ctx.ctx);
        i += n;
        println!("stored {round} {}", i - 1);
        for _ in 0..next() % 3 {
            ch.tick(&ctx.ctx);
        }
        std::thread::sleep(Duration::from_micros(next() % 3000));
    }
    println!("child round {round} ran out of time");
}

#[test]
fn every_alert_stored_before_a_sigkill_arrives_and_nothing_corrupt_does() {
    in_child_process(crash_child, kill_children_then_deliver);
}

fn kill_children_then_deliver(child: &TestChild) {
    let started = Instant::now();
    let spool = tempfile::tempdir().unwrap();
    let ep = FlappingEndpoint::start();
    let mut rng: u64 = 0x5EED_CAFE;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };

    // The endpoint flaps on its own clock, independent of the kills.
    let flapping = Arc::new(AtomicBool::new(true));
    let flapper = {
        let (mode, flapping) = (ep.mode.clone(), flapping.clone());
        let mut r = next();
        std::thread::spawn(move || {
            while flapping.load(Ordering::Relaxed) {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                let m = match r % 20 {
                    0..=10 => UP,
                    11..=13 => ERROR_503,
                    14..=16 => DROP_CONNECTION,
                    _ => REFUSE,
                };
                mode.store(m, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5 + r % 60));
            }
            mode.store(UP, Ordering::Relaxed);
        })
    };

    // (round, highest index stored) for every round.
    let mut accepted: HashMap<u64, u64> = HashMap::new();
    let mut rounds = 0;
    for round in 0..ROUNDS {
        if started.elapsed() > BUDGET - Duration::from_secs(25) {
            break;
        }
        rounds += 1;
        let mut child = child
            .command()
            .env(
                "FALCO_SPOOL_CRASH_CHILD",
                format!("{} {} {round}", ep.port, spool.path().display()),
            )
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
        std::thread::sleep(Duration::from_millis(20 + next() % 230));
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
    flapping.store(false, Ordering::Relaxed);
    flapper.join().unwrap();

    // A last process on the same spool, endpoint up, not killed: delivers what is left.
    let mut cfg = http_config(&format!("http://127.0.0.1:{}/", ep.port));
    cfg.transport.spool_dir = spool.path().to_string_lossy().into();
    cfg.transport.batch_max_alerts = 100;
    let ctx = Harness::http();
    let mut ch = HttpChannel::open_http(&cfg, true, &ctx.logger()).unwrap();
    let want: BTreeSet<(u64, u64)> = accepted
        .iter()
        .flat_map(|(r, last)| (0..=*last).map(move |i| (*r, i)))
        .collect();
    let received = |ep: &FlappingEndpoint| -> Vec<String> {
        ep.acked
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let parse = |line: &str| -> Option<(u64, u64)> {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        let (r, i) = (v["round"].as_u64()?, v["i"].as_u64()?);
        (alert(r, i) == line).then_some((r, i))
    };
    drive(&mut ch, &ctx.ctx, Duration::from_secs(20), || {
        let got: BTreeSet<(u64, u64)> = received(&ep).iter().filter_map(|l| parse(l)).collect();
        want.is_subset(&got)
    });
    ctx.abort_after(Duration::from_millis(500));
    ch.close(&ctx.ctx);

    let lines = received(&ep);
    let mut corrupt = Vec::new();
    let mut got = BTreeSet::new();
    for l in &lines {
        match parse(l) {
            Some(k) => {
                got.insert(k);
            }
            None => corrupt.push(l.clone()),
        }
    }
    let empty_bodies = ep
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b.is_empty())
        .count();
    let missing: Vec<_> = want.difference(&got).take(10).collect();
    let stats = ctx.stats();
    println!(
        "spool crash test: {rounds} rounds killed with SIGKILL in {:.1} s; {} alerts stored before the kills, \
         {} distinct alerts received ({} lines acknowledged, {} duplicates), {} requests seen, \
         missing {}, corrupt {}, empty bodies {empty_bodies}; last run: spool_corrupt {}",
        started.elapsed().as_secs_f64(),
        want.len(),
        got.len(),
        lines.len(),
        lines.len() - got.len(),
        ep.seen.lock().unwrap().len(),
        want.difference(&got).count(),
        corrupt.len(),
        stats.spool_corrupt,
    );
    assert!(rounds >= 50, "only {rounds} rounds within the time budget");
    assert!(
        corrupt.is_empty(),
        "corrupt lines delivered: {:?}",
        &corrupt[..corrupt.len().min(3)]
    );
    assert_eq!(empty_bodies, 0);
    assert!(
        missing.is_empty(),
        "stored before a kill, never delivered: {missing:?}"
    );
    assert!(started.elapsed() < BUDGET + Duration::from_secs(15));
}
