//! Checks that span keys, worded as Falco words them (`configuration.cpp` `load_yaml`,
//! `init_outputs.cpp`), in Falco's order.

use std::collections::HashSet;

use super::extra::ExtraKind;
use super::keys::{HttpConfig, RotateConfig, SyslogConfig, SyslogTlsConfig};
use super::match_storm::{Match, StormConfig};
use super::siem::HttpFormat;
use super::top_level::Config;
use super::values_tls::TlsAuthMode;
use crate::error::InitError;

/// Falco's `no outputs configured` error (`app/actions/init_outputs.cpp`).
pub const NO_OUTPUT_ERROR: &str =
    "No output configured, please make sure at least one output is configured and enabled.";

pub fn check_channels(config: &Config, origin: &str) -> Result<(), InitError> {
    let missing = |what: &str, key: &str| {
        InitError::config(format!(
            "Error reading config file ({origin}): {what} output enabled but no {key} in \
             configuration block (config key `{what}_output.{key}` is empty)"
        ))
    };
    if config.file.enabled && config.file.filename.is_empty() {
        return Err(missing("file", "filename"));
    }
    if config.program.enabled && config.program.program.trim().is_empty() {
        return Err(missing("program", "program"));
    }
    if config.http.enabled && config.http.transport.url.is_empty() {
        return Err(missing("http", "url"));
    }
    if config.otlp.enabled && config.otlp.transport.url.is_empty() {
        return Err(missing("otlp", "url"));
    }
    if config.nats.enabled && config.nats.servers.is_empty() {
        return Err(missing("nats", "servers"));
    }
    check_extra_outputs(config)?;
    check_bands(config)?;
    check_rotation(config)?;
    check_syslog_tls("syslog_output", &config.syslog)?;
    for e in &config.extra_outputs {
        if let ExtraKind::Syslog(c) = &e.kind {
            check_syslog_tls(&e.key(), c)?;
        }
    }
    check_storms(config)?;
    check_siem(config)?;
    let any = config.extra_outputs.iter().any(|e| e.enabled())
        || config.stdout.enabled
        || config.file.enabled
        || config.syslog.enabled
        || config.program.enabled
        || config.http.enabled
        || config.otlp.enabled
        || config.nats.enabled;
    if !any {
        return Err(InitError::config(format!(
            "{NO_OUTPUT_ERROR} (none of stdout_output, syslog_output, file_output, \
             program_output, http_output, otlp_output, nats_output has `enabled: true`, and no \
             extra_outputs entry)"
        )));
    }
    check_channel_count(config)
}

/// At most this many channels: the runtime keeps one bit per channel in a `u64`.
pub const MAX_CHANNELS: usize = 64;

/// Checked with the configuration, before any channel opens a file, directory or socket.
fn check_channel_count(config: &Config) -> Result<(), InitError> {
    let blocks = [
        config.stdout.enabled,
        config.file.enabled,
        config.syslog.enabled,
        config.program.enabled,
        config.http.enabled,
        config.otlp.enabled,
        config.nats.enabled,
    ];
    let n = blocks.iter().filter(|on| **on).count()
        + config.extra_outputs.iter().filter(|e| e.enabled()).count();
    if n > MAX_CHANNELS {
        return Err(InitError::channel_cap(
            "extra_outputs",
            format!(
                "{n} output channels are enabled, more than {MAX_CHANNELS} (Falco's blocks and \
                 the enabled extra_outputs entries together); disable or remove some entries"
            ),
        ));
    }
    Ok(())
}

/// The names Falco's blocks' channels have: an `extra_outputs` entry may not take one.
const BUILT_IN_NAMES: [&str; 7] = [
    "stdout", "file", "syslog", "program", "http", "otlp", "nats",
];

/// Unique names; each enabled entry has what its type requires (named in the error).
fn check_extra_outputs(config: &Config) -> Result<(), InitError> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(config.extra_outputs.len());
    for e in &config.extra_outputs {
        if BUILT_IN_NAMES.contains(&e.name.as_str()) || !seen.insert(&e.name) {
            let at = e.key();
            return Err(InitError::key(
                &format!("{at}.name"),
                format!(
                    "the name {:?} is already taken (names are unique, and {} are the \
                     channels of Falco's blocks)",
                    e.name,
                    BUILT_IN_NAMES.join(", ")
                ),
            ));
        }
        if !e.enabled() {
            continue;
        }
        let at = e.key();
        let required = match &e.kind {
            ExtraKind::File(c) if c.filename.is_empty() => Some("filename"),
            ExtraKind::Program(c) if c.program.trim().is_empty() => Some("program"),
            ExtraKind::Http(c) if c.transport.url.is_empty() => Some("url"),
            ExtraKind::Otlp(c) if c.transport.url.is_empty() => Some("url"),
            ExtraKind::Nats(c) if c.servers.is_empty() => Some("servers"),
            _ => None,
        };
        if let Some(key) = required {
            return Err(InitError::key(
                &format!("{at}.{key}"),
                "is required for this type of output",
            ));
        }
    }
    Ok(())
}

/// A `match` whose `min_priority` is more severe than its `max_priority` would take nothing.
fn check_bands(config: &Config) -> Result<(), InitError> {
    let mut blocks: Vec<(String, &Match)> = vec![
        ("stdout_output".into(), &config.stdout.route),
        ("file_output".into(), &config.file.route),
        ("syslog_output".into(), &config.syslog.route),
        ("program_output".into(), &config.program.route),
        ("http_output".into(), &config.http.route),
        ("otlp_output".into(), &config.otlp.route),
        ("nats_output".into(), &config.nats.route),
    ];
    for e in &config.extra_outputs {
        let route = match &e.kind {
            ExtraKind::Stdout(c) => &c.route,
            ExtraKind::File(c) => &c.route,
            ExtraKind::Syslog(c) => &c.route,
            ExtraKind::Program(c) => &c.route,
            ExtraKind::Http(c) => &c.route,
            ExtraKind::Otlp(c) => &c.route,
            ExtraKind::Nats(c) => &c.route,
        };
        blocks.push((e.key(), route));
    }
    for (at, m) in blocks {
        // Emergency is 0: "more severe" is "smaller".
        if m.min_priority < m.max_priority {
            return Err(InitError::key(
                &format!("{at}.match"),
                format!(
                    "min_priority {} is more severe than max_priority {}: the channel would take \
                     no alert",
                    m.min_priority.name(),
                    m.max_priority.name()
                ),
            ));
        }
    }
    Ok(())
}

/// `rotate` with `compress` or `max_files` but neither limit would never rotate: say so rather
/// than leave the disk unbounded while the user believes it is not.
fn check_rotation(config: &Config) -> Result<(), InitError> {
    let mut blocks: Vec<(String, &RotateConfig)> =
        vec![("file_output".into(), &config.file.rotate)];
    for e in &config.extra_outputs {
        if let ExtraKind::File(c) = &e.kind {
            blocks.push((e.key(), &c.rotate));
        }
    }
    for (at, r) in blocks {
        let set = r.compress || r.max_files != RotateConfig::default().max_files;
        if set && !r.enabled() {
            return Err(InitError::key(
                &format!("{at}.rotate"),
                "needs max_size or max_age (a file is rotated when one is reached); without \
                 them nothing is ever rotated",
            ));
        }
    }
    Ok(())
}

/// `syslog_output.tls` makes sense with the address: a TLS block beside a clear-text address is
/// refused (the user believes the alerts are encrypted; nothing falls back to clear text), and
/// the keys each `auth_mode` needs are there.
fn check_syslog_tls(at: &str, c: &SyslogConfig) -> Result<(), InitError> {
    if !c.enabled {
        return Ok(());
    }
    let t = &c.tls;
    if !c.address.is_tls() {
        if *t != SyslogTlsConfig::default() {
            return Err(InitError::key(
                &format!("{at}.tls"),
                format!(
                    "is set, but `{at}.address` is {}, which sends in clear text: use tls://host:port \
                     or relp+tls://host:port (the address says whether alerts are encrypted; \
                     nothing ever falls back to clear text)",
                    c.address
                ),
            ));
        }
        return Ok(());
    }
    if t.client_cert.is_empty() != t.client_key.is_empty() {
        let (missing, given) = if t.client_key.is_empty() {
            ("client_key", "client_cert")
        } else {
            ("client_cert", "client_key")
        };
        return Err(InitError::key(
            &format!("{at}.tls.{missing}"),
            format!(
                "is required when `{at}.tls.{given}` is set (a client certificate needs its key)"
            ),
        ));
    }
    match t.auth_mode {
        TlsAuthMode::Fingerprint if t.permitted_peers.is_empty() => Err(InitError::key(
            &format!("{at}.tls.permitted_peers"),
            "auth_mode fingerprint needs at least one SHA256: pin of the server's certificate \
             (`openssl x509 -noout -fingerprint -sha256 -in server.pem`)",
        )),
        TlsAuthMode::Name | TlsAuthMode::CertValid if !t.permitted_peers.is_empty() => {
            Err(InitError::key(
                &format!("{at}.tls.permitted_peers"),
                format!(
                    "is used with auth_mode fingerprint only, and auth_mode is {}",
                    t.auth_mode.name()
                ),
            ))
        }
        TlsAuthMode::CertValid if t.ca_cert.is_empty() && t.ca_path.is_empty() => {
            Err(InitError::key(
                &format!("{at}.tls.auth_mode"),
                format!(
                    "certvalid checks the chain only, so it needs `{at}.tls.ca_cert` or \
                     `{at}.tls.ca_path`: with the system trust store any publicly issued \
                     certificate would pass"
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Storm control that is on needs a window and something to tell alerts apart by.
fn check_storms(config: &Config) -> Result<(), InitError> {
    let mut blocks: Vec<(String, &StormConfig)> = vec![
        ("stdout_output".into(), &config.stdout.storm),
        ("file_output".into(), &config.file.storm),
        ("syslog_output".into(), &config.syslog.storm),
        ("program_output".into(), &config.program.storm),
        ("http_output".into(), &config.http.storm),
        ("otlp_output".into(), &config.otlp.storm),
        ("nats_output".into(), &config.nats.storm),
    ];
    for e in &config.extra_outputs {
        let storm = match &e.kind {
            ExtraKind::Stdout(c) => &c.storm,
            ExtraKind::File(c) => &c.storm,
            ExtraKind::Syslog(c) => &c.storm,
            ExtraKind::Program(c) => &c.storm,
            ExtraKind::Http(c) => &c.storm,
            ExtraKind::Otlp(c) => &c.storm,
            ExtraKind::Nats(c) => &c.storm,
        };
        blocks.push((e.key(), storm));
    }
    for (at, s) in blocks {
        if s.max == 0 {
            continue;
        }
        if s.window_ms == 0 {
            return Err(InitError::key(
                &format!("{at}.storm.window"),
                "must be greater than 0 when storm.max is set",
            ));
        }
        if s.per.is_empty() || s.per.iter().any(|p| p.trim().is_empty()) {
            return Err(InitError::key(
                &format!("{at}.storm.per"),
                format!(
                    "expected a list of rule, priority, source, tags or field names, got {:?}",
                    s.per
                ),
            ));
        }
    }
    Ok(())
}

/// A SIEM payload's required keys.
fn check_siem(config: &Config) -> Result<(), InitError> {
    let mut blocks: Vec<(String, &HttpConfig)> = vec![("http_output".into(), &config.http)];
    for e in &config.extra_outputs {
        if let ExtraKind::Http(c) = &e.kind {
            if c.enabled {
                blocks.push((e.key(), c));
            }
        }
    }
    for (at, h) in blocks {
        if at == "http_output" && !h.enabled {
            continue;
        }
        match h.format {
            HttpFormat::SplunkHec if h.splunk_hec.token.is_empty() => {
                return Err(InitError::key(
                    &format!("{at}.splunk_hec.token"),
                    "is required with format: splunk_hec (the HEC token)",
                ))
            }
            HttpFormat::ElasticsearchBulk if h.elasticsearch_bulk.index.trim().is_empty() => {
                return Err(InitError::key(
                    &format!("{at}.elasticsearch_bulk.index"),
                    "must not be empty with format: elasticsearch_bulk",
                ))
            }
            HttpFormat::Loki if h.loki.labels.is_empty() => {
                return Err(InitError::key(
                    &format!("{at}.loki.labels"),
                    "needs at least one label (Loki refuses a stream without labels)",
                ))
            }
            _ => {}
        }
    }
    Ok(())
}
