//! tcpFlags' per-packet algorithm (spec/tcpFlags.md §5–§6, §9), in the reference's order.
//!
//! Reads beyond the captured bytes (the reference reads whatever follows in memory) return 0.

use super::*;
use crate::dissect::{FlowClass, NONE};
use crate::flowstat::{IPV4_FRAG_PENDING, L2_FLOW, TIMEJUMP};
use crate::time::Ts;
use crate::wire::checksum::range_sum_from_tail;
pub(super) use crate::wire::checksum::{fold, word_sum};
use crate::wire::{be16_at, be32_at, le16_at, u8_at};

/// The IP-level view of a packet as the plugin reads it.
struct Ip {
    is6: bool,
    l3: usize,
    l4: usize,
    /// Header length: IPv4 IHL×4, IPv6 the core's header chain length.
    hdr_len: u16,
    tos: u8,
    ttl: u8,
    /// IPv4 identification (0 for IPv6).
    id: u16,
    /// The fragment word as printed (IPv4 flags+offset, IPv6 fragment-header word or 0).
    frag_word: u16,
    /// The reference's `ipFrag` variable before the fragment analysis: IPv4 the raw
    /// network-order word read on a little-endian host masked with 0xff3f, IPv6 the offset.
    frag_raw: u16,
    more: bool,
    /// Positions of the IPv6 hop-by-hop and destination-options headers.
    hh: Option<usize>,
    dopt: Option<usize>,
    /// IPv4: the first 20 header bytes (bytes past the capture as 0); IPv6: zeros.
    v4: [u8; 20],
}

/// The `N` bytes at `at`, bytes past the capture as 0 (as the single-field readers of
/// [`crate::wire`] read them): one bounds check for all the fields of a header.
#[inline]
pub(super) fn bytes_at<const N: usize>(d: &[u8], at: usize) -> [u8; N] {
    let mut h = [0u8; N];
    match d.get(at..at.saturating_add(N)) {
        Some(s) => h.copy_from_slice(s),
        None => {
            let s = d.get(at..).unwrap_or(&[]);
            h[..s.len()].copy_from_slice(s);
        }
    }
    h
}

/// Walks the IPv6 extension headers between the innermost IPv6 header and L4.
fn v6_chain(d: &[u8], l3: usize, l4: usize) -> (Option<usize>, Option<usize>, Option<usize>) {
    let (mut hh, mut dopt, mut frag) = (None, None, None);
    let mut nh = u8_at(d, l3 + 6);
    let mut pos = l3 + 40;
    for _ in 0..16 {
        if pos >= l4 {
            break;
        }
        match nh {
            0 | 60 | 43 => {
                if nh == 0 {
                    hh = Some(pos);
                } else if nh == 60 {
                    dopt = Some(pos);
                }
                nh = u8_at(d, pos);
                pos += 8 * (u8_at(d, pos + 1) as usize + 1);
            }
            44 => {
                frag = Some(pos);
                nh = u8_at(d, pos);
                let later = be16_at(d, pos + 2) & 0xfff8 != 0;
                pos += 8;
                if later {
                    break;
                }
            }
            51 => {
                nh = u8_at(d, pos);
                pos += 4 * (u8_at(d, pos + 1) as usize + 2);
            }
            _ => break,
        }
    }
    (hh, dopt, frag)
}

/// Inlined: its fields then live in registers instead of a struct returned through memory.
#[inline(always)]
fn ip_view(pkt: &Pkt) -> Ip {
    let d = pkt.data;
    let info = pkt.info;
    let l3 = info.l3 as usize;
    let l4 = if info.l4 == NONE {
        usize::MAX / 2
    } else {
        info.l4 as usize
    };
    if info.ip_ver == 6 {
        let (hh, dopt, frag) = v6_chain(d, l3, l4);
        let fw = frag.map(|f| be16_at(d, f + 2)).unwrap_or(0);
        Ip {
            is6: true,
            l3,
            l4,
            hdr_len: info.l3_hdr_len as u16,
            tos: (be16_at(d, l3) >> 4) as u8,
            ttl: u8_at(d, l3 + 7),
            id: 0,
            frag_word: fw,
            frag_raw: fw >> 3,
            more: frag.is_some() && fw & 1 != 0,
            hh,
            dopt,
            v4: [0; 20],
        }
    } else {
        let h = bytes_at::<20>(d, l3);
        let fw = u16::from_be_bytes([h[6], h[7]]);
        Ip {
            is6: false,
            l3,
            l4,
            hdr_len: (h[0] & 0x0f) as u16 * 4,
            tos: h[1],
            ttl: h[8],
            id: u16::from_be_bytes([h[4], h[5]]),
            frag_word: fw,
            frag_raw: fw.swap_bytes() & 0xff3f,
            more: fw & 0x2000 != 0,
            hh: None,
            dopt: None,
            v4: h,
        }
    }
}

/// The reference's ones-complement accumulator over little-endian 16-bit words (spec §6.2):
/// `start`, minus the word at index `skip` (if non-zero; it may lie beyond `len`), plus the
/// `len` bytes at `base`, folded to 16 bits. u32 arithmetic wraps.
///
/// Kept out of line: it is called for the L4 segment only (the IPv4 header and the pseudo
/// header have their own short forms below), and inlining the vector loop would only grow
/// `layer4`.
#[inline(never)]
pub(super) fn acc16(d: &[u8], base: usize, start: u32, len: u16, skip: u16) -> u16 {
    // (what the payload sum costs in a worker is mostly waiting for the packet's lines, which
    // come from the reader's core: see `acc16_given` for the reader's precomputed sum)
    let mut a = start;
    if skip > 0 {
        a = a.wrapping_sub(le16_at(d, base + 2 * skip as usize) as u32);
    }
    // Bytes past the capture read as 0, so the sum over `len` bytes is the zero-padded sum
    // over the captured part of them (a lone last byte is the low byte of its word either way).
    let s = d.get(base..).unwrap_or(&[]);
    let s = &s[..s.len().min(len as usize)];
    // the sum of wrapping u32 additions is the sum modulo 2^32
    fold(a.wrapping_add(word_sum(s)))
}

/// `acc16(d, base, 0, len, skip)` from `all`, the word sum of `d[base..]` the reader computed
/// while the packet was in its cache ([`crate::dissect::PacketInfo::l4_word_sum`]): the worker
/// then reads only the skipped word and any bytes after the range, not the payload.
/// (`layer4` calls [`acc16_given_without`] with the checksum field it read already.)
#[cfg(test)]
pub(super) fn acc16_given(d: &[u8], base: usize, all: u32, len: u16, skip: u16) -> u16 {
    let skipped = if skip > 0 {
        le16_at(d, base + 2 * skip as usize)
    } else {
        0
    };
    acc16_given_without(d, base, all, len, skipped)
}

/// [`acc16_given`] with the skipped word given as read (little-endian; 0 to skip none): the
/// caller has read it already, as the header's checksum field.
#[inline]
pub(super) fn acc16_given_without(d: &[u8], base: usize, all: u32, len: u16, skipped: u16) -> u16 {
    fold(range_sum_from_tail(d, base, all, len as usize).wrapping_sub(skipped as u32))
}

/// `acc16(d, l3, 0, hdr_len, 5)`: the IPv4 header without its checksum word. A 20-byte header
/// is summed with the length known, so without the loop set-up and the skipped word's read:
/// 0 - w5 + (w0 + … + w9) wraps back to the sum of the other nine words, which is what is
/// summed. (`layer4` calls [`ip4_hdr_acc_from`] with the header it copied already.)
#[cfg(test)]
pub(super) fn ip4_hdr_acc(d: &[u8], l3: usize, hdr_len: u16) -> u16 {
    ip4_hdr_acc_from(d, l3, hdr_len, &bytes_at(d, l3))
}

/// [`ip4_hdr_acc`] given the header's first 20 bytes as [`bytes_at`] copies them. A 20-byte
/// header (almost every packet) is summed from the copy, even when not entirely captured: its
/// bytes past the capture are 0 in the copy, so is the skipped word then, and the sum of the
/// other nine words is still the whole answer.
#[inline]
fn ip4_hdr_acc_from(d: &[u8], l3: usize, hdr_len: u16, first20: &[u8; 20]) -> u16 {
    if hdr_len == 20 {
        fold(word_sum(&first20[..10]) + word_sum(&first20[12..]))
    } else {
        acc16(d, l3, 0, hdr_len, 5)
    }
}

/// `acc16` over the L4 pseudo header, starting from `start` (the L4 segment's sum), without
/// building the header: IPv4 {src, dst, 0, proto, len as big-endian u16} (12 bytes), IPv6
/// {src, dst, len as big-endian u32, 0, 0, 0, proto} (40 bytes). As little-endian words both
/// are the addresses' words plus `proto << 8` plus the swapped length (the other words are 0).
/// Addresses not entirely captured count as all zeros (as in the header built before).
pub(super) fn pseudo_hdr_acc(
    d: &[u8],
    l3: usize,
    is6: bool,
    proto: u8,
    len: u16,
    start: u16,
) -> u16 {
    let addrs = if is6 {
        d.get(l3 + 8..l3 + 40)
    } else {
        d.get(l3 + 12..l3 + 20)
    };
    // at most 16 + 1 + 3 words of 0xffff: no wrap
    fold(start as u32 + addrs.map_or(0, word_sum) + ((proto as u32) << 8) + len.swap_bytes() as u32)
}

#[inline]
fn tab(out: &mut Vec<u8>) {
    out.push(b'\t');
}

fn put_u(out: &mut Vec<u8>, v: u64) {
    tf::push_u64(out, v);
    tab(out);
}

fn put_i(out: &mut Vec<u8>, v: i64) {
    tf::push_i64(out, v);
    tab(out);
}

fn put_h(out: &mut Vec<u8>, v: u64, digits: usize) {
    tf::push_hex(out, v, digits);
    tab(out);
}

/// `n` bytes at `at` as `0x%02x` joined by `;`, then a tab.
fn put_bytes(out: &mut Vec<u8>, d: &[u8], at: usize, n: i64) {
    for i in 0..n.max(0) as usize {
        if i > 0 {
            out.push(b';');
        }
        tf::push_hex(out, u8_at(d, at + i) as u64, 2);
    }
    tab(out);
}

impl TcpFlags {
    pub(super) fn new_flow(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        let slot = cx.slot;
        let partner = cx.partner();
        let f = cx.flow();
        let ls = f.last_seen();
        let l2 = f.has(L2_FLOW) || pkt.info.class != FlowClass::Ip;
        if self.o.flgcnt {
            self.counts.reset(slot);
        }
        let st = self.flows.reset(slot);
        st.last_sec = ls.sec as u32;
        st.last_ns = ls.nsec;
        st.ipid_dmin = 0xffff;
        st.rtt_min = 65535.0;
        if l2 {
            return;
        }
        let ip = ip_view(pkt);
        st.ipid_last = ip.id;
        st.ttl_last = ip.ttl;
        st.ttl_min = ip.ttl;
        st.ttl_max = ip.ttl;
        if pkt.info.l4_proto != 6 {
            return;
        }
        // read at the L4 position even for a non-first fragment (then from its payload)
        let d = pkt.data;
        let seq = be32_at(d, ip.l4 + 4);
        let ack = be32_at(d, ip.l4 + 8);
        let raw = u8_at(d, ip.l4 + 13);
        if self.o.seqack {
            st.seq_init = seq;
            st.seq_last = seq;
            st.seq_next = seq;
            st.seq_max = seq;
            st.ack_last = ack;
            if self.o.seqack_rel {
                match partner {
                    Some(p) => {
                        let (st, op) = self.flows.pair(slot, Some(p));
                        if let Some(op) = op {
                            op.ack_init = seq;
                            st.ack_init = op.seq_init;
                        }
                    }
                    None => st.ack_init = ack,
                }
            }
        }
        if raw == 0x02 && pkt.info.snap_l7_len > 0 {
            self.flows.get_mut(slot).anom |= AN_SYN_L7CNT;
        }
    }

    pub(super) fn layer4(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        if self.reference_opts && cx.pkt_line.is_none() {
            self.layer4_with::<true>(cx, pkt)
        } else {
            self.layer4_with::<false>(cx, pkt)
        }
    }

    /// [`Self::layer4`], `FLOWS_ONLY` with the settings `Opts::DEFAULT` and no packet mode,
    /// otherwise with `self.o` and packet mode as `cx` says. The common case gets a copy of
    /// its own in which every setting is a constant and the packet-mode columns are absent, so
    /// the tests of the settings, the code they skip and the values kept only for the
    /// packet-mode line are compiled away (those values held registers, or stack slots written
    /// at every packet, across most of the function).
    fn layer4_with<const FLOWS_ONLY: bool>(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        let o = if FLOWS_ONLY { Opts::DEFAULT } else { self.o };
        let slot = cx.slot;
        let partner = cx.partner();
        let ls = cx.flow().last_seen();
        let (o_ls, o_pending) = match partner {
            Some(p) => {
                let of = cx.table.get(p);
                (of.last_seen(), of.has(IPV4_FRAG_PENDING))
            }
            None => (ls, false),
        };
        let d = pkt.data;
        let info = pkt.info;
        let ip = ip_view(pkt);
        let mut line = if FLOWS_ONLY { None } else { cx.pkt_line.take() };

        let (st, mut op) = self.flows.pair(slot, partner);
        let mut fstat = st.stat & FS_STICKY;
        let mut ipf: u16;
        if o.rtt {
            st.pkt_cnt_f += 1.0;
        }

        let snap_l3 = info.snap_l3_len;
        let snap_l4 = info.snap_l4_len as u16;
        let l3_len = info.l3_len as u16;
        let l3hd = ip.hdr_len;
        let l4_len = l3_len.wrapping_sub(l3hd);
        let proto = info.l4_proto;

        // ---- 6.1 IP header
        let mut hh_len: i16 = 0;
        let mut d_len: i16 = 0;
        let mut opt_len: i16 = 0;
        if ip.is6 {
            // IPv6 quirk: the flag bits come from offset bits 9..11 (M never shows)
            ipf = ((ip.frag_word >> 8) << 1) & 0xE0;
            if let Some(h) = ip.hh {
                hh_len = ((u8_at(d, h + 1) as i16 + 1) << 3) - 2;
            }
            if let Some(h) = ip.dopt {
                d_len = ((u8_at(d, h + 1) as i16 + 1) << 3) - 2;
            }
            if hh_len > 0 || d_len > 0 {
                if snap_l3 < l3hd as u32 || l3_len < l3hd {
                    ipf |= IPF_OPT_CORRPT;
                } else {
                    if let Some(h) = ip.hh {
                        let (bits, cnt) = v6_opts(d, h + 2, hh_len);
                        st.ip6_hh_bits |= bits;
                        st.ip6_hh_cnt = st.ip6_hh_cnt.wrapping_add(cnt);
                    }
                    if let Some(h) = ip.dopt {
                        let (bits, cnt) = v6_opts(d, h + 2, d_len);
                        st.ip6_d_bits |= bits;
                        st.ip6_d_cnt = st.ip6_d_cnt.wrapping_add(cnt);
                    }
                }
            }
        } else {
            ipf = (ip.v4[6] & 0xE0) as u16;
            opt_len = l3hd as i16 - 20;
            if opt_len > 0 {
                if snap_l3 < l3hd as u32 || l3_len < l3hd {
                    ipf |= IPF_OPT_CORRPT;
                } else {
                    let b = ip.l3 + 20;
                    let mut i = 0usize;
                    while (i as i64) < opt_len as i64 && u8_at(d, b + i) != 0 {
                        let t = u8_at(d, b + i);
                        st.ipopt_cpcl |= t & 0xE0;
                        st.ipopt_bits |= 1u32 << (t & 0x1F);
                        st.ipopt_cnt = st.ipopt_cnt.wrapping_add(1);
                        let l = u8_at(d, b + i + 1);
                        if t > 1 && l == 0 {
                            ipf |= IPF_OPT_CORRPT;
                            break;
                        }
                        i += if t > 1 { l as usize } else { 1 };
                    }
                }
            }
        }
        if ip.ttl != st.ttl_last {
            st.ttl_chg = st.ttl_chg.wrapping_add(1);
        }
        st.ttl_last = ip.ttl;
        st.ttl_min = st.ttl_min.min(ip.ttl);
        st.ttl_max = st.ttl_max.max(ip.ttl);
        st.tos_agg |= ip.tos;

        let mut ip_id_diff: i32 = 0;
        let mut ip_hdr_ck: u16 = 0;
        let mut ip_cal_ck: u16 = 0;
        if !ip.is6 {
            if fstat & FS_INTDIS_OK != 0 {
                ip_id_diff = ip.id as i32 - st.ipid_last as i32;
                // T2 quirk: every decrease counts as roll-over (ID_OUT_ORDER is unreachable)
                if ip.id < st.ipid_last {
                    ipf |= IPF_ID_ROLL_OVER;
                }
                // negative deltas wrap into the u16 minimum (e.g. -5 -> 65531)
                if ip_id_diff < st.ipid_dmin as i32 {
                    st.ipid_dmin = ip_id_diff as u16;
                }
                if ip_id_diff > st.ipid_dmax as i32 {
                    st.ipid_dmax = ip_id_diff as u16;
                }
            }
            ip_hdr_ck = u16::from_be_bytes([ip.v4[10], ip.v4[11]]);
            if snap_l3 < l3hd as u32 {
                ipf |= IPF_SNP_HLEN_WRN | IPF_L3CHK_SUMERR;
            } else if o.ipchecksum > 0 {
                ip_cal_ck = (!ip4_hdr_acc_from(d, ip.l3, l3hd, &ip.v4)).swap_bytes();
                if ip_cal_ck != ip_hdr_ck {
                    ipf |= IPF_L3CHK_SUMERR;
                }
            }
        }

        // ---- 6.2 L4 checksum, carried over fragments
        let ck_first = ip.frag_raw & 0xff1f == 0;
        let mut l4_hdr_ck: u16 = 0;
        let mut l4_cal_ck: u16 = 0;
        let mut l4hl: u16 = 8;
        let mut p_hdr = true;
        let mut chk_len = l4_len;
        let mut supported = true;
        if ck_first {
            fstat |= FS_L4CHKSUMC;
            let pos: Option<u16> = match proto {
                1 | 2 => {
                    p_hdr = false;
                    Some(1)
                }
                58 => Some(1),
                6 => {
                    l4hl = info.l4_hdr_off as u16;
                    Some(8)
                }
                17 | 136 => {
                    let ulen = be16_at(d, ip.l4 + 4) as i32;
                    if proto == 136 {
                        if ulen >= 8 && ulen <= l4_len as i32 {
                            chk_len = ulen as u16;
                        } else {
                            ipf |= IPF_HLEN_WRN;
                        }
                    }
                    if snap_l4 as i32 != ulen {
                        ipf |= IPF_HLEN_WRN;
                    }
                    Some(3)
                }
                47 => Some(if u8_at(d, ip.l4) & 0x80 != 0 { 2 } else { 0 }),
                89 => {
                    if u8_at(d, ip.l4) == 2 {
                        p_hdr = false;
                    }
                    Some(6)
                }
                _ => None,
            };
            match pos {
                Some(pos) => {
                    l4_hdr_ck = be16_at(d, ip.l4 + 2 * pos as usize);
                    st.l4_ck_hdr = l4_hdr_ck;
                    st.frag_l4_total = 0;
                    if snap_l3 < l3_len as u32 || snap_l4 < l4_len {
                        // quirk: the accumulator is not recomputed; the stale one is reused
                        ipf |= IPF_SNP_HLEN_WRN | IPF_L4CHK_SUMERR;
                    } else if pos != 0 && o.ipchecksum > 1 {
                        st.l4_acc = match pkt.info.l4_word_sum {
                            // the skipped word is the checksum field just read
                            Some(all) => {
                                acc16_given_without(d, ip.l4, all, chk_len, l4_hdr_ck.swap_bytes())
                            }
                            None => acc16(d, ip.l4, 0, chk_len, pos),
                        };
                    }
                }
                None => {
                    if snap_l3 < l3_len as u32 {
                        ipf |= IPF_SNP_HLEN_WRN | IPF_L4CHK_SUMERR;
                    }
                    fstat &= !FS_L4CHKSUMC;
                    supported = false;
                }
            }
        }
        if supported && o.ipchecksum > 1 {
            // (data of non-first fragments is never added: that path is unreachable in T2)
            st.frag_l4_total = st.frag_l4_total.wrapping_add(l4_len as u32);
            if !ip.more {
                if p_hdr {
                    let len = if ck_first {
                        l4_len
                    } else {
                        st.frag_l4_total as u16
                    };
                    st.l4_acc = pseudo_hdr_acc(d, ip.l3, ip.is6, proto, len, st.l4_acc);
                }
                l4_hdr_ck = st.l4_ck_hdr;
                // a computed 0x0000 is printed as 0xffff
                l4_cal_ck = if st.l4_acc != 0xffff {
                    (!st.l4_acc).swap_bytes()
                } else {
                    0xffff
                };
                if l4_hdr_ck != l4_cal_ck {
                    ipf |= IPF_L4CHK_SUMERR;
                }
                fstat &= !FS_L4CHKSUMC;
            }
        }

        // ---- 6.3 inter-packet distance (u32 seconds difference: wraps, quirk)
        let dist = ((ls.sec as u32).wrapping_sub(st.last_sec) as f64
            + (ls.nsec as i64 - st.last_ns as i64) as f64 / 1e9) as f32;
        let mut timejump = false;
        if fstat & FS_INTDIS_OK != 0 {
            if dist == 0.0 {
                ipf |= IPF_PKT_INTDIS;
            } else if dist < 0.0 {
                ipf |= IPF_PKT_INTDISN;
                timejump = true;
            }
        }
        st.last_sec = ls.sec as u32;
        st.last_ns = ls.nsec;

        // ---- 6.4 fragment position analysis
        let mut ip_frag = ip.frag_raw;
        if o.frag_analyze && ip_frag != 0 {
            // IPv6 quirk: the host-order offset is byte-swapped here
            ip_frag = ip_frag.swap_bytes() & 0x1fff;
            if ip.more && l3_len < 48 {
                ipf |= IPF_FRAG_BLW_MIN;
            }
            if ip_frag as i32 - st.frag_next as i32 > 1 {
                ipf |= IPF_FRAG_NXTPPOS;
            }
            st.frag_next = ip_frag.wrapping_add(l4_len >> 3);
            if st.frag_next > 0x1fff {
                ipf |= IPF_FRAG_OUT_RNG;
            }
        }
        st.ip_flags |= ipf;
        st.ipid_last = ip.id;

        // ---- 6.5 RTT estimation (updates the opposite flow)
        if o.rtt {
            if let Some(op) = op.as_deref_mut() {
                if st.rtt_flag != RTT_STOP {
                    let dns = (ls.nsec as f32 - o_ls.nsec as f32) as f64 / 1e9;
                    let t =
                        ((ls.sec as i64).wrapping_sub(o_ls.sec as i64) as f64 + dns).abs() as f32;
                    op.rtt_min = if t < op.rtt_min { t } else { op.rtt_min };
                    op.rtt_max = if t > op.rtt_max { t } else { op.rtt_max };
                    if op.rtt_flag & (RTT_SYN | RTT_SYNACK) != 0 && op.pkt_cnt_f == 1.0 {
                        op.rtt_trip = t;
                        op.rtt_avg = t;
                    } else {
                        // quirk: divided by THIS flow's packet count (f32 throughout)
                        let dl = t - op.rtt_avg;
                        op.rtt_avg += dl / st.pkt_cnt_f;
                        op.rtt_jit += (dl * dl - op.rtt_jit) / st.pkt_cnt_f;
                        op.rtt_flag = RTT_ACK;
                    }
                }
            }
        } else if let Some(op) = op.as_deref_mut() {
            op.rtt_flag = 0;
        }

        // ---- packet mode: IP part
        if let Some(out) = line.as_deref_mut() {
            match o.iptos {
                0 => put_h(out, ip.tos as u64, 2),
                v => {
                    tf::push_u64(
                        out,
                        if v == 2 {
                            (ip.tos >> 5) as u64
                        } else {
                            (ip.tos >> 2) as u64
                        },
                    );
                    out.push(b'_');
                    put_u(out, (ip.tos & 3) as u64);
                }
            }
            put_u(out, ip.id as u64);
            put_i(out, ip_id_diff as i64);
            put_h(out, ip.frag_word as u64, 4);
            put_u(out, ip.ttl as u64);
            put_h(out, ip_hdr_ck as u64, 4);
            put_h(out, ip_cal_ck as u64, 4);
            put_h(out, l4_hdr_ck as u64, 4);
            put_h(out, l4_cal_ck as u64, 4);
            put_h(out, ipf as u64, 4);
            if ip.is6 {
                put_i(out, hh_len as i64);
                put_bytes(out, d, ip.hh.map_or(0, |h| h + 2), hh_len as i64);
                put_i(out, d_len as i64);
                put_bytes(out, d, ip.dopt.map_or(0, |h| h + 2), d_len as i64);
                out.extend_from_slice(b"0\t\t");
            } else {
                out.extend_from_slice(b"0\t\t0\t\t");
                put_i(out, opt_len as i64);
                put_bytes(out, d, ip.l3 + 20, opt_len as i64);
            }
        }

        // ---- 6.6 non-TCP exit (TCP at offsets 0, 32, …, 224 units takes the TCP path: quirk)
        let tcp_path = proto == 6 && ip_frag & 0xff1f == 0;
        if !tcp_path {
            if let Some(out) = line.as_deref_mut() {
                if o.seqack {
                    out.resize(out.len() + 11, b'\t');
                }
                out.extend_from_slice(b"0x0000\t\t\t\t\t\t");
                if o.nat_bt {
                    out.extend_from_slice(b"\t\t");
                }
                if o.mptcp {
                    out.extend_from_slice(b"\t\t\t\t");
                }
                out.extend_from_slice(b"0\t\t");
            }
            if o.rtt {
                if st.pkt_cnt_f == 1.0 {
                    st.rtt_flag = RTT_SYNACK;
                } else if st.rtt_flag == RTT_SYNACK {
                    st.rtt_flag = RTT_ACK;
                }
            }
            fstat |= FS_INTDIS_OK;
            st.stat |= fstat;
            if !FLOWS_ONLY {
                cx.pkt_line = line;
            }
            if timejump {
                cx.flow_mut().status |= TIMEJUMP;
                *cx.global_warn |= TIMEJUMP;
            }
            return;
        }

        // ---- 6.7 TCP flags, RTT state, bytes in flight
        let t4 = ip.l4;
        let th = bytes_at::<20>(d, t4);
        let raw = th[13];
        let l7 = info.l7_len;
        let mut pa: u16 = 0;
        let mut flags = raw as u16;
        let tfl = raw & 0x3F;
        if tfl == 0 {
            flags |= TF_NULL;
            pa |= AN_SCAN_DET;
        } else if tfl == 0x29 {
            flags |= TF_XMAS;
            pa |= AN_SCAN_DET;
        }
        // TCPFLGCNT index of the flag combination (FIN-ACK … RST-FIN)
        let mut combo: Option<usize> = None;
        match raw & 0x17 {
            0x02 => {
                if st.rtt_flag == RTT_SYN {
                    if dist as f64 > 0.9 {
                        pa |= AN_SYN_RETRY;
                        self.g.n_syn_retries += 1;
                    } else {
                        pa |= AN_SCAN_DET;
                        self.g.n_scans += 1;
                    }
                }
                if l7 != 0 {
                    pa |= AN_SYN_L7CNT;
                }
                st.rtt_flag = RTT_SYN;
            }
            0x12 => {
                flags |= TF_SYN_ACK;
                st.rtt_flag = RTT_SYNACK;
                combo = Some(9);
            }
            0x10 => {
                if st.rtt_flag == RTT_SYNACK {
                    st.rtt_flag = RTT_ACK;
                }
                if let Some(op) = op.as_deref_mut() {
                    if o.rtt && (op.rtt_flag == 0 || op.rtt_flag == RTT_SYNACK) {
                        op.rtt_flag = RTT_ACK;
                    }
                    if o.seqack {
                        op.inflight = 0;
                        st.inflight = st.inflight.wrapping_add(l7 as u32);
                        st.inflight_max = st.inflight_max.max(st.inflight);
                    }
                }
            }
            v => {
                let (bit, idx) = match v {
                    0x11 => (TF_FIN_ACK, 8),
                    0x14 => (TF_RST_ACK, 10),
                    0x03 => (TF_SYN_FIN, 12),
                    0x07 => (TF_SYN_FIN_RST, 13),
                    0x05 => (TF_RST_FIN, 14),
                    _ => (0, 99),
                };
                flags |= bit;
                if idx != 99 {
                    combo = Some(idx);
                }
                st.rtt_flag = RTT_STOP;
            }
        }
        if o.flgcnt {
            let c = self.counts.get_mut(slot);
            for (i, n) in c.iter_mut().enumerate().take(8) {
                if *n < 0xffff && raw & (1 << i) != 0 {
                    *n += 1;
                }
            }
            // the NULL/XMAS count and the combination count are two separate increments
            if tfl == 0 {
                c[11] = c[11].wrapping_add(1);
            } else if tfl == 0x29 {
                c[15] = c[15].wrapping_add(1);
            }
            if let Some(i) = combo {
                c[i] = c[i].wrapping_add(1);
            }
        }

        // ---- 6.8 TCP options
        let opt_base = t4 + 20;
        let tcp_opt_len = l4hl as i32 - 20;
        let (mut mp_typ, mut mp_f, mut mp_aid, mut mp_dss) = (0u16, 0u8, 0u8, 0u8);
        if tcp_opt_len > 0 {
            if snap_l3 < (l3hd as u32 + l4hl as u32) && l4_len >= l4hl {
                fstat |= FS_OPTCORRPT;
            } else {
                st.opt_pkt_cnt = st.opt_pkt_cnt.wrapping_add(1);
                let nop_nop_ts = bytes_at::<12>(d, opt_base);
                let mut i = 0usize;
                if tcp_opt_len == 12 && nop_nop_ts[..4] == NOP_NOP_TS && raw & 0x02 == 0 {
                    // what the loop below does for these three options (outside a SYN: no JA4T)
                    st.opt_cnt = st.opt_cnt.wrapping_add(3);
                    st.tcpopt_bits |= 1 << 1 | 1 << 8;
                    if o.nat_bt {
                        let val = u32::from_be_bytes([
                            nop_nop_ts[4],
                            nop_nop_ts[5],
                            nop_nop_ts[6],
                            nop_nop_ts[7],
                        ]);
                        let ecr = u32::from_be_bytes([
                            nop_nop_ts[8],
                            nop_nop_ts[9],
                            nop_nop_ts[10],
                            nop_nop_ts[11],
                        ]);
                        timestamp_option(st, val, ecr, ls, &mut fstat);
                    }
                    i = 12;
                }
                while (i as i64) < tcp_opt_len as i64 && u8_at(d, opt_base + i) != 0 {
                    let k = u8_at(d, opt_base + i);
                    let at = opt_base + i;
                    st.opt_cnt = st.opt_cnt.wrapping_add(1);
                    if o.ja4t && (st.ja4_n as usize) < JA4T_MAX && raw & 0x02 != 0 {
                        st.ja4[st.ja4_n as usize] = k;
                        st.ja4_n += 1;
                    }
                    st.tcpopt_bits |= if k < 31 { 1u32 << k } else { 1u32 << 31 };
                    let len = u8_at(d, at + 1);
                    if k > 1 && len == 0 {
                        fstat |= FS_OPTCORRPT;
                        break;
                    }
                    match k {
                        2 => st.mss = (u8_at(d, at + 2) as u16) << 8 | u8_at(d, at + 3) as u16,
                        5 => fstat |= FS_SACK,
                        3 if raw & 0x02 != 0 => {
                            st.ws_shift = u8_at(d, at + 2);
                            if raw & 0x12 == 0x12 {
                                // set directly in the flow state: not visible in this packet
                                st.stat |= FS_WS_USED;
                                if let Some(op) = op.as_deref_mut() {
                                    op.stat |= FS_WS_USED;
                                }
                            }
                        }
                        8 if o.nat_bt => {
                            let (val, ecr) = (be32_at(d, at + 2), be32_at(d, at + 6));
                            timestamp_option(st, val, ecr, ls, &mut fstat);
                        }
                        30 if o.mptcp => {
                            let b2 = u8_at(d, at + 2);
                            let b3 = u8_at(d, at + 3);
                            let sub = b2 >> 4;
                            mp_typ = sub as u16;
                            st.mp_types |= 1u16 << sub;
                            match sub {
                                0 => {
                                    mp_f = b3;
                                    st.mp_flags |= mp_f;
                                }
                                // JOIN and PRIO only when the option is at most 16 bytes long
                                1 | 5 if len <= 16 => {
                                    mp_f = b2 & 0x0f;
                                    mp_aid = b3;
                                    st.mp_flags |= mp_f;
                                    st.mp_addr_id = mp_aid;
                                }
                                2 => {
                                    mp_dss = b3 & 0x1f;
                                    st.mp_dss |= mp_dss;
                                }
                                3 | 4 => {
                                    mp_aid = b3;
                                    st.mp_addr_id = mp_aid;
                                }
                                _ => {}
                            }
                            fstat |= FS_MPTCP;
                            self.g.n_mptcp_opts += 1;
                        }
                        _ => {}
                    }
                    i += if k > 1 { len as usize } else { 1 };
                }
            }
        }

        // ---- 6.9 window engine
        let mut win = u16::from_be_bytes([th[14], th[15]]) as u32;
        let mut wsc: u16 = 0;
        if fstat & FS_WS_USED != 0 {
            // x86 shift semantics: the count is taken mod 32; shifts >= 16 give 0
            wsc = (1u32 << (st.ws_shift & 31)) as u16;
            win = win.wrapping_mul(wsc as u32);
        }
        if o.window {
            self.g.n_tcp_pkts += 1;
            st.tcp_pkt_cnt = st.tcp_pkt_cnt.wrapping_add(1);
            if o.winmin > 0 && raw & 0x07 == 0 && win < o.winmin {
                self.g.n_low_win += 1;
                st.win_low_cnt = st.win_low_cnt.wrapping_add(1);
                fstat |= FS_ZWIN;
            }
            if fstat & FS_WIN_INIT == 0 {
                st.win_min = win;
                st.win_max = win;
                st.win_init = win;
                st.win_last = win;
                st.win_avg = win as f32;
                fstat |= FS_WIN_INIT;
            }
            // IIR filter in double, stored as float
            st.win_avg = (st.win_avg as f64 * 0.7 + (win as f32) as f64 * 0.3) as f32;
            // quirk: WIN_UP is sticky in the aggregate, so the state restarts "up" each packet
            if fstat & FS_WIN_UP == 0 {
                if win < st.win_last {
                    st.win_down = st.win_down.wrapping_add(1);
                    st.win_min = st.win_min.min(win);
                } else if win > st.win_last {
                    st.win_chg = st.win_chg.wrapping_add(1);
                    st.win_up = st.win_up.wrapping_add(1);
                    st.win_max = st.win_max.max(win);
                    fstat |= FS_WIN_UP;
                }
            } else if win > st.win_last {
                st.win_up = st.win_up.wrapping_add(1);
                st.win_max = st.win_max.max(win);
            } else if win < st.win_last {
                st.win_chg = st.win_chg.wrapping_add(1);
                st.win_down = st.win_down.wrapping_add(1);
                st.win_min = st.win_min.min(win);
                fstat &= !FS_WIN_UP;
            }
        }

        // ---- 6.10 SEQ/ACK analysis
        let seq = u32::from_be_bytes([th[4], th[5], th[6], th[7]]);
        let ack = u32::from_be_bytes([th[8], th[9], th[10], th[11]]);
        let (mut sd, mut ad, mut sl, mut al) = (0i32, 0i32, 0i32, 0i32);
        let seq_max_before = st.seq_max;
        if o.seqack {
            if let Some(op) = op.as_deref() {
                if raw & 0x07 == 0 {
                    if op.win_last == 0 && l7 == 1 {
                        fstat |= FS_WIN_0PRB;
                    } else if op.stat_last & FS_WIN_0PRB != 0 && win == 0 && l7 == 0 {
                        fstat |= FS_WIN_0PRBACK;
                    }
                }
            }
            let probe = fstat & (FS_WIN_0PRB | FS_WIN_0PRBACK) != 0;
            if raw & 0x10 != 0 && !probe {
                if l7 <= 1 && raw & 0x07 == 0 {
                    if seq == st.seq_max.wrapping_sub(1) {
                        pa |= AN_KPALV;
                    } else if op
                        .as_deref()
                        .is_some_and(|p| p.seq_next == ack.wrapping_sub(1))
                    {
                        pa |= AN_KPALVACK;
                    }
                }
                if st.ack_last == ack && pa & (AN_KPALV | AN_KPALVACK) == 0 {
                    if fstat & FS_INTDIS_OK != 0 && raw & 0x07 == 0 && l7 == 0 {
                        if st.win_last == win
                            || (fstat & FS_WS_USED != 0
                                && st.win_last.wrapping_mul(wsc as u32) == win)
                        {
                            pa |= AN_ACK_2;
                            st.ack_fault_cnt = st.ack_fault_cnt.wrapping_add(1);
                        } else if seq == st.seq_next {
                            fstat |= FS_WIN_UPD;
                        }
                    }
                    if raw & 0x07 == 0 && seq < st.seq_max {
                        pa |= AN_SEQ_OUTORDR;
                    } else if seq < st.seq_next {
                        let late = if o.rtt {
                            op.as_deref().is_some_and(|p| {
                                dist as f64 > (p.rtt_avg + st.rtt_avg) as f64 * 1.5
                            })
                        } else {
                            dist as f64 > 1.5
                        };
                        if late && st.win_last == win {
                            pa |= AN_SEQ_TRETRY;
                            self.g.n_seq_retries += 1;
                            st.seq_fault_cnt = st.seq_fault_cnt.wrapping_add(1);
                        }
                    }
                    if let Some(p) = op.as_deref() {
                        if p.anom_last & AN_ACK_2 != 0
                            && seq == p.ack_last
                            && (l7 > 0 || raw & 0x03 != 0)
                            && seq < st.seq_next
                        {
                            pa |= AN_SEQ_FRETRY;
                            self.g.n_seq_retries += 1;
                            st.seq_fault_cnt = st.seq_fault_cnt.wrapping_add(1);
                        }
                        if p.ack_last > seq {
                            pa |= AN_SEQ_PLSSMS;
                        }
                    }
                }
                if seq == st.seq_next {
                    st.seq_ok_cnt = st.seq_ok_cnt.wrapping_add(1);
                }
                if op.as_deref().is_some_and(|p| p.seq_max < ack) {
                    pa |= AN_ACK_UNSEEN;
                    st.ack_fault_cnt = st.ack_fault_cnt.wrapping_add(1);
                }
                if st.flags_last & 0x07 == 0 && seq > st.seq_max {
                    pa |= AN_PKT_NCAP;
                }
                if st.seq_last != 0 {
                    sd = seq.wrapping_sub(st.seq_last) as i32;
                    sl = sd.max(0);
                    if st.flags_last & 0x07 != 0 && sd == 1 {
                        sl = 0;
                    }
                    st.seq_bytes += sl as i64;
                }
                if st.ack_last != 0 {
                    ad = ack.wrapping_sub(st.ack_last) as i32;
                    al = ad.max(0);
                    let o_sfr = op.as_deref().is_some_and(|p| p.flags_last & 0x07 != 0);
                    if (st.flags_last & 0x07 != 0 || o_sfr) && ad == 1 {
                        al = 0;
                    }
                    st.ack_bytes += al as i64;
                }
                st.ack_cnt = st.ack_cnt.wrapping_add(1);
            }
            st.payload_sum += l7 as i64;
            if let Some(p) = op.as_deref() {
                if !probe
                    && st.inflight >= p.win_last
                    && p.flags_last & 0x04 == 0
                    && st.flags_agg & 0x02 != 0
                {
                    fstat |= FS_WIN_FLL;
                }
            }
            if pa & AN_SCAN_DET != 0 || st.anom & AN_SCAN_DET != 0 {
                pa &= !AN_LOW6;
            }
        }

        // ---- packet mode: TCP part
        if let Some(out) = line.as_deref_mut() {
            if o.seqack {
                let (mut s, mut a, mut m) = (seq, ack, seq_max_before);
                if o.seqack_rel {
                    s = s.wrapping_sub(st.seq_init);
                    a = a.wrapping_sub(st.ack_init);
                    m = m.wrapping_sub(st.seq_init);
                }
                for v in [s, a, m] {
                    if o.seqack_hex {
                        put_h(out, v as u64, 8);
                    } else {
                        put_u(out, v as u64);
                    }
                }
                put_i(out, sd as i64);
                put_i(out, ad as i64);
                put_u(out, sl as u64);
                put_u(out, al as u64);
                put_i(out, st.seq_bytes);
                put_i(out, st.ack_bytes);
                put_i(out, st.payload_sum);
                put_u(out, st.inflight as u64);
            }
            put_h(out, fstat as u64, 4);
            put_h(out, flags as u64, 4);
            put_h(out, pa as u64, 4);
            put_u(out, win as u64);
            put_u(out, wsc as u64);
            put_u(out, st.mss as u64);
            if o.nat_bt {
                put_u(out, st.ts_val as u64);
                put_u(out, st.ts_ecr as u64);
            }
            if o.mptcp {
                put_u(out, mp_typ as u64);
                put_h(out, mp_f as u64, 2);
                put_u(out, mp_aid as u64);
                put_h(out, mp_dss as u64, 2);
            }
            put_i(out, tcp_opt_len as i64);
            put_bytes(out, d, opt_base, tcp_opt_len as i64);
        }

        // ---- 6.11 end of the TCP packet
        if o.seqack {
            st.seq_last = seq;
            st.seq_next = seq.wrapping_add(l7 as u32);
            if raw & 0x07 != 0 {
                st.seq_next = st.seq_next.wrapping_add(1);
            } else if fstat & FS_WIN_0PRB != 0 {
                st.seq_next = st.seq_next.wrapping_sub(1);
            }
            st.ack_last = ack;
            st.seq_max = st.seq_max.max(st.seq_next);
        }
        if o.window {
            st.win_last = win;
        }
        st.flags_last = raw;
        st.flags_agg |= flags;
        st.anom |= pa;
        st.anom_last = pa;
        fstat |= FS_INTDIS_OK;
        st.stat |= fstat;
        st.stat_last = fstat;
        if o.frag_analyze && o_pending && raw & 0x05 != 0 {
            if let Some(p) = op {
                p.ip_flags |= IPF_FRAG_SEQERR;
            }
        }
        if o.scan && st.scan_pkts < SCAN_PMAX + 2 {
            st.scan_pkts += 1;
        }
        if !FLOWS_ONLY {
            cx.pkt_line = line;
        }
        if timejump {
            cx.flow_mut().status |= TIMEJUMP;
            *cx.global_warn |= TIMEJUMP;
        }
    }
}

/// NOP, NOP, timestamp (kind 8, length 10): the whole option block of most TCP packets
/// outside the handshake (12 bytes), which `layer4` handles without its option loop.
const NOP_NOP_TS: [u8; 4] = [1, 1, 8, 10];

/// The timestamp option (NAT_BT_EST): the last values and their time, the highest value seen
/// (FS_TM_DEC when one goes back), and the first value and its time (once per flow,
/// FS_OPT_INIT).
#[inline]
fn timestamp_option(st: &mut State, val: u32, ecr: u32, ls: Ts, fstat: &mut u16) {
    st.ts_val = val;
    st.ts_ecr = ecr;
    st.ts_last_sec = ls.sec;
    st.ts_last_ns = ls.nsec;
    if val < st.ts_val_hi {
        *fstat |= FS_TM_DEC;
    } else {
        st.ts_val_hi = val;
        if *fstat & FS_OPT_INIT == 0 {
            st.ts_val_init = val;
            st.ts_first_sec = ls.sec;
            st.ts_first_ns = ls.nsec;
            *fstat |= FS_OPT_INIT;
        }
    }
}

/// Walks IPv6 HH/D option bytes: Pad1 (type 0) ends the walk, every other entry counts.
fn v6_opts(d: &[u8], at: usize, len: i16) -> (u32, u16) {
    let (mut bits, mut cnt) = (0u32, 0u16);
    let mut i = 0usize;
    while (i as i64) < len as i64 && u8_at(d, at + i) != 0 {
        let t = u8_at(d, at + i);
        bits |= 1u32 << (t & 0x1F);
        cnt = cnt.wrapping_add(1);
        i += u8_at(d, at + i + 1) as usize + 2;
    }
    (bits, cnt)
}
