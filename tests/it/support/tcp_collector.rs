//! A misbehaving TCP syslog collector on 127.0.0.1: per connection it reads a given number of
//! bytes and then resets the connection (SO_LINGER 0: an RST, its unread receive buffer thrown
//! away), or reads until the peer closes. It keeps what it read, per connection, and parses the
//! RFC 6587 octet-counted frames out of it. [`Collector::start_tls`] does the same inside TLS
//! (OpenSSL's server side, the test's certificates): the budgets count decrypted bytes, and a
//! reset is the same RST under the TLS session.

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;

use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the collector does with the connection number `i` (0-based).
#[derive(Clone)]
pub enum Policy {
    /// Reset every connection as soon as it is accepted.
    ResetAtAccept,
    /// Read `budgets[i]` bytes then reset; connections past the list read until end of file.
    ResetAfter(Vec<usize>),
    /// Read `n` bytes then reset, every connection.
    AlwaysResetAfter(usize),
}

pub struct Collector {
    pub port: u16,
    /// Bytes read, one entry per accepted connection.
    conns: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

/// Reads at most `budget` bytes (all of them if `None`), giving up 10 s after the last byte.
fn read_some(s: &mut impl Read, budget: Option<usize>, into: &Mutex<Vec<Vec<u8>>>, slot: usize) {
    let mut buf = [0u8; 4096];
    let mut got = 0;
    loop {
        let want = budget.map_or(buf.len(), |b| (b - got).min(buf.len()));
        if want == 0 {
            return;
        }
        match s.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                got += n;
                into.lock().unwrap()[slot].extend_from_slice(&buf[..n]);
            }
        }
    }
}

impl Collector {
    pub fn start(policy: Policy) -> Collector {
        Self::start_with(policy, None)
    }

    /// The same collector behind TLS, presenting `<certs>/server.pem` (localhost, 127.0.0.1).
    pub fn start_tls(policy: Policy, certs: &Path) -> Collector {
        let mut a = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        a.set_certificate_chain_file(certs.join("server.pem"))
            .unwrap();
        a.set_private_key_file(certs.join("server.key"), SslFiletype::PEM)
            .unwrap();
        Self::start_with(policy, Some(a.build()))
    }

    fn start_with(policy: Policy, tls: Option<SslAcceptor>) -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let readers = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (conns, stop, readers) = (conns.clone(), stop.clone(), readers.clone());
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut s = match listener.accept() {
                        Ok((s, _)) => s,
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                    };
                    s.set_nonblocking(false).unwrap();
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    let slot = {
                        let mut c = conns.lock().unwrap();
                        c.push(Vec::new());
                        c.len() - 1
                    };
                    let budget = match &policy {
                        Policy::ResetAtAccept => Some(0),
                        Policy::ResetAfter(b) => b.get(i).copied(),
                        Policy::AlwaysResetAfter(n) => Some(*n),
                    };
                    i += 1;
                    let Some(tls) = &tls else {
                        match budget {
                            Some(n) => {
                                read_some(&mut s, Some(n), &conns, slot);
                                reset(s);
                            }
                            None => {
                                let conns = conns.clone();
                                readers.lock().unwrap().push(std::thread::spawn(move || {
                                    read_some(&mut s, None, &conns, slot)
                                }));
                            }
                        }
                        continue;
                    };
                    if budget == Some(0) {
                        reset(s);
                        continue;
                    }
                    let Ok(mut s) = tls.accept(s) else { continue };
                    match budget {
                        Some(n) => {
                            read_some(&mut s, Some(n), &conns, slot);
                            let _ = socket2::SockRef::from(s.get_ref())
                                .set_linger(Some(Duration::ZERO));
                            drop(s);
                        }
                        None => {
                            let conns = conns.clone();
                            readers.lock().unwrap().push(std::thread::spawn(move || {
                                read_some(&mut s, None, &conns, slot)
                            }));
                        }
                    }
                }
            })
        };
        Collector {
            port,
            conns,
            stop,
            thread: Some(thread),
            readers,
        }
    }

    pub fn connections(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// Every whole message read, in order, across connections (a frame cut by a reset is not
    /// one).
    pub fn messages(&self) -> Vec<String> {
        let conns = self.conns.lock().unwrap();
        conns.iter().flat_map(|c| octet_counted(c)).collect()
    }

    /// Waits (bounded) until `pred` holds for the messages read.
    pub fn wait_for(&self, limit: Duration, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let m = self.messages();
            if pred(&m) || Instant::now() >= deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `LEN SP MSG` frames; stops at the first incomplete or malformed one.
pub fn octet_counted(mut b: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(sp) = b.iter().position(|&c| c == b' ') {
        let Some(len) = std::str::from_utf8(&b[..sp])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            break;
        };
        if b.len() < sp + 1 + len {
            break;
        }
        out.push(String::from_utf8_lossy(&b[sp + 1..sp + 1 + len]).into_owned());
        b = &b[sp + 1 + len..];
    }
    out
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for r in self.readers.lock().unwrap().drain(..) {
            let _ = r.join();
        }
    }
}
