//! Packet dissection exactly as T2 0.9.3 does it (spec/core.md sections 2–8): link layer,
//! VLAN/MPLS/PPPoE/LLC, IPv4/IPv6 with extension headers, the tunnels T2 decapsulates by
//! default, the header description, the flow key and the length bookkeeping.
//!
//! The dissector only reads the packet; it produces a [`PacketInfo`] (offsets, key, status bits,
//! lengths) and the hdrDesc text. Everything that depends on flow state (lookup, fragments,
//! DUPIPID, A/B) happens in the worker that owns the flow.

mod fast;
pub mod hdrdesc;

pub use fast::desc_template_text;
pub mod names;

use crate::flowstat::*;
use crate::wire::{be16_at, be32_at, le16_at, le32_at, u8_at};
use hdrdesc::HdrDesc;

/// Marker for "no such header" in the offset fields.
pub const NONE: u32 = u32::MAX;

/// What the packet becomes after dissection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlowClass {
    /// Dropped before any flow (caplen 0, short link header, bad IHL, unknown family, …).
    #[default]
    NoFlow,
    /// A layer-2 flow (ARP, LLDP, LLC, unknown EtherTypes, bad IP version, …).
    L2,
    /// An IPv4 or IPv6 flow (innermost decoded IP header).
    Ip,
}

/// The flow key (core.md 7.1). For L2 flows the MACs are kept in `src`/`dst` (first 6 bytes),
/// and `l2` tells the two kinds apart so they can never be equal.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct FlowKey {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub eth_type: u16,
    pub vlan: u16,
    pub proto: u8,
    pub l2: bool,
    /// IP version of the addresses (4 or 6), 0 for L2 flows. Not part of T2's key, but equal
    /// for equal keys (it follows eth_type).
    pub ip_ver: u8,
    pub _pad: u8,
}

impl PartialEq for FlowKey {
    /// Compared as a few machine words: this runs for every packet's lookup.
    #[inline]
    fn eq(&self, o: &FlowKey) -> bool {
        u128::from_ne_bytes(self.src) == u128::from_ne_bytes(o.src)
            && u128::from_ne_bytes(self.dst) == u128::from_ne_bytes(o.dst)
            && self.tail() == o.tail()
            && self.proto == o.proto
            && self.l2 == o.l2
    }
}

impl Eq for FlowKey {}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write(&self.src);
        h.write(&self.dst);
        h.write_u64(self.tail());
        h.write_u8(self.proto);
        h.write_u8(self.l2 as u8);
    }
}

impl FlowKey {
    /// Ports, EtherType and VLAN packed in one word (protocol and kind are compared apart).
    #[inline]
    pub fn tail(&self) -> u64 {
        (self.sport as u64)
            | (self.dport as u64) << 16
            | (self.eth_type as u64) << 32
            | (self.vlan as u64) << 48
    }

    /// The key of the opposite direction.
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..*self
        }
    }

    /// A hash that is the same for both directions and ignores ports and protocol, so that
    /// both directions, every fragment of a datagram and the same inner flow seen through
    /// different tunnels reach the same worker.
    ///
    /// Which worker a flow goes to shows in the output where flows tie (the order of flows
    /// flushed at the same time, basicStats' biggest talker): the function must not change.
    #[inline]
    pub fn dispatch_hash(&self) -> u64 {
        // mix64(0) == 0: the upper halves of IPv4 (and L2) addresses need no mixing
        let half = |a: &[u8; 16]| {
            let lo = u64::from_le_bytes(a[..8].try_into().unwrap_or([0; 8]));
            let hi = u64::from_le_bytes(a[8..].try_into().unwrap_or([0; 8]));
            let hi = if hi == 0 {
                0
            } else {
                mix64(hi.rotate_left(17))
            };
            mix64(lo) ^ hi
        };
        let (a, b) = (half(&self.src), half(&self.dst));
        mix64(a.wrapping_add(b) ^ ((self.eth_type as u64) << 16 | self.vlan as u64))
    }
}

/// A strong 64-bit finaliser (splitmix64's). Maps 0 to 0.
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// IP fragment role of a packet (core.md 8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Frag {
    #[default]
    None,
    /// Offset 0 and MF set.
    First,
    /// Offset ≠ 0.
    Later,
}

/// Everything the flow stage and the plugins need to know about one dissected packet.
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketInfo {
    pub class: FlowClass,
    pub key: FlowKey,
    /// Packet status (flowStat bits) from dissection.
    pub status: u64,
    /// The packet's ethType (innermost L3 type, EtherType or LLC DSAP·SSAP).
    pub eth_type: u16,
    pub l4_proto: u8,
    /// IP version of the innermost header (4/6), 0 for L2 packets.
    pub ip_ver: u8,
    pub sport: u16,
    pub dport: u16,
    /// Offsets from the packet start ([`NONE`] when absent). `l2` is the current (innermost
    /// decoded) Ethernet-like header, `l3` the innermost IP header.
    pub l2: u32,
    pub l3: u32,
    pub l4: u32,
    pub l7: u32,
    /// Start of the VLAN tag block basicFlow records (the type field before the first tag).
    pub vlan_blk: u32,
    /// IPv4 IHL in bytes / IPv6 header chain length.
    pub l3_hdr_len: u32,
    pub l4_hdr_off: u32,
    pub l3_len: u32,
    pub snap_l3_len: u32,
    pub snap_l4_len: u32,
    pub snap_l7_len: u32,
    pub l7_len: u16,
    pub udp_len: u16,
    /// The length basicStats counts (PACKETLENGTH=3).
    pub stat_len: u16,
    pub pad: i64,
    pub frag: Frag,
    pub frag_id: u32,
    pub frag_mf: bool,
    /// IPv4 identification of the innermost header (for DUPIPID), when IPv4.
    pub ip_id: Option<u16>,
    /// TCP flags byte when the packet has a TCP header.
    pub tcp_flags: u8,
    pub num_hdrs: u16,
    /// An LLC header was recorded (counts in "Number of LLC packets").
    pub llc: bool,
    /// DTLS records seen (report counts records).
    pub dtls_records: u16,
    /// IPv6 fragment headers met in the walk (T2 counts them here and again in the flow stage).
    pub v6_frag_walk: u16,
    pub bytes_on_wire: u64,
    /// The word sum ([`crate::wire::checksum::word_sum`]) of the bytes from `l4` to the end of
    /// the capture, when a plugin asked for it ([`crate::plugin::Plugin::wants_l4_word_sum`]):
    /// computed where the packet is read, while its bytes are in that core's cache, like a
    /// NIC's CHECKSUM_COMPLETE; the plugin's checksum then needs no pass over the payload.
    pub l4_word_sum: Option<u32>,
}

impl PacketInfo {
    /// The state before dissection: no layer found yet.
    fn unset() -> PacketInfo {
        PacketInfo {
            l2: NONE,
            l3: NONE,
            l4: NONE,
            l7: NONE,
            vlan_blk: NONE,
            ..Default::default()
        }
    }

    pub fn has(&self, bits: u64) -> bool {
        self.status & bits != 0
    }
}

/// One-time warnings the dissector raises, reported by the caller in processing order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// First L3 snap: (snapL2Len, snapL3Len, l3Len, outer IPv6).
    L3Snap {
        snap_l2: i64,
        snap_l3: i64,
        l3_len: u32,
        outer6: bool,
    },
    NullFamily(u32),
    RawVersion(u8),
    UnsupportedPpiDlt(u32),
}

/// Link types the dissector knows (values of pcap LINKTYPE_*/DLT_*).
pub mod dlt {
    pub const NULL: u32 = 0;
    pub const EN10MB: u32 = 1;
    pub const PPP: u32 = 9;
    pub const RAW: u32 = 12;
    pub const RAW_14: u32 = 14;
    pub const LOOP: u32 = 108;
    pub const PPP_SERIAL: u32 = 50;
    pub const PPP_HDLC: u32 = 51;
    pub const RAW_101: u32 = 101;
    pub const C_HDLC: u32 = 104;
    pub const FRELAY: u32 = 107;
    pub const LINUX_SLL: u32 = 113;
    pub const PPI: u32 = 192;
    pub const PPP_WITH_DIR: u32 = 204;
    pub const C_HDLC_WITH_DIR: u32 = 205;
    pub const FRELAY_WITH_DIR: u32 = 206;
    pub const IPV4: u32 = 228;
    pub const IPV6: u32 = 229;
    pub const ETHERNET_MPACKET: u32 = 274;
    pub const LINUX_SLL2: u32 = 276;
    pub const IEEE802_11: u32 = 105;
    pub const PRISM: u32 = 119;
    pub const IEEE802_11_RADIO: u32 = 127;

    /// Whether packets of this link type can be dissected.
    #[inline]
    pub fn supported(l: u32) -> bool {
        matches!(
            l,
            NULL | EN10MB
                | PPP
                | RAW
                | RAW_14
                | LOOP
                | PPP_SERIAL
                | PPP_HDLC
                | RAW_101
                | C_HDLC
                | FRELAY
                | LINUX_SLL
                | PPI
                | PPP_WITH_DIR
                | C_HDLC_WITH_DIR
                | FRELAY_WITH_DIR
                | IPV4
                | IPV6
                | ETHERNET_MPACKET
                | LINUX_SLL2
                | IEEE802_11
                | PRISM
                | IEEE802_11_RADIO
        )
    }

    /// The DLT value libpcap reports for a pcap LINKTYPE (they differ for raw IP: 101 → 12).
    pub fn as_dlt(l: u32) -> u32 {
        match l {
            RAW_101 => RAW,
            other => other,
        }
    }

    /// libpcap's name and description of a link type, for the report and error messages.
    pub fn name(l: u32) -> (&'static str, &'static str) {
        match l {
            NULL => ("NULL", "BSD loopback"),
            EN10MB => ("EN10MB", "Ethernet"),
            PPP => ("PPP", "PPP"),
            RAW | RAW_14 | RAW_101 => ("RAW", "Raw IP"),
            LOOP => ("LOOP", "OpenBSD loopback"),
            PPP_SERIAL => ("PPP_SERIAL", "PPP over serial"),
            PPP_HDLC => ("PPP_HDLC", "PPP over HDLC"),
            C_HDLC => ("C_HDLC", "Cisco HDLC"),
            FRELAY => ("FRELAY", "Frame Relay"),
            LINUX_SLL => ("LINUX_SLL", "Linux cooked v1"),
            PPI => ("PPI", "Per-Packet Information"),
            PPP_WITH_DIR => ("PPP_WITH_DIR", "PPP with direction"),
            C_HDLC_WITH_DIR => ("C_HDLC_WITH_DIR", "Cisco HDLC with direction"),
            FRELAY_WITH_DIR => ("FRELAY_WITH_DIR", "Frame Relay with direction"),
            IPV4 => ("IPV4", "Raw IPv4"),
            IPV6 => ("IPV6", "Raw IPv6"),
            ETHERNET_MPACKET => ("ETHERNET_MPACKET", "802.3br mPackets"),
            LINUX_SLL2 => ("LINUX_SLL2", "Linux cooked v2"),
            105 => ("IEEE802_11", "802.11"),
            127 => ("IEEE802_11_RADIO", "802.11 plus radiotap header"),
            119 => ("PRISM_HEADER", "802.11 plus Prism header"),
            203 | 177 => ("LINUX_LAPD", "LAPD"),
            _ => ("UNKNOWN", "unknown link type"),
        }
    }
}

/// Dissector state for one packet (cursor positions and what has been found so far).
struct Cx<'a> {
    d: &'a [u8],
    caplen: usize,
    len: u32,
    /// Written in place (see [`Dissector::dissect_into`]).
    info: &'a mut PacketInfo,
    desc: &'a mut HdrDesc,
    /// `snapL2Len` of T2: caplen, reduced by decoders that move `l2` past bytes they skip.
    snap_l2: i64,
    /// The L4 name was already written by a tunnel probe.
    l4_named: bool,
    warnings: &'a mut Vec<Warning>,
    warned_snap: bool,
    /// The current IPv4 pass already handled a GRE header (so the L4 switch does not).
    gre_decapsulated: bool,
    /// The packet is dropped without a flow even though an IP header was found.
    dropped: bool,
    bad_version_frames: u64,
    vlan_count: u16,
    mpls_count: u16,
}

const STOP: u64 = STPDSCT;

impl Cx<'_> {
    fn stopped(&self) -> bool {
        self.info.status & STOP != 0
    }
    fn set(&mut self, bits: u64) {
        self.info.status |= bits;
    }
    fn add(&mut self, name: &str) {
        self.desc.add(name, false);
    }
    fn add_ethertype_name(&mut self, t: u16) {
        match names::ethertype(t) {
            Some(n) if n.contains(':') => self.desc.add_multi(n),
            Some(n) => self.add(n),
            None => {
                self.desc.add_unknown_hex(t as u32, 4);
                self.set(STOP);
            }
        }
    }
    fn add_ppp_name(&mut self, p: u16) {
        match names::ppp_proto(p) {
            Some(n) if n.contains(':') => self.desc.add_multi(n),
            Some(n) => self.add(n),
            None => {
                self.desc.add_unknown_hex(p.swap_bytes() as u32, 4);
                self.set(STOP);
            }
        }
    }
    fn add_ip_proto_name(&mut self, p: u8) {
        match names::ip_proto(p) {
            Some("") => {}
            Some(n) => self.add(n),
            None => {
                self.desc.add_unknown_dec(p);
                self.set(STOP);
            }
        }
    }
    fn remaining(&self, off: usize) -> usize {
        self.caplen.saturating_sub(off)
    }

    // ---------------------------------------------------------------- link layer (section 2)

    fn link(&mut self, linktype: u32, ppi_depth: u8) {
        let d = self.d;
        match linktype {
            dlt::EN10MB | dlt::ETHERNET_MPACKET => {
                let mut start = 0usize;
                let mut first = true;
                if linktype == dlt::ETHERNET_MPACKET {
                    self.desc.add("fpp", true);
                    first = false;
                    start = 8;
                }
                if self.caplen < start + 16 {
                    self.set(L2SNAPLENGTH);
                    return;
                }
                if linktype == dlt::EN10MB {
                    let m = &d[..5];
                    if m == [0x01, 0x00, 0x0c, 0x00, 0x00] || m == [0x03, 0x00, 0x0c, 0x00, 0x00] {
                        self.desc.add("isl", true);
                        first = false;
                        if self.caplen < 42 {
                            self.set(L2SNAPLENGTH);
                            return;
                        }
                        start = 26;
                    }
                }
                self.desc.add("eth", first);
                self.info.l2 = start as u32;
                self.ethertype_at(start + 12, true);
            }
            dlt::NULL | dlt::LOOP => {
                self.desc.add("null", true);
                if self.caplen < 4 {
                    self.set(L2SNAPLENGTH);
                    return;
                }
                self.set(L2_NO_ETH);
                self.info.l2 = 0;
                let mut fam = le32_at(d, 0);
                if fam > 30 {
                    fam = fam.swap_bytes();
                }
                match fam {
                    2 => self.ipv4(4),
                    10 | 23 | 24 | 26 | 28 | 30 => self.ipv6(4),
                    _ => self.warnings.push(Warning::NullFamily(fam)),
                }
            }
            dlt::RAW | dlt::RAW_14 | dlt::RAW_101 => {
                self.desc.add("raw", true);
                self.set(L2_NO_ETH);
                self.info.l2 = 0;
                match u8_at(d, 0) >> 4 {
                    4 => self.ipv4(0),
                    6 => self.ipv6(0),
                    v => self.warnings.push(Warning::RawVersion(v)),
                }
            }
            dlt::IPV4 => {
                self.set(L2_NO_ETH);
                self.info.l2 = 0;
                self.ipv4(0);
            }
            dlt::IPV6 => {
                self.set(L2_NO_ETH);
                self.info.l2 = 0;
                self.ipv6(0);
            }
            dlt::LINUX_SLL => {
                self.desc.add("sll", true);
                if self.caplen < 16 {
                    self.set(L2SNAPLENGTH);
                    return;
                }
                self.info.l2 = 0;
                self.ethertype_at(14, true);
            }
            dlt::LINUX_SLL2 => {
                // T2 0.9.3 has no SLL2 decoder; we read it like SLL (protocol at 0, 20-byte header)
                // and show the link-layer address bytes as MACs as T2 does for SLL.
                self.desc.add("sll2", true);
                if self.caplen < 20 {
                    self.set(L2SNAPLENGTH);
                    return;
                }
                self.info.l2 = 0;
                self.ethertype_from(be16_at(d, 0), 20, true);
            }
            dlt::PPP | dlt::PPP_SERIAL | dlt::PPP_HDLC | dlt::PPP_WITH_DIR => {
                self.desc.add("ppp", true);
                let start = if linktype == dlt::PPP_WITH_DIR { 1 } else { 0 };
                self.info.l2 = 0;
                self.set(L2_NO_ETH | L2_PPP);
                if self.caplen < start + 2 {
                    self.set(L2SNAPLENGTH);
                    return;
                }
                let (b0, b1) = (u8_at(d, start), u8_at(d, start + 1));
                if (b0 == 0x0f || b0 == 0x8f) && b1 == 0x00 {
                    self.add("chdlc");
                    self.ethertype_at(start + 2, true);
                    return;
                }
                let (proto, payload) = if b0 == 0xff && b1 == 0x03 {
                    (be16_at(d, start + 2), start + 4)
                } else {
                    (be16_at(d, start), start + 2)
                };
                self.ppp_payload(proto, payload);
            }
            dlt::C_HDLC | dlt::C_HDLC_WITH_DIR | dlt::FRELAY | dlt::FRELAY_WITH_DIR => {
                let fr = linktype == dlt::FRELAY || linktype == dlt::FRELAY_WITH_DIR;
                self.desc.add(if fr { "fr" } else { "chdlc" }, true);
                let start = if linktype == dlt::C_HDLC_WITH_DIR || linktype == dlt::FRELAY_WITH_DIR
                {
                    1
                } else {
                    0
                };
                self.set(L2_NO_ETH);
                self.info.l2 = 0;
                if self.caplen < start + 4 {
                    self.set(L2SNAPLENGTH);
                    return;
                }
                self.ethertype_at(start + 2, true);
            }
            dlt::IEEE802_11 | dlt::IEEE802_11_RADIO | dlt::PRISM => {
                let skip = match linktype {
                    dlt::IEEE802_11_RADIO => {
                        self.desc.add("radiotap", true);
                        le16_at(d, 2) as usize
                    }
                    dlt::PRISM => {
                        self.desc.add("prism", true);
                        144
                    }
                    _ => 0,
                };
                if self.caplen < skip + 24 {
                    self.set(L2SNAPLENGTH);
                    return;
                }
                // the MAC columns show bytes of the 802.11 header, as in T2
                self.info.l2 = skip as u32;
                if !self.wlan_frame(skip, false) && self.info.class == FlowClass::NoFlow {
                    // management, control and protected frames get no flow
                    self.dropped = true;
                }
            }
            dlt::PPI => {
                let plen = le16_at(d, 2) as usize;
                if ppi_depth > 0 || self.caplen < plen + 1 {
                    self.set(L2SNAPLENGTH);
                    return;
                }
                let inner = le32_at(d, 4);
                if !dlt::supported(inner) || inner == dlt::PPI {
                    self.warnings.push(Warning::UnsupportedPpiDlt(inner));
                    return;
                }
                self.desc.add("ppi", true);
                // Dissect the inner frame as if it started at `plen`, then shift the offsets.
                self.ppi_inner(inner, plen);
            }
            _ => {}
        }
    }

    fn ppi_inner(&mut self, inner: u32, plen: usize) {
        let mut info = PacketInfo::unset();
        let (snap, bad, vlans, mpls, warned) = {
            let mut cx = Cx {
                d: &self.d[plen..],
                caplen: self.caplen - plen,
                len: self.len.saturating_sub(plen as u32),
                info: &mut info,
                desc: &mut *self.desc,
                snap_l2: (self.caplen - plen) as i64,
                l4_named: false,
                warnings: &mut *self.warnings,
                warned_snap: self.warned_snap,
                gre_decapsulated: false,
                dropped: false,
                bad_version_frames: 0,
                vlan_count: 0,
                mpls_count: 0,
            };
            cx.link(inner, 1);
            if cx.dropped {
                cx.info.class = FlowClass::NoFlow;
            }
            (
                cx.snap_l2,
                cx.bad_version_frames,
                cx.vlan_count,
                cx.mpls_count,
                cx.warned_snap,
            )
        };
        let shift = |o: u32| if o == NONE { NONE } else { o + plen as u32 };
        *self.info = PacketInfo {
            l2: shift(info.l2),
            l3: shift(info.l3),
            l4: shift(info.l4),
            l7: shift(info.l7),
            vlan_blk: shift(info.vlan_blk),
            ..info
        };
        self.snap_l2 = snap;
        self.bad_version_frames += bad;
        self.vlan_count += vlans;
        self.mpls_count += mpls;
        self.warned_snap = warned;
    }

    fn ppp_payload(&mut self, proto: u16, payload: usize) {
        match proto {
            0x0021 => {
                self.add("ipv4");
                self.ipv4_after_name(payload)
            }
            0x0057 => self.ipv6(payload),
            0x0281 | 0x0283 => self.ethertype_from(
                if proto == 0x0281 { 0x8847 } else { 0x8848 },
                payload,
                false,
            ),
            _ => {
                self.add_ppp_name(proto);
            }
        }
    }

    // ---------------------------------------------------------------- layer 2 (section 3)

    /// VLAN processing (3.1) starting at the type field at `pos`; returns the position of the
    /// final type field.
    fn vlans(&mut self, mut pos: usize) -> usize {
        let d = self.d;
        let start = pos;
        let mut count = 0u16;
        while ethertype_is_vlan(be16_at(d, pos)) && pos + 4 <= self.caplen {
            self.set(L2_VLAN);
            let vid = be16_at(d, pos + 2) & 0x0fff;
            if vid == 0 {
                self.set(FS_VLAN0);
            }
            self.info.key.vlan = vid;
            pos += 4;
            count += 1;
        }
        if count > 0 {
            self.info.vlan_blk = start as u32;
            self.desc.add_repeated("vlan", count);
            self.vlan_count += count;
        }
        pos
    }

    /// Starts layer-2 dissection at a type field (Ethernet, SLL, C-HDLC, PPP-in-HDLC).
    fn ethertype_at(&mut self, pos: usize, outer: bool) {
        let pos = self.vlans(pos);
        let t = be16_at(self.d, pos);
        if outer && (t <= 1500 || t == 0x8870) {
            self.llc(pos, t);
            return;
        }
        self.ethertype_from(t, pos + 2, outer);
    }

    /// 802.3 length / LLC / SNAP (3.2). `pos` is at the length field.
    fn llc(&mut self, pos: usize, length_field: u16) {
        let d = self.d;
        self.add("llc");
        self.info.llc = true;
        let dsap = u8_at(d, pos + 2);
        let ssap = u8_at(d, pos + 3);
        if dsap == 0xaa && ssap == 0xaa {
            let t = be16_at(d, pos + 8);
            self.ethertype_from(t, pos + 10, false);
            return;
        }
        let ctrl = u8_at(d, pos + 4);
        let hlen = if ctrl & 3 == 3 { 5 } else { 6 };
        if dsap == 0x06 {
            match u8_at(d, pos + hlen) >> 4 {
                4 => {
                    self.add("ipv4");
                    self.ipv4_after_name(pos + hlen);
                    return;
                }
                6 => {
                    self.ipv6(pos + hlen);
                    return;
                }
                _ => {
                    self.add("ipvx");
                    self.set(L3_IPVX);
                }
            }
        } else {
            match names::llc_sap(dsap) {
                Some("") => {}
                Some(n) => self.add(n),
                None => {
                    self.desc.add_unknown_hex(dsap as u32, 2);
                    self.set(STOP);
                }
            }
        }
        self.info.eth_type = (dsap as u16) << 8 | ssap as u16;
        let payload = pos + hlen;
        if self.len <= 64 {
            // pad = len - lengthField - E, E = offset of the byte after the length field
            let pad = self.len as i64 - length_field as i64 - (pos + 2) as i64;
            if pad > 0 {
                self.info.pad = pad;
            }
        }
        self.l2_flow(payload);
    }

    /// EtherType dispatch (3.3): `t` is the type, `payload` where its payload starts.
    fn ethertype_from(&mut self, t: u16, payload: usize, _outer: bool) {
        let d = self.d;
        match t {
            0x0800 => {
                if u8_at(d, payload) >> 4 != 4 {
                    self.add("ipvx");
                    self.set(L3_IPVX);
                    self.info.eth_type = t;
                    self.bad_version_frames += 1;
                    self.l2_flow(payload);
                } else {
                    self.add("ipv4");
                    self.ipv4_after_name(payload);
                }
            }
            0x86dd => {
                if u8_at(d, payload) >> 4 != 6 {
                    self.add("ipvx");
                    self.set(L3_IPVX);
                    self.info.eth_type = t;
                    self.bad_version_frames += 1;
                    self.l2_flow(payload);
                } else {
                    self.ipv6(payload);
                }
            }
            0x80f3 => self.l2_named("aarp", L2_ARP, t, payload),
            0x0806 => self.l2_named("arp", L2_ARP, t, payload),
            0x8035 => self.l2_named("rarp", L2_RARP, t, payload),
            0x8847 | 0x8848 => self.mpls(t, payload),
            0x88be => {
                self.set(L2_ERSPAN);
                self.add("erspan");
                self.add("eth");
                let inner = payload + 8;
                self.info.l2 = inner as u32;
                let t2 = be16_at(d, inner + 12);
                self.ethertype_from(t2, inner + 14, false);
            }
            0x8863 => self.l2_named("pppoed", L2_PPPOE_D, t, payload),
            0x8864 => {
                self.add("pppoes");
                self.add("ppp");
                self.set(L2_PPPOE_S);
                let proto = be16_at(d, payload + 6);
                match proto {
                    0x0021 => {
                        self.add("ipv4");
                        self.ipv4_after_name(payload + 8);
                    }
                    0x0057 => self.ipv6(payload + 8),
                    _ => {
                        self.add_ppp_name(proto);
                        self.info.eth_type = t;
                        self.l2_flow(payload);
                    }
                }
            }
            0x88cc => self.l2_named("lldp", L2_LLDP, t, payload),
            0x8809 => {
                self.add("slow");
                match u8_at(d, payload) {
                    1 => self.add("lacp"),
                    2 => self.add("marker"),
                    3 => self.add("oampdu"),
                    10 => self.add("ossp"),
                    _ => {}
                }
                self.info.eth_type = t;
                self.l2_flow(payload);
            }
            _ => {
                self.add_ethertype_name(t);
                self.info.eth_type = t;
                self.l2_flow(payload);
            }
        }
    }

    fn l2_named(&mut self, name: &str, bit: u64, t: u16, payload: usize) {
        self.add(name);
        self.set(bit);
        self.info.eth_type = t;
        self.l2_flow(payload);
    }

    fn mpls(&mut self, t: u16, payload: usize) {
        let d = self.d;
        self.set(if t == 0x8847 {
            L2_MPLS_UCAST
        } else {
            L2_MPLS_MCAST
        });
        let mut pos = payload;
        let mut count = 1u16;
        while u8_at(d, pos + 2) & 1 == 0 && pos + 4 <= self.caplen {
            pos += 4;
            count += 1;
        }
        pos += 4;
        self.desc.add_repeated("mpls", count);
        self.mpls_count += count;
        match u8_at(d, pos) >> 4 {
            4 => {
                self.add("ipv4");
                self.ipv4_after_name(pos);
            }
            6 => self.ipv6(pos),
            n => {
                if n == 0 {
                    self.add("pwethcw");
                    pos += 4;
                }
                self.add("eth");
                self.info.l2 = pos as u32;
                let p = self.vlans(pos + 12);
                let t2 = be16_at(d, p);
                self.ethertype_from(t2, p + 2, false);
            }
        }
    }

    /// The packet ends at layer 2 (3.4): payload starts at `payload`.
    fn l2_flow(&mut self, payload: usize) {
        if self.info.eth_type == 0x0806 && self.len <= 64 {
            let pad = self.len as i64 - 28 - payload as i64;
            if pad > 0 {
                self.info.pad = pad;
            }
        } else if !self.info.llc && self.len <= 64 {
            let pad = self.len as i64 - payload as i64;
            if pad > 0 {
                self.info.pad = pad;
            }
        }
        self.info.class = FlowClass::L2;
        self.set(L2_FLOW);
        let l2 = if self.info.l2 == NONE {
            0
        } else {
            self.info.l2 as usize
        };
        self.info.l7 = payload as u32;
        let l7len = (self.len as i64 - payload as i64) as u16;
        self.info.l7_len = l7len;
        self.info.stat_len = l7len;
        let snap = (self.snap_l2 - (payload as i64 - l2 as i64)).max(0) as u32;
        self.info.snap_l3_len = snap;
        self.info.snap_l4_len = snap;
        self.info.snap_l7_len = snap;
        let k = &mut self.info.key;
        k.l2 = true;
        k.ip_ver = 0;
        k.eth_type = self.info.eth_type;
        k.src = [0; 16];
        k.dst = [0; 16];
        k.src[..6].copy_from_slice(&mac_at(self.d, l2 + 6));
        k.dst[..6].copy_from_slice(&mac_at(self.d, l2));
        k.sport = 0;
        k.dport = 0;
        k.proto = 0;
    }

    // ---------------------------------------------------------------- IPv4 (4.1)

    /// IPv4 reached through a path that already wrote the ":ipv4" name.
    fn ipv4_after_name(&mut self, l3: usize) {
        self.ipv4_inner(l3, true)
    }

    /// IPv4 dissection entry that writes the ":ipv4" name itself.
    fn ipv4(&mut self, l3: usize) {
        self.ipv4_inner(l3, false)
    }

    fn ipv4_inner(&mut self, l3_start: usize, named: bool) {
        let d = self.d;
        // a new IPv4 pass: the outer pass's L4 name, GRE state and ports do not apply
        self.l4_named = false;
        self.gre_decapsulated = false;
        self.info.sport = 0;
        self.info.dport = 0;
        self.info.eth_type = 0x0800;
        self.set(FS_IPV4_PKT);
        if !named {
            self.add("ipv4");
        }
        let mut l3 = l3_start;
        let ihl = (u8_at(d, l3) & 0x0f) as usize * 4;
        if ihl < 20 {
            self.set(IPV4_HL_TOO_SHORT);
            return;
        }
        let later = be16_at(d, l3 + 6) & 0x1fff != 0;
        if later {
            self.set(STOP);
        }
        let mut ihl_cur = ihl;
        if !later {
            // tunnel probes on transport ports
            if self.tunnel_probes(l3, ihl) {
                return;
            }
            // GRE / EtherIP / IP-in-IP on the current header, possibly several times in a row
            loop {
                if self.stopped() {
                    break;
                }
                let proto = u8_at(d, l3 + 9);
                let cur_ihl = (u8_at(d, l3) & 0x0f) as usize * 4;
                match proto {
                    47 => match self.gre_v4(l3, cur_ihl) {
                        GreResult::InnerIpv4(inner) => {
                            l3 = inner;
                            ihl_cur = (u8_at(d, l3) & 0x0f) as usize * 4;
                            if u8_at(d, l3) >> 4 != 4 {
                                break;
                            }
                            // only one GRE level in the same pass (GRE-in-GRE goes to the L4 switch)
                            if u8_at(d, l3 + 9) == 47 {
                                break;
                            }
                            continue;
                        }
                        GreResult::Done => return,
                        GreResult::Outer => break,
                    },
                    97 if u8_at(d, l3 + cur_ihl) >> 4 >= 3 => {
                        let eth = l3 + cur_ihl + 2;
                        self.add("etherip");
                        self.add("eth");
                        self.set(L3_ETHIPF);
                        self.snap_l2 -= (eth as i64) - self.cur_l2() as i64;
                        self.info.l2 = eth as u32;
                        let p = self.vlans(eth + 12);
                        let t = be16_at(d, p);
                        match t {
                            0x0800 => {
                                self.add("ipv4");
                                l3 = p + 2;
                                ihl_cur = (u8_at(d, l3) & 0x0f) as usize * 4;
                                continue;
                            }
                            0x86dd => {
                                self.ipv6(p + 2);
                                return;
                            }
                            _ => {
                                self.add_ethertype_name(t);
                                self.set(STOP);
                                break;
                            }
                        }
                    }
                    4 => {
                        self.set(L3_IPIP);
                        self.add("ipv4");
                        let inner = l3 + cur_ihl;
                        if inner >= self.caplen {
                            self.set(STOP);
                            break;
                        }
                        l3 = inner;
                        ihl_cur = (u8_at(d, l3) & 0x0f) as usize * 4;
                        // the L4 switch handles a second level
                        break;
                    }
                    41 => {
                        self.set(L3_IPIP);
                        let inner = l3 + cur_ihl;
                        if inner >= self.caplen {
                            self.add("ipv6");
                            self.set(FS_IPV6_PKT | STOP);
                            break;
                        }
                        self.ipv6(inner);
                        return;
                    }
                    _ => break,
                }
            }
        }
        if u8_at(d, l3) >> 4 != 4 {
            self.set(L3_IPVX);
            self.add("ipvx");
            return;
        }
        self.ipv4_finish(l3, ihl_cur, later);
    }

    fn cur_l2(&self) -> usize {
        if self.info.l2 == NONE {
            0
        } else {
            self.info.l2 as usize
        }
    }

    /// Lengths (4.4), L4 switch (5.1) and the flow key for the IPv4 header at `l3`.
    fn ipv4_finish(&mut self, l3: usize, ihl: usize, later: bool) {
        let d = self.d;
        let l2 = self.cur_l2();
        let i = l3 as i64 - l2 as i64;
        self.info.l3 = l3 as u32;
        self.info.eth_type = 0x0800;
        self.info.ip_ver = 4;
        self.info.ip_id = Some(be16_at(d, l3 + 4));
        let mut snap_l3 = self.snap_l2 - i;
        let calc_l3 = (self.len as i64 - l3 as i64) as u16 as u32;
        let ip_len = be16_at(d, l3 + 2) as u32;
        let l3_len = if ip_len == 0 || ip_len > calc_l3 {
            calc_l3
        } else {
            ip_len
        };
        if ip_len == 0 && calc_l3 != 0 {
            self.set(IP_PL_MSMTCH);
        }
        let snapped = snap_l3 < l3_len as i64;
        if snapped {
            self.set(L3SNAPLENGTH);
            if !self.warned_snap {
                self.warnings.push(Warning::L3Snap {
                    snap_l2: self.snap_l2,
                    snap_l3,
                    l3_len,
                    outer6: false,
                });
                self.warned_snap = true;
            }
        } else if snap_l3 > l3_len as i64 {
            snap_l3 = l3_len as i64;
            self.snap_l2 = l3_len as i64 + i;
        }
        if l3_len < 20 {
            self.set(L3HDRSHRTLEN);
        }
        self.info.bytes_on_wire += (l3_len as i64 + i).max(0) as u64;
        let proto = u8_at(d, l3 + 9);
        self.info.l4_proto = proto;
        let l4 = l3 + ihl;
        self.info.l4 = l4 as u32;
        self.info.l3_hdr_len = ihl as u32;
        let frag_word = be16_at(d, l3 + 6);
        if later {
            self.info.frag = Frag::Later;
        } else if frag_word & 0x2000 != 0 {
            self.info.frag = Frag::First;
        }
        self.info.frag_id = be16_at(d, l3 + 4) as u32;
        self.info.frag_mf = frag_word & 0x2000 != 0;
        let avail_l4 = self.remaining(l4);
        let l4_hdr_off: usize = if later {
            0
        } else {
            match proto {
                4 => (u8_at(d, l4) & 0x0f) as usize * 4,
                1 => 8,
                6 => {
                    let doff = (u8_at(d, l4 + 12) >> 4) as usize * 4;
                    if snapped && avail_l4 < 20 {
                        20
                    } else {
                        doff
                    }
                }
                47 if !self.gre_decapsulated => gre_header_len(d, l4),
                89 => {
                    if u8_at(d, l4) == 2 {
                        24
                    } else {
                        16
                    }
                }
                132 => 12,
                _ => 8,
            }
        };
        if snapped && avail_l4 < l4_hdr_off {
            self.set(L4HDRSHRTLEN);
        }
        let payload = l3_len as i64 - ihl as i64 - l4_hdr_off as i64;
        if payload < 0 {
            self.set(L4HDRSHRTLEN);
        }
        self.info.stat_len = payload.max(0) as u16;
        self.info.l7_len = payload as u16;
        self.info.l4_hdr_off = l4_hdr_off as u32;
        let l7 = l4 + l4_hdr_off;
        self.info.l7 = l7 as u32;
        let (snap_l4, snap_l7);
        if !snapped {
            snap_l4 = if snap_l3 < ihl as i64 {
                0
            } else {
                l3_len as i64 - ihl as i64
            };
            snap_l7 = if (l4_hdr_off as i64) < snap_l4 {
                snap_l4 - l4_hdr_off as i64
            } else {
                0
            };
        } else {
            snap_l4 = (snap_l3 - ihl as i64).max(0);
            snap_l7 = (snap_l3 - (l7 as i64 - l3 as i64)).max(0);
        }
        self.info.snap_l3_len = snap_l3.max(0) as u32;
        self.info.snap_l4_len = snap_l4.max(0) as u16 as u32;
        self.info.snap_l7_len = snap_l7.max(0) as u32;
        self.info.l3_len = l3_len;
        if self.len <= 64 {
            let pad = self.len as i64 - l3_len as i64 - l3 as i64;
            if pad > 0 {
                self.info.pad = pad;
            }
        }
        let (mut sport, mut dport) = if self.stopped() {
            (self.info.sport, self.info.dport)
        } else {
            (0, 0)
        };
        if !later && matches!(proto, 17 | 136) {
            self.info.udp_len = be16_at(d, l4 + 4);
        }
        if later {
            self.add_ip_proto_name(proto);
            // STOP is already set: keep the protocol name only
        } else if !self.stopped() {
            match proto {
                4 => {
                    // second level of IP-in-IP
                    let inner = l4;
                    self.set(L3_IPIP);
                    if inner >= self.caplen {
                        self.add("ipv4");
                        self.set(STOP);
                    } else {
                        self.ipv4(inner);
                        return;
                    }
                }
                41 => {
                    let inner = l4;
                    self.set(L3_IPIP);
                    if inner >= self.caplen {
                        self.add("ipv6");
                        self.set(STOP);
                    } else {
                        self.ipv6(inner);
                        return;
                    }
                }
                6 => {
                    if !self.l4_named {
                        self.add("tcp");
                    }
                    self.info.tcp_flags = u8_at(d, l4 + 13);
                    if l3_len >= 40 {
                        sport = be16_at(d, l4);
                        dport = be16_at(d, l4 + 2);
                        self.ssdp(sport, dport);
                    } else {
                        self.set(L4HDRSHRTLEN);
                    }
                }
                17 | 136 => {
                    if !self.l4_named {
                        self.add(if proto == 17 { "udp" } else { "udplite" });
                    }
                    self.info.udp_len = be16_at(d, l4 + 4);
                    if l3_len >= 28 {
                        sport = be16_at(d, l4);
                        dport = be16_at(d, l4 + 2);
                        self.dtls(l4 + 8);
                        if !self.ssdp(sport, dport) && (sport == 4500 || dport == 4500) {
                            self.add("udpencap");
                            let p = l4 + 8;
                            if u8_at(d, p) == 0xff && self.info.udp_len == 9 {
                                // NAT keep-alive
                            } else if be32_at(d, p) != 0 {
                                self.add("esp");
                                self.set(L3_IPSEC_ESP);
                            } else {
                                self.add("isakmp");
                            }
                        }
                    } else {
                        self.set(L4HDRSHRTLEN);
                    }
                }
                47 => {
                    // GRE in GRE: the outer GRE was handled in the tunnel pass
                    match self.gre_v4(l3, ihl) {
                        GreResult::Done => return,
                        GreResult::InnerIpv4(inner) => {
                            self.ipv4_after_name(inner);
                            return;
                        }
                        GreResult::Outer => {}
                    }
                }
                50 => {
                    self.add("esp");
                    self.set(L3_IPSEC_ESP);
                }
                51 => {
                    self.add("ah");
                    self.set(L3_IPSEC_AH);
                    let nh = u8_at(d, l4);
                    self.add_ip_proto_name(nh);
                }
                115 => {
                    self.add("l2tp");
                    self.set(L2_L2TP);
                }
                132 => {
                    self.add("sctp");
                    self.set(L4_SCTP);
                    if l3_len >= 36 {
                        sport = be16_at(d, l4);
                        dport = be16_at(d, l4 + 2);
                    }
                }
                2 => {
                    self.add("igmp");
                    match u8_at(d, l4) {
                        0x13 => self.add("dvmrp"),
                        0x14 => self.add("pim"),
                        0xfc..=0xff if be32_at(d, l3 + 16) == 0xe000_0019 => self.add("rgmp"),
                        _ => {}
                    }
                }
                103 => {
                    self.add("pim");
                    if u8_at(d, l4) & 0x0f == 1 {
                        let inner = l4 + 8;
                        match u8_at(d, inner) >> 4 {
                            4 => {
                                self.ipv4(inner);
                                return;
                            }
                            6 => {
                                self.ipv6(inner);
                                return;
                            }
                            _ => {}
                        }
                    }
                }
                _ => self.add_ip_proto_name(proto),
            }
        }
        self.info.sport = sport;
        self.info.dport = dport;
        self.ip_flow(d, l3, 4, proto, sport, dport);
    }

    fn ssdp(&mut self, sport: u16, dport: u16) -> bool {
        if (dport == 1900 && sport > 1024) || (sport == 1900 && dport > 1024) {
            self.add("ssdp");
            self.set(L4_UPNP);
            true
        } else {
            false
        }
    }

    /// DTLS record scan (5.2) starting at `start` (right after the UDP header).
    fn dtls(&mut self, start: usize) {
        let d = self.d;
        let mut pos = start;
        while let Some(name) = dtls_record_at(d, pos, self.caplen) {
            self.add(name);
            self.set(L7_DTLS);
            self.info.dtls_records += 1;
            let rec_len = 13 + be16_at(d, pos + 11) as usize;
            if self.remaining(pos) <= rec_len {
                break;
            }
            pos += rec_len;
        }
    }

    fn ip_flow(&mut self, d: &[u8], l3: usize, ver: u8, proto: u8, sport: u16, dport: u16) {
        self.info.class = FlowClass::Ip;
        let k = &mut self.info.key;
        k.l2 = false;
        k.ip_ver = ver;
        k.proto = proto;
        k.sport = sport;
        k.dport = dport;
        k.src = [0; 16];
        k.dst = [0; 16];
        if ver == 4 {
            k.eth_type = 0x0800;
            k.src[..4].copy_from_slice(&be32_at(d, l3 + 12).to_be_bytes());
            k.dst[..4].copy_from_slice(&be32_at(d, l3 + 16).to_be_bytes());
        } else {
            k.eth_type = 0x86dd;
            for i in 0..16 {
                k.src[i] = u8_at(d, l3 + 8 + i);
                k.dst[i] = u8_at(d, l3 + 24 + i);
            }
        }
    }

    // ---------------------------------------------------------------- tunnels (4.3)

    /// Runs the port-based tunnel probes on the IPv4 header at `l3`. Returns true when a probe
    /// decapsulated (the inner dissection then did everything).
    fn tunnel_probes(&mut self, l3: usize, ihl: usize) -> bool {
        let d = self.d;
        let proto = u8_at(d, l3 + 9);
        if !matches!(proto, 6 | 17 | 132 | 136) {
            return false;
        }
        let l4 = l3 + ihl;
        let sport = be16_at(d, l4);
        let dport = be16_at(d, l4 + 2);
        // T2 keeps these ports when a probe stops the dissection (the flow is then the outer one)
        self.info.sport = sport;
        self.info.dport = dport;
        if sport == 0 || dport == 0 || proto == 136 {
            return false;
        }
        let l4name = match proto {
            6 => "tcp",
            17 => "udp",
            _ => "sctp",
        };
        let udp = proto == 17;
        let ip_total = be16_at(d, l3 + 2) as i64;

        // 1. AYIYA
        if (sport == 5072 && dport > 1024) || (dport == 5072 && sport > 1024) {
            self.name_l4(l4name);
            if proto == 132 {
                self.add("ayiya");
                self.set(STOP);
                return false;
            }
            let l4hdr = if proto == 6 {
                (u8_at(d, l4 + 12) >> 4) as i64 * 4
            } else {
                8
            };
            if ip_total - ihl as i64 - l4hdr - 8 >= 0 {
                let a = l4 + l4hdr as usize;
                let idlen = 1usize << (u8_at(d, a) >> 4);
                let siglen = 4 * (u8_at(d, a + 1) >> 4) as usize;
                let inner = a + 8 + idlen + siglen;
                if inner <= self.caplen {
                    let nh = u8_at(d, a + 3);
                    let nib = u8_at(d, inner) >> 4;
                    match nh {
                        41 if nib == 6 => {
                            self.add("ayiya");
                            self.set(L3_AYIYA);
                            self.ipv6(inner);
                            return true;
                        }
                        4 if nib == 4 => {
                            self.add("ayiya");
                            self.set(L3_AYIYA);
                            self.ipv4(inner);
                            return true;
                        }
                        59 => {
                            self.add("ayiya");
                            self.set(L3_AYIYA | STOP);
                        }
                        _ => self.set(STOP),
                    }
                }
            }
        }
        // 2. GTP
        if !self.stopped()
            && udp
            && (gtp_port(sport) && dport > 1024 || gtp_port(dport) && sport > 1024)
        {
            self.name_l4(l4name);
            self.add("gtp");
            self.set(L3_GTP);
            let g = l4 + 8;
            let b0 = u8_at(d, g);
            if u8_at(d, g + 1) == 0xff {
                let ver = b0 >> 5;
                let inner = match ver {
                    0 => Some(g + 20),
                    1 => {
                        let mut p = g + 8;
                        if b0 & 0x07 != 0 {
                            p += 4;
                            if b0 & 0x04 != 0 {
                                p += 4 * u8_at(d, p - 1) as usize;
                            }
                        }
                        Some(p)
                    }
                    _ => None,
                };
                match inner {
                    Some(p) => match u8_at(d, p) >> 4 {
                        4 => {
                            self.ipv4(p);
                            return true;
                        }
                        6 => {
                            self.ipv6(p);
                            return true;
                        }
                        _ => self.set(STOP),
                    },
                    None => self.set(STOP),
                }
            }
        }
        // 3. VXLAN / VXLAN-GPE
        let vx = |p: u16| matches!(p, 4789 | 4790 | 8472);
        if !self.stopped() && udp && ((vx(sport) && dport > 1024) || vx(dport)) {
            self.name_l4(l4name);
            let v = l4 + 8;
            let gpe = sport == 4790 || dport == 4790;
            if gpe {
                if be16_at(d, v + 1) == 0 && u8_at(d, v + 7) == 0 {
                    self.add("vxlan_gpe");
                    self.set(L3_VXLAN);
                    match u8_at(d, v + 3) {
                        1 => {
                            self.ipv4(v + 8);
                            return true;
                        }
                        2 => {
                            self.ipv6(v + 8);
                            return true;
                        }
                        3 => {
                            if self.inner_ethernet(v + 8, true) {
                                return true;
                            }
                        }
                        5 => {
                            self.add("mpls");
                            self.set(STOP);
                        }
                        _ => self.set(STOP),
                    }
                }
            } else if u8_at(d, v + 1) == 0 && u8_at(d, v + 7) == 0 {
                self.add("vxlan");
                self.set(L3_VXLAN);
                if self.inner_ethernet(v + 8, true) {
                    return true;
                }
            }
        }
        // 4. GENEVE
        if !self.stopped()
            && udp
            && ((sport == 6081 && dport > 1024) || (dport == 6081 && sport > 1024))
        {
            self.name_l4(l4name);
            let g = l4 + 8;
            if u8_at(d, g + 4) == 0 {
                if be16_at(d, g + 2) != 0x6558 {
                    self.set(STOP);
                } else {
                    self.add("geneve");
                    self.set(L3_GENEVE);
                    let optlen = (u8_at(d, g) & 0x3f) as usize * 4;
                    if self.inner_ethernet(g + 8 + optlen, true) {
                        return true;
                    }
                }
            }
        }
        // 5. CAPWAP
        let cw = |p: u16| p == 5246 || p == 5247;
        if !self.stopped() && udp && ((cw(sport) && dport > 1024) || (cw(dport) && sport > 1024)) {
            self.name_l4(l4name);
            if self.capwap(l4 + 8, sport == 5247 || dport == 5247) {
                return true;
            }
        }
        // 6. LWAPP
        let lw = |p: u16| p == 12222 || p == 12223;
        if !self.stopped() && udp && ((lw(sport) && dport > 1024) || (lw(dport) && sport > 1024)) {
            self.name_l4(l4name);
            let mut p = l4 + 8;
            if sport == 12223 || dport == 12223 {
                p += 6;
            }
            self.add("lwapp");
            self.set(L3_CAPWAP);
            if u8_at(d, p) & 0x04 != 0 {
                self.set(STOP);
            } else if self.wlan(p + 6) {
                return true;
            } else {
                self.set(STOP);
            }
        }
        // 7. L2TP
        if !self.stopped() && udp && (sport == 1701 || dport == 1701) {
            self.name_l4(l4name);
            if self.l2tp(l4 + 8) {
                return true;
            }
        }
        // 8. Teredo
        if !self.stopped() && udp && sport > 1024 && dport > 1024 {
            if let Some(p) = teredo_at(d, l4, sport, dport) {
                self.name_l4(l4name);
                self.add("teredo");
                self.set(L3_TRDO);
                self.ipv6(p);
                return true;
            }
        }
        false
    }

    fn name_l4(&mut self, name: &str) {
        if !self.l4_named {
            self.add(name);
            self.l4_named = true;
        }
    }

    /// An inner Ethernet frame of VXLAN/GENEVE (and GPE): returns true if an inner IP was
    /// dissected.
    fn inner_ethernet(&mut self, eth: usize, _vx: bool) -> bool {
        let d = self.d;
        self.add("eth");
        let saved_l2 = self.info.l2;
        let saved_snap = self.snap_l2;
        self.snap_l2 -= eth as i64 - self.cur_l2() as i64;
        self.info.l2 = eth as u32;
        let p = self.vlans(eth + 12);
        let t = be16_at(d, p);
        match t {
            0x0800 => {
                self.ipv4(p + 2);
                true
            }
            0x86dd => {
                self.ipv6(p + 2);
                true
            }
            0x8863 => {
                self.add("pppoed");
                self.restore_l2(saved_l2, saved_snap);
                false
            }
            0x8864 => {
                self.add("pppoes");
                self.add("ppp");
                match be16_at(d, p + 2 + 6) {
                    0x0021 => {
                        self.ipv4(p + 10);
                        true
                    }
                    0x0057 => {
                        self.ipv6(p + 10);
                        true
                    }
                    pp => {
                        self.add_ppp_name(pp);
                        self.restore_l2(saved_l2, saved_snap);
                        false
                    }
                }
            }
            _ => {
                self.add_ethertype_name(t);
                self.restore_l2(saved_l2, saved_snap);
                false
            }
        }
    }

    fn restore_l2(&mut self, l2: u32, snap: i64) {
        self.info.l2 = l2;
        self.snap_l2 = snap;
        self.set(STOP);
    }

    /// CAPWAP (probe 5). `c` is the CAPWAP header. Returns true if an inner IP was dissected.
    fn capwap(&mut self, c: usize, data_port: bool) -> bool {
        let d = self.d;
        if self.remaining(c) < 8 {
            return false;
        }
        let b0 = u8_at(d, c);
        let preamble_type = b0 & 0x0f;
        let version = b0 >> 4;
        if version != 0 {
            return false;
        }
        if preamble_type == 1 {
            self.add(if data_port { "capwap.data" } else { "capwap" });
            self.set(L3_CAPWAP);
            self.add("dtls");
            self.set(STOP | L7_DTLS);
            return false;
        }
        let hlen = ((be16_at(d, c + 1) >> 11) & 0x1f) as usize * 4;
        let wbid = (be16_at(d, c + 2) >> 9) & 0x1f;
        let flags = u8_at(d, c + 3);
        let t_bit = (be16_at(d, c + 2) >> 8) & 1 != 0;
        let f_bit = flags & 0x80 != 0;
        let k_bit = flags & 0x08 != 0;
        if t_bit && wbid != 1 {
            return false;
        }
        self.add(if data_port { "capwap.data" } else { "capwap" });
        self.set(L3_CAPWAP);
        let frag_off = be16_at(d, c + 6) >> 3;
        if !data_port || k_bit || (f_bit && frag_off != 0) {
            self.set(STOP);
            return false;
        }
        let p = c + hlen;
        if !t_bit {
            // 802.3 payload
            return self.inner_ethernet_capwap(p);
        }
        if self.wlan(p) {
            return true;
        }
        self.set(STOP);
        false
    }

    fn inner_ethernet_capwap(&mut self, eth: usize) -> bool {
        self.inner_ethernet(eth, false)
    }

    /// 802.11 data frame inside CAPWAP/LWAPP (l2 is not moved). Returns true if an inner IP
    /// was dissected.
    fn wlan(&mut self, w: usize) -> bool {
        self.wlan_frame(w, true)
    }

    /// 802.11 data frame at `w`. `swapped`: the frame-control word is read in network order
    /// as T2 does inside CAPWAP/LWAPP (the order Cisco controllers send it), so the
    /// type/subtype byte is the second one; native 802.11 link types use the standard order.
    fn wlan_frame(&mut self, w: usize, swapped: bool) -> bool {
        let d = self.d;
        // "wlan" is the first name only for the plain 802.11 link type
        self.desc.add("wlan", true);
        let (fc0, fc1) = if swapped {
            (u8_at(d, w + 1), u8_at(d, w))
        } else {
            (u8_at(d, w), u8_at(d, w + 1))
        };
        let ftype = (fc0 >> 2) & 3;
        let subtype = fc0 >> 4;
        if ftype != 2 || fc1 & 0x40 != 0 || !matches!(subtype, 0..=3 | 8..=11) {
            self.set(STOP);
            return false;
        }
        let mut p = w + if subtype & 0x08 != 0 { 26 } else { 24 };
        if fc1 & 3 == 3 {
            p += 6;
        }
        if be16_at(d, p) == 0 && u8_at(d, p + 2) != 0xaa {
            p += 2;
        }
        // LLC: AA AA 03 + OUI (3) + type, or a 3-byte LLC
        self.add("llc");
        self.info.llc = true;
        let t;
        if u8_at(d, p) == 0xaa && u8_at(d, p + 1) == 0xaa {
            t = be16_at(d, p + 6);
            p += 8;
        } else {
            t = be16_at(d, p + 3);
            p += 5;
        }
        match t {
            0x0800 => {
                self.ipv4(p);
                true
            }
            0x86dd => {
                self.ipv6(p);
                true
            }
            _ if !swapped => {
                // a native 802.11 link continues at the SNAP EtherType like Ethernet
                self.ethertype_from(t, p, false);
                self.info.class == FlowClass::Ip
            }
            0x888e => {
                self.add("eapol");
                self.set(STOP);
                false
            }
            _ => {
                self.add_ethertype_name(t);
                self.set(STOP);
                false
            }
        }
    }

    /// L2TP (probe 7) at `p`. Returns true if an inner IP was dissected.
    fn l2tp(&mut self, mut p: usize) -> bool {
        let d = self.d;
        let b0 = u8_at(d, p);
        let b1 = u8_at(d, p + 1);
        let ver = b1 & 0x0f;
        if b1 >> 4 != 0 || (ver != 2 && ver != 3) {
            return false;
        }
        self.add("l2tp");
        self.set(L2_L2TP);
        if b0 & 0x80 != 0 {
            self.set(STOP);
            return false;
        }
        if ver == 3 {
            p += 4 + 4;
        } else {
            let flags = b0;
            p += 2;
            if flags & 0x40 != 0 {
                p += 2;
            }
            p += 4;
            if flags & 0x08 != 0 {
                p += 4;
            }
            if flags & 0x02 != 0 {
                let off = be16_at(d, p) as usize;
                p += 2 + off;
            }
        }
        if p >= self.caplen {
            self.set(STOP);
            return false;
        }
        let f = u8_at(d, p);
        if f == 0x0f || f == 0x8f {
            self.add("chdlc");
        } else {
            self.add("ppp");
        }
        self.set(L2_PPP);
        // skip address/control
        if (u8_at(d, p) == 0xff && u8_at(d, p + 1) == 0x03) || f == 0x0f || f == 0x8f {
            p += 2;
        }
        let mut proto = be16_at(d, p);
        if proto == 0x003d {
            self.add("mp");
            p += 6;
            proto = be16_at(d, p);
        }
        match proto {
            0x0021 => {
                self.ipv4(p + 2);
                true
            }
            0x0057 => {
                self.ipv6(p + 2);
                true
            }
            _ => {
                self.add_ppp_name(proto);
                self.set(STOP);
                false
            }
        }
    }

    /// GRE on the IPv4 header at `l3` (4.3).
    fn gre_v4(&mut self, l3: usize, ihl: usize) -> GreResult {
        let d = self.d;
        let g = l3 + ihl;
        self.add("gre");
        self.set(L2_GRE);
        let flags = be16_at(d, g);
        let proto = be16_at(d, g + 2);
        let hlen = gre_header_len(d, g);
        let p = g + hlen;
        self.gre_decapsulated = true;
        match proto {
            0x0800 => {
                self.add("ipv4");
                GreResult::InnerIpv4(p)
            }
            0x880b => {
                self.add("ppp");
                self.set(L2_PPP);
                let b = u8_at(d, p);
                if b == 0xfd {
                    self.add("comp_data");
                    self.set(PPP_NRHD | STOP);
                    return GreResult::Outer;
                }
                let version = flags & 7;
                if version == 1 && be16_at(d, g + 4) == 0 {
                    self.set(STOP);
                    return GreResult::Outer;
                }
                if b != 0xff {
                    if b & 1 == 1 {
                        if b == 0x21 {
                            self.add("ipv4");
                            return GreResult::InnerIpv4(p + 1);
                        }
                        // T2 does nothing here and the L4 switch parses GRE a second time
                        self.gre_decapsulated = false;
                        return GreResult::Outer;
                    }
                    let pp = be16_at(d, p);
                    if pp == 0x0021 {
                        self.add("ipv4");
                        return GreResult::InnerIpv4(p + 2);
                    }
                    self.add_ppp_name(pp);
                    self.set(STOP);
                    return GreResult::Outer;
                }
                let pp = be16_at(d, p + 2);
                match pp {
                    0x0021 => {
                        self.add("ipv4");
                        GreResult::InnerIpv4(p + 4)
                    }
                    0x0057 => {
                        self.ipv6(p + 4);
                        GreResult::Done
                    }
                    _ => {
                        self.add_ppp_name(pp);
                        self.set(STOP);
                        GreResult::Outer
                    }
                }
            }
            0x6558 | 0x88be => {
                let mut eth = p;
                if proto == 0x88be {
                    self.add("erspan");
                    self.set(L2_ERSPAN);
                    eth += 8;
                }
                self.add("eth");
                let saved_l2 = self.info.l2;
                let saved_snap = self.snap_l2;
                self.snap_l2 -= eth as i64 - self.cur_l2() as i64;
                self.info.l2 = eth as u32;
                let pos = self.vlans(eth + 12);
                let t = be16_at(d, pos);
                if t <= 1500 {
                    self.llc(pos, t);
                    return GreResult::Done;
                }
                match t {
                    0x0800 => {
                        self.add("ipv4");
                        GreResult::InnerIpv4(pos + 2)
                    }
                    0x86dd => {
                        self.ipv6(pos + 2);
                        GreResult::Done
                    }
                    _ => {
                        self.add_ethertype_name(t);
                        self.info.l2 = saved_l2;
                        self.snap_l2 = saved_snap;
                        self.set(STOP);
                        GreResult::Outer
                    }
                }
            }
            0x883e => {
                self.add("wccp");
                self.set(L2_WCCP);
                let inner = p + 4;
                match u8_at(d, inner) >> 4 {
                    4 => {
                        self.ipv4(inner);
                        GreResult::Done
                    }
                    6 => {
                        self.ipv6(inner);
                        GreResult::Done
                    }
                    _ => {
                        self.set(STOP);
                        GreResult::Outer
                    }
                }
            }
            _ => {
                self.add_ethertype_name(proto);
                self.set(STOP);
                GreResult::Outer
            }
        }
    }

    // ---------------------------------------------------------------- IPv6 (4.2)

    fn ipv6(&mut self, l3_start: usize) {
        let d = self.d;
        self.info.eth_type = 0x86dd;
        self.set(FS_IPV6_PKT);
        self.add("ipv6");
        let l2 = self.cur_l2();
        let i = l3_start as i64 - l2 as i64;
        // outer lengths
        let mut snap_l3 = self.snap_l2 - i;
        let (l3_len, msm) = ipv6_len(d, l3_start, self.len);
        if msm {
            self.set(IP_PL_MSMTCH);
        }
        if snap_l3 < l3_len as i64 {
            self.set(L3SNAPLENGTH);
            if !self.warned_snap {
                self.warnings.push(Warning::L3Snap {
                    snap_l2: self.snap_l2,
                    snap_l3,
                    l3_len,
                    outer6: true,
                });
                self.warned_snap = true;
            }
        } else if snap_l3 > l3_len as i64 {
            snap_l3 = l3_len as i64;
            self.snap_l2 = l3_len as i64 + i;
        }
        let _ = snap_l3;
        self.info.bytes_on_wire += self.len as u64;

        let mut cur = l3_start;
        let mut nh = u8_at(d, cur + 6);
        let mut hlen = 40usize;
        let mut l4 = cur + hlen;
        let mut l4_hdr_off = 0usize;
        let mut sport = 0u16;
        let mut dport = 0u16;
        let mut later = false;
        let mut frag_id = 0u32;
        let mut first_frag = false;
        let mut frag_mf = false;
        for _ in 0..5 {
            sport = 0;
            dport = 0;
            l4 = cur + hlen;
            l4_hdr_off = 0;
            if self.remaining(l4) < 8 {
                break;
            }
            match nh {
                0 | 60 | 43 => {
                    self.add(match nh {
                        0 => "ipv6.hopopts",
                        60 => "ipv6.dstopts",
                        _ => "ipv6.routing",
                    });
                    let next = u8_at(d, l4);
                    hlen += 8 * (u8_at(d, l4 + 1) as usize + 1);
                    nh = next;
                    continue;
                }
                44 => {
                    self.add("ipv6.fraghdr");
                    self.info.v6_frag_walk += 1;
                    let next = u8_at(d, l4);
                    let off_word = be16_at(d, l4 + 2);
                    frag_id = be32_at(d, l4 + 4);
                    frag_mf = off_word & 1 != 0;
                    hlen += 8;
                    nh = next;
                    if off_word & 0xfff8 != 0 {
                        later = true;
                        l4 = cur + hlen;
                        break;
                    }
                    if frag_mf {
                        first_frag = true;
                    }
                    continue;
                }
                51 => {
                    self.add("ah");
                    self.set(L3_IPSEC_AH);
                    let next = u8_at(d, l4);
                    hlen += 4 * (u8_at(d, l4 + 1) as usize + 2);
                    nh = next;
                    continue;
                }
                58 => {
                    self.add("icmpv6");
                    l4_hdr_off = 8;
                    break;
                }
                6 => {
                    self.add("tcp");
                    self.info.tcp_flags = u8_at(d, l4 + 13);
                    let rem = self.remaining(l4);
                    let snapped = self.info.status & L3SNAPLENGTH != 0;
                    l4_hdr_off = (u8_at(d, l4 + 12) >> 4) as usize * 4;
                    if snapped && rem < 20 {
                        l4_hdr_off = 20;
                        self.set(L4HDRSHRTLEN);
                    }
                    if rem >= 20 {
                        sport = be16_at(d, l4);
                        dport = be16_at(d, l4 + 2);
                        self.ssdp(sport, dport);
                    }
                    break;
                }
                17 | 136 => {
                    self.add(if nh == 17 { "udp" } else { "udplite" });
                    l4_hdr_off = 8;
                    sport = be16_at(d, l4);
                    dport = be16_at(d, l4 + 2);
                    self.info.udp_len = be16_at(d, l4 + 4);
                    self.dtls(l4 + 8);
                    if (sport == 1701 || dport == 1701) && self.l2tp(l4 + 8) {
                        return;
                    }
                    if !self.stopped() {
                        self.ssdp(sport, dport);
                    }
                    break;
                }
                132 => {
                    self.add("sctp");
                    self.set(L4_SCTP);
                    l4_hdr_off = 12;
                    if self.remaining(l4) >= 16 {
                        sport = be16_at(d, l4);
                        dport = be16_at(d, l4 + 2);
                    }
                    break;
                }
                4 => {
                    self.ipv4(l4);
                    return;
                }
                41 => {
                    self.add("ipv6");
                    self.set(L3_IPIP);
                    if self.remaining(l4) < 40 {
                        self.set(STOP);
                        break;
                    }
                    cur = l4;
                    nh = u8_at(d, cur + 6);
                    hlen = 40;
                    continue;
                }
                47 => {
                    self.add("gre");
                    self.set(L2_GRE);
                    let proto = be16_at(d, l4 + 2);
                    let ghl = gre_header_len(d, l4);
                    let p = l4 + ghl;
                    match proto {
                        0x86dd => {
                            // T2 keeps the old next header (47): the inner payload is read as GRE again
                            cur = p;
                            hlen = 40;
                            continue;
                        }
                        0x880b => {
                            self.add("ppp");
                            self.set(L2_PPP);
                            if u8_at(d, p) == 0xfd {
                                self.add("comp_data");
                                self.set(STOP);
                                break;
                            }
                            let (pp, at) = if u8_at(d, p) == 0xff {
                                (be16_at(d, p + 2), p + 4)
                            } else {
                                (be16_at(d, p), p + 2)
                            };
                            if pp == 0x0057 {
                                cur = at;
                                hlen = 40;
                                continue;
                            }
                            self.add_ppp_name(pp);
                            self.set(STOP);
                            break;
                        }
                        0x6558 => {
                            cur = p + 14;
                            hlen = 40;
                            continue;
                        }
                        _ => {
                            self.add_ethertype_name(proto);
                            self.set(STOP);
                            break;
                        }
                    }
                }
                97 => {
                    if u8_at(d, l4) >> 4 < 3 {
                        // T2 drops the packet
                        self.info.class = FlowClass::NoFlow;
                        self.dropped = true;
                        return;
                    }
                    self.add("etherip");
                    self.add("eth");
                    self.set(L3_ETHIPF);
                    let eth = l4 + 2;
                    self.snap_l2 -= eth as i64 - self.cur_l2() as i64;
                    self.info.l2 = eth as u32;
                    let p = self.vlans(eth + 12);
                    let t = be16_at(d, p);
                    match t {
                        0x86dd => {
                            self.add("ipv6");
                            cur = p + 2;
                            hlen = 40;
                            continue;
                        }
                        0x0800 => {
                            self.ipv4(p + 2);
                            return;
                        }
                        _ => {
                            self.add_ethertype_name(t);
                            self.set(STOP);
                            break;
                        }
                    }
                }
                89 => {
                    self.add("ospf");
                    l4_hdr_off = if u8_at(d, l4) == 2 { 24 } else { 16 };
                    break;
                }
                115 => {
                    self.add("l2tp");
                    self.set(L2_L2TP);
                    break;
                }
                103 => {
                    self.add("pim");
                    if u8_at(d, l4) & 0x0f == 1 {
                        let inner = l4 + 8;
                        match u8_at(d, inner) >> 4 {
                            4 => {
                                self.ipv4(inner);
                                return;
                            }
                            6 => {
                                cur = inner;
                                nh = u8_at(d, cur + 6);
                                hlen = 40;
                                continue;
                            }
                            _ => {}
                        }
                    }
                    break;
                }
                59 => break,
                _ => {
                    self.add_ip_proto_name(nh);
                    break;
                }
            }
        }
        // final lengths on the innermost IPv6 header
        let l3 = cur;
        self.info.l3 = l3 as u32;
        self.info.ip_ver = 6;
        self.info.eth_type = 0x86dd;
        self.info.ip_id = None;
        self.info.l4_proto = nh;
        self.info.l3_hdr_len = hlen as u32;
        let (l3_len, _) = ipv6_len(d, l3, self.len);
        let snap_l3 = self.remaining(l3) as i64;
        let snap_l4 = self.remaining(l4) as i64;
        let snapped = snap_l3 < l3_len as i64;
        let l7 = l4 + l4_hdr_off;
        let snap_l7 = if !snapped {
            (snap_l4 - l4_hdr_off as i64).max(0)
        } else if (l7 - l3) as i64 > snap_l3 {
            0
        } else {
            self.remaining(l7) as i64
        };
        self.info.l3_len = l3_len;
        self.info.snap_l3_len = snap_l3 as u32;
        self.info.snap_l4_len = snap_l4 as u32;
        self.info.snap_l7_len = snap_l7 as u32;
        self.info.l4 = l4 as u32;
        self.info.l7 = l7 as u32;
        self.info.l4_hdr_off = l4_hdr_off as u32;
        let l7_len = (l3_len as i64 - hlen as i64 - l4_hdr_off as i64) as u16;
        self.info.l7_len = l7_len;
        self.info.stat_len = l7_len;
        if self.len <= 64 {
            let pad = self.len as i64 - l3_len as i64 - l3 as i64;
            if pad > 0 {
                self.info.pad = pad;
            }
        }
        if later {
            self.info.frag = Frag::Later;
        } else if first_frag {
            self.info.frag = Frag::First;
        }
        self.info.frag_id = frag_id;
        self.info.frag_mf = frag_mf;
        self.info.sport = sport;
        self.info.dport = dport;
        self.ip_flow(d, l3, 6, nh, sport, dport);
    }

    /// Sets the final per-packet fields once the dissection is over.
    fn finish(&mut self) {
        if self.dropped {
            self.info.class = FlowClass::NoFlow;
        }
        match self.info.class {
            FlowClass::Ip => {
                self.set(if self.info.ip_ver == 6 {
                    L2_IPV6
                } else {
                    L2_IPV4
                });
            }
            FlowClass::L2 | FlowClass::NoFlow => {}
        }
        if self.desc.overrun {
            self.set(HDOVRN);
        }
        self.info.num_hdrs = self.desc.count;
    }
}

#[derive(Clone, Copy)]
enum GreResult {
    /// Continue with an inner IPv4 header in the same pass (name already written).
    InnerIpv4(usize),
    /// The inner packet was dissected completely.
    Done,
    /// The flow stays on the outer header.
    Outer,
}

fn ethertype_is_vlan(t: u16) -> bool {
    matches!(t, 0x8100 | 0x88a8 | 0x9100 | 0x9200)
}

/// Teredo probe (4.3, probe 8) on the UDP header at `l4` of ports `sport`/`dport` (both above
/// 1024): where the encapsulated IPv6 header starts when T2 takes the payload for Teredo
/// (an optional authentication and origin indication, then an IPv6 header that is either on
/// the Teredo port or has a 2001:0000::/32 address).
fn teredo_at(d: &[u8], l4: usize, sport: u16, dport: u16) -> Option<usize> {
    let mut p = l4 + 8;
    if be16_at(d, p) == 0x0001 {
        let idlen = u8_at(d, p + 2) as usize;
        let authlen = u8_at(d, p + 3) as usize;
        p += 13 + idlen + authlen;
    }
    if be16_at(d, p) == 0x0000 {
        p += 8;
    }
    if u8_at(d, p) >> 4 != 6 {
        return None;
    }
    let in_2001 = |off: usize| be32_at(d, off) == 0x2001_0000;
    (sport == 3544 || dport == 3544 || in_2001(p + 8) || in_2001(p + 24)).then_some(p)
}

/// The hdrDesc name of a DTLS record header at `pos` (5.2: a content type in 0x14..=0x3f and
/// a DTLS version), None when the bytes there are not one.
fn dtls_record_at(d: &[u8], pos: usize, caplen: usize) -> Option<&'static str> {
    let typ = u8_at(d, pos);
    if !(0x14..=0x3f).contains(&typ) || pos >= caplen {
        return None;
    }
    match be16_at(d, pos + 1) {
        0xfefd => Some("dtls1.2"),
        0xfeff | 0x0100 => Some("dtls1.0"),
        _ => None,
    }
}

fn gtp_port(p: u16) -> bool {
    matches!(p, 2152 | 2123 | 3386)
}

fn mac_at(d: &[u8], off: usize) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (i, b) in m.iter_mut().enumerate() {
        *b = u8_at(d, off + i);
    }
    m
}

/// GRE base header plus optional fields (4 bytes for each of C, R, K, S, s, A).
fn gre_header_len(d: &[u8], g: usize) -> usize {
    let f = be16_at(d, g);
    let mut n = 4;
    for bit in [0x8000u16, 0x4000, 0x2000, 0x1000, 0x0800, 0x0080] {
        if f & bit != 0 {
            n += 4;
        }
    }
    n
}

/// IPv6 L3 length and the IP_PL_MSMTCH condition for the header at `l3`.
fn ipv6_len(d: &[u8], l3: usize, wire_len: u32) -> (u32, bool) {
    let calc = (wire_len as i64 - l3 as i64) as u16 as u32;
    let pl = be16_at(d, l3 + 4) as u32;
    let l3_len = if pl == 0 || pl + 40 > calc {
        calc
    } else {
        pl + 40
    };
    (l3_len, pl == 0 && calc != 0)
}

/// Reader-side counters that come from dissection alone (the rest is counted in the workers).
#[derive(Clone, Debug, Default)]
pub struct DissectCounters {
    pub bad_version_frames: u64,
}

/// The dissector: one per thread that dissects (the replay reader, or a live-capture worker).
#[derive(Default)]
pub struct Dissector {
    warned_snap: bool,
    warnings: Vec<Warning>,
    desc: HdrDesc,
    /// Frames with a bad version nibble behind 0x0800/0x86dd (they count twice as IPvX).
    pub bad_version_frames: u64,
    pub vlan_max: u32,
    pub mpls_max: u32,
    /// Dissect every frame the general way, without the fast path for plain Ethernet/IP
    /// frames (`fast.rs`): for the tests that compare the two, and benchmarks.
    pub full_path_only: bool,
}

impl Dissector {
    pub fn new() -> Dissector {
        Dissector::default()
    }

    /// Dissects one packet. `data` holds the captured bytes (caplen), `wire_len` is the
    /// original length. The hdrDesc text is available from [`Dissector::hdr_desc`] until the
    /// next call.
    pub fn dissect(&mut self, data: &[u8], wire_len: u32, linktype: u32) -> PacketInfo {
        let mut info = PacketInfo::default();
        self.dissect_into(data, wire_len, linktype, &mut info);
        info
    }

    /// [`Dissector::dissect`] into `info` (overwritten). The dissector fills the result field
    /// by field; returned by value, it was then copied out in 16- and 32-byte pieces, and
    /// those loads waited for the narrower stores before them (store forwarding fails): 2%
    /// of a replay's time, in the reader.
    ///
    /// Plain Ethernet/IP/TCP-UDP-ICMP frames (most traffic) take the fast path of `fast.rs`,
    /// which gives the same result with about a quarter of the instructions; the rest goes
    /// the general way.
    pub fn dissect_into(
        &mut self,
        data: &[u8],
        wire_len: u32,
        linktype: u32,
        info: &mut PacketInfo,
    ) {
        if linktype == dlt::EN10MB
            && !self.full_path_only
            && self.fast_ethernet(data, wire_len, info)
        {
            return;
        }
        self.dissect_full(data, wire_len, linktype, info);
    }

    /// [`Dissector::dissect_into`] the general way (kept out of line: its frame set-up is
    /// larger than the whole fast path).
    #[inline(never)]
    fn dissect_full(&mut self, data: &[u8], wire_len: u32, linktype: u32, info: &mut PacketInfo) {
        self.desc.clear();
        let mut warnings = std::mem::take(&mut self.warnings);
        warnings.clear();
        *info = PacketInfo::unset();
        let (bad, vlans, mpls, warned) = {
            let mut cx = Cx {
                d: data,
                caplen: data.len(),
                len: wire_len,
                info,
                desc: &mut self.desc,
                snap_l2: data.len() as i64,
                l4_named: false,
                warnings: &mut warnings,
                warned_snap: self.warned_snap,
                gre_decapsulated: false,
                dropped: false,
                bad_version_frames: 0,
                vlan_count: 0,
                mpls_count: 0,
            };
            cx.link(linktype, 0);
            cx.finish();
            (
                cx.bad_version_frames,
                cx.vlan_count,
                cx.mpls_count,
                cx.warned_snap,
            )
        };
        self.warned_snap = warned;
        self.warnings = warnings;
        self.bad_version_frames += bad;
        self.vlan_max = self.vlan_max.max(vlans as u32);
        self.mpls_max = self.mpls_max.max(mpls as u32);
    }

    /// hdrDesc of the last dissected packet.
    pub fn hdr_desc(&self) -> &[u8] {
        self.desc.as_bytes()
    }

    /// When the hdrDesc of the last dissected packet is one of the fast path's fixed texts:
    /// its number for [`desc_template_text`] (a batch then carries the number, not the text).
    #[inline]
    pub fn desc_template(&self) -> Option<u8> {
        self.desc.template()
    }

    /// Warnings raised by the last dissected packet.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }
}

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod tests;
