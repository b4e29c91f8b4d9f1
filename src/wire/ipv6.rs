//! IPv6 fixed header.

use super::{Result, Truncated};

mod field {
    pub const VER_TC_FL: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

pub const HEADER_LEN: usize = 40;

/// A view of an IPv6 header at the start of `buffer`.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Packet { buffer })
    }

    #[inline]
    fn b(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.b()[field::VER_TC_FL] >> 4
    }
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (u16::from_be_bytes([self.b()[0], self.b()[1]]) >> 4) as u8
    }
    #[inline]
    pub fn flow_label(&self) -> u32 {
        u32::from_be_bytes([0, self.b()[1] & 0x0f, self.b()[2], self.b()[3]])
    }
    #[inline]
    pub fn payload_len(&self) -> u16 {
        u16::from_be_bytes([
            self.b()[field::PAYLOAD_LEN],
            self.b()[field::PAYLOAD_LEN + 1],
        ])
    }
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HDR]
    }
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }
    #[inline]
    pub fn src_addr(&self) -> [u8; 16] {
        self.b()[field::SRC..field::SRC + 16]
            .try_into()
            .unwrap_or([0; 16])
    }
    #[inline]
    pub fn dst_addr(&self) -> [u8; 16] {
        self.b()[field::DST..field::DST + 16]
            .try_into()
            .unwrap_or([0; 16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let mut h = [0u8; 40];
        h[0] = 0x6a;
        h[1] = 0xb1;
        h[2] = 0x23;
        h[3] = 0x45;
        h[4] = 0x00;
        h[5] = 0x20;
        h[6] = 17;
        h[7] = 64;
        h[8] = 0x20;
        h[9] = 0x01;
        h[39] = 1;
        let p = Packet::new_checked(&h[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xab);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 32);
        assert_eq!(p.next_header(), 17);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr()[..2], [0x20, 0x01]);
        assert_eq!(p.dst_addr()[15], 1);
        assert!(Packet::new_checked(&h[..39]).is_err());
    }
}
