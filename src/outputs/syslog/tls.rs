//! TLS for the syslog channel (`tls://`, RFC 5425, and `relp+tls://`), on OpenSSL through the
//! `openssl` crate: the same library libcurl already brings into the process (one TLS stack,
//! the system trust store, one cipher policy). Nothing here parses certificates or does crypto
//! by hand; it builds the client context from `syslog_output.tls`, runs the handshake on a
//! non-blocking socket within a deadline, and turns a failed handshake into a message that
//! names the check that failed and the key to fix (never key material).
//!
//! Verification per `auth_mode`: `name` = OpenSSL's chain check plus its host name check
//! (`X509_VERIFY_PARAM_set1_host`/`_ip`) against `server_name`; `certvalid` = the chain check
//! only, against `ca_cert`/`ca_path` (required by the config: the system store would let any
//! publicly issued certificate pass); `fingerprint` = the SHA-256 of the server's certificate
//! is one of `permitted_peers`, whatever its chain.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::ssl::{
    ErrorCode, HandshakeError, SslConnector, SslMethod, SslRef, SslStream, SslVerifyMode,
    SslVersion,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509Ref, X509VerifyResult, X509};

use super::socket::{poll_once, wait_writable, Counted};
use crate::config::{Fingerprint, SyslogTlsConfig, TlsAuthMode};
use crate::error::InitError;
use crate::log::Logger;

pub type TlsStream = SslStream<Counted>;

/// After a TLS 1.3 handshake with a client certificate, how long to wait for the server's
/// verdict on it: in TLS 1.3 the client finishes before the server checked its certificate, and
/// a refusal arrives as an alert afterwards. Waiting here reports it as a failed connection
/// (naming the cause) instead of as a connection lost after the first alerts were written.
const CLIENT_CERT_VERDICT_WAIT: Duration = Duration::from_millis(200);

/// The client side of `syslog_output.tls`, built at init and again by `reopen` (certificate
/// rotation).
pub struct TlsClient {
    settings: SyslogTlsConfig,
    connector: SslConnector,
    /// What `auth_mode: name` checks and what SNI carries: `server_name`, else the host.
    server_name: String,
}

/// Why the server's certificate was refused, as the verify callback saw it.
#[derive(Debug, Clone)]
enum Rejection {
    Chain {
        code: X509VerifyResult,
        depth: u32,
        subject: String,
        issuer: String,
        not_after: String,
        names: String,
    },
    Fingerprint(String),
}

/// `syslog_output.tls.<key>`, for init errors (an `extra_outputs` entry's open error is renamed
/// to its own key path by the caller).
fn key_error(key: &str, msg: impl std::fmt::Display) -> InitError {
    InitError::config(format!("config key `syslog_output.tls.{key}`: {msg}"))
}

/// OpenSSL's reasons for a failure, without anything of a key (reasons are fixed texts).
fn reasons(e: &ErrorStack) -> String {
    let r: Vec<String> = e
        .errors()
        .iter()
        .filter_map(|e| e.reason().map(str::to_string))
        .collect();
    if r.is_empty() {
        "unknown OpenSSL error".to_string()
    } else {
        r.join("; ")
    }
}

fn read_file(key: &str, path: &str) -> Result<Vec<u8>, InitError> {
    std::fs::read(path).map_err(|e| key_error(key, format!("cannot read {path}: {e}")))
}

fn certificates(key: &str, path: &str) -> Result<Vec<X509>, InitError> {
    let pem = read_file(key, path)?;
    match X509::stack_from_pem(&pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(key_error(key, format!("{path} holds no PEM certificate"))),
        Err(e) => Err(key_error(
            key,
            format!("{path} is not a PEM certificate file ({})", reasons(&e)),
        )),
    }
}

/// Builds the client context: TLS 1.2 at least, the trusted CAs, the client certificate.
fn build_connector(t: &SyslogTlsConfig) -> Result<SslConnector, InitError> {
    let internal = |e: ErrorStack| InitError::io(format!("TLS setup: {}", reasons(&e)));
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(internal)?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))
        .map_err(internal)?;
    // `SslConnector::builder` loaded the system trust store; `ca_cert`/`ca_path` replace it.
    if !t.ca_cert.is_empty() || !t.ca_path.is_empty() {
        b.set_cert_store(X509StoreBuilder::new().map_err(internal)?.build());
        if !t.ca_cert.is_empty() {
            for ca in certificates("ca_cert", &t.ca_cert)? {
                b.cert_store_mut().add_cert(ca).map_err(internal)?;
            }
        }
        if !t.ca_path.is_empty() {
            if !Path::new(&t.ca_path).is_dir() {
                return Err(key_error(
                    "ca_path",
                    format!("{} is not a directory", t.ca_path),
                ));
            }
            b.load_verify_locations(None, Some(Path::new(&t.ca_path)))
                .map_err(|e| key_error("ca_path", format!("{}: {}", t.ca_path, reasons(&e))))?;
        }
    }
    if !t.client_cert.is_empty() {
        let chain = certificates("client_cert", &t.client_cert)?;
        let pem = read_file("client_key", &t.client_key)?;
        // A callback that gives no passphrase: an encrypted key fails here instead of
        // OpenSSL prompting on the terminal.
        let key = PKey::private_key_from_pem_callback(&pem, |_| Ok(0)).map_err(|_| {
            key_error(
                "client_key",
                format!(
                    "{} is not an unencrypted PEM private key (a key with a passphrase cannot be \
                     used)",
                    t.client_key
                ),
            )
        })?;
        let mut chain = chain.into_iter();
        if let Some(leaf) = chain.next() {
            b.set_certificate(&leaf).map_err(|e| {
                key_error("client_cert", format!("{}: {}", t.client_cert, reasons(&e)))
            })?;
        }
        for c in chain {
            b.add_extra_chain_cert(c).map_err(internal)?;
        }
        b.set_private_key(&key)
            .map_err(|e| key_error("client_key", format!("{}: {}", t.client_key, reasons(&e))))?;
        b.check_private_key().map_err(|_| {
            key_error(
                "client_key",
                format!(
                    "{} is not the key of the certificate in `syslog_output.tls.client_cert` ({})",
                    t.client_key, t.client_cert
                ),
            )
        })?;
    }
    Ok(b.build())
}

/// A private key other users can read is a warning (it is used anyway: the host may run with
/// a group that needs it).
fn check_key_mode(t: &SyslogTlsConfig, log: &Logger) {
    if t.client_key.is_empty() {
        return;
    }
    if let Ok(meta) = std::fs::metadata(&t.client_key) {
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            log.warning(&format!(
                "syslog output: the private key in `syslog_output.tls.client_key` ({}) is \
                 accessible to users other than its owner (mode {mode:04o}); `chmod 600` it",
                t.client_key
            ));
        }
    }
}

impl TlsClient {
    /// Builds the client for an address whose host is `host`; errors name the key.
    pub fn new(t: &SyslogTlsConfig, host: &str, log: &Logger) -> Result<TlsClient, InitError> {
        let connector = build_connector(t)?;
        check_key_mode(t, log);
        let server_name = if t.server_name.is_empty() {
            host.to_string()
        } else {
            t.server_name.clone()
        };
        Ok(TlsClient {
            settings: t.clone(),
            connector,
            server_name,
        })
    }

    /// Reads the certificate and key files again (after a rotation). On an error the client in
    /// use stays as it was (still TLS, still verifying) and the error is returned.
    pub fn reload(&mut self, log: &Logger) -> Result<(), InitError> {
        self.connector = build_connector(&self.settings)?;
        check_key_mode(&self.settings, log);
        Ok(())
    }

    fn mode(&self) -> TlsAuthMode {
        self.settings.auth_mode
    }

    /// Runs the handshake on a connected socket until `deadline`; the server is verified
    /// before this returns, so nothing is ever written to an unverified peer.
    pub fn handshake(
        &self,
        sock: Counted,
        deadline: Instant,
        abort: &dyn Fn() -> bool,
    ) -> io::Result<TlsStream> {
        let started = Instant::now();
        let setup = |e: ErrorStack| io::Error::other(format!("TLS setup: {}", reasons(&e)));
        let mut cfg = self.connector.configure().map_err(setup)?;
        cfg.set_verify_hostname(self.mode() == TlsAuthMode::Name);
        let mut ssl = cfg.into_ssl(&self.server_name).map_err(setup)?;
        let seen: Arc<Mutex<Option<Rejection>>> = Arc::default();
        let seen_cb = Arc::clone(&seen);
        let pins = self.settings.permitted_peers.clone();
        let mode = self.mode();
        ssl.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
            let depth = ctx.error_depth();
            let Some(cert) = ctx.current_cert() else {
                return ok;
            };
            let verdict = if mode == TlsAuthMode::Fingerprint {
                // The chain does not matter; the server's own certificate must be pinned.
                if depth > 0 {
                    return true;
                }
                let fp = fingerprint(cert);
                let pinned = fp.as_ref().is_some_and(|fp| pins.contains(fp));
                if !pinned {
                    let shown = fp.map_or_else(|| "(no digest)".to_string(), |f| f.to_string());
                    record(&seen_cb, Rejection::Fingerprint(shown));
                }
                pinned
            } else {
                if !ok {
                    record(&seen_cb, rejection(ctx.error(), depth, cert));
                }
                ok
            };
            verdict
        });
        let mut attempt = ssl.connect(sock);
        loop {
            match attempt {
                Ok(mut s) => {
                    self.await_client_cert_verdict(&mut s, deadline, &seen)?;
                    return Ok(s);
                }
                Err(HandshakeError::WouldBlock(mid)) => {
                    let fd = mid.get_ref().fd();
                    let now = Instant::now();
                    if now >= deadline || abort() {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "TLS handshake timeout: no TLS answer from the server within \
                                 {} ms (min(output_timeout, 2 s); is it a TLS port? a \
                                 plain-text syslog port never answers a TLS client)",
                                started.elapsed().as_millis()
                            ),
                        ));
                    }
                    if mid.error().code() == ErrorCode::WANT_WRITE {
                        // Bounded by the deadline; a timeout is reported at the loop's top.
                        let _ = wait_writable(fd, deadline, abort);
                    } else {
                        poll_once(fd, libc::POLLIN, deadline - now)?;
                    }
                    attempt = mid.handshake();
                }
                Err(HandshakeError::Failure(mid)) => {
                    return Err(self.explain(mid.ssl(), mid.error(), &seen))
                }
                Err(HandshakeError::SetupFailure(e)) => return Err(setup(e)),
            }
        }
    }

    /// TLS 1.3 with a client certificate: waits briefly for the server's refusal of it (an
    /// alert) or its session tickets (accepted), whichever comes.
    fn await_client_cert_verdict(
        &self,
        s: &mut TlsStream,
        deadline: Instant,
        seen: &Mutex<Option<Rejection>>,
    ) -> io::Result<()> {
        if self.settings.client_cert.is_empty() || s.ssl().version2() != Some(SslVersion::TLS1_3) {
            return Ok(());
        }
        let until = deadline.min(Instant::now() + CLIENT_CERT_VERDICT_WAIT);
        let mut buf = [0u8; 1];
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            if poll_once(s.get_ref().fd(), libc::POLLIN, until - now)? & libc::POLLIN == 0 {
                continue;
            }
            // Peek: a record of data stays for the channel's reads.
            match s.ssl_peek(&mut buf) {
                Ok(_) => return Ok(()),
                Err(e) if e.code() == ErrorCode::WANT_READ => {
                    // A session ticket: the server accepted the certificate.
                    return Ok(());
                }
                Err(e) => return Err(self.explain(s.ssl(), &e, seen)),
            }
        }
    }

    /// Names the check that failed and the key to look at.
    fn explain(
        &self,
        ssl: &SslRef,
        e: &openssl::ssl::Error,
        seen: &Mutex<Option<Rejection>>,
    ) -> io::Error {
        let rejected = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let msg = match rejected {
            Some(r) => self.describe_rejection(r),
            None if ssl.verify_result() != X509VerifyResult::OK => {
                format!(
                    "TLS: the server's certificate failed verification: {}",
                    ssl.verify_result().error_string()
                )
            }
            None => self.describe_failure(e),
        };
        io::Error::other(msg)
    }

    fn describe_rejection(&self, r: Rejection) -> String {
        match r {
            Rejection::Fingerprint(fp) => format!(
                "TLS: fingerprint not permitted: the server's certificate is {fp}, not one of \
                 `tls.permitted_peers`"
            ),
            Rejection::Chain {
                code,
                depth,
                subject,
                issuer,
                not_after,
                names,
            } => {
                let whose = if depth == 0 {
                    format!("the server's certificate ({subject})")
                } else {
                    format!("a CA certificate of the server's chain ({subject})")
                };
                match code.as_raw() {
                    openssl_sys::X509_V_ERR_CERT_HAS_EXPIRED => format!(
                        "TLS: certificate expired: {whose} expired on {not_after}; the server \
                         needs a renewed certificate"
                    ),
                    openssl_sys::X509_V_ERR_CERT_NOT_YET_VALID => format!(
                        "TLS: certificate not yet valid: {whose} is not valid yet (check the \
                         clocks of both hosts)"
                    ),
                    openssl_sys::X509_V_ERR_HOSTNAME_MISMATCH
                    | openssl_sys::X509_V_ERR_IP_ADDRESS_MISMATCH => format!(
                        "TLS: name check failed (auth_mode name): {whose} is for {names}, not \
                         for `{}`; set `tls.server_name` to a name the certificate carries \
                         (default: the address's host), or give the server a certificate for \
                         that name",
                        self.server_name
                    ),
                    openssl_sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
                    | openssl_sys::X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
                    | openssl_sys::X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
                    | openssl_sys::X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
                    | openssl_sys::X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
                    | openssl_sys::X509_V_ERR_CERT_UNTRUSTED => format!(
                        "TLS: unknown CA: {whose}, issued by {issuer}, does not chain to a \
                         trusted CA ({}); set `tls.ca_cert` (or `tls.ca_path`) to the CA that \
                         issued it",
                        self.trust_source()
                    ),
                    _ => format!(
                        "TLS: the server's certificate failed verification: {} ({whose})",
                        code.error_string()
                    ),
                }
            }
        }
    }

    fn trust_source(&self) -> String {
        let t = &self.settings;
        match (t.ca_cert.is_empty(), t.ca_path.is_empty()) {
            (true, true) => "the system trust store".to_string(),
            (false, true) => format!("`tls.ca_cert` {}", t.ca_cert),
            (true, false) => format!("`tls.ca_path` {}", t.ca_path),
            (false, false) => format!(
                "`tls.ca_cert` {} and `tls.ca_path` {}",
                t.ca_cert, t.ca_path
            ),
        }
    }

    /// A handshake that failed without a certificate verdict: the server's alert, the protocol
    /// version, a peer that is not a TLS server, a lost connection.
    fn describe_failure(&self, e: &openssl::ssl::Error) -> String {
        if let Some(io) = e.io_error() {
            return format!("TLS handshake: connection lost: {io}");
        }
        let Some(stack) = e.ssl_error() else {
            return if e.code() == ErrorCode::SYSCALL || e.code() == ErrorCode::ZERO_RETURN {
                "TLS handshake: the server closed the connection (a plain-text port, or it \
                 refused this client)"
                    .to_string()
            } else {
                format!("TLS handshake failed ({e})")
            };
        };
        let why = reasons(stack);
        let lower = why.to_ascii_lowercase();
        let has_client_cert = !self.settings.client_cert.is_empty();
        if lower.contains("protocol version")
            || lower.contains("unsupported protocol")
            || lower.contains("no protocols available")
        {
            format!(
                "TLS: protocol version: the server and this channel share no TLS version (this \
                 channel speaks TLS 1.2 and 1.3 only) ({why})"
            )
        } else if lower.contains("wrong version number")
            || lower.contains("packet length too long")
            || lower.contains("record layer failure")
            || lower.contains("http request")
        {
            format!("TLS: the server did not answer in TLS (a plain-text port?) ({why})")
        } else if lower.contains("alert certificate required") && !has_client_cert {
            format!(
                "TLS: the server requires a client certificate: set `tls.client_cert` and \
                 `tls.client_key` ({why})"
            )
        } else if lower.contains("alert") && has_client_cert {
            format!(
                "TLS: the server refused the handshake, most likely this client's certificate \
                 (`tls.client_cert`, `tls.client_key`: does the server trust its CA, and is it \
                 valid?) (server's alert: {why})"
            )
        } else {
            format!("TLS handshake failed: {why}")
        }
    }
}

fn record(seen: &Mutex<Option<Rejection>>, r: Rejection) {
    if let Ok(mut s) = seen.lock() {
        s.get_or_insert(r);
    }
}

fn fingerprint(cert: &X509Ref) -> Option<Fingerprint> {
    let d = cert.digest(MessageDigest::sha256()).ok()?;
    let bytes: [u8; 32] = d.as_ref().try_into().ok()?;
    Some(Fingerprint(bytes))
}

fn rejection(code: X509VerifyResult, depth: u32, cert: &X509Ref) -> Rejection {
    let name_text = |n: &openssl::x509::X509NameRef| {
        n.entries()
            .filter_map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                e.data().to_string().ok().map(|v| format!("{key}={v}"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut names: Vec<String> = cert
        .subject_alt_names()
        .map(|sans| {
            sans.iter()
                .filter_map(|n| {
                    n.dnsname().map(str::to_string).or_else(|| {
                        n.ipaddress().map(|ip| match ip.len() {
                            4 => std::net::Ipv4Addr::from(
                                <[u8; 4]>::try_from(ip).unwrap_or_default(),
                            )
                            .to_string(),
                            16 => std::net::Ipv6Addr::from(
                                <[u8; 16]>::try_from(ip).unwrap_or_default(),
                            )
                            .to_string(),
                            _ => "?".to_string(),
                        })
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names.push(format!(
            "{} (no subjectAltName)",
            name_text(cert.subject_name())
        ));
    }
    Rejection::Chain {
        code,
        depth,
        subject: name_text(cert.subject_name()),
        issuer: name_text(cert.issuer_name()),
        not_after: cert.not_after().to_string(),
        names: names.join(", "),
    }
}

/// Reads application data without waiting: `WouldBlock` when none is there, `Ok(0)` when the
/// server closed (close_notify or end of file).
pub fn read(s: &mut TlsStream, buf: &mut [u8]) -> io::Result<usize> {
    match s.ssl_read(buf) {
        Ok(n) => Ok(n),
        Err(e) => match e.code() {
            ErrorCode::ZERO_RETURN => Ok(0),
            ErrorCode::WANT_READ | ErrorCode::WANT_WRITE => Err(io::ErrorKind::WouldBlock.into()),
            _ => Err(io_error(e)),
        },
    }
}

/// Writes one frame (as many TLS records as it takes), waiting for room until `deadline`. On
/// success every record carrying it was handed to the kernel, so the socket's byte count says
/// where the frame ends in the TCP stream.
pub fn send(
    s: &mut TlsStream,
    frame: &[u8],
    deadline: Instant,
    abort: &dyn Fn() -> bool,
) -> io::Result<()> {
    let mut sent = 0;
    while sent < frame.len() {
        match s.ssl_write(&frame[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) => match e.code() {
                ErrorCode::WANT_WRITE => wait_writable(s.get_ref().fd(), deadline, abort)?,
                ErrorCode::WANT_READ => {
                    let now = Instant::now();
                    if now >= deadline || abort() {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "send timed out"));
                    }
                    poll_once(s.get_ref().fd(), libc::POLLIN, deadline - now)?;
                }
                _ => return Err(io_error(e)),
            },
        }
    }
    Ok(())
}

/// Sends close_notify once, without waiting (the polite end of a session at close).
pub fn shutdown(s: &mut TlsStream) {
    let _ = s.shutdown();
}

/// An OpenSSL error as an `io::Error`: the socket's own error when there is one (so that a
/// reset stays a reset), else OpenSSL's reasons.
fn io_error(e: openssl::ssl::Error) -> io::Error {
    if e.code() == ErrorCode::SYSCALL && e.io_error().is_none() && e.ssl_error().is_none() {
        return io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the peer closed the connection",
        );
    }
    match e.into_io_error() {
        Ok(io) => io,
        Err(e) => match e.ssl_error() {
            Some(stack) => io::Error::other(format!("TLS: {}", reasons(stack))),
            None => io::Error::other(format!("TLS: {e}")),
        },
    }
}
