//! The C ABI called from Rust with hostile input: NULL pointers, out-of-range enums, invalid
//! UTF-8, huge strings, tiny error buffers. Every case returns a result code, never crashes.

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use ::falco_outputs as lib;
use lib::ffi::falco_outputs_result::*;
use lib::ffi::*;

fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn record_log(_: *mut c_void, _level: i32, msg: *const c_char) {
    LOGGED
        .lock()
        .unwrap()
        .push(CStr::from_ptr(msg).to_string_lossy().into_owned());
}

fn options(yaml: &CString) -> falco_outputs_options {
    falco_outputs_options {
        config_path: null(),
        config_yaml: yaml.as_ptr(),
        overrides: null(),
        overrides_len: 0,
        hostname: null(),
        log_fn: Some(record_log),
        log_userdata: null_mut(),
    }
}

unsafe fn init(yaml: &str) -> (*mut falco_outputs, falco_outputs_result, String) {
    crate::support::utc();
    let yaml = c(yaml);
    let opts = options(&yaml);
    let mut out = null_mut();
    let mut err = [0 as c_char; 512];
    let r = falco_outputs_init(&opts, &mut out, err.as_mut_ptr(), err.len());
    (
        out,
        r,
        CStr::from_ptr(err.as_ptr()).to_string_lossy().into_owned(),
    )
}

fn alert(rule: &CString, msg: &CString) -> falco_alert {
    falco_alert {
        time_ns: 0,
        priority: FALCO_PRIORITY_WARNING,
        rule: rule.as_ptr(),
        source: null(),
        message: msg.as_ptr(),
        fields: null(),
        fields_len: 0,
        tags: null(),
        tags_len: 0,
    }
}

#[test]
fn hostile_pointers_and_enums_get_result_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    unsafe {
        let (h, r, e) = init(&format!(
            "file_output: {{enabled: true, filename: {}}}",
            path.display()
        ));
        assert_eq!(r, FALCO_OUTPUTS_OK, "{e}");
        let (rule, msg) = (c("r"), c("m"));

        assert_eq!(
            falco_outputs_emit(null_mut(), &alert(&rule, &msg)),
            FALCO_OUTPUTS_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            falco_outputs_emit(h, null()),
            FALCO_OUTPUTS_ERR_NULL_ARGUMENT
        );
        let mut a = alert(&rule, &msg);
        a.rule = null();
        assert_eq!(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
        let mut a = alert(&rule, &msg);
        a.fields_len = 3;
        assert_eq!(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
        let mut a = alert(&rule, &msg);
        a.tags_len = 1;
        assert_eq!(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);
        for p in [-1, 8, i32::MAX, i32::MIN] {
            let mut a = alert(&rule, &msg);
            a.priority = p;
            assert_eq!(
                falco_outputs_emit(h, &a),
                FALCO_OUTPUTS_ERR_INVALID_ARGUMENT,
                "priority {p}"
            );
            assert_eq!(
                falco_outputs_emit_msg(h, 0, p, rule.as_ptr(), msg.as_ptr(), null(), 0),
                FALCO_OUTPUTS_ERR_INVALID_ARGUMENT
            );
        }
        let name = c("n");
        for kind in [-1, 5, 1000] {
            let f = [falco_field {
                name: name.as_ptr(),
                value: null(),
                kind,
            }];
            let mut a = alert(&rule, &msg);
            a.fields = f.as_ptr();
            a.fields_len = 1;
            assert_eq!(
                falco_outputs_emit(h, &a),
                FALCO_OUTPUTS_ERR_INVALID_ARGUMENT,
                "kind {kind}"
            );
        }
        let f = [falco_field {
            name: null(),
            value: null(),
            kind: 0,
        }];
        let mut a = alert(&rule, &msg);
        a.fields = f.as_ptr();
        a.fields_len = 1;
        assert_eq!(falco_outputs_emit(h, &a), FALCO_OUTPUTS_ERR_NULL_ARGUMENT);

        // Invalid UTF-8 is repaired, never rejected; a huge message is delivered whole.
        let bad = CString::new(b"bad \xff\xfe byte".to_vec()).unwrap();
        assert_eq!(falco_outputs_emit(h, &alert(&rule, &bad)), FALCO_OUTPUTS_OK);
        let huge = c(&"y".repeat(16 << 20));
        assert_eq!(
            falco_outputs_emit(h, &alert(&rule, &huge)),
            FALCO_OUTPUTS_OK
        );

        let mut stats = falco_outputs_stats::default();
        assert_eq!(
            falco_outputs_get_stats(h, null_mut()),
            FALCO_OUTPUTS_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            falco_outputs_get_stats(null(), &mut stats),
            FALCO_OUTPUTS_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            falco_outputs_flush(null_mut(), 10),
            FALCO_OUTPUTS_ERR_NULL_ARGUMENT
        );
        assert_eq!(falco_outputs_stats_json(null(), null_mut(), 0), 0);
        falco_outputs_reopen(null_mut());
        assert_eq!(
            falco_outputs_close(null_mut(), 0),
            FALCO_OUTPUTS_ERR_NULL_ARGUMENT
        );

        assert_eq!(falco_outputs_flush(h, 10_000), FALCO_OUTPUTS_OK);
        assert_eq!(falco_outputs_get_stats(h, &mut stats), FALCO_OUTPUTS_OK);
        assert_eq!((stats.accepted, stats.delivered), (2, 2));
        let needed = falco_outputs_stats_json(h, null_mut(), 0);
        let mut small = [b'#' as c_char; 8];
        assert_eq!(
            falco_outputs_stats_json(h, small.as_mut_ptr(), small.len()),
            needed
        );
        assert_eq!(small[7], 0, "truncated text is NUL-terminated");
        assert_eq!(falco_outputs_close(h, 0), FALCO_OUTPUTS_OK);
    }
    let text = std::fs::read(&path).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        "00:00:00.000000000: Warning bad \u{fffd}\u{fffd} byte".as_bytes()
    );
    assert_eq!(
        lines[1].len(),
        "00:00:00.000000000: Warning ".len() + (16 << 20)
    );
}

/// `emit` copies the host's bytes unchecked; the fan-out thread replaces invalid UTF-8 with
/// U+FFFD (string by string) before anything reads them. A channel whose `match` reads the rule
/// and the tags decides on the repaired text, at emit, as it did when emit repaired it.
#[test]
fn invalid_utf8_anywhere_is_repaired_and_routed_as_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let (all, routed) = (dir.path().join("all.json"), dir.path().join("routed.json"));
    let json = |path: &std::path::Path| -> Vec<serde_json::Value> {
        crate::support::read_lines(path)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    unsafe {
        let (h, r, e) = init(&format!(
            "json_output: true\nfile_output: {{enabled: true, filename: {}}}\n\
             extra_outputs:\n  - {{name: routed, type: file, filename: {}, \
             match: {{rules: [\"r\u{fffd}le *\"], tags: [\"t\u{fffd}*\"]}}}}\n",
            all.display(),
            routed.display()
        ));
        assert_eq!(r, FALCO_OUTPUTS_OK, "{e}");
        let cs = |b: &[u8]| CString::new(b.to_vec()).unwrap();
        let (bad_rule, source, msg) = (cs(b"r\xffle one"), cs(b"sys\xc3"), cs(b"m\xfe"));
        // "\xc3" ends the name, "\xa9" starts the value: a valid "é" across two strings is
        // still two invalid ones.
        let (name, value) = (cs(b"f\x80\xc3"), cs(b"\xa9v"));
        let (tag_bad, tag_ok) = (cs(b"t\xff1"), cs(b"ok"));
        let fields = [falco_field {
            name: name.as_ptr(),
            value: value.as_ptr(),
            kind: 0,
        }];
        let tags = [tag_ok.as_ptr(), tag_bad.as_ptr()];
        let mut a = alert(&bad_rule, &msg);
        a.source = source.as_ptr();
        a.fields = fields.as_ptr();
        a.fields_len = 1;
        a.tags = tags.as_ptr();
        a.tags_len = 2;
        assert_eq!(falco_outputs_emit(h, &a), FALCO_OUTPUTS_OK);
        // The same with a valid rule that the route does not take, then with a valid rule
        // that it does (U+FFFD given by the host) but without the tag.
        let good = c("rule two");
        let mut b = alert(&good, &msg);
        b.tags = tags.as_ptr();
        b.tags_len = 2;
        assert_eq!(falco_outputs_emit(h, &b), FALCO_OUTPUTS_OK);
        let given = c("r\u{fffd}le three");
        assert_eq!(
            falco_outputs_emit(h, &alert(&given, &msg)),
            FALCO_OUTPUTS_OK
        );
        assert_eq!(falco_outputs_flush(h, 10_000), FALCO_OUTPUTS_OK);
        assert_eq!(falco_outputs_close(h, 0), FALCO_OUTPUTS_OK);
    }
    let lines = json(&all);
    assert_eq!(lines.len(), 3);
    let first = &lines[0];
    assert_eq!(first["rule"], "r\u{fffd}le one");
    assert_eq!(first["source"], "sys\u{fffd}");
    assert_eq!(first["output_fields"]["f\u{fffd}\u{fffd}"], "\u{fffd}v");
    assert_eq!(first["tags"], serde_json::json!(["ok", "t\u{fffd}1"]));
    assert!(first["output"].as_str().unwrap().ends_with("m\u{fffd}"));
    let routed_rules: Vec<_> = json(&routed).iter().map(|l| l["rule"].clone()).collect();
    assert_eq!(routed_rules, ["r\u{fffd}le one"]);
}

#[test]
fn init_errors_name_the_key_and_leave_out_null() {
    unsafe {
        let (h, r, e) = init("stdout_output: {enabled: false}");
        assert!(h.is_null());
        assert_eq!(r, FALCO_OUTPUTS_ERR_CONFIG);
        assert!(e.to_lowercase().contains("output"), "{e}");

        let (h, r, e) = init("file_output: {enabled: true, keep_alive: maybe, filename: /tmp/x}");
        assert!(h.is_null());
        assert_eq!(r, FALCO_OUTPUTS_ERR_CONFIG);
        assert!(
            e.contains("file_output.keep_alive") && e.contains("maybe"),
            "{e}"
        );

        // A one-byte error buffer gets just the NUL; a NULL one is fine.
        let yaml = c("stdout_output: {enabled: false}");
        let opts = options(&yaml);
        let mut out = null_mut();
        let mut one = [b'#' as c_char; 1];
        assert_eq!(
            falco_outputs_init(&opts, &mut out, one.as_mut_ptr(), 1),
            FALCO_OUTPUTS_ERR_CONFIG
        );
        assert_eq!(one[0], 0);
        assert_eq!(
            falco_outputs_init(&opts, &mut out, null_mut(), 0),
            FALCO_OUTPUTS_ERR_CONFIG
        );
        assert_eq!(
            falco_outputs_init(null(), &mut out, null_mut(), 0),
            FALCO_OUTPUTS_ERR_NULL_ARGUMENT
        );
        assert_eq!(
            falco_outputs_init(&opts, null_mut(), null_mut(), 0),
            FALCO_OUTPUTS_ERR_NULL_ARGUMENT
        );
    }
}

#[test]
fn unknown_key_in_an_output_block_is_a_warning_through_the_log_callback() {
    let dir = tempfile::tempdir().unwrap();
    unsafe {
        let (h, r, e) = init(&format!(
            "file_output: {{enabled: true, filename: {}, kep_alive: true}}",
            dir.path().join("a").display()
        ));
        assert_eq!(r, FALCO_OUTPUTS_OK, "{e}");
        assert_eq!(falco_outputs_close(h, 0), FALCO_OUTPUTS_OK);
    }
    let logged = LOGGED.lock().unwrap();
    assert!(
        logged.iter().any(|l| l.contains("file_output.kep_alive")),
        "{logged:?}"
    );
}

#[test]
fn result_str_covers_every_code_and_out_of_range_values() {
    let all: Vec<String> = (0..=8)
        .map(|i| {
            unsafe { CStr::from_ptr(falco_outputs_result_str(i)) }
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let distinct: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), 9);
    let unknown = unsafe { CStr::from_ptr(falco_outputs_result_str(42)) };
    assert_eq!(unknown.to_str().unwrap(), "unknown result code");
    let v = unsafe { CStr::from_ptr(falco_outputs_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}
