//! IPv4 header.

use super::{Result, Truncated};

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LEN: usize = 2;
    pub const ID: usize = 4;
    pub const FLG_OFF: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTO: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

pub const MIN_HEADER_LEN: usize = 20;
pub const FLAG_DF: u16 = 0x4000;
pub const FLAG_MF: u16 = 0x2000;
pub const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 header at the start of `buffer` (the 20 fixed bytes must be present; options
/// and payload may be cut by the capture).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < MIN_HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Packet { buffer })
    }

    #[inline]
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    fn u16_at(&self, off: usize) -> u16 {
        u16::from_be_bytes([self.b()[off], self.b()[off + 1]])
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.b()[field::VER_IHL] & 0x0f) as usize) * 4
    }
    #[inline]
    pub fn tos(&self) -> u8 {
        self.b()[field::TOS]
    }
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LEN)
    }
    #[inline]
    pub fn ident(&self) -> u16 {
        self.u16_at(field::ID)
    }
    /// The raw flags + fragment offset word.
    #[inline]
    pub fn frag_word(&self) -> u16 {
        self.u16_at(field::FLG_OFF)
    }
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        self.frag_word() & OFFSET_MASK
    }
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.frag_word() & FLAG_MF != 0
    }
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.frag_word() & FLAG_DF != 0
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTO]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    #[inline]
    pub fn src_addr(&self) -> [u8; 4] {
        self.b()[field::SRC..field::SRC + 4]
            .try_into()
            .unwrap_or([0; 4])
    }
    #[inline]
    pub fn dst_addr(&self) -> [u8; 4] {
        self.b()[field::DST..field::DST + 4]
            .try_into()
            .unwrap_or([0; 4])
    }
    /// Option bytes as far as they were captured.
    #[inline]
    pub fn options(&self) -> &[u8] {
        let end = self.header_len().min(self.b().len());
        if end <= MIN_HEADER_LEN {
            &[]
        } else {
            &self.b()[MIN_HEADER_LEN..end]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 192.168.1.212 -> 90.130.70.73, TCP, DF, TTL 64, ID 0x1c46, with one NOP+EOL option word.
    const HDR: [u8; 24] = [
        0x46, 0x08, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0xb1, 0xe6, 0xc0, 0xa8, 0x01,
        0xd4, 0x5a, 0x82, 0x46, 0x49, 0x01, 0x01, 0x00, 0x00,
    ];

    #[test]
    fn fields() {
        let p = Packet::new_checked(&HDR[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.tos(), 8);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag() && !p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 6);
        assert_eq!(p.checksum(), 0xb1e6);
        assert_eq!(p.src_addr(), [192, 168, 1, 212]);
        assert_eq!(p.dst_addr(), [90, 130, 70, 73]);
        assert_eq!(p.options(), &[1, 1, 0, 0]);
    }

    #[test]
    fn truncated_and_short_options() {
        assert!(Packet::new_checked(&HDR[..19]).is_err());
        let p = Packet::new_checked(&HDR[..22]).unwrap();
        assert_eq!(p.options(), &[1, 1]);
    }
}
