//! The alert's tests: building, checking and repairing, recycling.

use std::sync::Arc;

use super::builder::PENDING;
use super::*;

#[test]
fn invalid_utf8_is_repaired_with_replacement_character() {
    let mut raw = RawAlert::empty();
    let mut b = AlertBuilder::reuse(&mut raw, 2);
    b.rule(b"r\xffule").unwrap();
    b.source(b"syscall").unwrap();
    b.message(b"bad \xc3 byte").unwrap();
    b.field(b"n\x80", Some(b"v\xfe"), FieldKind::String)
        .unwrap();
    b.tag(b"t\xff").unwrap();
    b.build(1, Priority::Error, AlertKind::Event);
    let a = raw.into_checked();
    assert_eq!(a.rule(), "r\u{fffd}ule");
    assert_eq!(a.message(), "bad \u{fffd} byte");
    assert_eq!(a.field(0).name, "n\u{fffd}");
    assert_eq!(a.field(0).value, Some("v\u{fffd}"));
    assert_eq!(a.tags().collect::<Vec<_>>(), ["t\u{fffd}"]);
}

#[test]
fn fields_and_tags_keep_their_order_when_interleaved() {
    let mut raw = RawAlert::empty();
    let mut b = AlertBuilder::reuse(&mut raw, 4);
    b.rule(b"r")
        .unwrap()
        .source(b"s")
        .unwrap()
        .message(b"m")
        .unwrap();
    b.tag(b"t1").unwrap();
    b.field(b"f1", Some(b"v1"), FieldKind::String).unwrap();
    b.tag(b"t2").unwrap();
    b.field(b"f2", None, FieldKind::Null).unwrap();
    b.build(1, Priority::Error, AlertKind::Event);
    let a = raw.into_checked();
    assert_eq!(a.fields_len(), 2);
    assert_eq!(a.field(0).name, "f1");
    assert_eq!(a.field(0).value, Some("v1"));
    assert_eq!(a.field(1).name, "f2");
    assert_eq!(a.field(1).value, None);
    assert_eq!(a.tags().collect::<Vec<_>>(), ["t1", "t2"]);
    assert_eq!(a.tags_len(), 2);
}

#[test]
fn null_kind_drops_the_value() {
    let a = alert_from_parts(
        0,
        Priority::Debug,
        "r",
        "s",
        "m",
        &[("x", Some("ignored"), FieldKind::Null)],
        &[],
    );
    assert_eq!(a.field(0).value, None);
}

/// Issue 9.10: `reuse` took the buffers but left the spans, so the safe accessors read past
/// the (now empty) arena: undefined behaviour that Miri reports as a dangling reference.
/// Now the builder borrows the alert (nothing reads it meanwhile), a builder given up
/// half-way (a NULL field: the alert is not queued) leaves it empty, and it is readable only
/// once checked.
#[test]
fn an_alert_given_to_reuse_reads_as_nothing_until_rebuilt_and_checked() {
    let mut raw = RawAlert::from(alert_from_parts(
        1,
        Priority::Error,
        "a rule with a long name",
        "syscall",
        "some message",
        &[("proc.name", Some("bash"), FieldKind::String)],
        &["tag"],
    ));
    // Given up half-way (as emit does on a NULL field): the builder is dropped unbuilt.
    AlertBuilder::reuse(&mut raw, 0).rule(b"half").unwrap();
    assert!(
        raw.as_checked().is_none(),
        "unchecked bytes are not readable"
    );
    let a = raw.check();
    assert_eq!((a.rule(), a.source(), a.message()), ("", "", ""));
    assert_eq!((a.fields_len(), a.tags_len()), (0, 0));
    assert_eq!(a.fields().count() + a.tags().count(), 0);

    let mut b = AlertBuilder::reuse(&mut raw, 0);
    b.rule(b"r2")
        .unwrap()
        .source(b"s")
        .unwrap()
        .message(b"m")
        .unwrap();
    b.build(2, Priority::Notice, AlertKind::Event);
    assert!(
        raw.as_checked().is_none(),
        "unchecked bytes are not readable"
    );
    let a = RawAlert::checked(Arc::new(raw));
    assert_eq!((a.rule(), a.source(), a.message()), ("r2", "s", "m"));
    assert_eq!(a.fields_len(), 0);
    assert_eq!(a.time_ns, 2);
}

/// The arena is allocated once, to the exact size, however many strings (up to PENDING);
/// more strings than that still all land in the right places.
#[test]
fn the_arena_is_one_exact_allocation_and_long_alerts_keep_every_string() {
    let a = alert_from_parts(
        1,
        Priority::Error,
        "rule",
        "src",
        "message",
        &[("n", Some("vv"), FieldKind::String)],
        &["t"],
    );
    assert_eq!(a.text.len(), "rulesrcmessagenvvt".len());
    let mut raw = RawAlert::empty();
    let mut b = AlertBuilder::reuse(&mut raw, 0);
    b.rule(b"rule")
        .unwrap()
        .source(b"src")
        .unwrap()
        .message(b"msg")
        .unwrap();
    b.field(b"n", Some(b"v"), FieldKind::String).unwrap();
    b.build(1, Priority::Error, AlertKind::Event);
    assert_eq!(raw.0.text.capacity(), "rulesrcmsgnv".len());

    let names: Vec<String> = (0..3 * PENDING).map(|i| format!("field{i}")).collect();
    let values: Vec<String> = (0..3 * PENDING).map(|i| format!("{}", i * 7)).collect();
    let mut b = AlertBuilder::reuse(&mut raw, 0);
    b.rule(b"r")
        .unwrap()
        .source(b"s")
        .unwrap()
        .message(b"m")
        .unwrap();
    for (n, v) in names.iter().zip(&values) {
        b.field(n.as_bytes(), Some(v.as_bytes()), FieldKind::Number)
            .unwrap();
    }
    b.tag(b"last").unwrap();
    b.build(1, Priority::Error, AlertKind::Event);
    let a = RawAlert::checked(Arc::new(raw));
    assert_eq!(a.fields_len(), 3 * PENDING);
    for (i, f) in a.fields().enumerate() {
        assert_eq!(
            (f.name, f.value),
            (names[i].as_str(), Some(values[i].as_str()))
        );
    }
    assert_eq!(a.tags().collect::<Vec<_>>(), ["last"]);
}

/// Strings of every length up to past the short-copy cases come back byte for byte.
#[test]
fn strings_of_every_length_are_copied_exactly() {
    let text: String = ('a'..='z').chain('A'..='Z').collect();
    let names: Vec<&str> = (0..=40).map(|n| &text[..n]).collect();
    let values: Vec<&str> = (0..=40).map(|n| &text[52 - n..]).collect();
    let fields: Vec<_> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| (*n, Some(*v), FieldKind::String))
        .collect();
    let a = alert_from_parts(1, Priority::Error, "r", "s", "m", &fields, &names);
    for (i, f) in a.fields().enumerate() {
        assert_eq!((f.name, f.value), (names[i], Some(values[i])), "length {i}");
    }
    assert_eq!(a.tags().collect::<Vec<_>>(), names);
}

/// The check runs on whole arena, but repairs string by string: bytes that would form a
/// valid character across two strings are still two invalid ones, as before.
#[test]
fn a_character_split_across_two_strings_is_repaired_in_each() {
    let mut raw = RawAlert::empty();
    let mut b = AlertBuilder::reuse(&mut raw, 1);
    // "é" is C3 A9: the rule ends with its first byte, the source starts with its second.
    b.rule(b"r\xc3").unwrap().source(b"\xa9s").unwrap();
    b.message("caf\u{e9} \u{1f600}".as_bytes()).unwrap();
    b.field(b"k", Some(b"\xe2\x82"), FieldKind::String).unwrap();
    b.build(1, Priority::Error, AlertKind::Event);
    let a = raw.into_checked();
    assert_eq!(a.rule(), "r\u{fffd}");
    assert_eq!(a.source(), "\u{fffd}s");
    assert_eq!(a.message(), "caf\u{e9} \u{1f600}");
    assert_eq!(a.field(0).value, Some("\u{fffd}"));

    // Valid UTF-8 that is not ASCII is kept as it is.
    let a = alert_from_parts(1, Priority::Error, "règle", "s", "m", &[], &["tâg"]);
    assert_eq!((a.rule(), a.tags().next()), ("règle", Some("tâg")));
}

#[test]
fn priorities_round_trip_through_numbers_and_names() {
    for (i, p) in Priority::ALL.iter().enumerate() {
        assert_eq!(Priority::from_i32(i as i32), Some(*p));
        assert_eq!(Priority::parse(p.name()), Some(*p));
    }
    assert_eq!(Priority::from_i32(8), None);
    assert_eq!(Priority::from_i32(-1), None);
    assert_eq!(Priority::parse("INFO"), Some(Priority::Informational));
    assert_eq!(Priority::parse("verbose"), None);
}
