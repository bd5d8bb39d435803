//! `append_output` (Falco's) and `outputs_static_fields` / `outputs_static_tags` (an
//! extension), as the file channel writes them: the bytes a user reads.

use std::time::Duration;

use falco_outputs::alert::{alert_from_parts, Alert, FieldKind, Priority};

use crate::support::*;

fn alert(rule: &str, source: &str, tags: &[&str]) -> Alert {
    alert_from_parts(
        1_507_591_916_746_609_046,
        Priority::Error,
        rule,
        source,
        "File opened (user=root)",
        &[
            ("user.name", Some("root"), FieldKind::String),
            ("cluster", Some("from-engine"), FieldKind::String),
        ],
        tags,
    )
}

/// The lines the file channel writes for `alerts` under `extra` configuration.
fn lines(extra: &str, alerts: Vec<Alert>) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events");
    let (out, logs) = open(&format!(
        "file_output: {{enabled: true, filename: {}}}\n{extra}",
        path.display()
    ));
    for a in alerts {
        out.emit(a).unwrap();
    }
    out.flush(Duration::from_secs(5)).unwrap();
    out.close(None).unwrap();
    (read_lines(&path), logs.lines())
}

const APPEND: &str = r#"
append_output:
  - match: {source: syscall, tags: [filesystem]}
    extra_output: "on node-7"
    extra_fields:
      - home_directory: /root
      - cluster: from-append
  - match: {rule: Other rule}
    extra_output: "(other)"
  - match: {source: k8s_audit}
    extra_output: "NEVER"
    extra_fields: [{never: x}]
  - extra_output: "cpu=%evt.cpu"
    extra_fields: [evt.hostname, {cpu: "%evt.cpu"}, {team: blue}]
    suggested_output: true
"#;

#[test]
fn append_output_text_lines() {
    let (l, logs) = lines(
        APPEND,
        vec![
            alert("Read file", "syscall", &["filesystem", "mitre"]),
            alert("Read file", "syscall", &["mitre"]),
            alert("Other rule", "syscall", &[]),
        ],
    );
    assert_eq!(
        l,
        [
            "23:31:56.746609046: Error File opened (user=root) on node-7",
            "23:31:56.746609046: Error File opened (user=root)",
            "23:31:56.746609046: Error File opened (user=root) (other)",
        ]
    );
    // Warned once, naming the entry and what needs the engine.
    let warned: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("append_output"))
        .collect();
    assert_eq!(warned.len(), 1, "{logs:?}");
    for part in [
        "`append_output[3]`",
        "suggested_output",
        "`extra_output`",
        "`evt.hostname`",
        "`cpu`",
    ] {
        assert!(warned[0].contains(part), "{part} in {}", warned[0]);
    }
}

#[test]
fn append_output_and_static_fields_in_json() {
    let (l, _) = lines(
        &format!(
            "json_output: true\njson_include_message_property: true\n\
             outputs_static_fields: {{cluster: prod-eu, zone: b}}\n\
             outputs_static_tags: [team-a, filesystem]\n{APPEND}"
        ),
        vec![
            alert("Read file", "syscall", &["filesystem", "mitre"]),
            alert("Read file", "k8s", &[]),
        ],
    );
    assert_eq!(
        l[0],
        "{\"hostname\":\"h\",\"message\":\"File opened (user=root) on node-7\",\
         \"output\":\"23:31:56.746609046: Error File opened (user=root) on node-7\",\
         \"output_fields\":{\"cluster\":\"from-append\",\"evt.time\":1507591916746609046,\
         \"home_directory\":\"/root\",\"team\":\"blue\",\"user.name\":\"root\",\"zone\":\"b\"},\
         \"priority\":\"Error\",\"rule\":\"Read file\",\"source\":\"syscall\",\
         \"tags\":[\"filesystem\",\"mitre\",\"team-a\"],\"time\":\"2017-10-09T23:31:56.746609046Z\"}"
    );
    // No entry but the unconditional one matches: the static fields replace the engine's
    // field of the same name, the static tags are added.
    assert_eq!(
        l[1],
        "{\"hostname\":\"h\",\"message\":\"File opened (user=root)\",\
         \"output\":\"23:31:56.746609046: Error File opened (user=root)\",\
         \"output_fields\":{\"cluster\":\"prod-eu\",\"evt.time\":1507591916746609046,\
         \"team\":\"blue\",\"user.name\":\"root\",\"zone\":\"b\"},\
         \"priority\":\"Error\",\"rule\":\"Read file\",\"source\":\"k8s\",\
         \"tags\":[\"filesystem\",\"team-a\"],\"time\":\"2017-10-09T23:31:56.746609046Z\"}"
    );
}

#[test]
fn bad_entries_name_the_key() {
    for (yaml, key) in [
        ("append_output: {a: 1}", "`append_output`"),
        (
            "append_output: [{extra_fields: {a: b}}]",
            "`append_output[0].extra_fields`",
        ),
        (
            "append_output: [{extra_fields: [{a: x}, a]}]",
            "`append_output[0].extra_fields[1]`",
        ),
        (
            "append_output: [{match: {tags: x}}]",
            "`append_output[0].match.tags`",
        ),
        ("outputs_static_fields: [a]", "`outputs_static_fields`"),
        ("outputs_static_tags: {a: b}", "`outputs_static_tags`"),
    ] {
        let err = try_open(
            &format!("stdout_output: {{enabled: true}}\n{yaml}"),
            &Logs::default(),
        )
        .err()
        .unwrap_or_else(|| panic!("accepted: {yaml}"))
        .to_string();
        assert!(err.contains(key), "{yaml}: {err}");
    }
}
