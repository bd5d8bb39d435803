//! The configuration as a user writes it: files, `config_yaml`, `-o`, environment.

use super::*;
use crate::alert::Priority;
use crate::error::{InitError, InitErrorKind};
use checks::NO_OUTPUT_ERROR;
use std::io::Write;

/// Falco's shipped falco.yaml, vendored (tests/fixtures/README.md says from which commits).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/falco-master.yaml"
);
const FIXTURE_0_39: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/falco-0.39.2.yaml"
);

fn load_with(
    path: Option<&str>,
    yaml: Option<&str>,
    overrides: &[&str],
) -> (Result<Config, InitError>, Vec<String>) {
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
        Err(e) if e.kind() == InitErrorKind::Io => panic!("expected Invalid, got Io({e})"),
        Err(e) => e.into_message(),
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
    assert_eq!(c.outputs_queue.capacity, 0);
    assert_eq!(c.outputs_queue.max_delay_ms, 10);
    assert_eq!(c.output_timeout_ms, 2000);
    assert!(!c.stdout.enabled);
    assert!(!c.syslog.enabled);
    assert!(!c.file.enabled);
    assert!(!c.program.enabled);
    assert!(!c.http.enabled);
    assert_eq!(c.file.mode, 0o600);
    assert!(!c.file.keep_alive);
    assert_eq!(c.file.filename, "");
    assert_eq!(c.syslog.address, SyslogAddress::Unix("/dev/log".into()));
    assert_eq!(c.syslog.format, SyslogFormat::Rfc3164);
    assert_eq!(c.syslog.facility, 1);
    let h = &c.http;
    assert_eq!(h.transport.user_agent, "falcosecurity/falco");
    assert_eq!(h.transport.ca_path, "/etc/ssl/certs");
    assert_eq!(h.transport.client_cert, "/etc/ssl/certs/client.crt");
    assert_eq!(h.transport.client_key, "/etc/ssl/certs/client.key");
    assert_eq!(h.max_consecutive_timeouts, 5);
    assert_eq!(h.method, HttpMethod::Post);
    assert_eq!(h.transport.timeout_ms, 5000);
    assert_eq!(h.transport.retry_max_backoff_ms, 30000);
    assert_eq!(h.transport.spool_dir, "");
    assert_eq!(h.transport.spool_max_mb, 256);
    assert_eq!(h.transport.batch_max_alerts, 1);
    assert_eq!(h.transport.batch_max_wait_ms, 100);
    assert!(h.transport.headers.is_empty());
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
    assert_eq!(c.http.transport.user_agent, "falcosecurity/falco");
    assert!(c.http.transport.headers.is_empty());
}

/// Every key Falco documents, each set to a value other than its default.
const ALL_KEYS: &str = r#"
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
"#;

#[test]
fn all_keys_read() {
    let c = yaml(ALL_KEYS);
    assert!(c.json_output);
    assert!(!c.json_include_output_property);
    assert!(!c.json_include_tags_property);
    assert!(c.json_include_message_property);
    assert!(!c.json_include_output_fields_property);
    assert!(c.time_format_iso_8601);
    assert!(c.buffered_outputs);
    assert_eq!(c.output_timeout_ms, 500);
    assert_eq!(c.outputs_queue.capacity, 1000);
    assert_eq!(c.stdout.min_priority, Priority::Warning);
    assert_eq!(
        c.syslog.address,
        SyslogAddress::Udp("127.0.0.1".into(), 514)
    );
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
    http_keys_read(&c.http);
}

/// `all_keys_read`'s `http_output` block.
fn http_keys_read(h: &HttpConfig) {
    let t = &h.transport;
    assert!(h.enabled && t.insecure && t.mtls && h.echo && t.compress_uploads && t.keep_alive);
    assert_eq!(t.url.as_str(), "https://example.com/alerts");
    assert_eq!(t.user_agent, "me/1");
    assert_eq!(
        (t.ca_cert.as_str(), t.ca_bundle.as_str(), t.ca_path.as_str()),
        ("/ca.pem", "/bundle.pem", "/capath")
    );
    assert_eq!(
        (t.client_cert.as_str(), t.client_key.as_str()),
        ("/c.crt", "/c.key")
    );
    assert_eq!(h.max_consecutive_timeouts, 9);
    assert_eq!(
        t.headers,
        vec![("Authorization".to_string(), "Bearer x".to_string())]
    );
    assert_eq!(h.method, HttpMethod::Put);
    assert_eq!(t.timeout_ms, 1234);
    assert_eq!(t.retry_max_backoff_ms, 60000);
    assert_eq!(t.spool_dir, "/var/spool/falco");
    assert_eq!(t.spool_max_mb, 10);
    assert_eq!(t.batch_max_alerts, 50);
    assert_eq!(t.batch_max_wait_ms, 250);
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
    assert_names(&e, &["`json_output`", "boolean", "got \"1\""]);
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
    assert_eq!(c.outputs_queue.capacity, 10);
    let c = yaml("outputs_queue:\n  max_delay_ms: 0\n");
    assert_eq!(c.outputs_queue.max_delay_ms, 0);
    let e = yaml_err("outputs_queue:\n  max_delay_ms: -1\n");
    assert_names(&e, &["`outputs_queue.max_delay_ms`", "-1"]);
}

#[test]
fn thread_per_channel_is_off_unless_asked_for() {
    assert!(!yaml("").outputs_queue.thread_per_channel);
    let c = yaml("outputs_queue:\n  thread_per_channel: true\n");
    assert!(c.outputs_queue.thread_per_channel);
    let e = yaml_err("outputs_queue: {thread_per_channel: sometimes}\n");
    assert_names(
        &e,
        &[
            "`outputs_queue.thread_per_channel`",
            "boolean",
            "\"sometimes\"",
        ],
    );
}

#[test]
fn strings_accept_any_scalar_but_not_collections() {
    let c = yaml("http_output:\n  user_agent: 12\n  ca_path: true\n");
    assert_eq!(c.http.transport.user_agent, "12");
    assert_eq!(c.http.transport.ca_path, "true");
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
        ("0o17777", "\"0o17777\""),
        ("0x1000", "\"0x1000\""),
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
        "relp://127.0.0.1:2514",
        "relp://[::1]:2514",
        "tls://logs.example.com:6514",
        "tls://[::1]:10514",
        "relp+tls://127.0.0.1:2514",
    ] {
        if good.contains('%') {
            // A zone id is not a plain Ipv6Addr: refused, with a message.
            let e = yaml_err(&format!("syslog_output:\n  address: \"{good}\"\n"));
            assert_names(&e, &["`syslog_output.address`"]);
            continue;
        }
        let c = yaml(&format!("syslog_output:\n  address: \"{good}\"\n"));
        assert_eq!(c.syslog.address.to_string(), good);
    }
    let c = yaml("syslog_output:\n  address: \"relp://logs.example.com:2514\"\n");
    assert_eq!(
        c.syslog.address,
        SyslogAddress::Relp("logs.example.com".into(), 2514)
    );
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
        "relp://host",
        "relp://:2514",
        "RELP//host:1",
        "relp+tls://host",
        "tls://host:",
        "tls://:6514",
        "tls+relp://host:1",
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
fn syslog_tls_address_and_block() {
    // tls:// alone takes RFC 5425's port.
    for (text, want) in [
        (
            "tls://logs.example.com",
            SyslogAddress::Tls("logs.example.com".into(), 6514),
        ),
        ("tls://[::1]", SyslogAddress::Tls("::1".into(), 6514)),
        (
            "relp+tls://h:2514",
            SyslogAddress::RelpTls("h".into(), 2514),
        ),
    ] {
        let c = yaml(&format!("syslog_output:\n  address: \"{text}\"\n"));
        assert_eq!(c.syslog.address, want, "{text}");
    }
    let pin = format!("SHA256:{}", "AB:".repeat(31) + "AB");
    let c = yaml(&format!(
        "syslog_output:\n  enabled: true\n  address: tls://h\n  tls:\n    auth_mode: FINGERPRINT\n    \
         permitted_peers: [\"{pin}\"]\n"
    ));
    assert_eq!(
        c.syslog.tls.auth_mode,
        crate::config::TlsAuthMode::Fingerprint
    );
    assert_eq!(c.syslog.tls.permitted_peers[0].to_string(), pin);
    // Each wrong value or combination names its key.
    let on = "syslog_output:\n  enabled: true\n  address: tls://h\n  tls:\n";
    for (body, key) in [
        ("    auth_mode: anon\n", "`syslog_output.tls.auth_mode`"),
        (
            "    auth_mode: fingerprint\n",
            "`syslog_output.tls.permitted_peers`",
        ),
        (
            "    permitted_peers: [\"SHA256:00\"]\n",
            "`syslog_output.tls.permitted_peers[0]`",
        ),
        (
            &format!("    permitted_peers: [\"{pin}\"]\n"),
            "`syslog_output.tls.permitted_peers`",
        ),
        (
            "    auth_mode: certvalid\n",
            "`syslog_output.tls.auth_mode`",
        ),
        (
            "    client_cert: /c.pem\n",
            "`syslog_output.tls.client_key`",
        ),
        (
            "    client_key: /c.key\n",
            "`syslog_output.tls.client_cert`",
        ),
    ] {
        assert_names(&yaml_err(&format!("{on}{body}")), &[key]);
    }
    // A TLS block beside a clear-text address: refused.
    let e = yaml_err(
        "syslog_output:\n  enabled: true\n  address: tcp://h:514\n  tls: {ca_cert: /ca.pem}\n",
    );
    assert_names(&e, &["`syslog_output.tls`", "clear text", "tls://"]);
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
    let names: Vec<&str> = c
        .http
        .transport
        .headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(names, ["Zeta", "Alpha", "X-Num", "Empty", "M"]);
    assert_eq!(c.http.transport.headers[2].1, "5");
    assert_eq!(c.http.transport.headers[3].1, "");
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
    assert_names(
        &e,
        &["`http_output.headers.X-A`", "line break", "not shown"],
    );
    assert!(!e.contains("Injected"), "{e}");
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
        assert_eq!(c.http.transport.url.as_str(), url, "url: {text}");
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
    assert_eq!(
        c.http.transport.url.as_str(),
        "HTTPS://Example.com:8443/x?y=1"
    );
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
    let text = "stdout_output:\n  enabled: true\n  colour: red\nfile_output:\n  kep_alive: true\n\
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
    assert_eq!(c.http.transport.user_agent, "cli"); // -o over yaml
    assert_eq!(c.http.transport.ca_path, "/from/file"); // deep merge kept the file's sibling key
    let (r, _) = load_with(
        Some(f.path()),
        Some("output_timeout: 200\n"),
        &["output_timeout=300", "output_timeout=400"],
    );
    assert_eq!(r.unwrap().output_timeout_ms, 400); // last -o wins
}

/// Falco's `set_cmdline_option`: `{...}` is YAML, anything else the text as given.
#[test]
fn override_values_are_text_unless_braced() {
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
    assert_eq!(c.outputs_queue.capacity, 100);
    assert_eq!(c.http.transport.user_agent, "\"x y\""); // quotes kept, as in Falco
    assert_eq!(
        c.program.program,
        "curl -H \"a: b\" http://x # not a comment"
    );
    assert_eq!(
        c.http.transport.headers,
        vec![
            ("X-A".to_string(), "1".to_string()),
            ("X-B".to_string(), "two".to_string()),
            ("X-C".to_string(), "3".to_string()),
        ]
    );
    assert_eq!(c.file.mode, 0o644);
    assert!(c.json_output);

    let (r, _) = load_with(
        None,
        None,
        &[
            "stdout_output.enabled=true",
            "program_output.program= cat [a, b] ~",
            "http_output.user_agent=~",
            "http_output.ca_path=[x]",
            "http_output.headers={X-A: '  spaced  '}",
        ],
    );
    let c = r.unwrap();
    assert_eq!(c.program.program, " cat [a, b] ~"); // not trimmed
    assert_eq!(c.http.transport.user_agent, "~"); // a string, not null
    assert_eq!(c.http.transport.ca_path, "[x]"); // only {...} is YAML
    assert_eq!(c.http.transport.headers[0].1, "  spaced  ");
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
    assert_eq!(
        w.len(),
        1,
        "the append_output entry needs the engine: {w:?}"
    );
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

/// `key=` sets the empty text, as in Falco: an empty string, or the default for a typed key.
#[test]
fn empty_override_value() {
    let (r, _) = load_with(
        None,
        Some("http_output:\n  user_agent: custom\noutput_timeout: 5\n"),
        &[
            "stdout_output.enabled=true",
            "http_output.user_agent=",
            "output_timeout=",
        ],
    );
    let c = r.unwrap();
    assert_eq!(c.http.transport.user_agent, "");
    assert_eq!(c.output_timeout_ms, 2000);
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
    let e = r.unwrap_err();
    match e.kind() {
        InitErrorKind::Io => assert_names(
            e.message(),
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
    assert_eq!(r.unwrap().http.transport.user_agent, "a");
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
    assert_eq!(c.http.transport.headers[0].1, "Bearer s3cr3t");
    assert_eq!(c.http.transport.user_agent, "${NOT_EXPANDED} $ s3cr3t");
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
    assert_eq!(r.unwrap().http.transport.user_agent, "ab");
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
    // Not in -o values, as in Falco (it expands only the files it loads).
    let (r, w) = load_with(
        None,
        None,
        &[
            "stdout_output.enabled=true",
            "http_output.user_agent=${FALCO_OUTPUTS_CFGTEST_ENV3_ON}",
            "http_output.headers={X-A: '${FALCO_OUTPUTS_CFGTEST_ENV3_ON}'}",
        ],
    );
    let c = r.unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        c.http.transport.user_agent,
        "${FALCO_OUTPUTS_CFGTEST_ENV3_ON}"
    );
    assert_eq!(
        c.http.transport.headers[0].1,
        "${FALCO_OUTPUTS_CFGTEST_ENV3_ON}"
    );
}

// ---- the shipped falco.yaml ----

/// A vendored fixture; a missing one fails the test.
fn fixture(path: &'static str) -> &'static str {
    assert!(
        std::path::Path::new(path).is_file(),
        "fixture {path} is missing (tests/fixtures/README.md)"
    );
    path
}

#[test]
fn shipped_falco_yaml_loads() {
    for path in [fixture(FIXTURE), fixture(FIXTURE_0_39)] {
        let (r, w) = load_with(Some(path), None, &[]);
        let c = r.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(c.stdout.enabled);
        assert!(c.syslog.enabled);
        assert!(!c.file.enabled);
        assert_eq!(c.file.filename, "./events.txt");
        assert!(!c.program.enabled);
        assert!(!c.http.enabled);
        assert_eq!(c.output_timeout_ms, 2000);
        assert_eq!(c.outputs_queue.capacity, 0);
        assert!(!c.json_output);
        // Apart from the channels the shipped file turns on, it spells out Falco's defaults.
        let mut expected = Config::default();
        expected.stdout.enabled = true;
        expected.syslog.enabled = true;
        expected.file.filename = "./events.txt".to_string();
        expected.program.program =
            "jq '{text: .output}' | curl -d @- -X POST https://hooks.slack.com/services/XXX"
                .to_string();
        if path == FIXTURE {
            // Master ships one append_output entry, which only the engine can apply: one
            // warning naming it.
            expected.append_output = vec![append::AppendOutput {
                suggested_output: true,
                ..Default::default()
            }];
            assert_eq!(w.len(), 1, "{w:?}");
            assert_names(&w[0], &["`append_output[0]`", "suggested_output", "engine"]);
        } else {
            // 0.39 shipped an example URL (master ships none).
            expected.http.transport.url = "http://some.url".parse().unwrap();
            assert!(w.is_empty(), "{path}: unexpected warnings: {w:?}");
        }
        assert_eq!(c, expected, "{path}");
    }
}

#[test]
fn shipped_falco_yaml_with_overrides() {
    let path = fixture(FIXTURE);
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
    assert_eq!(w.len(), 1, "only the append_output warning: {w:?}");
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
    assert_eq!(c.http.transport.url.as_str(), "http://h:1/");
}

// ---- scalars are read from their text ----

#[test]
fn file_mode_does_not_depend_on_other_blocks() {
    // `420` is octal text (0o420) wherever `0o644` appears elsewhere in the document.
    let c = yaml("file_output:\n  mode: 420\nplugins:\n  - init_config: {mode: 0o644}\n");
    assert_eq!(c.file.mode, 0o420);
    let c = yaml("file_output:\n  mode: 0o644\nother:\n  mode: 420\n");
    assert_eq!(c.file.mode, 0o644);
    let (r, _) = load_with(
        None,
        Some("stdout_output:\n  enabled: true\nx: {mode: 0o644}\n"),
        &["file_output.mode=420"],
    );
    assert_eq!(r.unwrap().file.mode, 0o420);
}

#[test]
fn strings_keep_their_spelling() {
    let c = yaml(
        "http_output:\n  user_agent: 1.10\n  ca_path: True\n  headers:\n    X-Version: 2.50\n    X-Hex: 0x1F\n",
    );
    assert_eq!(c.http.transport.user_agent, "1.10");
    assert_eq!(c.http.transport.ca_path, "True");
    assert_eq!(c.http.transport.headers[0].1, "2.50");
    assert_eq!(c.http.transport.headers[1].1, "0x1F");
}

/// `otlp_output` embeds the HTTP transport's keys (`flattened transport`, issue 20): each is
/// still read from the block itself, with OTLP's defaults as before the move (keep_alive on,
/// timeout 10 s, batches of 100 / 200 ms; the rest as `http_output`'s), and an error still names
/// `otlp_output.<key>`.
#[test]
fn otlp_transport_keys_read_in_the_block_with_otlp_defaults() {
    let d = &Config::default().otlp.transport;
    assert_eq!(d.url.as_str(), "");
    assert_eq!(d.user_agent, "falcosecurity/falco");
    assert!(!d.insecure && !d.mtls && !d.compress_uploads);
    assert_eq!((d.ca_cert.as_str(), d.ca_bundle.as_str()), ("", ""));
    assert_eq!(d.ca_path, "/etc/ssl/certs");
    assert_eq!(d.client_cert, "/etc/ssl/certs/client.crt");
    assert_eq!(d.client_key, "/etc/ssl/certs/client.key");
    assert!(d.keep_alive);
    assert!(d.headers.is_empty());
    assert_eq!((d.timeout_ms, d.retry_max_backoff_ms), (10000, 30000));
    assert_eq!((d.spool_dir.as_str(), d.spool_max_mb), ("", 256));
    assert_eq!((d.batch_max_alerts, d.batch_max_wait_ms), (100, 200));

    let c = yaml(
        "otlp_output:\n  enabled: true\n  url: http://collector:4318\n  user_agent: me/2\n  \
         insecure: true\n  ca_cert: /a\n  ca_bundle: /b\n  ca_path: /c\n  mtls: true\n  \
         client_cert: /d\n  client_key: /e\n  compress_uploads: true\n  keep_alive: false\n  \
         headers: {X-A: a}\n  timeout_ms: 7\n  retry_max_backoff_ms: 8\n  spool_dir: /f\n  \
         spool_max_mb: 9\n  batch_max_alerts: 10\n  batch_max_wait_ms: 11\n",
    );
    let t = &c.otlp.transport;
    assert!(c.otlp.enabled);
    assert_eq!(t.url.as_str(), "http://collector:4318");
    assert_eq!(t.user_agent, "me/2");
    assert!(t.insecure && t.mtls && t.compress_uploads && !t.keep_alive);
    assert_eq!(
        [
            &t.ca_cert,
            &t.ca_bundle,
            &t.ca_path,
            &t.client_cert,
            &t.client_key,
            &t.spool_dir
        ],
        ["/a", "/b", "/c", "/d", "/e", "/f"]
    );
    assert_eq!(t.headers, [("X-A".to_string(), "a".to_string())]);
    assert_eq!(
        (t.timeout_ms, t.retry_max_backoff_ms, t.spool_max_mb),
        (7, 8, 9)
    );
    assert_eq!((t.batch_max_alerts, t.batch_max_wait_ms), (10, 11));

    let e = yaml_err("otlp_output:\n  timeout_ms: 0\n");
    assert_names(&e, &["`otlp_output.timeout_ms`", "greater than 0"]);
    let e = yaml_err("otlp_output:\n  batch_max_alerts: 0\n");
    assert_names(&e, &["`otlp_output.batch_max_alerts`", "greater than 0"]);
    let e = yaml_err("otlp_output:\n  enabled: true\n");
    assert_names(&e, &["otlp_output.url"]);
}
