//! Golden lines and the escaper, number printer and field order against references.

use super::value::{is_json_number, push_f64_like_nlohmann};
use super::*;
use crate::alert::{alert_from_parts, AlertBuilder, FieldKind, Priority, RawAlert};

type F<'a> = (&'a str, Option<&'a str>, FieldKind);

fn opts(json: bool, iso8601: bool) -> FormatOptions {
    FormatOptions {
        json,
        iso8601,
        include_output: true,
        include_tags: true,
        include_message: false,
        include_output_fields: true,
        hostname: "h".to_string(),
        extras: Extras::default(),
    }
}

fn msg_alert(time_ns: u64, p: Priority, rule: &str, msg: &str, fields: &[F<'_>]) -> Alert {
    let mut raw = RawAlert::empty();
    let mut b = AlertBuilder::reuse(&mut raw, fields.len());
    b.rule(rule.as_bytes()).unwrap();
    b.source(b"internal").unwrap();
    b.message(msg.as_bytes()).unwrap();
    for (n, v, k) in fields {
        b.field(n.as_bytes(), v.map(str::as_bytes), *k).unwrap();
    }
    b.build(time_ns, p, AlertKind::Message);
    raw.into_checked()
}

fn la_zones() -> Vec<LocalZone> {
    let mut zones = vec![LocalZone::from_tz("PST8PDT,M3.2.0,M11.1.0").unwrap()];
    if std::path::Path::new("/usr/share/zoneinfo/America/Los_Angeles").exists() {
        zones.push(LocalZone::from_tz("America/Los_Angeles").unwrap());
    }
    zones
}

const BIN_DIR_JSON: &str = r#"{"hostname":"h","output":"16:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)","output_fields":{"evt.time":1507591916746609046,"fd.name":"/bin/hack","proc.cmdline":"touch /bin/hack","user.name":"root"},"priority":"Error","rule":"Write below binary dir","source":"syscall","tags":["filesystem"],"time":"2017-10-09T23:31:56.746609046Z"}"#;

fn bin_dir_alert() -> Alert {
    alert_from_parts(
        1_507_591_916_746_609_046,
        Priority::Error,
        "Write below binary dir",
        "syscall",
        "File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)",
        &[
            ("user.name", Some("root"), FieldKind::String),
            ("proc.cmdline", Some("touch /bin/hack"), FieldKind::String),
            ("fd.name", Some("/bin/hack"), FieldKind::String),
        ],
        &["filesystem"],
    )
}

#[test]
fn golden_text_iso_utc() {
    let a = alert_from_parts(
        1_470_327_477_881_781_397,
        Priority::Warning,
        "r",
        "syscall",
        "An open was seen (command=cat /dev/null)",
        &[],
        &[],
    );
    let mut f = Formatter::new(opts(false, true), LocalZone::utc());
    assert_eq!(
        f.line(&a),
        "2016-08-04T16:17:57.881781397+0000: Warning An open was seen (command=cat /dev/null)"
    );
    let mut f = Formatter::new(opts(false, false), LocalZone::utc());
    assert_eq!(
        f.line(&a),
        "16:17:57.881781397: Warning An open was seen (command=cat /dev/null)"
    );
}

#[test]
fn golden_design_json_example() {
    for zone in la_zones() {
        let mut f = Formatter::new(opts(true, false), zone.clone());
        assert_eq!(f.line(&bin_dir_alert()), BIN_DIR_JSON, "{zone:?}");
        let mut f = Formatter::new(opts(false, false), zone);
        assert_eq!(
            f.line(&bin_dir_alert()),
            "16:31:56.746609046: Error File below a known binary directory opened for writing (user=root command=touch /bin/hack file=/bin/hack)"
        );
    }
}

#[test]
fn json_line_parses_and_output_is_the_text_line() {
    let mut f = Formatter::new(opts(true, false), la_zones().remove(0));
    let line = f.line(&bin_dir_alert());
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let mut t = Formatter::new(opts(false, false), la_zones().remove(0));
    assert_eq!(v["output"], t.line(&bin_dir_alert()));
}

/// libsinsp's `ts_to_iso_8601` formats with gmtime and `%z`: ISO 8601 time reads `+0000` in
/// every zone, while the plain time is local.
#[test]
fn iso_time_is_utc_in_every_zone() {
    let summer = alert_from_parts(
        1_507_591_916_000_000_001,
        Priority::Notice,
        "r",
        "s",
        "m",
        &[],
        &[],
    );
    let winter = alert_from_parts(
        1_483_228_800_123_000_000,
        Priority::Debug,
        "r",
        "s",
        "m",
        &[],
        &[],
    );
    let mut zones = la_zones();
    zones.push(LocalZone::from_tz("IST-5:30").unwrap());
    zones.push(LocalZone::from_tz("NST3:30").unwrap());
    zones.push(LocalZone::utc());
    for zone in zones {
        // One formatter, two seconds: the cached date is refreshed.
        let mut f = Formatter::new(opts(false, true), zone.clone());
        assert_eq!(
            f.line(&summer),
            "2017-10-09T23:31:56.000000001+0000: Notice m",
            "{zone:?}"
        );
        assert_eq!(
            f.line(&winter),
            "2017-01-01T00:00:00.123000000+0000: Debug m",
            "{zone:?}"
        );
    }
    // The plain time follows the zone, its DST and half-hour offsets.
    let local = |zone: LocalZone, a: &Alert| Formatter::new(opts(false, false), zone).line(a);
    let la = la_zones().remove(0);
    assert_eq!(local(la.clone(), &summer), "16:31:56.000000001: Notice m");
    assert_eq!(local(la, &winter), "16:00:00.123000000: Debug m");
    let ist = LocalZone::from_tz("IST-5:30").unwrap();
    assert_eq!(local(ist, &winter), "05:30:00.123000000: Debug m");
    let nst = LocalZone::from_tz("NST3:30").unwrap();
    assert_eq!(local(nst, &winter), "20:30:00.123000000: Debug m");
}

#[test]
fn time_cache_follows_each_alert() {
    let mut f = Formatter::new(opts(false, false), LocalZone::utc());
    let at = |ns| alert_from_parts(ns, Priority::Alert, "r", "s", "x", &[], &[]);
    assert_eq!(f.line(&at(0)), "00:00:00.000000000: Alert x");
    assert_eq!(f.line(&at(999_999_999)), "00:00:00.999999999: Alert x");
    assert_eq!(
        f.line(&at(86_399_000_000_007)),
        "23:59:59.000000007: Alert x"
    );
    assert_eq!(
        f.line(&at(86_400_000_000_000)),
        "00:00:00.000000000: Alert x"
    );
    let mut j = Formatter::new(opts(true, false), LocalZone::utc());
    let line = j.line(&at(951_782_400_000_000_000)); // leap day 2000
    assert!(
        line.ends_with(r#""time":"2000-02-29T00:00:00.000000000Z"}"#),
        "{line}"
    );
    let line = j.line(&at(u64::MAX));
    assert!(
        line.ends_with(r#""time":"2554-07-21T23:34:33.709551615Z"}"#),
        "{line}"
    );
}

#[test]
fn text_line_escapes_like_nlohmann_dump() {
    let msg = "q\"b\\n\nt\tr\rb\u{8}f\u{c}esc\u{1b}nul\u{0}us\u{1f}del\u{7f}é日本\u{fffd}😀/";
    let a = alert_from_parts(0, Priority::Critical, "r", "s", msg, &[], &[]);
    let mut f = Formatter::new(opts(false, false), LocalZone::utc());
    let line = f.line(&a);
    assert_eq!(
        line,
        "00:00:00.000000000: Critical q\\\"b\\\\n\\nt\\tr\\rb\\bf\\fesc\\u001bnul\\u0000us\\u001fdel\u{7f}é日本\u{fffd}😀/"
    );
    assert!(!line.contains('\n'));
    // The escaped body is exactly what a JSON encoder makes of the raw line.
    let raw = format!("00:00:00.000000000: Critical {msg}");
    let enc = serde_json::to_string(&raw).unwrap();
    assert_eq!(line, enc[1..enc.len() - 1]);
}

#[test]
fn escaping_handles_every_position_of_a_word() {
    for len in 0..40 {
        for pos in 0..len {
            for c in [b'"', b'\\', b'\n', 0x01, 0x1f] {
                let mut s = vec![b'a'; len];
                s[pos] = c;
                let s = String::from_utf8(s).unwrap();
                let mut out = Vec::new();
                escape_into(&mut out, s.as_bytes());
                let enc = serde_json::to_string(&s).unwrap();
                assert_eq!(out, enc.as_bytes()[1..enc.len() - 1], "{s:?}");
            }
        }
    }
    // Bytes >= 0x80 and just above 0x20 must not look like escapes to the word test.
    let s = "\u{7f}\u{80}\u{ff}!#[]]]]]]]]]] \u{a0}\u{2028}";
    let mut out = Vec::new();
    escape_into(&mut out, s.as_bytes());
    assert_eq!(out, s.as_bytes());
}

#[test]
fn escaping_matches_a_json_encoder_on_random_strings() {
    let alphabet = [
        "a", "Z", " ", "\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{7f}", "é", "\u{fffd}", "😀", "/",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let len = (seed >> 33) % 80;
        let mut s = String::new();
        for _ in 0..len {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            // Mostly clean text so that long clean runs and sparse escapes both occur.
            let k = (seed >> 40) as usize % (alphabet.len() * 4);
            s.push_str(alphabet.get(k).copied().unwrap_or("x"));
        }
        let mut out = Vec::new();
        escape_into(&mut out, s.as_bytes());
        let enc = serde_json::to_string(&s).unwrap();
        assert_eq!(out, enc.as_bytes()[1..enc.len() - 1], "{s:?}");
    }
}

#[test]
fn json_escapes_every_string_and_output_once() {
    let a = alert_from_parts(
        0,
        Priority::Informational,
        "ru\"le",
        "sou\\rce",
        "line1\nline2 \"q\"",
        &[("na\"me", Some("v\u{1b}"), FieldKind::String)],
        &["t\n"],
    );
    let mut o = opts(true, false);
    o.hostname = "ho\"st\t".to_string();
    o.include_message = true;
    let mut f = Formatter::new(o, LocalZone::utc());
    assert_eq!(
        f.line(&a),
        r#"{"hostname":"ho\"st\t","message":"line1\nline2 \"q\"","output":"00:00:00.000000000: Informational line1\nline2 \"q\"","output_fields":{"evt.time":0,"na\"me":"v\u001b"},"priority":"Informational","rule":"ru\"le","source":"sou\\rce","tags":["t\n"],"time":"1970-01-01T00:00:00.000000000Z"}"#
    );
}

#[test]
fn json_include_flags() {
    let a = alert_from_parts(
        5,
        Priority::Emergency,
        "r",
        "k8s_audit",
        "m",
        &[("a", Some("1"), FieldKind::Number)],
        &["b", "a"],
    );
    let tail = r#""priority":"Emergency","rule":"r","source":"k8s_audit""#;
    let time = r#""time":"1970-01-01T00:00:00.000000005Z"}"#;
    for bits in 0..16u32 {
        let mut o = opts(true, false);
        o.include_output = bits & 1 != 0;
        o.include_tags = bits & 2 != 0;
        o.include_message = bits & 4 != 0;
        o.include_output_fields = bits & 8 != 0;
        let mut want = String::from(r#"{"hostname":"h","#);
        if o.include_message {
            want += r#""message":"m","#;
        }
        if o.include_output {
            want += r#""output":"00:00:00.000000005: Emergency m","#;
        }
        if o.include_output_fields {
            want += r#""output_fields":{"a":1,"evt.time":5},"#;
        }
        want += tail;
        want += ",";
        if o.include_tags {
            want += r#""tags":["a","b"],"#;
        }
        want += time;
        let mut f = Formatter::new(o, LocalZone::utc());
        assert_eq!(f.line(&a), want, "bits {bits:04b}");
    }
}

#[test]
fn field_kinds_and_fallbacks() {
    let fields: &[F<'_>] = &[
        ("s", Some("text"), FieldKind::String),
        ("s_none", None, FieldKind::String),
        ("n_int", Some("-42"), FieldKind::Number),
        ("n_float", Some("1.50e+10"), FieldKind::Number),
        ("n_zero", Some("0"), FieldKind::Number),
        ("n_bad1", Some("012"), FieldKind::Number),
        ("n_bad2", Some("1."), FieldKind::Number),
        ("n_bad3", Some("<NA>"), FieldKind::Number),
        ("n_bad4", Some(" 1"), FieldKind::Number),
        ("n_bad5", Some(""), FieldKind::Number),
        ("n_bad6", Some("1e"), FieldKind::Number),
        ("n_bad7", Some("NaN"), FieldKind::Number),
        ("b_t", Some("true"), FieldKind::Bool),
        ("b_f", Some("false"), FieldKind::Bool),
        ("b_bad", Some("True"), FieldKind::Bool),
        ("nul", Some("ignored"), FieldKind::Null),
        ("j_obj", Some("{ \"z\" : [1, 2.5, \"x\\ty\"],\n \"a\": {\"c\":null, \"b\":true} }"), FieldKind::Json),
        ("j_num", Some(" 1e3 "), FieldKind::Json),
        ("j_small", Some("[1.5e-7, 0.0001, -0, 12345678901234567890, -9223372036854775808, 1e16, 123456789012345.6]"), FieldKind::Json),
        ("j_bad", Some("{\"a\":"), FieldKind::Json),
        ("j_none", None, FieldKind::Json),
    ];
    let a = alert_from_parts(7, Priority::Warning, "r", "s", "m", fields, &[]);
    let mut o = opts(true, false);
    o.include_output = false;
    o.include_tags = false;
    let mut f = Formatter::new(o, LocalZone::utc());
    let line = f.line(&a);
    let want = concat!(
        r#"{"hostname":"h","output_fields":{"#,
        r#""b_bad":"True","b_f":false,"b_t":true,"evt.time":7,"#,
        r#""j_bad":"{\"a\":","j_none":null,"j_num":1000.0,"#,
        r#""j_obj":{"a":{"b":true,"c":null},"z":[1,2.5,"x\ty"]},"#,
        r#""j_small":[1.5e-07,0.0001,"#,
    );
    assert!(line.starts_with(want), "{line}");
    let rest = &line[want.len()..];
    // serde_json reads "-0" as -0.0 where nlohmann keeps the integer 0.
    let rest = rest
        .strip_prefix("-0.0,")
        .or_else(|| rest.strip_prefix("0,"))
        .unwrap_or_else(|| panic!("{rest}"));
    assert_eq!(
        rest,
        concat!(
            r#"12345678901234567890,-9223372036854775808,1e+16,123456789012345.6],"#,
            r#""n_bad1":"012","n_bad2":"1.","n_bad3":"<NA>","n_bad4":" 1","n_bad5":"","#,
            r#""n_bad6":"1e","n_bad7":"NaN","n_float":1.50e+10,"n_int":-42,"n_zero":0,"#,
            r#""nul":null,"s":"text","s_none":null},"#,
            r#""priority":"Warning","rule":"r","source":"s","time":"1970-01-01T00:00:00.000000007Z"}"#
        )
    );
    serde_json::from_str::<serde_json::Value>(&line).unwrap();
}

#[test]
fn json_number_grammar() {
    for ok in [
        "0", "-0", "1", "-12", "0.5", "1e5", "1E+5", "1.25e-3", "-0.0e0",
    ] {
        assert!(is_json_number(ok.as_bytes()), "{ok}");
    }
    for bad in [
        "", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "1 ", "inf", "--1",
    ] {
        assert!(!is_json_number(bad.as_bytes()), "{bad}");
    }
}

#[test]
fn floats_are_dumped_like_nlohmann() {
    let cases: &[(f64, &str)] = &[
        (1.0, "1.0"),
        (-2.5, "-2.5"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1e14, "100000000000000.0"),
        (1e15, "1e+15"),
        (1e16, "1e+16"),
        (0.001, "0.001"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e300, "1.5e+300"),
        (2.5e-300, "2.5e-300"),
        (0.1, "0.1"),
        (123.456, "123.456"),
    ];
    for (f, want) in cases {
        let mut out = Vec::new();
        push_f64_like_nlohmann(&mut out, *f);
        assert_eq!(String::from_utf8(out).unwrap(), *want, "{f}");
    }
}

#[test]
fn tags_are_sorted_and_deduplicated() {
    let mut o = opts(true, false);
    o.include_output = false;
    o.include_output_fields = false;
    let mut f = Formatter::new(o, LocalZone::utc());
    let tags = [
        "mitre_persistence",
        "filesystem",
        "T1543",
        "filesystem",
        "",
        "Z",
        "a",
    ];
    let a = alert_from_parts(0, Priority::Error, "r", "s", "m", &[], &tags);
    assert_eq!(
        f.line(&a),
        r#"{"hostname":"h","priority":"Error","rule":"r","source":"s","tags":["","T1543","Z","a","filesystem","mitre_persistence"],"time":"1970-01-01T00:00:00.000000000Z"}"#
    );
    let none = alert_from_parts(0, Priority::Error, "r", "s", "m", &[], &[]);
    assert!(f.line(&none).contains(r#""tags":[],"#));
    let many: Vec<String> = (0..40).rev().map(|i| format!("t{:02}", i % 20)).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let a = alert_from_parts(0, Priority::Error, "r", "s", "m", &[], &many);
    let want: Vec<String> = (0..20).map(|i| format!("\"t{i:02}\"")).collect();
    assert!(f
        .line(&a)
        .contains(&format!("\"tags\":[{}]", want.join(","))));
}

#[test]
fn duplicate_field_names_keep_the_last_and_time_field_wins() {
    let fields: &[F<'_>] = &[
        ("b", Some("first"), FieldKind::String),
        ("evt.time", Some("host"), FieldKind::String),
        ("a", Some("1"), FieldKind::Number),
        ("b", Some("second"), FieldKind::String),
        ("evt.time.iso8601", Some("host-iso"), FieldKind::String),
        ("zz", None, FieldKind::Null),
        ("b", Some("third"), FieldKind::String),
    ];
    let a = alert_from_parts(9, Priority::Error, "r", "s", "m", fields, &[]);
    let mut o = opts(true, false);
    o.include_output = false;
    o.include_tags = false;
    let mut f = Formatter::new(o.clone(), LocalZone::utc());
    assert!(f.line(&a).contains(
        r#""output_fields":{"a":1,"b":"third","evt.time":9,"evt.time.iso8601":"host-iso","zz":null},"#
    ));
    o.iso8601 = true;
    let mut f = Formatter::new(o, LocalZone::utc());
    assert!(f.line(&a).contains(
        r#""output_fields":{"a":1,"b":"third","evt.time":"host","evt.time.iso8601":9,"zz":null},"#
    ));
    // The time field goes last when every name sorts before it, first when none does.
    let early = alert_from_parts(
        9,
        Priority::Error,
        "r",
        "s",
        "m",
        &[("a", None, FieldKind::Null)],
        &[],
    );
    let late = alert_from_parts(
        9,
        Priority::Error,
        "r",
        "s",
        "m",
        &[("z", None, FieldKind::Null)],
        &[],
    );
    let mut f = Formatter::new(opts(true, false), LocalZone::utc());
    assert!(f
        .line(&early)
        .contains(r#""output_fields":{"a":null,"evt.time":9}"#));
    assert!(f
        .line(&late)
        .contains(r#""output_fields":{"evt.time":9,"z":null}"#));
}

#[test]
fn emit_msg_text_with_and_without_fields() {
    let zone = la_zones().remove(0);
    let mut f = Formatter::new(opts(false, false), zone.clone());
    let ts = 1_507_591_916_746_609_046;
    let a = msg_alert(
        ts,
        Priority::Debug,
        "Falco internal: hot restart",
        "Falco restarted",
        &[],
    );
    assert_eq!(f.line(&a), "16:31:56.746609046: Debug Falco restarted");
    let fields: &[F<'_>] = &[
        ("n_drops", Some("12"), FieldKind::Number),
        ("ebpf_enabled", Some("false"), FieldKind::Bool),
        ("path", Some("/tmp/a \"b\""), FieldKind::String),
        ("n_drops", Some("13"), FieldKind::Number),
        ("extra", Some("{\"k\": [1, 2]}"), FieldKind::Json),
        ("none", None, FieldKind::Null),
    ];
    let a = msg_alert(
        ts,
        Priority::Critical,
        "Falco internal: syscall event drop",
        "Drops.\n",
        fields,
    );
    assert_eq!(
        f.line(&a),
        r#"16:31:56.746609046: Critical Drops.\n (ebpf_enabled=false extra={\"k\":[1,2]} n_drops=13 none=null path=\"/tmp/a \\\"b\\\"\")"#
    );
    let mut f = Formatter::new(opts(false, true), zone);
    assert_eq!(
        f.line(&a),
        r#"2017-10-09T23:31:56.746609046+0000: Critical Drops.\n (ebpf_enabled=false extra={\"k\":[1,2]} n_drops=13 none=null path=\"/tmp/a \\\"b\\\"\")"#
    );
}

#[test]
fn emit_msg_json_with_and_without_fields() {
    let mut o = opts(true, true);
    // emit_msg JSON has a fixed shape whatever the include flags say.
    o.include_message = true;
    o.include_output = false;
    o.include_output_fields = false;
    o.include_tags = false;
    let mut f = Formatter::new(o, LocalZone::utc());
    let ts = 1_470_327_477_881_781_397;
    let a = msg_alert(
        ts,
        Priority::Notice,
        "Falco internal: hot restart",
        "Falco \"restarted\"",
        &[],
    );
    assert_eq!(
        f.line(&a),
        r#"{"hostname":"h","output":"Falco \"restarted\"","output_fields":{},"priority":"Notice","rule":"Falco internal: hot restart","source":"internal","time":"2016-08-04T16:17:57.881781397Z"}"#
    );
    let fields: &[F<'_>] = &[
        ("n_evts", Some("100"), FieldKind::Number),
        ("cur", Some("{\"b\":1,\"a\":2}"), FieldKind::Json),
        ("n_evts", Some("101"), FieldKind::Number),
        ("ok", Some("yes"), FieldKind::Bool),
    ];
    let a = msg_alert(
        ts,
        Priority::Critical,
        "Falco internal: syscall event drop",
        "Drops",
        fields,
    );
    assert_eq!(
        f.line(&a),
        r#"{"hostname":"h","output":"Drops","output_fields":{"cur":{"a":2,"b":1},"n_evts":101,"ok":"yes"},"priority":"Critical","rule":"Falco internal: syscall event drop","source":"internal","time":"2016-08-04T16:17:57.881781397Z"}"#
    );
}

#[test]
fn write_line_appends_without_newline() {
    let mut f = Formatter::new(opts(false, false), LocalZone::utc());
    let a = alert_from_parts(0, Priority::Error, "r", "s", "m", &[], &[]);
    let mut out = b"prev\n".to_vec();
    f.write_line(&a, &mut out);
    f.write_line(&a, &mut out);
    assert_eq!(
        out,
        b"prev\n00:00:00.000000000: Error m00:00:00.000000000: Error m"
    );
}
