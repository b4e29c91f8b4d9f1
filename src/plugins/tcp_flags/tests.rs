//! tcpFlags unit tests: hand-built Ethernet/IPv4/IPv6 frames go through the real dissector and a
//! real flow table (A/B pairing as the worker does it), then through the plugin; the flows.txt
//! values come out through the txt sink's record writer, the packet-mode fields from the line.

use super::packet::{acc16, acc16_given, fold, ip4_hdr_acc, pseudo_hdr_acc, word_sum};
use super::packet::{acc16_given_without, bytes_at};
use super::*;
use crate::dissect::{Dissector, FlowClass};
use crate::flow::table::FlowTable;
use crate::flowstat::{IPV4_FRAG_PENDING, L2_IPV4, L2_IPV6};
use crate::output::txt;
use crate::testutil::XorShift;
use crate::time::Ts;
use std::collections::HashMap;

// ------------------------------------------------------------------------------ frame builder

fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += (c[0] as u32) << 8 | *c.get(1).unwrap_or(&0) as u32;
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// One IPv4 (or IPv6) packet carrying TCP (or UDP / another protocol).
#[derive(Clone)]
struct P {
    v6: bool,
    src: [u8; 16],
    dst: [u8; 16],
    sport: u16,
    dport: u16,
    proto: u8,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    opts: Vec<u8>,
    payload: Vec<u8>,
    id: u16,
    ttl: u8,
    tos: u8,
    /// IPv4 flags+offset word.
    frag: u16,
    ipopts: Vec<u8>,
    /// IPv6 hop-by-hop option bytes (after the 2-byte prefix).
    hbh: Vec<u8>,
    bad_ip_ck: bool,
    bad_l4_ck: bool,
    /// UDP: length field override and checksum 0.
    udp_len: Option<u16>,
    udp_zero_ck: bool,
    /// Replaces the L4 header+payload bytes (fragments carrying raw payload).
    raw_l4: Option<Vec<u8>>,
}

impl P {
    fn a() -> P {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src[..4].copy_from_slice(&[10, 0, 0, 1]);
        dst[..4].copy_from_slice(&[10, 0, 0, 2]);
        P {
            v6: false,
            src,
            dst,
            sport: 40000,
            dport: 80,
            proto: 6,
            seq: 1000,
            ack: 0,
            flags: 0x02,
            win: 65535,
            opts: vec![],
            payload: vec![],
            id: 100,
            ttl: 64,
            tos: 0,
            frag: 0,
            ipopts: vec![],
            hbh: vec![],
            bad_ip_ck: false,
            bad_l4_ck: false,
            udp_len: None,
            udp_zero_ck: false,
            raw_l4: None,
        }
    }
    fn b() -> P {
        P::a().rev()
    }
    fn v6() -> P {
        let mut p = P::a();
        p.v6 = true;
        p.src = [0x20, 0x01, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        p.dst = [0x20, 0x01, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        p
    }
    fn rev(&self) -> P {
        let mut p = self.clone();
        std::mem::swap(&mut p.src, &mut p.dst);
        std::mem::swap(&mut p.sport, &mut p.dport);
        p.id = 2000;
        p.seq = 5000;
        p
    }
    fn f(mut self, flags: u8) -> P {
        self.flags = flags;
        self
    }
    fn sa(mut self, seq: u32, ack: u32) -> P {
        self.seq = seq;
        self.ack = ack;
        self
    }
    fn data(mut self, n: usize) -> P {
        self.payload = vec![b'x'; n];
        self
    }
    fn w(mut self, win: u16) -> P {
        self.win = win;
        self
    }
    fn o(mut self, opts: &[u8]) -> P {
        self.opts = opts.to_vec();
        self
    }

    fn l4_bytes(&self) -> Vec<u8> {
        if let Some(r) = &self.raw_l4 {
            return r.clone();
        }
        match self.proto {
            6 => {
                let mut opts = self.opts.clone();
                while opts.len() % 4 != 0 {
                    opts.push(0);
                }
                let mut t = Vec::new();
                t.extend_from_slice(&self.sport.to_be_bytes());
                t.extend_from_slice(&self.dport.to_be_bytes());
                t.extend_from_slice(&self.seq.to_be_bytes());
                t.extend_from_slice(&self.ack.to_be_bytes());
                t.push((((20 + opts.len()) / 4) as u8) << 4);
                t.push(self.flags);
                t.extend_from_slice(&self.win.to_be_bytes());
                t.extend_from_slice(&[0, 0, 0, 0]);
                t.extend_from_slice(&opts);
                t.extend_from_slice(&self.payload);
                t
            }
            17 => {
                let mut t = Vec::new();
                t.extend_from_slice(&self.sport.to_be_bytes());
                t.extend_from_slice(&self.dport.to_be_bytes());
                let l = self.udp_len.unwrap_or(8 + self.payload.len() as u16);
                t.extend_from_slice(&l.to_be_bytes());
                t.extend_from_slice(&[0, 0]);
                t.extend_from_slice(&self.payload);
                t
            }
            _ => self.payload.clone(),
        }
    }

    fn l4_ck_pos(&self) -> Option<usize> {
        if self.raw_l4.is_some() {
            return None;
        }
        match self.proto {
            6 => Some(16),
            17 => Some(6),
            _ => None,
        }
    }

    fn build(&self) -> Vec<u8> {
        let mut l4 = self.l4_bytes();
        let mut f = vec![0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1];
        if let Some(pos) = self.l4_ck_pos() {
            let mut ph = Vec::new();
            if self.v6 {
                ph.extend_from_slice(&self.src);
                ph.extend_from_slice(&self.dst);
                ph.extend_from_slice(&(l4.len() as u32).to_be_bytes());
                ph.extend_from_slice(&[0, 0, 0, self.proto]);
            } else {
                ph.extend_from_slice(&self.src[..4]);
                ph.extend_from_slice(&self.dst[..4]);
                ph.extend_from_slice(&[0, self.proto]);
                ph.extend_from_slice(&(l4.len() as u16).to_be_bytes());
            }
            ph.extend_from_slice(&l4);
            let mut c = csum(&ph);
            if self.bad_l4_ck {
                c ^= 0x0101;
            }
            if self.udp_zero_ck {
                c = 0;
            }
            l4[pos..pos + 2].copy_from_slice(&c.to_be_bytes());
        }
        if self.v6 {
            f.extend_from_slice(&[0x86, 0xdd]);
            let mut ext = Vec::new();
            let mut nh = self.proto;
            if !self.hbh.is_empty() {
                let mut h = vec![self.proto, 0];
                h.extend_from_slice(&self.hbh);
                while h.len() % 8 != 0 {
                    h.push(0);
                }
                h[1] = (h.len() / 8 - 1) as u8;
                ext = h;
                nh = 0;
            }
            let plen = (ext.len() + l4.len()) as u16;
            let w0: u32 = 6 << 28 | (self.tos as u32) << 20;
            f.extend_from_slice(&w0.to_be_bytes());
            f.extend_from_slice(&plen.to_be_bytes());
            f.push(nh);
            f.push(self.ttl);
            f.extend_from_slice(&self.src);
            f.extend_from_slice(&self.dst);
            f.extend_from_slice(&ext);
        } else {
            f.extend_from_slice(&[0x08, 0x00]);
            let mut ipopts = self.ipopts.clone();
            while ipopts.len() % 4 != 0 {
                ipopts.push(0);
            }
            let ihl = 20 + ipopts.len();
            let mut h = vec![0x40 | (ihl / 4) as u8, self.tos];
            h.extend_from_slice(&((ihl + l4.len()) as u16).to_be_bytes());
            h.extend_from_slice(&self.id.to_be_bytes());
            h.extend_from_slice(&self.frag.to_be_bytes());
            h.push(self.ttl);
            h.push(self.proto);
            h.extend_from_slice(&[0, 0]);
            h.extend_from_slice(&self.src[..4]);
            h.extend_from_slice(&self.dst[..4]);
            h.extend_from_slice(&ipopts);
            let mut c = csum(&h);
            if self.bad_ip_ck {
                c ^= 0x0101;
            }
            h[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&h);
        }
        f.extend_from_slice(&l4);
        f
    }
}

// ------------------------------------------------------------------------------ harness

/// A flow table, a dissector and one plugin instance, paired like the worker does.
struct H {
    t: FlowTable,
    p: TcpFlags,
    dis: Dissector,
    warn: u64,
    remove: Vec<u32>,
    no: u64,
}

fn ts(ms: u64) -> Ts {
    Ts::new(1_600_000_000 + ms / 1000, (ms % 1000) as u32 * 1_000_000)
}

impl H {
    fn new(o: Opts) -> H {
        H {
            t: FlowTable::new(&[182.0], 0),
            p: TcpFlags::with_opts(o),
            dis: Dissector::new(),
            warn: 0,
            remove: vec![],
            no: 0,
        }
    }
    fn dflt() -> H {
        H::new(Opts::default())
    }

    /// Feeds a frame at time `t` (captured length may be cut to `cap`); returns the slot and the
    /// plugin's packet-mode fields.
    fn feed_full(
        &mut self,
        frame: &[u8],
        t: Ts,
        cap: Option<usize>,
        to: Option<u32>,
    ) -> (u32, Vec<String>) {
        let data = &frame[..cap.unwrap_or(frame.len()).min(frame.len())];
        let info = self.dis.dissect(data, frame.len() as u32, 1);
        assert_eq!(info.class, FlowClass::Ip, "test frame must be an IP packet");
        self.no += 1;
        let pkt = Pkt {
            data,
            info: &info,
            hdr_desc: b"",
            ts: t,
            len: frame.len() as u32,
            pkt_no: self.no,
        };
        let slot = match to.or_else(|| self.t.lookup(&info.key)) {
            Some(s) => s,
            None => {
                let s = self.t.insert(info.key, self.no);
                {
                    self.t.set_last_seen(s, t);
                    let f = self.t.get_mut(s);
                    f.first_seen = t;
                    f.status = if info.ip_ver == 6 { L2_IPV6 } else { L2_IPV4 };
                }
                match self.t.lookup(&info.key.reversed()) {
                    Some(r) if r != s => {
                        let inv = self.t.get(r).has(L3FLOWINVERT);
                        self.t.get_mut(r).partner = s;
                        let f = self.t.get_mut(s);
                        f.partner = r;
                        if !inv {
                            f.status |= L3FLOWINVERT;
                        }
                    }
                    _ => {
                        if info.tcp_flags & 0x12 == 0x12 {
                            self.t.get_mut(s).status |= L3FLOWINVERT;
                        }
                    }
                }
                let mut cx = FlowCx {
                    table: &mut self.t,
                    slot: s,
                    global_warn: &mut self.warn,
                    pkt_line: None,
                    remove: &mut self.remove,
                };
                self.p.on_new_flow(&mut cx, &pkt);
                s
            }
        };
        {
            self.t.set_last_seen(slot, t);
            let f = self.t.get_mut(slot);
            f.status |= info.status;
        }
        let mut line = Vec::new();
        let mut cx = FlowCx {
            table: &mut self.t,
            slot,
            global_warn: &mut self.warn,
            pkt_line: Some(&mut line),
            remove: &mut self.remove,
        };
        self.p.on_layer4(&mut cx, &pkt);
        let s = String::from_utf8(line).unwrap();
        assert!(s.ends_with('\t'));
        let fields: Vec<String> = s[..s.len() - 1]
            .split('\t')
            .map(|x| x.to_string())
            .collect();
        assert_eq!(
            fields.len(),
            self.p.packet_columns().len(),
            "packet-mode field count"
        );
        (slot, fields)
    }
    fn feed(&mut self, p: &P, t_ms: u64) -> (u32, Vec<String>) {
        self.feed_full(&p.build(), ts(t_ms), None, None)
    }
    /// The packet-mode value of column `name`.
    fn pf(&self, fields: &[String], name: &str) -> String {
        let i = self
            .p
            .packet_columns()
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        fields[i].clone()
    }
    /// Writes the flow: the plugin's flows.txt values by column name.
    fn term(&mut self, slot: u32) -> HashMap<String, String> {
        let mut rec = Record::default();
        let cx = TermCx {
            table: &self.t,
            slot,
        };
        self.p.on_flow_terminate(&cx, &mut rec);
        let cols = self.p.columns();
        let mut out = Vec::new();
        txt::write_record(&cols, &rec.buf, &mut out);
        let s = String::from_utf8(out).unwrap();
        let vals: Vec<&str> = s.trim_end_matches('\n').split('\t').collect();
        assert_eq!(vals.len(), cols.len());
        cols.iter()
            .zip(vals)
            .map(|(c, v)| (c.name.to_string(), v.to_string()))
            .collect()
    }
}

fn hex(s: &str) -> u32 {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// A: SYN at 0 ms, B: SYN-ACK at 10 ms, A: ACK at 12 ms. Returns (A slot, B slot).
fn handshake(h: &mut H, syn_opts: &[u8], synack_opts: &[u8]) -> (u32, u32) {
    let (a, _) = h.feed(&P::a().f(0x02).sa(1000, 0).o(syn_opts), 0);
    let (b, _) = h.feed(&P::b().f(0x12).sa(5000, 1001).o(synack_opts), 10);
    h.feed(&P::a().f(0x10).sa(1001, 5001), 12);
    (a, b)
}

/// Per-packet anomaly of the last packet.
fn pkt_anom(h: &H, f: &[String]) -> u32 {
    hex(&h.pf(f, "tcpAnomaly"))
}
fn pkt_fstat(h: &H, f: &[String]) -> u32 {
    hex(&h.pf(f, "tcpFStat"))
}
fn pkt_ipf(h: &H, f: &[String]) -> u32 {
    hex(&h.pf(f, "ipFlags"))
}

// ------------------------------------------------------------------------------ columns

#[test]
fn default_columns_match_the_reference_header() {
    let p = TcpFlags::with_opts(Opts::default());
    let cols = p.columns();
    assert_eq!(cols.len(), 52);
    assert_eq!(cols[0].name, "tcpFStat");
    assert_eq!(cols[51].name, "tcpRTTAckJitAvg");
    // headers.txt lines 36-87 of the reference
    let want = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/t2-0.9.3/default/ftp/headers.txt"
    ));
    let lines: Vec<&str> = want.lines().filter(|l| !l.starts_with('#')).collect();
    for (i, c) in cols.iter().enumerate() {
        let l = lines[35 + i];
        let parts: Vec<&str> = l.splitn(4, '\t').collect();
        assert_eq!(parts[1], c.type_text(), "type of {}", c.name);
        assert_eq!(parts[2], c.name);
        assert_eq!(parts[3], c.desc, "description of {}", c.name);
    }
    assert_eq!(p.packet_columns().len(), 41);
}

#[test]
fn state_is_compact() {
    // reported in the hand-over; keep it from growing unnoticed
    assert!(
        TcpFlags::state_size() <= 280,
        "state is {} bytes",
        TcpFlags::state_size()
    );
}

#[test]
fn fields_read_through_the_opposite_flow_share_the_first_64_bytes() {
    use std::mem::offset_of;
    // the RTT and SEQ/ACK analysis of a packet read or write these fields of the opposite
    // direction's state: they are kept in its first 64 bytes
    const HOT_BYTES: usize = 64;
    let opposite = [
        (offset_of!(State, pkt_cnt_f), 4),
        (offset_of!(State, rtt_min), 4),
        (offset_of!(State, rtt_max), 4),
        (offset_of!(State, rtt_trip), 4),
        (offset_of!(State, rtt_avg), 4),
        (offset_of!(State, rtt_jit), 4),
        (offset_of!(State, seq_next), 4),
        (offset_of!(State, seq_max), 4),
        (offset_of!(State, ack_last), 4),
        (offset_of!(State, win_last), 4),
        (offset_of!(State, inflight), 4),
        (offset_of!(State, stat_last), 2),
        (offset_of!(State, anom_last), 2),
        (offset_of!(State, rtt_flag), 1),
        (offset_of!(State, flags_last), 1),
    ];
    for (off, len) in opposite {
        assert!(
            off + len <= HOT_BYTES,
            "field at {off} is outside the hot part"
        );
    }
    assert_eq!(TcpFlags::state_size(), 264);
}

#[test]
fn slots_hand_out_pairs_across_chunks_and_keep_states_when_growing() {
    let mut s: Slots<u64> = Slots::default();
    let slots = [0u32, 1, 63, 64, 200, 4095, 4096, 4097, 9000, 20_000];
    for &x in &slots {
        *s.reset(x) = x as u64 + 1;
    }
    for &x in &slots {
        assert_eq!(*s.get(x), x as u64 + 1, "slot {x}");
        s.prefetch(x, 8);
    }
    // a slot between reset ones holds the default
    assert_eq!(*s.get(5000), 0);
    assert!(s.try_get(1 << 30).is_none());
    s.prefetch(1 << 30, 8);
    for &(a, b) in &[
        (1u32, 63u32),
        (63, 1),
        (4095, 4096),
        (9000, 2),
        (2, 9000),
        (7, 7),
    ] {
        let (x, y) = s.pair(a, Some(b));
        *x += 1000;
        match y {
            Some(y) => {
                assert_ne!(a, b);
                *y += 10_000;
            }
            None => assert_eq!(a, b, "pair({a}, {b}) lost the opposite"),
        }
    }
    assert_eq!(*s.get(1), 2 + 1000 + 10_000);
    assert_eq!(*s.get(63), 64 + 10_000 + 1000);
    assert_eq!(*s.get(4095), 4096 + 1000);
    assert_eq!(*s.get(4096), 4097 + 10_000);
    assert_eq!(*s.get(9000), 9001 + 1000 + 10_000);
    assert_eq!(*s.get(2), 10_000 + 1000);
    assert_eq!(*s.get(7), 1000);
    // an opposite beyond the allocated slots is not handed out
    let (_, y) = s.pair(1, Some(1 << 20));
    assert!(y.is_none());
    assert_eq!(*s.reset(9000), 0, "reset gives a fresh state");
}

// ------------------------------------------------------------------------------ tcpFlags bits

#[test]
fn flag_combinations() {
    for (raw, want) in [
        (0x12u8, 0x0212u32),
        (0x11, 0x0111),
        (0x14, 0x0414),
        (0x00, 0x0800),
        (0x03, 0x1003),
        (0x07, 0x2007),
        (0x05, 0x4005),
        (0x29, 0x8029),
        (0x18, 0x0018),
        (0xc2, 0x00c2),
    ] {
        let mut h = H::dflt();
        let (_, f) = h.feed(&P::a().f(raw), 0);
        assert_eq!(hex(&h.pf(&f, "tcpFlags")), want, "raw flags {raw:#x}");
    }
}

#[test]
fn null_and_xmas_are_scans() {
    for raw in [0x00u8, 0x29] {
        let mut h = H::dflt();
        let (_, f) = h.feed(&P::a().f(raw), 0);
        assert_eq!(pkt_anom(&h, &f), 0x1000);
    }
    let mut h = H::dflt();
    let (_, f) = h.feed(&P::a().f(0x01), 0);
    assert_eq!(pkt_anom(&h, &f), 0);
}

// ------------------------------------------------------------------------------ tcpAnomaly bits

#[test]
fn syn_retry_after_0_9_s_and_scan_before() {
    let mut h = H::dflt();
    h.feed(&P::a(), 0);
    let (a, f) = h.feed(&P::a(), 1000);
    assert_eq!(pkt_anom(&h, &f), 0x0001);
    let r = h.term(a);
    assert_eq!(r["tcpAnomaly"], "0x0001", "a SYN retry flow is no scan");
    let mut out = vec![];
    h.p.report(&ReportTotals::default(), &mut out);
    assert!(
        out.contains(&"Number of TCP SYN retries, seq retries: 1, 0".to_string()),
        "{out:?}"
    );

    let mut h = H::dflt();
    h.feed(&P::a(), 0);
    let (_, f) = h.feed(&P::a(), 500);
    assert_eq!(pkt_anom(&h, &f), 0x1000);
}

#[test]
fn seq_timeout_retry_on_fin_retransmission() {
    let mut h = H::dflt();
    let (a, _) = handshake(&mut h, &[], &[]);
    h.feed(&P::a().f(0x11).sa(1001, 5001), 1000);
    let (_, f) = h.feed(&P::a().f(0x11).sa(1001, 5001), 5000);
    assert_eq!(pkt_anom(&h, &f) & 0x0002, 0x0002);
    assert_eq!(h.term(a)["tcpSeqFaultCnt"], "1");
    // RTT_ESTIMATE=0: fixed 1.5 s threshold, a 1 s gap is not enough
    let mut h = H::new(Opts {
        rtt: false,
        ..Opts::default()
    });
    handshake(&mut h, &[], &[]);
    h.feed(&P::a().f(0x11).sa(1001, 5001), 1000);
    let (_, f) = h.feed(&P::a().f(0x11).sa(1001, 5001), 2000);
    assert_eq!(pkt_anom(&h, &f) & 0x0002, 0);
    let (_, f) = h.feed(&P::a().f(0x11).sa(1001, 5001), 4000);
    assert_eq!(pkt_anom(&h, &f) & 0x0002, 0x0002);
}

#[test]
fn dup_ack_and_fast_retransmission() {
    let mut h = H::dflt();
    let (a, b) = handshake(&mut h, &[], &[]);
    h.feed(&P::a().f(0x18).sa(1001, 5001).data(10), 100);
    // B repeats ACK 1001 (its SYN-ACK acked 1001 already): duplicate ACK
    let (_, f) = h.feed(&P::b().f(0x10).sa(5001, 1001), 110);
    assert_eq!(pkt_anom(&h, &f), 0x0008);
    // A retransmits the segment the peer asks for
    let (_, f) = h.feed(&P::a().f(0x18).sa(1001, 5001).data(10), 120);
    assert_eq!(pkt_anom(&h, &f) & 0x0004, 0x0004);
    assert_eq!(pkt_anom(&h, &f) & 0x0040, 0x0040, "also out of order");
    let ra = h.term(a);
    let rb = h.term(b);
    assert_eq!(rb["tcpAckFaultCnt"], "1");
    assert_eq!(ra["tcpSeqFaultCnt"], "1");
    assert_eq!(hex(&rb["tcpAnomaly"]) & 0x0008, 0x0008);
}

#[test]
fn keep_alive_and_keep_alive_ack() {
    let mut h = H::dflt();
    handshake(&mut h, &[], &[]);
    h.feed(&P::a().f(0x18).sa(1001, 5001).data(10), 100);
    h.feed(&P::b().f(0x10).sa(5001, 1011), 110);
    let (_, f) = h.feed(&P::a().f(0x10).sa(1010, 5001), 5000);
    assert_eq!(pkt_anom(&h, &f), 0x0010);
    let (_, f) = h.feed(&P::b().f(0x10).sa(5001, 1011), 5010);
    assert_eq!(pkt_anom(&h, &f), 0x0020);
}

#[test]
fn out_of_order_spurious_unseen_and_not_captured() {
    let mut h = H::dflt();
    handshake(&mut h, &[], &[]);
    h.feed(&P::a().f(0x18).sa(1001, 5001).data(10), 100);
    h.feed(&P::a().f(0x18).sa(1011, 5001).data(10), 101);
    let (_, f) = h.feed(&P::a().f(0x18).sa(1001, 5001).data(10), 102);
    assert_eq!(pkt_anom(&h, &f), 0x0040);
    h.feed(&P::b().f(0x10).sa(5001, 1021), 110);
    let (_, f) = h.feed(&P::a().f(0x18).sa(1011, 5001).data(10), 120);
    assert_eq!(pkt_anom(&h, &f), 0x0040 | 0x0080);
    let (_, f) = h.feed(&P::b().f(0x10).sa(5001, 9999), 130);
    assert_eq!(pkt_anom(&h, &f) & 0x0100, 0x0100);
    let (_, f) = h.feed(&P::a().f(0x18).sa(3000, 5001).data(10), 140);
    assert_eq!(pkt_anom(&h, &f) & 0x0200, 0x0200);
}

#[test]
fn scan_detector_at_flow_end() {
    // a refused probe: A SYN, B RST-ACK
    let mut h = H::dflt();
    let (a, _) = h.feed(&P::a(), 0);
    let (b, _) = h.feed(&P::b().f(0x14).sa(0, 1001), 1);
    assert_eq!(h.term(a)["tcpAnomaly"], "0x3000");
    assert_eq!(h.term(b)["tcpAnomaly"], "0x2000");
    let mut out = vec![];
    h.p.report(&ReportTotals::default(), &mut out);
    assert!(
        out.contains(&"Number of TCP scans attempted, successful: 1, 1 [100.00%]".to_string()),
        "{out:?}"
    );
    // the aggregate is taken before the scan detector: only the B flow's 0x2000 is in it
    assert!(
        out.contains(&"Aggregated tcpAnomaly=0x2000".to_string()),
        "{out:?}"
    );
    // a connection with at least 4 TCP packets per direction is no scan
    let mut h = H::dflt();
    let (a, b) = handshake(&mut h, &[], &[]);
    h.feed(&P::a().f(0x18).sa(1001, 5001).data(10), 100);
    h.feed(&P::b().f(0x10).sa(5001, 1011), 110);
    h.feed(&P::a().f(0x18).sa(1011, 5001).data(10), 120);
    h.feed(&P::b().f(0x18).sa(5001, 1021).data(5), 130);
    h.feed(&P::b().f(0x18).sa(5006, 1021).data(5), 140);
    assert_eq!(hex(&h.term(a)["tcpAnomaly"]) & 0x3000, 0);
    assert_eq!(hex(&h.term(b)["tcpAnomaly"]) & 0x3000, 0);
    // SCAN_DETECTOR=0
    let mut h = H::new(Opts {
        scan: false,
        ..Opts::default()
    });
    let (a, _) = h.feed(&P::a(), 0);
    assert_eq!(h.term(a)["tcpAnomaly"], "0x0000");
}

#[test]
fn syn_with_payload() {
    let mut h = H::dflt();
    let (a, f) = h.feed(&P::a().data(5), 0);
    assert_eq!(pkt_anom(&h, &f), 0x4000);
    assert_eq!(hex(&h.term(a)["tcpAnomaly"]) & 0x4000, 0x4000);
}

#[test]
fn scan_suppresses_low_anomalies() {
    let mut h = H::dflt();
    h.feed(&P::a().f(0x00).sa(1000, 7), 0);
    // an ACK-class keep-alive after a NULL packet: the 0x10 bit is masked
    let (_, f) = h.feed(&P::a().f(0x10).sa(999, 7), 100);
    assert_eq!(pkt_anom(&h, &f), 0);
}

// ------------------------------------------------------------------------------ tcpFStat bits

#[test]
fn timestamp_option_init_and_decrease() {
    let ts_opt = |v: u32| {
        let mut o = vec![1, 1, 8, 10];
        o.extend_from_slice(&v.to_be_bytes());
        o.extend_from_slice(&7u32.to_be_bytes());
        o
    };
    let mut h = H::dflt();
    let (a, f) = h.feed(&P::a().o(&ts_opt(1000)), 0);
    assert_eq!(pkt_fstat(&h, &f), 0x0012);
    assert_eq!(h.pf(&f, "tcpTmS"), "1000");
    let (_, f) = h.feed(&P::a().f(0x10).o(&ts_opt(900)), 10);
    assert_eq!(pkt_fstat(&h, &f) & 0x0006, 0x0006);
    let (_, f) = h.feed(&P::a().f(0x10).o(&ts_opt(1010)), 50);
    assert_eq!(pkt_fstat(&h, &f) & 0x0004, 0);
    let r = h.term(a);
    assert_eq!(r["tcpTmS"], "1010");
    assert_eq!(r["tcpTmER"], "7");
    // 50 ms for 10 ticks: f32(0.05)/10 = 0.00499999989 < 0.005 -> class 0.004 (f32 rounding)
    assert_eq!(r["tcpEcI"], "0.004");
    // 1010 * f32(0.004) = 4.0400001919
    assert_eq!(r["tcpUtm"], "4.040000");
    assert_eq!(r["tcpBtm"], "1599999996.009999809");
    // NAT_BT_EST=0: no TS analysis, no columns
    let mut h = H::new(Opts {
        nat_bt: false,
        ..Opts::default()
    });
    let (a, f) = h.feed(&P::a().o(&ts_opt(1000)), 0);
    assert_eq!(pkt_fstat(&h, &f), 0x0010);
    assert!(!h.term(a).contains_key("tcpTmS"));
    assert!(!h.p.packet_columns().contains(&"tcpTmS"));
}

#[test]
fn boot_time_borrow_quirk() {
    // first and last TS packets: ns part goes back -> borrow of one million (not 1e9)
    let st = State {
        tcpopt_bits: 0x100,
        ts_first_sec: 100,
        ts_first_ns: 900_000_000,
        ts_last_sec: 101,
        ts_last_ns: 100_000_000,
        ts_val_init: 10,
        ts_val: 10,
        ttl_min: 64,
        ..State::default()
    };
    let (f, u, b) = boot_time(&st);
    assert_eq!(f, 0.004f32);
    assert_eq!(u, 10.0 * 0.004f32 as f64);
    assert_eq!(b.0, 101);
    // 10 * f32(0.004) = 0.0400000019 s: 40000001 ns
    assert_eq!(b.1, 100_000_000 - 40_000_001);
    // elapsed time negative -> class 0.001; u = 2e6 * f32(0.001) = 2000.0000949949 s;
    // 5.000000000 - 2000.000094994: borrow of one million, seconds wrap as u64
    let st = State {
        ts_last_sec: 5,
        ts_last_ns: 0,
        ts_val: 2_000_000,
        ts_val_init: 1,
        tcpopt_bits: 0x100,
        ..st
    };
    let (f, _, b) = boot_time(&st);
    assert_eq!(f, 0.001f32);
    assert_eq!(b.0, (-1996i64) as u64);
    assert_eq!(b.1, 1_000_000 - 94_994);
}

#[test]
fn option_length_zero_is_corrupt() {
    let mut h = H::dflt();
    let (a, f) = h.feed(&P::a().o(&[2, 0, 5, 0xb4]), 0);
    assert_eq!(pkt_fstat(&h, &f) & 0x0008, 0x0008);
    let r = h.term(a);
    assert_eq!(r["tcpOptCnt"], "1");
    assert_eq!(r["tcpOptions"], "0x00000004");
    assert_eq!(r["tcpMSS"], "0");
}

#[test]
fn window_scale_zero_window_probe_and_updates() {
    let mut h = H::dflt();
    // A: WS 2 in its SYN; B: WS 7 in its SYN-ACK -> WS_USED for both from the next packet
    let (a, f) = h.feed(&P::a().o(&[3, 3, 2, 1]).w(1000), 0);
    assert_eq!(h.pf(&f, "tcpWS"), "0");
    let (b, f) = h.feed(&P::b().f(0x12).sa(5000, 1001).o(&[3, 3, 7, 1]).w(2000), 10);
    assert_eq!(
        pkt_fstat(&h, &f) & 0x0200,
        0,
        "the SYN-ACK itself is not scaled"
    );
    assert_eq!(h.pf(&f, "tcpWin"), "2000");
    let (_, f) = h.feed(&P::a().f(0x10).sa(1001, 5001).w(1000), 12);
    assert_eq!(pkt_fstat(&h, &f) & 0x0200, 0x0200);
    assert_eq!(h.pf(&f, "tcpWS"), "4");
    assert_eq!(h.pf(&f, "tcpWin"), "4000");
    // B advertises window 0 (ZWIN)
    let (_, f) = h.feed(&P::b().f(0x10).sa(5001, 1001).w(0), 20);
    assert_eq!(pkt_fstat(&h, &f) & 0x0100, 0x0100);
    // A probes with one byte
    let (_, f) = h.feed(&P::a().f(0x10).sa(1001, 5001).w(1000).data(1), 30);
    assert_eq!(pkt_fstat(&h, &f) & 0x0040, 0x0040);
    // B answers the probe with window 0 and no data
    let (_, f) = h.feed(&P::b().f(0x10).sa(5001, 1001).w(0), 40);
    assert_eq!(pkt_fstat(&h, &f) & 0x0080, 0x0080);
    // B opens the window: same ACK, no data, window changed, seq as expected -> update
    let (_, f) = h.feed(&P::b().f(0x10).sa(5001, 1001).w(100), 50);
    assert_eq!(pkt_fstat(&h, &f) & 0x0020, 0x0020);
    assert_eq!(pkt_fstat(&h, &f) & 0x0800, 0x0800, "window went up");
    let ra = h.term(a);
    let rb = h.term(b);
    assert_eq!(ra["tcpWS"], "4");
    assert_eq!(rb["tcpWS"], "128");
    // option lists "3-1" (NOP counted), then the MSS "00" without separator
    assert_eq!(rb["tcpJA4T"], "2000_3-100_7");
    assert_eq!(ra["tcpJA4T"], "1000_3-100_2");
    assert_eq!(rb["tcpInitWinSz"], "2000");
    assert_eq!(rb["tcpMinWinSz"], "0");
    assert_eq!(rb["tcpMaxWinSz"], "12800");
    assert_eq!(rb["tcpWinSzDwnCnt"], "1");
    assert_eq!(rb["tcpWinSzUpCnt"], "1");
    assert_eq!(rb["tcpWinSzChgDirCnt"], "1");
    assert_eq!(rb["tcpWinSzThRt"], "0.5");
    assert_eq!(hex(&rb["tcpFStat"]) & 0x0b90, 0x0b90);
}

#[test]
fn window_full() {
    let mut h = H::dflt();
    h.feed(&P::a().w(1000), 0);
    h.feed(&P::b().f(0x12).sa(5000, 1001).w(10), 10);
    h.feed(&P::a().f(0x10).sa(1001, 5001).w(1000), 12);
    let (_, f) = h.feed(&P::a().f(0x18).sa(1001, 5001).w(1000).data(20), 20);
    assert_eq!(pkt_fstat(&h, &f) & 0x0400, 0x0400);
    assert_eq!(h.pf(&f, "tcpBFlgt"), "20");
}

#[test]
fn jit_window_min_threshold_setting() {
    for (winmin, want) in [(1u32, 0u32), (100, 0x0100), (0, 0)] {
        let mut h = H::new(Opts {
            winmin,
            ..Opts::default()
        });
        let (a, f) = h.feed(&P::a().f(0x10).w(50), 0);
        assert_eq!(pkt_fstat(&h, &f) & 0x0100, want, "WINMIN={winmin}");
        let r = h.term(a);
        assert_eq!(r["tcpWinSzThRt"], if want != 0 { "1" } else { "0" });
    }
    // zero window counts with the default, and the report line names the threshold
    let mut h = H::dflt();
    h.feed(&P::a().f(0x10).w(0), 0);
    h.feed(&P::a().f(0x10).w(10), 1);
    let mut out = vec![];
    h.p.report(&ReportTotals::default(), &mut out);
    assert!(
        out.contains(&"Number WinSz below 1: 1 [50.00%]".to_string()),
        "{out:?}"
    );
}

#[test]
fn sack_and_mptcp_options() {
    let mut h = H::dflt();
    // SACK block, MP_CAPABLE (flags 0x81), DSS (flags 0x05), ADD_ADDR (id 3)
    let opts = [
        5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 30, 12, 0x00, 0x81, 0, 0, 0, 0, 0, 0, 0, 0, 30, 4, 0x20,
        0x05, 30, 4, 0x30, 3,
    ];
    let (a, f) = h.feed(&P::a().f(0x10).o(&opts), 0);
    assert_eq!(pkt_fstat(&h, &f) & 0xC000, 0xC000);
    assert_eq!(h.pf(&f, "tcpMPTyp"), "3");
    let r = h.term(a);
    assert_eq!(r["tcpMPTBF"], "0x000d");
    assert_eq!(r["tcpMPF"], "0x81");
    assert_eq!(r["tcpMPAID"], "3");
    assert_eq!(r["tcpMPDSSF"], "0x05");
    assert_eq!(r["tcpOptions"], "0x40000020");
    let mut out = vec![];
    h.p.report(
        &ReportTotals {
            packets: 2,
            ab_bytes: 0,
        },
        &mut out,
    );
    assert!(
        out.contains(&"Aggregated MPTCP subtypes: tcpMPTBF=0x000d".to_string()),
        "{out:?}"
    );
    assert!(
        out.contains(&"Number of MPTCP packets: 3 [150.00%]".to_string()),
        "{out:?}"
    );
    // MPTCP=0: no dissection, no columns
    let mut h = H::new(Opts {
        mptcp: false,
        ..Opts::default()
    });
    let (a, f) = h.feed(&P::a().f(0x10).o(&opts), 0);
    assert_eq!(pkt_fstat(&h, &f) & 0x8000, 0);
    assert!(!h.term(a).contains_key("tcpMPTBF"));
    assert!(!h.p.packet_columns().contains(&"tcpMPTyp"));
}

#[test]
fn ja4t_fingerprint_loses_the_separator() {
    let mut h = H::dflt();
    let syn = [
        2, 4, 5, 0xb4, 1, 3, 3, 5, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 4, 2,
    ];
    let (a, b) = handshake(&mut h, &syn, &[2, 4, 5, 0xb4, 3, 3, 7, 0]);
    let ra = h.term(a);
    assert_eq!(ra["tcpJA4T"], "65535_2-1-3-1-1-8-41460_5");
    let rb = h.term(b);
    assert_eq!(rb["tcpJA4T"], "65535_2-31460_7");
    // TCPJA4T=0: no column
    let mut h = H::new(Opts {
        ja4t: false,
        ..Opts::default()
    });
    let (a, _) = handshake(&mut h, &syn, &[]);
    assert!(!h.term(a).contains_key("tcpJA4T"));
}

#[test]
fn ws_column_uses_the_global_aggregate() {
    let mut h = H::dflt();
    let (a, b) = handshake(&mut h, &[3, 3, 2, 0], &[3, 3, 7, 0]);
    // a UDP flow written before the WS flow prints 0, after it 1
    let mut u = P::a();
    u.proto = 17;
    u.sport = 5353;
    u.dport = 53;
    let (us, _) = h.feed(&u, 50);
    assert_eq!(h.term(us)["tcpWS"], "0");
    h.term(a);
    h.term(b);
    let mut u2 = u.clone();
    u2.sport = 5354;
    let (us2, _) = h.feed(&u2, 60);
    let r = h.term(us2);
    assert_eq!(r["tcpWS"], "1");
    assert_eq!(r["tcpJA4T"], "0_00_00_0");
}

// ------------------------------------------------------------------------------ ipFlags bits

#[test]
fn ip_header_bits_and_checksums() {
    let mut h = H::dflt();
    let mut p = P::a();
    p.frag = 0x4000;
    let (s, f) = h.feed(&p, 0);
    assert_eq!(pkt_ipf(&h, &f), 0x0040);
    assert_eq!(h.pf(&f, "ipHdrChkSum"), h.pf(&f, "ipCalChkSum"));
    assert_eq!(h.pf(&f, "l4HdrChkSum"), h.pf(&f, "l4CalChkSum"));
    assert_ne!(h.pf(&f, "l4CalChkSum"), "0x0000");
    // same timestamp, lower IP ID
    p.id = 50;
    let (_, f) = h.feed(&p, 0);
    assert_eq!(pkt_ipf(&h, &f), 0x0040 | 0x0004 | 0x4000);
    assert_eq!(h.pf(&f, "ipIDDiff"), "-50");
    // bad IP and TCP checksums, reserved bit
    p.id = 60;
    p.frag = 0x8000;
    p.bad_ip_ck = true;
    p.bad_l4_ck = true;
    let (_, f) = h.feed(&p, 10);
    assert_eq!(pkt_ipf(&h, &f), 0x0080 | 0x0400 | 0x0800);
    let r = h.term(s);
    // -50 is stored as 65486, then the later +10 is smaller
    assert_eq!(r["ipMindIPID"], "10");
    assert_eq!(r["ipMaxdIPID"], "10");
    assert_eq!(r["ipFlags"], "0x4cc4");
    let mut h = H::dflt();
    let (s, _) = h.feed(&P::a(), 0);
    let mut p = P::a();
    p.id = 50;
    h.feed(&p, 1);
    assert_eq!(h.term(s)["ipMindIPID"], "65486", "negative delta wraps");
}

#[test]
fn ip_checksum_settings() {
    let mut p = P::a();
    p.bad_ip_ck = true;
    p.bad_l4_ck = true;
    for (lvl, want_ipf, want_fs) in [
        (2u8, 0x0c00u32, 0x0010u32),
        (1, 0x0400, 0x1010),
        (0, 0, 0x1010),
    ] {
        let mut h = H::new(Opts {
            ipchecksum: lvl,
            ..Opts::default()
        });
        let (_, f) = h.feed(&p, 0);
        assert_eq!(pkt_ipf(&h, &f), want_ipf, "IPCHECKSUM={lvl}");
        assert_eq!(pkt_fstat(&h, &f), want_fs, "IPCHECKSUM={lvl}");
        if lvl < 2 {
            assert_eq!(h.pf(&f, "l4CalChkSum"), "0x0000");
        }
    }
}

#[test]
fn ip_time_going_back_within_a_second() {
    let mut h = H::dflt();
    let fr = P::a().f(0x10).build();
    h.feed_full(&fr, Ts::new(100, 500), None, None);
    let (s, f) = h.feed_full(&fr, Ts::new(100, 400), None, None);
    assert_eq!(pkt_ipf(&h, &f) & 0x8000, 0x8000);
    assert!(h.t.get(s).has(crate::flowstat::TIMEJUMP));
    assert!(h.warn & crate::flowstat::TIMEJUMP != 0);
}

#[test]
fn ipv4_options() {
    let mut h = H::dflt();
    let mut p = P::a();
    p.ipopts = vec![0x94, 4, 0, 0];
    let (s, f) = h.feed(&p, 0);
    assert_eq!(h.pf(&f, "ipOptLen"), "4");
    assert_eq!(h.pf(&f, "ipOpts"), "0x94;0x04;0x00;0x00");
    let r = h.term(s);
    assert_eq!(r["ipOptCpCl_Num"], "0x80_0x00100000");
    assert_eq!(r["ipOptCnt"], "1");
    // an option (not NOP) with length 0
    let mut h = H::dflt();
    p.ipopts = vec![1, 7, 0, 0];
    let (s, f) = h.feed(&p, 0);
    assert_eq!(pkt_ipf(&h, &f) & 1, 1);
    assert_eq!(h.term(s)["ipOptCnt"], "2");
}

#[test]
fn ipv6_hop_by_hop_options_and_traffic_class() {
    let mut h = H::dflt();
    let mut p = P::v6();
    p.proto = 17;
    p.sport = 1000;
    p.dport = 2000;
    p.tos = 0xb8;
    p.hbh = vec![5, 2, 0, 0, 1, 0];
    let (s, f) = h.feed(&p, 0);
    assert_eq!(h.pf(&f, "ip6HHOptLen"), "6");
    assert_eq!(h.pf(&f, "ip6HHOpts"), "0x05;0x02;0x00;0x00;0x01;0x00");
    assert_eq!(h.pf(&f, "ipToS"), "0xb8");
    assert_eq!(h.pf(&f, "l4HdrChkSum"), h.pf(&f, "l4CalChkSum"));
    assert_eq!(pkt_ipf(&h, &f), 0);
    let r = h.term(s);
    assert_eq!(r["ip6OptCntHH_D"], "2_0");
    assert_eq!(r["ip6OptHH_D"], "0x00000022_0x00000000");
    assert_eq!(r["ipToS"], "0xb8");
    assert_eq!(r["tcpFStat"], "0x0001");
    assert_eq!(r["ipMindIPID"], "65535");
    assert_eq!(r["tcpWS"], "0");
    assert_eq!(r["tcpRTTAckTripMin"], "65535");
}

#[test]
fn udp_length_and_zero_checksum() {
    let mut h = H::dflt();
    let mut p = P::a();
    p.proto = 17;
    p.payload = vec![1, 2, 3, 4];
    p.udp_zero_ck = true;
    let (_, f) = h.feed(&p, 0);
    assert_eq!(pkt_ipf(&h, &f), 0x0800, "UDP checksum 0 is flagged");
    p.udp_zero_ck = false;
    p.udp_len = Some(20);
    p.sport += 1;
    let (_, f) = h.feed(&p, 0);
    assert_eq!(pkt_ipf(&h, &f) & 0x2000, 0x2000);
}

#[test]
fn snapped_packet_warnings() {
    let mut h = H::dflt();
    let fr = P::a().f(0x18).data(100).build();
    let (s, f) = h.feed_full(&fr, ts(0), Some(14 + 20 + 20 + 10), None);
    assert_eq!(pkt_ipf(&h, &f), 0x1800);
    // the accumulator is not recomputed: 0 plus the pseudo header (LE words 0x000a 0x0100
    // 0x000a 0x0200 0x0600 0x7800 = 0x8114), complemented and swapped
    assert_eq!(h.pf(&f, "l4CalChkSum"), "0xeb7e");
    let _ = s;
}

#[test]
fn fragments() {
    // first fragment (MF) of a TCP datagram, then a fragment far beyond the expected position
    let mut h = H::dflt();
    let mut p = P::a().f(0x18).data(20);
    p.frag = 0x2000;
    let (s, f) = h.feed(&p, 0);
    assert_eq!(pkt_ipf(&h, &f), 0x0020);
    assert_eq!(
        pkt_fstat(&h, &f),
        0x1010,
        "checksum pending on the first fragment"
    );
    assert_eq!(h.pf(&f, "l4CalChkSum"), "0x0000");
    let mut q = P::a();
    q.frag = 0x2000 | 100;
    q.raw_l4 = Some(vec![0u8; 8]);
    let (_, f) = h.feed_full(&q.build(), ts(1), None, Some(s));
    // more fragments, l3Len 28 < 48, offset 100 far from 5
    assert_eq!(pkt_ipf(&h, &f), 0x0020 | 0x0008 | 0x0100);
    assert_eq!(h.pf(&f, "tcpFStat"), "0x0000");
    assert_eq!(h.pf(&f, "seq"), "");
    // last fragment near the end of the offset range; checksum compared (and wrong)
    q.frag = 0x1fff;
    let (_, f) = h.feed_full(&q.build(), ts(2), None, Some(s));
    assert_eq!(pkt_ipf(&h, &f), 0x0100 | 0x0010 | 0x0800);
    h.t.get_mut(s).status |= IPV4_FRAG_ERR;
    let r = h.term(s);
    assert_eq!(hex(&r["ipFlags"]) & 0x0200, 0x0200);
    assert_eq!(r["tcpFStat"], "0x1011");
    // FRAG_ANALYZE=0: no position analysis, no FRAG_SEQERR
    let mut h = H::new(Opts {
        frag_analyze: false,
        ..Opts::default()
    });
    let (s, _) = h.feed(&p, 0);
    q.frag = 0x2000 | 100;
    let (_, f) = h.feed_full(&q.build(), ts(1), None, Some(s));
    assert_eq!(pkt_ipf(&h, &f), 0x0020);
    h.t.get_mut(s).status |= IPV4_FRAG_ERR;
    assert_eq!(hex(&h.term(s)["ipFlags"]) & 0x0200, 0);
}

#[test]
fn tcp_path_quirk_for_offsets_multiple_of_32() {
    let mut h = H::dflt();
    let (s, _) = h.feed(&P::a().f(0x10), 0);
    let mut q = P::a();
    q.frag = 32;
    q.raw_l4 = P::a().f(0x10).sa(77, 88).l4_bytes().into();
    let (_, f) = h.feed_full(&q.build(), ts(1), None, Some(s));
    assert_eq!(h.pf(&f, "seq"), "77", "offset 32 units is parsed as TCP");
    assert_eq!(h.pf(&f, "tcpOptLen"), "-12");
    q.frag = 33;
    let (_, f) = h.feed_full(&q.build(), ts(2), None, Some(s));
    assert_eq!(h.pf(&f, "seq"), "");
}

#[test]
fn frag_seqerr_from_peer_fin() {
    let mut h = H::dflt();
    let (a, b) = handshake(&mut h, &[], &[]);
    h.t.get_mut(a).status |= IPV4_FRAG_PENDING;
    h.feed(&P::b().f(0x11).sa(5001, 1001), 100);
    assert_eq!(hex(&h.term(a)["ipFlags"]) & 0x0200, 0x0200);
    assert_eq!(hex(&h.term(b)["ipFlags"]) & 0x0200, 0);
}

// ------------------------------------------------------------------------------ RTT, SEQ/ACK

#[test]
fn rtt_columns() {
    let mut h = H::dflt();
    let (a, b) = handshake(&mut h, &[], &[]);
    let ra = h.term(a);
    let rb = h.term(b);
    // A's trip: SYN -> SYN-ACK (10 ms); B's: SYN-ACK -> ACK (2 ms)
    assert_eq!(ra["tcpSSASAATrip"], "0.01");
    assert_eq!(rb["tcpSSASAATrip"], "0.002");
    assert_eq!(ra["tcpRTTSseqAA"], "0.012");
    assert_eq!(rb["tcpRTTSseqAA"], "0.012");
    assert_eq!(rb["tcpRTTAckJitAvg"], "0");
    assert_eq!(ra["tcpRTTAckTripMin"], "0.01");
    assert_eq!(rb["tcpRTTAckTripMax"], "0.002");
    // RTT_ESTIMATE=0: no RTT columns
    let mut h = H::new(Opts {
        rtt: false,
        ..Opts::default()
    });
    let (a, _) = handshake(&mut h, &[], &[]);
    assert!(!h.term(a).contains_key("tcpSSASAATrip"));
}

#[test]
fn seq_ack_columns_and_packet_mode() {
    let mut h = H::dflt();
    let (a, b) = handshake(&mut h, &[], &[]);
    let (_, f) = h.feed(&P::a().f(0x18).sa(1001, 5001).data(10), 100);
    assert_eq!(h.pf(&f, "seq"), "1001");
    assert_eq!(h.pf(&f, "seqDiff"), "0");
    assert_eq!(h.pf(&f, "tcpMLen"), "10");
    let (_, f) = h.feed(&P::a().f(0x18).sa(1011, 5001).data(10), 101);
    assert_eq!(h.pf(&f, "seqMax"), "1011");
    assert_eq!(h.pf(&f, "seqDiff"), "10");
    assert_eq!(h.pf(&f, "seqFlowLen"), "10");
    h.feed(&P::b().f(0x10).sa(5001, 1021), 110);
    let ra = h.term(a);
    let rb = h.term(b);
    assert_eq!(ra["tcpISeqN"], "1000");
    assert_eq!(
        ra["tcpSeqSntBytes"], "10",
        "advances only: the last segment is not counted"
    );
    assert_eq!(ra["tcpPSeqCnt"], "3");
    assert_eq!(ra["tcpPAckCnt"], "3");
    assert_eq!(ra["tcpBFlgtMx"], "20");
    assert_eq!(rb["tcpFlwLssAckRcvdBytes"], "20");
    // relative and hex seq/ack in packet mode
    let mut h = H::new(Opts {
        seqack_rel: true,
        ..Opts::default()
    });
    handshake(&mut h, &[], &[]);
    let (_, f) = h.feed(&P::a().f(0x18).sa(1001, 5001).data(10), 100);
    assert_eq!(
        (h.pf(&f, "seq").as_str(), h.pf(&f, "ack").as_str()),
        ("1", "1")
    );
    let mut h = H::new(Opts {
        seqack_hex: true,
        ..Opts::default()
    });
    let (_, f) = h.feed(&P::a().sa(0xabcdef, 0), 0);
    assert_eq!(h.pf(&f, "seq"), "0x00abcdef");
    assert_eq!(h.pf(&f, "seqMax"), "0x00abcdef");
    // SEQ_ACK_NUM=0: neither flow nor packet columns
    let mut h = H::new(Opts {
        seqack: false,
        ..Opts::default()
    });
    let (a, f) = h.feed(&P::a(), 0);
    assert_eq!(f.len(), 30);
    assert!(!h.term(a).contains_key("tcpISeqN"));
}

#[test]
fn window_columns_switch() {
    let mut h = H::new(Opts {
        window: false,
        ..Opts::default()
    });
    let (a, _) = h.feed(&P::a().w(0).f(0x10), 0);
    let r = h.term(a);
    assert!(!r.contains_key("tcpInitWinSz"));
    assert_eq!(
        r["tcpFStat"], "0x0001",
        "no WIN_INIT/ZWIN without the window engine"
    );
}

#[test]
fn tos_settings() {
    let mut p = P::a();
    p.tos = 0xb9;
    for (lvl, col, want) in [
        (0u8, "ipToS", "0xb9"),
        (1, "ipToSDscp_ecn", "46_1"),
        (2, "ipToSPrec_ecn", "5_1"),
    ] {
        let mut h = H::new(Opts {
            iptos: lvl,
            ..Opts::default()
        });
        let (s, f) = h.feed(&p, 0);
        assert_eq!(h.pf(&f, col), want);
        assert_eq!(h.term(s)[col], want);
    }
}

#[test]
fn flag_counts_setting() {
    let mut h = H::new(Opts {
        flgcnt: true,
        ..Opts::default()
    });
    let (a, b) = handshake(&mut h, &[], &[]);
    h.feed(&P::a().f(0x29), 20);
    h.feed(&P::a().f(0x11).sa(1001, 5001), 30);
    let ra = h.term(a);
    assert_eq!(
        ra["tcpCntF_S_R_P_A_U_E_C_FA_SA_RA_N_SF_SFR_RF_X"],
        "2_1_0_1_2_1_0_0_1_0_0_0_0_0_0_1"
    );
    assert_eq!(
        h.term(b)["tcpCntF_S_R_P_A_U_E_C_FA_SA_RA_N_SF_SFR_RF_X"],
        "0_1_0_0_1_0_0_0_0_1_0_0_0_0_0_0"
    );
    assert_eq!(h.p.columns().len(), 53);
}

#[test]
fn settings_are_read_from_the_config() {
    let mut c = Config::new();
    c.register(SETTINGS);
    let p = TcpFlags::new(&c);
    assert_eq!(p.columns().len(), 52);
    for s in [
        "IPTOS=1",
        "TCPJA4T=0",
        "TCPFLGCNT=1",
        "MPTCP=0",
        "RTT_ESTIMATE=0",
        "NAT_BT_EST=0",
        "WINDOWSIZE=0",
        "SEQ_ACK_NUM=0",
    ] {
        c.set_assignment(s).unwrap();
    }
    c.validate().unwrap();
    let p = TcpFlags::new(&c);
    let names: Vec<&str> = p.columns().iter().map(|c| c.name).collect();
    assert!(names.contains(&"ipToSDscp_ecn"));
    assert!(names.contains(&"tcpCntF_S_R_P_A_U_E_C_FA_SA_RA_N_SF_SFR_RF_X"));
    assert_eq!(names.len(), 52 - 1 - 4 - 5 - 7 - 8 - 8 + 1);
    assert_eq!(p.packet_columns().len(), 41 - 11 - 2 - 4);
}

// ------------------------------------------------------------------------------ L2, report, monitoring

#[test]
fn l2_packets_print_empty_fields_and_l2_flows_initial_values() {
    let mut p = TcpFlags::with_opts(Opts::default());
    let mut t = FlowTable::new(&[182.0], 0);
    let mut w = 0u64;
    let mut rm = vec![];
    let s = t.insert(Default::default(), 1);
    t.get_mut(s).status = crate::flowstat::L2_FLOW;
    let info = crate::dissect::PacketInfo {
        class: FlowClass::L2,
        ..Default::default()
    };
    let pkt = Pkt {
        data: &[0u8; 60],
        info: &info,
        hdr_desc: b"",
        ts: ts(0),
        len: 60,
        pkt_no: 1,
    };
    let mut cx = FlowCx {
        table: &mut t,
        slot: s,
        global_warn: &mut w,
        pkt_line: None,
        remove: &mut rm,
    };
    p.on_new_flow(&mut cx, &pkt);
    let mut line = vec![];
    cx.pkt_line = Some(&mut line);
    p.on_layer2(&mut cx, &pkt);
    assert_eq!(line, vec![b'\t'; 41]);
    let mut rec = Record::default();
    p.on_flow_terminate(&TermCx { table: &t, slot: s }, &mut rec);
    let mut out = vec![];
    txt::write_record(&p.columns(), &rec.buf, &mut out);
    let s = String::from_utf8(out).unwrap();
    assert!(
        s.starts_with("0x0000\t65535\t0\t0\t0\t0\t0x00\t0x0000\t"),
        "{s}"
    );
    assert!(s.contains("\t0_00_00_00\t"), "{s}");
    assert!(s.contains("\t0.000000\t0.000000000\t0\t65535\t"), "{s}");
}

#[test]
fn report_lines_and_merge() {
    let mut h = H::dflt();
    let (a, b) = handshake(&mut h, &[], &[]);
    h.term(a);
    h.term(b);
    let mut h2 = H::dflt();
    let mut p = P::a();
    p.tos = 0x10;
    p.frag = 0x4000;
    let (s, _) = h2.feed(&p, 0);
    h2.term(s);
    h.p.merge(&h2.p);
    let mut out = vec![];
    h.p.report(&ReportTotals::default(), &mut out);
    assert_eq!(
        out,
        vec![
            "Aggregated ipFlags=0x0040",
            "Aggregated tcpFStat=0x0011",
            "Aggregated tcpFlags=0x0212",
            // a bare handshake is short enough to count as a (successful) scan
            "Aggregated tcpAnomaly=0x2000",
            "Aggregated ipToS=0x10",
            "Number of TCP scans attempted, successful: 2, 1 [50.00%]",
        ]
    );
}

#[test]
fn human_suffix_in_report_counts() {
    let mut s = vec![];
    num_h(&mut s, 1994);
    assert_eq!(String::from_utf8(s).unwrap(), "1994 (1.99 K)");
    let mut s = vec![];
    pct(&mut s, 7, 0);
    assert_eq!(String::from_utf8(s).unwrap(), " [inf%]");
}

#[test]
fn monitoring_values_and_differential_reset() {
    let mut h = H::dflt();
    assert_eq!(h.p.monitoring_columns().len(), 8);
    let (a, _) = h.feed(&P::a(), 0);
    h.term(a);
    let mut v = vec![];
    h.p.monitoring_values(&mut v);
    assert_eq!(v, vec!["0x0", "0x11", "0x2", "0x0", "1", "0", "0", "0"]);
    h.p.monitoring_reset();
    let mut v = vec![];
    h.p.monitoring_values(&mut v);
    assert_eq!(
        v,
        vec!["0x0", "0x11", "0x2", "0x0", "0", "0", "0", "0"],
        "aggregates stay, counters restart"
    );
    let (s, _) = h.feed(&P::a().f(0x02).sa(1, 0), 10);
    h.feed_full(&P::a().f(0x02).sa(1, 0).build(), ts(2000), None, Some(s));
    let mut v = vec![];
    h.p.monitoring_values(&mut v);
    // the flow's SYN state persists: a SYN 10 ms later is a scan, 2 s later a SYN retry
    assert_eq!(&v[4..], &["1", "0", "1", "0"]);
}

#[test]
fn non_tcp_packet_mode_placeholders() {
    let mut h = H::dflt();
    let mut p = P::a();
    p.proto = 1;
    p.payload = vec![8, 0, 0xf7, 0xff, 0, 0, 0, 0];
    let (s, f) = h.feed(&p, 0);
    assert_eq!(h.pf(&f, "tcpFStat"), "0x0000");
    assert_eq!(h.pf(&f, "tcpOptLen"), "0");
    assert_eq!(h.pf(&f, "tcpFlags"), "");
    assert_eq!(h.pf(&f, "l4HdrChkSum"), "0xf7ff");
    assert_eq!(h.pf(&f, "l4CalChkSum"), "0xf7ff", "ICMP: no pseudo header");
    assert_eq!(h.term(s)["tcpFStat"], "0x0001");
}

#[test]
fn acc16_matches_rfc1071_and_subtracts_the_skipped_word() {
    let d = [
        0x45u8, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0xb1, 0xe6, 0xac, 0x10, 0x0a,
        0x63, 0xac, 0x10, 0x0a, 0x0c,
    ];
    assert_eq!((!acc16(&d, 0, 0, 20, 5)).swap_bytes(), 0xb1e6);
    // skipped word beyond the summed length is still subtracted (u32 wrap, then folded)
    // 0 - 2 + 1 = 0xffffffff, folded: 0xffff
    assert_eq!(acc16(&[1, 0, 0, 0, 2, 0], 0, 0, 2, 2), 0xffff);
}

// ------------------------------------------------------------------------ checksum helpers

/// The accumulator as first written (and as the reference does it): word by word into a
/// u64, reads past the end as 0, the total taken modulo 2^32 and folded while above 16 bits.
fn acc16_simple(d: &[u8], base: usize, start: u32, len: u16, skip: u16) -> u16 {
    let byte = |i: usize| d.get(i).copied().unwrap_or(0) as u64;
    let mut a = start as u64;
    if skip > 0 {
        let at = base + 2 * skip as usize;
        a = (a as u32).wrapping_sub((byte(at) | byte(at + 1) << 8) as u32) as u64;
    }
    let n = len as usize;
    for k in 0..n / 2 {
        a += byte(base + 2 * k) | byte(base + 2 * k + 1) << 8;
    }
    if n & 1 == 1 {
        a += byte(base + n - 1);
    }
    let mut a = a as u32;
    while a >> 16 != 0 {
        a = (a & 0xffff) + (a >> 16);
    }
    a as u16
}

#[test]
fn word_sum_adds_little_endian_words_and_a_lone_last_byte() {
    assert_eq!(word_sum(&[]), 0);
    assert_eq!(word_sum(&[0x12]), 0x12);
    assert_eq!(word_sum(&[0x12, 0x34]), 0x3412);
    assert_eq!(word_sum(&[0x12, 0x34, 0x56]), 0x3412 + 0x56);
    // 15, 16 and 17 bytes: around the 16-byte steps of the vectorised loop
    let d: Vec<u8> = (1..=17).collect();
    for n in [15, 16, 17] {
        let mut want = 0u32;
        for i in (0..n).step_by(2) {
            let hi = if i + 1 < n { d[i + 1] } else { 0 };
            want += u16::from_le_bytes([d[i], hi]) as u32;
        }
        assert_eq!(word_sum(&d[..n]), want, "{n} bytes");
    }
    // all ones: the exact total, far above 16 bits (no carries lost between words)
    assert_eq!(word_sum(&[0xff; 65535]), 32767 * 0xffff + 0xff);
    assert_eq!(word_sum(&[0xff; 4097]), 2048 * 0xffff + 0xff);
}

#[test]
fn fold_equals_the_fold_while_above_16_bits_loop() {
    let slow = |mut a: u32| {
        while a >> 16 != 0 {
            a = (a & 0xffff) + (a >> 16);
        }
        a as u16
    };
    let mut r = XorShift(0x9e37_79b9_7f4a_7c15);
    let edges = [
        0,
        1,
        0xffff,
        0x1_0000,
        0x1_fffe,
        0x1_ffff,
        0xffff_0000,
        0xfffe_ffff,
    ];
    for a in edges.into_iter().chain([u32::MAX, u32::MAX - 1]) {
        assert_eq!(fold(a), slow(a), "{a:#x}");
    }
    for _ in 0..100_000 {
        let a = r.next() as u32;
        assert_eq!(fold(a), slow(a), "{a:#x}");
    }
}

#[test]
fn acc16_handles_odd_lengths_skips_and_reads_past_the_end() {
    let d = [0xff, 0xff, 0x01, 0x00, 0x02];
    // 0xffff + 0x0001 = 0x10000 -> 0x0001; the odd byte adds 2
    assert_eq!(acc16(&d, 0, 0, 5, 0), 0x0003);
    // skipping word 1 leaves 0xffff + 2
    assert_eq!(acc16(&d, 0, 0, 5, 1), 0x0002);
    // 2 bytes past the end read as 0; the skip word beyond them too
    assert_eq!(acc16(&d, 2, 0, 5, 7), 0x0003);
    assert_eq!(acc16(&d, 9, 0x1234, 8, 1), 0x1234);
    // start values above 16 bits wrap in u32 with the skipped word
    assert_eq!(
        acc16(&[0, 0, 5, 0], 0, 3, 4, 1),
        acc16_simple(&[0, 0, 5, 0], 0, 3, 4, 1)
    );
}

#[test]
fn acc16_matches_the_word_by_word_accumulator() {
    let mut r = XorShift(0x0123_4567_89ab_cdef);
    for case in 0..20_000 {
        let size = if case % 100 == 0 {
            r.below(70_000) as usize
        } else {
            r.below(200) as usize
        };
        // mostly 0xff bytes in some cases: many 16-bit overflows
        let mut d = r.bytes(size);
        if case % 3 == 0 {
            d.iter_mut().for_each(|b| *b |= 0xf0);
        }
        let base = r.below(size as u64 + 8) as usize;
        let len = if case % 100 == 0 {
            r.below(65_536) as u16
        } else {
            r.below(size as u64 + 16) as u16
        };
        let skip = if r.below(2) == 0 {
            0
        } else {
            r.below(len as u64 / 2 + 4) as u16
        };
        let start = match r.below(3) {
            0 => 0,
            1 => r.below(0x1_0000) as u32,
            _ => r.next() as u32,
        };
        assert_eq!(
            acc16(&d, base, start, len, skip),
            acc16_simple(&d, base, start, len, skip),
            "size {size} base {base} start {start:#x} len {len} skip {skip}"
        );
    }
}

#[test]
fn ip4_header_sum_matches_acc16_with_the_checksum_word_skipped() {
    let mut r = XorShift(42);
    for case in 0..20_000 {
        let size = r.below(90) as usize;
        let mut d = r.bytes(size);
        if case % 2 == 0 {
            d.iter_mut().for_each(|b| *b |= 0xc0);
        }
        let l3 = r.below(size as u64 + 4) as usize;
        let hl = if r.below(4) == 0 {
            4 * r.below(16) as u16
        } else {
            20
        };
        assert_eq!(
            ip4_hdr_acc(&d, l3, hl),
            acc16_simple(&d, l3, 0, hl, 5),
            "size {size} l3 {l3} hl {hl}"
        );
    }
}

#[test]
fn pseudo_header_sum_matches_the_built_pseudo_header() {
    let mut r = XorShift(7);
    for case in 0..20_000 {
        let is6 = r.below(2) == 0;
        let size = r.below(if is6 { 60 } else { 30 }) as usize;
        let mut d = r.bytes(size);
        if case % 2 == 0 {
            d.iter_mut().for_each(|b| *b |= 0xe0);
        }
        let l3 = r.below(8) as usize;
        let proto = r.next() as u8;
        let len = r.next() as u16;
        let start = r.next() as u16;
        // the pseudo header as it used to be built, summed by the plain accumulator
        let mut ph = [0u8; 40];
        let n = if is6 {
            ph[..32].copy_from_slice(d.get(l3 + 8..l3 + 40).unwrap_or(&[0; 32]));
            ph[32..36].copy_from_slice(&(len as u32).to_be_bytes());
            ph[39] = proto;
            40
        } else {
            ph[..8].copy_from_slice(d.get(l3 + 12..l3 + 20).unwrap_or(&[0; 8]));
            ph[9] = proto;
            ph[10..12].copy_from_slice(&len.to_be_bytes());
            12
        };
        assert_eq!(
            pseudo_hdr_acc(&d, l3, is6, proto, len, start),
            acc16_simple(&ph, 0, start as u32, n, 0),
            "v6 {is6} size {size} l3 {l3}"
        );
    }
}

#[test]
fn acc16_from_the_readers_sum_equals_acc16() {
    // the reader's word sum of everything from L4 on, minus what lies past the checksummed
    // range, minus the skipped word: the same as summing the range itself
    let mut r = XorShift(0x2545_f491_4f6c_dd1d);
    for _ in 0..20_000 {
        let n = r.below(300) as usize;
        let d = r.bytes(n);
        let base = r.below(n as u64 + 1) as usize;
        let len = r.below(n as u64 + 40) as u16;
        let skip = r.below(12) as u16;
        let all = word_sum(&d[base..]);
        assert_eq!(
            acc16_given(&d, base, all, len, skip),
            acc16(&d, base, 0, len, skip),
            "n {n} base {base} len {len} skip {skip}"
        );
    }
}

#[test]
fn bytes_at_copies_a_header_and_reads_past_the_capture_as_zero() {
    let d = [1u8, 2, 3, 4, 5];
    assert_eq!(bytes_at::<3>(&d, 1), [2, 3, 4]);
    assert_eq!(bytes_at::<5>(&d, 0), d);
    // partly and not at all captured
    assert_eq!(bytes_at::<4>(&d, 2), [3, 4, 5, 0]);
    assert_eq!(bytes_at::<2>(&d, 5), [0, 0]);
    assert_eq!(bytes_at::<2>(&d, 9), [0, 0]);
    assert_eq!(bytes_at::<2>(&d, usize::MAX), [0, 0]);
    assert_eq!(bytes_at::<0>(&d, 3), []);
}

#[test]
fn acc16_given_without_the_read_word_equals_acc16_skipping_it() {
    // TCP segment: 20-byte header with checksum 0x1234 (word 8), 3 payload bytes, 2 padding
    let mut d = [0u8; 25];
    d[16] = 0x12;
    d[17] = 0x34;
    d[20..].copy_from_slice(&[0xff, 0xfe, 0x01, 0xaa, 0xbb]);
    let all = word_sum(&d);
    let field = u16::from_be_bytes([d[16], d[17]]);
    assert_eq!(
        acc16_given_without(&d, 0, all, 23, field.swap_bytes()),
        acc16(&d, 0, 0, 23, 8)
    );
    // nothing skipped
    assert_eq!(
        acc16_given_without(&d, 0, all, 23, 0),
        acc16(&d, 0, 0, 23, 0)
    );
    let mut r = XorShift(0x5851_f42d_4c95_7f2d);
    for _ in 0..20_000 {
        let n = r.below(120) as usize;
        let d = r.bytes(n);
        let base = r.below(n as u64 + 1) as usize;
        let len = r.below(n as u64 + 40) as u16;
        let skip = 1 + r.below(12) as u16;
        let word = crate::wire::le16_at(&d, base + 2 * skip as usize);
        assert_eq!(
            acc16_given_without(&d, base, word_sum(&d[base..]), len, word),
            acc16(&d, base, 0, len, skip),
            "n {n} base {base} len {len} skip {skip}"
        );
    }
}

#[test]
fn nop_nop_timestamp_shortcut_equals_the_option_loop() {
    // the same three options as NOP, NOP, TS (the shortcut) and as TS, NOP, NOP (the loop)
    let block = |v: u32, nops_first: bool| {
        let mut ts = vec![8, 10];
        ts.extend_from_slice(&v.to_be_bytes());
        ts.extend_from_slice(&0x0102_0304u32.to_be_bytes());
        let mut o = if nops_first { vec![1, 1] } else { vec![] };
        o.extend_from_slice(&ts);
        if !nops_first {
            o.extend_from_slice(&[1, 1]);
        }
        o
    };
    for o in [
        Opts::default(),
        Opts {
            nat_bt: false,
            ..Opts::default()
        },
    ] {
        let run = |nops_first: bool| {
            let mut h = H::new(o);
            let mut pkts = vec![];
            let (a, f) = h.feed(&P::a().f(0x02), 0);
            pkts.push(f);
            for (i, (flags, v)) in [(0x10, 1000), (0x18, 900), (0x10, 1010), (0x11, 1011)]
                .into_iter()
                .enumerate()
            {
                let p = P::a().f(flags).sa(1001, 0).o(&block(v, nops_first));
                let (_, mut f) = h.feed(&p, 10 + 20 * i as u64);
                // the option bytes themselves differ
                f.pop();
                pkts.push(f);
            }
            (h.term(a), pkts)
        };
        assert_eq!(run(true), run(false), "{o:?}");
    }
}
