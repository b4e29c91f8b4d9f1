//! Exact, allocation-free text formatting of values the way Tranalyzer2 0.9.3 prints them.
//!
//! Every function appends to a caller-supplied `Vec<u8>`; the only allocation is the vector's own
//! growth ([`crate::textput`] has the same texts stored into fixed windows, for whole lines).
//! The hot paths (integers, hex, addresses, `%.7g`, `%.Nf`, `%.17g`) never go through
//! `core::fmt`: floats are converted with exact integer arithmetic (`u128`), which gives the
//! correctly rounded, ties-to-even result glibc's `printf` produces. Only values the `u128` fast
//! path cannot represent (e.g. `%.7g` of numbers below ~1e-25, `%f` of numbers above ~1e38) fall
//! back to Rust's exact float formatting (`{:.*e}` / `{:.*}`), which is also correctly rounded
//! with ties to even on the exact binary value.
//!
//! References: txtSink.md 2.2-2.5, FACTS.md (c), core.md 13.1.

use std::cmp::Ordering;
use std::io::Write as _;

// ---------------------------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------------------------

/// "00" "01" ... "99": two ASCII digits per entry.
pub(crate) static DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

static HEX_LOWER: &[u8; 16] = b"0123456789abcdef";

/// Writes the decimal digits of `v` into `buf` so that the last digit is at `end - 1`; returns
/// the index of the first digit. `end` must leave room for the digits (20 for any `u64`).
#[inline(always)]
fn digits_ending_at(buf: &mut [u8], end: usize, mut v: u64) -> usize {
    let mut pos = end;
    while v >= 10_000 {
        let rem = (v % 10_000) as usize;
        v /= 10_000;
        let (hi, lo) = (rem / 100, rem % 100);
        pos -= 4;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[hi * 2..hi * 2 + 2]);
        buf[pos + 2..pos + 4].copy_from_slice(&DIGIT_PAIRS[lo * 2..lo * 2 + 2]);
    }
    let mut v = v as usize;
    if v >= 100 {
        let lo = v % 100;
        v /= 100;
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[lo * 2..lo * 2 + 2]);
    }
    if v >= 10 {
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGIT_PAIRS[v * 2..v * 2 + 2]);
    } else {
        pos -= 1;
        buf[pos] = b'0' + v as u8;
    }
    pos
}

/// Writes the decimal digits of `v` right-aligned into `buf`; returns the index of the first digit.
#[inline]
fn u64_digits(buf: &mut [u8; 20], v: u64) -> usize {
    digits_ending_at(buf, 20, v)
}

/// Number of decimal digits of `v` (1 for 0).
#[inline(always)]
fn decimal_len(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// Appends the first `n` (at most 8) bytes of `chars` in memory order. The 8 bytes are
/// stored at once from a register and the rest is cut off: a copy of variable length is a
/// `memcpy` call, and copying from a buffer just written byte by byte stalls on store
/// forwarding. With ~60 short values per packets.txt line both showed at the top of packet
/// mode's profile.
#[inline(always)]
fn push_word(out: &mut Vec<u8>, chars: u64, n: usize) {
    let len = out.len();
    out.extend_from_slice(&chars.to_le_bytes());
    out.truncate(len + n.min(8));
}

/// The 8 decimal digits of `n < 10^8` (with leading zeros) as ASCII, first digit in the
/// lowest byte: the two 4-digit halves, then 2-digit quarters, then digits are split in
/// parallel lanes of one `u64` (each quotient by multiplication and shift, exact for these
/// ranges; the test checks every value of each step).
#[inline(always)]
pub(crate) fn ascii8(n: u32) -> u64 {
    // the largest products, 9_999 * 10_486 < 2^32 and 99 * 103 < 2^16, stay within their lanes
    let n = u64::from(n);
    let halves = (n / 10_000) | ((n % 10_000) << 32);
    let hundreds = ((halves * 10_486) >> 20) & 0x0000_007f_0000_007f;
    let quarters = hundreds | ((halves - hundreds * 100) << 16);
    let tens = ((quarters * 103) >> 10) & 0x000f_000f_000f_000f;
    let digits = tens | ((quarters - tens * 10) << 8);
    digits + 0x3030_3030_3030_3030
}

/// The last `n` (1..=8) digits of `v < 10^8`, zero-padded.
#[inline(always)]
fn push_digits8(out: &mut Vec<u8>, v: u32, n: usize) {
    push_word(out, ascii8(v) >> (8 * (8 - n)), n);
}

pub(crate) const E8: u64 = 100_000_000;
pub(crate) const E16: u64 = E8 * E8;

/// `v` in exactly `n` (1..=24) digits, zero-padded; `v < 10^n`.
#[inline]
fn push_decimal(out: &mut Vec<u8>, v: u64, n: usize) {
    if n <= 2 {
        push_digits2(out, v as u8 % 100, n);
    } else if n <= 8 {
        push_digits8(out, v as u32, n);
    } else if n <= 16 {
        push_digits8(out, (v / E8) as u32, n - 8);
        push_digits8(out, (v % E8) as u32, 8);
    } else {
        push_digits8(out, (v / E16) as u32, n - 16);
        let rest = v % E16;
        push_digits8(out, (rest / E8) as u32, 8);
        push_digits8(out, (rest % E8) as u32, 8);
    }
}

/// The last `n` (1 or 2) digits of `v < 100`: one table load instead of the multiplications.
#[inline(always)]
fn push_digits2(out: &mut Vec<u8>, v: u8, n: usize) {
    let pair = usize::from(v) * 2;
    let chars = u16::from_le_bytes([DIGIT_PAIRS[pair], DIGIT_PAIRS[pair + 1]]);
    push_word(out, u64::from(chars) >> (8 * (2 - n)), n);
}

/// Unsigned decimal (`%llu`). Most packets.txt columns are below 100: that case is inlined.
#[inline(always)]
pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    if v < 10 {
        push_digits2(out, v as u8, 1);
    } else if v < 100 {
        push_digits2(out, v as u8, 2);
    } else {
        push_decimal(out, v, decimal_len(v));
    }
}

/// Signed decimal (`%lld`).
#[inline]
pub fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Unsigned decimal zero-padded to at least `width` digits (`%0<width>llu`).
#[inline]
pub fn push_u64_zpad(out: &mut Vec<u8>, v: u64, width: usize) {
    let n = decimal_len(v).max(width);
    if n <= 24 {
        push_decimal(out, v, n);
    } else {
        out.resize(out.len() + (n - decimal_len(v)), b'0');
        push_u64(out, v);
    }
}

/// Signed decimal with C `%0<width>d` semantics: the sign counts towards the width
/// (`%09d` of -5 is `-00000005`).
#[inline]
fn push_i64_zpad(out: &mut Vec<u8>, v: i64, width: usize) {
    if v < 0 {
        out.push(b'-');
        push_u64_zpad(out, v.unsigned_abs(), width.saturating_sub(1));
    } else {
        push_u64_zpad(out, v as u64, width);
    }
}

/// Writes the decimal digits of `v` right-aligned into `buf`; returns the index of the first digit.
fn u128_digits(buf: &mut [u8; 40], v: u128) -> usize {
    const E19: u128 = 10_000_000_000_000_000_000;
    let mut tmp = [0u8; 20];
    if v <= u64::MAX as u128 {
        let s = u64_digits(&mut tmp, v as u64);
        let n = 20 - s;
        buf[40 - n..].copy_from_slice(&tmp[s..]);
        return 40 - n;
    }
    // Split into at most three 19-digit chunks (2^128 < 10^39).
    let lo = (v % E19) as u64;
    let rest = v / E19;
    let mut pos = 40;
    let s = u64_digits(&mut tmp, lo);
    pos -= 19;
    buf[pos..pos + 19].fill(b'0');
    buf[pos + 19 - (20 - s)..pos + 19].copy_from_slice(&tmp[s..]);
    if rest <= u64::MAX as u128 {
        let s = u64_digits(&mut tmp, rest as u64);
        let n = 20 - s;
        pos -= n;
        buf[pos..pos + n].copy_from_slice(&tmp[s..]);
    } else {
        let mid = (rest % E19) as u64;
        let top = (rest / E19) as u64;
        let s = u64_digits(&mut tmp, mid);
        pos -= 19;
        buf[pos..pos + 19].fill(b'0');
        buf[pos + 19 - (20 - s)..pos + 19].copy_from_slice(&tmp[s..]);
        let s = u64_digits(&mut tmp, top);
        let n = 20 - s;
        pos -= n;
        buf[pos..pos + n].copy_from_slice(&tmp[s..]);
    }
    pos
}

// ---------------------------------------------------------------------------------------------
// Hex
// ---------------------------------------------------------------------------------------------

/// The 8 hex digits of `v` (lower case, with leading zeros) as ASCII, first digit in the
/// lowest byte: the nibbles are spread to one per byte, then each becomes '0'-'9' or 'a'-'f'
/// in parallel.
#[inline(always)]
pub(crate) fn ascii_hex8(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // nibble k is in byte k; the first digit is the most significant nibble
    let x = x.swap_bytes();
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    x + 0x3030_3030_3030_3030 + letters * (b'a' - b'0' - 10) as u64
}

/// `0x` + lower-case hex, zero-padded to `digits` digits (`0x%0<digits>x`; more digits if needed).
#[inline]
pub fn push_hex(out: &mut Vec<u8>, v: u64, digits: usize) {
    let needed = if v == 0 {
        1
    } else {
        (67 - v.leading_zeros() as usize) / 4
    };
    out.extend_from_slice(b"0x");
    let total = needed.max(digits);
    if total > 16 {
        out.resize(out.len() + (total - 16), b'0');
    }
    let total = total.min(16);
    if total > 8 {
        push_word(
            out,
            ascii_hex8((v >> 32) as u32) >> (8 * (16 - total)),
            total - 8,
        );
        push_word(out, ascii_hex8(v as u32), 8);
    } else {
        push_word(out, ascii_hex8(v as u32) >> (8 * (8 - total)), total);
    }
}

/// `0x%x` (no padding; 0 prints `0x0`).
#[inline]
pub fn push_hex_unpadded(out: &mut Vec<u8>, v: u64) {
    push_hex(out, v, 1);
}

// ---------------------------------------------------------------------------------------------
// Floating point: exact decimal conversion
// ---------------------------------------------------------------------------------------------

const fn pow10_table() -> [u128; 39] {
    let mut t = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
}

/// 10^0 ..= 10^38 (10^38 < 2^127).
static POW10: [u128; 39] = pow10_table();

/// Splits a finite, non-zero, positive `f64` into `m * 2^q` with `m` odd.
#[inline]
pub(crate) fn decompose(v: f64) -> (u64, i32) {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, q) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    let tz = m.trailing_zeros();
    (m >> tz, q + tz as i32)
}

/// For `v = m * 2^q` returns `(floor(v * 10^k), cmp)` where `cmp` compares the discarded fraction
/// with one half, computed exactly. `None` if the intermediate values do not fit in `u128`.
#[inline]
pub(crate) fn scaled(m: u64, q: i32, k: i32) -> Option<(u128, Ordering)> {
    let m128 = m as u128;
    if k >= 0 {
        let t = m128.checked_mul(*POW10.get(k as usize)?)?;
        if q >= 0 {
            let q = q as u32;
            if q > t.leading_zeros() {
                return None;
            }
            Some((t << q, Ordering::Less))
        } else {
            let p = q.unsigned_abs();
            if p >= 128 {
                return None;
            }
            let fl = t >> p;
            let rem = t & ((1u128 << p) - 1);
            Some((fl, rem.cmp(&(1u128 << (p - 1)))))
        }
    } else {
        let d = *POW10.get(k.unsigned_abs() as usize)?;
        if q >= 0 {
            let q = q as u32;
            if q > m128.leading_zeros() {
                return None;
            }
            let num = m128 << q;
            let (fl, rem) = if num <= u64::MAX as u128 && d <= u64::MAX as u128 {
                let (n, d) = (num as u64, d as u64);
                ((n / d) as u128, (n % d) as u128)
            } else {
                (num / d, num % d)
            };
            // rem < d <= 10^38 < 2^127: doubling cannot overflow.
            Some((fl, (rem << 1).cmp(&d)))
        } else {
            let p = q.unsigned_abs();
            // den = d * 2^p must stay below 2^127 so that 2 * rem fits.
            if p + 1 >= d.leading_zeros() {
                return None;
            }
            let den = d << p;
            Some((m128 / den, ((m128 % den) << 1).cmp(&den)))
        }
    }
}

/// Correctly rounded (ties to even) `prec`-significant-digit decimal of `m * 2^q`:
/// returns `(n, e)` with `10^(prec-1) <= n < 10^prec` and value ~= n * 10^(e - prec + 1).
/// `prec` must be in 1..=19. `None` when the exact `u128` computation is not possible.
#[inline]
fn digits_fast(m: u64, q: i32, prec: u32) -> Option<(u64, i32)> {
    let bitlen = 64 - m.leading_zeros() as i32;
    let exp2 = (bitlen - 1 + q) as i64;
    // floor(exp2 * log10(2)); the loop below corrects any off-by-one.
    let mut e = ((exp2 * 78_913) >> 18) as i32;
    let lo = POW10[prec as usize - 1];
    let hi = POW10[prec as usize];
    for _ in 0..4 {
        let k = prec as i32 - 1 - e;
        let (fl, cmp) = scaled(m, q, k)?;
        if fl >= hi {
            e += 1;
            continue;
        }
        if fl < lo {
            e -= 1;
            continue;
        }
        let mut n = fl as u64;
        if cmp == Ordering::Greater || (cmp == Ordering::Equal && n & 1 == 1) {
            n += 1;
            if n as u128 == hi {
                n = lo as u64;
                e += 1;
            }
        }
        return Some((n, e));
    }
    None
}

/// Fixed-capacity stack buffer implementing `fmt::Write` (for the rare slow paths).
struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    fn new() -> Self {
        StackBuf {
            buf: [0u8; N],
            len: 0,
        }
    }
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> std::fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let b = s.as_bytes();
        if self.len + b.len() > N {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }
}

/// More significant digits than any double's exact decimal expansion has (<= 767).
const MAX_SIG_DIGITS: usize = 800;

/// Exponent style of `%g` output.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpStyle {
    /// C: `e`, sign, at least two digits (`e-05`, `e+07`, `e+100`).
    C,
    /// jsonSink: C's text with the exponent's leading zeros removed (`e-5`, `e+7`, `e+100`).
    Json,
}

/// Lays out `%.<prec>g` (no `#` flag) from significant digits `digits` (ASCII, first one
/// non-zero) and the decimal exponent `e` of the first digit.
fn emit_g(out: &mut Vec<u8>, digits: &[u8], e: i32, prec: usize, style: ExpStyle) {
    let mut s = digits.len();
    while s > 1 && digits[s - 1] == b'0' {
        s -= 1;
    }
    let d = &digits[..s];
    if e < -4 || (e as i64) >= prec as i64 {
        out.push(d[0]);
        if s > 1 {
            out.push(b'.');
            out.extend_from_slice(&d[1..]);
        }
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        let a = e.unsigned_abs() as u64;
        match style {
            ExpStyle::C => push_u64_zpad(out, a, 2),
            ExpStyle::Json => push_u64(out, a),
        }
    } else if e >= 0 {
        let int_len = e as usize + 1;
        if s <= int_len {
            out.extend_from_slice(d);
            out.resize(out.len() + (int_len - s), b'0');
        } else {
            out.extend_from_slice(&d[..int_len]);
            out.push(b'.');
            out.extend_from_slice(&d[int_len..]);
        }
    } else {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (e.unsigned_abs() as usize - 1), b'0');
        out.extend_from_slice(d);
    }
}

/// Writes "nan"/"-nan"/"inf"/"-inf" as glibc does; returns false for finite values.
#[inline]
fn push_non_finite(out: &mut Vec<u8>, v: f64) -> bool {
    if v.is_finite() {
        return false;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    out.extend_from_slice(if v.is_nan() { b"nan" } else { b"inf" });
    true
}

/// `%.<prec>g` core for finite values.
fn push_g_finite(out: &mut Vec<u8>, v: f64, precision: usize, style: ExpStyle) {
    if v.is_sign_negative() {
        out.push(b'-');
    }
    if v == 0.0 {
        out.push(b'0');
        return;
    }
    let prec = precision.max(1);
    let (m, q) = decompose(v);
    if prec <= 19 {
        if let Some((n, e)) = digits_fast(m, q, prec as u32) {
            let mut buf = [0u8; 20];
            let start = u64_digits(&mut buf, n);
            emit_g(out, &buf[start..], e, prec, style);
            return;
        }
    }
    // Slow path: Rust's exact, correctly rounded (ties-to-even) scientific formatting.
    let ndig = prec.min(MAX_SIG_DIGITS);
    let mut sb = StackBuf::<{ MAX_SIG_DIGITS + 16 }>::new();
    // Cannot fail: at most MAX_SIG_DIGITS digits + '.' + "e-324".
    let _ = std::fmt::write(&mut sb, format_args!("{:.*e}", ndig - 1, v.abs()));
    let text = sb.as_bytes();
    let epos = text.iter().position(|&c| c == b'e').unwrap_or(text.len());
    let mut e: i32 = 0;
    let mut neg = false;
    for &c in &text[(epos + 1).min(text.len())..] {
        if c == b'-' {
            neg = true;
        } else {
            e = e * 10 + (c - b'0') as i32;
        }
    }
    if neg {
        e = -e;
    }
    let mut digits = [0u8; MAX_SIG_DIGITS];
    let mut nd = 0;
    for &c in &text[..epos] {
        if c != b'.' {
            digits[nd] = c;
            nd += 1;
        }
    }
    emit_g(out, &digits[..nd], e, prec, style);
}

/// C `printf("%.7g", (double)v)` exactly as glibc prints it (F columns of txtSink).
#[inline]
pub fn push_g7(out: &mut Vec<u8>, v: f32) {
    if v.is_sign_negative() {
        out.push(b'-');
    }
    let (text, n) = g7_text_abs(v);
    let len = out.len();
    out.extend_from_slice(&text.to_le_bytes());
    out.truncate(len + n);
}

// ---------------------------------------------------------------------------------------------
// `%.7g` of float32
//
// A float32 has a 24-bit significand, so its value times the power of ten that brings it to 7
// or 8 integer digits is a small exact product: a `u64` for values in [2^-19, 2^24) and a `u128`
// down to ~1e-25. One multiplication and a shift (or a division for values >= 2^24) give the
// digits and the exact discarded fraction, hence glibc's rounding (ties to even on the exact
// binary value). The text is then assembled in a register (at most 12 bytes without the sign)
// and stored at once. Smaller values go through Rust's exact formatting.
// ---------------------------------------------------------------------------------------------

/// 10^0 ..= 10^19.
static POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The 7 significant digits of a finite, positive, non-zero float32 `m * 2^e`: `(n, k)` with
/// `10^6 <= n < 10^7` and the value ~= `n * 10^(k - 6)`, correctly rounded, ties to even.
/// `None` for values below ~1e-25 (the exact product would not fit in a `u128`).
///
/// With `k0 = floor(log10(2^floor(log2 v)))`, `floor(log10 v)` is `k0` or `k0 + 1`, so
/// `v * 10^(6 - k0)` has 7 or 8 integer digits; with 8, the last one is dropped too.
#[inline]
fn g7_digits(m: u32, e: i32) -> Option<(u32, i32)> {
    let k0 = floor_log10_pow2(31 - m.leading_zeros() as i32 + e);
    let (n, rem, den) = scale_f32_wide(m, e, 6 - k0)?;
    let (kept, twice_dropped, unit, k) = if n >= 10_000_000 {
        (
            n / 10,
            (u128::from(n % 10) * den + rem) << 1,
            10 * den,
            k0 + 1,
        )
    } else {
        (n, rem << 1, den, k0)
    };
    let up = twice_dropped > unit || (twice_dropped == unit && kept & 1 == 1);
    Some(carry7(kept + u64::from(up), k))
}

/// [`g7_digits`] of a float32 (`bits`, sign cleared) in the common range [2^-19, 2^24)
/// (about [1.9e-6, 1.7e7)), by `u64` arithmetic alone; `None` outside it.
#[inline(always)]
fn g7_digits_u64(bits: u32) -> Option<(u32, i32)> {
    let biased = (bits >> 23) as i32;
    // with the hidden bit, floor(log2 v) is the unbiased exponent
    let k0 = floor_log10_pow2(biased - 127);
    let p = 6 - k0;
    if !(0..=12).contains(&p) {
        // also zero, denormals (p = 45), infinities and NaNs (p = -32)
        return None;
    }
    // p <= 12 means v >= 2^-19, so the shift s is at most 42; p >= 0 means v < 2^24, s >= 0
    let s = (150 - biased) as u32;
    let m = u64::from(bits & 0x7f_ffff | 0x80_0000);
    // m * 10^12 < 2^64, and twice ten units of 2^42 fit too
    let t = m * POW10_U64[p as usize];
    let (n, rem) = (t >> s, t & ((1u64 << s) - 1));
    // the value * 10^p is n + rem / 2^s; keep 7 digits of n and compare twice the part
    // dropped with its unit
    let (kept, twice_dropped, unit, k) = if n >= 10_000_000 {
        (n / 10, ((n % 10) << s | rem) << 1, 10u64 << s, k0 + 1)
    } else {
        (n, rem << 1, 1u64 << s, k0)
    };
    let up = twice_dropped > unit || (twice_dropped == unit && kept & 1 == 1);
    Some(carry7(kept + u64::from(up), k))
}

/// `n` (10^6 ..= 10^7) as 7 digits: 10^7 after rounding up becomes 10^6 of the next power.
#[inline(always)]
fn carry7(n: u64, k: i32) -> (u32, i32) {
    if n == 10_000_000 {
        (1_000_000, k + 1)
    } else {
        (n as u32, k)
    }
}

/// `m * 2^e * 10^p` (a float32 times a power of ten, below 10^8) as `n + rem / den` exactly,
/// in `u128`: `None` when `m * 10^p` would not fit (values below ~1e-25).
#[inline]
fn scale_f32_wide(m: u32, e: i32, p: i32) -> Option<(u64, u128, u128)> {
    if p < 0 {
        // the value is >= 10^7 > 2^23, so it is an integer (e >= 0) below 2^128
        debug_assert!(e >= 0);
        let d = POW10[p.unsigned_abs() as usize];
        let x = u128::from(m) << e.unsigned_abs();
        if let (Ok(x), Ok(d)) = (u64::try_from(x), u64::try_from(d)) {
            return Some((x / d, u128::from(x % d), u128::from(d)));
        }
        return Some(((x / d) as u64, x % d, d));
    }
    // m * 10^31 < 2^24 * 2^104 (and twice ten units of 2^s fit for s < 123)
    let t = u128::from(m) * *POW10.get(p as usize).filter(|_| p <= 31)?;
    if e >= 0 {
        // an integer: only when p == 0 (values >= 2^23 have 7 integer digits)
        return Some(((t << e) as u64, 0, 1));
    }
    let s = e.unsigned_abs();
    if s >= 123 {
        return None;
    }
    Some(((t >> s) as u64, t & ((1u128 << s) - 1), 1u128 << s))
}

/// `floor(e * log10(2))`, exact for |e| <= 1650 (78913 / 2^18 is log10(2) to 6 digits).
#[inline(always)]
fn floor_log10_pow2(e: i32) -> i32 {
    (e * 78_913) >> 18
}

/// [`g7_digits`] for the values it cannot take: Rust's exact `{:.6e}` (correctly rounded,
/// ties to even, like glibc), parsed back.
#[cold]
fn g7_digits_slow(v: f32) -> (u32, i32) {
    let mut sb = StackBuf::<32>::new();
    // cannot fail: "d.dddddde-45" is 12 bytes
    let _ = std::fmt::write(&mut sb, format_args!("{:.6e}", f64::from(v)));
    let (mut n, mut k, mut neg, mut in_exp) = (0u32, 0i32, false, false);
    for &c in sb.as_bytes() {
        match c {
            b'e' => in_exp = true,
            b'-' => neg = true,
            b'0'..=b'9' if in_exp => k = k * 10 + i32::from(c - b'0'),
            b'0'..=b'9' => n = n * 10 + u32::from(c - b'0'),
            _ => {}
        }
    }
    (n, if neg { -k } else { k })
}

/// `%.7g` text of 7 significant digits `n` (10^6 <= n < 10^7) with decimal exponent `k`
/// (|k| < 100), first character in the lowest byte; and its length (at most 12).
#[inline(always)]
fn g7_layout(n: u32, k: i32) -> (u128, usize) {
    // the 7 digits in bytes 0..7 (ascii8 gives 8, the first a '0')
    let digits = ascii8(n) >> 8;
    // digits after the last non-zero one are not printed; byte 7 is 0 and counts as one
    let sig = 8 - ((digits - 0x0030_3030_3030_3030).leading_zeros() / 8) as usize;
    if !(-4..7).contains(&k) {
        // d[.dddddd]e+XX
        let (mant, len) = if sig > 1 {
            let first = digits & 0xff;
            let text = first | u64::from(b'.') << 8 | (digits >> 8) << 16;
            // cut the trailing zeros: the exponent goes right after the last digit
            (text & (u64::MAX >> (64 - 8 * (sig + 1))), sig + 1)
        } else {
            (digits & 0xff, 1)
        };
        let a = k.unsigned_abs() as usize;
        let exp = u32::from(b'e')
            | u32::from(if k < 0 { b'-' } else { b'+' }) << 8
            | u32::from(DIGIT_PAIRS[2 * a]) << 16
            | u32::from(DIGIT_PAIRS[2 * a + 1]) << 24;
        (u128::from(mant) | u128::from(exp) << (8 * len), len + 4)
    } else if k >= 0 {
        // int[.frac]: the point goes after k + 1 digits
        let int_len = k as usize + 1;
        let int_mask = (1u64 << (8 * int_len)) - 1;
        if sig <= int_len {
            (u128::from(digits & int_mask), int_len)
        } else {
            let text =
                (digits & int_mask) | u64::from(b'.') << (8 * int_len) | (digits & !int_mask) << 8;
            (u128::from(text), sig + 1)
        }
    } else {
        // 0.[000]ddddddd
        let at = 1 + k.unsigned_abs() as usize;
        let prefix = u64::from_le_bytes(*b"0.000\0\0\0") & ((1u64 << (8 * at)) - 1);
        (
            u128::from(prefix) | u128::from(digits) << (8 * at),
            at + sig,
        )
    }
}

/// The text of C `printf("%.7g", (double)v.abs())` as glibc prints it (the sign of `v` is
/// the caller's), first character in the lowest byte of the result, and its length (at most
/// 12).
#[inline(always)]
pub(crate) fn g7_text_abs(v: f32) -> (u128, usize) {
    match g7_digits_u64(v.to_bits() & 0x7fff_ffff) {
        Some((n, k)) => g7_layout(n, k),
        None => g7_text_abs_other(v),
    }
}

/// [`g7_text_abs`] outside the common range: zero, infinities, NaNs, very small and very
/// large values.
#[cold]
#[inline(never)]
fn g7_text_abs_other(v: f32) -> (u128, usize) {
    let mag = v.to_bits() & 0x7fff_ffff;
    match mag {
        0 => (u128::from(b'0'), 1),
        0x7f80_0000 => (u128::from(u32::from_le_bytes(*b"inf\0")), 3),
        _ if mag > 0x7f80_0000 => (u128::from(u32::from_le_bytes(*b"nan\0")), 3),
        _ => {
            let (m, e) = match mag >> 23 {
                0 => (mag, -149),
                biased => (mag & 0x7f_ffff | 0x80_0000, biased as i32 - 150),
            };
            let (n, k) = g7_digits(m, e).unwrap_or_else(|| g7_digits_slow(f32::from_bits(mag)));
            g7_layout(n, k)
        }
    }
}

/// C `printf("%.<precision>g", v)` exactly as glibc prints it (precision 0 behaves as 1).
#[inline]
pub fn push_g(out: &mut Vec<u8>, v: f64, precision: usize) {
    if push_non_finite(out, v) {
        return;
    }
    push_g_finite(out, v, precision, ExpStyle::C);
}

/// C `%f` (six decimals).
#[inline]
pub fn push_f6(out: &mut Vec<u8>, v: f64) {
    push_fixed(out, v, 6);
}

/// `n / 10^decimals` with exactly `decimals` decimals (none: no point). Returns false
/// (nothing written) when `10^decimals` is not a `u64`.
#[inline]
fn push_scaled_u64(out: &mut Vec<u8>, n: u64, decimals: usize) -> bool {
    let Some(&unit) = POW10.get(decimals).filter(|&&p| p <= u64::MAX as u128) else {
        return false;
    };
    let unit = unit as u64;
    let int = n / unit;
    push_decimal(out, int, decimal_len(int));
    if decimals > 0 {
        out.push(b'.');
        push_decimal(out, n % unit, decimals);
    }
    true
}

/// C `%.<decimals>f`, exact (correctly rounded, ties to even on the exact binary value).
pub fn push_fixed(out: &mut Vec<u8>, v: f64, decimals: usize) {
    if push_non_finite(out, v) {
        return;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    if v == 0.0 {
        out.push(b'0');
        if decimals > 0 {
            out.push(b'.');
            out.resize(out.len() + decimals, b'0');
        }
        return;
    }
    if decimals <= 38 {
        let (m, q) = decompose(v);
        if let Some((fl, cmp)) = scaled(m, q, decimals as i32) {
            let round_up = cmp == Ordering::Greater || (cmp == Ordering::Equal && fl & 1 == 1);
            if let Some(n) = fl.checked_add(round_up as u128) {
                if let Ok(n) = u64::try_from(n) {
                    if push_scaled_u64(out, n, decimals) {
                        return;
                    }
                }
                let mut buf = [0u8; 40];
                let start = u128_digits(&mut buf, n);
                let digits = &buf[start..];
                let len = digits.len();
                if decimals == 0 {
                    out.extend_from_slice(digits);
                } else if len <= decimals {
                    out.extend_from_slice(b"0.");
                    out.resize(out.len() + (decimals - len), b'0');
                    out.extend_from_slice(digits);
                } else {
                    out.extend_from_slice(&digits[..len - decimals]);
                    out.push(b'.');
                    out.extend_from_slice(&digits[len - decimals..]);
                }
                return;
            }
        }
    }
    // Slow path (huge values or many decimals): Rust's exact fixed formatting equals C's.
    let _ = write!(out, "{:.*}", decimals, v.abs());
}

/// jsonSink float text (bt_float promoted to double, bt_double).
///
/// Rule (derived from json-dev/*/flows.json and matching jsonSink's `print_double_val`):
/// 1. take C `%.17g` of the value (jsonSink uses `%.17Lg` on the value widened to long double;
///    the widening is exact, so the digits are those of `%.17g` of the double);
/// 2. if the text contains neither `.` nor `e`, append `.0` (`0` -> `0.0`, `-0` -> `-0.0`,
///    `1024` -> `1024.0`, `10057692` -> `10057692.0`; also `inf` -> `inf.0`, `nan` -> `nan.0`,
///    `-nan` -> `-nan.0`, which is what jsonSink would emit);
/// 3. otherwise remove the leading zeros of the exponent, keeping its sign character:
///    `1.2032000086037442e-05` -> `1.2032000086037442e-5`, `1e+20` stays `1e+20`,
///    `1.5e+07` -> `1.5e+7`.
///
/// Samples: `97.099998474121094`, `0.4285714328289032`, `3755.2646484375`, `0.0`,
/// `1.2032000086037442e-5`.
pub fn push_json_f64_17(out: &mut Vec<u8>, v: f64) {
    if push_non_finite(out, v) {
        out.extend_from_slice(b".0");
        return;
    }
    let start = out.len();
    // float32 columns (most of jsonSink's floats) have a short exact path to their digits
    match g17_digits_f32(v) {
        Some((n, k)) => {
            if v.is_sign_negative() {
                out.push(b'-');
            }
            let mut buf = [0u8; 20];
            let first = u64_digits(&mut buf, n);
            emit_g(out, &buf[first..], k, 17, ExpStyle::Json);
        }
        None => push_g_finite(out, v, 17, ExpStyle::Json),
    }
    if !out[start..].iter().any(|&c| c == b'.' || c == b'e') {
        out.extend_from_slice(b".0");
    }
}

/// The 17 significant digits of `%.17g` of `v` when `v` is a float32 value in [~1e-15, 2^24)
/// (as jsonSink's float32 columns are): `(n, k)` with `10^16 <= n < 10^17` and
/// `|v| ~= n * 10^(k - 16)`, correctly rounded, ties to even. Like [`g7_digits_u64`], with
/// the product in a `u128` (m * 10^31 < 2^128). `None` for other values.
#[inline]
pub(crate) fn g17_digits_f32(v: f64) -> Option<(u64, i32)> {
    let f = v as f32;
    if f64::from(f) != v || v == 0.0 {
        return None;
    }
    let bits = f.to_bits() & 0x7fff_ffff;
    let biased = (bits >> 23) as i32;
    let k0 = floor_log10_pow2(biased - 127);
    let p = 16 - k0;
    // biased 0 (denormals) gives p = 55; values >= 2^24 are left to the general path
    if biased > 150 || p > 31 {
        return None;
    }
    // p <= 31: v >= 2^-49, so s <= 72 and twice ten units of 2^s fit easily
    let s = (150 - biased) as u32;
    let m = u128::from(bits & 0x7f_ffff | 0x80_0000);
    let t = m * POW10[p as usize];
    // below 10^18 as v < 10^(k0 + 2)
    let (n, rem) = ((t >> s) as u64, t & ((1u128 << s) - 1));
    let (kept, twice_dropped, unit, k) = if n >= E16 * 10 {
        (
            n / 10,
            (u128::from(n % 10) << s | rem) << 1,
            10u128 << s,
            k0 + 1,
        )
    } else {
        (n, rem << 1, 1u128 << s, k0)
    };
    let up = twice_dropped > unit || (twice_dropped == unit && kept & 1 == 1);
    let n = kept + u64::from(up);
    Some(if n == E16 * 10 { (E16, k + 1) } else { (n, k) })
}

// ---------------------------------------------------------------------------------------------
// Timestamps, addresses
// ---------------------------------------------------------------------------------------------

/// `U64.U32` timestamp/duration: `<sec>.<nsec zero-padded to 9>` (values >= 1e9 print in full).
#[inline]
pub fn push_ts(out: &mut Vec<u8>, sec: u64, nsec: u32) {
    push_u64(out, sec);
    out.push(b'.');
    push_u64_zpad(out, nsec as u64, 9);
}

/// Each octet's decimal digits followed by a dot, as ASCII in the low bytes of a `u32`, and
/// the number of those bytes.
pub(crate) static OCTET_DOT: [(u32, u8); 256] = {
    let mut t = [(0u32, 0u8); 256];
    let mut b = 0;
    while b < 256 {
        let (h, te, o) = ((b / 100) as u32, (b / 10 % 10) as u32, (b % 10) as u32);
        t[b] = if b >= 100 {
            (
                (0x30 + h) | (0x30 + te) << 8 | (0x30 + o) << 16 | (b'.' as u32) << 24,
                4,
            )
        } else if b >= 10 {
            ((0x30 + te) | (0x30 + o) << 8 | (b'.' as u32) << 16, 3)
        } else {
            ((0x30 + o) | (b'.' as u32) << 8, 2)
        };
        b += 1;
    }
    t
};

/// Dotted decimal IPv4 (assembled in a register, stored at once).
#[inline]
pub fn push_ipv4(out: &mut Vec<u8>, a: [u8; 4]) {
    let mut text = 0u128;
    let mut n = 0;
    for &b in &a {
        let (chars, len) = OCTET_DOT[usize::from(b)];
        text |= u128::from(chars) << (8 * n);
        n += usize::from(len);
    }
    let len = out.len();
    out.extend_from_slice(&text.to_le_bytes());
    // the dot after the last octet is cut off
    out.truncate(len + n - 1);
}

/// Lower-case hex without leading zeros (one IPv6 group).
#[inline]
fn push_hex_group(out: &mut Vec<u8>, w: u16) {
    let needed = if w == 0 {
        1
    } else {
        (19 - w.leading_zeros() as usize) / 4
    };
    for i in (0..needed).rev() {
        out.push(HEX_LOWER[((w >> (4 * i)) & 0xf) as usize]);
    }
}

/// IPv6 text exactly as glibc `inet_ntop(AF_INET6, ...)`.
pub fn push_ipv6(out: &mut Vec<u8>, a: [u8; 16]) {
    let mut w = [0u16; 8];
    for (i, word) in w.iter_mut().enumerate() {
        *word = u16::from_be_bytes([a[2 * i], a[2 * i + 1]]);
    }
    // Longest run of zero groups (first one on a tie); runs of length 1 are not compressed.
    let (mut best_base, mut best_len) = (usize::MAX, 0usize);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let base = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            let len = i - base;
            if len > best_len {
                best_base = base;
                best_len = len;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best_base = usize::MAX;
        best_len = 0;
    }
    // Embedded IPv4: ::a.b.c.d (6 leading zero groups) and ::ffff:a.b.c.d.
    if best_base == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
        out.push(b':');
        out.push(b':');
        if best_len == 5 {
            out.extend_from_slice(b"ffff:");
        }
        push_ipv4(out, [a[12], a[13], a[14], a[15]]);
        return;
    }
    let mut i = 0;
    while i < 8 {
        if i == best_base {
            // "::" (the second ':' is the separator of the following group, or the trailer).
            out.push(b':');
            i += best_len;
            if i == 8 {
                out.push(b':');
            }
            continue;
        }
        if i > 0 {
            out.push(b':');
        }
        push_hex_group(out, w[i]);
        i += 1;
    }
}

/// `aa:bb:cc:dd:ee:ff`, lower-case.
#[inline]
pub fn push_mac(out: &mut Vec<u8>, m: [u8; 6]) {
    let mut buf = [b':'; 17];
    for (i, &b) in m.iter().enumerate() {
        buf[3 * i] = HEX_LOWER[(b >> 4) as usize];
        buf[3 * i + 1] = HEX_LOWER[(b & 0xf) as usize];
    }
    out.extend_from_slice(&buf);
}

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

/// Escape of an ASCII byte in the txtSink sanitizer; `None` = copy unchanged.
#[inline]
fn san_ascii_escape(b: u8) -> Option<&'static [u8]> {
    match b {
        0x08 => Some(b"\\b"),
        0x0c => Some(b"\\f"),
        0x0a => Some(b"\\n"),
        0x0d => Some(b"\\r"),
        0x09 => Some(b"\\t"),
        0x0b => Some(b"\\v"),
        b'\\' => Some(b"\\\\"),
        b'"' => Some(b"\\\""),
        _ => None,
    }
}

/// txtSink string sanitizer (txtSink.md 2.5) for SC/S values (without the quotes of S).
/// `s` is the string without its terminator; it is cut at the first NUL if it contains one.
pub fn push_sanitized(out: &mut Vec<u8>, s: &[u8]) {
    let s = match s.iter().position(|&b| b == 0) {
        Some(p) => &s[..p],
        None => s,
    };
    let n = s.len();
    out.reserve(n);
    let mut i = 0;
    while i < n {
        // Fast path: a run of printable ASCII that needs no escaping.
        let run_start = i;
        while i < n {
            let b = s[i];
            if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"' {
                i += 1;
            } else {
                break;
            }
        }
        if i > run_start {
            out.extend_from_slice(&s[run_start..i]);
            if i >= n {
                break;
            }
        }
        let b1 = s[i];
        i += 1;
        if b1 < 0x80 {
            if let Some(esc) = san_ascii_escape(b1) {
                out.extend_from_slice(esc);
            } else {
                // 0x01-0x1f (other than the named escapes) and 0x7f.
                out.extend_from_slice(b"\\u00");
                out.push(b"0123456789ABCDEF"[(b1 >> 4) as usize]);
                out.push(b"0123456789ABCDEF"[(b1 & 0xf) as usize]);
            }
            continue;
        }
        if !(0xc2..0xf5).contains(&b1) {
            // Continuation byte or overlong lead (0x80-0xc1), or lead >= 0xf5.
            out.push(b'.');
            continue;
        }
        // Second byte. End of string -> '.' and stop; not a continuation byte -> '.' and
        // decode that byte again as a new lead byte (it is not consumed here).
        if i >= n {
            out.push(b'.');
            break;
        }
        let b2 = s[i];
        if b2 & 0xc0 != 0x80 {
            out.push(b'.');
            continue;
        }
        i += 1;
        if b1 < 0xe0 {
            out.extend_from_slice(&[b1, b2]);
            continue;
        }
        if b1 < 0xf0 {
            if b1 == 0xe0 && b2 < 0xa0 {
                // Overlong three-byte sequence: both bytes consumed.
                out.push(b'.');
                continue;
            }
            if i >= n {
                out.push(b'.');
                break;
            }
            let b3 = s[i];
            if b3 & 0xc0 != 0x80 {
                out.push(b'.');
                continue;
            }
            i += 1;
            let cp = ((b1 as u32 & 0x0f) << 12) | ((b2 as u32 & 0x3f) << 6) | (b3 as u32 & 0x3f);
            if (0xd800..=0xdfff).contains(&cp) {
                out.push(b'.');
                continue;
            }
            out.extend_from_slice(&[b1, b2, b3]);
            continue;
        }
        // Four-byte sequence (lead 0xf0-0xf4).
        if (b1 == 0xf0 && b2 < 0x90) || (b1 == 0xf4 && b2 >= 0x90) {
            out.push(b'.');
            continue;
        }
        if i >= n {
            out.push(b'.');
            break;
        }
        let b3 = s[i];
        if b3 & 0xc0 != 0x80 {
            out.push(b'.');
            continue;
        }
        i += 1;
        if i >= n {
            out.push(b'.');
            break;
        }
        let b4 = s[i];
        if b4 & 0xc0 != 0x80 {
            out.push(b'.');
            continue;
        }
        i += 1;
        out.extend_from_slice(&[b1, b2, b3, b4]);
    }
}

/// Whether an l7Content byte is printed as itself: printable ASCII except the backslash.
#[inline(always)]
fn l7_plain(b: u8) -> bool {
    b.wrapping_sub(0x20) < 0x5f && b != b'\\'
}

/// The letter of the two-byte escape of `b` (`\b \t \n \v \f \r \\`), if it has one.
#[inline(always)]
fn l7_escape_letter(b: u8) -> Option<u8> {
    if b == b'\\' {
        return Some(b'\\');
    }
    // 0x08..=0x0d
    b"btnvfr".get(usize::from(b.wrapping_sub(0x08))).copied()
}

/// Bytes per block of the l7Content fast path: two SSE2 vectors, one `u32` escape mask.
const L7_BLOCK: usize = 32;

/// Packs 8 flags (bytes that are 0 or 1) into the low 8 bits of the result, flag `i` in bit
/// `i`: the multiplier moves byte `i`'s bit to bit `56 + i`; the other products land at
/// distinct positions below bit 56 (no carry reaches it) or above bit 63.
#[inline(always)]
fn pack_flags(flags: [u8; 8]) -> u32 {
    (u64::from_le_bytes(flags).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// One block of payload mapped 1:1 (plain byte or `.`), and the mask of the bytes that need a
/// two-byte escape instead (bit `i` for byte `i`). Branch-free, so the compiler vectorises it.
#[inline(always)]
fn l7_map_block(block: &[u8; L7_BLOCK]) -> ([u8; L7_BLOCK], u32) {
    let mut mapped = [0u8; L7_BLOCK];
    let mut two_byte = [0u8; L7_BLOCK];
    for ((&b, m), t) in block.iter().zip(&mut mapped).zip(&mut two_byte) {
        *m = if l7_plain(b) { b } else { b'.' };
        *t = u8::from(b.wrapping_sub(0x08) < 6 || b == b'\\');
    }
    let mut escapes = 0u32;
    for k in 0..L7_BLOCK / 8 {
        let word: [u8; 8] = std::array::from_fn(|i| two_byte[8 * k + i]);
        escapes |= pack_flags(word) << (8 * k);
    }
    (mapped, escapes)
}

/// packets.txt l7Content escaping (`t2_print_payload`, FACTS (c)): `\b \f \n \r \t \v \\`,
/// printable ASCII 0x20-0x7e unchanged, every other byte (NUL, other controls, DEL, >= 0x80) `.`.
///
/// This is most of packets.txt (42% of the bytes of real.pcap's), so it works on blocks of 32
/// bytes ([`l7_map_block`]) and stores each block whole. For each two-byte escape in a block
/// the escape is stored and the rest of the block is mapped again from the payload one byte
/// further and stored one byte further right (re-mapping costs a few vector operations; reading
/// back the block just stored would stall on store forwarding). The output is sized for the
/// worst case (every byte escaped) plus one block, so every store has the fixed length of a
/// block (inlined, no `memcpy` call); bytes stored past the end of the text are overwritten by
/// the next block or cut off at the end.
pub fn push_l7_escaped(out: &mut Vec<u8>, payload: &[u8]) {
    let start = out.len();
    out.resize(start + 2 * payload.len() + L7_BLOCK, 0);
    let dst = &mut out[start..];
    // bytes written to dst: at most twice the payload consumed so far, so every block store
    // below ends within the slack
    let mut w = 0;
    let mut base = 0;
    while base + L7_BLOCK <= payload.len() {
        // the block and the block after it (zero-padded at the end of the payload), so that
        // the rest of the block can be re-mapped from any offset in it
        let padded: [u8; 2 * L7_BLOCK];
        let window: &[u8] = match payload.get(base..base + 2 * L7_BLOCK) {
            Some(both) => both,
            None => {
                let rest = &payload[base..];
                padded = std::array::from_fn(|i| rest.get(i).copied().unwrap_or(0));
                &padded
            }
        };
        let Some(block) = window.first_chunk::<L7_BLOCK>() else {
            break; // unreachable: the window holds two blocks
        };
        let (mapped, mut escapes) = l7_map_block(block);
        dst[w..w + L7_BLOCK].copy_from_slice(&mapped);
        let mut shift = 0;
        while escapes != 0 {
            let at = escapes.trailing_zeros() as usize;
            escapes &= escapes - 1;
            dst[w + at + shift] = b'\\';
            dst[w + at + shift + 1] = l7_escape_letter(window[at]).unwrap_or(b'.');
            shift += 1;
            let Some(rest) = window[at + 1..].first_chunk::<L7_BLOCK>() else {
                break; // unreachable: at < L7_BLOCK and the window holds two blocks
            };
            let (mapped, _) = l7_map_block(rest);
            dst[w + at + 1 + shift..][..L7_BLOCK].copy_from_slice(&mapped);
        }
        w += L7_BLOCK + shift;
        base += L7_BLOCK;
    }
    for &b in &payload[base..] {
        match l7_escape_letter(b) {
            Some(letter) => {
                dst[w] = b'\\';
                dst[w + 1] = letter;
                w += 2;
            }
            None => {
                dst[w] = if l7_plain(b) { b } else { b'.' };
                w += 1;
            }
        }
    }
    out.truncate(start + w);
}

// ---------------------------------------------------------------------------------------------
// End-report helpers (core.md 13.1)
// ---------------------------------------------------------------------------------------------

/// H(x): nothing if `n < 1024`, else ` (%.2f <U><unit_suffix>)` with
/// `i = min(floor(log2 n) / 10, 8)`, value `n / 10^(3i)` and U from `K M G T P E Z Y`.
pub fn human_suffix(out: &mut Vec<u8>, n: u64, unit_suffix: &str) {
    if n < 1024 {
        return;
    }
    const UNITS: [u8; 9] = *b" KMGTPEZY";
    const DIV: [f64; 9] = [1.0, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18, 1e21, 1e24];
    let lg = 63 - n.leading_zeros() as usize;
    let i = (lg / 10).min(8);
    out.extend_from_slice(b" (");
    push_fixed(out, n as f64 / DIV[i], 2);
    out.push(b' ');
    out.push(UNITS[i]);
    out.extend_from_slice(unit_suffix.as_bytes());
    out.push(b')');
}

/// TIME(): `<sec as u32>.<%09 sub-second> sec`, plus ` (1y 2d 3h 4m 5s)` (zero parts omitted)
/// when years, days, hours or minutes are non-zero.
pub fn push_duration(out: &mut Vec<u8>, sec: u64, nsec: i64) {
    let s = sec as u32;
    push_u64(out, s as u64);
    out.push(b'.');
    push_i64_zpad(out, nsec, 9);
    out.extend_from_slice(b" sec");
    let years = s / 31_536_000;
    let rem = s % 31_536_000;
    let days = rem / 86_400;
    let hours = rem % 86_400 / 3_600;
    let mins = rem % 3_600 / 60;
    let secs = rem % 60;
    if years == 0 && days == 0 && hours == 0 && mins == 0 {
        return;
    }
    out.extend_from_slice(b" (");
    let mut first = true;
    for (val, unit) in [
        (years, b'y'),
        (days, b'd'),
        (hours, b'h'),
        (mins, b'm'),
        (secs, b's'),
    ] {
        if val != 0 {
            if !first {
                out.push(b' ');
            }
            first = false;
            push_u64(out, val as u64);
            out.push(unit);
        }
    }
    out.push(b')');
}

/// (year, month 1..=12, day 1..=31) of a day count relative to 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of each year;
    // 400-year cycles have exactly 146097 days.
    let z = days + 719_468;
    let cycle = z.div_euclid(146_097);
    let day_of_cycle = z.rem_euclid(146_097); // 0..=146096
    let year_of_cycle = (day_of_cycle - day_of_cycle / 1_460 + day_of_cycle / 36_524
        - day_of_cycle / 146_096)
        / 365; // 0..=399
    let day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100); // 0..=365
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11 (0 = March)
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        (month_from_march + 3) as u32
    } else {
        (month_from_march - 9) as u32
    };
    // January and February belong to the next civil year in the March-based count.
    let year = year_of_cycle + cycle * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// DATE() for packet times: `<sec as u32>.<%09 signed subsec> sec (Thu 14 Mar 2019 19:03:54 GMT)`
/// (strftime `%a %d %b %Y %X` in UTC, C locale, then ` GMT`).
pub fn push_date_utc(out: &mut Vec<u8>, sec: u64, subsec: i64) {
    const WDAY: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
    const MON: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    push_u64(out, sec as u32 as u64);
    out.push(b'.');
    push_i64_zpad(out, subsec, 9);
    out.extend_from_slice(b" sec (");

    let t = sec.min(i64::MAX as u64) as i64;
    let days = t.div_euclid(86_400);
    let sod = t.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    let wday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    out.extend_from_slice(WDAY[wday]);
    out.push(b' ');
    push_u64_zpad(out, day as u64, 2);
    out.push(b' ');
    out.extend_from_slice(MON[month as usize - 1]);
    out.push(b' ');
    push_i64(out, year);
    out.push(b' ');
    push_u64_zpad(out, (sod / 3_600) as u64, 2);
    out.push(b':');
    push_u64_zpad(out, (sod % 3_600 / 60) as u64, 2);
    out.push(b':');
    push_u64_zpad(out, (sod % 60) as u64, 2);
    out.extend_from_slice(b" GMT)");
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    /// glibc `snprintf` with one double argument.
    fn c_fmt(fmt: &str, v: f64) -> String {
        let cfmt = std::ffi::CString::new(fmt).unwrap();
        let mut buf = [0u8; 512];
        // SAFETY: buffer and length match, format takes exactly one double.
        let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), v) };
        assert!(
            n >= 0 && (n as usize) < buf.len(),
            "snprintf overflow for {fmt} {v:e}"
        );
        String::from_utf8(buf[..n as usize].to_vec()).unwrap()
    }

    /// jsonSink post-processing applied to C text (independent re-implementation for tests).
    fn json_from_c(c: &str) -> String {
        if !c.contains('.') && !c.contains('e') {
            return format!("{c}.0");
        }
        match c.find('e') {
            None => c.to_string(),
            Some(p) => {
                let (mant, exp) = c.split_at(p + 2); // "...e" + sign
                let digits = exp.trim_start_matches('0');
                format!("{mant}{digits}")
            }
        }
    }

    use crate::testutil::XorShift;

    /// Deterministic mix of f64 test values: random bit patterns, "measurement-like" values,
    /// ratios, dyadic values (ties for %.Nf), integers with ties at the 8th digit, edge cases.
    fn sample_values(count: usize, seed: u64) -> Vec<f64> {
        let mut r = XorShift(seed);
        let mut v = vec![
            0.0,
            -0.0,
            1.0,
            0.5,
            0.125,
            0.375,
            2.5,
            1.5,
            1e-5,
            9.9999995e-5,
            0.0001,
            1e7,
            1e6,
            999999.95,
            9999999.5,
            10000005.0,
            4294967295.0,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f32::MAX as f64,
            f32::MIN_POSITIVE as f64,
            1.401298464324817e-45,
            123456789012345678.0,
            0.1,
            0.2,
            0.3,
            1e22,
            1e23,
            1e-7,
            5e-7,
            5e-5,
            f64::from_bits(0.0005f64.to_bits() - 1),
            0.0005,
        ];
        while v.len() < count {
            let x = r.next();
            let val = match x % 10 {
                0 => f64::from_bits(r.next()),
                1 => f32::from_bits(r.next() as u32) as f64,
                2 => (r.next() % 100_000_000) as f64 / (1 + r.next() % 1_000_000) as f64,
                3 => (r.next() % 1_000_000) as f32 as f64 / (1 + r.next() % 10_000) as f64,
                4 => ((r.next() % 100_000) as f32 / (1 + r.next() % 1000) as f32) as f64,
                5 => (r.next() % (1 << 20)) as f64 / (1u64 << (r.next() % 24)) as f64,
                6 => {
                    // 8-digit integers ending in 5 (ties for %.7g) and neighbours
                    let b = 10_000_000 + (r.next() % 90_000_000);
                    ((b / 10) * 10 + 5) as f64
                }
                7 => (r.next() % 1_000_000_000) as f64 * 1e-9,
                8 => {
                    let e = (r.next() % 80) as i32 - 40;
                    (1.0 + (r.next() % 1000) as f64 / 1000.0) * 10f64.powi(e)
                }
                _ => (r.next() as i64 >> (r.next() % 64)) as f64 / 1e6,
            };
            if val.is_nan() {
                continue;
            }
            v.push(if x & 0x100 != 0 { -val } else { val });
        }
        v
    }

    fn compare_against_libc(count: usize, seed: u64) -> usize {
        let vals = sample_values(count, seed);
        let mut out = Vec::with_capacity(64);
        let mut checked = 0usize;
        let check = |what: &str, c: String, out: &Vec<u8>, v: f64| {
            assert_eq!(
                std::str::from_utf8(out).unwrap(),
                c,
                "{what} mismatch for {v:e} (bits {:#x})",
                v.to_bits()
            );
        };
        for &v in &vals {
            let f = v as f32;
            out.clear();
            push_g7(&mut out, f);
            check("%.7g", c_fmt("%.7g", f as f64), &out, f as f64);
            out.clear();
            push_g(&mut out, v, 7);
            check("%.7g(f64)", c_fmt("%.7g", v), &out, v);
            out.clear();
            push_g(&mut out, v, 17);
            check("%.17g", c_fmt("%.17g", v), &out, v);
            out.clear();
            push_g(&mut out, v, 1);
            check("%.1g", c_fmt("%.1g", v), &out, v);
            out.clear();
            push_g(&mut out, v, 0);
            check("%.0g", c_fmt("%.0g", v), &out, v);
            out.clear();
            push_g(&mut out, v, 25);
            check("%.25g", c_fmt("%.25g", v), &out, v);
            out.clear();
            push_json_f64_17(&mut out, v);
            check("json", json_from_c(&c_fmt("%.17g", v)), &out, v);
            out.clear();
            push_json_f64_17(&mut out, f as f64);
            check(
                "json(f32)",
                json_from_c(&c_fmt("%.17g", f as f64)),
                &out,
                f as f64,
            );
            if v.abs() < 1e100 {
                out.clear();
                push_f6(&mut out, v);
                check("%f", c_fmt("%f", v), &out, v);
                out.clear();
                push_fixed(&mut out, v, 2);
                check("%.2f", c_fmt("%.2f", v), &out, v);
                out.clear();
                push_fixed(&mut out, v, 3);
                check("%.3f", c_fmt("%.3f", v), &out, v);
                out.clear();
                push_fixed(&mut out, v, 9);
                check("%.9f", c_fmt("%.9f", v), &out, v);
                out.clear();
                push_fixed(&mut out, v, 0);
                check("%.0f", c_fmt("%.0f", v), &out, v);
                checked += 5;
            }
            checked += 8;
        }
        checked
    }

    #[test]
    fn floats_match_libc_20k() {
        let n = compare_against_libc(20_000, 0x9E37_79B9_7F4A_7C15);
        assert!(n > 200_000);
    }

    /// The large validation run: `cargo test --lib textfmt -- --ignored`.
    #[test]
    #[ignore]
    fn floats_match_libc_1m() {
        compare_against_libc(1_000_000, 0x1234_5678_9abc_def1);
    }

    #[test]
    fn non_finite() {
        assert_eq!(s(|o| push_g7(o, f32::INFINITY)), "inf");
        assert_eq!(s(|o| push_g7(o, f32::NEG_INFINITY)), "-inf");
        assert_eq!(s(|o| push_g7(o, f32::NAN)), c_fmt("%.7g", f64::NAN));
        assert_eq!(s(|o| push_g(o, -f64::NAN, 7)), c_fmt("%.7g", -f64::NAN));
        assert_eq!(s(|o| push_f6(o, f64::INFINITY)), "inf");
        assert_eq!(s(|o| push_json_f64_17(o, f64::INFINITY)), "inf.0");
        assert_eq!(s(|o| push_json_f64_17(o, f64::NAN)), "nan.0");
    }

    #[test]
    fn g7_literals() {
        let g = |v: f32| s(|o| push_g7(o, v));
        assert_eq!(g(158.3919), "158.3919");
        assert_eq!(g(2.828427e-06), "2.828427e-06");
        assert_eq!(g(5.6e+07), "5.6e+07");
        assert_eq!(g(4294967295.0), "4.294967e+09");
        assert_eq!(g(1e7), "1e+07");
        assert_eq!(g(1_000_000.0), "1000000");
        assert_eq!(g(0.01733004), "0.01733004");
        assert_eq!(g(1727273.0), "1727273");
        assert_eq!(g(0.0), "0");
        assert_eq!(g(-0.0), "-0");
        assert_eq!(g(112.0), "112");
        assert_eq!(g(97.1), "97.1");
        assert_eq!(g(1.2032e-05), "1.2032e-05");
        assert_eq!(g(2e-06), "2e-06");
        assert_eq!(g(-0.6569966), "-0.6569966");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(1e-30), "1e-30");
        assert_eq!(g(f32::MAX), "3.402823e+38");
        assert_eq!(g(10_000_005.0), "1e+07"); // exact tie -> even
        assert_eq!(g(10_000_015.0), "1.000002e+07"); // exact tie -> even
    }

    /// Float32 values where `%.7g` is hard: powers of ten and their neighbours (rounding up to
    /// the next power), exact ties at the 8th digit, the ends of the fast paths' ranges,
    /// denormals, the extremes.
    fn g7_edge_values() -> Vec<f32> {
        let mut v = vec![
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x007f_ffff),
            f32::MAX,
            1_234_567.5,
            1_234_566.5,
            9_999_999.5,
            16_777_215.0,
            16_777_216.0,
            33_554_430.0,
            1e-25,
            1e-26,
            1.844_674_4e19,
        ];
        // the float32 next to these decimal texts
        for text in ["9.9999995", "9.9999994", "99999.995", "0.000099999995"] {
            v.push(text.parse().unwrap());
        }
        for k in -45..=38 {
            let p = format!("1e{k}").parse::<f32>().unwrap();
            for d in -3i32..=3 {
                v.push(f32::from_bits(p.to_bits().wrapping_add_signed(d)));
            }
            let nines = format!("9.9999995e{k}").parse::<f32>().unwrap();
            v.push(nines);
            v.push(f32::from_bits(nines.to_bits() + 1));
            v.push(f32::from_bits(nines.to_bits() - 1));
        }
        // every 8-digit integer ending in 5 below 2^24 is an exact tie
        v.extend((10_000_005..16_777_216).step_by(10 * 997).map(|i| i as f32));
        v.extend((0..=0xff).map(|b| f32::from_bits(b << 23 | 0x12_3456)));
        v
    }

    #[test]
    fn g7_matches_libc_on_float32() {
        let mut vals = g7_edge_values();
        let mut r = XorShift(0x5eed_f10a7);
        vals.extend((0..200_000).map(|_| f32::from_bits(r.next() as u32)));
        // one value in every 9973 bit patterns: every exponent, both signs, NaNs and infinities
        vals.extend((0..=u32::MAX).step_by(9973).map(f32::from_bits));
        let mut out = b"ab".to_vec();
        for v in vals {
            out.truncate(2);
            push_g7(&mut out, v);
            let want = c_fmt("%.7g", f64::from(v));
            assert_eq!(
                &out[2..],
                want.as_bytes(),
                "{v:e} (bits {:#x})",
                v.to_bits()
            );
        }
    }

    /// jsonSink's text of float32 values (the `%.17g` fast path) against glibc.
    #[test]
    fn json_f32_matches_libc() {
        let mut vals = g7_edge_values();
        let mut r = XorShift(0x00a1_5f17);
        vals.extend((0..100_000).map(|_| f32::from_bits(r.next() as u32)));
        vals.extend((0..=u32::MAX).step_by(19_997).map(f32::from_bits));
        let mut out = Vec::new();
        for v in vals {
            let v = f64::from(v);
            out.clear();
            push_json_f64_17(&mut out, v);
            let want = json_from_c(&c_fmt("%.17g", v));
            assert_eq!(out, want.as_bytes(), "{v:e} (bits {:#x})", v.to_bits());
        }
        for (v, fast) in [(1.5f32, true), (3e-15, true), (1e-16, false), (2e7, false)] {
            assert_eq!(g17_digits_f32(f64::from(v)).is_some(), fast, "{v:e}");
        }
        assert_eq!(g17_digits_f32(0.1), None);
    }

    /// Runs `check(bits)` for every float32 bit pattern in [`G7_FROM`, `G7_TO`) (hex, from the
    /// environment; `from`/`to` without them), spread over every CPU.
    fn every_f32_bits(from: u32, to: u32, check: impl Fn(u32, &mut Vec<u8>) + Sync) {
        let bound = |name: &str, default: u32| {
            std::env::var(name).map_or(default, |v| u32::from_str_radix(&v, 16).unwrap())
        };
        let (from, to) = (bound("G7_FROM", from), bound("G7_TO", to));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
        let check = &check;
        std::thread::scope(|sc| {
            for t in 0..threads {
                sc.spawn(move || {
                    let mut out = Vec::new();
                    for bits in (from + t..to).step_by(threads as usize) {
                        out.clear();
                        check(bits, &mut out);
                    }
                });
            }
        });
    }

    /// Every positive float32 against glibc (an hour or more of CPU):
    /// `cargo test --release --lib g7_exhaustive -- --ignored`; `G7_FROM`/`G7_TO` (hex bit
    /// patterns, `G7_TO` excluded) restrict it, e.g. to the u64 fast path [2^-19, 2^24):
    /// `G7_FROM=36000000 G7_TO=4b800000`. Negative values differ only by the sign.
    #[test]
    #[ignore]
    fn g7_exhaustive() {
        every_f32_bits(0, 0x8000_0000, |bits, out| {
            let v = f32::from_bits(bits);
            push_g7(out, v);
            assert_eq!(*out, c_fmt("%.7g", f64::from(v)).as_bytes(), "{bits:#x}");
        });
    }

    /// jsonSink's text of every positive float32 in [`G7_FROM`, `G7_TO`) (hex, as for
    /// [`g7_exhaustive`]; default: the %.17g fast path, [2^-49, 2^24)) against glibc:
    /// `cargo test --release --lib json_f32_exhaustive -- --ignored`.
    #[test]
    #[ignore]
    fn json_f32_exhaustive() {
        every_f32_bits(0x2700_0000, 0x4b80_0000, |bits, out| {
            let v = f64::from(f32::from_bits(bits));
            push_json_f64_17(out, v);
            let want = json_from_c(&c_fmt("%.17g", v));
            assert_eq!(*out, want.as_bytes(), "{bits:#x}");
        });
    }

    #[test]
    fn g7_digits_paths() {
        // u64 product and shift; u128 product; u64 division; u128 division; the slow path
        for (v, want, fast) in [
            (48.448_14f32, (4_844_814, 1), true),
            (2.345_678e-6, (2_345_678, -6), true),
            (12_345_678.0, (1_234_568, 7), true),
            (1.234_567e-20, (1_234_567, -20), false),
            (123_456_790.0, (1_234_568, 8), false),
            (3.402_823_5e38, (3_402_823, 38), false),
            (1e-30, (1_000_000, -30), false),
        ] {
            let bits = v.to_bits();
            assert_eq!(g7_digits_u64(bits), Some(want).filter(|_| fast), "{v:e}");
            let (m, e) = (bits & 0x7f_ffff | 0x80_0000, (bits >> 23) as i32 - 150);
            let got = g7_digits(m, e).unwrap_or_else(|| g7_digits_slow(v));
            assert_eq!(got, want, "{v:e}");
        }
        // the fast path's ends: every normal float32 in or near its range agrees
        for bits in (0x3380_0000..0x4c00_0000u32).step_by(101) {
            let (m, e) = (bits & 0x7f_ffff | 0x80_0000, (bits >> 23) as i32 - 150);
            if let Some(fast) = g7_digits_u64(bits) {
                assert_eq!(Some(fast), g7_digits(m, e), "{bits:#x}");
            }
        }
        for bits in [0, 1, 0x7f_ffff, 0x7f80_0000, 0x7fc0_0000] {
            assert_eq!(g7_digits_u64(bits), None);
        }
        assert_eq!(g7_digits(0x80_0000, -150 - 80 + 127 - 20), None);
        assert_eq!(g7_digits_slow(f32::from_bits(1)), (1_401_298, -45));
    }

    #[test]
    fn floor_log10_pow2_is_exact() {
        for e in -1650..=1650 {
            let want = (f64::from(e) * std::f64::consts::LOG10_2).floor() as i32;
            assert_eq!(floor_log10_pow2(e), want, "{e}");
        }
    }

    #[test]
    fn fixed_literals() {
        assert_eq!(s(|o| push_fixed(o, 0.125, 2)), "0.12");
        assert_eq!(s(|o| push_fixed(o, 0.375, 2)), "0.38");
        assert_eq!(s(|o| push_fixed(o, 2.5, 0)), "2");
        assert_eq!(s(|o| push_fixed(o, 3.5, 0)), "4");
        assert_eq!(s(|o| push_fixed(o, -0.001, 2)), "-0.00");
        assert_eq!(s(|o| push_f6(o, 0.0)), "0.000000");
        assert_eq!(s(|o| push_f6(o, -0.0)), "-0.000000");
        assert_eq!(s(|o| push_fixed(o, 0.000107968, 9)), "0.000107968");
        assert_eq!(s(|o| push_fixed(o, 1e300, 1)), c_fmt("%.1f", 1e300));
        assert_eq!(
            s(|o| push_fixed(o, 1.0 / 3.0, 50)),
            c_fmt("%.50f", 1.0 / 3.0)
        );
    }

    #[test]
    fn json_literals() {
        let j = |v: f64| s(|o| push_json_f64_17(o, v));
        assert_eq!(j(97.1f32 as f64), "97.099998474121094");
        assert_eq!(j(1.2032e-5f32 as f64), "1.2032000086037442e-5");
        assert_eq!(j(0.0), "0.0");
        assert_eq!(j(-0.0), "-0.0");
        assert_eq!(j(1024.0), "1024.0");
        assert_eq!(j(10057692.0), "10057692.0");
        assert_eq!(j(3755.2646484375), "3755.2646484375");
        assert_eq!(j(1e20), "1e+20");
        assert_eq!(j(1.5e300), "1.5000000000000001e+300");
        assert_eq!(j(2.5e-300), json_from_c(&c_fmt("%.17g", 2.5e-300)));
        assert_eq!(j(86.4f32 as f64), "86.400001525878906");
    }

    #[test]
    fn integers_and_hex() {
        for v in [
            0u64,
            1,
            9,
            10,
            99,
            100,
            999,
            1000,
            9999,
            10000,
            12345678,
            u64::MAX,
        ] {
            assert_eq!(s(|o| push_u64(o, v)), v.to_string());
        }
        for v in [0i64, -1, -4, 42, i64::MIN, i64::MAX] {
            assert_eq!(s(|o| push_i64(o, v)), v.to_string());
        }
        let mut r = XorShift(77);
        for _ in 0..10_000 {
            let v = r.next() >> (r.next() % 64);
            assert_eq!(s(|o| push_u64(o, v)), v.to_string());
            let n = (v as u128) * (r.next() as u128);
            let mut buf = [0u8; 40];
            let st = u128_digits(&mut buf, n);
            assert_eq!(std::str::from_utf8(&buf[st..]).unwrap(), n.to_string());
        }
        let mut buf = [0u8; 40];
        let st = u128_digits(&mut buf, u128::MAX);
        assert_eq!(
            std::str::from_utf8(&buf[st..]).unwrap(),
            u128::MAX.to_string()
        );
        assert_eq!(s(|o| push_hex(o, 0, 2)), "0x00");
        assert_eq!(s(|o| push_hex(o, 0x40, 4)), "0x0040");
        assert_eq!(
            s(|o| push_hex(o, 0x0400100000004000, 16)),
            "0x0400100000004000"
        );
        assert_eq!(s(|o| push_hex(o, u64::MAX, 8)), "0xffffffffffffffff");
        assert_eq!(s(|o| push_hex(o, 0xa13, 8)), "0x00000a13");
        assert_eq!(s(|o| push_hex_unpadded(o, 0)), "0x0");
        assert_eq!(s(|o| push_hex_unpadded(o, 0xa13)), "0xa13");
    }

    /// The quotients `ascii8` takes by multiplication are exact on their whole ranges; each
    /// lane's product stays below the next lane, so the lanes are independent.
    #[test]
    fn ascii8_steps_are_exact() {
        for v in 0..10_000u64 {
            assert_eq!((v * 10_486) >> 20, v / 100, "{v}");
        }
        for v in 0..100u64 {
            assert_eq!((v * 103) >> 10, v / 10, "{v}");
        }
        let mut r = XorShift(5);
        for v in (0..100_000).chain((0..100_000).map(|_| (r.next() % E8) as u32)) {
            let want = format!("{v:08}");
            assert_eq!(ascii8(v).to_le_bytes(), want.as_bytes(), "{v}");
        }
        for v in [0u32, 0xf, 0xa0, 0x0123_4567, 0x89ab_cdef, u32::MAX] {
            assert_eq!(ascii_hex8(v).to_le_bytes(), format!("{v:08x}").as_bytes());
        }
    }

    /// The register-built paths (`push_word`) against `format!`, appended after existing text.
    #[test]
    fn fixed_copy_paths_match_format() {
        let after = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = b"ab".to_vec();
            f(&mut v);
            assert_eq!(&v[..2], b"ab");
            String::from_utf8(v[2..].to_vec()).unwrap()
        };
        let mut r = XorShift(91);
        for _ in 0..20_000 {
            let v = r.next() >> (r.next() % 64);
            let w = (r.next() % 26) as usize;
            assert_eq!(after(&|o| push_u64(o, v)), v.to_string());
            assert_eq!(after(&|o| push_u64_zpad(o, v, w)), format!("{v:0w$}"));
            assert_eq!(
                after(&|o| push_hex(o, v, w)),
                format!("0x{v:0w$x}"),
                "v {v:#x} digits {w}"
            );
            let d = (r.next() % 21) as usize;
            let mut want = Vec::new();
            if d <= 19 {
                let unit = 10u64.pow(d as u32);
                want = if d == 0 {
                    v.to_string()
                } else {
                    format!("{}.{:0d$}", v / unit, v % unit)
                }
                .into_bytes();
            }
            let mut got = b"ab".to_vec();
            assert_eq!(push_scaled_u64(&mut got, v, d), d <= 19);
            assert_eq!(&got[2..], &want[..], "n {v} decimals {d}");
            let a = (r.next() as u32).to_be_bytes();
            assert_eq!(
                after(&|o| push_ipv4(o, a)),
                std::net::Ipv4Addr::from(a).to_string()
            );
        }
        assert_eq!(after(&|o| push_ipv4(o, [255; 4])), "255.255.255.255");
        assert_eq!(after(&|o| push_ipv4(o, [0; 4])), "0.0.0.0");
    }

    #[test]
    fn timestamps() {
        assert_eq!(s(|o| push_ts(o, 108, 743_144_000)), "108.743144000");
        assert_eq!(s(|o| push_ts(o, 0, 0)), "0.000000000");
        assert_eq!(s(|o| push_ts(o, 0, 5)), "0.000000005");
        assert_eq!(
            s(|o| push_ts(o, 980658802, 1_882_137_472)),
            "980658802.1882137472"
        );
    }

    fn v6(s: &str) -> [u8; 16] {
        s.parse::<std::net::Ipv6Addr>().unwrap().octets()
    }

    #[test]
    fn ipv6_literals() {
        let f = |a: &str| s(|o| push_ipv6(o, v6(a)));
        assert_eq!(f("2001:470:765b::a25:53"), "2001:470:765b::a25:53");
        assert_eq!(f("fe80::ffff:ffff:fffe"), "fe80::ffff:ffff:fffe");
        assert_eq!(f("::"), "::");
        assert_eq!(f("::1"), "::1");
        assert_eq!(f("::1.2.3.4"), "::1.2.3.4");
        assert_eq!(f("::ffff:1.2.3.4"), "::ffff:1.2.3.4");
        assert_eq!(f("ff02::1:ff72:7710"), "ff02::1:ff72:7710");
        assert_eq!(f("1:0:0:1:0:0:0:1"), "1:0:0:1::1");
        assert_eq!(f("1:0:0:1:0:0:1:1"), "1::1:0:0:1:1");
        assert_eq!(f("1:2:3:4:5:6:7:0"), "1:2:3:4:5:6:7:0");
        assert_eq!(f("1:2:3:4:5:6:0:0"), "1:2:3:4:5:6::");
        assert_eq!(f("1::"), "1::");
        assert_eq!(f("0:1:2:3:4:5:6:7"), "0:1:2:3:4:5:6:7");
        assert_eq!(f("::ffff:0:0"), "::ffff:0.0.0.0");
        assert_eq!(f("::1:0:0"), "::1:0:0");
        assert_eq!(f("0:0:0:0:0:fffe:1:2"), "::fffe:1:2");
        assert_eq!(f("2001:db8::1:0:0:1"), "2001:db8::1:0:0:1");
    }

    extern "C" {
        fn inet_ntop(
            af: libc::c_int,
            src: *const libc::c_void,
            dst: *mut libc::c_char,
            size: libc::socklen_t,
        ) -> *const libc::c_char;
    }

    /// Compare with glibc inet_ntop on random addresses with many zero groups.
    #[test]
    fn ipv6_matches_glibc() {
        let mut r = XorShift(0xdead_beef);
        let mut buf = [0 as libc::c_char; 64];
        for i in 0..50_000 {
            let mut a = [0u8; 16];
            let mask = r.next();
            for g in 0..8 {
                if (mask >> (g * 2)) & 3 != 0 {
                    continue;
                }
                let w = match (r.next() >> 5) % 4 {
                    0 => 0xffff,
                    1 => 1,
                    _ => r.next() as u16,
                };
                a[2 * g..2 * g + 2].copy_from_slice(&w.to_be_bytes());
            }
            if i % 7 == 0 {
                a[..10].fill(0);
                a[10] = 0xff;
                a[11] = 0xff;
            }
            // SAFETY: valid pointers, buffer larger than INET6_ADDRSTRLEN.
            let p = unsafe { inet_ntop(libc::AF_INET6, a.as_ptr().cast(), buf.as_mut_ptr(), 64) };
            assert!(!p.is_null());
            // SAFETY: inet_ntop wrote a NUL-terminated string.
            let c = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
                .to_str()
                .unwrap();
            assert_eq!(s(|o| push_ipv6(o, a)), c, "{a:?}");
        }
    }

    #[test]
    fn ipv4_mac() {
        assert_eq!(s(|o| push_ipv4(o, [192, 168, 0, 1])), "192.168.0.1");
        assert_eq!(s(|o| push_ipv4(o, [0, 9, 10, 255])), "0.9.10.255");
        assert_eq!(
            s(|o| push_mac(o, [0x00, 0x1c, 0x42, 0x8e, 0x70, 0x31])),
            "00:1c:42:8e:70:31"
        );
        assert_eq!(s(|o| push_mac(o, [0xff; 6])), "ff:ff:ff:ff:ff:ff");
    }

    #[test]
    fn sanitizer() {
        let f = |b: &[u8]| {
            let mut v = Vec::new();
            push_sanitized(&mut v, b);
            v
        };
        assert_eq!(f(b"eth:ipv4:udp"), b"eth:ipv4:udp");
        assert_eq!(
            f(b"a\tb\nc\rd\x08e\x0cf\x0bg"),
            b"a\\tb\\nc\\rd\\be\\ff\\vg"
        );
        assert_eq!(f(b"q\"b\\s"), b"q\\\"b\\\\s");
        assert_eq!(f(b"\x1b\x01\x7f\x1f"), b"\\u001B\\u0001\\u007F\\u001F");
        assert_eq!(f(b"ab\0cd"), b"ab");
        // Valid multi-byte sequences pass through.
        assert_eq!(f("é€😀".as_bytes()), "é€😀".as_bytes());
        // Continuation / overlong leads / >= 0xf5.
        assert_eq!(f(b"\x80\xbf\xc0\xc1\xf5\xff"), b"......");
        // Invalid continuation: '.' then the byte is decoded again.
        assert_eq!(f(b"\xc3A"), b".A");
        assert_eq!(f(b"\xc3\xc3\xa9"), ".é".as_bytes());
        assert_eq!(f(b"\xe2\x82A"), b".A");
        assert_eq!(f(b"\xf0\x9f\x98A"), b".A");
        // Overlong three-byte: both bytes consumed; the third is decoded on its own.
        assert_eq!(f(b"\xe0\x80\x80"), b"..");
        assert_eq!(f(b"\xe0\x9fX"), b".X");
        // Surrogate: all three consumed.
        assert_eq!(f(b"\xed\xa0\x80Z"), b".Z");
        // Four-byte overlong / above U+10FFFF: two bytes consumed.
        assert_eq!(f(b"\xf0\x80\x80\x80"), b"...");
        assert_eq!(f(b"\xf4\x90\x80\x80"), b"...");
        assert_eq!(f("\u{10FFFF}".as_bytes()), "\u{10FFFF}".as_bytes());
        // Truncated at the end of the string: '.' and stop.
        assert_eq!(f(b"x\xc3"), b"x.");
        assert_eq!(f(b"x\xe2\x82"), b"x.");
        assert_eq!(f(b"x\xf0\x9f\x98"), b"x.");
        assert_eq!(f(b"x\xe2\x82\0yz"), b"x.");
    }

    #[test]
    fn l7_escaping() {
        let f = |b: &[u8]| {
            let mut v = Vec::new();
            push_l7_escaped(&mut v, b);
            v
        };
        assert_eq!(f(b""), b"");
        assert_eq!(
            f(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
        );
        assert_eq!(f(b"\x08\x0c\x09\x0b\\"), b"\\b\\f\\t\\v\\\\");
        assert_eq!(f(b"\0\x07\x1b\x7f\x80\xff"), b"......");
        assert_eq!(f(b" \"'%;_."), b" \"'%;_.");
        let all: Vec<u8> = (0..=255u8).collect();
        assert!(f(&all).iter().all(|&b| (0x20..0x7f).contains(&b)));
    }

    #[test]
    fn pack_flags_puts_flag_i_in_bit_i() {
        for bits in 0..=255u32 {
            let flags: [u8; 8] = std::array::from_fn(|i| (bits >> i & 1) as u8);
            assert_eq!(pack_flags(flags), bits);
        }
    }

    /// The block path against a byte-at-a-time statement of the rule, on every length around
    /// the block size and on text-like and binary-like payloads with every byte value.
    #[test]
    fn l7_escaping_blocks_match_the_byte_rule() {
        fn by_byte(payload: &[u8]) -> Vec<u8> {
            let mut v = Vec::new();
            for &b in payload {
                match b {
                    0x08 => v.extend_from_slice(b"\\b"),
                    0x0c => v.extend_from_slice(b"\\f"),
                    0x0a => v.extend_from_slice(b"\\n"),
                    0x0d => v.extend_from_slice(b"\\r"),
                    0x09 => v.extend_from_slice(b"\\t"),
                    0x0b => v.extend_from_slice(b"\\v"),
                    b'\\' => v.extend_from_slice(b"\\\\"),
                    0x20..=0x7e => v.push(b),
                    _ => v.push(b'.'),
                }
            }
            v
        }
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut next = || rng.next();
        const TEXT: &[u8] = b" \tAz\\\r\n~\x7f";
        for len in (0..=200).chain([1000, 1499, 4096]) {
            for kind in 0..3 {
                let payload: Vec<u8> = (0..len)
                    .map(|_| {
                        let r = next();
                        match kind {
                            0 => r as u8,
                            1 => TEXT[(r % TEXT.len() as u64) as usize],
                            _ => (r % 16) as u8, // dense in the escaped control range
                        }
                    })
                    .collect();
                let mut v = b"prefix".to_vec();
                push_l7_escaped(&mut v, &payload);
                assert_eq!(&v[..6], b"prefix");
                assert_eq!(v[6..], by_byte(&payload)[..], "len {len} kind {kind}");
            }
        }
        let all: Vec<u8> = (0..=255u8).cycle().take(256 * 3 + 5).collect();
        let mut v = Vec::new();
        push_l7_escaped(&mut v, &all);
        assert_eq!(v, by_byte(&all));
    }

    #[test]
    fn human() {
        let h = |n: u64, u: &str| s(|o| human_suffix(o, n, u));
        assert_eq!(h(1023, ""), "");
        assert_eq!(h(1000, ""), "");
        assert_eq!(h(1024, ""), " (1.02 K)");
        assert_eq!(h(1_040_000, ""), " (1040.00 K)");
        assert_eq!(h(1_048_576, ""), " (1.05 M)");
        assert_eq!(h(3480, "b/s"), " (3.48 Kb/s)");
        assert_eq!(h(u64::MAX, ""), " (18.45 E)");
    }

    #[test]
    fn durations() {
        let d = |sec: u64, ns: i64| s(|o| push_duration(o, sec, ns));
        assert_eq!(d(226, 360_992_000), "226.360992000 sec (3m 46s)");
        assert_eq!(
            d(1_901_908, 456_146_000),
            "1901908.456146000 sec (22d 18m 28s)"
        );
        assert_eq!(d(0, 5_000), "0.000005000 sec");
        assert_eq!(d(59, 999_999_999), "59.999999999 sec");
        assert_eq!(d(300, 33_247_000), "300.033247000 sec (5m)");
        assert_eq!(d(9240, 78_000_000), "9240.078000000 sec (2h 34m)");
        assert_eq!(
            d(116_120_149, 955_569_000),
            "116120149.955569000 sec (3y 248d 23h 35m 49s)"
        );
        assert_eq!(d(0, -5), "0.-00000005 sec");
    }

    #[test]
    fn dates() {
        let d = |sec: u64, ns: i64| s(|o| push_date_utc(o, sec, ns));
        assert_eq!(
            d(1_552_590_234, 892_296_000),
            "1552590234.892296000 sec (Thu 14 Mar 2019 19:03:54 GMT)"
        );
        assert_eq!(d(0, 0), "0.000000000 sec (Thu 01 Jan 1970 00:00:00 GMT)");
        assert_eq!(
            d(108, 743_144_000),
            "108.743144000 sec (Thu 01 Jan 1970 00:01:48 GMT)"
        );
        assert_eq!(
            d(980_658_802, 1_882_137_472),
            "980658802.1882137472 sec (Sun 28 Jan 2001 05:13:22 GMT)"
        );
        assert_eq!(
            d(1_027_664_341, 625_073_000),
            "1027664341.625073000 sec (Fri 26 Jul 2002 06:19:01 GMT)"
        );
        assert_eq!(
            d(951_782_400, 0),
            "951782400.000000000 sec (Tue 29 Feb 2000 00:00:00 GMT)"
        );
        // Compare the civil conversion with glibc gmtime_r + strftime over a wide range.
        let mut r = XorShift(4242);
        for i in 0..20_000u64 {
            let t = if i < 2000 {
                i * 86_399 * 37
            } else {
                r.next() % 8_000_000_000
            };
            let mut tm: libc::tm = unsafe { std::mem::zeroed() };
            let tt = t as libc::time_t;
            let mut buf = [0 as libc::c_char; 64];
            let fmt = c"%a %d %b %Y %X";
            // SAFETY: valid pointers; gmtime_r fills tm; strftime writes at most 64 bytes.
            let n = unsafe {
                libc::gmtime_r(&tt, &mut tm);
                libc::strftime(buf.as_mut_ptr(), 64, fmt.as_ptr(), &tm)
            };
            // SAFETY: strftime NUL-terminated the string.
            let c = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
                .to_str()
                .unwrap();
            assert!(n > 0);
            let got = d(t, 0);
            let inner = &got[got.find('(').unwrap() + 1..got.len() - 5];
            assert_eq!(inner, c, "t={t}");
        }
    }
}
