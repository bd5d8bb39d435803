//! The syslog channel against a real rsyslogd: what rsyslog stored (facility, severity, tag,
//! message, timestamps) over a unix socket, UDP and TCP, and what happens when it dies.

use std::time::{Duration, Instant};

use crate::support::rsyslog::{Record, Rsyslog};
use crate::support::syslog::SyslogHarness;
use crate::support::*;
use falco_outputs::alert::Priority;
use falco_outputs::testing::{Batch, Channel, Line, SyslogFormat};

const WAIT: Duration = Duration::from_secs(5);

/// One alert line per priority, unique to `label`.
fn one_per_priority(label: &str) -> Vec<(Priority, String)> {
    Priority::ALL
        .iter()
        .map(|p| {
            (
                *p,
                format!(
                    "10:20:05.408091526: {} {label} alert (user=root command=cat /etc/shadow)",
                    p.name()
                ),
            )
        })
        .collect()
}

/// syslog(3)'s tag when openlog was never called: the program's short name.
fn program_name() -> String {
    let arg0 = std::env::args_os().next().unwrap();
    std::path::Path::new(&arg0)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap();
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `-MM-DDTHH:MM:SS` of `time_ns` in local time, by libc (rsyslog guesses the year).
fn local_wall_clock(time_ns: u64) -> String {
    let t = (time_ns / 1_000_000_000) as libc::time_t;
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&t, &mut tm) };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

fn mine(label: &str) -> impl Fn(&Record) -> bool + '_ {
    move |r: &Record| r.msg.contains(&format!(" {label} alert"))
}

/// rsyslog keeps RFC 3164's space after `TAG:` in %msg%; RFC 5424 has none.
fn stored_msg(r: &Record) -> &str {
    r.msg.strip_prefix(' ').unwrap_or(&r.msg)
}

fn assert_each_priority(
    rs: &Rsyslog,
    label: &str,
    facility: u8,
    sent: &[(Priority, String)],
) -> Vec<Record> {
    let got = rs.wait_for(sent.len(), WAIT, mine(label));
    assert_eq!(got.len(), sent.len(), "stored: {got:#?}");
    for (r, (p, text)) in got.iter().zip(sent) {
        assert_eq!(r.facility, facility, "{r:?}");
        assert_eq!(r.severity, *p as u8, "{r:?}");
        assert_eq!(stored_msg(r), text, "{r:?}");
    }
    got
}

fn rfc3164_tag_checks(got: &[Record]) {
    for r in got {
        // The tag syslog(3) would write, with no [pid] (openlog's LOG_PID is not set).
        assert_eq!(r.tag, format!("{}:", program_name()), "{r:?}");
        assert_eq!(r.app_name, program_name(), "{r:?}");
        assert_eq!(r.procid, "-", "{r:?}");
        assert!(r.msg.starts_with(' '), "{r:?}");
    }
}

#[test]
fn each_priority_over_the_unix_socket_like_syslog3() {
    let rs = Rsyslog::start();
    let mut h = SyslogHarness::open(
        &format!("unix://{}", rs.unix.display()),
        SyslogFormat::Rfc3164,
        1,
    );
    let sent = one_per_priority("unix-3164");
    h.deliver(&sent);
    let got = assert_each_priority(&rs, "unix-3164", 1, &sent);
    rfc3164_tag_checks(&got);
    assert_eq!(h.settled_stats().delivered, 8);
    assert_eq!(h.settled_stats().failed, 0);
}

/// Over the network the RFC 3164 header carries our hostname and the alert's time, which rsyslog
/// keeps as the reported time.
fn network_3164(scheme: &str, port: fn(&Rsyslog) -> u16) {
    let rs = Rsyslog::start();
    let label = format!("{scheme}-3164");
    let mut h = SyslogHarness::open(
        &format!("{scheme}://127.0.0.1:{}", port(&rs)),
        SyslogFormat::Rfc3164,
        1,
    );
    let sent = one_per_priority(&label);
    let b = batch_at_priorities(&sent);
    h.channel.deliver(&b, &h.harness.ctx);
    let got = assert_each_priority(&rs, &label, 1, &sent);
    rfc3164_tag_checks(&got);
    for (r, line) in got.iter().zip(&b.lines) {
        assert_eq!(r.hostname, hostname(), "{r:?}");
        // RFC 3164 has whole seconds and no year; rsyslog prints e.g. 2026-06-07T10:20:05+00:00.
        let want = local_wall_clock(line.time_ns);
        assert_eq!(&r.time_reported[4..19], &want[4..], "{r:?}");
    }
    assert_eq!(h.settled_stats().delivered, 8);
}

#[test]
fn each_priority_over_udp() {
    network_3164("udp", |rs| rs.udp_port);
}

#[test]
fn each_priority_over_tcp_octet_counted() {
    network_3164("tcp", |rs| rs.tcp_port);
}

#[test]
fn rfc5424_over_unix_udp_and_tcp() {
    let rs = Rsyslog::start();
    let addresses = [
        ("unix", format!("unix://{}", rs.unix5424.display())),
        ("udp", format!("udp://127.0.0.1:{}", rs.udp_port)),
        ("tcp", format!("tcp://127.0.0.1:{}", rs.tcp_port)),
    ];
    for (name, address) in addresses {
        let label = format!("{name}-5424");
        let mut h = SyslogHarness::open(&address, SyslogFormat::Rfc5424, 1);
        let sent = one_per_priority(&label);
        let b = batch_at_priorities(&sent);
        h.channel.deliver(&b, &h.harness.ctx);
        let got = assert_each_priority(&rs, &label, 1, &sent);
        for (r, line) in got.iter().zip(&b.lines) {
            assert_eq!(
                r.msg,
                line_text(&b, line),
                "no space before an RFC 5424 MSG: {r:?}"
            );
            assert_eq!(
                r.tag,
                format!("{}[{}]", program_name(), std::process::id()),
                "{r:?}"
            );
            assert_eq!(r.app_name, program_name(), "{r:?}");
            assert_eq!(r.procid, std::process::id().to_string(), "{r:?}");
            assert_eq!(r.hostname, hostname(), "{r:?}");
            // Microseconds of the alert's own time.
            let micros = line.time_ns / 1000 % 1_000_000;
            assert!(
                r.time_reported.contains(&format!(".{micros:06}")),
                "{r:?} vs {micros}"
            );
        }
        assert_eq!(h.settled_stats().delivered, 8, "{name}");
    }
}

fn line_text(b: &Batch, l: &Line) -> String {
    String::from_utf8(b.bytes[l.start..l.end].to_vec()).unwrap()
}

#[test]
fn custom_facility_local0_on_every_transport() {
    let rs = Rsyslog::start();
    let addresses = [
        ("unix", format!("unix://{}", rs.unix.display())),
        ("udp", format!("udp://127.0.0.1:{}", rs.udp_port)),
        ("tcp", format!("tcp://127.0.0.1:{}", rs.tcp_port)),
    ];
    for (name, address) in addresses {
        for format in [SyslogFormat::Rfc3164, SyslogFormat::Rfc5424] {
            if name == "unix" && format == SyslogFormat::Rfc5424 {
                continue; // the special-parser socket is for syslog(3)'s format
            }
            let label = format!("{name}-{format:?}-local0");
            let mut h = SyslogHarness::open(&address, format, 16);
            let sent = one_per_priority(&label);
            h.deliver(&sent);
            assert_each_priority(&rs, &label, 16, &sent);
        }
    }
}

#[test]
fn a_long_alert_arrives_whole_over_tcp() {
    let rs = Rsyslog::start();
    let mut h = SyslogHarness::open(
        &format!("tcp://127.0.0.1:{}", rs.tcp_port),
        SyslogFormat::Rfc3164,
        1,
    );
    let long = format!(
        "10:20:05.408091526: Warning long alert {}",
        "x".repeat(40_000)
    );
    let sent = vec![
        (Priority::Warning, long.clone()),
        (
            Priority::Error,
            "10:20:05.5: Error long alert after".to_string(),
        ),
    ];
    h.deliver(&sent);
    let got = rs.wait_for(2, WAIT, |r| r.msg.contains(" long alert"));
    assert_eq!(got.len(), 2);
    assert_eq!(stored_msg(&got[0]), long);
    assert_eq!(stored_msg(&got[1]), "10:20:05.5: Error long alert after");
}

/// Kill rsyslogd mid-stream, emit while it is down (counted as failed, never blocking), bring
/// it back, and check that every alert emitted after it came back was stored.
fn restart_mid_stream(address: fn(&Rsyslog) -> String, name: &str) {
    let mut rs = Rsyslog::start();
    let mut h = SyslogHarness::open(&address(&rs), SyslogFormat::Rfc3164, 1);
    let before: Vec<_> = (0..20)
        .map(|i| (Priority::Warning, format!("{name}-before #{i} alert")))
        .collect();
    h.deliver(&before);
    assert_eq!(
        rs.wait_for(20, WAIT, |r| r.msg.contains(&format!("{name}-before")))
            .len(),
        20
    );
    // Confirmed (TCP: acknowledged and settled) before the daemon dies.
    assert_eq!(h.settled_stats().delivered, 20);

    rs.kill();
    let down: Vec<_> = (0..50)
        .map(|i| (Priority::Error, format!("{name}-down #{i} alert")))
        .collect();
    let t = Instant::now();
    h.deliver(&down);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "blocked {:?} with the daemon down",
        t.elapsed()
    );
    assert_eq!(h.settled_stats().failed, 50, "{:?}", h.settled_stats());

    rs.restart();
    let after: Vec<_> = (0..200)
        .map(|i| (Priority::Critical, format!("{name}-after #{i} alert")))
        .collect();
    // Several batches, as a worker would hand them over.
    for chunk in after.chunks(25) {
        h.deliver(chunk);
    }
    let got = rs.wait_for(200, WAIT, |r| r.msg.contains(&format!("{name}-after")));
    let texts: Vec<&str> = got.iter().map(stored_msg).collect();
    let want: Vec<&str> = after.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts, want, "lost or reordered after the restart");
    let s = h.settled_stats();
    assert_eq!((s.delivered, s.failed, s.discarded), (220, 50, 0), "{s:?}");

    let logs = h.log_lines();
    let errors: Vec<_> = logs
        .iter()
        .filter(|l| l.contains("cannot deliver"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "one error for the outage, rate-limited: {logs:#?}"
    );
    assert!(errors[0].contains(&address(&rs)), "{logs:#?}");
    assert!(
        logs.iter()
            .any(|l| l.contains("delivering to") && l.contains("again")),
        "{logs:#?}"
    );
}

/// The daemon restarts between two alerts: the channel still holds a connection to the dead
/// one (a connected datagram socket, or a TCP connection the old daemon closed), and the first
/// alert after the restart must not vanish into it.
fn restart_between_alerts(address: fn(&Rsyslog) -> String, name: &str) {
    let mut rs = Rsyslog::start();
    let mut h = SyslogHarness::open(&address(&rs), SyslogFormat::Rfc3164, 1);
    h.deliver(&[(Priority::Notice, format!("{name} first alert"))]);
    assert_eq!(rs.wait_for(1, WAIT, |r| r.msg.contains(name)).len(), 1);
    rs.restart();
    for i in 0..5 {
        h.deliver(&[(Priority::Notice, format!("{name} next #{i} alert"))]);
    }
    let got = rs.wait_for(6, WAIT, |r| r.msg.contains(name));
    let texts: Vec<&str> = got.iter().map(stored_msg).collect();
    assert_eq!(texts.len(), 6, "{texts:#?}");
    assert_eq!(texts[1], format!("{name} next #0 alert"));
    let s = h.settled_stats();
    assert_eq!((s.delivered, s.failed), (6, 0), "{s:?}");
}

#[test]
fn restart_between_alerts_over_the_unix_socket() {
    restart_between_alerts(|rs| format!("unix://{}", rs.unix.display()), "unix-between");
}

#[test]
fn restart_between_alerts_over_tcp() {
    restart_between_alerts(
        |rs| format!("tcp://127.0.0.1:{}", rs.tcp_port),
        "tcp-between",
    );
}

#[test]
fn restart_over_the_unix_socket_loses_nothing_after_it_came_back() {
    restart_mid_stream(|rs| format!("unix://{}", rs.unix.display()), "unix-restart");
}

#[test]
fn restart_over_tcp_loses_nothing_after_it_came_back() {
    restart_mid_stream(
        |rs| format!("tcp://127.0.0.1:{}", rs.tcp_port),
        "tcp-restart",
    );
}
