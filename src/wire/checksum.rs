//! Internet-checksum arithmetic over little-endian 16-bit words, as T2 does it: the words are
//! added in wrapping u32 arithmetic and folded to 16 bits only at the end (T2 keeps a u32
//! accumulator; with enough data the carries it loses differ from a true ones-complement sum).

/// The sum modulo 2^32 of the little-endian 16-bit words of `s`; an odd last byte counts as a
/// word with a zero high byte.
///
/// Written word by word on purpose: the compiler vectorises this loop (16 bytes per
/// iteration, the words widened into four 32-bit lanes, x86-64 SSE2), which is already
/// cheaper per byte than an 8-byte two-lane SWAR loop (`x & 0x0000ffff0000ffff` plus
/// `(x >> 16) & 0x0000ffff0000ffff` in a u64): written that way it was compiled to scalar
/// partial loads.
#[inline]
pub fn word_sum(s: &[u8]) -> u32 {
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
