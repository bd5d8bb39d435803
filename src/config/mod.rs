//! falco.yaml (the subset this library reads) -> a typed, validated [`Config`].
//!
//! Sources are merged in order: the file at `config_path`, then `config_yaml`, then each Falco
//! `-o key=value` override. Unknown top-level keys are ignored (a real falco.yaml has many);
//! unknown keys inside a block are warnings; a wrong type is an error naming the key path and
//! the value it got.
//!
//! # Layout (one concern per file)
//!
//! | file | concern |
//! | --- | --- |
//! | `keys.rs` | **every channel block's key** and `outputs_queue`: name, type, default, reader: one line each |
//! | `top_level.rs` | the top-level keys (`Config`), one line each |
//! | `match_storm.rs` | the `match` and `storm` blocks of every output block |
//! | `schema.rs` | the `settings!` macro that turns a block of key lines into a struct, its `Default`, its key list and its reader |
//! | `read.rs` | the [`read::Setting`] trait: how a scalar's text becomes a bool, an integer, a priority... |
//! | `values.rs` | values with a shape of their own (file mode, syslog address and facility, URL, headers, user agent), checked once here |
//! | `values_tls.rs` | the values of `syslog_output.tls` (`auth_mode`, `permitted_peers` pins) |
//! | `checks.rs` | checks that span keys (Falco's "enabled but no filename", "no output") |
//! | `yaml.rs` | the YAML parser (serde_yaml, archived upstream: swap it there, nothing else names it) |
//! | `overrides.rs` | the `-o key=value` grammar |
//! | `env.rs` | `${VAR}` expansion |
//! | `extra.rs` | `extra_outputs`: named entries that reuse a channel type's block |
//! | `siem.rs` | `http_output.format` and the SIEM payloads' blocks (Splunk HEC, Elasticsearch bulk, Loki) |
//! | `units.rs` | sizes (`10M`) and durations (`1h`) of the extensions' keys |
//! | `nats.rs` | `nats_output`'s keys and the values only it has (server URLs, subject template, secrets) |
//! | `append.rs` | Falco's `append_output` (what of it an output library applies) and the static fields and tags extension |
//!
//! # Adding a key
//!
//! 1. Add one line to the block's `settings!` in `keys.rs`:
//!    `delivery_delay_ms: u64 = 0,` (`name as "yaml_name": Type = default => reader,` when the
//!    YAML name differs or the type needs its own reader). That line is the field, its default,
//!    its entry in the block's accepted keys and its reading; nothing else to touch.
//! 2. A type the reader does not know yet: `impl Setting for MyType` (in `values.rs` when it
//!    is a shape of its own, so the check lives in one place), or a reader function such as
//!    [`values::read_mode`]. Return `Ok(None)` for "empty: keep the default"; errors through
//!    [`InitError::key`], which names the key.
//!    A key `http_output` and `otlp_output` share (the HTTP transport's) goes into
//!    `HttpTransportConfig` instead, once: both blocks embed it (`flattened transport: ..;`),
//!    their users still write it in the block itself, and `otlp_defaults()` holds OTLP's own
//!    default where it differs.
//! 3. A new scheme for an existing value (e.g. `relp://` for `syslog_output.address`): extend
//!    that value's reader in `values.rs`; the channel receives the parsed value.
//! 4. A rule spanning keys goes to `checks.rs`.
//! 5. Tests in `tests.rs`; the key and its default in a `| key | default | meaning |` table of
//!    its block's page (`docs/configuration.md`, `docs/http.md`...): `docs_tests.rs` fails
//!    until every key is in one with the schema's default.
//!
//! # Adding a block (a channel)
//!
//! Declare `settings! { pub struct OtlpConfig { enabled: bool = false, ... } }` in `keys.rs`
//! and add it to [`Config`] as one line, `otlp as "otlp_output": OtlpConfig =
//! OtlpConfig::default(),`. A block is itself a `Setting`, so it can be a list entry too:
//! `Vec<T>` reads a YAML sequence of blocks (e.g. named channels of each type). If an enabled
//! block counts as an output, add it to the "no output" check in `checks.rs`. An HTTP-based
//! channel embeds the transport's keys (`flattened transport: HttpTransportConfig =
//! HttpTransportConfig::default();` after its own keys) and opens `HttpChannel::open_with`
//! with its `Payload`, as `otlp_output` does. A page of its
//! own that names its keys short (`timeout_ms`) goes into `PAGE_BLOCKS` in `docs_tests.rs`.
//!
//! # Falco compatibility
//!
//! Defaults verified against falcosecurity/falco `userspace/falco/configuration.cpp`
//! (`falco_configuration` constructor and `load_yaml`, master after 0.44, commit 1307474;
//! release 0.44.1's are the same);
//! they are the defaults in `keys.rs`. The keys each output block accepts are those of Falco's
//! `config_json_schema.h` plus the keys this library adds. A scalar is read as yaml-cpp reads
//! it for Falco: its text as written, then the type the key needs (`0o644`, `1.10` and `True`
//! keep their spelling until then).
//!
//! Deliberate differences from Falco (listed with their reasons in `docs/differences.md`):
//! - Falco silently falls back to the default when a value does not convert (yaml-cpp
//!   `as<T>(default)`); this library refuses it with an error naming the key and the value.
//! - Falco reads `file_output.keep_alive` / `program_output.keep_alive` as strings and only the
//!   exact text `true` enables them; here they are booleans like every other flag (so `yes`,
//!   `True`, `on` also enable them).
//! - `${VAR}` expansion (Falco: `yaml_helper::pre_process_env_vars`) is applied to every value
//!   this library reads from `config_path` and `config_yaml` (not to `-o` values, as in Falco),
//!   is not applied again to the text a variable expands to, and keeps scanning after a lone
//!   `$` (Falco stops there).
//! - Every block is validated, enabled or not (Falco only reads the keys of enabled blocks).
//! - `append_output`: only literal text and fields are applied (see `append.rs`).

mod append;
mod checks;
mod env;
mod extra;
mod keys;
mod match_storm;
mod nats;
mod overrides;
pub(crate) mod read;
mod schema;
mod siem;
mod top_level;
mod units;
mod values;
mod values_tls;
pub(crate) mod yaml;

#[cfg(test)]
mod docs_tests;
#[cfg(test)]
mod tests;

pub use append::{applicable as applicable_appends, AppendRule};
pub use checks::MAX_CHANNELS;
pub use extra::ExtraKind;
pub use keys::{
    HttpConfig, HttpTransportConfig, OtlpConfig, RotateConfig, SyslogConfig, SyslogTlsConfig,
};
pub use match_storm::{Match, StormConfig};
#[cfg(test)]
pub use nats::SubjectTemplate;
pub use nats::{BodyFormat, NatsConfig, SubjectPart};
pub use siem::{ElasticsearchConfig, HttpFormat, LokiConfig, SplunkHecConfig};
pub use top_level::Config;
pub use values::{HttpMethod, HttpUrl, SyslogAddress, SyslogFormat};
pub use values_tls::{Fingerprint, TlsAuthMode};

use crate::error::InitError;
use read::{Reader, Setting};
use yaml::Node;

/// Where the configuration comes from.
#[derive(Debug, Default, Clone)]
pub struct ConfigSources<'a> {
    pub config_path: Option<&'a str>,
    pub config_yaml: Option<&'a str>,
    pub overrides: &'a [String],
}

/// Loads, merges and validates the configuration.
///
/// `warn` receives one message per non-fatal problem (an unknown key inside an output block, an
/// unset environment variable); the caller routes it to the host's log callback.
pub fn load(
    sources: &ConfigSources<'_>,
    warn: &mut dyn FnMut(String),
) -> Result<Config, InitError> {
    let mut root = Node::empty_map();
    if let Some(path) = sources.config_path {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InitError::io(format!("config_path: cannot read {path}: {e}")))?;
        root.merge(document(&text, &format!("config file {path}"))?);
    }
    if let Some(text) = sources.config_yaml {
        root.merge(document(text, "config_yaml")?);
    }
    for text in sources.overrides {
        overrides::apply(&mut root, text)?;
    }

    let config = Config::read(&mut Reader::new(warn), "", &root)?.unwrap_or_default();
    // Once, at init: what of append_output needs the engine.
    append::applicable(&config.append_output, warn);

    let origin = match (sources.config_path, sources.config_yaml) {
        (Some(path), _) => path,
        (None, Some(_)) => "config_yaml",
        (None, None) => "command line",
    };
    checks::check_channels(&config, origin)?;
    Ok(config)
}

/// One YAML document whose top level is a mapping (an empty document is an empty mapping).
fn document(text: &str, source: &str) -> Result<Node, InitError> {
    match yaml::parse(text) {
        Err(e) => Err(InitError::config(format!("{source}: invalid YAML: {e}"))),
        Ok(Node::Null) => Ok(Node::empty_map()),
        Ok(m @ Node::Map(_)) => Ok(m),
        Ok(other) => Err(InitError::config(format!(
            "{source}: expected a YAML mapping of configuration keys at the top level, got {}",
            other.kind()
        ))),
    }
}
