//! The syslog channel when nothing (or nothing useful) listens: it never blocks for long,
//! counts what it could not deliver, logs without flooding, and refuses bad configuration with
//! the key's name.

use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use crate::support::syslog::SyslogHarness;
use crate::support::{try_open, Logs};
use falco_outputs::alert::Priority;
use falco_outputs::testing::{Channel, SyslogFormat};

fn alerts(n: usize, label: &str) -> Vec<(Priority, String)> {
    (0..n)
        .map(|i| (Priority::Warning, format!("{label} #{i}")))
        .collect()
}

#[test]
fn no_daemon_at_the_unix_path_fails_fast_and_logs_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.sock");
    let mut h = SyslogHarness::open(
        &format!("unix://{}", path.display()),
        SyslogFormat::Rfc3164,
        1,
    );
    assert!(
        h.log_lines()[0].contains("does not exist"),
        "{:?}",
        h.log_lines()
    );
    let t = Instant::now();
    h.deliver(&alerts(1000, "absent"));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let s = h.stats();
    assert_eq!((s.delivered, s.failed), (0, 1000), "{s:?}");
    let errors: Vec<_> = h
        .log_lines()
        .into_iter()
        .filter(|l| l.contains("cannot deliver"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");

    // A daemon appears: the next alert goes to it, and the outage's end is logged.
    let daemon = UnixDatagram::bind(&path).unwrap();
    h.deliver(&alerts(1, "appeared"));
    let mut buf = [0u8; 512];
    let n = daemon.recv(&mut buf).unwrap();
    let got = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        got.starts_with("<12>") && got.ends_with(": appeared #0"),
        "{got}"
    );
    assert!(
        h.log_lines().iter().any(|l| l.contains("again")),
        "{:?}",
        h.log_lines()
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn closed_tcp_port_fails_fast() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut h = SyslogHarness::open(&format!("tcp://127.0.0.1:{port}"), SyslogFormat::Rfc3164, 1);
    let t = Instant::now();
    h.deliver(&alerts(200, "closed"));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(h.stats().failed, 200);
}

/// A daemon that stops reading its socket: the first send waits `output_timeout`, the next ones
/// do not wait at all, and as soon as it reads again alerts go through.
#[test]
fn a_stuck_unix_reader_costs_one_timeout_not_one_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stuck.sock");
    let daemon = UnixDatagram::bind(&path).unwrap();
    let mut h = SyslogHarness::try_open(
        &format!("unix://{}", path.display()),
        SyslogFormat::Rfc3164,
        1,
        Duration::from_millis(300),
    )
    .unwrap();
    let t = Instant::now();
    h.deliver(&alerts(3000, "stuck"));
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let s = h.stats();
    assert_eq!(s.delivered + s.failed, 3000, "{s:?}");
    assert!(
        s.failed > 0 && s.delivered > 0,
        "the socket queue filled: {s:?}"
    );

    // Drain, then the channel delivers again.
    daemon.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    while daemon.recv(&mut buf).is_ok() {}
    h.deliver(&alerts(3, "unstuck"));
    assert_eq!(h.stats().delivered, s.delivered + 3);
    let _ = std::fs::remove_file(&path);
}

/// A TCP peer whose accept queue is full never completes the handshake: the connection attempt
/// is bounded, and the alerts after it fail at once while the channel backs off.
#[test]
fn an_unresponsive_tcp_peer_is_bounded_and_backed_off() {
    // listen(2) with a backlog of 0 and the queue filled: further SYNs are dropped.
    use socket2::{Domain, SockAddr, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&SockAddr::from(std::net::SocketAddr::from((
            [127, 0, 0, 1],
            0,
        ))))
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let port = addr.as_socket().unwrap().port();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        // In progress (EINPROGRESS) or queued: either way it takes a place in the backlog.
        let _ = s.connect(&addr);
        fillers.push(s);
    }
    std::thread::sleep(Duration::from_millis(100));

    let mut h = SyslogHarness::try_open(
        &format!("tcp://127.0.0.1:{port}"),
        SyslogFormat::Rfc3164,
        1,
        Duration::from_millis(300),
    )
    .unwrap();
    let t = Instant::now();
    h.deliver(&alerts(500, "unresponsive"));
    let took = t.elapsed();
    assert!(took < Duration::from_millis(1000), "{took:?}");
    assert_eq!(h.stats().failed, 500);
    assert!(
        h.log_lines().iter().any(|l| l.contains("timed out")),
        "{:?}",
        h.log_lines()
    );
    drop(listener);
}

/// A bad address or facility is refused at init, by the config, with the key's name and the
/// value.
#[test]
fn bad_address_and_facility_name_the_key() {
    for (key, value) in [
        ("address", "/dev/log"),
        ("address", "syslog://x:1"),
        ("address", "udp://:514"),
        ("address", "tcp://h:70000"),
        ("address", "relp://h"),
        ("address", "unix://rel/path"),
        ("facility", "24"),
        ("facility", "local8"),
    ] {
        let yaml = format!("syslog_output: {{enabled: true, {key}: \"{value}\"}}\n");
        match try_open(&yaml, &Logs::default()) {
            Err(e) => {
                let m = e.to_string();
                assert!(
                    m.contains(&format!("syslog_output.{key}")) && m.contains(value),
                    "{m}"
                )
            }
            Ok(_) => panic!("{key}: {value} accepted"),
        }
    }
}

/// A daemon on a unix *stream* socket (glibc's fallback) that closes its first connection after
/// reading 3,000 bytes, with more unread in its queue, then reads everything on the next: the
/// unread alerts are written again on the new connection, every alert arrives at least once,
/// and each is counted delivered once. Before, what was unread was lost and counted delivered.
#[test]
fn a_unix_stream_daemon_closing_with_unread_alerts_gets_them_again() {
    use std::io::Read;
    use std::os::unix::net::UnixListener;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stream.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let daemon = std::thread::spawn(move || {
        let mut read = Vec::new();
        // First connection: 3,000 bytes, then close with the rest unread.
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 3000];
        s.read_exact(&mut buf).unwrap();
        read.extend_from_slice(&buf);
        drop(s);
        // Second connection: everything, until the channel closes it.
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.read_to_end(&mut read);
        read
    });
    let mut h = SyslogHarness::open(
        &format!("unix://{}", path.display()),
        SyslogFormat::Rfc3164,
        1,
    );
    const N: usize = 500;
    h.deliver(&alerts(N, "stream"));
    let s = h.settled_stats();
    h.channel.close(&h.harness.ctx);
    drop(h);
    let read = daemon.join().unwrap();
    let mut copies = std::collections::BTreeMap::new();
    for msg in read.split(|&b| b == 0).filter(|m| !m.is_empty()) {
        let msg = String::from_utf8_lossy(msg);
        let n: usize = msg
            .rsplit("stream #")
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not whole: {msg}"));
        *copies.entry(n).or_insert(0usize) += 1;
    }
    let stored: usize = copies.values().sum();
    println!(
        "unix stream, close with unread: emitted {N}, stored {} distinct ({stored} with \
         duplicates); counted delivered {}, failed {}, discarded {}",
        copies.len(),
        s.delivered,
        s.failed,
        s.discarded
    );
    let missing: Vec<usize> = (0..N).filter(|i| !copies.contains_key(i)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    assert_eq!(
        (s.delivered, s.failed, s.discarded),
        (N as u64, 0, 0),
        "{s:?}"
    );
}

/// A unix daemon restarted with the other kind of socket at the same path, twice: datagram, then
/// stream (glibc's fallback; NUL-terminated), then datagram again while the stream connection is
/// still open (then closed by the daemon). `local.rs` follows each switch (issue 20: the transport is chosen
/// once, the socket kind at each connection): every alert arrives once and is counted
/// delivered once.
#[test]
fn a_unix_daemon_switching_between_datagram_and_stream_is_followed() {
    use std::io::Read;
    use std::os::unix::net::UnixListener;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switch.sock");
    let recv_all = |d: &UnixDatagram, n: usize| -> Vec<String> {
        d.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 2048];
        (0..n)
            .map(|_| {
                let k = d.recv(&mut buf).unwrap();
                String::from_utf8_lossy(&buf[..k]).into_owned()
            })
            .collect()
    };
    let dgram = UnixDatagram::bind(&path).unwrap();
    let mut h = SyslogHarness::open(
        &format!("unix://{}", path.display()),
        SyslogFormat::Rfc3164,
        1,
    );
    h.deliver(&alerts(3, "first-dgram"));
    let got = recv_all(&dgram, 3);
    assert!(got.iter().all(|m| m.contains("first-dgram #")), "{got:?}");
    assert_eq!(h.settled_stats().delivered, 3);

    // Restarted on a stream socket: the old datagram peer is gone.
    drop(dgram);
    std::fs::remove_file(&path).unwrap();
    let listener = UnixListener::bind(&path).unwrap();
    let (close_tx, close_rx) = std::sync::mpsc::channel::<()>();
    let daemon = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut read = Vec::new();
        let mut buf = [0u8; 4096];
        while read.iter().filter(|&&b| b == 0).count() < 4 {
            let k = s.read(&mut buf).unwrap();
            assert!(k > 0, "closed early");
            read.extend_from_slice(&buf[..k]);
        }
        // Closes its end only once the datagram socket has replaced it (below).
        close_rx.recv().unwrap();
        read
    });
    h.deliver(&alerts(4, "stream"));
    let s = h.settled_stats();
    assert_eq!(
        (s.delivered, s.failed, s.discarded),
        (7, 0, 0),
        "{s:?} {:#?}",
        h.log_lines()
    );

    // Back to a datagram socket at the path; then the stream daemon goes away.
    std::fs::remove_file(&path).unwrap();
    let dgram = UnixDatagram::bind(&path).unwrap();
    close_tx.send(()).unwrap();
    let read = daemon.join().unwrap();
    let msgs: Vec<_> = read
        .split(|&b| b == 0)
        .filter(|m| !m.is_empty())
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert!(msgs.iter().all(|m| m.contains("stream #")), "{msgs:?}");
    h.deliver(&alerts(5, "second-dgram"));
    let s = h.settled_stats();
    let got = recv_all(&dgram, 5);
    assert!(got.iter().all(|m| m.contains("second-dgram #")), "{got:?}");
    assert_eq!(
        (s.delivered, s.failed, s.discarded),
        (12, 0, 0),
        "{s:?} {:#?}",
        h.log_lines()
    );
    assert_eq!(h.channel.held(), 0);
}
