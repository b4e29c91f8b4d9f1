//! Ethernet II / 802.3 frame header.

use super::{Result, Truncated};

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const TYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

pub const HEADER_LEN: usize = field::PAYLOAD;

pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const RARP: u16 = 0x8035;
    pub const AARP: u16 = 0x80f3;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const VLAN_9100: u16 = 0x9100;
    pub const VLAN_9200: u16 = 0x9200;
    pub const IPV6: u16 = 0x86dd;
    pub const MPLS_UC: u16 = 0x8847;
    pub const MPLS_MC: u16 = 0x8848;
    pub const PPPOE_D: u16 = 0x8863;
    pub const PPPOE_S: u16 = 0x8864;
    pub const LLDP: u16 = 0x88cc;
    pub const SLOW: u16 = 0x8809;
    pub const ERSPAN: u16 = 0x88be;
    pub const TEB: u16 = 0x6558;
    pub const PPP: u16 = 0x880b;
    pub const WCCP: u16 = 0x883e;
    pub const JUMBO_LLC: u16 = 0x8870;
    pub const EAPOL: u16 = 0x888e;

    /// 802.1Q/802.1ad tag types T2 unstacks.
    #[inline]
    pub fn is_vlan(t: u16) -> bool {
        matches!(t, VLAN | QINQ | VLAN_9100 | VLAN_9200)
    }
}

/// A view of an Ethernet header at the start of `buffer`.
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(Truncated);
        }
        Ok(Frame { buffer })
    }

    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::DST]
            .try_into()
            .unwrap_or([0; 6])
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::SRC]
            .try_into()
            .unwrap_or([0; 6])
    }

    #[inline]
    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::TYPE];
        u16::from_be_bytes([b[0], b[1]])
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: [u8; 16] = [
        0x10, 0x13, 0x31, 0xf1, 0x39, 0x76, 0xc4, 0x2c, 0x03, 0x06, 0x49, 0xfe, 0x08, 0x00, 0x45,
        0x00,
    ];

    #[test]
    fn fields() {
        let f = Frame::new_checked(&FRAME[..]).unwrap();
        assert_eq!(f.dst_addr(), [0x10, 0x13, 0x31, 0xf1, 0x39, 0x76]);
        assert_eq!(f.src_addr(), [0xc4, 0x2c, 0x03, 0x06, 0x49, 0xfe]);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn truncated() {
        assert_eq!(Frame::new_checked(&FRAME[..13]).unwrap_err(), Truncated);
    }
}
