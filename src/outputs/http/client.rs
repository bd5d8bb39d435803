//! One libcurl easy handle driven through a multi handle, so that a request in progress can be
//! abandoned within 100 ms when the close deadline passes, and so that kept-alive connections live
//! in the multi handle's cache between requests.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use curl::easy::{Easy2, Handler, List, WriteError};
use curl::multi::{Easy2Handle, Multi};

use crate::config::{HttpConfig, HttpMethod, HttpTransportConfig};
use crate::error::InitError;
use crate::sys;

/// How often a request in progress checks whether it must give up.
const ABORT_POLL: Duration = Duration::from_millis(100);

/// Receives the response: echoes it to stdout (Falco's `echo`), keeps its first bytes and its
/// `Retry-After`.
struct Collector {
    echo: bool,
    /// How much of the answer `body_prefix` keeps.
    keep: usize,
    body_prefix: Vec<u8>,
    retry_after: Option<String>,
}

impl Handler for Collector {
    fn write(&mut self, data: &[u8]) -> Result<usize, WriteError> {
        if self.echo {
            // Falco lets libcurl fwrite the answer to stdout; same bytes, same place.
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(data).and_then(|_| out.flush());
        }
        let room = self.keep.saturating_sub(self.body_prefix.len());
        self.body_prefix
            .extend_from_slice(&data[..room.min(data.len())]);
        Ok(data.len())
    }

    fn header(&mut self, data: &[u8]) -> bool {
        if data.starts_with(b"HTTP/") {
            // A new response (after a 100 Continue, say): forget the previous one's headers.
            self.retry_after = None;
        } else if let Some((name, value)) = split_header(data) {
            if name.eq_ignore_ascii_case("retry-after") {
                self.retry_after = Some(value.to_string());
            }
        }
        true
    }
}

fn split_header(line: &[u8]) -> Option<(&str, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let (name, value) = line.split_once(':')?;
    Some((name.trim(), value.trim()))
}

/// What one attempt came to.
pub enum Outcome {
    /// The server answered.
    Status {
        code: u32,
        retry_after: Option<String>,
        body_prefix: Vec<u8>,
    },
    /// No answer: connection refused, TLS failure, timeout...
    Transport { message: String, timeout: bool },
    /// Given up because the close deadline passed.
    Aborted,
}

pub struct Client {
    multi: Multi,
    easy: Option<Easy2<Collector>>,
}

// SAFETY: libcurl lets a handle move between threads as long as one thread at a time uses it
// ("you can pass the handles around among threads"). `Client` owns both handles, is not `Sync`,
// and is opened on the host's thread then used only by the channel's worker.
unsafe impl Send for Client {}

/// How requests are made beyond the transport's keys: `http_output`'s own keys, fixed for
/// OTLP.
#[derive(Clone, Copy)]
pub struct Requests {
    pub method: HttpMethod,
    /// Each answer's body is printed to stdout (Falco's `echo`).
    pub echo: bool,
    /// Timeouts in a row after which a batch is dropped instead of retried; 0 = never.
    pub max_consecutive_timeouts: u32,
}

impl Requests {
    /// `http_output`'s keys.
    pub fn of(http: &HttpConfig) -> Requests {
        Requests {
            method: http.method,
            echo: http.echo,
            max_consecutive_timeouts: http.max_consecutive_timeouts,
        }
    }
}

impl Client {
    /// Sets up the handle from the configuration (`block` names it in errors); `content_type`
    /// is the channel's fixed one; the first `keep` bytes of each answer are kept.
    pub fn open(
        http: &HttpTransportConfig,
        requests: Requests,
        block: &str,
        content_type: &str,
        keep: usize,
    ) -> Result<Client, InitError> {
        init_libcurl(block)?;
        let mut easy = Easy2::new(Collector {
            echo: requests.echo,
            keep,
            body_prefix: Vec::new(),
            retry_after: None,
        });
        configure(&mut easy, http, requests.method, content_type).map_err(|(key, e)| {
            InitError::config(format!(
                "{block}.{key}: libcurl refused it: {}",
                describe(&e)
            ))
        })?;
        // libcurl 7.88 makes the multi handle's wake-up socketpair without close-on-exec: the
        // host's own fork+exec would hand it to the child. Marked here, right after.
        let before = sys::open_fds();
        let multi = Multi::new();
        sys::cloexec_new_unix_sockets(&before);
        Ok(Client {
            multi,
            easy: Some(easy),
        })
    }

    /// Sends one request with `body` and waits for the answer, giving up when `abort()` says so.
    pub fn send(&mut self, body: &[u8], abort: &dyn Fn() -> bool) -> Outcome {
        let Some(mut easy) = self.easy.take() else {
            return transport_msg("the libcurl handle was lost after an earlier multi error");
        };
        easy.get_mut().body_prefix.clear();
        easy.get_mut().retry_after = None;
        if let Err(e) = easy.post_fields_copy(body) {
            self.easy = Some(easy);
            return transport(&e);
        }
        let handle = match self.multi.add2(easy) {
            Ok(h) => h,
            // Only out of memory or a libcurl bug get here; the handle is gone with it.
            Err(e) => return transport_msg(&format!("libcurl multi error: {}", e.description())),
        };
        let (result, handle) = self.drive(handle, abort);
        let mut easy = match self.multi.remove2(handle) {
            Ok(easy) => easy,
            Err(e) => return transport_msg(&format!("libcurl multi error: {}", e.description())),
        };
        let outcome = match result {
            None => Outcome::Aborted,
            Some(Err(e)) => transport(&e),
            Some(Ok(())) => Outcome::Status {
                code: easy.response_code().unwrap_or(0),
                retry_after: easy.get_mut().retry_after.take(),
                body_prefix: std::mem::take(&mut easy.get_mut().body_prefix),
            },
        };
        self.easy = Some(easy);
        outcome
    }

    /// Runs the transfer; `None` when aborted.
    fn drive(
        &self,
        handle: Easy2Handle<Collector>,
        abort: &dyn Fn() -> bool,
    ) -> (Option<Result<(), curl::Error>>, Easy2Handle<Collector>) {
        loop {
            let running = match self.multi.perform() {
                Ok(n) => n,
                Err(_) => return (Some(Err(failed_init())), handle),
            };
            if running == 0 {
                let mut result = None;
                self.multi.messages(|m| {
                    if let Some(r) = m.result_for2(&handle) {
                        result = Some(r);
                    }
                });
                let result = result.unwrap_or_else(|| Err(failed_init()));
                return (Some(result), handle);
            }
            if abort() {
                return (None, handle);
            }
            if self.multi.wait(&mut [], ABORT_POLL).is_err() {
                return (Some(Err(failed_init())), handle);
            }
        }
    }
}

fn failed_init() -> curl::Error {
    // CURLE_FAILED_INIT: the multi interface itself failed, which only a libcurl bug causes.
    curl::Error::new(2)
}

fn transport(e: &curl::Error) -> Outcome {
    Outcome::Transport {
        message: describe(e),
        timeout: e.is_operation_timedout(),
    }
}

fn transport_msg(message: &str) -> Outcome {
    Outcome::Transport {
        message: message.to_string(),
        timeout: false,
    }
}

/// libcurl's global state, set up once per process (see docs/http.md, "libcurl global initialisation and the host").
fn init_libcurl(block: &str) -> Result<(), InitError> {
    // curl::init runs curl_global_init(CURL_GLOBAL_ALL) under a Once and asserts it succeeded;
    // a failure there must become an init error, not a panic across the C ABI.
    std::panic::catch_unwind(curl::init)
        .map_err(|_| InitError::io(format!("{block}: libcurl's global initialisation failed")))
}

/// libcurl's message for an error, without anything from the configuration in it.
pub fn describe(e: &curl::Error) -> String {
    match e.extra_description() {
        Some(extra) => format!("{} ({})", e.description(), extra),
        None => e.description().to_string(),
    }
}

/// Applies the options; the error names the key at fault.
fn configure(
    easy: &mut Easy2<Collector>,
    http: &HttpTransportConfig,
    method: HttpMethod,
    content_type: &str,
) -> Result<(), (&'static str, curl::Error)> {
    let k = |key: &'static str| move |e| (key, e);
    easy.url(http.url.as_str()).map_err(k("url"))?;
    easy.useragent(&http.user_agent).map_err(k("user_agent"))?;
    // Worker threads block signals, and libcurl must not use SIGALRM for timeouts in a
    // multi-threaded host.
    easy.signal(false).map_err(k("url"))?;
    easy.post(true).map_err(k("method"))?;
    if method == HttpMethod::Put {
        easy.custom_request("PUT").map_err(k("method"))?;
    }
    easy.timeout(Duration::from_millis(http.timeout_ms))
        .map_err(k("timeout_ms"))?;

    let mut list = List::new();
    let has = |name: &str| {
        http.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if !has("content-type") {
        list.append(&format!("Content-Type: {content_type}"))
            .map_err(k("headers"))?;
    }
    if http.compress_uploads {
        list.append("Content-Encoding: gzip")
            .map_err(k("compress_uploads"))?;
    }
    // No "Expect: 100-continue" round trip before large bodies.
    list.append("Expect:").map_err(k("headers"))?;
    for (name, value) in &http.headers {
        list.append(&format!("{name}: {value}"))
            .map_err(k("headers"))?;
    }
    easy.http_headers(list).map_err(k("headers"))?;

    if http.insecure {
        easy.ssl_verify_peer(false).map_err(k("insecure"))?;
        easy.ssl_verify_host(false).map_err(k("insecure"))?;
    }
    if http.mtls {
        easy.ssl_cert(&http.client_cert).map_err(k("client_cert"))?;
        easy.ssl_key(&http.client_key).map_err(k("client_key"))?;
    }
    // Falco's precedence: ca_cert, else ca_bundle, else ca_path.
    if !http.ca_cert.is_empty() {
        easy.cainfo(&http.ca_cert).map_err(k("ca_cert"))?;
    } else if !http.ca_bundle.is_empty() {
        easy.cainfo(&http.ca_bundle).map_err(k("ca_bundle"))?;
    } else if !http.ca_path.is_empty() && Path::new(&http.ca_path).is_dir() {
        easy.capath(&http.ca_path).map_err(k("ca_path"))?;
    }
    if http.compress_uploads {
        // What Falco's compress_uploads did: ask for a compressed transfer of the answer.
        easy.transfer_encoding(true)
            .map_err(k("compress_uploads"))?;
    }
    if http.keep_alive {
        easy.tcp_keepalive(true).map_err(k("keep_alive"))?;
    } else {
        // keep_alive: false means a fresh connection per request, as falco.yaml documents it.
        easy.forbid_reuse(true).map_err(k("keep_alive"))?;
    }
    Ok(())
}
