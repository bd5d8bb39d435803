//! Syslog channel throughput per transport, emit to `flush` returning (every alert confirmed),
//! against local receivers that read everything at once. The baseline is the unix datagram
//! socket (fire-and-forget, what Falco's syslog(3) does); TCP keeps each alert until the peer's
//! TCP acknowledged it and 500 ms passed; RELP until a hand-framed server answered `200 OK`.
//!
//!     nice cargo bench --bench syslog_transports            # 100,000 alerts, 3 rounds
//!     nice cargo bench --bench syslog_transports -- 20000   # another count
//!
//! Prints alerts/s per round and the median's ratio to the unix datagram median of the same run.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};
use falco_outputs::log::Logger;
use falco_outputs::{Options, Outputs};

fn alert(n: u64) -> Alert {
    let num = n.to_string();
    alert_from_parts(
        1_507_591_916_746_609_046 + n,
        Priority::Error,
        "Write below binary dir",
        "syscall",
        "File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)",
        &[
            ("evt.num", Some(&num), FieldKind::Number),
            ("fd.name", Some("/bin/hack"), FieldKind::String),
        ],
        &["filesystem"],
    )
}

/// A receiver thread that reads until `stop`.
struct Receiver {
    address: String,
    stop: Arc<AtomicBool>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn unix_dgram(dir: &std::path::Path) -> Receiver {
    let path = dir.join("dgram.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // A deep queue, as a syslog daemon configures it.
    let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(8 << 20);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !s.load(Ordering::Relaxed) {
            let _ = sock.recv(&mut buf);
        }
    });
    Receiver {
        address: format!("unix://{}", path.display()),
        stop,
    }
}

/// Accepts connections and serves each with `serve` on its own thread.
fn tcp_server(scheme: &str, serve: fn(std::net::TcpStream, Arc<AtomicBool>)) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((c, _)) => {
                    c.set_nonblocking(false).unwrap();
                    c.set_read_timeout(Some(Duration::from_millis(100)))
                        .unwrap();
                    let s = s.clone();
                    std::thread::spawn(move || serve(c, s));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    });
    Receiver {
        address: format!("{scheme}://127.0.0.1:{port}"),
        stop,
    }
}

fn read_all(mut c: std::net::TcpStream, stop: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        match c.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// RELP: answers `open` with its offers and every other command with `200 OK`; answers are
/// flushed whenever the input buffer runs dry.
fn relp_answer_all(c: std::net::TcpStream, stop: Arc<AtomicBool>) {
    let mut w = BufWriter::new(c.try_clone().unwrap());
    let mut r = BufReader::with_capacity(1 << 16, c);
    let mut head = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        head.clear();
        // "TXNR CMD LEN" up to the space before the data (or the LF of an empty frame).
        let mut spaces = 0;
        loop {
            let mut b = [0u8];
            if r.read_exact(&mut b).is_err() {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                continue;
            }
            if b[0] == b' ' {
                spaces += 1;
                if spaces == 3 {
                    break;
                }
            } else if b[0] == b'\n' && spaces == 2 {
                break;
            }
            head.push(b[0]);
            if head.len() > 64 {
                return;
            }
        }
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut f = text.split(' ');
        let (txnr, cmd, len) = (
            f.next().unwrap_or("0").to_string(),
            f.next().unwrap_or("").to_string(),
            f.next().unwrap_or("0").parse::<usize>().unwrap_or(0),
        );
        if spaces == 3 {
            let mut data = vec![0u8; len + 1];
            if r.read_exact(&mut data).is_err() {
                return;
            }
        }
        let answer = match cmd.as_str() {
            "open" => "200 OK\nrelp_version=0\nrelp_software=bench\ncommands=syslog",
            "close" => "",
            _ => "200 OK",
        };
        let _ = if answer.is_empty() {
            writeln!(w, "{txnr} rsp 0")
        } else {
            writeln!(w, "{txnr} rsp {} {answer}", answer.len())
        };
        if r.buffer().is_empty() && w.flush().is_err() {
            return;
        }
        let _ = r.fill_buf();
    }
}

/// Emits `n` alerts and flushes; alerts per second from the first emit to flush returning.
fn run(address: &str, n: u64) -> f64 {
    let out = Outputs::open(Options {
        config_yaml: Some(format!(
            "stdout_output: {{enabled: false}}\n\
             syslog_output: {{enabled: true, address: \"{address}\"}}\n"
        )),
        hostname: Some("bench".into()),
        log: Logger::from_fn(|_, m| eprintln!("log: {m}")),
        ..Options::default()
    })
    .unwrap();
    let t = Instant::now();
    for i in 0..n {
        out.emit(alert(i)).unwrap();
    }
    out.flush(Duration::from_secs(300)).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let s = out.stats()[0].1;
    assert_eq!((s.delivered, s.failed), (n, 0), "{address}: {s:?}");
    out.close(Some(Duration::from_secs(5))).unwrap();
    n as f64 / secs
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let receivers = [
        ("unix datagram", unix_dgram(dir.path())),
        ("tcp", tcp_server("tcp", read_all)),
        ("relp", tcp_server("relp", relp_answer_all)),
    ];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "syslog transports, {n} alerts per round, 3 rounds; load average {}",
        load.trim()
    );
    let mut medians = Vec::new();
    for (name, r) in &receivers {
        let rounds: Vec<f64> = (0..3).map(|_| run(&r.address, n)).collect();
        let m = median(rounds.clone());
        medians.push(m);
        println!(
            "{name:>14}: {} alerts/s (rounds: {}); {:.2} x unix datagram",
            m as u64,
            rounds
                .iter()
                .map(|r| format!("{}", *r as u64))
                .collect::<Vec<_>>()
                .join(", "),
            m / medians[0]
        );
    }
}
