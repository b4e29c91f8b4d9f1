//! TCP header.

use super::{Result, Truncated};

mod field {
    pub const SRC_PORT: usize = 0;
    pub const DST_PORT: usize = 2;
    pub const SEQ: usize = 4;
    pub const ACK: usize = 8;
    pub const OFF_FLAGS: usize = 12;
    pub const WINDOW: usize = 14;
    pub const CHECKSUM: usize = 16;
    pub const URGENT: usize = 18;
}

pub const MIN_HEADER_LEN: usize = 20;

pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// A view of a TCP header at the start of `buffer`.
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
    fn u32_at(&self, off: usize) -> u32 {
        u32::from_be_bytes([
            self.b()[off],
            self.b()[off + 1],
            self.b()[off + 2],
            self.b()[off + 3],
        ])
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }
    #[inline]
    pub fn seq_number(&self) -> u32 {
        self.u32_at(field::SEQ)
    }
    #[inline]
    pub fn ack_number(&self) -> u32 {
        self.u32_at(field::ACK)
    }
    /// Data offset in bytes (4 × the 4-bit field).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.b()[field::OFF_FLAGS] >> 4) as usize) * 4
    }
    /// The eight classic flag bits (CWR … FIN).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.b()[field::OFF_FLAGS + 1]
    }
    /// The reserved nibble's low bit (NS/AE, RFC 3540).
    #[inline]
    pub fn ns_flag(&self) -> bool {
        self.b()[field::OFF_FLAGS] & 1 != 0
    }
    #[inline]
    pub fn window_len(&self) -> u16 {
        self.u16_at(field::WINDOW)
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        self.u16_at(field::URGENT)
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

    const SYN: [u8; 24] = [
        0xc6, 0x07, 0x64, 0x55, 0xee, 0xc0, 0x16, 0x8c, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xff,
        0xff, 0x12, 0x34, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];

    #[test]
    fn fields() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 50695);
        assert_eq!(p.dst_port(), 25685);
        assert_eq!(p.seq_number(), 0xeec0_168c);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.flags(), flags::SYN);
        assert_eq!(p.window_len(), 65535);
        assert_eq!(p.checksum(), 0x1234);
        assert_eq!(p.options(), &[2, 4, 5, 0xb4]);
        assert!(Packet::new_checked(&SYN[..19]).is_err());
    }
}
