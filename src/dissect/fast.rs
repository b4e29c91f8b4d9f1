//! The dissector's fast path for the frames most traffic is made of: Ethernet, at most two VLAN
//! tags, IPv4 without options or IPv6 without extension headers, and TCP, UDP or ICMP/ICMPv6
//! that T2 takes as plain transport (no tunnel probe, SSDP, UDP-encapsulated ESP or DTLS
//! record fires), not a first fragment (later IPv4 fragments of TCP, UDP and ICMP are taken), and
//! captured at least up to the end of the IP packet.
//!
//! For those frames it fills [`PacketInfo`], the hdrDesc and the dissector's tallies exactly as
//! the full path ([`super::Cx`]) does, with a fraction of its work: no per-layer dispatch, no
//! lenient reads, one store per field and a hdrDesc copied from a table. Anything else makes it
//! return `false` before it has changed anything the full path keeps, and the full path runs.
//! Every check below names the behaviour of the full path it keeps the frame away from; the
//! tests in `fast_tests.rs` run both paths on every packet of every capture in
//! `../shared/pcaps` and on hand-built edge cases, and fail on any difference.

use super::hdrdesc::Template;
use super::{dtls_record_at, teredo_at, FlowClass, FlowKey, Frag, PacketInfo, NONE};
use crate::flowstat::*;
use crate::wire::{be16_at, ethernet, ipv4, ipv6, tcp, udp};

/// The transport header of a fast-path frame.
#[derive(Clone, Copy)]
enum L4 {
    Tcp = 0,
    Udp = 1,
    Icmp = 2,
}

/// hdrDesc of the fast-path frames, at [`desc_index`]: the names the full path writes one by
/// one, and their count (`vlan{2}` counts two headers).
const DESC: [Template; 18] = [
    Template::new("eth:ipv4:tcp", 3),
    Template::new("eth:ipv4:udp", 3),
    Template::new("eth:ipv4:icmp", 3),
    Template::new("eth:ipv6:tcp", 3),
    Template::new("eth:ipv6:udp", 3),
    Template::new("eth:ipv6:icmpv6", 3),
    Template::new("eth:vlan:ipv4:tcp", 4),
    Template::new("eth:vlan:ipv4:udp", 4),
    Template::new("eth:vlan:ipv4:icmp", 4),
    Template::new("eth:vlan:ipv6:tcp", 4),
    Template::new("eth:vlan:ipv6:udp", 4),
    Template::new("eth:vlan:ipv6:icmpv6", 4),
    Template::new("eth:vlan{2}:ipv4:tcp", 5),
    Template::new("eth:vlan{2}:ipv4:udp", 5),
    Template::new("eth:vlan{2}:ipv4:icmp", 5),
    Template::new("eth:vlan{2}:ipv6:tcp", 5),
    Template::new("eth:vlan{2}:ipv6:udp", 5),
    Template::new("eth:vlan{2}:ipv6:icmpv6", 5),
];

/// Where the hdrDesc of a fast-path frame is in [`DESC`].
fn desc_index(tags: u16, v6: bool, l4: L4) -> usize {
    tags as usize * 6 + v6 as usize * 3 + l4 as usize
}

/// The hdrDesc text of fast-path template `id` (as [`super::Dissector::desc_template`] gives
/// it): what a packet batch carries instead of a copy of the text.
pub fn desc_template_text(id: u8) -> &'static [u8] {
    let t = &DESC[id as usize];
    &t.text[..t.len as usize]
}

/// What the Ethernet header and its VLAN tags gave.
#[derive(Clone, Copy)]
struct Link {
    /// Offset of the IP header.
    l3: usize,
    /// The EtherType is IPv6 (else IPv4).
    v6: bool,
    tags: u16,
    /// The last tag's VLAN ID (the flow key's), 0 without tags.
    vlan: u16,
    /// L2_VLAN, and FS_VLAN0 when a tag has VLAN ID 0.
    status: u64,
}

/// The transport fields of a fast-path frame (all 0 for a later fragment).
#[derive(Clone, Copy)]
struct Transport {
    kind: L4,
    /// Length of the TCP header (data offset × 4), 8 for UDP and ICMP, 0 for a later fragment.
    hdr_len: usize,
    sport: u16,
    dport: u16,
    tcp_flags: u8,
    udp_len: u16,
}

/// UDP ports one of whose uses makes T2 look into the payload or name it (4.3 probes 1–8,
/// SSDP, UDP-encapsulated ESP/ISAKMP). The probes want more than the port (the other port above
/// 1024, a valid header behind it); a frame on any of these ports simply takes the full path.
fn udp_port_is_special(p: u16) -> bool {
    matches!(
        p,
        1701 // L2TP
            | 1900 // SSDP
            | 2123 | 2152 | 3386 // GTP
            | 3544 // Teredo
            | 4500 // UDP-encapsulated ESP
            | 4789 | 4790 | 8472 // VXLAN, VXLAN-GPE
            | 5072 // AYIYA
            | 5246 | 5247 // CAPWAP
            | 6081 // GENEVE
            | 12222 | 12223 // LWAPP
    )
}

/// TCP ports T2 treats specially: AYIYA (probe 1) and SSDP.
fn tcp_port_is_special(p: u16) -> bool {
    matches!(p, 1900 | 5072)
}

impl super::Dissector {
    /// Dissects an Ethernet frame (link type EN10MB) if it is one the fast path takes (see the
    /// module documentation): fills `info` and the hdrDesc and returns true. Returns false,
    /// having changed nothing but `info` (which the full path overwrites), otherwise.
    #[inline]
    pub(super) fn fast_ethernet(&mut self, d: &[u8], wire_len: u32, info: &mut PacketInfo) -> bool {
        let Some(link) = ethernet_link(d) else {
            return false;
        };
        // the version nibble must match the EtherType (else the full path counts an IPvX frame)
        let done = match (link.v6, d[link.l3] >> 4) {
            (false, 4) => self.fast_ipv4(d, wire_len, link, info),
            (true, 6) => self.fast_ipv6(d, wire_len, link, info),
            _ => false,
        };
        if done {
            self.warnings.clear();
            self.vlan_max = self.vlan_max.max(link.tags as u32);
        }
        done
    }

    /// IPv4 at `link.l3` (4.1, 4.4, 5.1).
    #[inline]
    fn fast_ipv4(&mut self, d: &[u8], wire_len: u32, link: Link, info: &mut PacketInfo) -> bool {
        let l3 = link.l3;
        let Ok(ip) = ipv4::Packet::new_checked(&d[l3..]) else {
            return false;
        };
        // options, or an IHL below 5 (IPV4_HL_TOO_SHORT)
        if ip.header_len() != ipv4::MIN_HEADER_LEN {
            return false;
        }
        // lengths as the full path takes them: the total length, unless it is 0 (that raises
        // IP_PL_MSMTCH) or longer than what the frame's length leaves (modulo 2^16, as T2)
        let ip_len = ip.total_len() as u32;
        let calc_l3 = (wire_len as i64 - l3 as i64) as u16 as u32;
        if ip_len == 0 {
            return false;
        }
        let l3_len = ip_len.min(calc_l3);
        // the capture ends inside the IP packet: L3SNAPLENGTH and its one-time warning
        if l3_len as usize > d.len() - l3 {
            return false;
        }
        let l4 = l3 + ipv4::MIN_HEADER_LEN;
        let proto = ip.protocol();
        let (t, frag, status) = if ip.frag_offset() != 0 {
            // a later fragment: T2 stops at IP (STPDSCT) and names the protocol, no ports
            let Some(kind) = L4::of_ipv4(proto) else {
                return false;
            };
            (Transport::none(kind), Frag::Later, STPDSCT)
        } else if ip.more_frags() {
            // a first fragment takes the tunnel probes on what it has of the payload
            return false;
        } else {
            let t = match proto {
                6 => transport_tcp(d, l4, tcp_port_is_special),
                17 => transport_udp_v4(d, l4),
                1 => Some(Transport::icmp()),
                // GRE, IP-in-IP, ESP, SCTP, … (and UDP-Lite, whose ports the probes read)
                _ => None,
            };
            let Some(t) = t else {
                return false;
            };
            (t, Frag::None, 0)
        };
        // the transport header does not fit in the IP packet (L4HDRSHRTLEN); also makes sure
        // l3_len >= 40 for TCP and >= 28 for UDP, the lengths the full path reads ports from
        let Some(payload) = l3_len.checked_sub((ipv4::MIN_HEADER_LEN + t.hdr_len) as u32) else {
            return false;
        };
        let mut pad = 0;
        if wire_len <= 64 {
            // Ethernet padding of a minimum-size frame
            pad = (wire_len as i64 - l3_len as i64 - l3 as i64).max(0);
        }
        let mut key = FlowKey {
            sport: t.sport,
            dport: t.dport,
            eth_type: ethernet::ethertype::IPV4,
            vlan: link.vlan,
            proto,
            ip_ver: 4,
            ..FlowKey::default()
        };
        key.src[..4].copy_from_slice(&ip.src_addr());
        key.dst[..4].copy_from_slice(&ip.dst_addr());
        *info = PacketInfo {
            class: FlowClass::Ip,
            key,
            status: FS_IPV4_PKT | L2_IPV4 | link.status | status,
            eth_type: ethernet::ethertype::IPV4,
            l4_proto: proto,
            ip_ver: 4,
            sport: t.sport,
            dport: t.dport,
            l2: 0,
            l3: l3 as u32,
            l4: l4 as u32,
            l7: (l4 + t.hdr_len) as u32,
            vlan_blk: if link.tags > 0 { 12 } else { NONE },
            l3_hdr_len: ipv4::MIN_HEADER_LEN as u32,
            l4_hdr_off: t.hdr_len as u32,
            l3_len,
            // the captured lengths are the IP packet's (what the capture has past it is padding)
            snap_l3_len: l3_len,
            snap_l4_len: l3_len - ipv4::MIN_HEADER_LEN as u32,
            snap_l7_len: payload,
            l7_len: payload as u16,
            udp_len: t.udp_len,
            stat_len: payload as u16,
            pad,
            frag,
            frag_id: ip.ident() as u32,
            frag_mf: ip.more_frags(),
            ip_id: Some(ip.ident()),
            tcp_flags: t.tcp_flags,
            num_hdrs: 0,
            llc: false,
            dtls_records: 0,
            v6_frag_walk: 0,
            bytes_on_wire: (l3_len as usize + l3) as u64,
            l4_word_sum: None,
        };
        info.num_hdrs = self.set_desc(link.tags, false, t.kind);
        true
    }

    /// IPv6 at `link.l3` (4.2, 5.1).
    #[inline]
    fn fast_ipv6(&mut self, d: &[u8], wire_len: u32, link: Link, info: &mut PacketInfo) -> bool {
        let l3 = link.l3;
        let Ok(ip) = ipv6::Packet::new_checked(&d[l3..]) else {
            return false;
        };
        // a zero payload length raises IP_PL_MSMTCH
        if ip.payload_len() == 0 {
            return false;
        }
        // the payload length, unless longer than what the frame's length leaves (mod 2^16)
        let calc_l3 = (wire_len as i64 - l3 as i64) as u16 as u32;
        let l3_len = (ip.payload_len() as u32 + 40).min(calc_l3);
        // the capture ends inside the IP packet: L3SNAPLENGTH and its one-time warning
        if l3_len as usize > d.len() - l3 {
            return false;
        }
        let l4 = l3 + ipv6::HEADER_LEN;
        let Some(t) = (match ip.next_header() {
            6 => transport_tcp(d, l4, tcp_port_is_special),
            // no tunnel probes over IPv6; L2TP, SSDP and DTLS are checked
            17 => transport_udp(d, l4),
            58 => (d.len() >= l4 + 8).then(Transport::icmp),
            // extension headers, tunnels, SCTP, …
            _ => None,
        }) else {
            return false;
        };
        let mut pad = 0;
        if wire_len <= 64 {
            pad = (wire_len as i64 - l3_len as i64 - l3 as i64).max(0);
        }
        let snap_l4 = (d.len() - l4) as i64;
        let mut key = FlowKey {
            sport: t.sport,
            dport: t.dport,
            eth_type: ethernet::ethertype::IPV6,
            vlan: link.vlan,
            proto: ip.next_header(),
            ip_ver: 6,
            ..FlowKey::default()
        };
        key.src = ip.src_addr();
        key.dst = ip.dst_addr();
        // T2 takes the IPv6 lengths without the checks IPv4 gets: a header longer than the
        // packet wraps l7Len, and the captured lengths run to the end of the capture
        let l7_len = (l3_len as i64 - ipv6::HEADER_LEN as i64 - t.hdr_len as i64) as u16;
        *info = PacketInfo {
            class: FlowClass::Ip,
            key,
            status: FS_IPV6_PKT | L2_IPV6 | link.status,
            eth_type: ethernet::ethertype::IPV6,
            l4_proto: ip.next_header(),
            ip_ver: 6,
            sport: t.sport,
            dport: t.dport,
            l2: 0,
            l3: l3 as u32,
            l4: l4 as u32,
            l7: (l4 + t.hdr_len) as u32,
            vlan_blk: if link.tags > 0 { 12 } else { NONE },
            l3_hdr_len: ipv6::HEADER_LEN as u32,
            l4_hdr_off: t.hdr_len as u32,
            l3_len,
            snap_l3_len: (d.len() - l3) as u32,
            snap_l4_len: snap_l4 as u32,
            snap_l7_len: (snap_l4 - t.hdr_len as i64).max(0) as u32,
            l7_len,
            udp_len: t.udp_len,
            stat_len: l7_len,
            pad,
            frag: Frag::None,
            frag_id: 0,
            frag_mf: false,
            ip_id: None,
            tcp_flags: t.tcp_flags,
            num_hdrs: 0,
            llc: false,
            dtls_records: 0,
            v6_frag_walk: 0,
            bytes_on_wire: wire_len as u64,
            l4_word_sum: None,
        };
        info.num_hdrs = self.set_desc(link.tags, true, t.kind);
        true
    }

    /// Writes the hdrDesc of a fast-path frame; returns its header count.
    #[inline]
    fn set_desc(&mut self, tags: u16, v6: bool, l4: L4) -> u16 {
        let i = desc_index(tags, v6, l4);
        let t = &DESC[i];
        self.desc.set(t, i as u8);
        t.count
    }
}

impl L4 {
    /// The transport of an IPv4 later fragment, by protocol number (the name T2 gives it).
    fn of_ipv4(proto: u8) -> Option<L4> {
        match proto {
            6 => Some(L4::Tcp),
            17 => Some(L4::Udp),
            1 => Some(L4::Icmp),
            _ => None,
        }
    }
}

impl Transport {
    /// A transport not looked at: later fragments.
    fn none(kind: L4) -> Transport {
        Transport {
            kind,
            hdr_len: 0,
            sport: 0,
            dport: 0,
            tcp_flags: 0,
            udp_len: 0,
        }
    }

    fn icmp() -> Transport {
        Transport {
            kind: L4::Icmp,
            hdr_len: 8,
            sport: 0,
            dport: 0,
            tcp_flags: 0,
            udp_len: 0,
        }
    }
}

/// Ethernet and up to two VLAN tags (2, 3.1), when the frame is a plain Ethernet frame that
/// carries IPv4 or IPv6 (by EtherType).
#[inline]
fn ethernet_link(d: &[u8]) -> Option<Link> {
    let eth = ethernet::Frame::new_checked(d).ok()?;
    // Cisco ISL: the frame starts with a 26-byte ISL header, not with an Ethernet header
    if matches!(d[..5], [0x01 | 0x03, 0x00, 0x0c, 0x00, 0x00]) {
        return None;
    }
    let mut t = eth.ethertype();
    let mut pos = 12;
    let mut link = Link {
        l3: 0,
        v6: false,
        tags: 0,
        vlan: 0,
        status: 0,
    };
    while ethernet::ethertype::is_vlan(t) {
        // three or more tags are rare; the full path writes vlan{n} for them
        if link.tags == 2 {
            return None;
        }
        // the tag is read leniently like the full path, whose loop stops at a tag cut by the
        // capture; the IP header after it is checked to be captured, so that never happens here
        link.vlan = be16_at(d, pos + 2) & 0x0fff;
        link.status |= L2_VLAN;
        if link.vlan == 0 {
            link.status |= FS_VLAN0;
        }
        link.tags += 1;
        pos += 4;
        t = be16_at(d, pos);
    }
    // IPv4 and IPv6 by EtherType; a wrong version nibble behind them is IPvX (the caller
    // checks the nibble), any other type (LLC lengths, ARP, MPLS, PPPoE, …) takes the full path
    link.v6 = match t {
        ethernet::ethertype::IPV4 => false,
        ethernet::ethertype::IPV6 => true,
        _ => return None,
    };
    link.l3 = pos + 2;
    // an IP header that is not captured at all (the caller's views check its length)
    if d.len() <= link.l3 {
        return None;
    }
    Some(link)
}

/// TCP at `l4` (its 20-byte header captured): header length, ports and flags, unless a port is
/// one T2 looks behind (`special`) or the data offset is below 5 (the full path then finds the
/// header longer than the data offset says and reads no ports).
#[inline(always)]
fn transport_tcp(d: &[u8], l4: usize, special: fn(u16) -> bool) -> Option<Transport> {
    let tcp = tcp::Packet::new_checked(d.get(l4..)?).ok()?;
    let (sport, dport) = (tcp.src_port(), tcp.dst_port());
    if tcp.header_len() < tcp::MIN_HEADER_LEN || special(sport) || special(dport) {
        return None;
    }
    Some(Transport {
        kind: L4::Tcp,
        hdr_len: tcp.header_len(),
        sport,
        dport,
        tcp_flags: tcp.flags(),
        udp_len: 0,
    })
}

/// UDP at `l4` (its 8-byte header captured), unless the full path finds something in it.
#[inline(always)]
fn transport_udp(d: &[u8], l4: usize) -> Option<Transport> {
    let udp = udp::Packet::new_checked(d.get(l4..)?).ok()?;
    let (sport, dport) = (udp.src_port(), udp.dst_port());
    if udp_port_is_special(sport) || udp_port_is_special(dport) {
        return None;
    }
    // a DTLS record header right after the UDP header (5.2) is counted and named
    if dtls_record_at(d, l4 + udp::HEADER_LEN, d.len()).is_some() {
        return None;
    }
    Some(Transport {
        kind: L4::Udp,
        hdr_len: udp::HEADER_LEN,
        sport,
        dport,
        tcp_flags: 0,
        udp_len: udp.length_field(),
    })
}

/// [`transport_udp`] over IPv4, where T2 also probes for Teredo on any pair of ports above
/// 1024 by looking at the payload (4.3, probe 8).
#[inline(always)]
fn transport_udp_v4(d: &[u8], l4: usize) -> Option<Transport> {
    let t = transport_udp(d, l4)?;
    if t.sport > 1024 && t.dport > 1024 && teredo_at(d, l4, t.sport, t.dport).is_some() {
        return None;
    }
    Some(t)
}
