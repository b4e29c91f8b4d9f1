//! basicFlow: flow identity columns (spec/basicFlow.md) — status, times, header descriptions,
//! MACs, EtherType, VLANs, addresses, ports, protocol — and its packet-mode columns.

use crate::dissect::{FlowClass, NONE};
use crate::flowstat::*;
use crate::output::columns::{Column, Record, Run, Ty};
use crate::plugin::{FlowCx, Pkt, Plugin, SlotVec, TermCx};
use crate::textfmt as tf;
use crate::time::Ts;
use std::any::Any;
use std::collections::HashMap;

const MAX_DESC: usize = 4;
const MAX_MAC: usize = 3;
const MAX_VLAN: usize = 3;

/// Per-flow state a packet reads and updates (in flow mode): exactly one cache line, in an
/// array of its own, so a packet of a flow costs one line here (a 96-byte state straddled two
/// lines at every other slot). Header descriptions are interned per worker: a flow stores
/// ids.
#[derive(Clone, Default)]
#[repr(C, align(64))]
struct State {
    descs: [u32; MAX_DESC],
    desc_cnt: [u16; MAX_DESC],
    n_desc: u8,
    src_macs: [[u8; 6]; MAX_MAC],
    dst_macs: [[u8; 6]; MAX_MAC],
    n_src: u8,
    n_dst: u8,
    /// VLAN IDs of the flow's first packet, in [`Cold::vlans`].
    n_vlan: u8,
}

const _: () = assert!(std::mem::size_of::<State>() == 64);

/// Per-flow state only some flows or runs touch, in a second array: the VLAN IDs (written
/// only when the first packet has VLAN tags) and the time of the flow's last packet (packet
/// mode only). In flow mode without VLANs no page of it is ever touched.
#[derive(Clone, Default)]
struct Cold {
    vlans: [u32; MAX_VLAN],
    /// Packet mode: the flow's previous packet (valid from its second packet on).
    last_pkt: Ts,
}

/// The worker's header descriptions, each stored once; flows refer to them by id.
#[derive(Default)]
struct Descs {
    ids: HashMap<Vec<u8>, u32>,
    strings: Vec<Vec<u8>>,
    /// The id [`Descs::intern`] returned last.
    last: u32,
}

impl Descs {
    /// The id of description `s` (a new one if it was never seen).
    fn intern(&mut self, s: &[u8]) -> u32 {
        // a new flow nearly always has the description of the previous new flow: one
        // compare instead of hashing the text (the hash was ~200 instructions a flow)
        if let Some(l) = self.strings.get(self.last as usize) {
            if same_desc(l, s) {
                return self.last;
            }
        }
        let i = match self.ids.get(s) {
            Some(&i) => i,
            None => {
                let i = self.strings.len() as u32;
                self.strings.push(s.to_vec());
                self.ids.insert(s.to_vec(), i);
                i
            }
        };
        self.last = i;
        i
    }
    #[inline]
    fn get(&self, id: u32) -> &[u8] {
        &self.strings[id as usize]
    }
}

#[derive(Default)]
pub struct BasicFlow {
    flows: SlotVec<State>,
    cold: SlotVec<Cold>,
    descs: Descs,
}

/// The destination and source MAC at the start of `h`; bytes past its end read as 0.
#[inline]
fn macs_at(h: &[u8]) -> ([u8; 6], [u8; 6]) {
    let b = match h.first_chunk::<12>() {
        Some(both) => *both,
        None => {
            let mut b = [0u8; 12];
            b[..h.len()].copy_from_slice(h);
            b
        }
    };
    let (mut dst, mut src) = ([0u8; 6], [0u8; 6]);
    dst.copy_from_slice(&b[..6]);
    src.copy_from_slice(&b[6..]);
    (dst, src)
}

/// `N` u16 values as `B` = `2 * N` little-endian bytes.
#[inline(always)]
fn u16s_le<const N: usize, const B: usize>(v: [u16; N]) -> [u8; B] {
    assert!(B == 2 * N);
    let mut b = [0u8; B];
    for (c, x) in b.chunks_exact_mut(2).zip(v) {
        c.copy_from_slice(&x.to_le_bytes());
    }
    b
}

/// `M` MAC addresses as their `B` = `6 * M` bytes in a row.
#[inline(always)]
fn macs_flat<const M: usize, const B: usize>(v: &[[u8; 6]; M]) -> [u8; B] {
    assert!(B == 6 * M);
    let mut b = [0u8; B];
    for (c, x) in b.chunks_exact_mut(6).zip(v) {
        c.copy_from_slice(x);
    }
    b
}

/// Whether two header descriptions ("eth:ipv4:tcp", 10–40 bytes) are equal: compared inline
/// eight bytes at a time. Every packet compares its description with its flow's, and the
/// library call for such short strings showed at 2% of a worker's time.
#[inline]
fn same_desc(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    if n < 8 {
        return a == b;
    }
    let word = |c: &[u8], i: usize| u64::from_ne_bytes(c[i..i + 8].try_into().expect("8 bytes"));
    // whole words, then the last eight bytes (overlapping the last whole word)
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

impl BasicFlow {
    pub fn new() -> BasicFlow {
        BasicFlow::default()
    }

    fn update(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        let flow_status = cx.flow().status;
        let st = self.flows.get_mut(cx.slot);
        // every packet records its description (or finds it there): none yet means the flow's
        // first packet
        let first_pkt = st.n_desc == 0;
        // 1. header descriptions
        let n = st.n_desc as usize;
        if n >= MAX_DESC {
            cx.flow_mut().status |= HDOVRN;
        } else {
            let descs = &mut self.descs;
            let known = st.descs[..n]
                .iter()
                .position(|&id| same_desc(descs.get(id), pkt.hdr_desc));
            match known {
                Some(i) => st.desc_cnt[i] = pkt.info.num_hdrs,
                None => {
                    st.descs[n] = descs.intern(pkt.hdr_desc);
                    st.desc_cnt[n] = pkt.info.num_hdrs;
                    st.n_desc += 1;
                }
            }
        }
        // 2. MAC lists
        let l2 = pkt.info.l2;
        if l2 != NONE && flow_status & (L2_NO_ETH | LAPD_FLOW) == 0 {
            let (dst, src) = macs_at(pkt.from(l2));
            if (st.n_src as usize) < MAX_MAC && !st.src_macs[..st.n_src as usize].contains(&src) {
                st.src_macs[st.n_src as usize] = src;
                st.n_src += 1;
            }
            if (st.n_dst as usize) < MAX_MAC && !st.dst_macs[..st.n_dst as usize].contains(&dst) {
                st.dst_macs[st.n_dst as usize] = dst;
                st.n_dst += 1;
            }
        }
        // 3. packet mode
        if cx.pkt_line.is_some() {
            self.packet_columns_text(cx, pkt, first_pkt);
        }
    }

    fn packet_columns_text(&mut self, cx: &mut FlowCx, pkt: &Pkt, first_pkt: bool) {
        let slot = cx.slot;
        let f = cx.table.get(slot);
        let (status, last, first, partner) = (f.status, f.last_seen(), f.first_seen, f.partner());
        let partner_last = partner.map(|p| cx.table.get(p).last_seen());
        let flow_key = f.key;
        let prev = if first_pkt {
            first
        } else {
            self.cold.get(slot).last_pkt
        };
        let Some(out) = cx.pkt_line.as_deref_mut() else {
            return;
        };
        tf::push_hex(out, status, 16);
        out.push(b'\t');
        // time: ns printed as a signed 32-bit number
        tf::push_u64(out, pkt.ts.sec as u32 as u64);
        out.push(b'.');
        let ns = pkt.ts.nsec as i32;
        if ns < 0 {
            out.push(b'-');
            tf::push_u64_zpad(out, ns.unsigned_abs() as u64, 9);
        } else {
            tf::push_u64_zpad(out, ns as u64, 9);
        }
        out.push(b'\t');
        let iat = (last.sec as u32).wrapping_sub(prev.sec as u32) as f64
            + (last.nsec as i64 - prev.nsec as i64) as f64 / 1e9;
        tf::push_fixed(out, iat, 9);
        out.push(b'\t');
        let trip = match partner_last {
            None => 0.0,
            Some(pl) => {
                let ds = last.sec as i64 - pl.sec as i64;
                ds as f64 + ((last.nsec as f32) - (pl.nsec as f32)) as f64 / 1e9
            }
        };
        tf::push_fixed(out, trip, 9);
        out.push(b'\t');
        let dur = (last.sec as u32).wrapping_sub(first.sec as u32) as f64
            + (last.nsec as i64 - first.nsec as i64) as f64 / 1e9;
        tf::push_fixed(out, dur, 9);
        out.push(b'\t');
        tf::push_u64(out, pkt.info.num_hdrs as u64);
        out.push(b'\t');
        out.extend_from_slice(pkt.hdr_desc);
        out.push(b'\t');
        let n_vlan = self.flows.get(slot).n_vlan as usize;
        if pkt.info.status & L2_VLAN != 0 && n_vlan > 0 {
            let vlans = &self.cold.get(slot).vlans;
            for (i, v) in vlans[..n_vlan].iter().enumerate() {
                if i > 0 {
                    out.push(b';');
                }
                tf::push_u64(out, (v >> 16) as u64);
            }
        }
        out.push(b'\t');
        let l2 = pkt.info.l2;
        if l2 != NONE && status & L2_NO_ETH == 0 {
            let (dst, src) = macs_at(pkt.from(l2));
            tf::push_mac(out, src);
            out.push(b'\t');
            tf::push_mac(out, dst);
            out.push(b'\t');
        } else {
            out.extend_from_slice(b"\t\t");
        }
        tf::push_hex(out, pkt.info.eth_type as u64, 4);
        out.push(b'\t');
        let has_l3 = pkt.info.class == FlowClass::Ip || pkt.info.status & L3_IPVX != 0;
        if !has_l3 {
            out.extend_from_slice(b"\t\t\t\t\t");
        } else {
            let ver = if status & L2_IPV6 != 0 {
                6
            } else if status & L2_IPV4 != 0 {
                4
            } else {
                0
            };
            let with_ports =
                matches!(pkt.info.l4_proto, 6 | 17 | 132 | 136) && pkt.info.class == FlowClass::Ip;
            push_ip(out, ver, &flow_key.src);
            out.push(b'\t');
            if with_ports {
                tf::push_u64(out, pkt.info.sport as u64);
            }
            out.push(b'\t');
            push_ip(out, ver, &flow_key.dst);
            out.push(b'\t');
            if with_ports {
                tf::push_u64(out, pkt.info.dport as u64);
            }
            out.push(b'\t');
            let proto = if pkt.info.class == FlowClass::Ip {
                pkt.info.l4_proto
            } else {
                0
            };
            tf::push_u64(out, proto as u64);
            out.push(b'\t');
        }
        // TIMEJUMP (packet mode only)
        if iat < 0.0 {
            cx.table.get_mut(slot).status |= TIMEJUMP;
            *cx.global_warn |= TIMEJUMP;
        }
        self.cold.fresh(slot).last_pkt = last;
    }
}

fn push_ip(out: &mut Vec<u8>, ver: u8, a: &[u8; 16]) {
    match ver {
        4 => tf::push_ipv4(out, [a[0], a[1], a[2], a[3]]),
        6 => tf::push_ipv6(out, *a),
        _ => {}
    }
}

impl Plugin for BasicFlow {
    fn name(&self) -> &'static str {
        "basicFlow"
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("flowStat", &[Ty::H64], "Flow status and warnings"),
            Column::new("timeFirst", &[Ty::Ts], "Date time of first packet"),
            Column::new("timeLast", &[Ty::Ts], "Date time of last packet"),
            Column::new("duration", &[Ty::Ts], "Flow duration"),
            Column::new(
                "numHdrDesc",
                &[Ty::U8],
                "Number of different headers descriptions",
            ),
            Column::rep(
                "numHdrs",
                &[Ty::U16],
                "Number of headers (depth) in hdrDesc",
            ),
            Column::rep("hdrDesc", &[Ty::Sc], "Headers description"),
            Column::rep("srcMac", &[Ty::Mac], "Mac source"),
            Column::rep("dstMac", &[Ty::Mac], "Mac destination"),
            Column::new("ethType", &[Ty::H16], "Ethernet type"),
            Column::rep("vlanID", &[Ty::U16], "VLAN IDs"),
            Column::new("srcIP", &[Ty::IpX], "Source IP address"),
            Column::new("srcPort", &[Ty::U16], "Source port"),
            Column::new("dstIP", &[Ty::IpX], "Destination IP address"),
            Column::new("dstPort", &[Ty::U16], "Destination port"),
            Column::new("l4Proto", &[Ty::U8], "Layer 4 protocol"),
        ]
    }

    fn packet_columns(&self) -> Vec<&'static str> {
        vec![
            "flowStat",
            "time",
            "pktIAT",
            "pktTrip",
            "flowDuration",
            "numHdrs",
            "hdrDesc",
            "vlanID",
            "srcMac",
            "dstMac",
            "ethType",
            "srcIP",
            "srcPort",
            "dstIP",
            "dstPort",
            "l4Proto",
        ]
    }

    fn prefetch(&self, slot: u32) {
        self.flows.prefetch(slot);
    }

    fn on_new_flow(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        let st = self.flows.reset(cx.slot);
        if pkt.info.status & L2_VLAN != 0 && pkt.info.vlan_blk != NONE {
            let cold = self.cold.fresh(cx.slot);
            let d = pkt.data;
            let mut pos = pkt.info.vlan_blk as usize;
            let be16 = |o: usize| crate::wire::be16_at(d, o);
            loop {
                if st.n_vlan as usize >= MAX_VLAN {
                    break;
                }
                let tci = be16(pos + 2);
                let next = be16(pos + 4);
                cold.vlans[st.n_vlan as usize] = (tci as u32) << 16 | next as u32;
                st.n_vlan += 1;
                if !matches!(next, 0x8100 | 0x88a8 | 0x9100 | 0x9200) {
                    break;
                }
                pos += 4;
            }
        }
    }

    fn on_layer2(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        self.update(cx, pkt);
    }

    fn on_layer4(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        self.update(cx, pkt);
    }

    fn on_flow_terminate(&mut self, cx: &TermCx, rec: &mut Record) {
        let f = cx.flow();
        let st = self.flows.get(cx.slot);
        let n_desc = (st.n_desc as usize).min(MAX_DESC);
        // flowStat … hdrDesc's count, in one run
        let mut a = Run::<{ 8 + 3 * 12 + 1 + 4 + 2 * MAX_DESC + 4 }>::new();
        a.u64(f.status);
        a.ts(f.first_seen.sec as u32 as u64, f.first_seen.nsec);
        let last = f.last_seen();
        a.ts(last.sec as u32 as u64, last.nsec);
        let d = last.t2_duration(f.first_seen);
        a.ts(d.sec, d.nsec);
        a.u8(st.n_desc);
        a.reps(n_desc as u32);
        a.prefix::<{ 2 * MAX_DESC }>(u16s_le(st.desc_cnt), 2 * n_desc);
        a.reps(n_desc as u32);
        rec.run(&a);
        for &id in &st.descs[..n_desc] {
            rec.str(self.descs.get(id));
        }
        // srcMac … l4Proto
        let mut b =
            Run::<{ 2 * (4 + 6 * MAX_MAC) + 2 + 4 + 2 * MAX_VLAN + 2 * (17 + 2) + 1 }>::new();
        let (n_src, n_dst) = if f.status & L2_NO_ETH != 0 {
            (0, 0)
        } else {
            (
                (st.n_src as usize).min(MAX_MAC),
                (st.n_dst as usize).min(MAX_MAC),
            )
        };
        b.reps(n_src as u32);
        b.prefix::<{ 6 * MAX_MAC }>(macs_flat(&st.src_macs), 6 * n_src);
        b.reps(n_dst as u32);
        b.prefix::<{ 6 * MAX_MAC }>(macs_flat(&st.dst_macs), 6 * n_dst);
        b.u16(f.key.eth_type);
        let n_vlan = (st.n_vlan as usize).min(MAX_VLAN);
        b.reps(n_vlan as u32);
        if n_vlan > 0 {
            let vlans = self.cold.get(cx.slot).vlans;
            b.prefix::<{ 2 * MAX_VLAN }>(u16s_le(vlans.map(|v| (v >> 16) as u16)), 2 * n_vlan);
        }
        let ver = if f.status & L2_IPV6 != 0 {
            6
        } else if f.status & L2_IPV4 != 0 {
            4
        } else {
            0
        };
        b.ip(ver, &f.key.src);
        b.u16(f.key.sport);
        b.ip(ver, &f.key.dst);
        b.u16(f.key.dport);
        b.u8(f.key.proto);
        rec.run(&b);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::same_desc;

    #[test]
    fn macs_are_read_whole_or_zero_filled() {
        let h: Vec<u8> = (1..=14).collect();
        assert_eq!(
            super::macs_at(&h),
            ([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12])
        );
        assert_eq!(
            super::macs_at(&h[..8]),
            ([1, 2, 3, 4, 5, 6], [7, 8, 0, 0, 0, 0])
        );
        assert_eq!(super::macs_at(&[]), ([0; 6], [0; 6]));
    }

    #[test]
    fn u16_lists_and_mac_lists_flatten_in_order() {
        let b: [u8; 6] = super::u16s_le([0x0102, 0x0304, 0xa0b0]);
        assert_eq!(b, [2, 1, 4, 3, 0xb0, 0xa0]);
        let m: [u8; 12] = super::macs_flat(&[[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]]);
        assert_eq!(m, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    }

    #[test]
    fn descriptions_compare_by_length_words_and_tail() {
        assert!(same_desc(b"", b""));
        assert!(same_desc(b"eth:ipv4:tcp", b"eth:ipv4:tcp"));
        assert!(same_desc(b"eth:ipv4", b"eth:ipv4"));
        assert!(!same_desc(b"eth:ipv4:tcp", b"eth:ipv4:udp"), "tail differs");
        assert!(
            !same_desc(b"eth:ipv6:tcp", b"eth:ipv4:tcp"),
            "first word differs"
        );
        assert!(!same_desc(b"eth:ipv4", b"eth:ipv4:tcp"), "prefix");
        assert!(!same_desc(
            b"eth:vlan:ipv4:udp:gtp:ipv4:tcp",
            b"eth:vlan:ipv4:udp:gtp:ipv4:udp"
        ));
    }
}
