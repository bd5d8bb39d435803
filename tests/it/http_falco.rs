//! The http channel's Falco behaviour, as a real server on loopback receives it: one request per
//! alert with the line as the body, Falco's headers, TLS verification and its options, mTLS,
//! gzip, PUT, custom headers and `echo`.

use std::time::Duration;

use crate::support::http::*;
use crate::support::*;
use falco_outputs::testing::{Channel, HttpChannel, HttpConfig, HttpMethod};

/// Opens a channel, hands it `lines` one batch at a time and closes it (bounded by `close_in`).
fn send(cfg: &HttpConfig, json: bool, lines: &[String]) -> (Harness, Result<(), String>) {
    let ctx = Harness::http();
    let mut ch = match HttpChannel::open_http(cfg, json, &ctx.logger()) {
        Ok(ch) => ch,
        Err(e) => return (ctx, Err(format!("{e:?}"))),
    };
    for l in lines {
        ch.deliver(&batch(&[l]), &ctx.ctx);
    }
    ctx.abort_after(Duration::from_millis(1500));
    ch.close(&ctx.ctx);
    (ctx, Ok(()))
}

#[test]
fn plain_http_post_body_and_headers_as_falco_sends_them() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts::default());
    let lines = alert_lines("plain", 3);
    let (ctx, r) = send(&http_config(&srv.url("/some/path/")), true, &lines);
    r.unwrap();
    let reqs = srv.wait_requests(3, Duration::from_secs(5));
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    for (req, line) in reqs.iter().zip(&lines) {
        assert_eq!(req["method"], "POST");
        assert_eq!(req["path"], "/some/path/");
        assert_eq!(
            req["body"].as_str().unwrap(),
            line,
            "body is the bare line, no newline"
        );
        assert_eq!(header(req, "Content-Type"), Some("application/json"));
        assert_eq!(header(req, "User-Agent"), Some("falcosecurity/falco"));
        assert_eq!(
            header(req, "Content-Length"),
            Some(line.len().to_string().as_str())
        );
        assert_eq!(header(req, "Expect"), None);
    }
    let st = ctx.stats();
    assert_eq!((st.delivered, st.failed, st.discarded), (3, 0, 0));
}

#[test]
fn text_output_is_text_plain_and_user_agent_is_configurable() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts::default());
    let mut cfg = http_config(&srv.url("/"));
    cfg.transport.user_agent = "my-agent/1.0".into();
    let line = "16:31:56.746609046: Error File opened for writing (user=root)".to_string();
    send(&cfg, false, std::slice::from_ref(&line)).1.unwrap();
    let reqs = srv.wait_requests(1, Duration::from_secs(5));
    assert_eq!(reqs[0]["body"].as_str().unwrap(), line);
    assert_eq!(header(&reqs[0], "Content-Type"), Some("text/plain"));
    assert_eq!(header(&reqs[0], "User-Agent"), Some("my-agent/1.0"));
}

#[test]
fn https_with_test_ca_refused_by_default_accepted_with_each_trust_option() {
    if !require("python3") || !require("openssl") {
        return;
    }
    let c = certs();
    let srv = Server::start(ServerOpts {
        tls: true,
        ..Default::default()
    });
    let url = srv.url("/tls");

    // Default trust store: the test CA is unknown, nothing is delivered, the attempt is an error.
    let (ctx, r) = send(&http_config(&url), true, &alert_lines("refused", 1));
    r.unwrap();
    assert_eq!(srv.requests().len(), 0, "an untrusted server got a request");
    let st = ctx.stats();
    assert_eq!(st.delivered, 0);
    assert!(st.errors >= 1);
    assert_eq!(
        st.discarded, 1,
        "memory-only: discarded at the close deadline"
    );
    assert!(ctx.log_text().contains("certificate"), "{}", ctx.log_text());

    let mut with_ca_cert = http_config(&url);
    with_ca_cert.transport.ca_cert = c.ca.to_string_lossy().into();
    let mut with_bundle = http_config(&url);
    with_bundle.transport.ca_bundle = c.ca.to_string_lossy().into();
    let mut with_path = http_config(&url);
    with_path.transport.ca_path = c.ca_dir.to_string_lossy().into();
    let mut insecure = http_config(&url);
    insecure.transport.insecure = true;
    for (name, cfg) in [
        ("ca_cert", with_ca_cert),
        ("ca_bundle", with_bundle),
        ("ca_path", with_path),
        ("insecure", insecure),
    ] {
        let before = srv.requests().len();
        let (ctx, r) = send(&cfg, true, &alert_lines(name, 1));
        r.unwrap();
        assert_eq!(ctx.stats().delivered, 1, "{name}: {}", ctx.log_text());
        let reqs = srv.wait_requests(before + 1, Duration::from_secs(5));
        assert_eq!(
            reqs.last().unwrap()["body"].as_str().unwrap(),
            alert_lines(name, 1)[0]
        );
        if name == "insecure" {
            assert!(
                ctx.log_text().contains("insecure: true"),
                "warning at init: {}",
                ctx.log_text()
            );
        }
    }
}

#[test]
fn mtls_required_by_server_refused_without_client_cert() {
    if !require("python3") || !require("openssl") {
        return;
    }
    let c = certs();
    let srv = Server::start(ServerOpts {
        tls: true,
        require_client_cert: true,
        ..Default::default()
    });
    let mut cfg = http_config(&srv.url("/mtls"));
    cfg.transport.ca_cert = c.ca.to_string_lossy().into();

    let (ctx, r) = send(&cfg, true, &alert_lines("no-client-cert", 1));
    r.unwrap();
    assert_eq!(ctx.stats().delivered, 0);
    assert_eq!(srv.requests().len(), 0);

    cfg.transport.mtls = true;
    cfg.transport.client_cert = c.client_cert.to_string_lossy().into();
    cfg.transport.client_key = c.client_key.to_string_lossy().into();
    let (ctx, r) = send(&cfg, true, &alert_lines("client-cert", 1));
    r.unwrap();
    assert_eq!(ctx.stats().delivered, 1, "{}", ctx.log_text());
    let reqs = srv.wait_requests(1, Duration::from_secs(5));
    assert_eq!(
        reqs[0]["body"].as_str().unwrap(),
        alert_lines("client-cert", 1)[0]
    );
}

#[test]
fn compress_uploads_sends_a_gzip_body_that_decompresses_to_the_line() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts::default());
    let mut cfg = http_config(&srv.url("/gz"));
    cfg.transport.compress_uploads = true;
    let lines = alert_lines("gzip", 1);
    send(&cfg, true, &lines).1.unwrap();
    let reqs = srv.wait_requests(1, Duration::from_secs(5));
    assert_eq!(header(&reqs[0], "Content-Encoding"), Some("gzip"));
    let raw = reqs[0]["raw_b64"].as_str().unwrap();
    assert!(raw.starts_with("H4sI"), "gzip magic on the wire: {raw}");
    assert_eq!(
        reqs[0]["body"].as_str().unwrap(),
        lines[0],
        "server-side gunzip equals the line"
    );
}

#[test]
fn put_and_custom_headers() {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts::default());
    let mut cfg = http_config(&srv.url("/put"));
    cfg.method = HttpMethod::Put;
    cfg.transport.headers = vec![
        ("Authorization".into(), "Bearer s3cr3t-token".into()),
        ("X-Tenant".into(), "blue".into()),
    ];
    let (ctx, r) = send(&cfg, true, &alert_lines("put", 1));
    r.unwrap();
    let reqs = srv.wait_requests(1, Duration::from_secs(5));
    assert_eq!(reqs[0]["method"], "PUT");
    assert_eq!(reqs[0]["body"].as_str().unwrap(), alert_lines("put", 1)[0]);
    assert_eq!(
        header(&reqs[0], "Authorization"),
        Some("Bearer s3cr3t-token")
    );
    assert_eq!(header(&reqs[0], "X-Tenant"), Some("blue"));
    assert!(!ctx.log_text().contains("s3cr3t"));
}

#[test]
fn header_values_never_appear_in_errors_or_logs() {
    if !require("python3") {
        return;
    }
    let mut cfg = http_config(&format!(
        "http://user:pa55@127.0.0.1:{}/x?token=qs-secret",
        free_port()
    ));
    cfg.transport.headers = vec![("Authorization".into(), "Bearer s3cr3t-token".into())];
    let (ctx, r) = send(&cfg, true, &alert_lines("down", 2));
    r.unwrap();
    let text = ctx.log_text();
    assert!(text.contains("cannot deliver"), "{text}");
    for secret in ["s3cr3t", "pa55", "qs-secret"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    // A header value with a line break is refused by the configuration, secret unshown:
    // tests/it/config_secrets.rs.
}

#[test]
fn bad_settings_name_the_key() {
    let log = Harness::http().logger();
    type Edit = fn(&mut HttpConfig);
    // The values themselves are checked by the configuration (src/config/tests.rs); the
    // channel checks that the files they name can be read.
    let cases: [(&str, Edit); 2] = [
        ("http_output.ca_cert", |c| {
            c.transport.ca_cert = "/nonexistent/ca.pem".into()
        }),
        ("http_output.client_cert", |c| c.transport.mtls = true),
    ];
    for (key, f) in cases {
        let mut cfg = http_config("http://127.0.0.1:9/");
        f(&mut cfg);
        match HttpChannel::open_http(&cfg, true, &log) {
            Err(e) => assert!(format!("{e:?}").contains(key), "{key}: {e:?}"),
            Ok(_) => panic!("{key}: accepted"),
        }
    }
}

/// `echo` writes the server's answers to the process's stdout: checked in a child process (this
/// test binary re-run on the test) so that fd 1 is a pipe the parent reads.
#[test]
fn echo_on_writes_answers_to_stdout() {
    in_child_process(echo_child, |child| echo_parent(child, true));
}

#[test]
fn echo_off_writes_nothing_to_stdout() {
    in_child_process(echo_child, |child| echo_parent(child, false));
}

fn echo_parent(child: &TestChild, echo: bool) {
    if !require("python3") {
        return;
    }
    let srv = Server::start(ServerOpts {
        reply: Some("ECHO-MARKER-7f3a".into()),
        ..Default::default()
    });
    let out = child
        .command()
        .env("HTTP_ECHO_CHILD_URL", srv.url("/echo"))
        .env("HTTP_ECHO_CHILD_ECHO", if echo { "1" } else { "0" })
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child delivered 1"),
        "the child ran: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.contains("ECHO-MARKER-7f3a"),
        echo,
        "echo={echo}: {stdout}"
    );
}

/// Delivers one alert with `echo` as the parent says.
fn echo_child() {
    let url = std::env::var("HTTP_ECHO_CHILD_URL").expect("set by the parent");
    let mut cfg = http_config(&url);
    cfg.echo = std::env::var("HTTP_ECHO_CHILD_ECHO").as_deref() == Ok("1");
    let (ctx, r) = send(&cfg, true, &alert_lines("echo", 1));
    r.unwrap();
    println!("child delivered {}", ctx.stats().delivered);
}
