//! Values with a shape of their own (file modes, syslog addresses and facilities, HTTP URLs and
//! headers): each is checked here, once, and the channels receive it already valid.

use std::path::PathBuf;

use super::read::{quote, Reader, Setting};
use super::yaml::Node;
use crate::error::InitError;
use crate::redact;

/// `file_output.mode` when the key is absent.
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// `syslog_output.address` when the key is absent: `unix:///dev/log`.
const DEFAULT_SYSLOG_ADDRESS_PATH: &str = "/dev/log";

/// `syslog_output.facility` when the key is absent (LOG_USER).
pub const DEFAULT_SYSLOG_FACILITY: u8 = 1;

/// `file_output.mode`: octal digits (`0600`, `600`, `0o600`), or `0x...`; at most 0o7777.
pub fn read_mode(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<u32>, InitError> {
    let t = r.text(key, node, "an octal file mode such as \"0600\"")?;
    let s = t.text.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let (digits, radix) = if let Some(hex) = s.strip_prefix("0x") {
        (hex, 16)
    } else if let Some(oct) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        (oct, 8)
    } else {
        (s, 8)
    };
    let valid = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    valid
        .then(|| u32::from_str_radix(digits, radix).ok())
        .flatten()
        .filter(|&mode| mode <= 0o7777)
        .map(Some)
        .ok_or_else(|| {
            InitError::key(
                key,
                format!(
                    "expected an octal file mode such as \"0600\" or \"0o644\" (digits 0-7, at \
                     most 0o7777), got {}",
                    t.shown
                ),
            )
        })
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SyslogFormat {
    #[default]
    Rfc3164,
    Rfc5424,
}

impl Setting for SyslogFormat {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let t = r.text(key, node, "rfc3164 or rfc5424")?;
        match t.text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "rfc3164" => Ok(Some(SyslogFormat::Rfc3164)),
            "rfc5424" => Ok(Some(SyslogFormat::Rfc5424)),
            _ => Err(InitError::key(
                key,
                format!("expected rfc3164 or rfc5424, got {}", t.shown),
            )),
        }
    }
}

const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// `syslog_output.facility`: a name (`user`, `LOG_LOCAL0`, any case) or a number 0..23.
pub fn read_facility(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<u8>, InitError> {
    let t = r.text(key, node, "a syslog facility")?;
    parse_facility(t.text.trim()).map(Some).ok_or_else(|| {
        let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
        InitError::key(
            key,
            format!(
                "expected a facility name ({}) or a number 0..23, got {}",
                names.join(", "),
                t.shown
            ),
        )
    })
}

fn parse_facility(s: &str) -> Option<u8> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u8>().ok().filter(|&n| n <= 23);
    }
    let lower = s.to_ascii_lowercase();
    let name = lower.strip_prefix("log_").unwrap_or(&lower);
    FACILITIES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// `syslog_output.address`, parsed: where the syslog channel sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogAddress {
    /// `unix:///abs/path`: a local socket (datagram, or stream when the daemon only offers
    /// that, as glibc does).
    Unix(PathBuf),
    /// `udp://host:port`.
    Udp(String, u16),
    /// `tcp://host:port`: RFC 6587 octet counting.
    Tcp(String, u16),
    /// `relp://host:port`: RELP (rsyslog's acknowledged transport) over TCP.
    Relp(String, u16),
    /// `tls://host[:port]`: RFC 5425, syslog over TLS (octet counting), port 6514 by default.
    Tls(String, u16),
    /// `relp+tls://host:port`: RELP inside TLS.
    RelpTls(String, u16),
}

/// RFC 5425's port for syslog over TLS.
pub const SYSLOG_TLS_PORT: u16 = 6514;

impl Default for SyslogAddress {
    fn default() -> Self {
        SyslogAddress::Unix(PathBuf::from(DEFAULT_SYSLOG_ADDRESS_PATH))
    }
}

impl std::fmt::Display for SyslogAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, host, port) = match self {
            SyslogAddress::Unix(p) => return write!(f, "unix://{}", p.display()),
            SyslogAddress::Udp(h, p) => ("udp", h, p),
            SyslogAddress::Tcp(h, p) => ("tcp", h, p),
            SyslogAddress::Relp(h, p) => ("relp", h, p),
            SyslogAddress::Tls(h, p) => ("tls", h, p),
            SyslogAddress::RelpTls(h, p) => ("relp+tls", h, p),
        };
        if host.contains(':') {
            write!(f, "{scheme}://[{host}]:{port}")
        } else {
            write!(f, "{scheme}://{host}:{port}")
        }
    }
}

impl Setting for SyslogAddress {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let t = r.text(key, node, "a syslog address")?;
        let a = t.text.trim();
        if a.is_empty() {
            return Ok(None);
        }
        SyslogAddress::parse(a).map(Some).map_err(|why| {
            InitError::key(
                key,
                format!(
                    "{why} (expected unix:///absolute/path, udp://host:port, tcp://host:port, \
                     relp://host:port, tls://host[:port] or relp+tls://host:port), got {}",
                    t.shown
                ),
            )
        })
    }
}

impl SyslogAddress {
    /// `tls://` or `relp+tls://`: the channel speaks TLS, never clear text.
    pub fn is_tls(&self) -> bool {
        matches!(self, SyslogAddress::Tls(..) | SyslogAddress::RelpTls(..))
    }

    /// The host of a network address (`None` for a unix socket).
    pub fn host(&self) -> Option<&str> {
        match self {
            SyslogAddress::Unix(_) => None,
            SyslogAddress::Udp(h, _)
            | SyslogAddress::Tcp(h, _)
            | SyslogAddress::Relp(h, _)
            | SyslogAddress::Tls(h, _)
            | SyslogAddress::RelpTls(h, _) => Some(h),
        }
    }

    /// Parses `unix:///abs/path`, `udp://host:port`, `tcp://host:port`, `relp://host:port`
    /// (IPv6 hosts in brackets); the error says what is wrong.
    pub fn parse(a: &str) -> Result<SyslogAddress, String> {
        if let Some(p) = a.strip_prefix("unix://") {
            if !p.starts_with('/') || p.len() < 2 {
                return Err("a unix address needs an absolute socket path".to_string());
            }
            return Ok(SyslogAddress::Unix(PathBuf::from(p)));
        }
        let (scheme, hp) = a
            .split_once("://")
            .ok_or_else(|| "unsupported scheme".to_string())?;
        let make = match scheme {
            "udp" => SyslogAddress::Udp,
            "tcp" => SyslogAddress::Tcp,
            "relp" => SyslogAddress::Relp,
            "tls" => SyslogAddress::Tls,
            "relp+tls" => SyslogAddress::RelpTls,
            _ => return Err("unsupported scheme".to_string()),
        };
        // tls:// alone may leave the port out: RFC 5425's 6514.
        let default_port = (scheme == "tls").then_some(SYSLOG_TLS_PORT);
        let (host, port) = if let Some(v6) = hp.strip_prefix('[') {
            let (host, rest) = v6
                .split_once(']')
                .ok_or_else(|| "missing `]` after an IPv6 address".to_string())?;
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(format!("`{host}` is not an IPv6 address"));
            }
            let port = match (rest.strip_prefix(':'), default_port) {
                (Some(p), _) => Some(p),
                (None, Some(_)) if rest.is_empty() => None,
                (None, _) => return Err("missing `:port`".to_string()),
            };
            (host, port)
        } else {
            let (host, port) = match (hp.rsplit_once(':'), default_port) {
                (Some((h, p)), _) => (h, Some(p)),
                (None, Some(_)) => (hp, None),
                (None, None) => return Err("missing `:port`".to_string()),
            };
            if host.contains(':') {
                return Err(
                    "an IPv6 address must be written in brackets, e.g. [::1]:514".to_string(),
                );
            }
            (host, port)
        };
        if host.is_empty() {
            return Err("missing host".to_string());
        }
        if !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:%".contains(&b))
        {
            return Err(format!("`{host}` is not a valid host name"));
        }
        let Some(port) = port else {
            return Ok(make(
                host.to_string(),
                default_port.unwrap_or(SYSLOG_TLS_PORT),
            ));
        };
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(make(host.to_string(), p))
            }
            _ => Err(format!("`{port}` is not a port number 1..65535")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
}

impl Setting for HttpMethod {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let t = r.text(key, node, "POST or PUT")?;
        match t.text.trim().to_ascii_uppercase().as_str() {
            "" => Ok(None),
            "POST" => Ok(Some(HttpMethod::Post)),
            "PUT" => Ok(Some(HttpMethod::Put)),
            _ => Err(InitError::key(
                key,
                format!("expected POST or PUT, got {}", t.shown),
            )),
        }
    }
}

/// `http_output.url`: an http:// or https:// URL with a host, or empty (not configured).
/// `Display` and `Debug` show it [redacted](HttpUrl::redacted).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct HttpUrl(String);

impl HttpUrl {
    /// The URL as configured, for libcurl only: never log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `scheme://host[:port]/path`: no user, password, query or fragment, which may hold
    /// secrets. What logs and errors show.
    pub fn redacted(&self) -> String {
        redact::url(&self.0)
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Debug for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpUrl({:?})", self.redacted())
    }
}

impl std::str::FromStr for HttpUrl {
    type Err = String;

    /// One pair of surrounding quotes is stripped, as Falco does (`outputs_http.cpp`). The
    /// error is the whole message, naming the key and showing the URL redacted.
    fn from_str(text: &str) -> Result<Self, String> {
        let url = strip_quotes(text.trim()).trim();
        if url.is_empty() {
            return Ok(HttpUrl::default());
        }
        let lower = url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with(['/', '?', '#']));
        if !host_ok || url.contains(|c: char| c.is_ascii_whitespace() || c.is_ascii_control()) {
            return Err(format!(
                "config key `http_output.url`: expected an http:// or https:// URL with a host, \
                 got {} (shown without credentials, query or fragment)",
                quote(&redact::url(url))
            ));
        }
        Ok(HttpUrl(url.to_string()))
    }
}

impl Setting for HttpUrl {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        // The text may carry a token: read it as a secret, show it only redacted.
        let text = r.secret_text(key, node, "a URL")?;
        // The message names http_output.url; another block's URL key gets its own name.
        text.parse().map(Some).map_err(|m: String| {
            InitError::config(m.replacen("`http_output.url`", &format!("`{key}`"), 1))
        })
    }
}

fn strip_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// `http_output.headers`: a mapping of header name to value, in the order written.
pub fn read_headers(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
) -> Result<Option<Vec<(String, String)>>, InitError> {
    let entries = mapping(key, node, "header name")?;
    let mut out = Vec::with_capacity(entries.len());
    for (name, v) in entries {
        let key = format!("{key}.{name}");
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(InitError::key(
                &key,
                format!("{} is not a valid HTTP header name", quote(name)),
            ));
        }
        // A header value is often a credential: no message shows it.
        let value = r.secret_text(&key, v, "a header value (a string)")?;
        if value.contains(['\r', '\n', '\0']) {
            return Err(InitError::key(&key, HEADER_VALUE_REFUSED));
        }
        out.push((name.clone(), value));
    }
    Ok(Some(out))
}

/// `otlp_output.resource_attributes`: a mapping of attribute name to string value, in the
/// order written.
pub fn read_attributes(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
) -> Result<Option<Vec<(String, String)>>, InitError> {
    let entries = mapping(key, node, "attribute name")?;
    let mut out = Vec::with_capacity(entries.len());
    for (name, v) in entries {
        let key = format!("{key}.{name}");
        if name.is_empty() {
            return Err(InitError::key(&key, "an attribute name may not be empty"));
        }
        let value = r.text(&key, v, "an attribute value (a string)")?.text;
        out.push((name.clone(), value));
    }
    Ok(Some(out))
}

/// The entries of a `name: value` mapping, or an error naming `key` (`what` names the keys,
/// e.g. "header name").
pub fn mapping<'n>(
    key: &str,
    node: &'n Node,
    what: &str,
) -> Result<&'n [(String, Node)], InitError> {
    match node {
        Node::Map(entries) => Ok(entries),
        _ => Err(InitError::key(
            key,
            format!("expected a mapping of {what} to value, got {}", node.kind()),
        )),
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `http_output.user_agent`: sent as a header, so refused with a CR, LF or NUL like a header
/// value (the value is not shown).
pub fn read_user_agent(
    r: &mut Reader<'_>,
    key: &str,
    node: &Node,
) -> Result<Option<String>, InitError> {
    let value = r.secret_text(key, node, "a string")?;
    if value.contains(['\r', '\n', '\0']) {
        return Err(InitError::key(key, HEADER_VALUE_REFUSED));
    }
    Ok(Some(value))
}

const HEADER_VALUE_REFUSED: &str =
    "a header value may not contain a line break (CR, LF) or NUL (the value is not shown: it \
     may be a secret)";
