//! The JSON string escaper (nlohmann::json's `dump` with `ensure_ascii = false`), word at a
//! time: clean runs are copied whole.

/// `"` + escaped + `"`.
#[inline(always)]
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    if s.len() < 16 && short_is_clean(s) {
        out.extend_from_slice(s);
    } else {
        escape_into(out, s);
    }
    out.push(b'"');
}

#[inline(always)]
fn byte_needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\'
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Appends `s` escaped as a JSON string body the way nlohmann::json dumps it with
/// `ensure_ascii = false`: `\"`, `\\`, `\b \f \n \r \t`, other bytes below 0x20 as `\u00xx`;
/// everything else (DEL, UTF-8) as is. Clean runs are copied whole.
#[inline]
pub fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    let first = if s.len() < 16 && short_is_clean(s) {
        None
    } else {
        find_escape(s, 0)
    };
    match first {
        None => out.extend_from_slice(s),
        Some(j) => escape_from(out, s, j),
    }
}

/// Whether a string shorter than 16 bytes needs no escaping, with at most two overlapping
/// word loads (field names and values are mostly this short).
#[inline(always)]
fn short_is_clean(s: &[u8]) -> bool {
    let n = s.len();
    if n >= 8 {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&s[..8]);
        b.copy_from_slice(&s[n - 8..]);
        escape_mask(u64::from_le_bytes(a)) | escape_mask(u64::from_le_bytes(b)) == 0
    } else if n >= 4 {
        let mut a = [0u8; 4];
        let mut b = [0u8; 4];
        a.copy_from_slice(&s[..4]);
        b.copy_from_slice(&s[n - 4..]);
        let w = u64::from(u32::from_le_bytes(a)) | u64::from(u32::from_le_bytes(b)) << 32;
        escape_mask(w) == 0
    } else {
        !s.iter().any(|&c| byte_needs_escape(c))
    }
}

/// [`escape_into`] once the first byte to escape, at `j`, is known.
fn escape_from(out: &mut Vec<u8>, s: &[u8], mut j: usize) {
    let mut start = 0;
    loop {
        out.extend_from_slice(&s[start..j]);
        push_escape(out, s[j]);
        start = j + 1;
        match find_escape(s, start) {
            Some(next) => j = next,
            None => break,
        }
    }
    out.extend_from_slice(&s[start..]);
}

/// Mask with the high bit set in each byte of `w` that is < 0x20, `"` or `\`. The lowest set
/// bit is exact (borrows only create false positives above a true match).
#[inline(always)]
fn escape_mask(w: u64) -> u64 {
    let ctl = w.wrapping_sub(LO * 0x20) & !w;
    let q = w ^ (LO * u64::from(b'"'));
    let q = q.wrapping_sub(LO) & !q;
    let b = w ^ (LO * u64::from(b'\\'));
    let b = b.wrapping_sub(LO) & !b;
    (ctl | q | b) & HI
}

/// Index of the first byte at or after `i` that needs escaping.
#[inline(always)]
fn find_escape(s: &[u8], mut i: usize) -> Option<usize> {
    let n = s.len();
    #[cfg(target_arch = "x86_64")]
    if n >= 16 {
        return find_escape_sse2(s, i);
    }
    while i + 8 <= n {
        let mut w = [0u8; 8];
        w.copy_from_slice(&s[i..i + 8]);
        let m = escape_mask(u64::from_le_bytes(w));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i < n {
        if n >= 8 {
            // The tail: re-read the last 8 bytes (overlapping what was checked) and ignore the
            // bytes before `i`. One load, no copy through memory.
            let mut w = [0u8; 8];
            w.copy_from_slice(&s[n - 8..]);
            let skip = (i + 8 - n) * 8; // bits of already-checked bytes, < 64
            let m = (escape_mask(u64::from_le_bytes(w)) >> skip) << skip;
            if m != 0 {
                return Some(n - 8 + (m.trailing_zeros() / 8) as usize);
            }
        } else {
            return s[i..]
                .iter()
                .position(|&c| byte_needs_escape(c))
                .map(|k| i + k);
        }
    }
    None
}

/// [`find_escape`] 16 bytes at a time (SSE2 is part of x86_64), for `s.len() >= 16`.
#[cfg(target_arch = "x86_64")]
#[inline]
fn find_escape_sse2(s: &[u8], mut i: usize) -> Option<usize> {
    use std::arch::x86_64::*;
    let n = s.len();
    if n < 16 || i >= n {
        return None;
    }
    #[inline(always)]
    fn mask16(chunk: &[u8]) -> u32 {
        assert!(chunk.len() >= 16);
        // SAFETY: `chunk` has at least 16 readable bytes (asserted above); the load is
        // unaligned; SSE2 is always available on x86_64.
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let k1f = _mm_set1_epi8(0x1f);
            let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, k1f), k1f); // v <= 0x1f, unsigned
            let q = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let b = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(ctl, q), b)) as u32
        }
    }
    while i + 16 <= n {
        let m = mask16(&s[i..i + 16]);
        if m != 0 {
            return Some(i + m.trailing_zeros() as usize);
        }
        i += 16;
    }
    if i < n {
        // Re-read the last 16 bytes and ignore those before `i`.
        let skip = i + 16 - n; // < 16
        let m = (mask16(&s[n - 16..]) >> skip) << skip;
        if m != 0 {
            return Some(n - 16 + m.trailing_zeros() as usize);
        }
    }
    None
}

#[cold]
fn push_escape(out: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        0x08 => out.extend_from_slice(b"\\b"),
        0x0c => out.extend_from_slice(b"\\f"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[(c >> 4) as usize],
            HEX[(c & 15) as usize],
        ]),
    }
}
