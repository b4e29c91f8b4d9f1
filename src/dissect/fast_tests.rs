//! The fast path (`fast.rs`) against the full path: every packet of every capture in
//! `../shared/pcaps`, hand-built edge cases and random corruptions of plain frames must give
//! the same [`PacketInfo`], hdrDesc, warnings, dissector tallies and reader counters.

use super::*;
use crate::capture::PcapReader;
use crate::dispatch::Ingest;
use crate::testutil::XorShift;
use std::path::Path;

/// A reader-side [`Ingest`] with the fast path (`fast`) or without it, summing L4 words as
/// the tcpFlags plugin has it do.
fn ingest(fast: bool) -> Ingest {
    let mut i = Ingest {
        l4_word_sums: true,
        ..Ingest::default()
    };
    i.dissector.full_path_only = !fast;
    i
}

/// Everything one dissection leaves behind, as text (Debug shows every field).
fn state(i: &Ingest, info: &PacketInfo, desc: &[u8]) -> String {
    let d = &i.dissector;
    format!(
        "{info:?}\ndesc {:?}\nwarnings {:?}\nwarned_snap {} bad_version {} vlan_max {} mpls_max {}",
        String::from_utf8_lossy(desc),
        d.warnings(),
        d.warned_snap,
        d.bad_version_frames,
        d.vlan_max,
        d.mpls_max
    )
}

/// Both paths, side by side over a sequence of packets (the dissector keeps state between
/// packets: the snap warning, the tallies).
struct Pair {
    fast: Ingest,
    full: Ingest,
    /// Packets the fast path took.
    taken: u64,
    packets: u64,
}

impl Pair {
    fn new() -> Pair {
        Pair {
            fast: ingest(true),
            full: ingest(false),
            taken: 0,
            packets: 0,
        }
    }

    /// Runs one record through both; panics with both results when they differ. Returns
    /// whether the fast path took the packet.
    fn packet(&mut self, data: &[u8], wire_len: u32, linktype: u32, what: &str) -> bool {
        let ts = crate::time::Ts {
            sec: self.packets,
            nsec: 0,
        };
        self.packets += 1;
        // whether the fast path takes it, asked of a separate dissector
        let mut probe = Dissector::new();
        let mut scratch = PacketInfo::default();
        let taken = linktype == dlt::EN10MB && probe.fast_ethernet(data, wire_len, &mut scratch);
        self.taken += taken as u64;
        let mut a = PacketInfo::default();
        let mut b = PacketInfo::default();
        let da = self
            .fast
            .ingest_into(ts, data, wire_len, linktype, &mut a)
            .to_vec();
        let db = self
            .full
            .ingest_into(ts, data, wire_len, linktype, &mut b)
            .to_vec();
        let (sa, sb) = (state(&self.fast, &a, &da), state(&self.full, &b, &db));
        assert!(
            sa == sb,
            "{what}: fast path (taken: {taken}) differs from the full path\n\
             frame ({} of {wire_len} bytes): {data:02x?}\nfast:\n{sa}\nfull:\n{sb}",
            data.len()
        );
        taken
    }

    /// The counters at the end (after [`Ingest::finish_counters`]) must agree too.
    fn finish(&mut self, what: &str) {
        self.fast.finish_counters();
        self.full.finish_counters();
        let (a, b) = (
            format!("{:?}", self.fast.counters),
            format!("{:?}", self.full.counters),
        );
        assert!(a == b, "{what}: counters differ\nfast: {a}\nfull: {b}");
    }
}

#[test]
fn fast_path_equals_full_path_on_every_shared_capture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps");
    let mut files = Vec::new();
    for dir in ["ndpi", "tcpdump"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
    }
    files.sort();
    assert!(
        files.len() >= 800,
        "expected the 837 captures of ../shared/pcaps, found {}",
        files.len()
    );
    let (mut packets, mut taken) = (0, 0);
    for f in &files {
        let name = f.display().to_string();
        let Ok(mut r) = PcapReader::open(&name) else {
            continue;
        };
        let mut pair = Pair::new();
        let mut n = 0u64;
        while let Ok(Some(rec)) = r.next_record() {
            n += 1;
            // as the reader loop does: an unsupported link type dissects as nothing
            let lt = if dlt::supported(rec.linktype) {
                rec.linktype
            } else {
                u32::MAX
            };
            pair.packet(rec.data, rec.len, lt, &format!("{name} packet {n}"));
        }
        pair.finish(&name);
        packets += pair.packets;
        taken += pair.taken;
    }
    eprintln!("{packets} packets, {taken} through the fast path");
    // the comparison means something only if the fast path takes a good part of them
    assert!(
        taken * 2 > packets,
        "{taken} of {packets} through the fast path"
    );
}

// ------------------------------------------------------------------ hand-built frames

const MAC_DST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const MAC_SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];

/// Ethernet with `tags` (TPID, TCI) in front of EtherType `t`.
fn eth(tags: &[(u16, u16)], t: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&MAC_DST);
    v.extend_from_slice(&MAC_SRC);
    for &(tpid, tci) in tags {
        v.extend_from_slice(&tpid.to_be_bytes());
        v.extend_from_slice(&tci.to_be_bytes());
    }
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// IPv4 without options, total length = header + payload.
fn ipv4(proto: u8, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut v = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0x12,
        0x34,
        0x40,
        0,
    ];
    v.extend_from_slice(&[ttl, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    v.extend_from_slice(payload);
    v
}

fn ipv6(nh: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0x60, 0, 0, 0];
    v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    v.extend_from_slice(&[nh, 64]);
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    v.extend_from_slice(payload);
    v
}

fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
    v.extend_from_slice(payload);
    v
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(payload);
    v
}

fn icmp(payload: &[u8]) -> Vec<u8> {
    let mut v = vec![8, 0, 0, 0, 0, 1, 0, 1];
    v.extend_from_slice(payload);
    v
}

/// Frames the fast path must take, in every shape it knows.
fn plain_frames() -> Vec<Vec<u8>> {
    let data: &[u8] = b"some application bytes";
    let mut v = Vec::new();
    for tags in [
        &[][..],
        &[(0x8100, 0x0064)][..],
        &[(0x88a8, 0x0005), (0x8100, 0x0000)][..],
    ] {
        for pl in [&[][..], data] {
            v.push(eth(tags, 0x0800, &ipv4(6, 64, &tcp(40000, 443, pl))));
            v.push(eth(tags, 0x0800, &ipv4(17, 64, &udp(53, 40000, pl))));
            v.push(eth(tags, 0x0800, &ipv4(1, 64, &icmp(pl))));
            v.push(eth(tags, 0x86dd, &ipv6(6, &tcp(40000, 443, pl))));
            v.push(eth(tags, 0x86dd, &ipv6(17, &udp(40000, 53, pl))));
            v.push(eth(tags, 0x86dd, &ipv6(58, &icmp(pl))));
            // later IPv4 fragments (offset 1480, with and without more to come)
            for (proto, frag) in [(6, 0x00b9u16), (17, 0x20b9), (1, 0x00b9)] {
                let mut f = eth(tags, 0x0800, &ipv4(proto, 64, pl));
                let l3 = 14 + 4 * tags.len();
                f[l3 + 6..l3 + 8].copy_from_slice(&frag.to_be_bytes());
                v.push(f);
            }
        }
    }
    v
}

#[test]
fn plain_frames_take_the_fast_path_with_the_full_paths_result() {
    let mut p = Pair::new();
    for f in plain_frames() {
        assert!(p.packet(&f, f.len() as u32, dlt::EN10MB, "plain frame"));
    }
    p.finish("plain frames");
    // the same bytes on another link type never go the fast way
    let f = eth(&[], 0x0800, &ipv4(6, 64, &tcp(1, 2, &[])));
    assert!(!p.packet(&f, f.len() as u32, dlt::ETHERNET_MPACKET, "mPacket"));
}

#[test]
fn edge_cases_agree() {
    let mut p = Pair::new();
    let mut check = |f: &[u8], wire_len: u32, what: &str| p.packet(f, wire_len, dlt::EN10MB, what);
    let base = eth(&[], 0x0800, &ipv4(6, 64, &tcp(40000, 80, b"xyz")));
    let l3 = 14;

    // every capture length of a plain frame, and of its padded minimum-size form (60 bytes
    // with 6 bytes of padding behind a 40-byte IP packet), with wire lengths around it
    let small = eth(&[], 0x0800, &ipv4(6, 64, &tcp(40000, 80, &[])));
    let mut padded = small.clone();
    padded.resize(60, 0);
    for f in [&base, &small, &padded] {
        for cut in 0..=f.len() {
            for wire in [cut, f.len(), f.len() + 1, 64, 65, 1500] {
                check(&f[..cut], wire as u32, &format!("cut {cut} wire {wire}"));
            }
        }
    }
    assert!(check(&padded, 60, "padded"));
    // wire lengths shorter than the capture, and long enough to wrap T2's 16-bit length
    for wire in [0, 10, 14, 33, 34, 40, 53, 54, 0x1_0000 + 20, u32::MAX] {
        check(&base, wire, &format!("wire {wire}"));
    }

    // IHL other than 5 (options, too short), version nibbles
    for b0 in [0x40, 0x44, 0x46, 0x4f, 0x55, 0x65, 0x35] {
        let mut f = base.clone();
        f[l3] = b0;
        check(&f, f.len() as u32, &format!("first IP byte {b0:#x}"));
    }
    // total lengths: 0, shorter than the headers, exact, longer than the frame
    for total in [0u16, 1, 19, 20, 28, 39, 40, 41, 43, 44, 45, 100, 0xffff] {
        let mut f = base.clone();
        f[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
        check(&f, f.len() as u32, &format!("total length {total}"));
    }
    // fragments and flags
    for fw in [0x0000u16, 0x4000, 0x2000, 0x0001, 0x1fff, 0x8000, 0x6000] {
        let mut f = base.clone();
        f[l3 + 6..l3 + 8].copy_from_slice(&fw.to_be_bytes());
        check(&f, f.len() as u32, &format!("frag word {fw:#x}"));
    }
    // TTL 0 and every protocol number, whole and as a later fragment
    for proto in 0..=255u8 {
        for ttl in [0, 1, 255] {
            for fw in [0x4000u16, 0x0010, 0x2010] {
                let mut f = base.clone();
                f[l3 + 6..l3 + 8].copy_from_slice(&fw.to_be_bytes());
                f[l3 + 8] = ttl;
                f[l3 + 9] = proto;
                check(
                    &f,
                    f.len() as u32,
                    &format!("proto {proto} ttl {ttl} frag {fw:#x}"),
                );
            }
        }
    }
    // later fragments of every length, including less than an IP header
    let mut frag = eth(&[], 0x0800, &ipv4(17, 64, b"0123456789abcdef"));
    frag[l3 + 6..l3 + 8].copy_from_slice(&0x0020u16.to_be_bytes());
    for total in [0u16, 8, 19, 20, 21, 36, 37, 1000] {
        let mut f = frag.clone();
        f[l3 + 2..l3 + 4].copy_from_slice(&total.to_be_bytes());
        for cut in [f.len(), 40, 34, 20] {
            check(
                &f[..cut],
                f.len() as u32,
                &format!("fragment total {total} cut {cut}"),
            );
        }
    }
    // TCP data offsets
    for doff in 0..16u8 {
        let mut f = base.clone();
        f[l3 + 20 + 12] = doff << 4;
        check(&f, f.len() as u32, &format!("data offset {doff}"));
    }
    // ISL, VLAN tags (up to four, of each TPID, VLAN ID 0), LLC lengths, other EtherTypes
    for mac0 in [0x01u8, 0x03, 0x05] {
        let mut f = base.clone();
        f[..5].copy_from_slice(&[mac0, 0, 0x0c, 0, 0]);
        check(&f, f.len() as u32, &format!("ISL-like MAC {mac0:#x}"));
    }
    for tpid in [0x8100u16, 0x88a8, 0x9100, 0x9200] {
        for n in 1..=4 {
            for vid in [0u16, 1, 0xfff, 0xf000] {
                let tags = vec![(tpid, vid); n];
                for (t, pl) in [
                    (0x0800, ipv4(17, 64, &udp(5000, 53, b"q"))),
                    (0x86dd, ipv6(6, &tcp(1, 2, &[]))),
                    (0x0806, vec![0; 28]),
                    (0x0800, ipv6(6, &tcp(1, 2, &[]))),
                    (0x86dd, ipv4(6, 64, &tcp(1, 2, &[]))),
                    (40, vec![0xaa; 40]),
                ] {
                    let f = eth(&tags, t, &pl);
                    check(
                        &f,
                        f.len() as u32,
                        &format!("{n} tags {tpid:#x}/{vid} type {t:#x}"),
                    );
                    for cut in 12..f.len() {
                        check(&f[..cut], f.len() as u32, &format!("{n} tags cut {cut}"));
                    }
                }
            }
        }
    }

    // every UDP port T2 treats specially, on either side, against low and high ports, with
    // payloads that make the probes fire (GTP, VXLAN, GENEVE, CAPWAP, L2TP, Teredo, DTLS)
    let inner6 = ipv6(17, &udp(1, 2, &[]));
    let mut teredo = vec![0u8; 8];
    teredo.extend_from_slice(&inner6);
    let payloads: Vec<Vec<u8>> = vec![
        b"plain".to_vec(),
        vec![0; 40],
        [
            &[0x30, 0xff, 0, 8, 0, 0, 0, 1][..],
            &ipv4(17, 1, &udp(1, 2, &[])),
        ]
        .concat(),
        [
            &[0x08, 0, 0, 0, 0, 0, 1, 0][..],
            &eth(&[], 0x0800, &ipv4(6, 1, &tcp(1, 2, &[]))),
        ]
        .concat(),
        [&[0x02, 0x00][..], &[0; 30]].concat(),
        inner6.clone(),
        teredo,
        [&[0x16, 0xfe, 0xfd][..], &[0; 20]].concat(),
        [&[0x17, 0xfe, 0xff][..], &[0; 20]].concat(),
        [&[0x14, 0x01, 0x00][..], &[0; 20]].concat(),
        vec![0xff],
    ];
    let ports = [
        0u16, 53, 1024, 1025, 1701, 1900, 2123, 2152, 3386, 3544, 4500, 4789, 4790, 5072, 5246,
        5247, 6081, 8472, 12222, 12223, 40000,
    ];
    for &a in &ports {
        for &b in &ports {
            for pl in &payloads {
                for v6 in [false, true] {
                    let f = if v6 {
                        eth(&[], 0x86dd, &ipv6(17, &udp(a, b, pl)))
                    } else {
                        eth(&[], 0x0800, &ipv4(17, 64, &udp(a, b, pl)))
                    };
                    check(&f, f.len() as u32, &format!("udp {a} -> {b}"));
                }
                let f = eth(&[], 0x0800, &ipv4(6, 64, &tcp(a, b, pl)));
                check(&f, f.len() as u32, &format!("tcp {a} -> {b}"));
                let f = eth(&[], 0x86dd, &ipv6(6, &tcp(a, b, pl)));
                check(&f, f.len() as u32, &format!("tcp6 {a} -> {b}"));
            }
        }
    }

    // IPv6: payload lengths, next headers, cuts
    let b6 = eth(&[], 0x86dd, &ipv6(6, &tcp(40000, 80, b"xyz")));
    for pl in [0u16, 1, 8, 19, 20, 23, 24, 100, 0xffff] {
        let mut f = b6.clone();
        f[l3 + 4..l3 + 6].copy_from_slice(&pl.to_be_bytes());
        check(&f, f.len() as u32, &format!("ipv6 payload length {pl}"));
    }
    for nh in 0..=255u8 {
        let mut f = b6.clone();
        f[l3 + 6] = nh;
        check(&f, f.len() as u32, &format!("ipv6 next header {nh}"));
    }
    for cut in 0..=b6.len() {
        for wire in [cut, b6.len(), 64, 1500] {
            check(
                &b6[..cut],
                wire as u32,
                &format!("ipv6 cut {cut} wire {wire}"),
            );
        }
    }
    p.finish("edge cases");
}

#[test]
fn random_corruptions_of_plain_frames_agree() {
    let mut r = XorShift(0x5eed_fa57_0000_0001);
    let frames = plain_frames();
    let mut p = Pair::new();
    for i in 0..200_000 {
        let mut f = frames[r.below(frames.len() as u64) as usize].clone();
        // a few bytes of the headers changed, sometimes to a value that matters
        for _ in 0..1 + r.below(3) {
            let at = r.below(f.len().min(80) as u64) as usize;
            f[at] = match r.below(4) {
                0 => 0,
                1 => 0xff,
                _ => r.next() as u8,
            };
        }
        let cut = if r.below(4) == 0 {
            r.below(f.len() as u64 + 1) as usize
        } else {
            f.len()
        };
        let wire = match r.below(4) {
            0 => r.below(2000) as u32,
            _ => f.len() as u32,
        };
        p.packet(&f[..cut], wire, dlt::EN10MB, &format!("corruption {i}"));
    }
    p.finish("random corruptions");
    assert!(p.taken > 20_000, "{} taken", p.taken);
}
