//! falco.yaml (the subset this library reads) -> a typed, validated [`Config`].
//!
//! Sources are merged in order: the file at `config_path`, then `config_yaml`, then each Falco
//! `-o key=value` override. Unknown top-level keys are ignored (a real falco.yaml has many);
//! unknown keys inside an output block are warnings; a wrong type is an error naming the key path
//! and the value it got.
//!
//! # Falco compatibility
//!
//! Defaults verified against falcosecurity/falco `userspace/falco/configuration.cpp`
//! (`falco_configuration` constructor and `load_yaml`, master as of 2026-07, commit 1307474):
//! `json_output` false, `json_include_output_property` true, `json_include_tags_property` true,
//! `json_include_message_property` false, `json_include_output_fields_property` true,
//! `time_format_iso_8601` false, `buffered_outputs` false, `outputs_queue.capacity` 0 (Falco
//! maps 0 to "unbounded"), `output_timeout` 2000, `stdout_output.enabled` /
//! `syslog_output.enabled` / `file_output.enabled` / `program_output.enabled` /
//! `http_output.enabled` all **false** when the key is absent (the shipped falco.yaml turns
//! stdout and syslog on), `file_output.filename` / `program_output.program` / `http_output.url`
//! "", `http_output.user_agent` "falcosecurity/falco", `insecure` / `mtls` / `echo` /
//! `compress_uploads` / `keep_alive` false, `ca_cert` / `ca_bundle` "", `ca_path`
//! "/etc/ssl/certs", `client_cert` "/etc/ssl/certs/client.crt", `client_key`
//! "/etc/ssl/certs/client.key", `max_consecutive_timeouts` 5. The keys each output block accepts
//! are those of Falco's `config_json_schema.h` plus the keys this library adds.
//!
//! Deliberate differences from Falco:
//! - Falco silently falls back to the default when a value does not convert (yaml-cpp
//!   `as<T>(default)`); this library refuses it with an error naming the key and the value.
//! - Falco reads `file_output.keep_alive` / `program_output.keep_alive` as strings and only the
//!   exact text `true` enables them; here they are booleans like every other flag (so `yes`,
//!   `True`, `on` also enable them).
//! - `${VAR}` expansion (Falco: `yaml_helper::pre_process_env_vars`) is applied to every value
//!   this library reads, including `-o` values, is not applied again to the text a variable
//!   expands to, and keeps scanning after a lone `$` (Falco stops there).
//! - Every block is validated, enabled or not (Falco only reads the keys of enabled blocks).

use serde_yaml::{Mapping, Value};

use crate::alert::Priority;

/// Where the configuration comes from.
#[derive(Debug, Default, Clone)]
pub struct ConfigSources<'a> {
    pub config_path: Option<&'a str>,
    pub config_yaml: Option<&'a str>,
    pub overrides: &'a [String],
}

/// Why a configuration was refused. `Io` is for a config file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    Invalid(String),
    Io(String),
}

impl std::error::Error for ConfigError {}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Invalid(m) | ConfigError::Io(m) => f.write_str(m),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub json_output: bool,                         // false
    pub json_include_output_property: bool,        // true
    pub json_include_tags_property: bool,          // true
    pub json_include_message_property: bool,       // false
    pub json_include_output_fields_property: bool, // true
    pub time_format_iso_8601: bool,                // false
    pub buffered_outputs: bool,                    // false
    /// `outputs_queue.capacity`; 0 = unbounded.
    pub queue_capacity: usize,
    /// `output_timeout`, milliseconds (2000).
    pub output_timeout_ms: u64,
    pub stdout: StdoutConfig,
    pub file: FileConfig,
    pub syslog: SyslogConfig,
    pub program: ProgramConfig,
    pub http: HttpConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StdoutConfig {
    pub enabled: bool, // Falco's code default (falco.yaml ships true)
    pub min_priority: Priority,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FileConfig {
    pub enabled: bool,    // false
    pub keep_alive: bool, // false
    pub filename: String, // "" (Falco's error when enabled and empty)
    /// `file_output.mode`, an octal string in YAML ("0600" default).
    pub mode: u32,
    pub min_priority: Priority,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SyslogFormat {
    #[default]
    Rfc3164,
    Rfc5424,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SyslogConfig {
    pub enabled: bool,   // Falco's code default (falco.yaml ships true)
    pub address: String, // "unix:///dev/log"
    pub format: SyslogFormat,
    /// Facility number (user = 1).
    pub facility: u8,
    pub min_priority: Priority,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProgramConfig {
    pub enabled: bool,    // false
    pub keep_alive: bool, // false
    pub program: String,  // ""
    pub min_priority: Priority,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    pub enabled: bool,
    pub url: String,
    pub user_agent: String, // "falcosecurity/falco"
    pub insecure: bool,
    pub ca_cert: String,
    pub ca_bundle: String,
    pub ca_path: String, // "/etc/ssl/certs"
    pub mtls: bool,
    pub client_cert: String, // "/etc/ssl/certs/client.crt"
    pub client_key: String,  // "/etc/ssl/certs/client.key"
    pub echo: bool,
    pub compress_uploads: bool,
    pub keep_alive: bool,
    pub max_consecutive_timeouts: u32, // 5
    pub headers: Vec<(String, String)>,
    pub method: HttpMethod,
    pub timeout_ms: u64,           // 5000
    pub retry_max_backoff_ms: u64, // 30000
    pub spool_dir: String,         // "" = memory only
    pub spool_max_mb: u64,         // 256
    pub batch_max_alerts: usize,   // 1
    pub batch_max_wait_ms: u64,    // 100
    pub min_priority: Priority,
}

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

/// Falco's `no outputs configured` error (`app/actions/init_outputs.cpp`).
pub const NO_OUTPUT_ERROR: &str =
    "No output configured, please make sure at least one output is configured and enabled.";

/// `file_output.mode` when the key is absent.
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// `syslog_output.address` when the key is absent.
pub const DEFAULT_SYSLOG_ADDRESS: &str = "unix:///dev/log";

/// `syslog_output.facility` when the key is absent (LOG_USER).
pub const DEFAULT_SYSLOG_FACILITY: u8 = 1;

impl Default for Config {
    fn default() -> Self {
        Config {
            json_output: false,
            json_include_output_property: true,
            json_include_tags_property: true,
            json_include_message_property: false,
            json_include_output_fields_property: true,
            time_format_iso_8601: false,
            buffered_outputs: false,
            queue_capacity: 0,
            output_timeout_ms: 2000,
            stdout: StdoutConfig::default(),
            file: FileConfig::default(),
            syslog: SyslogConfig::default(),
            program: ProgramConfig::default(),
            http: HttpConfig::default(),
        }
    }
}

impl Default for StdoutConfig {
    fn default() -> Self {
        StdoutConfig {
            enabled: false,
            min_priority: Priority::Debug,
        }
    }
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            enabled: false,
            keep_alive: false,
            filename: String::new(),
            mode: DEFAULT_FILE_MODE,
            min_priority: Priority::Debug,
        }
    }
}

impl Default for SyslogConfig {
    fn default() -> Self {
        SyslogConfig {
            enabled: false,
            address: DEFAULT_SYSLOG_ADDRESS.to_string(),
            format: SyslogFormat::Rfc3164,
            facility: DEFAULT_SYSLOG_FACILITY,
            min_priority: Priority::Debug,
        }
    }
}

impl Default for ProgramConfig {
    fn default() -> Self {
        ProgramConfig {
            enabled: false,
            keep_alive: false,
            program: String::new(),
            min_priority: Priority::Debug,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: false,
            url: String::new(),
            user_agent: "falcosecurity/falco".to_string(),
            insecure: false,
            ca_cert: String::new(),
            ca_bundle: String::new(),
            ca_path: "/etc/ssl/certs".to_string(),
            mtls: false,
            client_cert: "/etc/ssl/certs/client.crt".to_string(),
            client_key: "/etc/ssl/certs/client.key".to_string(),
            echo: false,
            compress_uploads: false,
            keep_alive: false,
            max_consecutive_timeouts: 5,
            headers: Vec::new(),
            method: HttpMethod::Post,
            timeout_ms: 5000,
            retry_max_backoff_ms: 30000,
            spool_dir: String::new(),
            spool_max_mb: 256,
            batch_max_alerts: 1,
            batch_max_wait_ms: 100,
            min_priority: Priority::Debug,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Keys each block accepts
// ---------------------------------------------------------------------------------------------

const STDOUT_KEYS: &[&str] = &["enabled", "min_priority"];
const SYSLOG_KEYS: &[&str] = &["enabled", "min_priority", "address", "format", "facility"];
const FILE_KEYS: &[&str] = &["enabled", "keep_alive", "filename", "mode", "min_priority"];
const PROGRAM_KEYS: &[&str] = &["enabled", "keep_alive", "program", "min_priority"];
const HTTP_KEYS: &[&str] = &[
    "enabled",
    "url",
    "user_agent",
    "insecure",
    "ca_cert",
    "ca_bundle",
    "ca_path",
    "mtls",
    "client_cert",
    "client_key",
    "echo",
    "compress_uploads",
    "keep_alive",
    "max_consecutive_timeouts",
    "headers",
    "method",
    "timeout_ms",
    "retry_max_backoff_ms",
    "spool_dir",
    "spool_max_mb",
    "batch_max_alerts",
    "batch_max_wait_ms",
    "min_priority",
];
const QUEUE_KEYS: &[&str] = &["capacity"];

const PRIORITY_NAMES: &str =
    "emergency, alert, critical, error, warning, notice, informational (or info), debug";

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

// ---------------------------------------------------------------------------------------------
// Loading and merging
// ---------------------------------------------------------------------------------------------

/// Loads, merges and validates the configuration.
///
/// `warn` receives one message per non-fatal problem (an unknown key inside an output block, an
/// unset environment variable); the caller routes it to the host's log callback.
pub fn load(
    sources: &ConfigSources<'_>,
    warn: &mut dyn FnMut(String),
) -> Result<Config, ConfigError> {
    let mut root = Value::Mapping(Mapping::new());
    let mut radix_modes = Vec::new();

    if let Some(path) = sources.config_path {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Io(format!("config_path: cannot read {path}: {e}")))?;
        let doc = parse_document(&text, &format!("config file {path}"))?;
        note_radix_modes(&text, &mut radix_modes);
        merge(&mut root, doc);
    }
    if let Some(text) = sources.config_yaml {
        let doc = parse_document(text, "config_yaml")?;
        note_radix_modes(text, &mut radix_modes);
        merge(&mut root, doc);
    }
    for text in sources.overrides {
        apply_override(&mut root, text)?;
    }

    let mut reader = Reader { warn, radix_modes };
    let config = reader.read(&root)?;

    let origin = match (sources.config_path, sources.config_yaml) {
        (Some(path), _) => path,
        (None, Some(_)) => "config_yaml",
        (None, None) => "command line",
    };
    check_channels(&config, origin)?;
    Ok(config)
}

/// Falco's channel checks (`configuration.cpp` `load_yaml`, `init_outputs.cpp`), in Falco's order.
fn check_channels(config: &Config, origin: &str) -> Result<(), ConfigError> {
    if config.file.enabled && config.file.filename.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "Error reading config file ({origin}): file output enabled but no filename in \
             configuration block (config key `file_output.filename` is empty)"
        )));
    }
    if config.program.enabled && config.program.program.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "Error reading config file ({origin}): program output enabled but no program in \
             configuration block (config key `program_output.program` is empty)"
        )));
    }
    if config.http.enabled && config.http.url.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "Error reading config file ({origin}): http output enabled but no url in \
             configuration block (config key `http_output.url` is empty)"
        )));
    }
    let any = config.stdout.enabled
        || config.file.enabled
        || config.syslog.enabled
        || config.program.enabled
        || config.http.enabled;
    if !any {
        return Err(ConfigError::Invalid(format!(
            "{NO_OUTPUT_ERROR} (none of stdout_output, syslog_output, file_output, \
             program_output, http_output has `enabled: true`)"
        )));
    }
    Ok(())
}

fn invalid(msg: String) -> ConfigError {
    ConfigError::Invalid(msg)
}

/// A YAML error with its position ("... at line 3 column 2").
fn yaml_error(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(loc) if !text.contains(" at line ") => {
            format!("{text} at line {} column {}", loc.line(), loc.column())
        }
        _ => text,
    }
}

/// One YAML document whose top level is a mapping (an empty document is an empty mapping).
fn parse_document(text: &str, source: &str) -> Result<Value, ConfigError> {
    let value: Value = serde_yaml::from_str(text)
        .map_err(|e| invalid(format!("{source}: invalid YAML: {}", yaml_error(&e))))?;
    match untag(&value) {
        Value::Null => Ok(Value::Mapping(Mapping::new())),
        Value::Mapping(m) => Ok(Value::Mapping(m.clone())),
        other => Err(invalid(format!(
            "{source}: expected a YAML mapping of configuration keys at the top level, got {}",
            show(other)
        ))),
    }
}

/// Deep merge: mappings merge key by key, anything else replaces. An empty (null) block over a
/// mapping adds nothing.
fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Mapping(_), Value::Null) => {}
        (b, o) => *b = o,
    }
}

/// Remembers the values of `mode: 0o...` / `mode: 0x...` literals in a YAML text. serde_yaml
/// turns an unquoted `0o644` into the number 420, indistinguishable from a decimal `420`; this
/// lets [`Reader::mode`] take such a number as the mode itself instead of reading its decimal
/// digits as octal text.
fn note_radix_modes(text: &str, out: &mut Vec<u64>) {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(pos) = text[from..].find("mode") {
        let start = from + pos;
        from = start + 4;
        if start > 0 {
            let before = bytes[start - 1];
            if before.is_ascii_alphanumeric() || before == b'_' {
                continue;
            }
        }
        let rest = text[from..].trim_start_matches([' ', '\t']);
        let Some(rest) = rest.strip_prefix(':') else {
            continue;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        let token: &str = rest
            .split(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == '#')
            .next()
            .unwrap_or("");
        let token = token.strip_prefix('+').unwrap_or(token);
        let parsed = if let Some(oct) = token.strip_prefix("0o") {
            u64::from_str_radix(oct, 8).ok()
        } else if let Some(hex) = token.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok()
        } else {
            None
        };
        if let Some(v) = parsed {
            out.push(v);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// -o overrides
// ---------------------------------------------------------------------------------------------

/// Deepest `-o` key path accepted (serde_yaml's own nesting limit for documents is 128).
const MAX_KEY_DEPTH: usize = 64;

#[derive(Debug, PartialEq)]
enum Seg {
    Key(String),
    /// `[n]`, or `[]` (append).
    Index(Option<usize>),
}

/// Applies one Falco `-o key=value` override.
fn apply_override(root: &mut Value, text: &str) -> Result<(), ConfigError> {
    let malformed = || {
        invalid(format!(
            "Error parsing config option \"{text}\". Must be of the form key=val or key.subkey=val"
        ))
    };
    let (key, raw) = text.split_once('=').ok_or_else(malformed)?;
    let key = key.trim();
    if key.is_empty() {
        return Err(malformed());
    }
    let segs = parse_key_path(key).map_err(|m| invalid(format!("override `{text}`: {m}")))?;
    let value = parse_override_value(raw, text)?;
    set_path(root, &segs, value).map_err(|m| invalid(format!("override `{text}`: {m}")))
}

/// Falco's key syntax (`yaml_helper::get_node`): `a.b.c`, `list[2].x`, `list[]` (append), and
/// backslash escapes for `.`, `[`, `]`, `\`.
fn parse_key_path(key: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let mut it = key.chars().peekable();
    loop {
        let mut name = String::new();
        while let Some(&c) = it.peek() {
            match c {
                '\\' => {
                    it.next();
                    match it.next() {
                        Some(n @ ('.' | '[' | ']' | '\\')) => name.push(n),
                        Some(n) => {
                            return Err(format!("invalid escape sequence `\\{n}` in the key"))
                        }
                        None => return Err("trailing backslash in the key".to_string()),
                    }
                }
                '.' | '[' => break,
                ']' => return Err("unexpected `]` in the key".to_string()),
                _ => {
                    name.push(c);
                    it.next();
                }
            }
        }
        if name.is_empty() {
            return Err("empty key name in the key path".to_string());
        }
        segs.push(Seg::Key(name));
        if segs.len() > MAX_KEY_DEPTH {
            return Err(format!(
                "the key path is deeper than {MAX_KEY_DEPTH} levels"
            ));
        }
        while it.peek() == Some(&'[') {
            it.next();
            let mut digits = String::new();
            loop {
                match it.next() {
                    Some(']') => break,
                    Some(d) if d.is_ascii_digit() => digits.push(d),
                    Some(c) => return Err(format!("expected a numeric index, found `{c}`")),
                    None => return Err("missing `]` in the key".to_string()),
                }
            }
            if segs.len() >= MAX_KEY_DEPTH {
                return Err(format!(
                    "the key path is deeper than {MAX_KEY_DEPTH} levels"
                ));
            }
            if digits.is_empty() {
                segs.push(Seg::Index(None));
            } else {
                let n = digits
                    .parse::<usize>()
                    .map_err(|_| format!("index `{digits}` is out of range"))?;
                segs.push(Seg::Index(Some(n)));
            }
        }
        match it.next() {
            None => return Ok(segs),
            Some('.') => continue,
            Some(c) => return Err(format!("expected `.` in the key, found `{c}`")),
        }
    }
}

/// An override's value. Flow values (`{...}`, `[...]`) and quoted scalars are parsed as YAML;
/// a plain value is a boolean, null or decimal integer when YAML says so, and otherwise its text
/// verbatim (so `program_output.program=curl -H "a: b" # x` stays one string, as in Falco).
fn parse_override_value(raw: &str, text: &str) -> Result<Value, ConfigError> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(Value::Null);
    }
    if t.starts_with(['{', '[', '"', '\'']) {
        return serde_yaml::from_str::<Value>(t).map_err(|e| {
            invalid(format!(
                "override `{text}`: invalid YAML value: {}",
                yaml_error(&e)
            ))
        });
    }
    match serde_yaml::from_str::<Value>(t) {
        Ok(v @ Value::Bool(_)) => Ok(v),
        Ok(Value::Null) if matches!(t, "~" | "null" | "Null" | "NULL") => Ok(Value::Null),
        Ok(v @ Value::Number(_)) if is_decimal_int(t) => Ok(v),
        _ => Ok(Value::String(t.to_string())),
    }
}

fn is_decimal_int(t: &str) -> bool {
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn set_path(root: &mut Value, segs: &[Seg], value: Value) -> Result<(), String> {
    let mut cur = root;
    for seg in segs {
        cur = match seg {
            Seg::Key(k) => {
                if !matches!(cur, Value::Mapping(_)) {
                    *cur = Value::Mapping(Mapping::new());
                }
                let Value::Mapping(m) = cur else {
                    return Err("internal error: expected a mapping".to_string());
                };
                m.entry(Value::String(k.clone())).or_insert(Value::Null)
            }
            Seg::Index(idx) => {
                if !matches!(cur, Value::Sequence(_)) {
                    *cur = Value::Sequence(Vec::new());
                }
                let Value::Sequence(seq) = cur else {
                    return Err("internal error: expected a sequence".to_string());
                };
                let i = match *idx {
                    None => seq.len(),
                    Some(i) if i <= seq.len() => i,
                    Some(i) => {
                        return Err(format!(
                            "index {i} is past the end of a sequence of {} entries",
                            seq.len()
                        ))
                    }
                };
                if i == seq.len() {
                    seq.push(Value::Null);
                }
                &mut seq[i]
            }
        };
    }
    *cur = value;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Environment expansion
// ---------------------------------------------------------------------------------------------

/// Falco's `${VAR}` expansion: `${VAR}` becomes the variable's value (unset: empty, reported
/// through `unset`); `$${` is a literal `${`; a `${` or `$${` with no later `}` is left as is.
fn expand_env(s: &str, unset: &mut dyn FnMut(&str)) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("${") {
            match after.find('}') {
                Some(end) => {
                    let name = &after[..end];
                    match env_value(name) {
                        Some(v) => out.push_str(&v),
                        None => unset(name),
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(tail);
                    return out;
                }
            }
        } else if let Some(after) = tail.strip_prefix("$${") {
            if after.contains('}') {
                out.push_str("${");
                rest = after;
            } else {
                out.push_str(tail);
                return out;
            }
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn env_value(name: &str) -> Option<String> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return None;
    }
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

// ---------------------------------------------------------------------------------------------
// Typed reading
// ---------------------------------------------------------------------------------------------

fn untag(v: &Value) -> &Value {
    let mut v = v;
    while let Value::Tagged(t) = v {
        v = &t.value;
    }
    v
}

/// A value as an error message shows it.
fn show(v: &Value) -> String {
    match untag(v) {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Sequence(_) => "a sequence".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(_) => "a tagged value".to_string(),
    }
}

/// A string quoted and escaped for a message (JSON rules, so control characters are visible).
fn quote(s: &str) -> String {
    const MAX: usize = 200;
    let shown = if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}...")
    } else {
        s.to_string()
    };
    serde_json::to_string(&shown).unwrap_or_else(|_| format!("{shown:?}"))
}

fn key_text(k: &Value) -> String {
    match untag(k) {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".to_string(),
        other => show(other),
    }
}

/// `a.b` or just `b` at the top level.
fn path(block: &str, name: &str) -> String {
    if block.is_empty() {
        name.to_string()
    } else {
        format!("{block}.{name}")
    }
}

/// A present, non-null value.
fn get<'v>(m: Option<&'v Mapping>, name: &str) -> Option<&'v Value> {
    m.and_then(|m| m.get(name))
        .map(untag)
        .filter(|v| !v.is_null())
}

/// yaml-cpp's boolean spellings (`convert<bool>`), here in any case.
fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" => Some(true),
        "false" | "no" | "off" | "n" => Some(false),
        _ => None,
    }
}

/// A scalar's text: the text itself (after `${VAR}` expansion) and how to show it in errors.
struct Text {
    text: String,
    shown: String,
}

struct Reader<'w> {
    warn: &'w mut dyn FnMut(String),
    radix_modes: Vec<u64>,
}

impl Reader<'_> {
    fn expand(&mut self, key: &str, s: &str) -> String {
        let warn = &mut self.warn;
        expand_env(s, &mut |var: &str| {
            warn(format!(
                "config key `{key}`: environment variable `{var}` is not set; it expands to an \
                 empty string"
            ))
        })
    }

    /// The text of a scalar (any scalar is accepted as its text, as yaml-cpp does).
    fn text(&mut self, key: &str, v: &Value, expected: &str) -> Result<Text, ConfigError> {
        match v {
            Value::String(s) => {
                let text = self.expand(key, s);
                let shown = if text == *s {
                    quote(&text)
                } else {
                    format!("{} (from {})", quote(&text), quote(s))
                };
                if text.contains('\0') {
                    return Err(invalid(format!(
                        "config key `{key}`: a NUL character is not allowed, got {shown}"
                    )));
                }
                Ok(Text { text, shown })
            }
            Value::Bool(b) => Ok(Text {
                text: b.to_string(),
                shown: b.to_string(),
            }),
            Value::Number(n) => Ok(Text {
                text: n.to_string(),
                shown: n.to_string(),
            }),
            other => Err(invalid(format!(
                "config key `{key}`: expected {expected}, got {}",
                show(other)
            ))),
        }
    }

    fn string(
        &mut self,
        m: Option<&Mapping>,
        block: &str,
        name: &str,
        default: &str,
    ) -> Result<String, ConfigError> {
        let key = path(block, name);
        match get(m, name) {
            None => Ok(default.to_string()),
            Some(v) => Ok(self.text(&key, v, "a string")?.text),
        }
    }

    fn boolean(
        &mut self,
        m: Option<&Mapping>,
        block: &str,
        name: &str,
        default: bool,
    ) -> Result<bool, ConfigError> {
        let key = path(block, name);
        let Some(v) = get(m, name) else {
            return Ok(default);
        };
        if let Value::Bool(b) = v {
            return Ok(*b);
        }
        const EXPECTED: &str = "a boolean (true/false, yes/no, on/off, y/n)";
        if let Value::String(_) = v {
            let t = self.text(&key, v, EXPECTED)?;
            let trimmed = t.text.trim();
            if trimmed.is_empty() {
                return Ok(default);
            }
            if let Some(b) = parse_bool(trimmed) {
                return Ok(b);
            }
            return Err(invalid(format!(
                "config key `{key}`: expected {EXPECTED}, got {}",
                t.shown
            )));
        }
        Err(invalid(format!(
            "config key `{key}`: expected {EXPECTED}, got {}",
            show(v)
        )))
    }

    /// A non-negative integer (YAML int or decimal string), at most `max`.
    fn uint(
        &mut self,
        m: Option<&Mapping>,
        block: &str,
        name: &str,
        default: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let key = path(block, name);
        let Some(v) = get(m, name) else {
            return Ok(default);
        };
        let (n, shown) = match v {
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => (u, n.to_string()),
                (None, Some(_)) => {
                    return Err(invalid(format!(
                        "config key `{key}`: expected a non-negative integer, got {n}"
                    )))
                }
                _ => {
                    return Err(invalid(format!(
                        "config key `{key}`: expected an integer, got {n}"
                    )))
                }
            },
            Value::String(_) => {
                let t = self.text(&key, v, "an integer")?;
                let s = t.text.trim();
                if s.is_empty() {
                    return Ok(default);
                }
                let digits = s.strip_prefix('+').unwrap_or(s);
                if let Some(neg) = digits.strip_prefix('-') {
                    if !neg.is_empty() && neg.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(invalid(format!(
                            "config key `{key}`: expected a non-negative integer, got {}",
                            t.shown
                        )));
                    }
                }
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(format!(
                        "config key `{key}`: expected an integer, got {}",
                        t.shown
                    )));
                }
                match digits.parse::<u64>() {
                    Ok(n) => (n, t.shown),
                    Err(_) => {
                        return Err(invalid(format!(
                            "config key `{key}`: must be at most {max}, got {}",
                            t.shown
                        )))
                    }
                }
            }
            other => {
                return Err(invalid(format!(
                    "config key `{key}`: expected an integer, got {}",
                    show(other)
                )))
            }
        };
        if n > max {
            return Err(invalid(format!(
                "config key `{key}`: must be at most {max}, got {shown}"
            )));
        }
        Ok(n)
    }

    /// Like [`Reader::uint`], and refusing 0.
    fn positive(
        &mut self,
        m: Option<&Mapping>,
        block: &str,
        name: &str,
        default: u64,
        max: u64,
    ) -> Result<u64, ConfigError> {
        let n = self.uint(m, block, name, default, max)?;
        if n == 0 {
            return Err(invalid(format!(
                "config key `{}`: must be greater than 0, got 0",
                path(block, name)
            )));
        }
        Ok(n)
    }

    fn priority(&mut self, m: Option<&Mapping>, block: &str) -> Result<Priority, ConfigError> {
        let key = path(block, "min_priority");
        let Some(v) = get(m, "min_priority") else {
            return Ok(Priority::Debug);
        };
        let expected = format!("a priority (one of {PRIORITY_NAMES})");
        let t = self.text(&key, v, &expected)?;
        Priority::parse(&t.text).ok_or_else(|| {
            invalid(format!(
                "config key `{key}`: expected {expected}, got {}",
                t.shown
            ))
        })
    }

    /// A mapping block; unknown keys are reported through `warn`.
    fn block<'v>(
        &mut self,
        root: &'v Mapping,
        name: &str,
        known: &[&str],
    ) -> Result<Option<&'v Mapping>, ConfigError> {
        match root.get(name).map(untag) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Mapping(m)) => {
                for k in m.keys() {
                    let k = key_text(k);
                    if !known.contains(&k.as_str()) {
                        (self.warn)(format!("config key `{name}.{k}` is unknown and ignored"));
                    }
                }
                Ok(Some(m))
            }
            Some(other) => Err(invalid(format!(
                "config key `{name}`: expected a mapping of {name} settings, got {}",
                show(other)
            ))),
        }
    }

    fn read(&mut self, root: &Value) -> Result<Config, ConfigError> {
        let empty = Mapping::new();
        let root = match root {
            Value::Mapping(m) => m,
            _ => &empty,
        };
        let top = Some(root);
        let d = Config::default();

        let queue = self.block(root, "outputs_queue", QUEUE_KEYS)?;
        let queue_capacity =
            self.uint(queue, "outputs_queue", "capacity", 0, usize::MAX as u64)? as usize;

        Ok(Config {
            json_output: self.boolean(top, "", "json_output", d.json_output)?,
            json_include_output_property: self.boolean(
                top,
                "",
                "json_include_output_property",
                d.json_include_output_property,
            )?,
            json_include_tags_property: self.boolean(
                top,
                "",
                "json_include_tags_property",
                d.json_include_tags_property,
            )?,
            json_include_message_property: self.boolean(
                top,
                "",
                "json_include_message_property",
                d.json_include_message_property,
            )?,
            json_include_output_fields_property: self.boolean(
                top,
                "",
                "json_include_output_fields_property",
                d.json_include_output_fields_property,
            )?,
            time_format_iso_8601: self.boolean(
                top,
                "",
                "time_format_iso_8601",
                d.time_format_iso_8601,
            )?,
            buffered_outputs: self.boolean(top, "", "buffered_outputs", d.buffered_outputs)?,
            queue_capacity,
            output_timeout_ms: self.positive(
                top,
                "",
                "output_timeout",
                d.output_timeout_ms,
                u64::MAX,
            )?,
            stdout: self.read_stdout(root)?,
            file: self.read_file(root)?,
            syslog: self.read_syslog(root)?,
            program: self.read_program(root)?,
            http: self.read_http(root)?,
        })
    }

    fn read_stdout(&mut self, root: &Mapping) -> Result<StdoutConfig, ConfigError> {
        const B: &str = "stdout_output";
        let m = self.block(root, B, STDOUT_KEYS)?;
        Ok(StdoutConfig {
            enabled: self.boolean(m, B, "enabled", false)?,
            min_priority: self.priority(m, B)?,
        })
    }

    fn read_file(&mut self, root: &Mapping) -> Result<FileConfig, ConfigError> {
        const B: &str = "file_output";
        let m = self.block(root, B, FILE_KEYS)?;
        Ok(FileConfig {
            enabled: self.boolean(m, B, "enabled", false)?,
            keep_alive: self.boolean(m, B, "keep_alive", false)?,
            filename: self.string(m, B, "filename", "")?,
            mode: self.mode(m)?,
            min_priority: self.priority(m, B)?,
        })
    }

    fn mode(&mut self, m: Option<&Mapping>) -> Result<u32, ConfigError> {
        const KEY: &str = "file_output.mode";
        let Some(v) = get(m, "mode") else {
            return Ok(DEFAULT_FILE_MODE);
        };
        let bad = |shown: &str| {
            invalid(format!(
                "config key `{KEY}`: expected an octal file mode such as \"0600\" or \"0o644\" \
                 (digits 0-7, at most 0o7777), got {shown}"
            ))
        };
        let t = self.text(KEY, v, "an octal file mode such as \"0600\"")?;
        if let Value::Number(n) = v {
            // `0o644` / `0x1a4` written in the YAML: the number is the mode itself.
            if let Some(u) = n.as_u64() {
                if self.radix_modes.contains(&u) {
                    return u32::try_from(u)
                        .ok()
                        .filter(|&mode| mode <= 0o7777)
                        .ok_or_else(|| bad(&t.shown));
                }
            }
        }
        let s = t.text.trim();
        if s.is_empty() {
            return Ok(DEFAULT_FILE_MODE);
        }
        let digits = s
            .strip_prefix("0o")
            .or_else(|| s.strip_prefix("0O"))
            .unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(bad(&t.shown));
        }
        u32::from_str_radix(digits, 8)
            .ok()
            .filter(|&mode| mode <= 0o7777)
            .ok_or_else(|| bad(&t.shown))
    }

    fn read_syslog(&mut self, root: &Mapping) -> Result<SyslogConfig, ConfigError> {
        const B: &str = "syslog_output";
        let m = self.block(root, B, SYSLOG_KEYS)?;
        let enabled = self.boolean(m, B, "enabled", false)?;

        let address = match get(m, "address") {
            None => DEFAULT_SYSLOG_ADDRESS.to_string(),
            Some(v) => {
                let t = self.text("syslog_output.address", v, "a syslog address")?;
                let a = t.text.trim();
                if a.is_empty() {
                    DEFAULT_SYSLOG_ADDRESS.to_string()
                } else {
                    check_address(a).map_err(|why| {
                        invalid(format!(
                            "config key `syslog_output.address`: {why} (expected \
                             unix:///absolute/path, udp://host:port or tcp://host:port), got {}",
                            t.shown
                        ))
                    })?;
                    a.to_string()
                }
            }
        };

        let format = match get(m, "format") {
            None => SyslogFormat::Rfc3164,
            Some(v) => {
                let t = self.text("syslog_output.format", v, "rfc3164 or rfc5424")?;
                match t.text.trim().to_ascii_lowercase().as_str() {
                    "rfc3164" | "" => SyslogFormat::Rfc3164,
                    "rfc5424" => SyslogFormat::Rfc5424,
                    _ => {
                        return Err(invalid(format!(
                        "config key `syslog_output.format`: expected rfc3164 or rfc5424, got {}",
                        t.shown
                    )))
                    }
                }
            }
        };

        let facility = match get(m, "facility") {
            None => DEFAULT_SYSLOG_FACILITY,
            Some(v) => {
                let t = self.text("syslog_output.facility", v, "a syslog facility")?;
                parse_facility(t.text.trim()).ok_or_else(|| {
                    let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
                    invalid(format!(
                        "config key `syslog_output.facility`: expected a facility name ({}) or a \
                         number 0..23, got {}",
                        names.join(", "),
                        t.shown
                    ))
                })?
            }
        };

        Ok(SyslogConfig {
            enabled,
            address,
            format,
            facility,
            min_priority: self.priority(m, B)?,
        })
    }

    fn read_program(&mut self, root: &Mapping) -> Result<ProgramConfig, ConfigError> {
        const B: &str = "program_output";
        let m = self.block(root, B, PROGRAM_KEYS)?;
        Ok(ProgramConfig {
            enabled: self.boolean(m, B, "enabled", false)?,
            keep_alive: self.boolean(m, B, "keep_alive", false)?,
            program: self.string(m, B, "program", "")?,
            min_priority: self.priority(m, B)?,
        })
    }

    fn read_http(&mut self, root: &Mapping) -> Result<HttpConfig, ConfigError> {
        const B: &str = "http_output";
        let m = self.block(root, B, HTTP_KEYS)?;
        let d = HttpConfig::default();

        let method = match get(m, "method") {
            None => HttpMethod::Post,
            Some(v) => {
                let t = self.text("http_output.method", v, "POST or PUT")?;
                match t.text.trim().to_ascii_uppercase().as_str() {
                    "POST" | "" => HttpMethod::Post,
                    "PUT" => HttpMethod::Put,
                    _ => {
                        return Err(invalid(format!(
                            "config key `http_output.method`: expected POST or PUT, got {}",
                            t.shown
                        )))
                    }
                }
            }
        };

        Ok(HttpConfig {
            enabled: self.boolean(m, B, "enabled", false)?,
            url: self.url(m)?,
            user_agent: self.string(m, B, "user_agent", &d.user_agent)?,
            insecure: self.boolean(m, B, "insecure", false)?,
            ca_cert: self.string(m, B, "ca_cert", &d.ca_cert)?,
            ca_bundle: self.string(m, B, "ca_bundle", &d.ca_bundle)?,
            ca_path: self.string(m, B, "ca_path", &d.ca_path)?,
            mtls: self.boolean(m, B, "mtls", false)?,
            client_cert: self.string(m, B, "client_cert", &d.client_cert)?,
            client_key: self.string(m, B, "client_key", &d.client_key)?,
            echo: self.boolean(m, B, "echo", false)?,
            compress_uploads: self.boolean(m, B, "compress_uploads", false)?,
            keep_alive: self.boolean(m, B, "keep_alive", false)?,
            max_consecutive_timeouts: self.uint(
                m,
                B,
                "max_consecutive_timeouts",
                u64::from(d.max_consecutive_timeouts),
                u64::from(u32::MAX),
            )? as u32,
            headers: self.headers(m)?,
            method,
            timeout_ms: self.positive(m, B, "timeout_ms", d.timeout_ms, u64::MAX)?,
            retry_max_backoff_ms: self.uint(
                m,
                B,
                "retry_max_backoff_ms",
                d.retry_max_backoff_ms,
                u64::MAX,
            )?,
            spool_dir: self.string(m, B, "spool_dir", &d.spool_dir)?,
            spool_max_mb: self.uint(m, B, "spool_max_mb", d.spool_max_mb, u64::MAX)?,
            batch_max_alerts: self.positive(
                m,
                B,
                "batch_max_alerts",
                d.batch_max_alerts as u64,
                usize::MAX as u64,
            )? as usize,
            batch_max_wait_ms: self.uint(
                m,
                B,
                "batch_max_wait_ms",
                d.batch_max_wait_ms,
                u64::MAX,
            )?,
            min_priority: self.priority(m, B)?,
        })
    }

    /// `http_output.url`, surrounding quotes stripped as Falco does; http:// or https:// only.
    fn url(&mut self, m: Option<&Mapping>) -> Result<String, ConfigError> {
        const KEY: &str = "http_output.url";
        let Some(v) = get(m, "url") else {
            return Ok(String::new());
        };
        let t = self.text(KEY, v, "a URL")?;
        let url = strip_quotes(t.text.trim()).trim();
        if url.is_empty() {
            return Ok(String::new());
        }
        let lower = url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("https://")
            .or_else(|| lower.strip_prefix("http://"));
        let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with(['/', '?', '#']));
        if !host_ok || url.contains(|c: char| c.is_ascii_whitespace() || c.is_ascii_control()) {
            return Err(invalid(format!(
                "config key `{KEY}`: expected an http:// or https:// URL with a host, got {}",
                t.shown
            )));
        }
        Ok(url.to_string())
    }

    /// `http_output.headers`: a mapping of header name -> value, in the order written.
    fn headers(&mut self, m: Option<&Mapping>) -> Result<Vec<(String, String)>, ConfigError> {
        const KEY: &str = "http_output.headers";
        let headers = match get(m, "headers") {
            None => return Ok(Vec::new()),
            Some(Value::Mapping(h)) => h,
            Some(other) => {
                return Err(invalid(format!(
                    "config key `{KEY}`: expected a mapping of header name to value, got {}",
                    show(other)
                )))
            }
        };
        let mut out = Vec::with_capacity(headers.len());
        for (k, v) in headers {
            let name = match untag(k) {
                Value::String(_) | Value::Number(_) | Value::Bool(_) => key_text(k),
                other => {
                    return Err(invalid(format!(
                        "config key `{KEY}`: expected header names, got {}",
                        show(other)
                    )))
                }
            };
            let key = format!("{KEY}.{name}");
            if name.is_empty() || !name.bytes().all(is_token_byte) {
                return Err(invalid(format!(
                    "config key `{key}`: {} is not a valid HTTP header name",
                    quote(&name)
                )));
            }
            let value = match untag(v) {
                Value::Null => String::new(),
                other => self.text(&key, other, "a header value (a string)")?.text,
            };
            if value.contains(['\r', '\n', '\0']) {
                return Err(invalid(format!(
                    "config key `{key}`: a header value may not contain line breaks or NUL, got {}",
                    quote(&value)
                )));
            }
            out.push((name, value));
        }
        Ok(out)
    }
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Falco strips one pair of matching surrounding quotes from `http_output.url`
/// (`outputs_http.cpp`).
fn strip_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// A facility name (`user`, `LOG_LOCAL0`, case-insensitive) or number 0..23.
fn parse_facility(s: &str) -> Option<u8> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u8>().ok().filter(|&n| n <= 23);
    }
    let lower = s.to_ascii_lowercase();
    let name = lower.strip_prefix("log_").unwrap_or(&lower);
    FACILITIES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The shape of a syslog address: `unix:///abs/path`, `udp://host:port`, `tcp://host:port`.
fn check_address(a: &str) -> Result<(), String> {
    if let Some(p) = a.strip_prefix("unix://") {
        if !p.starts_with('/') || p.len() < 2 {
            return Err("a unix address needs an absolute socket path".to_string());
        }
        if p.contains('\0') {
            return Err("the socket path contains NUL".to_string());
        }
        return Ok(());
    }
    let Some(hp) = a
        .strip_prefix("udp://")
        .or_else(|| a.strip_prefix("tcp://"))
    else {
        return Err("unsupported scheme".to_string());
    };
    let (host, port) = if let Some(v6) = hp.strip_prefix('[') {
        let (host, rest) = v6
            .split_once(']')
            .ok_or_else(|| "missing `]` after an IPv6 address".to_string())?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("`{host}` is not an IPv6 address"));
        }
        let port = rest
            .strip_prefix(':')
            .ok_or_else(|| "missing `:port`".to_string())?;
        (host, port)
    } else {
        let (host, port) = hp
            .rsplit_once(':')
            .ok_or_else(|| "missing `:port`".to_string())?;
        if host.contains(':') {
            return Err("an IPv6 address must be written in brackets, e.g. [::1]:514".to_string());
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
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        _ => Err(format!("`{port}` is not a port number 1..65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const FIXTURE: &str = "/work/shared/fixtures/falco.yaml";

    fn load_with(
        path: Option<&str>,
        yaml: Option<&str>,
        overrides: &[&str],
    ) -> (Result<Config, ConfigError>, Vec<String>) {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let sources = ConfigSources {
            config_path: path,
            config_yaml: yaml,
            overrides: &overrides,
        };
        let mut warnings = Vec::new();
        let result = load(&sources, &mut |w| warnings.push(w));
        (result, warnings)
    }

    /// Loads `yaml` (with stdout enabled unless the text mentions stdout_output).
    fn yaml(text: &str) -> Config {
        let (r, w) = load_with(None, Some(&with_stdout(text)), &[]);
        assert!(w.is_empty(), "unexpected warnings: {w:?}");
        r.unwrap_or_else(|e| panic!("load failed: {e}"))
    }

    fn with_stdout(text: &str) -> String {
        if text.contains("stdout_output") {
            text.to_string()
        } else {
            format!("stdout_output:\n  enabled: true\n{text}")
        }
    }

    fn yaml_err(text: &str) -> String {
        match load_with(None, Some(&with_stdout(text)), &[]).0 {
            Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
            Err(ConfigError::Io(m)) => panic!("expected Invalid, got Io({m})"),
            Err(ConfigError::Invalid(m)) => m,
        }
    }

    fn assert_names(msg: &str, parts: &[&str]) {
        for p in parts {
            assert!(msg.contains(p), "message {msg:?} does not contain {p:?}");
        }
    }

    struct TempFile(std::path::PathBuf);
    impl TempFile {
        fn new(name: &str, text: &str) -> TempFile {
            let path = std::env::temp_dir().join(format!(
                "falco-outputs-config-{}-{name}",
                std::process::id()
            ));
            let mut f = std::fs::File::create(&path).unwrap();
            f.write_all(text.as_bytes()).unwrap();
            TempFile(path)
        }
        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    // ---- defaults ----

    #[test]
    fn defaults_match_falco() {
        let c = Config::default();
        assert!(!c.json_output);
        assert!(c.json_include_output_property);
        assert!(c.json_include_tags_property);
        assert!(!c.json_include_message_property);
        assert!(c.json_include_output_fields_property);
        assert!(!c.time_format_iso_8601);
        assert!(!c.buffered_outputs);
        assert_eq!(c.queue_capacity, 0);
        assert_eq!(c.output_timeout_ms, 2000);
        assert!(!c.stdout.enabled);
        assert!(!c.syslog.enabled);
        assert!(!c.file.enabled);
        assert!(!c.program.enabled);
        assert!(!c.http.enabled);
        assert_eq!(c.file.mode, 0o600);
        assert!(!c.file.keep_alive);
        assert_eq!(c.file.filename, "");
        assert_eq!(c.syslog.address, "unix:///dev/log");
        assert_eq!(c.syslog.format, SyslogFormat::Rfc3164);
        assert_eq!(c.syslog.facility, 1);
        let h = &c.http;
        assert_eq!(h.user_agent, "falcosecurity/falco");
        assert_eq!(h.ca_path, "/etc/ssl/certs");
        assert_eq!(h.client_cert, "/etc/ssl/certs/client.crt");
        assert_eq!(h.client_key, "/etc/ssl/certs/client.key");
        assert_eq!(h.max_consecutive_timeouts, 5);
        assert_eq!(h.method, HttpMethod::Post);
        assert_eq!(h.timeout_ms, 5000);
        assert_eq!(h.retry_max_backoff_ms, 30000);
        assert_eq!(h.spool_dir, "");
        assert_eq!(h.spool_max_mb, 256);
        assert_eq!(h.batch_max_alerts, 1);
        assert_eq!(h.batch_max_wait_ms, 100);
        assert!(h.headers.is_empty());
        for p in [
            c.stdout.min_priority,
            c.file.min_priority,
            c.syslog.min_priority,
            c.program.min_priority,
            c.http.min_priority,
        ] {
            assert_eq!(p, Priority::Debug);
        }
    }

    #[test]
    fn minimal_config_is_defaults_plus_stdout() {
        let c = yaml("");
        let mut expected = Config::default();
        expected.stdout.enabled = true;
        assert_eq!(c, expected);
    }

    #[test]
    fn null_values_mean_default() {
        let c = yaml(
            "output_timeout:\njson_include_output_property:\nfile_output:\n  mode:\n  \
             min_priority:\nhttp_output:\n  user_agent:\n  headers:\nsyslog_output:\noutputs_queue:\n",
        );
        assert_eq!(c.output_timeout_ms, 2000);
        assert!(c.json_include_output_property);
        assert_eq!(c.file.mode, 0o600);
        assert_eq!(c.http.user_agent, "falcosecurity/falco");
        assert!(c.http.headers.is_empty());
    }

    #[test]
    fn all_keys_read() {
        let c = yaml(
            r#"
json_output: true
json_include_output_property: false
json_include_tags_property: false
json_include_message_property: true
json_include_output_fields_property: false
time_format_iso_8601: true
buffered_outputs: true
output_timeout: 500
outputs_queue:
  capacity: 1000
stdout_output:
  enabled: true
  min_priority: warning
syslog_output:
  enabled: true
  address: udp://127.0.0.1:514
  format: RFC5424
  facility: local3
  min_priority: Error
file_output:
  enabled: true
  keep_alive: true
  filename: /var/log/falco.txt
  mode: "0640"
  min_priority: notice
program_output:
  enabled: true
  keep_alive: true
  program: "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX"
  min_priority: info
http_output:
  enabled: true
  url: https://example.com/alerts
  user_agent: me/1
  insecure: true
  ca_cert: /ca.pem
  ca_bundle: /bundle.pem
  ca_path: /capath
  mtls: true
  client_cert: /c.crt
  client_key: /c.key
  echo: true
  compress_uploads: true
  keep_alive: true
  max_consecutive_timeouts: 9
  headers:
    Authorization: Bearer x
  method: put
  timeout_ms: 1234
  retry_max_backoff_ms: 60000
  spool_dir: /var/spool/falco
  spool_max_mb: 10
  batch_max_alerts: 50
  batch_max_wait_ms: 250
  min_priority: critical
"#,
        );
        assert!(c.json_output);
        assert!(!c.json_include_output_property);
        assert!(!c.json_include_tags_property);
        assert!(c.json_include_message_property);
        assert!(!c.json_include_output_fields_property);
        assert!(c.time_format_iso_8601);
        assert!(c.buffered_outputs);
        assert_eq!(c.output_timeout_ms, 500);
        assert_eq!(c.queue_capacity, 1000);
        assert_eq!(c.stdout.min_priority, Priority::Warning);
        assert_eq!(c.syslog.address, "udp://127.0.0.1:514");
        assert_eq!(c.syslog.format, SyslogFormat::Rfc5424);
        assert_eq!(c.syslog.facility, 19);
        assert_eq!(c.syslog.min_priority, Priority::Error);
        assert!(c.file.enabled && c.file.keep_alive);
        assert_eq!(c.file.filename, "/var/log/falco.txt");
        assert_eq!(c.file.mode, 0o640);
        assert_eq!(c.file.min_priority, Priority::Notice);
        assert!(c.program.enabled && c.program.keep_alive);
        assert!(c.program.program.starts_with("jq '{text: .output}' | curl"));
        assert_eq!(c.program.min_priority, Priority::Informational);
        let h = &c.http;
        assert!(h.enabled && h.insecure && h.mtls && h.echo && h.compress_uploads && h.keep_alive);
        assert_eq!(h.url, "https://example.com/alerts");
        assert_eq!(h.user_agent, "me/1");
        assert_eq!(
            (h.ca_cert.as_str(), h.ca_bundle.as_str(), h.ca_path.as_str()),
            ("/ca.pem", "/bundle.pem", "/capath")
        );
        assert_eq!(
            (h.client_cert.as_str(), h.client_key.as_str()),
            ("/c.crt", "/c.key")
        );
        assert_eq!(h.max_consecutive_timeouts, 9);
        assert_eq!(
            h.headers,
            vec![("Authorization".to_string(), "Bearer x".to_string())]
        );
        assert_eq!(h.method, HttpMethod::Put);
        assert_eq!(h.timeout_ms, 1234);
        assert_eq!(h.retry_max_backoff_ms, 60000);
        assert_eq!(h.spool_dir, "/var/spool/falco");
        assert_eq!(h.spool_max_mb, 10);
        assert_eq!(h.batch_max_alerts, 50);
        assert_eq!(h.batch_max_wait_ms, 250);
        assert_eq!(h.min_priority, Priority::Critical);
    }

    // ---- Falco's four init errors ----

    #[test]
    fn no_output_configured() {
        let (r, _) = load_with(None, None, &[]);
        let e = r.unwrap_err();
        assert_eq!(
            e.to_string().split(" (").next().unwrap(),
            "No output configured, please make sure at least one output is configured and enabled."
        );
        let (r, _) = load_with(None, Some("stdout_output:\n  enabled: false\n"), &[]);
        assert!(r.unwrap_err().to_string().starts_with(NO_OUTPUT_ERROR));
    }

    #[test]
    fn file_enabled_without_filename() {
        let e = yaml_err("file_output:\n  enabled: true\n");
        assert_names(
            &e,
            &[
                "Error reading config file (config_yaml): file output enabled but no filename in configuration block",
                "file_output.filename",
            ],
        );
        let e = yaml_err("file_output:\n  enabled: true\n  filename: \"\"\n");
        assert_names(&e, &["no filename"]);
    }

    #[test]
    fn program_enabled_without_program() {
        let e = yaml_err("program_output:\n  enabled: true\n");
        assert_names(
            &e,
            &[
                "program output enabled but no program in configuration block",
                "program_output.program",
            ],
        );
    }

    #[test]
    fn http_enabled_without_url() {
        let e = yaml_err("http_output:\n  enabled: true\n  url: \"\"\n");
        assert_names(
            &e,
            &[
                "http output enabled but no url in configuration block",
                "http_output.url",
            ],
        );
    }

    #[test]
    fn init_error_names_the_config_file() {
        let f = TempFile::new("nofile.yaml", "file_output:\n  enabled: true\n");
        let (r, _) = load_with(Some(f.path()), None, &[]);
        let e = r.unwrap_err().to_string();
        assert_names(&e, &[&format!("Error reading config file ({})", f.path())]);
    }

    // ---- type errors ----

    #[test]
    fn wrong_boolean_names_key_and_value() {
        let e = yaml_err("file_output:\n  keep_alive: maybe\n");
        assert_names(&e, &["`file_output.keep_alive`", "boolean", "\"maybe\""]);
        let e = yaml_err("json_output: 1\n");
        assert_names(&e, &["`json_output`", "boolean", "got 1"]);
        let e = yaml_err("stdout_output:\n  enabled: [true]\n");
        assert_names(&e, &["`stdout_output.enabled`", "a sequence"]);
    }

    #[test]
    fn yaml_cpp_boolean_strings() {
        for (text, expected) in [
            ("true", true),
            ("'yes'", true),
            ("YES", true),
            ("On", true),
            ("y", true),
            ("Y", true),
            ("tRuE", true),
            ("false", false),
            ("no", false),
            ("NO", false),
            ("off", false),
            ("n", false),
            ("\"False\"", false),
        ] {
            let c = yaml(&format!(
                "stdout_output:\n  enabled: true\njson_output: {text}\n"
            ));
            assert_eq!(c.json_output, expected, "json_output: {text}");
        }
    }

    #[test]
    fn wrong_integers() {
        let e = yaml_err("output_timeout: -5\n");
        assert_names(&e, &["`output_timeout`", "non-negative", "-5"]);
        let e = yaml_err("output_timeout: \"-5\"\n");
        assert_names(&e, &["`output_timeout`", "non-negative", "\"-5\""]);
        let e = yaml_err("output_timeout: 2.5\n");
        assert_names(&e, &["`output_timeout`", "integer", "2.5"]);
        let e = yaml_err("output_timeout: soon\n");
        assert_names(&e, &["`output_timeout`", "integer", "\"soon\""]);
        let e = yaml_err("output_timeout: 0\n");
        assert_names(&e, &["`output_timeout`", "greater than 0"]);
        let e = yaml_err("outputs_queue:\n  capacity: -1\n");
        assert_names(&e, &["`outputs_queue.capacity`", "-1"]);
        let e = yaml_err("http_output:\n  max_consecutive_timeouts: 99999999999\n");
        assert_names(
            &e,
            &[
                "`http_output.max_consecutive_timeouts`",
                "at most",
                "99999999999",
            ],
        );
        let e = yaml_err("http_output:\n  batch_max_alerts: 0\n");
        assert_names(&e, &["`http_output.batch_max_alerts`", "greater than 0"]);
        let e = yaml_err("http_output:\n  timeout_ms: {a: 1}\n");
        assert_names(&e, &["`http_output.timeout_ms`", "a mapping"]);
        let e = yaml_err("outputs_queue:\n  capacity: \"99999999999999999999999\"\n");
        assert_names(&e, &["`outputs_queue.capacity`", "99999999999999999999999"]);
    }

    #[test]
    fn decimal_strings_are_integers() {
        let c = yaml("output_timeout: \"750\"\noutputs_queue:\n  capacity: '+10'\n");
        assert_eq!(c.output_timeout_ms, 750);
        assert_eq!(c.queue_capacity, 10);
    }

    #[test]
    fn strings_accept_any_scalar_but_not_collections() {
        let c = yaml("http_output:\n  user_agent: 12\n  ca_path: true\n");
        assert_eq!(c.http.user_agent, "12");
        assert_eq!(c.http.ca_path, "true");
        let e = yaml_err("file_output:\n  filename: [a, b]\n");
        assert_names(&e, &["`file_output.filename`", "a sequence"]);
        let e = yaml_err("program_output:\n  program: {a: b}\n");
        assert_names(&e, &["`program_output.program`", "a mapping"]);
    }

    #[test]
    fn block_must_be_a_mapping() {
        let e = yaml_err("file_output: true\n");
        assert_names(&e, &["`file_output`", "mapping", "true"]);
        let e = yaml_err("http_output: [1]\n");
        assert_names(&e, &["`http_output`", "a sequence"]);
    }

    #[test]
    fn priorities() {
        let c = yaml("stdout_output:\n  enabled: true\n  min_priority: INFO\n");
        assert_eq!(c.stdout.min_priority, Priority::Informational);
        let c = yaml("http_output:\n  min_priority: Emergency\n");
        assert_eq!(c.http.min_priority, Priority::Emergency);
        let e = yaml_err("syslog_output:\n  min_priority: loud\n");
        assert_names(
            &e,
            &[
                "`syslog_output.min_priority`",
                "\"loud\"",
                "emergency, alert, critical, error, warning, notice, informational",
                "debug",
            ],
        );
    }

    // ---- file mode ----

    #[test]
    fn file_modes() {
        for (text, mode) in [
            ("\"0600\"", 0o600),
            ("\"600\"", 0o600),
            ("'0o644'", 0o644),
            ("0644", 0o644),
            ("644", 0o644),
            ("0o640", 0o640),
            ("0x1a4", 0o644),
            ("\"7777\"", 0o7777),
            ("0", 0),
        ] {
            let c = yaml(&format!("file_output:\n  mode: {text}\n"));
            assert_eq!(c.file.mode, mode, "mode: {text}");
        }
        let c = yaml("file_output: {mode: 0o640}\n");
        assert_eq!(c.file.mode, 0o640);
    }

    #[test]
    fn bad_file_modes() {
        for (text, shown) in [
            ("\"0698\"", "\"0698\""),
            ("0698", "\"0698\""),
            ("690", "690"),
            ("\"17777\"", "\"17777\""),
            ("rw-r--r--", "\"rw-r--r--\""),
            ("\"0o\"", "\"0o\""),
            ("-1", "-1"),
            ("0o17777", "8191"),
            ("\"77777777777777777777777\"", "\"77777777777777777777777\""),
        ] {
            let e = yaml_err(&format!("file_output:\n  mode: {text}\n"));
            assert_names(&e, &["`file_output.mode`", shown]);
        }
    }

    // ---- syslog ----

    #[test]
    fn syslog_facilities() {
        for (text, n) in [
            ("kern", 0),
            ("user", 1),
            ("MAIL", 2),
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
            ("local7", 23),
            ("LOG_LOCAL1", 17),
            ("13", 13),
            ("\"23\"", 23),
        ] {
            let c = yaml(&format!("syslog_output:\n  facility: {text}\n"));
            assert_eq!(c.syslog.facility, n, "facility: {text}");
        }
        for bad in ["24", "local8", "-1", "usr"] {
            let e = yaml_err(&format!("syslog_output:\n  facility: {bad}\n"));
            assert_names(&e, &["`syslog_output.facility`", bad, "local0"]);
        }
    }

    #[test]
    fn syslog_addresses() {
        for good in [
            "unix:///dev/log",
            "unix:///run/systemd/journal/syslog",
            "udp://127.0.0.1:514",
            "tcp://logs.example.com:6514",
            "udp://[::1]:514",
            "tcp://[fe80::1%eth0]:514",
        ] {
            if good.contains('%') {
                // A zone id is not a plain Ipv6Addr: refused, with a message.
                let e = yaml_err(&format!("syslog_output:\n  address: \"{good}\"\n"));
                assert_names(&e, &["`syslog_output.address`"]);
                continue;
            }
            let c = yaml(&format!("syslog_output:\n  address: \"{good}\"\n"));
            assert_eq!(c.syslog.address, good);
        }
        for bad in [
            "/dev/log",
            "unix://dev/log",
            "unix://",
            "udp://127.0.0.1",
            "udp://:514",
            "tcp://host:0",
            "tcp://host:65536",
            "tcp://host:51x",
            "tcp://::1:514",
            "http://host:514",
            "udp://ho st:514",
            "udp://host:514/path",
        ] {
            let e = yaml_err(&format!("syslog_output:\n  address: \"{bad}\"\n"));
            assert_names(
                &e,
                &[
                    "`syslog_output.address`",
                    &format!("\"{bad}\""),
                    "udp://host:port",
                ],
            );
        }
    }

    #[test]
    fn syslog_format() {
        assert_eq!(
            yaml("syslog_output:\n  format: rfc5424\n").syslog.format,
            SyslogFormat::Rfc5424
        );
        assert_eq!(
            yaml("syslog_output:\n  format: RFC3164\n").syslog.format,
            SyslogFormat::Rfc3164
        );
        let e = yaml_err("syslog_output:\n  format: json\n");
        assert_names(&e, &["`syslog_output.format`", "\"json\"", "rfc5424"]);
    }

    // ---- http ----

    #[test]
    fn headers_keep_order() {
        let c = yaml(
            "http_output:\n  headers:\n    Zeta: z\n    Alpha: a\n    X-Num: 5\n    Empty:\n    M: \"m\"\n",
        );
        let names: Vec<&str> = c.http.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["Zeta", "Alpha", "X-Num", "Empty", "M"]);
        assert_eq!(c.http.headers[2].1, "5");
        assert_eq!(c.http.headers[3].1, "");
    }

    #[test]
    fn bad_headers() {
        let e = yaml_err("http_output:\n  headers: [a, b]\n");
        assert_names(&e, &["`http_output.headers`", "a sequence"]);
        let e = yaml_err("http_output:\n  headers:\n    \"Bad Name\": x\n");
        assert_names(
            &e,
            &[
                "`http_output.headers.Bad Name`",
                "not a valid HTTP header name",
            ],
        );
        let e = yaml_err("http_output:\n  headers:\n    X-A: \"a\\r\\nInjected: 1\"\n");
        assert_names(&e, &["`http_output.headers.X-A`", "line breaks", "\\r\\n"]);
        let e = yaml_err("http_output:\n  headers:\n    X-A: [1]\n");
        assert_names(&e, &["`http_output.headers.X-A`", "a sequence"]);
    }

    #[test]
    fn url_quotes_are_stripped() {
        for (text, url) in [
            (r#""'http://a/b'""#, "http://a/b"),
            (r#"'"http://a/b"'"#, "http://a/b"),
            ("http://a/b", "http://a/b"),
        ] {
            let c = yaml(&format!("http_output:\n  url: {text}\n"));
            assert_eq!(c.http.url, url, "url: {text}");
        }
        // Mismatched quotes are not stripped, so the URL is refused.
        let e = yaml_err("http_output:\n  url: \"'http://a/b\"\n");
        assert_names(&e, &["`http_output.url`", "\"'http://a/b\""]);
        let e = yaml_err("http_output:\n  enabled: true\n  url: \"''\"\n");
        assert_names(&e, &["no url"]);
    }

    #[test]
    fn bad_urls() {
        for bad in [
            "file:///etc/passwd",
            "ftp://h/x",
            "localhost:2801",
            "http://",
            "https:///path",
            "http://a b/",
        ] {
            let e = yaml_err(&format!("http_output:\n  url: \"{bad}\"\n"));
            assert_names(&e, &["`http_output.url`", &format!("\"{bad}\""), "http://"]);
        }
        let c = yaml("http_output:\n  url: HTTPS://Example.com:8443/x?y=1\n");
        assert_eq!(c.http.url, "HTTPS://Example.com:8443/x?y=1");
    }

    #[test]
    fn nul_is_refused() {
        let e = yaml_err("file_output:\n  filename: \"/tmp/a\\0b\"\n");
        assert_names(&e, &["`file_output.filename`", "NUL", "\\u0000"]);
    }

    #[test]
    fn override_key_depth_is_limited() {
        let deep = format!("{}=1", vec!["a"; 65].join("."));
        let (r, _) = load_with(None, None, &[&deep]);
        assert_names(&r.unwrap_err().to_string(), &["deeper than 64"]);
        let ok = format!("{}=1", vec!["a"; 64].join("."));
        let (r, _) = load_with(None, None, &[&ok, "stdout_output.enabled=true"]);
        assert!(r.is_ok());
    }

    #[test]
    fn http_method() {
        assert_eq!(
            yaml("http_output:\n  method: Put\n").http.method,
            HttpMethod::Put
        );
        assert_eq!(
            yaml("http_output:\n  method: post\n").http.method,
            HttpMethod::Post
        );
        let e = yaml_err("http_output:\n  method: GET\n");
        assert_names(&e, &["`http_output.method`", "\"GET\"", "POST or PUT"]);
    }

    // ---- unknown keys ----

    #[test]
    fn unknown_keys_in_blocks_warn() {
        let text =
            "stdout_output:\n  enabled: true\n  colour: red\nfile_output:\n  kep_alive: true\n\
                    outputs_queue:\n  capacty: 5\nhttp_output:\n  retries: 3\nplugins: []\n\
                    webserver:\n  enabled: true\nsomething_else: 1\n";
        let (r, w) = load_with(None, Some(text), &[]);
        r.unwrap();
        assert_eq!(w.len(), 4, "{w:?}");
        for key in [
            "`stdout_output.colour`",
            "`file_output.kep_alive`",
            "`outputs_queue.capacty`",
            "`http_output.retries`",
        ] {
            assert!(
                w.iter().any(|m| m.contains(key) && m.contains("unknown")),
                "{key} in {w:?}"
            );
        }
    }

    // ---- sources and overrides ----

    #[test]
    fn precedence_file_then_yaml_then_overrides() {
        let f = TempFile::new(
            "prec.yaml",
            "stdout_output:\n  enabled: true\noutput_timeout: 100\njson_output: true\n\
             http_output:\n  user_agent: file\n  ca_path: /from/file\n",
        );
        let (r, _) = load_with(
            Some(f.path()),
            Some("output_timeout: 200\nhttp_output:\n  user_agent: yaml\n"),
            &["http_output.user_agent=cli"],
        );
        let c = r.unwrap();
        assert_eq!(c.output_timeout_ms, 200); // yaml over file
        assert!(c.json_output); // file kept
        assert_eq!(c.http.user_agent, "cli"); // -o over yaml
        assert_eq!(c.http.ca_path, "/from/file"); // deep merge kept the file's sibling key
        let (r, _) = load_with(
            Some(f.path()),
            Some("output_timeout: 200\n"),
            &["output_timeout=300", "output_timeout=400"],
        );
        assert_eq!(r.unwrap().output_timeout_ms, 400); // last -o wins
    }

    #[test]
    fn override_values_are_yaml_scalars() {
        let (r, _) = load_with(
            None,
            None,
            &[
                "stdout_output.enabled=true",
                "outputs_queue.capacity=100",
                "http_output.user_agent=\"x y\"",
                "program_output.program=curl -H \"a: b\" http://x # not a comment",
                "http_output.headers={X-A: '1', X-B: two}",
                "http_output.headers.X-C=3",
                "file_output.mode=0o644",
                "json_output=yes",
            ],
        );
        let c = r.unwrap();
        assert!(c.stdout.enabled);
        assert_eq!(c.queue_capacity, 100);
        assert_eq!(c.http.user_agent, "x y");
        assert_eq!(
            c.program.program,
            "curl -H \"a: b\" http://x # not a comment"
        );
        assert_eq!(
            c.http.headers,
            vec![
                ("X-A".to_string(), "1".to_string()),
                ("X-B".to_string(), "two".to_string()),
                ("X-C".to_string(), "3".to_string()),
            ]
        );
        assert_eq!(c.file.mode, 0o644);
        assert!(c.json_output);
    }

    #[test]
    fn override_creates_maps_and_appends() {
        let (r, w) = load_with(
            None,
            Some("rules_files: [a]\n"),
            &[
                "stdout_output.enabled=true",
                "rules_files[]=/etc/x.yaml",
                "plugins[0].name=k8s",
                "append_output[].suggested_output=true",
                "annotations.kubernetes\\.io/role=master",
            ],
        );
        assert!(w.is_empty(), "{w:?}");
        assert!(r.unwrap().stdout.enabled);
    }

    #[test]
    fn malformed_overrides() {
        for bad in ["stdout_output.enabled", "=true", " =x"] {
            let (r, _) = load_with(None, None, &[bad]);
            let e = r.unwrap_err().to_string();
            assert_names(&e, &[&format!("\"{bad}\""), "key=val"]);
        }
        for bad in [
            "a..b=1", "a.=1", "a[x]=1", "a[1=1", "a\\q=1", "a[5]=1", "a[0]b=1",
        ] {
            let (r, _) = load_with(None, None, &[bad]);
            let e = r.unwrap_err().to_string();
            assert_names(&e, &[&format!("override `{bad}`")]);
        }
        let (r, _) = load_with(None, None, &["http_output.headers={a: [1, }"]);
        let e = r.unwrap_err().to_string();
        assert_names(
            &e,
            &["override `http_output.headers={a: [1, }`", "line 1 column"],
        );
    }

    #[test]
    fn empty_override_value_is_default() {
        let (r, _) = load_with(
            None,
            Some("http_output:\n  user_agent: custom\n"),
            &["stdout_output.enabled=true", "http_output.user_agent="],
        );
        assert_eq!(r.unwrap().http.user_agent, "falcosecurity/falco");
    }

    #[test]
    fn yaml_syntax_errors_name_the_source_and_position() {
        let (r, _) = load_with(None, Some("a:\n  b: 1\n c: 2\n"), &[]);
        let e = r.unwrap_err().to_string();
        assert_names(&e, &["config_yaml", "line 3 column 2"]);

        let f = TempFile::new("broken.yaml", "stdout_output:\n  enabled: [true\n");
        let (r, _) = load_with(Some(f.path()), None, &[]);
        let e = r.unwrap_err().to_string();
        assert_names(&e, &[f.path(), "line 3"]);

        let (r, _) = load_with(None, Some("- just\n- a list\n"), &[]);
        let e = r.unwrap_err().to_string();
        assert_names(&e, &["config_yaml", "mapping", "a sequence"]);
    }

    #[test]
    fn unreadable_config_path_is_io() {
        let (r, _) = load_with(Some("/nonexistent/falco-outputs/falco.yaml"), None, &[]);
        match r.unwrap_err() {
            ConfigError::Io(m) => assert_names(
                &m,
                &[
                    "config_path: cannot read /nonexistent/falco-outputs/falco.yaml: ",
                    "os error 2",
                ],
            ),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn empty_config_file_is_fine() {
        let f = TempFile::new("empty.yaml", "# nothing here\n");
        let (r, _) = load_with(Some(f.path()), None, &["stdout_output.enabled=true"]);
        assert!(r.unwrap().stdout.enabled);
    }

    #[test]
    fn null_block_in_later_source_keeps_earlier_block() {
        let (r, _) = load_with(
            None,
            Some("stdout_output:\n  enabled: true\nhttp_output:\n  user_agent: a\n"),
            &[],
        );
        assert_eq!(r.unwrap().http.user_agent, "a");
        let f = TempFile::new("nullblock.yaml", "stdout_output:\n  enabled: true\n");
        let (r, _) = load_with(Some(f.path()), Some("stdout_output:\n"), &[]);
        assert!(r.unwrap().stdout.enabled);
    }

    // ---- environment ----

    #[test]
    fn env_expansion() {
        std::env::set_var("FALCO_OUTPUTS_CFGTEST_ENV1", "/var/log/a.txt");
        std::env::set_var("FALCO_OUTPUTS_CFGTEST_ENV1_TOKEN", "s3cr3t");
        let (r, w) = load_with(
            None,
            Some(
                "stdout_output:\n  enabled: true\nfile_output:\n  filename: ${FALCO_OUTPUTS_CFGTEST_ENV1}\n\
                 http_output:\n  headers:\n    Authorization: Bearer ${FALCO_OUTPUTS_CFGTEST_ENV1_TOKEN}\n\
                 \x20 user_agent: \"$${NOT_EXPANDED} $ ${FALCO_OUTPUTS_CFGTEST_ENV1_TOKEN}\"\n",
            ),
            &[],
        );
        let c = r.unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.file.filename, "/var/log/a.txt");
        assert_eq!(c.http.headers[0].1, "Bearer s3cr3t");
        assert_eq!(c.http.user_agent, "${NOT_EXPANDED} $ s3cr3t");
    }

    #[test]
    fn env_unset_warns_and_expands_to_empty() {
        let (r, w) = load_with(
            None,
            Some(
                "stdout_output:\n  enabled: true\nhttp_output:\n  \
                 user_agent: \"a${FALCO_OUTPUTS_CFGTEST_UNSET_2}b\"\n",
            ),
            &[],
        );
        assert_eq!(r.unwrap().http.user_agent, "ab");
        assert_eq!(w.len(), 1, "{w:?}");
        assert_names(
            &w[0],
            &[
                "`http_output.user_agent`",
                "FALCO_OUTPUTS_CFGTEST_UNSET_2",
                "not set",
            ],
        );
    }

    #[test]
    fn env_expansion_feeds_typed_values() {
        std::env::set_var("FALCO_OUTPUTS_CFGTEST_ENV3_ON", "true");
        std::env::set_var("FALCO_OUTPUTS_CFGTEST_ENV3_BAD", "maybe");
        std::env::set_var("FALCO_OUTPUTS_CFGTEST_ENV3_TIMEOUT", "900");
        let c = yaml(
            "stdout_output:\n  enabled: ${FALCO_OUTPUTS_CFGTEST_ENV3_ON}\n\
             output_timeout: ${FALCO_OUTPUTS_CFGTEST_ENV3_TIMEOUT}\n",
        );
        assert!(c.stdout.enabled);
        assert_eq!(c.output_timeout_ms, 900);
        let e = yaml_err("json_output: ${FALCO_OUTPUTS_CFGTEST_ENV3_BAD}\n");
        assert_names(
            &e,
            &[
                "`json_output`",
                "\"maybe\"",
                "FALCO_OUTPUTS_CFGTEST_ENV3_BAD",
            ],
        );
        // Expanded from -o values too.
        let (r, _) = load_with(
            None,
            None,
            &["stdout_output.enabled=${FALCO_OUTPUTS_CFGTEST_ENV3_ON}"],
        );
        assert!(r.unwrap().stdout.enabled);
    }

    #[test]
    fn expand_env_edge_cases() {
        std::env::set_var("FALCO_OUTPUTS_CFGTEST_ENV4", "v");
        let mut unset = Vec::new();
        let mut f = |s: &str| {
            let mut cb = |n: &str| unset.push(n.to_string());
            expand_env(s, &mut cb)
        };
        assert_eq!(f("plain"), "plain");
        assert_eq!(f("${FALCO_OUTPUTS_CFGTEST_ENV4}"), "v");
        assert_eq!(f("a$b${FALCO_OUTPUTS_CFGTEST_ENV4}"), "a$bv");
        assert_eq!(
            f("$${FALCO_OUTPUTS_CFGTEST_ENV4}"),
            "${FALCO_OUTPUTS_CFGTEST_ENV4}"
        );
        assert_eq!(f("${unterminated"), "${unterminated");
        assert_eq!(f("$${unterminated"), "$${unterminated");
        assert_eq!(f("x${}y"), "xy");
        assert_eq!(f("$"), "$");
        assert_eq!(f("€${FALCO_OUTPUTS_CFGTEST_ENV4}€"), "€v€");
        assert_eq!(unset, [""]);
    }

    // ---- the shipped falco.yaml ----

    fn fixture() -> Option<&'static str> {
        if std::path::Path::new(FIXTURE).exists() {
            Some(FIXTURE)
        } else {
            println!("skipping: {FIXTURE} is absent");
            None
        }
    }

    #[test]
    fn shipped_falco_yaml_loads() {
        let Some(path) = fixture() else { return };
        let (r, w) = load_with(Some(path), None, &[]);
        let c = r.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(w.is_empty(), "unexpected warnings: {w:?}");
        assert!(c.stdout.enabled);
        assert!(c.syslog.enabled);
        assert!(!c.file.enabled);
        assert_eq!(c.file.filename, "./events.txt");
        assert!(!c.program.enabled);
        assert!(!c.http.enabled);
        assert_eq!(c.http.url, "");
        assert_eq!(c.output_timeout_ms, 2000);
        assert_eq!(c.queue_capacity, 0);
        assert!(!c.json_output);
        // Apart from the channels the shipped file turns on, it spells out Falco's defaults.
        let mut expected = Config::default();
        expected.stdout.enabled = true;
        expected.syslog.enabled = true;
        expected.file.filename = "./events.txt".to_string();
        expected.program.program =
            "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX"
                .to_string();
        assert_eq!(c, expected);
    }

    #[test]
    fn shipped_falco_yaml_with_overrides() {
        let Some(path) = fixture() else { return };
        let (r, w) = load_with(
            Some(path),
            None,
            &[
                "stdout_output.enabled=false",
                "syslog_output.enabled=false",
                "file_output.enabled=true",
                "file_output.filename=/tmp/x",
                "json_output=true",
            ],
        );
        let c = r.unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert!(!c.stdout.enabled && !c.syslog.enabled);
        assert!(c.file.enabled);
        assert_eq!(c.file.filename, "/tmp/x");
        assert!(c.json_output);

        let (r, _) = load_with(
            Some(path),
            Some("http_output:\n  enabled: true\n"),
            &["stdout_output.enabled=false", "syslog_output.enabled=false"],
        );
        let e = r.unwrap_err().to_string();
        assert_names(
            &e,
            &[
                path,
                "http output enabled but no url in configuration block",
            ],
        );

        let (r, _) = load_with(
            Some(path),
            None,
            &["stdout_output.enabled=false", "syslog_output.enabled=false"],
        );
        assert!(r.unwrap_err().to_string().starts_with(NO_OUTPUT_ERROR));

        let (r, _) = load_with(
            Some(path),
            None,
            &[
                "program_output.enabled=true",
                "http_output.enabled=true",
                "http_output.url='http://h:1/'",
            ],
        );
        let c = r.unwrap();
        assert!(c.program.enabled && c.http.enabled);
        assert_eq!(c.http.url, "http://h:1/");
    }
}
