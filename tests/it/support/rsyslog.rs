//! A real rsyslogd for tests: its own config, sockets and output file in a temp dir, loopback
//! UDP and TCP ports, never the system's /dev/log. It stores every message it receives as one
//! line `input|facility|severity|tag|app-name|procid|hostname|timereported|msg`.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Where Debian's rsyslog package puts the daemon; `RSYSLOGD` overrides it.
pub fn rsyslogd_path() -> PathBuf {
    std::env::var_os("RSYSLOGD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/rsyslogd"))
}

/// One message as rsyslog stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub input: String,
    pub facility: u8,
    pub severity: u8,
    pub tag: String,
    pub app_name: String,
    pub procid: String,
    pub hostname: String,
    pub time_reported: String,
    pub msg: String,
}

pub struct Rsyslog {
    pub dir: PathBuf,
    /// Owns `dir`; kept (not removed) when the test failed, for a post-mortem.
    tmp: Option<tempfile::TempDir>,
    /// imuxsock with its defaults: parsed the way a system /dev/log is (special parser).
    pub unix: PathBuf,
    /// imuxsock with the regular parser chain (RFC 5424 understood), hostname parsing on.
    pub unix5424: PathBuf,
    pub udp_port: u16,
    pub tcp_port: u16,
    /// imrelp (Debian `rsyslog-relp`), on a ruleset with a direct queue: rsyslogd answers
    /// `200 OK` only once the message is written to `relp.log`, so a kill -9 cannot take back
    /// an acknowledged message.
    pub relp_port: u16,
    out: PathBuf,
    relp_out: PathBuf,
    conf: PathBuf,
    pidfile: PathBuf,
    child: Option<Child>,
    probes: u32,
}

const READY_WAIT: Duration = Duration::from_secs(15);

/// A port free for both TCP and UDP, below the ephemeral range (32768+ on Linux) so that no
/// outgoing connection of a parallel test takes it between our check and rsyslogd's bind, or
/// while rsyslogd is down for a restart.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(97);
    for _ in 0..2_000 {
        let port =
            (20_000 + offset.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 32000");
}

impl Rsyslog {
    /// Starts rsyslogd and waits (bounded) until all of its inputs store messages.
    pub fn start() -> Rsyslog {
        let bin = rsyslogd_path();
        assert!(
            bin.exists(),
            "rsyslogd not found at {}: these tests need a real rsyslogd (Debian packages `rsyslog` and `rsyslog-relp`; \
             scripts/deps installs it, or set RSYSLOGD=/path/to/rsyslogd)",
            bin.display()
        );
        let tmp = tempfile::Builder::new()
            .prefix("fo-rsyslog-")
            .tempdir()
            .expect("create rsyslog temp dir");
        let dir = tmp.path().to_path_buf();
        let mut r = Rsyslog {
            unix: dir.join("log.sock"),
            unix5424: dir.join("log5424.sock"),
            udp_port: free_port(),
            tcp_port: free_port(),
            relp_port: free_port(),
            out: dir.join("out.log"),
            relp_out: dir.join("relp.log"),
            conf: dir.join("rsyslog.conf"),
            pidfile: dir.join("rsyslogd.pid"),
            dir,
            tmp: Some(tmp),
            child: None,
            probes: 0,
        };
        r.write_conf();
        r.spawn();
        r.wait_ready();
        r
    }

    fn write_conf(&self) {
        let conf = format!(
            r#"global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{unix}" RateLimit.Interval="0")
input(type="imuxsock" Socket="{unix5424}" RateLimit.Interval="0" UseSpecialParser="off" ParseHostname="on" IgnoreTimestamp="off")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="t" type="string" string="%inputname%|%syslogfacility%|%syslogseverity%|%syslogtag%|%app-name%|%procid%|%hostname%|%timereported:::date-rfc3339%|%msg%\n")
action(type="omfile" file="{out}" template="t")
module(load="imrelp")
input(type="imrelp" address="127.0.0.1" port="{relp}" ruleset="relp")
ruleset(name="relp" queue.type="Direct") {{
  action(type="omfile" file="{relp_out}" template="t")
}}
"#,
            dir = self.dir.display(),
            unix = self.unix.display(),
            unix5424 = self.unix5424.display(),
            udp = self.udp_port,
            tcp = self.tcp_port,
            out = self.out.display(),
            relp = self.relp_port,
            relp_out = self.relp_out.display(),
        );
        fs::write(&self.conf, conf).expect("write rsyslog.conf");
    }

    fn spawn(&mut self) {
        let _ = fs::remove_file(&self.pidfile);
        let log = fs::File::create(self.dir.join("rsyslogd.stderr")).expect("rsyslogd log file");
        let child = Command::new(rsyslogd_path())
            .arg("-n")
            .arg("-f")
            .arg(&self.conf)
            .arg("-i")
            .arg(&self.pidfile)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", rsyslogd_path().display()));
        self.child = Some(child);
    }

    /// What rsyslogd printed, for failure messages.
    pub fn daemon_output(&self) -> String {
        fs::read_to_string(self.dir.join("rsyslogd.stderr")).unwrap_or_default()
    }

    /// Ready = a probe sent through each input (both unix sockets, UDP, TCP, RELP) is stored. Probes are retried every 50 ms, for at most [`READY_WAIT`].
    pub fn wait_ready(&mut self) {
        self.probes += 1;
        let round = self.probes;
        let names = ["unix", "unix5424", "udp", "tcp", "relp"];
        let mut seen = [false; 5];
        let deadline = Instant::now() + READY_WAIT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "rsyslogd exited ({status}) during startup:\n{}",
                        self.daemon_output()
                    );
                }
            }
            for (i, name) in names.iter().enumerate() {
                if !seen[i] {
                    let frame = format!("<13>Jan  1 00:00:00 probe: ready {round} {name}");
                    let _ = self.send_raw(name, frame.as_bytes());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
            let records = self.records();
            for (i, name) in names.iter().enumerate() {
                let want = format!("ready {round} {name}");
                seen[i] |= records
                    .iter()
                    .any(|r| r.tag == "probe:" && r.msg.trim() == want);
            }
            if seen.iter().all(|&s| s) {
                return;
            }
        }
        panic!(
            "rsyslogd not ready after {READY_WAIT:?} (inputs seen: {seen:?} for {names:?}):\n{}",
            self.daemon_output()
        );
    }

    fn send_raw(&self, input: &str, frame: &[u8]) -> std::io::Result<()> {
        match input {
            "unix" | "unix5424" => {
                let s = UnixDatagram::unbound()?;
                let path = if input == "unix" {
                    &self.unix
                } else {
                    &self.unix5424
                };
                s.send_to(frame, path).map(|_| ())
            }
            "udp" => {
                let s = UdpSocket::bind("127.0.0.1:0")?;
                s.send_to(frame, ("127.0.0.1", self.udp_port)).map(|_| ())
            }
            "relp" => {
                // A whole RELP session, framed here by hand (not by the library under test).
                let mut s = TcpStream::connect_timeout(
                    &([127, 0, 0, 1], self.relp_port).into(),
                    Duration::from_millis(200),
                )?;
                let offers = "relp_version=0\nrelp_software=probe\ncommands=syslog";
                let mut session = format!("1 open {} {offers}\n", offers.len()).into_bytes();
                session.extend_from_slice(format!("2 syslog {} ", frame.len()).as_bytes());
                session.extend_from_slice(frame);
                session.extend_from_slice(b"\n3 close 0\n");
                s.write_all(&session)?;
                s.set_read_timeout(Some(Duration::from_millis(500)))?;
                let mut answers = Vec::new();
                let _ = s.read_to_end(&mut answers);
                Ok(())
            }
            _ => {
                let mut s = TcpStream::connect_timeout(
                    &([127, 0, 0, 1], self.tcp_port).into(),
                    Duration::from_millis(200),
                )?;
                s.write_all(format!("{} ", frame.len()).as_bytes())?;
                s.write_all(frame)
            }
        }
    }

    /// SIGSTOP (`freeze: true`) or SIGCONT: while frozen, what it stored cannot change and what
    /// it was sent waits in its socket buffers.
    pub fn freeze(&self, freeze: bool) {
        let child = self.child.as_ref().expect("rsyslogd is running");
        let sig = if freeze { libc::SIGSTOP } else { libc::SIGCONT };
        // SAFETY: kill(2) with our own child's pid (not yet waited for, so not reused).
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
    }

    /// SIGKILL, as a crash or an OOM kill would: no goodbye on any socket.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the daemon again on the same sockets and ports and waits until it is ready.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
        self.wait_ready();
    }

    /// Everything stored so far (RELP's file after the others).
    pub fn records(&self) -> Vec<Record> {
        let mut text = fs::read_to_string(&self.out).unwrap_or_default();
        text.push_str(&fs::read_to_string(&self.relp_out).unwrap_or_default());
        parse_records(&text)
    }

    /// Waits (at most `timeout`) until `n` stored records satisfy `pred`; returns them.
    pub fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&Record) -> bool,
    ) -> Vec<Record> {
        let deadline = Instant::now() + timeout;
        loop {
            let got: Vec<Record> = self.records().into_iter().filter(|r| pred(r)).collect();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Records in the `input|facility|...|msg` lines of the test template.
pub fn parse_records(text: &str) -> Vec<Record> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(9, '|').collect();
            if f.len() != 9 {
                return None;
            }
            Some(Record {
                input: f[0].into(),
                facility: f[1].parse().ok()?,
                severity: f[2].parse().ok()?,
                tag: f[3].into(),
                app_name: f[4].into(),
                procid: f[5].into(),
                hostname: f[6].into(),
                time_reported: f[7].into(),
                msg: f[8].into(),
            })
        })
        .collect()
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.kill();
        if let Some(tmp) = self.tmp.take() {
            if std::thread::panicking() {
                let _ = tmp.keep();
            }
        }
    }
}
