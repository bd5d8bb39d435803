//! `extra_outputs`: named channels beyond Falco's one block per kind. Each entry is
//! `{name, type, ...}` where the other keys are exactly those of that type's block (and mean the
//! same); an entry is enabled unless it says `enabled: false`. Errors name the entry:
//! `extra_outputs.<name>.<key>` (or `extra_outputs[i]` before the name is known).

use super::keys::{FileConfig, HttpConfig, OtlpConfig, ProgramConfig, StdoutConfig, SyslogConfig};
use super::nats::NatsConfig;
use super::read::{quote, Reader, Setting};
use super::yaml::Node;
use crate::error::InitError;

/// The kinds an entry may have, with their blocks.
#[derive(Debug, Clone, PartialEq)]
pub enum ExtraKind {
    Stdout(StdoutConfig),
    File(FileConfig),
    Syslog(SyslogConfig),
    Program(ProgramConfig),
    Http(HttpConfig),
    Otlp(OtlpConfig),
    Nats(NatsConfig),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExtraOutput {
    /// Unique among all channels; the channel's name in statistics, metrics and log lines.
    pub name: String,
    pub kind: ExtraKind,
}

const TYPES: &str = "stdout, file, syslog, program, http, otlp, nats";

impl ExtraOutput {
    pub fn enabled(&self) -> bool {
        match &self.kind {
            ExtraKind::Stdout(c) => c.enabled,
            ExtraKind::File(c) => c.enabled,
            ExtraKind::Syslog(c) => c.enabled,
            ExtraKind::Program(c) => c.enabled,
            ExtraKind::Http(c) => c.enabled,
            ExtraKind::Otlp(c) => c.enabled,
            ExtraKind::Nats(c) => c.enabled,
        }
    }

    /// The key path of the entry's settings, for messages.
    pub fn key(&self) -> String {
        format!("extra_outputs.{}", self.name)
    }
}

fn scalar<'n>(entries: &'n [(String, Node)], name: &str) -> Option<&'n str> {
    entries.iter().find_map(|(k, v)| match v {
        Node::Scalar(s) if k == name => Some(s.as_str()),
        _ => None,
    })
}

impl Setting for ExtraOutput {
    fn read(r: &mut Reader<'_>, key: &str, node: &Node) -> Result<Option<Self>, InitError> {
        let Node::Map(entries) = node else {
            return Err(InitError::key(
                key,
                "expected a mapping {name: ..., type: file|syslog|program|http|otlp|nats|stdout, ...}",
            ));
        };
        let name = scalar(entries, "name").map(str::trim).unwrap_or("");
        if name.is_empty() {
            return Err(InitError::key(
                key,
                "needs a `name` (unique among the outputs)",
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(InitError::key(
                key,
                format!(
                    "name {}: use letters, digits, `-`, `_` and `.` only",
                    quote(name)
                ),
            ));
        }
        let at = format!("extra_outputs.{name}");
        let kind = scalar(entries, "type").map(str::trim).unwrap_or("");
        // The rest is the type's own block; enabled unless it says otherwise.
        let mut rest: Vec<(String, Node)> = entries
            .iter()
            .filter(|(k, _)| k != "name" && k != "type")
            .cloned()
            .collect();
        if !rest.iter().any(|(k, _)| k == "enabled") {
            rest.push(("enabled".into(), Node::Scalar("true".into())));
        }
        let rest = Node::Map(rest);
        fn block<T: Setting + Default>(
            r: &mut Reader<'_>,
            at: &str,
            rest: &Node,
        ) -> Result<T, InitError> {
            Ok(T::read(r, at, rest)?.unwrap_or_default())
        }
        let kind = match kind {
            "stdout" => ExtraKind::Stdout(block(r, &at, &rest)?),
            "file" => ExtraKind::File(block(r, &at, &rest)?),
            "syslog" => ExtraKind::Syslog(block(r, &at, &rest)?),
            "program" => ExtraKind::Program(block(r, &at, &rest)?),
            "http" => ExtraKind::Http(block(r, &at, &rest)?),
            "otlp" => ExtraKind::Otlp(block(r, &at, &rest)?),
            "nats" => ExtraKind::Nats(block(r, &at, &rest)?),
            "" => return Err(InitError::key(&at, format!("needs a `type` ({TYPES})"))),
            other => {
                return Err(InitError::key(
                    &format!("{at}.type"),
                    format!("expected one of {TYPES}, got {}", quote(other)),
                ))
            }
        };
        Ok(Some(ExtraOutput {
            name: name.to_string(),
            kind,
        }))
    }
}
