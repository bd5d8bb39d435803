//! The http channel's helpers: the scriptable test server (`http_server.py` beside this file)
//! and test certificates made with the openssl CLI.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use falco_outputs::testing::{HttpConfig, HttpTransportConfig};

/// Test PKI: a CA, a server certificate for 127.0.0.1/localhost, a client certificate.
pub struct Certs {
    /// Owns the files above.
    _dir: tempfile::TempDir,
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
        // Kept for the whole run (a static is never dropped), under cargo's tmp dir.
        let tmp = tempfile::Builder::new()
            .prefix("http-certs-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let dir = tmp.path().to_path_buf();
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
            _dir: tmp,
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
    /// Parse every body with the official OTLP schema (needs scripts/pyenv's Python).
    pub otlp: bool,
}

/// The Python of scripts/pyenv (the official parsers), set up on first use. `None` (the test
/// skips loudly) when it cannot be set up; under `CI=true` that fails the test instead.
pub fn pyenv_python() -> Option<PathBuf> {
    static PY: OnceLock<Option<PathBuf>> = OnceLock::new();
    PY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pyenv");
        let out = Command::new(script).stdin(Stdio::null()).output();
        match out {
            Ok(o) if o.status.success() => {
                Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            }
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "scripts/pyenv failed (CI=true: it must work): {why}"
                );
                eprintln!("SKIPPED: scripts/pyenv failed ({why}). THIS TEST DID NOT RUN.");
                None
            }
        }
    })
    .clone()
}

/// The Python test server as a child process, killed on drop.
pub struct Server {
    child: Child,
    tls: bool,
    pub port: u16,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start(opts: ServerOpts) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let port_file = dir.path().join("port");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/http_server.py");
        let python = if opts.otlp {
            pyenv_python().expect("scripts/pyenv (check with pyenv_python() first)")
        } else {
            PathBuf::from("python3")
        };
        let mut cmd = Command::new(python);
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
        if opts.otlp {
            cmd.arg("--otlp");
        }
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
        let mut child = cmd.spawn().expect("start python3 test server");
        // Python's start-up takes seconds on a loaded machine. A server that is given up on is
        // killed: left running, it would hold the test binary's stdout open (a piped
        // `cargo test` never ends).
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&port_file) {
                break p.trim().parse().expect("port");
            }
            let exited = child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("test server did not start (exit status: {exited:?})");
            }
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
        transport: HttpTransportConfig {
            url: url.parse().unwrap(),
            timeout_ms: 2000,
            retry_max_backoff_ms: 200,
            ..HttpTransportConfig::default()
        },
        ..HttpConfig::default()
    }
}

pub fn alert_lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{{\"output\":\"{prefix} alert {i}\",\"seq\":{i}}}"))
        .collect()
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
