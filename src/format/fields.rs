//! The alert's fields and tags in the order Falco prints them (std::map / std::set order).

use super::escape::push_json_str;
use crate::alert::{Alert, Field, FieldKind};

/// Fields gathered on the stack up to this many (beyond, one Vec per alert).
const STACK_FIELDS: usize = 16;
const NO_FIELD: Field<'static> = Field {
    name: "",
    value: None,
    kind: FieldKind::Null,
};

/// Calls `f` with the alert's fields sorted by name (bytes, as std::map<std::string> orders
/// them), a later field of the same name replacing an earlier one (std::map assignment).
#[inline]
pub(crate) fn with_sorted_fields<R>(alert: &Alert, f: impl FnOnce(&[Field<'_>]) -> R) -> R {
    let n = alert.fields_len();
    if n <= STACK_FIELDS {
        let mut buf = [NO_FIELD; STACK_FIELDS];
        for (i, slot) in buf.iter_mut().enumerate().take(n) {
            // Member by member: copying the whole struct reads the byte-sized kind back with
            // an 8-byte load just after the callee's 1-byte store, a store-forwarding stall
            // that cost more than everything else in this loop.
            let f = alert.field(i);
            slot.name = f.name;
            slot.value = f.value;
            slot.kind = f.kind;
        }
        let len = sort_dedup(&mut buf[..n]);
        f(&buf[..len])
    } else {
        let mut many: Vec<Field<'_>> = alert.fields().collect();
        let len = sort_dedup(&mut many);
        f(&many[..len])
    }
}

/// Stable sort by name, then keep the last of each run of equal names; returns the new length.
fn sort_dedup(fields: &mut [Field<'_>]) -> usize {
    let n = fields.len();
    // Hosts usually pass fields already sorted (Falco's own come out of a std::map).
    let sorted = fields
        .windows(2)
        .all(|w| cmp_bytes(w[0].name.as_bytes(), w[1].name.as_bytes()).is_lt());
    if sorted {
        return n; // sorted strictly: no duplicates either
    }
    fields.sort_by(|a, b| cmp_bytes(a.name.as_bytes(), b.name.as_bytes()));
    let mut w = 0;
    for r in 0..n {
        if r + 1 < n && fields[r + 1].name == fields[r].name {
            continue;
        }
        fields[w] = fields[r];
        w += 1;
    }
    w
}

/// Byte-wise comparison that settles most names on their first 8 bytes without a memcmp call.
#[inline]
fn cmp_bytes(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    match prefix8(a).cmp(&prefix8(b)) {
        std::cmp::Ordering::Equal => a.cmp(b),
        other => other,
    }
}

#[inline(always)]
fn prefix8(s: &[u8]) -> u64 {
    if s.len() >= 8 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&s[..8]);
        u64::from_be_bytes(b)
    } else {
        // Built in registers: a short copy through the stack would stall the load after it.
        let mut v = 0u64;
        for (k, &c) in s.iter().enumerate() {
            v |= u64::from(c) << (56 - 8 * k);
        }
        v
    }
}

/// Tags sorted and de-duplicated (Falco keeps them in a std::set<std::string>).
pub(super) fn push_tags(out: &mut Vec<u8>, tags: &mut [&str]) {
    if !tags
        .windows(2)
        .all(|w| cmp_bytes(w[0].as_bytes(), w[1].as_bytes()).is_le())
    {
        tags.sort_unstable_by(|a, b| cmp_bytes(a.as_bytes(), b.as_bytes()));
    }
    let mut prev: Option<&str> = None;
    for &t in tags.iter() {
        if prev == Some(t) {
            continue;
        }
        if prev.is_some() {
            out.push(b',');
        }
        prev = Some(t);
        push_json_str(out, t.as_bytes());
    }
}
