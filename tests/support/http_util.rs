//! Shared by the http channel's tests: the scriptable test server (tests/support/http_server.py),
//! test certificates made with the openssl CLI, a hand-built `ChannelCtx` and a worker-like
//! driver loop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use falco_outputs::alert::Priority;
use falco_outputs::config::HttpConfig;
use falco_outputs::log::Logger;
use falco_outputs::outputs::{Batch, Channel, ChannelCtx};
use falco_outputs::stats::{ChannelStats, StatsSnapshot};

/// A fresh directory under cargo's per-test tmp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "http-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Skips loudly when a tool the test needs is absent (scripts/deps installs them).
pub fn require(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!("SKIPPED: `{tool}` is not installed; run scripts/deps. THIS TEST DID NOT RUN.");
    }
    ok
}

/// Test PKI: a CA, a server certificate for 127.0.0.1/localhost, a client certificate.
pub struct Certs {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A directory holding only the CA, hashed with `openssl rehash` (for `ca_path`).
    pub ca_dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("http-certs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=falco-outputs test CA",
        ]);
        openssl(&dir, &ca);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for who in ["server", "client"] {
            let mut req = vec!["req"];
            req.extend(ec);
            let key = format!("{who}.key");
            let csr = format!("{who}.csr");
            let subj = format!(
                "/CN={}",
                if who == "server" {
                    "localhost"
                } else {
                    "falco-client"
                }
            );
            req.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(&dir, &req);
            let pem = format!("{who}.pem");
            let ext = format!("{who}.ext");
            openssl(
                &dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &pem,
                    "-days",
                    "2",
                    "-extfile",
                    &ext,
                ],
            );
        }
        let ca_dir = dir.join("capath");
        std::fs::create_dir_all(&ca_dir).unwrap();
        std::fs::copy(dir.join("ca.pem"), ca_dir.join("test-ca.pem")).unwrap();
        openssl(&dir, &["rehash", ca_dir.to_str().unwrap()]);
        Certs {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            ca_dir,
            dir,
        }
    })
}

#[derive(Default, Clone)]
pub struct ServerOpts {
    pub tls: bool,
    pub require_client_cert: bool,
    pub script: String,
    pub reply: Option<String>,
    /// A fixed port (for "down, then up"); 0 = any free port.
    pub port: u16,
}

/// The Python test server as a child process, killed on drop.
pub struct Server {
    child: Child,
    tls: bool,
    pub port: u16,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Server {
    pub fn start(opts: ServerOpts) -> Server {
        let dir = TempDir::new("server");
        let log = dir.path("requests.jsonl");
        let port_file = dir.path("port");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/http_server.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .arg("--port")
            .arg(opts.port.to_string())
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .arg("--script")
            .arg(&opts.script)
            .stdin(Stdio::null());
        if let Some(r) = &opts.reply {
            cmd.arg("--reply").arg(r);
        }
        if opts.tls {
            let c = certs();
            cmd.arg("--cert")
                .arg(&c.server_cert)
                .arg("--key")
                .arg(&c.server_key);
            if opts.require_client_cert {
                cmd.arg("--client-ca").arg(&c.ca);
            }
        }
        let child = cmd.spawn().expect("start python3 test server");
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p.trim().parse().expect("port");
            }
            assert!(Instant::now() < deadline, "test server did not start");
            std::thread::sleep(Duration::from_millis(10));
        };
        Server {
            child,
            tls: opts.tls,
            port,
            log,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits (bounded) until the server logged at least `n` requests.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self.requests();
            if r.len() >= n || Instant::now() >= deadline {
                return r;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (for "endpoint down").
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn header<'a>(req: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    req["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
        .and_then(|h| h[1].as_str())
}

/// The configuration's defaults, with test-sized timeouts.
pub fn http_config(url: &str) -> HttpConfig {
    HttpConfig {
        enabled: true,
        url: url.to_string(),
        timeout_ms: 2000,
        retry_max_backoff_ms: 200,
        ..HttpConfig::default()
    }
}

/// A ChannelCtx as the dispatcher builds it, with the log captured.
pub struct Ctx {
    pub ctx: ChannelCtx,
    pub logs: Arc<Mutex<Vec<(i32, String)>>>,
}

impl Ctx {
    pub fn new() -> Ctx {
        let logs: Arc<Mutex<Vec<(i32, String)>>> = Arc::default();
        let sink = logs.clone();
        let log =
            Logger::from_fn(move |level, msg| sink.lock().unwrap().push((level, msg.to_string())));
        Ctx {
            ctx: ChannelCtx {
                name: "http",
                log,
                stats: Arc::new(ChannelStats::default()),
                buffered: false,
                output_timeout: Duration::from_millis(2000),
                closing: Arc::new(AtomicBool::new(false)),
                aborting: Arc::new(AtomicBool::new(false)),
            },
            logs,
        }
    }
    pub fn logger(&self) -> Logger {
        self.ctx.log.clone()
    }
    pub fn stats(&self) -> StatsSnapshot {
        self.ctx.stats.snapshot()
    }
    pub fn log_text(&self) -> String {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .map(|(l, m)| format!("[{l}] {m}\n"))
            .collect()
    }
    /// Sets `aborting` after `after`, as close's deadline would.
    pub fn abort_after(&self, after: Duration) {
        let flag = self.ctx.aborting.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            flag.store(true, Ordering::Release);
        });
    }
}

/// A batch as the worker formats it: each line followed by `\n`.
pub fn batch_of<S: AsRef<str>>(lines: &[S]) -> Batch {
    let mut b = Batch::default();
    for l in lines {
        b.push_line(l.as_ref().as_bytes(), Priority::Warning, 0);
    }
    b
}

pub fn alert_lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{{\"output\":\"{prefix} alert {i}\",\"seq\":{i}}}"))
        .collect()
}

/// What the worker does while idle: tick at next_wake (at least once a second), until `done`.
pub fn drive(
    ch: &mut dyn Channel,
    ctx: &ChannelCtx,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let wake = ch
            .next_wake()
            .unwrap_or(now + Duration::from_secs(1))
            .min(now + Duration::from_millis(50));
        if wake > now {
            std::thread::sleep(wake - now);
        }
        ch.tick(ctx);
    }
}

/// The bodies the server got, split into lines (a batch body holds several).
pub fn received_lines(reqs: &[serde_json::Value]) -> Vec<String> {
    reqs.iter()
        .filter(|r| r["action"].as_str().is_some_and(|a| a.starts_with('2')))
        .flat_map(|r| {
            r["body"]
                .as_str()
                .unwrap_or("")
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}
