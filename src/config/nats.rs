//! `nats_output` (an extension; docs/nats.md): the NATS / JetStream channel's keys, and the
//! values only it has (server URLs, the subject template, secrets).

use super::match_storm::{Match, StormConfig};
use super::read::{positive, quote, Reader, Setting};
use super::schema::settings;
use super::yaml::Node;
use crate::alert::Priority;
use crate::error::InitError;

settings! {
    /// `nats_output`.
    pub struct NatsConfig {
        enabled: bool = false,
        /// `nats://` or `tls://` URLs; required when enabled.
        servers: NatsServers = NatsServers::default(),
        /// Subject template: literal tokens and `{priority}`, `{rule}`, `{source}`,
        /// `{hostname}`, `{tag}` (see `outputs/nats/subject.rs`).
        subject: SubjectTemplate = SubjectTemplate::default(),
        /// `true`: each publish waits for its JetStream PubAck; `false`: core publish.
        jetstream: bool = true,
        /// `""` = as `json_output`; `json` or `text`.
        format: BodyFormat = BodyFormat::Global,
        token: Secret = Secret::default(),
        user: String = String::new(),
        password: Secret = Secret::default(),
        nkey_seed_file: String = String::new(),
        credentials_file: String = String::new(),
        /// CA certificate file(s) (PEM) that verify the server; setting it requires TLS.
        ca_cert: String = String::new(),
        client_cert: String = String::new(),
        client_key: String = String::new(),
        /// The name the server's certificate must carry; "" = the URL's host. Requires TLS.
        server_name: String = String::new(),
        /// Require TLS even with `nats://` URLs.
        tls: bool = false,
        /// Publishes awaiting their ack at once.
        max_in_flight: usize = 256 => positive,
        /// Limit for one publish's ack (and the connect attempt).
        timeout_ms: u64 = 5000 => positive,
        retry_max_backoff_ms: u64 = 30000,
        /// "" = memory only.
        spool_dir: String = String::new(),
        spool_max_mb: u64 = 256 => positive,
        min_priority: Priority = Priority::Debug,
        /// Which alerts the channel takes (docs/routing.md).
        route as "match": Match = Match::default(),
        /// Storm control (an extension, off by default; docs/routing.md).
        storm: StormConfig = StormConfig::default(),
    }
}

/// `nats_output.servers`: a list (or one string, or a comma-separated string) of `nats://` /
/// `tls://` URLs with a host. `Debug` shows them without user or password.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct NatsServers(Vec<String>);

impl NatsServers {
    /// The URLs as configured, for the client only: never log them.
    pub fn urls(&self) -> &[String] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// `scheme://host:port` of each, comma-separated: what logs and errors show.
    pub fn redacted(&self) -> String {
        self.0
            .iter()
            .map(|u| redact(u))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl std::fmt::Debug for NatsServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NatsServers({:?})", self.redacted())
    }
}

/// `nats://user:pw@host:4222/x` -> `nats://host:4222`.
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if scheme.is_empty() {
        host.to_string()
    } else {
        format!("{scheme}://{host}")
    }
}

fn parse_server(key: &str, url: &str) -> Result<String, InitError> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("nats://")
        .or_else(|| lower.strip_prefix("tls://"));
    let host_ok = rest.is_some_and(|r| {
        let authority = r.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        !host.is_empty() && !host.starts_with(':')
    });
    if !host_ok || url.contains(|c: char| c.is_ascii_whitespace() || c.is_ascii_control()) {
        return Err(InitError::key(
            key,
            format!(
                "expected a nats:// or tls:// URL with a host, got {} (shown without credentials)",
                quote(&redact(url))
            ),
        ));
    }
    Ok(url.to_string())
}

impl Setting for NatsServers {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let mut out = Vec::new();
        match node {
            Node::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{key}[{i}]");
                    // A URL may carry a user and password: read it as a secret.
                    let text = r.secret_text(&at, item, "a nats:// or tls:// URL")?;
                    if !text.trim().is_empty() {
                        out.push(parse_server(&at, &text)?);
                    }
                }
            }
            _ => {
                let text = r.secret_text(key, node, "a list of nats:// or tls:// URLs")?;
                for part in text.split(',').filter(|p| !p.trim().is_empty()) {
                    out.push(parse_server(key, part)?);
                }
            }
        }
        Ok((!out.is_empty()).then_some(NatsServers(out)))
    }
}

/// A value that is a credential: read without ever showing it, `Debug` prints `<redacted>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the client only: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "<redacted>"
        })
    }
}

impl Setting for Secret {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let text = r.secret_text(key, node, "a string")?;
        if text.contains(['\r', '\n', '\0']) {
            return Err(InitError::key(
                key,
                "a line break or NUL is not allowed in this value (not shown: it is a secret)",
            ));
        }
        Ok((!text.is_empty()).then_some(Secret(text)))
    }
}

/// `nats_output.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFormat {
    /// As `json_output` says.
    #[default]
    Global,
    Json,
    Text,
}

impl Setting for BodyFormat {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let t = r.text(key, node, "json or text")?;
        match t.text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "json" => Ok(Some(BodyFormat::Json)),
            "text" => Ok(Some(BodyFormat::Text)),
            _ => Err(InitError::key(
                key,
                format!(
                    "expected json or text (or empty: as json_output), got {}",
                    t.shown
                ),
            )),
        }
    }
}

/// The placeholders a subject template may use.
pub const SUBJECT_PLACEHOLDERS: [&str; 5] = ["priority", "rule", "source", "hostname", "tag"];

/// `nats_output.subject`: dot-separated tokens, each either literal (a valid NATS token: no
/// space, `*`, `>` or control character) or exactly one `{placeholder}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTemplate(pub Vec<SubjectPart>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectPart {
    Literal(String),
    Priority,
    Rule,
    Source,
    Hostname,
    /// The alert's first tag (`_` without tags).
    Tag,
}

impl Default for SubjectTemplate {
    fn default() -> Self {
        "falco.{priority}.{rule}"
            .parse()
            .expect("the default parses")
    }
}

impl std::str::FromStr for SubjectTemplate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        for token in s.trim().split('.') {
            let part = match token {
                "{priority}" => SubjectPart::Priority,
                "{rule}" => SubjectPart::Rule,
                "{source}" => SubjectPart::Source,
                "{hostname}" => SubjectPart::Hostname,
                "{tag}" => SubjectPart::Tag,
                t if t.starts_with('{') || t.contains(['{', '}']) => {
                    return Err(format!(
                        "{} is not a placeholder (a token is literal or exactly one of {{{}}})",
                        quote(t),
                        SUBJECT_PLACEHOLDERS.join("}, {")
                    ))
                }
                "" => return Err("an empty token (`..`, or a leading or trailing dot)".into()),
                t if t
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>') =>
                {
                    return Err(format!(
                        "{} is not a valid NATS subject token (no space, `*`, `>` or control \
                         character; a publish subject has no wildcard)",
                        quote(t)
                    ))
                }
                t => SubjectPart::Literal(t.to_string()),
            };
            parts.push(part);
        }
        Ok(SubjectTemplate(parts))
    }
}

impl Setting for SubjectTemplate {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let t = r.text(key, node, "a subject template")?;
        if t.text.trim().is_empty() {
            return Ok(None);
        }
        t.text
            .parse()
            .map(Some)
            .map_err(|m: String| InitError::key(key, format!("{m}, in {}", t.shown)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_or_name_the_bad_token() {
        let t: SubjectTemplate = "alerts.{hostname}.{priority}".parse().unwrap();
        assert_eq!(
            t.0,
            vec![
                SubjectPart::Literal("alerts".into()),
                SubjectPart::Hostname,
                SubjectPart::Priority
            ]
        );
        assert!("a.{bogus}"
            .parse::<SubjectTemplate>()
            .unwrap_err()
            .contains("{bogus}"));
        assert!("a..b"
            .parse::<SubjectTemplate>()
            .unwrap_err()
            .contains("empty"));
        assert!("a.*"
            .parse::<SubjectTemplate>()
            .unwrap_err()
            .contains("`*`"));
        assert!("a.x{rule}".parse::<SubjectTemplate>().is_err());
    }

    #[test]
    fn server_urls_are_redacted() {
        assert_eq!(redact("nats://u:pw@h:4222/x?y"), "nats://h:4222");
        assert!(parse_server("k", "http://h:4222").is_err());
        assert!(parse_server("k", "nats://").is_err());
        assert!(parse_server("k", "tls://h").is_ok());
    }
}
