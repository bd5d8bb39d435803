//! Secrets never leave the configuration (issue 9, points 8 and 9): a header value (after
//! `${VAR}` expansion), the user agent, and a URL's user, password, query and fragment appear in
//! no init error, no log line and nothing on stderr, even when the value is refused; and a
//! user agent with a line break is refused like a header value (no header injection).

use falco_outputs::{InitErrorKind, Options, Outputs};

use crate::support::*;

const SECRETS: [&str; 5] = [
    "s3cr3t-hdr",
    "pa55w0rd",
    "qs-t0ken",
    "frag-k3y",
    "s3cr3t-ua",
];
const TOKEN_VAR: &str = "FALCO_OUTPUTS_TEST_SECRET_TOKEN";

/// A configuration that must be refused, and the key its error must name.
fn refused_cases() -> Vec<(&'static str, String)> {
    let http =
        |body: &str| format!("http_output:\n  enabled: true\n  url: http://127.0.0.1:9/a\n{body}");
    vec![
        // A mounted token with a trailing newline, through ${VAR}.
        (
            "http_output.headers.Authorization",
            http(&format!("  headers:\n    Authorization: \"${{{TOKEN_VAR}}}\"\n")),
        ),
        (
            "http_output.headers.X-Key",
            http("  headers:\n    X-Key: \"s3cr3t-hdr\\r\\nX-Injected: yes\"\n"),
        ),
        (
            "http_output.headers.X-Key",
            http("  headers:\n    X-Key: \"s3cr3t-hdr\\0\"\n"),
        ),
        (
            "http_output.user_agent",
            http("  user_agent: \"falco\\r\\nX-Injected: s3cr3t-ua\"\n"),
        ),
        (
            "http_output.user_agent",
            http("  user_agent: \"s3cr3t-ua\\0\"\n"),
        ),
        (
            "http_output.url",
            "http_output:\n  enabled: true\n  url: \"http://u:pa55w0rd@h.example/a b?token=qs-t0ken#frag-k3y\"\n"
                .to_string(),
        ),
        (
            "http_output.url",
            "http_output:\n  enabled: true\n  url: \"ftp://u:pa55w0rd@h.example/a?token=qs-t0ken#frag-k3y\"\n"
                .to_string(),
        ),
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{s} leaked in {what}: {text}");
    }
}

#[test]
fn refused_values_name_the_key_never_the_secret() {
    std::env::set_var(TOKEN_VAR, "Bearer s3cr3t-hdr\n");
    for (key, yaml) in refused_cases() {
        let logs = Logs::default();
        let err = match try_open(&yaml, &logs) {
            Err(e) if e.kind() == InitErrorKind::Config => e.into_message(),
            Err(e) => panic!("{key}: not a config error: {e:?}"),
            Ok(_) => panic!("{key}: accepted:\n{yaml}"),
        };
        assert!(err.contains(&format!("`{key}`")), "{key} not named: {err}");
        assert_no_secret("the init error", &err);
        assert_no_secret("the log", &logs.lines().join("\n"));
    }
}

#[test]
fn a_refused_url_is_shown_redacted() {
    let logs = Logs::default();
    let err = try_open(
        "http_output:\n  enabled: true\n  url: \"https://u:pa55w0rd@h.example:8443/p q?token=qs-t0ken\"\n",
        &logs,
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("\"https://h.example:8443/p q\""), "{err}");
}

#[test]
fn a_good_user_agent_and_headers_are_accepted() {
    let (out, logs) = open(
        "http_output:\n  enabled: true\n  url: \"http://u:pa55w0rd@127.0.0.1:9/a?token=qs-t0ken\"\n  \
         user_agent: \"falco/1 (s3cr3t-ua)\"\n  headers:\n    Authorization: Bearer s3cr3t-hdr\n",
    );
    out.close(Some(std::time::Duration::from_millis(100))).ok();
    assert_no_secret("the log", &logs.lines().join("\n"));
}

/// The same refusals with the library's default log (stderr), as a host without a log callback
/// runs it; the child prints each init error to stderr as such a host would. The parent reads
/// everything the child wrote.
#[test]
fn nothing_on_stderr_either() {
    in_child_process(stderr_child, |child| {
        let out = child
            .command()
            .env(TOKEN_VAR, "Bearer s3cr3t-hdr\n")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}\n{stderr}"
        );
        let n = refused_cases().len();
        assert_eq!(stderr.matches("init error: ").count(), n, "{stderr}");
        assert_no_secret("stderr", &stderr);
        assert_no_secret("stdout", &stdout);
    });
}

fn stderr_child() {
    for (_, yaml) in refused_cases() {
        match Outputs::open(Options {
            config_yaml: Some(yaml),
            ..Options::default()
        }) {
            Err(e) => eprintln!("init error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }
}
