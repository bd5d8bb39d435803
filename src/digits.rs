//! Decimal digits without `fmt`: two at a time from a table (for the alert formats and the
//! dates, so neither module needs the other for it).

pub(crate) static PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

#[inline(always)]
pub(crate) fn put2(dst: &mut [u8], v: u32) {
    let v = (v % 100) as usize * 2;
    dst[0] = PAIRS[v];
    dst[1] = PAIRS[v + 1];
}

/// Nine digits, zero-padded.
#[inline]
pub(super) fn push_nanos(out: &mut Vec<u8>, ns: u32) {
    let mut b = [0u8; 9];
    let hi = ns / 10_000_000; // 0..=99
    let rest = ns % 10_000_000;
    put2(&mut b[0..2], hi);
    put2(&mut b[2..4], rest / 100_000);
    put2(&mut b[4..6], rest / 1_000 % 100);
    put2(&mut b[6..8], rest / 10 % 100);
    b[8] = b'0' + (rest % 10) as u8;
    out.extend_from_slice(&b);
}

#[inline]
pub(super) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut b = [0u8; 20];
    let mut i = 20;
    while v >= 100 {
        let r = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        b[i] = PAIRS[r];
        b[i + 1] = PAIRS[r + 1];
    }
    if v >= 10 {
        let r = v as usize * 2;
        i -= 2;
        b[i] = PAIRS[r];
        b[i + 1] = PAIRS[r + 1];
    } else {
        i -= 1;
        b[i] = b'0' + v as u8;
    }
    out.extend_from_slice(&b[i..]);
}
