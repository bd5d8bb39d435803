//! The connection: `async-nats` options from the block (servers, auth, TLS, reconnect
//! backoff), files checked at init with errors naming the key; the client's events go to
//! [`Events`] for the channel to log from its worker.

use std::path::PathBuf;
use std::time::Duration;

use async_nats::{ConnectOptions, Event, ServerAddr};

use crate::config::NatsConfig;
use crate::error::InitError;

use super::events::Events;

/// The longest wait between two connection attempts to the servers.
pub const RECONNECT_MAX: Duration = Duration::from_secs(2);
/// The reconnect delay after `attempts` failed attempts: 0, then 100 ms doubling to
/// [`RECONNECT_MAX`].
pub fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let shift = (attempts - 2).min(10) as u32;
    (Duration::from_millis(100) * 2u32.pow(shift)).min(RECONNECT_MAX)
}

fn readable(block: &str, key: &str, path: &str) -> Result<PathBuf, InitError> {
    std::fs::File::open(path)
        .map(|_| PathBuf::from(path))
        .map_err(|e| InitError::config(format!("{block}.{key}: cannot read {path}: {e}")))
}

/// The servers, parsed by the client (the configuration checked their shape).
pub fn servers(cfg: &NatsConfig, block: &str) -> Result<Vec<ServerAddr>, InitError> {
    cfg.servers
        .urls()
        .iter()
        .map(|u| {
            u.parse::<ServerAddr>().map_err(|e| {
                InitError::config(format!(
                    "{block}.servers: {} is not a server address the client takes: {e}",
                    cfg.servers.redacted()
                ))
            })
        })
        .collect()
}

/// TLS is required: `tls: true`, a `tls://` server, a CA, a client certificate or a server name.
pub fn tls_required(cfg: &NatsConfig) -> bool {
    let tls_url = cfg
        .servers
        .urls()
        .iter()
        .any(|u| u.to_ascii_lowercase().starts_with("tls://"));
    cfg.tls
        || tls_url
        || !cfg.ca_cert.is_empty()
        || !cfg.client_cert.is_empty()
        || !cfg.server_name.is_empty()
}

/// Connect options; reading the nkey seed and the credentials file needs the runtime.
pub async fn options(
    cfg: &NatsConfig,
    block: &str,
    hostname: &str,
    events: Events,
) -> Result<ConnectOptions, InitError> {
    let o = connection(cfg, hostname, events.clone());
    let o = auth(o, cfg, block)?;
    tls(o, cfg, block, events)
}

/// The connection's behaviour: its name, reconnecting for ever with backoff, timeouts, and the
/// client's events kept for the worker.
fn connection(cfg: &NatsConfig, hostname: &str, events: Events) -> ConnectOptions {
    ConnectOptions::new()
        .name(format!("falco-outputs {hostname}"))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(reconnect_delay)
        .connection_timeout(Duration::from_millis(cfg.timeout_ms))
        .request_timeout(Some(Duration::from_millis(cfg.timeout_ms)))
        .event_callback(move |event| {
            let events = events.clone();
            async move {
                let text = match &event {
                    Event::Connected => "connected".to_string(),
                    Event::Disconnected => "disconnected".to_string(),
                    Event::LameDuckMode => "the server entered lame duck mode".to_string(),
                    Event::ServerError(e) => format!("server error: {e}"),
                    Event::ClientError(e) => format!("connection failed: {e}"),
                    other => other.to_string(),
                };
                events.push(text);
            }
        })
}

/// The one login the block sets, if any: token, user and password, nkey seed, credentials.
fn auth(mut o: ConnectOptions, cfg: &NatsConfig, block: &str) -> Result<ConnectOptions, InitError> {
    let auths = [
        !cfg.token.is_empty(),
        !cfg.user.is_empty(),
        !cfg.nkey_seed_file.is_empty(),
        !cfg.credentials_file.is_empty(),
    ];
    if auths.iter().filter(|a| **a).count() > 1 {
        return Err(InitError::config(format!(
            "{block}: set one of token, user (with password), nkey_seed_file, credentials_file"
        )));
    }
    if !cfg.token.is_empty() {
        o = o.token(cfg.token.expose().to_string());
    }
    if !cfg.user.is_empty() {
        o = o.user_and_password(cfg.user.clone(), cfg.password.expose().to_string());
    } else if !cfg.password.is_empty() {
        return Err(InitError::config(format!(
            "{block}.password: set without user"
        )));
    }
    if !cfg.nkey_seed_file.is_empty() {
        o = o.nkey(nkey_seed(cfg, block)?);
    }
    if !cfg.credentials_file.is_empty() {
        o = credentials(o, cfg, block)?;
    }
    Ok(o)
}

/// The user seed (the line starting with `SU`) of `nkey_seed_file`.
fn nkey_seed(cfg: &NatsConfig, block: &str) -> Result<String, InitError> {
    let path = readable(block, "nkey_seed_file", &cfg.nkey_seed_file)?;
    let seed = std::fs::read_to_string(&path).map_err(|e| {
        InitError::config(format!(
            "{block}.nkey_seed_file: cannot read {}: {e}",
            path.display()
        ))
    })?;
    seed.lines()
        .map(str::trim)
        .find(|l| l.starts_with("SU"))
        .map(str::to_string)
        .ok_or_else(|| {
            InitError::config(format!(
                "{block}.nkey_seed_file: {} holds no user seed (a line starting with SU)",
                path.display()
            ))
        })
}

fn credentials(
    o: ConnectOptions,
    cfg: &NatsConfig,
    block: &str,
) -> Result<ConnectOptions, InitError> {
    let path = readable(block, "credentials_file", &cfg.credentials_file)?;
    // Read here, not by the client's tokio file I/O (a thread of its own, spawned from
    // the host's thread at init).
    let text = std::fs::read_to_string(&path).map_err(|e| {
        InitError::config(format!(
            "{block}.credentials_file: cannot read {}: {e}",
            path.display()
        ))
    })?;
    o.credentials(&text).map_err(|_| {
        InitError::config(format!(
            "{block}.credentials_file: {} is not a NATS credentials file (a JWT and a seed)",
            path.display()
        ))
    })
}

fn both_or_neither(cfg: &NatsConfig, block: &str) -> InitError {
    let (missing, given) = if cfg.client_key.is_empty() {
        ("client_key", "client_cert")
    } else {
        ("client_cert", "client_key")
    };
    InitError::config(format!("{block}.{missing}: required with {given}"))
}

/// TLS: the CA that verifies the server, the name its certificate must carry, the client
/// certificate, and whether TLS is required.
fn tls(
    mut o: ConnectOptions,
    cfg: &NatsConfig,
    block: &str,
    events: Events,
) -> Result<ConnectOptions, InitError> {
    if !cfg.server_name.is_empty() {
        // The client checks its URL's host; with another name the whole TLS setup is ours.
        if cfg.client_cert.is_empty() != cfg.client_key.is_empty() {
            return Err(both_or_neither(cfg, block));
        }
        let config = super::tls::config(cfg, block, events)?;
        return Ok(o.tls_client_config(config).require_tls(true));
    }
    if !cfg.ca_cert.is_empty() {
        o = o.add_root_certificates(readable(block, "ca_cert", &cfg.ca_cert)?);
    }
    match (cfg.client_cert.is_empty(), cfg.client_key.is_empty()) {
        (true, true) => {}
        (false, false) => {
            o = o.add_client_certificate(
                readable(block, "client_cert", &cfg.client_cert)?,
                readable(block, "client_key", &cfg.client_key)?,
            )
        }
        _ => return Err(both_or_neither(cfg, block)),
    }
    if tls_required(cfg) {
        o = o.require_tls(true);
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_backoff_grows_to_its_cap() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        assert_eq!(reconnect_delay(2), Duration::from_millis(100));
        assert_eq!(reconnect_delay(3), Duration::from_millis(200));
        assert_eq!(reconnect_delay(40), RECONNECT_MAX);
    }
}
