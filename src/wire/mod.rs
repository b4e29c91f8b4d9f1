//! Zero-copy views of protocol headers, in the style of smoltcp's `wire` module: a view wraps any
//! `T: AsRef<[u8]>`, `new_checked` refuses a buffer too short for the fixed header
//! ([`Truncated`]) instead of panicking, and accessors read fields at the byte ranges named in
//! each view's `field` module.
//!
//! The dissector also needs T2's lenient reads (fields read past the captured bytes, which T2
//! takes from whatever is in its buffer): [`be16_at`] and friends return 0 there.

pub mod checksum;
pub mod ethernet;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

use core::fmt;

/// A buffer was shorter than the fixed part of the header it was asked to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl fmt::Display for Truncated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("buffer too short for the header")
    }
}

impl std::error::Error for Truncated {}

pub type Result<T> = core::result::Result<T, Truncated>;

/// Byte at `off`, or 0 past the end.
#[inline]
pub fn u8_at(b: &[u8], off: usize) -> u8 {
    b.get(off).copied().unwrap_or(0)
}

/// Big-endian u16 at `off`; bytes past the end read as 0.
#[inline]
pub fn be16_at(b: &[u8], off: usize) -> u16 {
    match off.checked_add(2).and_then(|end| b.get(off..end)) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => (u8_at(b, off) as u16) << 8 | off.checked_add(1).map_or(0, |o| u8_at(b, o)) as u16,
    }
}

/// Big-endian u32 at `off`; bytes past the end read as 0.
#[inline]
pub fn be32_at(b: &[u8], off: usize) -> u32 {
    match off.checked_add(4).and_then(|end| b.get(off..end)) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => {
            (be16_at(b, off) as u32) << 16 | off.checked_add(2).map_or(0, |o| be16_at(b, o)) as u32
        }
    }
}

/// Little-endian u16 at `off`; bytes past the end read as 0.
#[inline]
pub fn le16_at(b: &[u8], off: usize) -> u16 {
    be16_at(b, off).swap_bytes()
}

/// Little-endian u32 at `off`; bytes past the end read as 0.
#[inline]
pub fn le32_at(b: &[u8], off: usize) -> u32 {
    be32_at(b, off).swap_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_reads_past_the_end_give_zero() {
        let b = [0x12, 0x34, 0x56];
        assert_eq!(be16_at(&b, 0), 0x1234);
        assert_eq!(be16_at(&b, 2), 0x5600);
        assert_eq!(be16_at(&b, 3), 0);
        assert_eq!(be32_at(&b, 0), 0x1234_5600);
        assert_eq!(le16_at(&b, 1), 0x5634);
        assert_eq!(u8_at(&b, usize::MAX), 0);
        assert_eq!(be32_at(&b, usize::MAX - 1), 0);
    }
}
