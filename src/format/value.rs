//! A field's value as Falco's `output_fields` holds it, numbers printed as nlohmann::json does.

use super::escape::push_json_str;
use crate::alert::{Field, FieldKind};
use crate::digits::push_u64;

/// A field's value as Falco's output_fields holds it.
pub(super) fn push_value(out: &mut Vec<u8>, f: &Field<'_>) {
    let Some(v) = f.value else {
        out.extend_from_slice(b"null");
        return;
    };
    match f.kind {
        FieldKind::Null => out.extend_from_slice(b"null"),
        FieldKind::String => push_json_str(out, v.as_bytes()),
        FieldKind::Number => {
            if is_json_number(v.as_bytes()) {
                out.extend_from_slice(v.as_bytes());
            } else {
                push_json_str(out, v.as_bytes());
            }
        }
        FieldKind::Bool => {
            if v == "true" || v == "false" {
                out.extend_from_slice(v.as_bytes());
            } else {
                push_json_str(out, v.as_bytes());
            }
        }
        FieldKind::Json => match serde_json::from_str::<serde_json::Value>(v) {
            Ok(value) => push_json_value(out, &value),
            Err(_) => push_json_str(out, v.as_bytes()),
        },
    }
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
pub(super) fn is_json_number(s: &[u8]) -> bool {
    let mut i = 0;
    let n = s.len();
    if i < n && s[i] == b'-' {
        i += 1;
    }
    match s.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while i < n && s[i].is_ascii_digit() {
                i += 1;
            }
        }
        _ => return false,
    }
    if i < n && s[i] == b'.' {
        i += 1;
        let start = i;
        while i < n && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if i < n && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        if i < n && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < n && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == n
}

/// A parsed JSON value, compact, object keys sorted by bytes (nlohmann's std::map).
pub(super) fn push_json_value(out: &mut Vec<u8>, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                push_u64(out, u);
            } else if let Some(i) = n.as_i64() {
                out.push(b'-');
                push_u64(out, i.unsigned_abs());
            } else if let Some(f) = n.as_f64() {
                push_f64_like_nlohmann(out, f);
            } else {
                out.extend_from_slice(b"null");
            }
        }
        Value::String(s) => push_json_str(out, s.as_bytes()),
        Value::Array(items) => {
            out.push(b'[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_json_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Sort here rather than trusting the map's order: a `preserve_order` feature enabled
            // anywhere in a build would otherwise change our bytes.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (k, (key, item)) in entries.into_iter().enumerate() {
                if k > 0 {
                    out.push(b',');
                }
                push_json_str(out, key.as_bytes());
                out.push(b':');
                push_json_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// A double the way nlohmann::json dumps it: shortest round-trip digits, fixed notation for
/// decimal exponents in (-4, 15] with `.0` added to integral values, else `d.ddde+XX`.
pub(super) fn push_f64_like_nlohmann(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if f.is_sign_negative() {
        out.push(b'-');
    }
    let f = f.abs();
    if f == 0.0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    // Rust's `{:e}` prints the shortest round-trip digits: "1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let e: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = e + 1; // position of the decimal point relative to the first digit
    const MIN_EXP: i32 = -4;
    const MAX_EXP: i32 = 15;
    if k <= n && n <= MAX_EXP {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
        out.extend_from_slice(b".0");
    } else if 0 < n && n <= MAX_EXP {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if MIN_EXP < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(&digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        let x = n - 1;
        out.push(if x < 0 { b'-' } else { b'+' });
        let x = x.unsigned_abs();
        if x < 10 {
            out.push(b'0');
        }
        push_u64(out, u64::from(x));
    }
}
