//! Falco's time texts in every zone, through the file channel: the plain text time is local
//! (libsinsp `ts_to_string`, localtime), ISO 8601 is UTC with `+0000` whatever `TZ` says
//! (`ts_to_iso_8601`: gmtime and `%z`), JSON `time` is UTC with `Z`, and the `evt.time` /
//! `evt.time.iso8601` output field is the time in ns. The zone is the one `TZ` names when the
//! handle is opened. (Each test runs in its own process: TZ is process-wide.)

use std::time::Duration;

use falco_outputs::alert::{alert_from_parts, Priority};
use falco_outputs::{Options, Outputs};

use crate::support::in_own_process;

/// 2016-08-04T16:17:57.881781397Z
const TS: u64 = 1_470_327_477_881_781_397;

/// The line the file channel writes for one alert with `json_output` / `time_format_iso_8601`.
fn line(json: bool, iso: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let out = Outputs::open(Options {
        config_yaml: Some(format!(
            "json_output: {json}\ntime_format_iso_8601: {iso}\n\
             file_output: {{enabled: true, filename: {}}}",
            path.display()
        )),
        hostname: Some("h".into()),
        ..Options::default()
    })
    .unwrap();
    let alert = alert_from_parts(
        TS,
        Priority::Warning,
        "Read sensitive file",
        "syscall",
        "open (user=root)",
        &[],
        &["filesystem"],
    );
    out.emit(alert).unwrap();
    out.flush(Duration::from_secs(5)).unwrap();
    out.close(None).unwrap();
    std::fs::read_to_string(&path).unwrap()
}

/// Every shape under `TZ=tz`, against Falco's bytes with `local` as the plain local time.
fn golden(tz: &str, local: &str) {
    if tz.contains('/') {
        assert!(
            std::path::Path::new("/usr/share/zoneinfo")
                .join(tz)
                .exists(),
            "zoneinfo for {tz} is missing: scripts/deps installs tzdata"
        );
    }
    std::env::set_var("TZ", tz);
    const ISO: &str = "2016-08-04T16:17:57.881781397+0000";
    let text = |time: &str| format!("{time}: Warning open (user=root)");
    let json = |time: &str, field: &str| {
        format!(
            "{{\"hostname\":\"h\",\"output\":\"{}\",\"output_fields\":{{\"{field}\":{TS}}},\
             \"priority\":\"Warning\",\"rule\":\"Read sensitive file\",\"source\":\"syscall\",\
             \"tags\":[\"filesystem\"],\"time\":\"2016-08-04T16:17:57.881781397Z\"}}\n",
            text(time)
        )
    };
    assert_eq!(line(false, false), text(local) + "\n", "TZ={tz}, text");
    assert_eq!(
        line(false, true),
        text(ISO) + "\n",
        "TZ={tz}, text, ISO 8601"
    );
    assert_eq!(line(true, false), json(local, "evt.time"), "TZ={tz}, JSON");
    assert_eq!(
        line(true, true),
        json(ISO, "evt.time.iso8601"),
        "TZ={tz}, JSON, ISO 8601"
    );
}

#[test]
fn utc() {
    in_own_process(|| golden("UTC", "16:17:57.881781397"));
}

#[test]
fn america_los_angeles() {
    in_own_process(|| golden("America/Los_Angeles", "09:17:57.881781397"));
}

#[test]
fn asia_kolkata() {
    in_own_process(|| golden("Asia/Kolkata", "21:47:57.881781397"));
}

#[test]
fn posix_tz_string() {
    // No zoneinfo file needed: UTC+2 all year, and US Pacific rules.
    in_own_process(|| {
        golden("XYZ-2", "18:17:57.881781397");
        golden("PST8PDT,M3.2.0,M11.1.0", "09:17:57.881781397");
    });
}

#[test]
fn each_handle_uses_the_zone_tz_named_at_its_init() {
    in_own_process(|| {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| {
            let path = dir.path().join(name);
            let out = Outputs::open(Options {
                config_yaml: Some(format!(
                    "file_output: {{enabled: true, filename: {}}}",
                    path.display()
                )),
                ..Options::default()
            })
            .unwrap();
            (out, path)
        };
        std::env::set_var("TZ", "UTC");
        let utc = open("utc.txt");
        std::env::set_var("TZ", "XYZ-2");
        let plus2 = open("plus2.txt");
        for (out, _) in [&utc, &plus2] {
            let a = alert_from_parts(TS, Priority::Warning, "r", "s", "m", &[], &[]);
            out.emit(a).unwrap();
            out.flush(Duration::from_secs(5)).unwrap();
        }
        let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&utc.1), "16:17:57.881781397: Warning m\n");
        assert_eq!(read(&plus2.1), "18:17:57.881781397: Warning m\n");
        for (out, _) in [utc, plus2] {
            out.close(None).unwrap();
        }
    });
}

/// falcosecurity/testing `tests/data/outputs/outputs.go`, `single_rule_with_cat_write` (ISO 8601
/// on): its first alert, text and JSON, reproduced in three zones. The JSON golden is compared
/// as a value (the golden's keys are not in dump order), the text byte for byte.
#[test]
fn falcosecurity_testing_golden_in_three_zones() {
    const TEXT: &str =
        "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)";
    const JSON: &str = r#"{"hostname":"test-falco-hostname","output":"2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)","priority":"Warning","rule":"open_from_cat","source":"syscall","tags":["filesystem","process","testing"],"time":"2016-08-04T16:17:57.881781397Z", "output_fields": {"evt.time.iso8601":1470327477881781397,"proc.cmdline":"cat /dev/null"}}"#;
    in_own_process(|| {
        for tz in ["UTC", "America/Los_Angeles", "Asia/Kolkata"] {
            std::env::set_var("TZ", tz);
            for json in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("events");
                let out = Outputs::open(Options {
                    config_yaml: Some(format!(
                        "json_output: {json}\ntime_format_iso_8601: true\n\
                         file_output: {{enabled: true, filename: {}}}",
                        path.display()
                    )),
                    hostname: Some("test-falco-hostname".into()),
                    ..Options::default()
                })
                .unwrap();
                let alert = alert_from_parts(
                    TS,
                    Priority::Warning,
                    "open_from_cat",
                    "syscall",
                    "An open was seen (command=cat /dev/null)",
                    &[(
                        "proc.cmdline",
                        Some("cat /dev/null"),
                        falco_outputs::alert::FieldKind::String,
                    )],
                    &["testing", "process", "filesystem"],
                );
                out.emit(alert).unwrap();
                out.close(None).unwrap();
                let line = std::fs::read_to_string(&path).unwrap();
                let line = line.trim_end_matches('\n');
                if json {
                    let got: serde_json::Value = serde_json::from_str(line).unwrap();
                    let want: serde_json::Value = serde_json::from_str(JSON).unwrap();
                    assert_eq!(got, want, "TZ={tz}");
                } else {
                    assert_eq!(line, TEXT, "TZ={tz}");
                }
            }
        }
    });
}

/// Every `json_include_*` flag, in three zones: the keys come and go, the time texts do not
/// change with them.
#[test]
fn json_include_flags_in_three_zones() {
    in_own_process(|| {
        for tz in ["UTC", "America/Los_Angeles", "Asia/Kolkata"] {
            std::env::set_var("TZ", tz);
            for bits in 0..16u8 {
                let [message, output, tags, fields] = [1u8, 2, 4, 8].map(|b| bits & b != 0);
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("events");
                let out = Outputs::open(Options {
                    config_yaml: Some(format!(
                        "json_output: true\ntime_format_iso_8601: true\n\
                         json_include_message_property: {message}\n\
                         json_include_output_property: {output}\n\
                         json_include_tags_property: {tags}\n\
                         json_include_output_fields_property: {fields}\n\
                         file_output: {{enabled: true, filename: {}}}",
                        path.display()
                    )),
                    hostname: Some("h".into()),
                    ..Options::default()
                })
                .unwrap();
                out.emit(alert_from_parts(
                    TS,
                    Priority::Warning,
                    "r",
                    "syscall",
                    "m",
                    &[],
                    &["t"],
                ))
                .unwrap();
                out.close(None).unwrap();
                let mut want = String::from("{\"hostname\":\"h\"");
                if message {
                    want += ",\"message\":\"m\"";
                }
                if output {
                    want += ",\"output\":\"2016-08-04T16:17:57.881781397+0000: Warning m\"";
                }
                if fields {
                    want += &format!(",\"output_fields\":{{\"evt.time.iso8601\":{TS}}}");
                }
                want += ",\"priority\":\"Warning\",\"rule\":\"r\",\"source\":\"syscall\"";
                if tags {
                    want += ",\"tags\":[\"t\"]";
                }
                want += ",\"time\":\"2016-08-04T16:17:57.881781397Z\"}\n";
                assert_eq!(
                    std::fs::read_to_string(&path).unwrap(),
                    want,
                    "TZ={tz} message={message} output={output} tags={tags} fields={fields}"
                );
            }
        }
    });
}
