//! Real `nats-server` processes on loopback for the NATS channel's tests: one server or a
//! three-node cluster (routes on loopback), JetStream on, each with its own store directory;
//! killed (SIGKILL), stopped (SIGSTOP) and restarted on the same ports and store. A JetStream
//! client (the same `async-nats` crate, on its own runtime) creates streams and reads back what
//! they hold.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};

pub const NATS_SERVER: &str = "nats-server";

/// True when nats-server runs here (else a loud skip, and a failure under CI=true).
pub fn have_nats() -> bool {
    crate::support::require(NATS_SERVER)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One server process's settings.
#[derive(Clone, Default)]
pub struct ServerOpts {
    /// `authorization { ... }` body, e.g. `token: "s3cret"`.
    pub auth: String,
    /// `tls { ... }` body.
    pub tls: String,
    /// Lines added to the configuration as they are (e.g. `operator: ...`, `resolver: MEMORY`).
    pub extra: String,
}

pub struct Node {
    pub name: String,
    pub port: u16,
    conf: PathBuf,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Node {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(NATS_SERVER)
            .arg("-c")
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        assert!(
            wait_listening(self.port, Duration::from_secs(20)),
            "{} does not listen on {} (log: {})",
            self.name,
            self.port,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Rewrites the configuration's `tls { ... }` block (`""`: none); takes effect at the next
    /// start (the store, and so the streams, stay).
    pub fn set_tls(&mut self, tls: &str) {
        let conf = std::fs::read_to_string(&self.conf).unwrap();
        let mut kept: String = conf
            .lines()
            .filter(|l| !l.starts_with("tls {"))
            .map(|l| format!("{l}\n"))
            .collect();
        if !tls.is_empty() {
            kept += &format!("tls {{ {tls} }}\n");
        }
        std::fs::write(&self.conf, kept).unwrap();
    }

    /// SIGKILL, and reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn signal(&self, sig: &str) {
        if let Some(pid) = self.pid() {
            let ok = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill -{sig} {pid}");
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal("CONT");
        }
        self.kill();
    }
}

/// True once something answers on the port with a NATS INFO line.
fn wait_listening(port: u16, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut line = String::new();
            if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("INFO") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// One server, or a cluster of several, with their directory.
pub struct Nats {
    pub nodes: Vec<Node>,
    /// Owns the configurations, stores and logs.
    _dir: tempfile::TempDir,
}

impl Nats {
    /// One server with JetStream.
    pub fn single(opts: ServerOpts) -> Nats {
        let mut n = Nats::configure(1, &opts);
        n.nodes[0].start();
        n
    }

    /// A single server configured but not started.
    pub fn single_stopped(opts: ServerOpts) -> Nats {
        Nats::configure(1, &opts)
    }

    /// Three servers with cluster routes on loopback.
    pub fn cluster3() -> Nats {
        let mut n = Nats::configure(3, &ServerOpts::default());
        for node in &mut n.nodes {
            node.start();
        }
        n
    }

    pub fn node(&mut self, name: &str) -> &mut Node {
        self.nodes.iter_mut().find(|n| n.name == name).unwrap()
    }

    fn configure(count: usize, opts: &ServerOpts) -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
        let mut nodes = Vec::new();
        for (i, (port, cport)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.path().join(format!("js-{name}"));
            let mut conf = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\n\
                 jetstream {{ store_dir: \"{}\", max_memory_store: 256MB, max_file_store: 4GB }}\n",
                store.display()
            );
            if !opts.auth.is_empty() {
                conf += &format!("authorization {{ {} }}\n", opts.auth);
            }
            if !opts.tls.is_empty() {
                conf += &format!("tls {{ {} }}\n", opts.tls);
            }
            conf += &opts.extra;
            if count > 1 {
                let routes: Vec<String> = ports
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, (_, c))| format!("nats-route://127.0.0.1:{c}"))
                    .collect();
                conf += &format!(
                    "cluster {{ name: fo, listen: 127.0.0.1:{cport}, routes: [{}] }}\n",
                    routes.join(", ")
                );
            }
            let path = dir.path().join(format!("{name}.conf"));
            std::fs::write(&path, conf).unwrap();
            nodes.push(Node {
                name: name.clone(),
                port: *port,
                conf: path,
                child: None,
                log: dir.path().join(format!("{name}.log")),
            });
        }
        Nats { nodes, _dir: dir }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    /// `[nats://..., ...]` for YAML.
    pub fn servers_yaml(&self) -> String {
        format!("[{}]", self.urls().join(", "))
    }
}

/// A JetStream client for the test's side.
pub struct Js {
    pub rt: tokio::runtime::Runtime,
    pub js: jetstream::Context,
}

/// What a stream holds, one message.
pub struct Stored {
    pub subject: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Stored {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Js {
    pub fn connect(urls: &[String]) -> Js {
        Js::connect_with(urls, async_nats::ConnectOptions::new())
    }

    pub fn connect_with(urls: &[String], opts: async_nats::ConnectOptions) -> Js {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt
            .block_on(
                opts.retry_on_initial_connect().connect(
                    urls.iter()
                        .map(|u| u.parse::<async_nats::ServerAddr>().unwrap())
                        .collect::<Vec<_>>(),
                ),
            )
            .unwrap();
        let _in_rt = rt.enter();
        let mut js = jetstream::new(client);
        js.set_timeout(Duration::from_secs(10));
        drop(_in_rt);
        Js { rt, js }
    }

    /// Creates the stream, retrying while the cluster elects its leaders (bounded: 60 s).
    pub fn create_stream(&self, cfg: stream::Config) {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            match self.rt.block_on(self.js.create_stream(cfg.clone())) {
                Ok(_) => return,
                Err(e) if Instant::now() < end => {
                    eprintln!("create_stream {}: {e}; retrying", cfg.name);
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("create_stream {}: {e}", cfg.name),
            }
        }
    }

    pub fn info(&self, name: &str) -> Option<stream::Info> {
        self.rt.block_on(async {
            let mut s = self.js.get_stream(name).await.ok()?;
            s.info().await.ok().cloned()
        })
    }

    /// The stream's message count (bounded retries while a cluster settles).
    pub fn count(&self, name: &str) -> u64 {
        for _ in 0..100 {
            if let Some(i) = self.info(name) {
                return i.state.messages;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("no info for stream {name}");
    }

    /// The stream's leader's server name (bounded retries while it is being elected).
    pub fn leader(&self, name: &str) -> String {
        for _ in 0..150 {
            if let Some(l) = self.info(name).and_then(|i| i.cluster?.leader) {
                return l;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("stream {name} has no leader");
    }

    /// Every message of the stream, in stream order.
    pub fn messages(&self, name: &str) -> Vec<Stored> {
        let info = self.info(name).expect("stream exists");
        let (first, last) = (info.state.first_sequence, info.state.last_sequence);
        self.rt.block_on(async {
            let s = self.js.get_stream(name).await.unwrap();
            let mut out = Vec::new();
            if info.state.messages == 0 {
                return out;
            }
            for seq in first..=last {
                let mut tries = 0;
                let m = loop {
                    match s.get_raw_message(seq).await {
                        Ok(m) => break Some(m),
                        Err(e) if e.to_string().contains("not found") => break None,
                        Err(e) => {
                            tries += 1;
                            assert!(tries < 600, "get seq {seq}: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                };
                let Some(m) = m else { continue };
                let headers = m
                    .headers
                    .iter()
                    .flat_map(|(k, vs)| {
                        vs.iter()
                            .map(move |v| (k.to_string(), v.as_str().to_string()))
                    })
                    .collect();
                out.push(Stored {
                    subject: m.subject.to_string(),
                    headers,
                    body: m.payload.to_vec(),
                });
            }
            out
        })
    }
}

/// A stream config: file storage, `replicas`, the subjects.
pub fn stream_config(name: &str, subjects: &[&str], replicas: usize) -> stream::Config {
    stream::Config {
        name: name.to_string(),
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        num_replicas: replicas,
        storage: stream::StorageType::File,
        ..Default::default()
    }
}
