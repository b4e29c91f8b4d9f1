//! Dissector tests on hand-built frames.

use super::*;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

fn eth(t: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&MAC_B);
    v.extend_from_slice(&MAC_A);
    v.extend_from_slice(&t.to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], frag: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut v = vec![0x45, 0, (total >> 8) as u8, total as u8, 0x12, 0x34];
    v.extend_from_slice(&frag.to_be_bytes());
    v.extend_from_slice(&[64, proto, 0, 0]);
    v.extend_from_slice(&src);
    v.extend_from_slice(&dst);
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

fn tcp(sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&sport.to_be_bytes());
    v.extend_from_slice(&dport.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    v
}

fn run(frame: &[u8], linktype: u32) -> (PacketInfo, String) {
    let mut d = Dissector::new();
    let info = d.dissect(frame, frame.len() as u32, linktype);
    (info, String::from_utf8(d.hdr_desc().to_vec()).unwrap())
}

#[test]
fn ethernet_ipv4_tcp() {
    let f = eth(
        0x0800,
        &ipv4(
            6,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            0x4000,
            &tcp(40000, 80, 0x02),
        ),
    );
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:ipv4:tcp");
    assert_eq!(i.num_hdrs, 3);
    assert_eq!(i.class, FlowClass::Ip);
    assert_eq!((i.key.sport, i.key.dport, i.key.proto), (40000, 80, 6));
    assert_eq!(&i.key.src[..4], &[10, 0, 0, 1]);
    assert_eq!(i.tcp_flags, 0x02);
    assert_eq!((i.l2, i.l3, i.l4, i.l7), (0, 14, 34, 54));
    assert_eq!(i.l3_len, 40);
    assert_eq!(i.stat_len, 0);
    assert!(i.has(L2_IPV4 | FS_IPV4_PKT));
    assert_eq!(i.frag, Frag::None);
    // the reverse direction hashes to the same worker
    let r = eth(
        0x0800,
        &ipv4(
            6,
            [10, 0, 0, 2],
            [10, 0, 0, 1],
            0x4000,
            &tcp(80, 40000, 0x12),
        ),
    );
    let (j, _) = run(&r, dlt::EN10MB);
    assert_eq!(i.key.dispatch_hash(), j.key.dispatch_hash());
    assert_eq!(j.key, i.key.reversed());
}

#[test]
fn qinq_vlan_block_and_key_vid() {
    let mut inner = vec![];
    inner.extend_from_slice(&[0x0c, 0x81, 0x81, 0x00, 0x00, 0x05, 0x08, 0x00]); // tags 0x0c81 (prio 0, vid 0xc81) and vid 5
    inner.extend_from_slice(&ipv4(
        17,
        [1, 1, 1, 1],
        [2, 2, 2, 2],
        0,
        &udp(5000, 53, b"hi"),
    ));
    let f = eth(0x88a8, &inner);
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:vlan{2}:ipv4:udp");
    assert_eq!(i.num_hdrs, 5);
    assert_eq!(i.key.vlan, 5, "the last tag's VID keys the flow");
    assert_eq!(i.vlan_blk, 12);
    assert!(i.has(L2_VLAN));
    assert_eq!(i.stat_len, 2);
    assert_eq!(i.udp_len, 10);
}

#[test]
fn arp_is_an_l2_flow_with_the_whole_payload_as_padding_rule() {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&MAC_A);
    arp.extend_from_slice(&[10, 0, 0, 1]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[10, 0, 0, 2]);
    arp.extend_from_slice(&[0; 18]);
    let f = eth(0x0806, &arp);
    assert_eq!(f.len(), 60);
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:arp");
    assert_eq!(i.class, FlowClass::L2);
    assert!(i.has(L2_ARP | L2_FLOW));
    assert_eq!(i.eth_type, 0x0806);
    assert_eq!(i.pad, 18);
    assert_eq!(i.stat_len, 46);
    assert_eq!(&i.key.src[..6], &MAC_A);
    assert_eq!(&i.key.dst[..6], &MAC_B);
}

#[test]
fn llc_stp_and_snap_cdp() {
    let mut stp = vec![0x42, 0x42, 0x03];
    stp.extend_from_slice(&[0; 35]);
    let len = stp.len() as u16;
    let f = eth(len, &stp);
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:llc:stp");
    assert_eq!(i.eth_type, 0x4242);
    assert!(i.llc);
    let mut snap = vec![0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00];
    snap.extend_from_slice(&[0; 20]);
    let f = eth(snap.len() as u16, &snap);
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:llc:cdp");
    assert_eq!(i.eth_type, 0x2000);
}

#[test]
fn later_fragment_stops_and_has_no_ports() {
    let f = eth(
        0x0800,
        &ipv4(17, [1, 1, 1, 1], [2, 2, 2, 2], 0x00b9, &[0u8; 40]),
    );
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:ipv4:udp");
    assert_eq!(i.frag, Frag::Later);
    assert!(i.has(STPDSCT));
    assert_eq!((i.key.sport, i.key.dport), (0, 0));
    assert_eq!(i.stat_len, 40);
    let first = eth(
        0x0800,
        &ipv4(17, [1, 1, 1, 1], [2, 2, 2, 2], 0x2000, &udp(1, 2, &[0; 32])),
    );
    let (i, _) = run(&first, dlt::EN10MB);
    assert_eq!(i.frag, Frag::First);
    assert_eq!(i.frag_id, 0x1234);
}

#[test]
fn vxlan_is_decapsulated_to_the_inner_flow() {
    let inner = eth(
        0x0800,
        &ipv4(
            6,
            [192, 168, 0, 1],
            [192, 168, 0, 2],
            0,
            &tcp(1234, 443, 0x10),
        ),
    );
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 0x01, 0];
    vx.extend_from_slice(&inner);
    let f = eth(
        0x0800,
        &ipv4(17, [10, 0, 0, 1], [10, 0, 0, 2], 0, &udp(50000, 4789, &vx)),
    );
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:ipv4:udp:vxlan:eth:ipv4:tcp");
    assert!(i.has(L3_VXLAN));
    assert_eq!(&i.key.src[..4], &[192, 168, 0, 1]);
    assert_eq!((i.key.sport, i.key.dport), (1234, 443));
    assert_eq!(
        i.l2,
        14 + 20 + 8 + 8,
        "MACs come from the inner Ethernet header"
    );
}

#[test]
fn gre_ipv4_and_ip_in_ip() {
    let inner = ipv4(
        17,
        [172, 16, 0, 1],
        [172, 16, 0, 2],
        0,
        &udp(1000, 2000, b"x"),
    );
    let mut gre = vec![0, 0, 0x08, 0x00];
    gre.extend_from_slice(&inner);
    let f = eth(0x0800, &ipv4(47, [10, 0, 0, 1], [10, 0, 0, 2], 0, &gre));
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:ipv4:gre:ipv4:udp");
    assert!(i.has(L2_GRE));
    assert_eq!(&i.key.src[..4], &[172, 16, 0, 1]);
    let f = eth(0x0800, &ipv4(4, [10, 0, 0, 1], [10, 0, 0, 2], 0, &inner));
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:ipv4:ipv4:udp");
    assert!(i.has(L3_IPIP));
    assert_eq!((i.key.sport, i.key.dport), (1000, 2000));
}

#[test]
fn ipv6_extension_headers_and_later_fragment() {
    let mut v6 = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
    v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    v6.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    // hop-by-hop (8 bytes) then UDP
    v6.extend_from_slice(&[17, 0, 5, 2, 0, 0, 1, 0]);
    v6.extend_from_slice(&udp(547, 546, &[]));
    let f = eth(0x86dd, &v6);
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:ipv6:ipv6.hopopts:udp");
    assert_eq!(i.l3_hdr_len, 48);
    assert_eq!(i.key.proto, 17);
    assert!(i.has(L2_IPV6 | FS_IPV6_PKT));
    // later fragment: stops at the fragment header, l4Proto = its next header, no ports
    let mut v6f = v6[..40].to_vec();
    v6f[6] = 44;
    v6f.extend_from_slice(&[17, 0, 0x05, 0xa8, 0xde, 0xad, 0xbe, 0xef]);
    v6f.extend_from_slice(&[0; 16]);
    let f = eth(0x86dd, &v6f);
    let (i, desc) = run(&f, dlt::EN10MB);
    assert_eq!(desc, "eth:ipv6:ipv6.fraghdr");
    assert_eq!(i.frag, Frag::Later);
    assert_eq!(i.frag_id, 0xdeadbeef);
    assert_eq!((i.key.proto, i.key.sport), (17, 0));
    assert_eq!(i.v6_frag_walk, 1);
}

#[test]
fn raw_ipv4_link_has_an_empty_first_name() {
    let p = ipv4(6, [1, 2, 3, 4], [5, 6, 7, 8], 0, &tcp(1, 2, 0x02));
    let (i, desc) = run(&p, dlt::IPV4);
    assert_eq!(desc, ":ipv4:tcp");
    assert_eq!(i.num_hdrs, 2);
    assert!(i.has(L2_NO_ETH));
    let (_, desc) = run(&p, dlt::RAW);
    assert_eq!(desc, "raw:ipv4:tcp");
}

#[test]
fn bad_version_behind_ethertype_is_an_ipvx_l2_flow() {
    let mut p = ipv4(6, [1, 2, 3, 4], [5, 6, 7, 8], 0, &tcp(1, 2, 0x02));
    p[0] = 0x55;
    let (i, desc) = run(&eth(0x0800, &p), dlt::EN10MB);
    assert_eq!(desc, "eth:ipvx");
    assert_eq!(i.class, FlowClass::L2);
    assert!(i.has(L3_IPVX));
}

#[test]
fn short_frames_and_short_ihl_get_no_flow() {
    let (i, desc) = run(&[0u8; 15], dlt::EN10MB);
    assert_eq!(i.class, FlowClass::NoFlow);
    assert!(i.has(L2SNAPLENGTH));
    assert_eq!((desc.as_str(), i.num_hdrs), ("", 0));
    let mut p = ipv4(6, [1, 2, 3, 4], [5, 6, 7, 8], 0, &tcp(1, 2, 0x02));
    p[0] = 0x44;
    let (i, _) = run(&eth(0x0800, &p), dlt::EN10MB);
    assert_eq!(i.class, FlowClass::NoFlow);
    assert!(i.has(IPV4_HL_TOO_SHORT));
}

#[test]
fn snapped_udp_packet_lengths() {
    // IPv4/UDP of 142 bytes captured to 40 (basicStats.md example: 142 26 6 0 128 108 100 0)
    let full = eth(
        0x0800,
        &ipv4(
            17,
            [1, 1, 1, 1],
            [2, 2, 2, 2],
            0,
            &udp(1000, 2000, &[0x55; 100]),
        ),
    );
    let mut d = Dissector::new();
    let i = d.dissect(&full[..40], full.len() as u32, dlt::EN10MB);
    assert_eq!(
        (
            i.snap_l3_len,
            i.snap_l4_len,
            i.snap_l7_len,
            i.l3_len,
            i.udp_len,
            i.l7_len,
            i.pad
        ),
        (26, 6, 0, 128, 108, 100, 0)
    );
    assert!(i.has(L3SNAPLENGTH));
    assert!(d
        .warnings()
        .iter()
        .any(|w| matches!(w, Warning::L3Snap { .. })));
}

#[test]
fn fuzzed_bytes_never_panic() {
    let mut rng = crate::testutil::XorShift(0x1234_5678_9abc_def0);
    let mut d = Dissector::new();
    for n in 0..20_000 {
        let len = (n % 200) as usize;
        let mut buf = rng.bytes(len);
        // make many of them look like Ethernet/IP so deeper code runs
        if len > 14 && n % 2 == 0 {
            buf[12] = 0x08;
            buf[13] = 0x00;
            buf[14] = 0x45;
        }
        for lt in [
            dlt::EN10MB,
            dlt::RAW,
            dlt::NULL,
            dlt::LINUX_SLL,
            dlt::PPP,
            dlt::PPI,
            dlt::IPV6,
            dlt::C_HDLC,
        ] {
            let _ = d.dissect(&buf, len as u32 + (n % 3) as u32, lt);
        }
    }
}
