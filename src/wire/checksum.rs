//! Internet-checksum arithmetic over little-endian 16-bit words, as T2 does it: the words are
//! added in wrapping u32 arithmetic and folded to 16 bits only at the end (T2 keeps a u32
//! accumulator; with enough data the carries it loses differ from a true ones-complement sum).

/// The sum modulo 2^32 of the little-endian 16-bit words of `s`; an odd last byte counts as a
/// word with a zero high byte.
///
/// From 128 bytes on, with AVX2 (checked at run time, once), 32 bytes at a time: a quarter of
/// the instructions of [`word_sum_portable`] on a full-size payload, and half its time (39 ns
/// instead of 89 for 1460 bytes). Below, the call and the final reduction outweigh the gain
/// (64 bytes: 5.3 ns instead of 4.1). The order of the additions does not matter: every way of
/// adding the words modulo 2^32 gives the same u32.
#[inline]
pub fn word_sum(s: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if s.len() >= 128 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { x86::word_sum_avx2(s) };
    }
    word_sum_portable(s)
}

/// [`word_sum`] without SIMD intrinsics (the reference for the AVX2 version).
///
/// Written word by word on purpose: the compiler vectorises this loop (16 bytes per
/// iteration, the words widened into four 32-bit lanes, x86-64 SSE2), which is already
/// cheaper per byte than an 8-byte two-lane SWAR loop (`x & 0x0000ffff0000ffff` plus
/// `(x >> 16) & 0x0000ffff0000ffff` in a u64): written that way it was compiled to scalar
/// partial loads.
#[inline]
pub fn word_sum_portable(s: &[u8]) -> u32 {
    let mut words = s.chunks_exact(2);
    let mut sum = 0u32;
    for w in &mut words {
        sum = sum.wrapping_add(u16::from_le_bytes([w[0], w[1]]) as u32);
    }
    if let [b] = words.remainder() {
        sum = sum.wrapping_add(*b as u32);
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// [`super::word_sum`] with AVX2 (`s` at least 32 bytes long): each 32-bit lane of the
    /// accumulator adds the two words it holds (`lane & 0xffff` and `lane >> 16`) of every
    /// 32-byte block. The last whole words that do not fill a block are summed from the 32
    /// bytes that end with them, the bytes already counted masked off; an odd last byte is
    /// added on its own.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn word_sum_avx2(s: &[u8]) -> u32 {
        let low_words = _mm256_set1_epi32(0xffff);
        let mut acc = _mm256_setzero_si256();
        let even = s.len() & !1;
        let mut blocks = s[..even].chunks_exact(32);
        for b in &mut blocks {
            // SAFETY: `b` is 32 readable bytes; the load has no alignment requirement.
            let v = _mm256_loadu_si256(b.as_ptr().cast::<__m256i>());
            acc = _mm256_add_epi32(acc, _mm256_and_si256(v, low_words));
            acc = _mm256_add_epi32(acc, _mm256_srli_epi32::<16>(v));
        }
        let rest = blocks.remainder().len();
        if rest > 0 {
            // the 32 bytes ending at `even` start at an even offset (even >= 32), so their
            // words are words of `s`; the first 32 - rest of them were counted above
            let last = &s[even - 32..even];
            // SAFETY: `last` is 32 readable bytes, and so is the slice of TAIL_MASK (it starts
            // at `rest` < 32 and the array is 64 bytes long).
            let v = _mm256_loadu_si256(last.as_ptr().cast::<__m256i>());
            let keep = _mm256_loadu_si256(TAIL_MASK[rest..].as_ptr().cast::<__m256i>());
            let v = _mm256_and_si256(v, keep);
            acc = _mm256_add_epi32(acc, _mm256_and_si256(v, low_words));
            acc = _mm256_add_epi32(acc, _mm256_srli_epi32::<16>(v));
        }
        // eight lanes → four → two → one (wrapping, like the lanes themselves)
        let four = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let two = _mm_add_epi32(four, _mm_unpackhi_epi64(four, four));
        let one = _mm_add_epi32(two, _mm_shuffle_epi32::<0b01>(two));
        let odd = if even < s.len() { s[even] as u32 } else { 0 };
        (_mm_cvtsi128_si32(one) as u32).wrapping_add(odd)
    }

    /// The 32 bytes from `TAIL_MASK[n..]` keep the last `n` bytes of a block (`n` < 32).
    static TAIL_MASK: [u8; 64] = {
        let mut m = [0u8; 64];
        let mut i = 32;
        while i < 64 {
            m[i] = 0xff;
            i += 1;
        }
        m
    };
}

/// The carries of a u32 accumulator folded back until 16 bits remain. Two rounds always
/// suffice for a u32 (the first leaves at most 0xffff + 0xffff, the second at most 0xffff),
/// and a round on a value below 2^16 changes nothing, so this is T2's
/// fold-while-above-16-bits loop without the branches.
#[inline]
pub fn fold(a: u32) -> u16 {
    let a = (a & 0xffff) + (a >> 16);
    ((a & 0xffff) + (a >> 16)) as u16
}

/// [`word_sum`] of `d[base..base + len]` (bytes past the end of `d` count as 0), given
/// `all = word_sum(&d[base..])`: the words after the range are taken back out, and an odd
/// last byte of the range is put back as a low byte. The tail is short in practice (Ethernet
/// padding, trailing bytes), so this reads little of a packet whose sum is already known.
#[inline]
pub fn range_sum_from_tail(d: &[u8], base: usize, all: u32, len: usize) -> u32 {
    let end = base.saturating_add(len);
    if end >= d.len() {
        return all;
    }
    // the range's whole words end at an even distance from `base`, as `all`'s words do
    let even_end = base + (len & !1);
    let mut a = all.wrapping_sub(word_sum(&d[even_end..]));
    if len & 1 == 1 {
        a = a.wrapping_add(d[even_end] as u32);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_sum_on_literal_bytes() {
        assert_eq!(word_sum(&[]), 0);
        assert_eq!(word_sum(&[0x34, 0x12]), 0x1234);
        // an odd last byte is the low byte of its word
        assert_eq!(word_sum(&[0x34, 0x12, 0x56]), 0x1234 + 0x56);
        // carries are kept (u32), not folded
        assert_eq!(word_sum(&[0xff; 8]), 4 * 0xffff);
        assert_eq!(fold(4 * 0xffff), 0xffff);
        assert_eq!(fold(0x0001_fffe), 0xffff);
        assert_eq!(fold(0xffff_ffff), 0xffff);
        assert_eq!(fold(0x1234), 0x1234);
    }

    #[test]
    fn word_sum_equals_the_portable_sum_for_any_length_alignment_and_content() {
        let mut r = crate::testutil::XorShift(0x2545_f491_4f6c_dd1d);
        let mut buf = vec![0u8; 4200];
        for round in 0..30_000 {
            // random bytes, all-ones (the most carries) or mostly ones
            match round % 3 {
                0 => buf.iter_mut().for_each(|b| *b = r.next() as u8),
                1 => buf.fill(0xff),
                _ => buf
                    .iter_mut()
                    .for_each(|b| *b = 0xff ^ (r.below(16) == 0) as u8),
            }
            let start = r.below(64) as usize;
            let len = match r.below(4) {
                0 => r.below(70) as usize,
                1 => r.below(1600) as usize,
                _ => r.below((buf.len() - start) as u64 + 1) as usize,
            };
            let s = &buf[start..start + len];
            assert_eq!(word_sum(s), word_sum_portable(s), "start {start} len {len}");
        }
        // the AVX2 kernel itself on every length it accepts up to 300, every start parity
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            buf.iter_mut().for_each(|b| *b = r.next() as u8);
            for start in 0..2 {
                for len in 32..300 {
                    let s = &buf[start..start + len];
                    // SAFETY: the CPU has AVX2 (checked above).
                    let v = unsafe { x86::word_sum_avx2(s) };
                    assert_eq!(v, word_sum_portable(s), "start {start} len {len}");
                }
            }
        }
        // enough 0xffff words to wrap the u32 and every lane many times
        let big = vec![0xffu8; 1 << 20];
        for len in [(1 << 20) - 1, 1 << 20, 65_537, 131_074] {
            assert_eq!(word_sum(&big[..len]), word_sum_portable(&big[..len]));
        }
    }

    #[test]
    fn range_sums_from_the_whole_tail_agree_with_direct_sums() {
        let mut r = crate::testutil::XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let n = r.below(200) as usize;
            let d = r.bytes(n);
            let base = r.below(n as u64 + 1) as usize;
            // ranges inside, ending at, and running past the captured bytes; odd and even
            let len = r.below(n as u64 + 20) as usize;
            let all = word_sum(&d[base..]);
            let direct = word_sum(&d[base..(base + len).min(n)]);
            assert_eq!(
                range_sum_from_tail(&d, base, all, len),
                direct,
                "n {n} base {base} len {len}"
            );
        }
    }
}
