//! A scripted RELP server on 127.0.0.1, framed by hand (independently of the library), for the
//! faults a real rsyslogd does not produce on cue: no answers, refusals, garbage.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the server answers a `syslog` command.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// `200 OK`.
    Ok,
    /// Never answers (the session stays open).
    Never,
    /// `500 <text>`: a refusal.
    Refuse,
    /// Bytes that are not RELP.
    Garbage,
}

/// What the server saw on one connection.
#[derive(Default, Debug, Clone)]
pub struct Session {
    /// The `syslog` messages received, in order.
    pub messages: Vec<String>,
}

pub struct RelpServer {
    pub port: u16,
    pub sessions: Arc<Mutex<Vec<Session>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Reads one frame: (txnr, command, data); `None` at end of file or on a malformed frame.
fn read_frame(r: &mut BufReader<TcpStream>) -> Option<(String, String, Vec<u8>)> {
    let mut head = Vec::new();
    for _ in 0..3 {
        let mut field = Vec::new();
        // TXNR, COMMAND: up to a space; DATALEN: up to a space or the LF of an empty frame.
        loop {
            let mut b = [0u8];
            r.read_exact(&mut b).ok()?;
            if b[0] == b' ' || (head.len() == 2 && b[0] == b'\n') {
                if head.len() == 2 && b[0] == b'\n' {
                    head.push(String::from_utf8(field).ok()?);
                    return Some((head[0].clone(), head[1].clone(), Vec::new()));
                }
                break;
            }
            field.push(b[0]);
        }
        head.push(String::from_utf8(field).ok()?);
    }
    let len: usize = head[2].parse().ok()?;
    let mut data = vec![0u8; len];
    r.read_exact(&mut data).ok()?;
    let mut lf = Vec::new();
    r.read_until(b'\n', &mut lf).ok()?;
    Some((head[0].clone(), head[1].clone(), data))
}

fn rsp(w: &mut TcpStream, txnr: &str, data: &str) -> std::io::Result<()> {
    w.write_all(format!("{txnr} rsp {} {data}\n", data.len()).as_bytes())
}

fn serve(s: TcpStream, answer: Answer, session: usize, sessions: &Mutex<Vec<Session>>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    while let Some((txnr, command, data)) = read_frame(&mut r) {
        let ok = match command.as_str() {
            "open" => rsp(
                &mut w,
                &txnr,
                "200 OK\nrelp_version=0\nrelp_software=test\ncommands=syslog",
            ),
            "close" => {
                let _ = rsp(&mut w, &txnr, "");
                let _ = w.write_all(b"0 serverclose 0\n");
                return;
            }
            "syslog" => {
                sessions.lock().unwrap()[session]
                    .messages
                    .push(String::from_utf8_lossy(&data).into_owned());
                match answer {
                    Answer::Ok => rsp(&mut w, &txnr, "200 OK"),
                    Answer::Never => Ok(()),
                    Answer::Refuse => rsp(&mut w, &txnr, "500 message refused"),
                    Answer::Garbage => w.write_all(b"\xff\xfe not relp at all\n"),
                }
            }
            _ => rsp(&mut w, &txnr, "500 unknown command"),
        };
        if ok.is_err() {
            return;
        }
    }
}

impl RelpServer {
    pub fn start(answer: Answer) -> RelpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let sessions: Arc<Mutex<Vec<Session>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (sessions, stop) = (sessions.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut handlers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(false).unwrap();
                            let n = {
                                let mut v = sessions.lock().unwrap();
                                v.push(Session::default());
                                v.len() - 1
                            };
                            let sessions = sessions.clone();
                            handlers
                                .push(std::thread::spawn(move || serve(s, answer, n, &sessions)));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
                drop(handlers);
            })
        };
        RelpServer {
            port,
            sessions,
            stop,
            thread: Some(thread),
        }
    }

    pub fn sessions(&self) -> Vec<Session> {
        self.sessions.lock().unwrap().clone()
    }
}

impl Drop for RelpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
