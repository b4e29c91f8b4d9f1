//! The text of single values stored into a fixed-size window, for building whole lines
//! (flows.txt) without per-byte `Vec` bookkeeping.
//!
//! Every `put_*` function writes the text of one value at the start of a [`Window`] and
//! returns its length. Text is built in registers and stored 8 or 16 bytes at a time, so the
//! bytes after the returned length are scratch: the caller writes the next value over them.
//! A window is large enough for any value these functions write (the longest, an IPv6
//! address, is 39 bytes, plus the width of the last store).
//!
//! The texts are those of [`crate::textfmt`]'s `push_*` functions (T2's `printf` formats); the
//! tests check each against them and against `format!`/libc.

use crate::textfmt::{
    ascii8, ascii_hex8, decompose, g17_digits_f32, g7_text_abs, scaled, DIGIT_PAIRS, E16, E8,
    OCTET_DOT,
};
use std::cmp::Ordering;

/// Bytes a value may write into: the longest text (39) plus one 8-byte store's spill.
pub const WINDOW: usize = 48;

/// Where one value's text is stored.
pub type Window = [u8; WINDOW];

#[inline(always)]
fn store8(w: &mut [u8], at: usize, chars: u64) {
    w[at..at + 8].copy_from_slice(&chars.to_le_bytes());
}

#[inline(always)]
fn store16(w: &mut [u8], at: usize, chars: u128) {
    w[at..at + 16].copy_from_slice(&chars.to_le_bytes());
}

/// The decimal digits of `1 <= v < 10^8` without leading zeros, and their number.
#[inline(always)]
fn digits8(v: u32) -> (u64, usize) {
    let chars = ascii8(v);
    // leading zeros are the low bytes that hold '0'
    let zeros = ((chars - 0x3030_3030_3030_3030).trailing_zeros() / 8) as usize;
    (chars >> (8 * zeros), 8 - zeros)
}

/// "00" ..= "99", first digit in the low byte.
static DEC_PAIRS: [u16; 100] = {
    let mut t = [0u16; 100];
    let mut i = 0;
    while i < 100 {
        t[i] = DIGIT_PAIRS[2 * i] as u16 | (DIGIT_PAIRS[2 * i + 1] as u16) << 8;
        i += 1;
    }
    t
};

#[inline(always)]
fn store2(w: &mut [u8], at: usize, chars: u16) {
    w[at..at + 2].copy_from_slice(&chars.to_le_bytes());
}

#[inline(always)]
fn store4(w: &mut [u8], at: usize, chars: u32) {
    w[at..at + 4].copy_from_slice(&chars.to_le_bytes());
}

/// Unsigned decimal (`%llu`). Up to 4 digits by table (most flow counters), up to 8 by
/// [`ascii8`], up to 10 (times in seconds, sequence numbers) by both.
#[inline(always)]
pub fn put_u64(w: &mut Window, v: u64) -> usize {
    if v < 10 {
        w[0] = b'0' + v as u8;
        return 1;
    }
    if v < 100 {
        store2(w, 0, DEC_PAIRS[v as usize]);
        return 2;
    }
    if v < 10_000 {
        let chars = u32::from(DEC_PAIRS[(v / 100) as usize])
            | u32::from(DEC_PAIRS[(v % 100) as usize]) << 16;
        // 3 digits: without the leading zero
        let zero = usize::from(v < 1000);
        store4(w, 0, chars >> (8 * zero));
        return 4 - zero;
    }
    if v < E8 {
        let (chars, n) = digits8(v as u32);
        store8(w, 0, chars);
        return n;
    }
    if v < 100 * E8 {
        let high = (v / E8) as usize;
        let zero = usize::from(high < 10);
        store2(w, 0, DEC_PAIRS[high] >> (8 * zero));
        store8(w, 2 - zero, ascii8((v % E8) as u32));
        return 10 - zero;
    }
    put_u64_long(w, v)
}

/// [`put_u64`] of `v >= 10^10`: the leading digits, then 8 or 16 more.
#[inline(never)]
fn put_u64_long(w: &mut Window, v: u64) -> usize {
    let (high, low) = (v / E8, (v % E8) as u32);
    let n = if high < E8 {
        let (chars, n) = digits8(high as u32);
        store8(w, 0, chars);
        n
    } else {
        let (chars, n) = digits8((high / E8) as u32);
        store8(w, 0, chars);
        store8(w, n, ascii8((high % E8) as u32));
        n + 8
    };
    store8(w, n, ascii8(low));
    n + 8
}

/// Signed decimal (`%lld`).
#[inline(always)]
pub fn put_i64(w: &mut Window, v: i64) -> usize {
    if v >= 0 {
        return put_u64(w, v as u64);
    }
    w[0] = b'-';
    1 + put_u64_at(w, 1, v.unsigned_abs())
}

/// [`put_u64`] at `at` (<= 24) of the window, through a copy of fixed length (rare paths).
#[inline(never)]
fn put_u64_at(w: &mut Window, at: usize, v: u64) -> usize {
    let mut digits = [0u8; WINDOW];
    let n = put_u64(&mut digits, v);
    w[at..at + 24].copy_from_slice(&digits[..24]);
    n
}

/// `0x` and the `2 * bytes` lower-case hex digits of `v` (`0x%02x` .. `0x%016llx`; `v` has no
/// more digits than that, as the record stores it in `bytes` bytes).
#[inline(always)]
pub fn put_hex(w: &mut Window, v: u64, bytes: usize) -> usize {
    const PREFIX: u64 = 0x7830; // "0x"
    let pair = |b: u64| u64::from(HEX_PAIRS[(b & 0xff) as usize]);
    match bytes {
        1 => store4(w, 0, (PREFIX | pair(v) << 16) as u32),
        2 => store8(w, 0, PREFIX | pair(v >> 8) << 16 | pair(v) << 32),
        4 => {
            store2(w, 0, PREFIX as u16);
            store8(
                w,
                2,
                pair(v >> 24) | pair(v >> 16) << 16 | pair(v >> 8) << 32 | pair(v) << 48,
            );
        }
        _ => {
            store8(w, 0, PREFIX);
            store8(w, 2, ascii_hex8((v >> 32) as u32));
            store8(w, 10, ascii_hex8(v as u32));
        }
    }
    2 + 2 * bytes.min(8)
}

/// C `%.7g` of a float32 widened to double. Zero, common in flow statistics, is inlined.
#[inline(always)]
pub fn put_g7(w: &mut Window, v: f32) -> usize {
    if v.to_bits() == 0 {
        w[0] = b'0';
        return 1;
    }
    put_g7_text(w, v)
}

#[inline(never)]
fn put_g7_text(w: &mut Window, v: f32) -> usize {
    // the sign is stored on its own: the text is the magnitude's
    w[0] = b'-';
    let sign = usize::from(v.is_sign_negative());
    let (text, n) = g7_text_abs(v);
    store16(w, sign, text);
    sign + n
}

/// C `%f` (six decimals, correctly rounded, ties to even) of values below 2^44 in magnitude;
/// `None` (nothing written) for the others, whose text may not fit a window.
#[inline]
pub fn put_f6(w: &mut Window, v: f64) -> Option<usize> {
    let a = v.abs();
    if a.is_nan() || a >= (1u64 << 44) as f64 {
        return None;
    }
    // the value in millionths: below 2^44 * 10^6 < 2^64
    let micros = if a == 0.0 {
        0
    } else {
        let (m, q) = decompose(a);
        let (floor, rest) = scaled(m, q, 6)?;
        let up = rest == Ordering::Greater || (rest == Ordering::Equal && floor & 1 == 1);
        floor as u64 + u64::from(up)
    };
    let int = micros / 1_000_000;
    let n = if v.is_sign_negative() {
        w[0] = b'-';
        1 + put_u64_at(w, 1, int)
    } else {
        put_u64(w, int)
    };
    let frac = ascii8((micros % 1_000_000) as u32) >> 16;
    store8(w, n, u64::from(b'.') | frac << 8);
    Some(n + 7)
}

/// jsonSink's text of a float32 value (`%.17g` of it widened, see
/// [`crate::textfmt::push_json_f64_17`]) for zero and the values of the fast path of
/// [`g17_digits_f32`] (about [1e-15, 2^24)); `None` (nothing written) for the others.
#[inline]
pub fn put_json_f32(w: &mut Window, v: f32) -> Option<usize> {
    let sign = usize::from(v.is_sign_negative());
    w[0] = b'-';
    if v == 0.0 {
        w[sign..sign + 3].copy_from_slice(b"0.0");
        return Some(sign + 3);
    }
    let (n, k) = g17_digits_f32(f64::from(v))?;
    // the 17 digits, then '0's for the fixed-size copies below
    let mut d = [b'0'; 40];
    let rest = n % E16;
    let (high, low) = (ascii8((rest / E8) as u32), ascii8((rest % E8) as u32));
    d[0] = b'0' + (n / E16) as u8;
    d[1..9].copy_from_slice(&high.to_le_bytes());
    d[9..17].copy_from_slice(&low.to_le_bytes());
    // trailing zeros are not printed (the last digit is in the highest byte of `low`)
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    let zeros = match (low - ZEROS, high - ZEROS) {
        (0, 0) => 16,
        (0, h) => 8 + h.leading_zeros() as usize / 8,
        (l, _) => l.leading_zeros() as usize / 8,
    };
    let sig = 17 - zeros;
    let mut t = [0u8; 40];
    let len = if !(-4..17).contains(&k) {
        // d[.ddd]e-X or e-XX (jsonSink drops the exponent's leading zero)
        t[0] = d[0];
        let mut p = 1;
        if sig > 1 {
            t[1] = b'.';
            t[2..18].copy_from_slice(&d[1..17]);
            p = sig + 1;
        }
        t[p] = b'e';
        t[p + 1] = if k < 0 { b'-' } else { b'+' };
        let a = k.unsigned_abs() as usize;
        if a >= 10 {
            t[p + 2..p + 4].copy_from_slice(&DIGIT_PAIRS[2 * a..2 * a + 2]);
            p + 4
        } else {
            t[p + 2] = b'0' + a as u8;
            p + 3
        }
    } else if k >= 0 {
        // int.frac, or int.0 (jsonSink's ".0" for integral values); k <= 7 here
        let int = k as usize + 1;
        t[..17].copy_from_slice(&d[..17]);
        t[int] = b'.';
        t[int + 1..int + 17].copy_from_slice(&d[int..int + 16]);
        if sig > int {
            sig + 1
        } else {
            int + 2
        }
    } else {
        // 0.[000]ddd
        let z = k.unsigned_abs() as usize - 1;
        t[..6].copy_from_slice(b"0.0000");
        t[2 + z..19 + z].copy_from_slice(&d[..17]);
        2 + z + sig
    };
    w[sign..sign + 32].copy_from_slice(&t[..32]);
    Some(sign + len)
}

/// `U64.U32`: `<sec>.<nsec, 9 digits>` (nanoseconds above 10^9 print in full, as `%09u` does).
#[inline(always)]
pub fn put_ts(w: &mut Window, sec: u64, nsec: u32) -> usize {
    let n = put_u64(w, sec);
    w[n] = b'.';
    if nsec >= 1_000_000_000 {
        return n + 1 + put_u64_at(w, n + 1, u64::from(nsec));
    }
    w[n + 1] = b'0' + (nsec / E8 as u32) as u8;
    store8(w, n + 2, ascii8(nsec % E8 as u32));
    n + 10
}

/// Two lower-case hex digits per byte value.
static HEX_PAIRS: [u16; 256] = {
    let mut t = [0u16; 256];
    let hex = b"0123456789abcdef";
    let mut b = 0;
    while b < 256 {
        t[b] = hex[b >> 4] as u16 | (hex[b & 0xf] as u16) << 8;
        b += 1;
    }
    t
};

/// `aa:bb:cc:dd:ee:ff`, lower case.
#[inline(always)]
pub fn put_mac(w: &mut Window, m: [u8; 6]) -> usize {
    // "xx:" per byte; the first five fill 15 bytes, the sixth is stored after them
    let mut text = 0u128;
    for (i, &b) in m[..5].iter().enumerate() {
        text |= u128::from(HEX_PAIRS[usize::from(b)] as u32 | u32::from(b':') << 16) << (24 * i);
    }
    store16(w, 0, text);
    w[15..17].copy_from_slice(&HEX_PAIRS[usize::from(m[5])].to_le_bytes());
    17
}

/// Dotted decimal IPv4.
#[inline(always)]
pub fn put_ipv4(w: &mut Window, a: [u8; 4]) -> usize {
    // two octets with their dots fill at most 8 bytes: one register (and one store) per pair
    let pair = |x: u8, y: u8| {
        let ((cx, nx), (cy, ny)) = (OCTET_DOT[usize::from(x)], OCTET_DOT[usize::from(y)]);
        let n = usize::from(nx);
        (
            u64::from(cx) | u64::from(cy) << (8 * n),
            n + usize::from(ny),
        )
    };
    let (first, n1) = pair(a[0], a[1]);
    let (second, n2) = pair(a[2], a[3]);
    store8(w, 0, first);
    store8(w, n1, second);
    // without the dot after the last octet
    n1 + n2 - 1
}

/// The longest run of at least two zero groups (the first of equal ones): `(start, len)`, or
/// `(8, 0)` when there is none.
#[inline]
fn longest_zero_run(groups: &[u16; 8]) -> (usize, usize) {
    let (mut best, mut best_len) = (8, 0);
    let mut i = 0;
    while i < 8 {
        let start = i;
        while i < 8 && groups[i] == 0 {
            i += 1;
        }
        if i - start > best_len.max(1) {
            (best, best_len) = (start, i - start);
        }
        i += 1;
    }
    (best, best_len)
}

/// IPv6 text exactly as glibc `inet_ntop(AF_INET6, ...)`: lower-case groups without leading
/// zeros, the longest run of two or more zero groups as `::`, and the IPv4-compatible and
/// IPv4-mapped forms (`::a.b.c.d`, `::ffff:a.b.c.d`).
#[inline]
pub fn put_ipv6(w: &mut Window, a: [u8; 16]) -> usize {
    let groups: [u16; 8] = std::array::from_fn(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]));
    let (zeros, zeros_len) = longest_zero_run(&groups);
    let v4 = [a[12], a[13], a[14], a[15]];
    if zeros == 0 && zeros_len == 6 {
        w[..2].copy_from_slice(b"::");
        return 2 + put_ipv4_at(w, 2, v4);
    }
    if zeros == 0 && zeros_len == 5 && groups[5] == 0xffff {
        w[..7].copy_from_slice(b"::ffff:");
        return 7 + put_ipv4_at(w, 7, v4);
    }
    let mut n = 0;
    let mut i = 0;
    while i < 8 {
        if i == zeros {
            // the first ':' of "::"; the second is the next group's separator (or the end)
            w[n] = b':';
            n += 1;
            i += zeros_len;
            if i == 8 {
                w[n] = b':';
                n += 1;
            }
            continue;
        }
        if i > 0 {
            w[n] = b':';
            n += 1;
        }
        n += put_hex_group(w, n, groups[i]);
        i += 1;
    }
    n
}

/// [`put_ipv4`] at `at` (<= 7) of the window.
#[inline(always)]
fn put_ipv4_at(w: &mut Window, at: usize, a: [u8; 4]) -> usize {
    let mut tail = [0u8; WINDOW];
    let n = put_ipv4(&mut tail, a);
    w[at..at + 16].copy_from_slice(&tail[..16]);
    n
}

/// One IPv6 group: lower-case hex without leading zeros, at `at` (<= 39 - 4).
#[inline(always)]
fn put_hex_group(w: &mut Window, at: usize, g: u16) -> usize {
    let digits = (4 - g.leading_zeros() as usize / 4).max(1);
    store8(w, at, ascii_hex8(u32::from(g)) >> (8 * (8 - digits)));
    digits
}

// ---------------------------------------------------------------------------------------------
// Strings (txtSink's sanitizer)
// ---------------------------------------------------------------------------------------------

/// The most bytes [`put_sanitized`] writes per input byte (`\u00XX`).
pub const SANITIZED_PER_BYTE: usize = 6;

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

/// The high bit of each byte of `x` that is zero. Exact per byte: the additions work on 7-bit
/// values, so no carry crosses into the next byte.
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LOW7) + LOW7) | x) & HIGH
}

/// The high bit of each byte that the sanitizer does not copy as it is: controls (including
/// NUL, which ends the string), DEL, bytes >= 0x80, `\` and `"`.
#[inline(always)]
fn special_bytes(x: u64) -> u64 {
    let low = x & LOW7;
    let below_space = !(low + (0x80 - 0x20) * ONES);
    let del = low + ONES;
    (x | below_space | del) & HIGH
        | zero_bytes(x ^ (u64::from(b'\\') * ONES))
        | zero_bytes(x ^ (u64::from(b'"') * ONES))
}

/// txtSink's string sanitizer (txtSink.md 2.5) for SC/S values, without the quotes of S:
/// writes the text of `s` at the start of `dst` and returns its length. The string ends at its
/// first NUL. `dst` must hold [`SANITIZED_PER_BYTE`] bytes per byte of `s`, plus 8.
///
/// Runs of plain bytes (printable ASCII other than `\` and `"`) are found 8 at a time and
/// copied as whole words; only the other bytes go through the escaping and UTF-8 rules.
#[inline]
pub fn put_sanitized(dst: &mut [u8], s: &[u8]) -> usize {
    assert!(dst.len() >= SANITIZED_PER_BYTE * s.len() + 8);
    let (mut i, mut n) = (0, 0);
    while i < s.len() {
        let (word, valid) = match s[i..].first_chunk::<8>() {
            Some(b) => (u64::from_le_bytes(*b), 8),
            None => (load_short(&s[i..]), s.len() - i),
        };
        store8(dst, n, word);
        // 8 when there is no special byte
        let plain = (special_bytes(word).trailing_zeros() / 8) as usize;
        if plain >= valid {
            (i, n) = (i + valid, n + valid);
            continue;
        }
        (i, n) = (i + plain, n + plain);
        match sanitize_special(&s[i..], &mut dst[n..]) {
            Some((used, written)) => (i, n) = (i + used, n + written),
            None => break,
        }
    }
    n
}

/// A string of at most 16 plain bytes (printable ASCII other than `\` and `"`, as most
/// header descriptions and protocol names are) copied as it is; `None` (nothing written) for
/// any other string, which needs [`put_sanitized`].
#[inline(always)]
pub fn put_plain16(w: &mut Window, s: &[u8]) -> Option<usize> {
    let n = s.len();
    let (first, second) = match n {
        0..=7 => (load_short(s), 0),
        8..=16 => {
            let (head, tail) = s.split_at(8);
            (load_short_or_8(head), load_short_or_8(tail))
        }
        _ => return None,
    };
    // the zero padding past the end reads as NUL: only the string's own bytes count
    let valid = |k: usize| {
        let bits = 8 * n.saturating_sub(8 * k).min(8) as u32;
        HIGH & u64::MAX.checked_shr(64 - bits).unwrap_or(0)
    };
    if special_bytes(first) & valid(0) | special_bytes(second) & valid(1) != 0 {
        return None;
    }
    store8(w, 0, first);
    store8(w, 8, second);
    Some(n)
}

/// `s` (at most 8 bytes) as a little-endian value, zero-padded.
#[inline(always)]
fn load_short_or_8(s: &[u8]) -> u64 {
    match s.first_chunk::<8>() {
        Some(b) => u64::from_le_bytes(*b),
        None => load_short(s),
    }
}

/// The bytes of `s` (shorter than 8) as a little-endian value, zero-padded: two loads of 4,
/// 2 or 1 bytes that overlap when the length is not a power of two (a copy of variable
/// length would be a `memcpy` call).
#[inline(always)]
fn load_short(s: &[u8]) -> u64 {
    let n = s.len();
    let u16_at = |at: usize| {
        s[at..]
            .first_chunk()
            .map_or(0, |&b| u64::from(u16::from_le_bytes(b)))
    };
    let u32_at = |at: usize| {
        s[at..]
            .first_chunk()
            .map_or(0, |&b| u64::from(u32::from_le_bytes(b)))
    };
    match n {
        0 => 0,
        1 => u64::from(s[0]),
        2..=3 => u16_at(0) | u16_at(n - 2) << (8 * (n - 2)),
        _ => u32_at(0) | u32_at(n - 4) << (8 * (n - 4)),
    }
}

/// The sanitized text of the special byte at the start of `s` (and of the UTF-8 sequence it
/// leads, if valid): `(bytes used, bytes written)`, `None` at a NUL (the end of the string).
/// A NUL fails every continuation-byte test, so a sequence cut by a NUL prints `.` just as one
/// cut by the end of the string does.
fn sanitize_special(s: &[u8], dst: &mut [u8]) -> Option<(usize, usize)> {
    let b1 = s[0];
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let cont = |b: u8| b & 0xc0 == 0x80;
    if b1 == 0 {
        return None;
    }
    if b1 < 0x80 {
        let esc = match b1 {
            0x08 => b'b',
            0x0c => b'f',
            0x0a => b'n',
            0x0d => b'r',
            0x09 => b't',
            0x0b => b'v',
            b'\\' | b'"' => b1,
            _ => {
                // other controls and DEL
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                dst[..4].copy_from_slice(b"\\u00");
                dst[4] = HEX[usize::from(b1 >> 4)];
                dst[5] = HEX[usize::from(b1 & 0xf)];
                return Some((1, 6));
            }
        };
        dst[0] = b'\\';
        dst[1] = esc;
        return Some((1, 2));
    }
    let dot = Some((1, 1));
    dst[0] = b'.';
    if !(0xc2..0xf5).contains(&b1) {
        // a continuation byte, an overlong lead (0xc0, 0xc1) or a lead above U+10FFFF
        return dot;
    }
    // an invalid second byte is not used: it is decoded again as a lead
    let b2 = at(1);
    if !cont(b2) {
        return dot;
    }
    let len = match b1 {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    if len == 3 && b1 == 0xe0 && b2 < 0xa0 {
        // overlong three-byte sequence: both bytes used
        return Some((2, 1));
    }
    if len == 4 && ((b1 == 0xf0 && b2 < 0x90) || (b1 == 0xf4 && b2 >= 0x90)) {
        // overlong, or above U+10FFFF: both bytes used
        return Some((2, 1));
    }
    for k in 2..len {
        if !cont(at(k)) {
            // both bytes used; the third (or fourth) is decoded again
            return Some((k, 1));
        }
    }
    if len == 3 && b1 == 0xed && b2 >= 0xa0 {
        // a UTF-16 surrogate (U+D800..U+DFFF): all three bytes used
        return Some((3, 1));
    }
    dst[..len].copy_from_slice(&s[..len]);
    Some((len, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::XorShift;
    use crate::textfmt as tf;

    /// `put(window)` after some text, against `push(vec)`; the window holds garbage first.
    fn same(put: impl Fn(&mut Window) -> usize, push: impl Fn(&mut Vec<u8>)) {
        let mut w = [0xa5u8; WINDOW];
        let n = put(&mut w);
        let mut want = Vec::new();
        push(&mut want);
        assert_eq!(
            String::from_utf8_lossy(&w[..n]),
            String::from_utf8_lossy(&want)
        );
    }

    #[test]
    fn integers() {
        let mut r = XorShift(31);
        let mut vals = vec![
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            9_999_999,
            E8 - 1,
            E8,
            E8 + 1,
            u64::MAX,
        ];
        vals.extend((0..20).map(|i| 10u64.pow(i)));
        vals.extend((1..20).map(|i| 10u64.pow(i) - 1));
        vals.extend((0..50_000).map(|_| r.next() >> (r.next() % 64)));
        for v in vals {
            same(
                |w| put_u64(w, v),
                |o| o.extend_from_slice(v.to_string().as_bytes()),
            );
            let i = v as i64;
            same(
                |w| put_i64(w, i),
                |o| o.extend_from_slice(i.to_string().as_bytes()),
            );
            same(|w| put_i64(w, -i), |o| tf::push_i64(o, -i));
            for bytes in [1, 2, 4, 8] {
                let x = if bytes == 8 {
                    v
                } else {
                    v & ((1 << (8 * bytes)) - 1)
                };
                same(|w| put_hex(w, x, bytes), |o| tf::push_hex(o, x, 2 * bytes));
            }
        }
        same(|w| put_i64(w, i64::MIN), |o| tf::push_i64(o, i64::MIN));
    }

    #[test]
    fn timestamps() {
        let mut r = XorShift(7);
        for (s, ns) in [
            (0, 0),
            (0, 5),
            (108, 743_144_000),
            (1_700_000_000, 999_999_999),
            (980_658_802, 1_882_137_472),
            (u64::MAX, u32::MAX),
        ]
        .into_iter()
        .chain((0..20_000).map(|_| (r.next() >> (r.next() % 64), r.next() as u32 % 1_100_000_000)))
        {
            same(|w| put_ts(w, s, ns), |o| tf::push_ts(o, s, ns));
        }
    }

    #[test]
    fn floats() {
        let mut r = XorShift(99);
        for v in [
            0.0,
            -0.0,
            1.0,
            158.391_86,
            1e7,
            f32::NAN,
            -f32::INFINITY,
            1e-40,
        ]
        .into_iter()
        .chain((0..50_000).map(|_| f32::from_bits(r.next() as u32)))
        {
            same(|w| put_g7(w, v), |o| tf::push_g(o, f64::from(v), 7));
        }
    }

    #[test]
    fn json_floats() {
        let mut r = XorShift(0x7777);
        let vals = [
            0.0,
            -0.0,
            1.0,
            1024.0,
            0.1,
            1e-5,
            3e-15,
            -4.243902,
            16_777_215.0,
        ];
        for v in vals
            .into_iter()
            .chain((0..100_000).map(|_| f32::from_bits(r.next() as u32)))
            .chain((0..=u32::MAX).step_by(65_537).map(f32::from_bits))
        {
            let mut w = [0xa5u8; WINDOW];
            if let Some(n) = put_json_f32(&mut w, v) {
                let mut want = Vec::new();
                tf::push_json_f64_17(&mut want, f64::from(v));
                assert_eq!(w[..n], want[..], "{v:e}");
            }
        }
        let mut w = [0u8; WINDOW];
        assert_eq!(put_json_f32(&mut w, 1e20), None);
        assert_eq!(put_json_f32(&mut w, 1.5), Some(3));
    }

    /// [`put_json_f32`] against `textfmt`'s writer (itself checked against glibc) for every
    /// positive float32 in its range: `cargo test --release --lib json_window_exhaustive --
    /// --ignored` (a few minutes).
    #[test]
    #[ignore]
    fn json_window_exhaustive() {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
        std::thread::scope(|sc| {
            for t in 0..threads {
                sc.spawn(move || {
                    let (mut w, mut want) = ([0u8; WINDOW], Vec::new());
                    for bits in (0x2700_0000 + t..0x4b80_0000).step_by(threads as usize) {
                        let v = f32::from_bits(bits);
                        let n = put_json_f32(&mut w, v).expect("in the fast range");
                        want.clear();
                        tf::push_json_f64_17(&mut want, f64::from(v));
                        assert_eq!(w[..n], want[..], "{bits:#x}");
                    }
                });
            }
        });
    }

    #[test]
    fn fixed6() {
        let mut r = XorShift(4321);
        let mut vals = vec![0.0, -0.0, 0.5e-6, 1.5e-6, 2.5e-6, 1298.024062, 1e-30, 1e13];
        vals.extend([(1u64 << 44) as f64, f64::NAN, f64::INFINITY, 1e300, -1e20]);
        vals.extend((0..50_000).map(|_| {
            let v = (r.next() >> (r.next() % 64)) as f64 / (1u64 << (r.next() % 64)) as f64;
            if r.next() & 1 == 0 {
                -v
            } else {
                v
            }
        }));
        for v in vals {
            let mut w = [0xa5u8; WINDOW];
            let mut want = Vec::new();
            tf::push_f6(&mut want, v);
            match put_f6(&mut w, v) {
                Some(n) => assert_eq!(w[..n], want[..], "{v:e}"),
                None => {
                    let a = v.abs();
                    assert!(a.is_nan() || a >= (1u64 << 44) as f64 || a < 1e-20, "{v:e}")
                }
            }
        }
    }

    #[test]
    fn addresses() {
        let mut r = XorShift(1234);
        for i in 0..50_000 {
            let m: [u8; 6] = std::array::from_fn(|_| r.next() as u8);
            same(|w| put_mac(w, m), |o| tf::push_mac(o, m));
            let a4 = (r.next() as u32).to_be_bytes();
            same(|w| put_ipv4(w, a4), |o| tf::push_ipv4(o, a4));
            // IPv6 with many zero groups, and the IPv4-mapped/-compatible forms
            let mut a: [u8; 16] = std::array::from_fn(|_| r.next() as u8);
            let zeros = r.next();
            for g in 0..8 {
                if zeros >> (2 * g) & 3 != 0 {
                    a[2 * g..2 * g + 2].fill(0);
                }
            }
            match i % 9 {
                0 => a[..12].fill(0),
                1 => {
                    a[..10].fill(0);
                    a[10..12].fill(0xff);
                }
                _ => {}
            }
            same(|w| put_ipv6(w, a), |o| tf::push_ipv6(o, a));
        }
        for s in [
            "::",
            "::1",
            "1::",
            "::ffff:0:0",
            "0:0:0:0:0:fffe:1:2",
            "1:0:0:1:0:0:1:1",
        ] {
            let a = s.parse::<std::net::Ipv6Addr>().unwrap().octets();
            same(|w| put_ipv6(w, a), |o| tf::push_ipv6(o, a));
        }
        let widest = [0xffu8; 16];
        same(|w| put_ipv6(w, widest), |o| tf::push_ipv6(o, widest));
    }

    /// A byte-at-a-time statement of the sanitizer's rules (txtSink.md 2.5).
    fn sanitize_by_byte(s: &[u8]) -> Vec<u8> {
        let s = &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())];
        let mut out = Vec::new();
        let mut i = 0;
        let cont = |i: usize| s.get(i).is_some_and(|&b| b & 0xc0 == 0x80);
        while i < s.len() {
            let b = s[i];
            i += 1;
            match b {
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                0x0a => out.extend_from_slice(b"\\n"),
                0x0d => out.extend_from_slice(b"\\r"),
                0x09 => out.extend_from_slice(b"\\t"),
                0x0b => out.extend_from_slice(b"\\v"),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'"' => out.extend_from_slice(b"\\\""),
                0x20..=0x7e => out.push(b),
                0..=0x7f => out.extend_from_slice(format!("\\u{:04X}", b).as_bytes()),
                0xc2..=0xdf if cont(i) => {
                    out.extend_from_slice(&s[i - 1..i + 1]);
                    i += 1;
                }
                0xe0..=0xef if cont(i) => {
                    let b2 = s[i];
                    i += 1;
                    // overlong, or a missing third byte
                    if (b == 0xe0 && b2 < 0xa0) || !cont(i) {
                        out.push(b'.');
                    } else {
                        i += 1;
                        if b == 0xed && b2 >= 0xa0 {
                            out.push(b'.');
                        } else {
                            out.extend_from_slice(&s[i - 3..i]);
                        }
                    }
                }
                0xf0..=0xf4 if cont(i) => {
                    let b2 = s[i];
                    i += 1;
                    if (b == 0xf0 && b2 < 0x90) || (b == 0xf4 && b2 >= 0x90) || !cont(i) {
                        out.push(b'.');
                    } else if !cont(i + 1) {
                        i += 1;
                        out.push(b'.');
                    } else {
                        i += 2;
                        out.extend_from_slice(&s[i - 4..i]);
                    }
                }
                _ => out.push(b'.'),
            }
        }
        out
    }

    #[test]
    fn plain_strings_of_up_to_16_bytes_are_copied() {
        let mut r = XorShift(5);
        for _ in 0..50_000 {
            let n = r.below(20) as usize;
            let s: Vec<u8> = (0..n)
                .map(|_| match r.below(10) {
                    0 => b"\\\"\t\0\x7f\xc3\x80"[r.below(7) as usize],
                    _ => 0x20 + r.below(0x5f) as u8,
                })
                .collect();
            let mut w = [0xa5u8; WINDOW];
            let plain = s
                .iter()
                .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"');
            match put_plain16(&mut w, &s) {
                Some(k) => {
                    assert!(plain && n <= 16, "{s:x?}");
                    assert_eq!(w[..k], s[..]);
                }
                None => assert!(!plain || n > 16, "{s:x?}"),
            }
        }
    }

    #[test]
    fn short_loads_are_zero_padded() {
        let bytes = [1u8, 2, 3, 4, 5, 6, 7, 8];
        for n in 0..8 {
            let mut want = [0u8; 8];
            want[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(load_short(&bytes[..n]), u64::from_le_bytes(want), "{n}");
        }
    }

    #[test]
    fn special_bytes_are_exact() {
        for b in 0..=255u8 {
            let plain = (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"';
            for lane in 0..8 {
                // the byte among plain neighbours and among special ones
                for fill in [b'a', 0u8, 0xff, b'\\'] {
                    let mut word = [fill; 8];
                    word[lane] = b;
                    let got = special_bytes(u64::from_le_bytes(word)) >> (8 * lane + 7) & 1;
                    assert_eq!(got == 0, plain, "byte {b:#x} lane {lane} fill {fill:#x}");
                }
            }
        }
    }

    #[test]
    fn sanitizer_matches_the_byte_rules() {
        let san = |s: &[u8]| {
            let mut dst = vec![0xa5; SANITIZED_PER_BYTE * s.len() + 8];
            let n = put_sanitized(&mut dst, s);
            dst.truncate(n);
            dst
        };
        let mut r = XorShift(0xfeed);
        const PIECES: &[&[u8]] = &[
            b"eth:ipv4:tcp",
            b"\\",
            b"\"",
            b"\t\n\r\x08\x0c\x0b",
            b"\x01\x1f\x7f",
            b"\0",
            "é€😀\u{10FFFF}".as_bytes(),
            b"\xc3",
            b"\xe2\x82",
            b"\xf0\x9f\x98",
            b"\xe0\x80",
            b"\xed\xa0\x80",
            b"\xf4\x90",
            b"\x80\xc0\xf5\xff",
        ];
        for _ in 0..50_000 {
            let mut s = Vec::new();
            for _ in 0..r.below(8) {
                match r.below(3) {
                    0 => s.extend_from_slice(PIECES[r.below(PIECES.len() as u64) as usize]),
                    1 => {
                        let n = r.below(20);
                        s.extend((0..n).map(|_| b'a' + r.below(26) as u8))
                    }
                    _ => {
                        let n = r.below(5) as usize;
                        s.extend(r.bytes(n))
                    }
                }
            }
            assert_eq!(san(&s), sanitize_by_byte(&s), "{s:x?}");
            let mut v = b"ab".to_vec();
            tf::push_sanitized(&mut v, &s);
            assert_eq!(v[2..], sanitize_by_byte(&s)[..], "{s:x?}");
        }
    }
}
