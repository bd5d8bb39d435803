//! What log lines show of `program_output.program` (issue 19): programs often carry tokens
//! (`curl -H 'Authorization: ...'`) and may be huge; every line about the program shows it
//! shortened (at most 120 characters, then `… (N bytes)`) and without anything that looks like
//! a credential, as URLs are shown.

use std::time::Duration;

use crate::support::handle::*;

const SECRETS: [&str; 5] = [
    "S3CR3T-HDR",
    "S3CR3T-PW",
    "S3CR3T-URL",
    "S3CR3T-QS",
    "S3CR3T-TOK",
];

/// A program that fails (exit 3) after a command line holding each kind of secret.
fn program(padding: usize) -> String {
    format!(
        "true -H 'Authorization: Bearer S3CR3T-HDR' --password S3CR3T-PW \
         https://u:S3CR3T-URL@h/x?token=S3CR3T-QS API_TOKEN=S3CR3T-TOK; exit 3 # {}",
        "x".repeat(padding)
    )
}

fn lines_about_the_program(program: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("a.log");
    let yaml = format!(
        "file_output: {{enabled: true, filename: {}}}\nprogram_output:\n  enabled: true\n  program: {}\n",
        sink.display(),
        serde_json::to_string(program).unwrap()
    );
    let (o, logs) = open(&yaml);
    for n in 0..3 {
        o.emit(seed_alert(n)).unwrap();
    }
    let _ = o.flush(Duration::from_secs(20));
    o.close(Some(Duration::from_secs(5))).ok();
    let lines: Vec<String> = logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("program") || l.contains("/bin/sh"))
        .collect();
    assert!(!lines.is_empty(), "no log line about the program");
    lines
}

/// A failing program (short): its lines show the command with every secret hidden.
#[test]
fn a_failing_programs_log_lines_hide_its_credentials() {
    let lines = lines_about_the_program(&program(0));
    for l in &lines {
        for s in SECRETS {
            assert!(!l.contains(s), "{s} in a log line: {l}");
        }
    }
    let failed = lines
        .iter()
        .find(|l| l.contains("failed"))
        .unwrap_or_else(|| panic!("no 'failed' line: {lines:?}"));
    assert!(
        failed.contains("-H 'Authorization: ***'") && failed.contains("--password ***"),
        "{failed}"
    );
}

/// A 1 MiB program (too long for execve: it cannot start): every line is short, says how long
/// the program is, and shows no secret.
#[test]
fn a_one_mib_program_is_shown_shortened_with_its_length() {
    let program = program(1 << 20);
    let lines = lines_about_the_program(&program);
    let suffix = format!("… ({} bytes)", program.len());
    for l in &lines {
        assert!(l.len() < 1000, "a log line of {} bytes", l.len());
        for s in SECRETS {
            assert!(!l.contains(s), "{s} in a log line: {l}");
        }
    }
    assert!(
        lines.iter().any(|l| l.contains(&suffix)),
        "no line says {suffix:?}: {lines:?}"
    );
}
