//! tcpFlags: IP and TCP header analysis per flow as T2 0.9.3's plugin does it
//! (spec/tcpFlags.md): IP flags, IPID/TTL/ToS, IP and IPv6 options, L3/L4 checksums (carried
//! over fragments), fragment position analysis, TCP flags and anomalies, options (incl. MPTCP
//! and the JA4T fingerprint), the window state machine, SEQ/ACK analysis, RTT estimation,
//! boot-time estimation from TCP timestamps, the scan detector, packet-mode columns, the end
//! report and the monitoring columns.
//!
//! Every compile-time switch of the reference plugin is a run-time setting here (same names);
//! the set of flows.txt / packets.txt columns follows the settings exactly as T2 builds would.
//!
//! Layout: this file holds the settings, the per-flow state, the columns, flow termination,
//! report and monitoring; `packet.rs` the per-packet algorithm; `tests.rs` the unit tests.

mod packet;
#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::flowstat::{IPV4_FRAG_ERR, L3FLOWINVERT};
use crate::output::columns::{Column, Record, Ty};
use crate::plugin::{FlowCx, Pkt, Plugin, ReportTotals, TermCx};
use crate::textfmt as tf;
use std::any::Any;

/// Run-time settings (T2's compile-time constants of tcpFlags.h), default = reference build.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    ("IPTOS", "0", "tcpFlags ToS column: 0 ipToS (hex byte), 1 ipToSDscp_ecn (DSCP_ECN), 2 ipToSPrec_ecn (precedence_ECN)"),
    ("RTT_ESTIMATE", "1", "tcpFlags: 1 = round-trip-time columns; the retransmission test then uses the RTT averages (else a fixed 1.5 s)"),
    ("IPCHECKSUM", "2", "tcpFlags: 0 = no checksums, 1 = IPv4 header checksum, 2 = IPv4 header and L4 checksums"),
    ("WINDOWSIZE", "1", "tcpFlags: 1 = TCP window columns and window state machine"),
    ("WINMIN", "1", "tcpFlags: a TCP window below this value is a low window (ZWIN bit, tcpWinSzThRt); 0 disables the test"),
    ("SEQ_ACK_NUM", "1", "tcpFlags: 1 = SEQ/ACK analysis and its columns"),
    ("FRAG_ANALYZE", "1", "tcpFlags: 1 = IP fragment position analysis"),
    ("NAT_BT_EST", "1", "tcpFlags: 1 = TCP timestamp option analysis and boot-time estimation columns"),
    ("SCAN_DETECTOR", "1", "tcpFlags: 1 = TCP scan detector at flow end"),
    ("MPTCP", "1", "tcpFlags: 1 = MPTCP option dissection and columns"),
    ("TCPJA4T", "1", "tcpFlags: 1 = tcpJA4T fingerprint column"),
    ("TCPFLGCNT", "0", "tcpFlags: 1 = flag counts column tcpCntF_S_R_P_A_U_E_C_FA_SA_RA_N_SF_SFR_RF_X"),
    ("SPKTMD_SEQACKREL", "0", "tcpFlags packet mode (-s): 1 = seq/ack/seqMax relative to the initial numbers"),
    ("SPKTMD_SEQACKHEX", "0", "tcpFlags packet mode (-s): 1 = seq/ack/seqMax as 0x%08x"),
];

/// The settings, read once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opts {
    pub iptos: u8,
    pub rtt: bool,
    pub ipchecksum: u8,
    pub window: bool,
    pub winmin: u32,
    pub seqack: bool,
    pub frag_analyze: bool,
    pub nat_bt: bool,
    pub scan: bool,
    pub mptcp: bool,
    pub ja4t: bool,
    pub flgcnt: bool,
    pub seqack_rel: bool,
    pub seqack_hex: bool,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts::DEFAULT
    }
}

impl Opts {
    /// The reference build's settings (the [`SETTINGS`] defaults).
    pub const DEFAULT: Opts = Opts {
        iptos: 0,
        rtt: true,
        ipchecksum: 2,
        window: true,
        winmin: 1,
        seqack: true,
        frag_analyze: true,
        nat_bt: true,
        scan: true,
        mptcp: true,
        ja4t: true,
        flgcnt: false,
        seqack_rel: false,
        seqack_hex: false,
    };

    pub fn from_config(c: &Config) -> Opts {
        Opts {
            iptos: c.u64("IPTOS").min(2) as u8,
            rtt: c.bool("RTT_ESTIMATE"),
            ipchecksum: c.u64("IPCHECKSUM").min(2) as u8,
            window: c.bool("WINDOWSIZE"),
            winmin: c.u64("WINMIN").min(u32::MAX as u64) as u32,
            seqack: c.bool("SEQ_ACK_NUM"),
            frag_analyze: c.bool("FRAG_ANALYZE"),
            nat_bt: c.bool("NAT_BT_EST"),
            scan: c.bool("SCAN_DETECTOR"),
            mptcp: c.bool("MPTCP"),
            ja4t: c.bool("TCPJA4T"),
            flgcnt: c.bool("TCPFLGCNT"),
            seqack_rel: c.bool("SPKTMD_SEQACKREL"),
            seqack_hex: c.bool("SPKTMD_SEQACKHEX"),
        }
    }
}

// tcpFStat bits
const FS_INTDIS_OK: u16 = 0x0001;
const FS_OPT_INIT: u16 = 0x0002;
const FS_TM_DEC: u16 = 0x0004;
const FS_OPTCORRPT: u16 = 0x0008;
const FS_WIN_INIT: u16 = 0x0010;
const FS_WIN_UPD: u16 = 0x0020;
const FS_WIN_0PRB: u16 = 0x0040;
const FS_WIN_0PRBACK: u16 = 0x0080;
const FS_ZWIN: u16 = 0x0100;
const FS_WS_USED: u16 = 0x0200;
const FS_WIN_FLL: u16 = 0x0400;
const FS_WIN_UP: u16 = 0x0800;
const FS_L4CHKSUMC: u16 = 0x1000;
const FS_SACK: u16 = 0x4000;
const FS_MPTCP: u16 = 0x8000;
/// Bits carried from the flow's aggregate into each packet's value.
const FS_STICKY: u16 = 0x8A13;

// ipFlags bits
const IPF_OPT_CORRPT: u16 = 0x0001;
const IPF_ID_ROLL_OVER: u16 = 0x0004;
const IPF_FRAG_BLW_MIN: u16 = 0x0008;
const IPF_FRAG_OUT_RNG: u16 = 0x0010;
const IPF_FRAG_NXTPPOS: u16 = 0x0100;
const IPF_FRAG_SEQERR: u16 = 0x0200;
const IPF_L3CHK_SUMERR: u16 = 0x0400;
const IPF_L4CHK_SUMERR: u16 = 0x0800;
const IPF_SNP_HLEN_WRN: u16 = 0x1000;
const IPF_HLEN_WRN: u16 = 0x2000;
const IPF_PKT_INTDIS: u16 = 0x4000;
const IPF_PKT_INTDISN: u16 = 0x8000;

// tcpAnomaly bits
const AN_SYN_RETRY: u16 = 0x0001;
const AN_SEQ_TRETRY: u16 = 0x0002;
const AN_SEQ_FRETRY: u16 = 0x0004;
const AN_ACK_2: u16 = 0x0008;
const AN_KPALV: u16 = 0x0010;
const AN_KPALVACK: u16 = 0x0020;
const AN_SEQ_OUTORDR: u16 = 0x0040;
const AN_SEQ_PLSSMS: u16 = 0x0080;
const AN_ACK_UNSEEN: u16 = 0x0100;
const AN_PKT_NCAP: u16 = 0x0200;
const AN_SCAN_DET: u16 = 0x1000;
const AN_SCAN_SU_DET: u16 = 0x2000;
const AN_SYN_L7CNT: u16 = 0x4000;
/// Anomalies suppressed once a scan was seen in the flow (SYN_RETRY … KPALVACK).
const AN_LOW6: u16 = 0x003F;

// tcpFlags derived bits
const TF_FIN_ACK: u16 = 0x0100;
const TF_SYN_ACK: u16 = 0x0200;
const TF_RST_ACK: u16 = 0x0400;
const TF_NULL: u16 = 0x0800;
const TF_SYN_FIN: u16 = 0x1000;
const TF_SYN_FIN_RST: u16 = 0x2000;
const TF_RST_FIN: u16 = 0x4000;
const TF_XMAS: u16 = 0x8000;

// RTT state
const RTT_SYN: u8 = 0x01;
const RTT_SYNACK: u8 = 0x02;
const RTT_ACK: u8 = 0x04;
const RTT_STOP: u8 = 0x80;

/// Options kept for the JA4T fingerprint.
const JA4T_MAX: usize = 20;
/// Scan detector: flows with fewer TCP packets than this are scans.
const SCAN_PMAX: u8 = 4;

/// Per-flow state (one per flow slot), 264 bytes.
///
/// `repr(C)` keeps the order below, which groups the fields by when they are touched rather
/// than by size: a packet reads its own state and, through the RTT and SEQ/ACK analysis, a
/// handful of fields of the opposite direction's state, so those fields share the first 64
/// bytes (one or two cache lines of the opposite instead of five), then come the fields every
/// packet updates, then the ones of packets with TCP options, and last the ones written once
/// per flow or only for rare headers (IP options, IPv6 extension headers, MPTCP, JA4T).
/// Every field keeps the width the reference's output needs.
#[derive(Clone, Default)]
#[repr(C)]
struct State {
    // ---- read or written through the opposite direction (RTT, SEQ/ACK), bytes 0..64
    pkt_cnt_f: f32,
    rtt_min: f32,
    rtt_max: f32,
    rtt_trip: f32,
    rtt_avg: f32,
    rtt_jit: f32,
    seq_next: u32,
    seq_max: u32,
    ack_last: u32,
    win_last: u32,
    inflight: u32,
    /// Seconds of the previous packet: only the low 32 bits matter (T2 subtracts them as u32).
    last_sec: u32,
    last_ns: u32,
    stat: u16,
    stat_last: u16,
    anom: u16,
    anom_last: u16,
    rtt_flag: u8,
    flags_last: u8,
    ttl_last: u8,
    ttl_min: u8,
    // ---- every packet of the flow, bytes 64..128
    seq_bytes: i64,
    ack_bytes: i64,
    payload_sum: i64,
    seq_last: u32,
    tcp_pkt_cnt: u32,
    win_min: u32,
    win_max: u32,
    win_avg: f32,
    inflight_max: u32,
    frag_l4_total: u32,
    ip_flags: u16,
    flags_agg: u16,
    l4_acc: u16,
    l4_ck_hdr: u16,
    ipid_last: u16,
    ipid_dmin: u16,
    // ---- TCP options and less frequent events, bytes 128..192
    ts_last_sec: u64,
    ts_last_ns: u32,
    ts_val: u32,
    ts_ecr: u32,
    ts_val_hi: u32,
    win_low_cnt: u32,
    win_up: u16,
    win_down: u16,
    win_chg: u16,
    seq_ok_cnt: u16,
    seq_fault_cnt: u16,
    ack_cnt: u16,
    ack_fault_cnt: u16,
    ipid_dmax: u16,
    opt_cnt: u16,
    opt_pkt_cnt: u16,
    mss: u16,
    frag_next: u16,
    ttl_max: u8,
    ttl_chg: u8,
    tos_agg: u8,
    scan_pkts: u8,
    ws_shift: u8,
    ja4_n: u8,
    tcpopt_bits: u32,
    // ---- once per flow, rare headers, bytes 192..264
    ts_first_sec: u64,
    ts_first_ns: u32,
    ts_val_init: u32,
    seq_init: u32,
    /// Base of relative ack numbers in packet mode (SPKTMD_SEQACKREL).
    ack_init: u32,
    win_init: u32,
    ipopt_bits: u32,
    ip6_hh_bits: u32,
    ip6_d_bits: u32,
    ipopt_cnt: u16,
    ip6_hh_cnt: u16,
    ip6_d_cnt: u16,
    mp_types: u16,
    ipopt_cpcl: u8,
    mp_flags: u8,
    mp_addr_id: u8,
    mp_dss: u8,
    ja4: [u8; JA4T_MAX],
}

/// Slots per chunk of [`Slots`] (4096 × 264 bytes ≈ 1 MiB for [`State`]).
const SLOT_CHUNK_BITS: u32 = 12;
const SLOT_CHUNK: usize = 1 << SLOT_CHUNK_BITS;

/// Slot-indexed storage that can hand out a flow's state together with its opposite's.
///
/// Kept in chunks of [`SLOT_CHUNK`] slots, so growing with the flow table never copies the
/// states already there (a `Vec` doubling touched the new memory twice and held both copies
/// while it copied). Only the first chunk starts small and grows, so a short capture does not
/// pay for a full chunk.
#[derive(Clone, Default)]
struct Slots<T> {
    chunks: Vec<Vec<T>>,
}

/// Chunk and position within it of `slot`.
#[inline]
fn chunk_of(slot: u32) -> (usize, usize) {
    (
        (slot >> SLOT_CHUNK_BITS) as usize,
        slot as usize & (SLOT_CHUNK - 1),
    )
}

impl<T: Default + Clone> Slots<T> {
    fn reset(&mut self, slot: u32) -> &mut T {
        let (c, i) = chunk_of(slot);
        if self.chunks.len() <= c {
            // a chunk before the new one is full-sized from now on
            if let Some(first) = self.chunks.first_mut() {
                first.resize(SLOT_CHUNK, T::default());
            }
            while self.chunks.len() < c {
                self.chunks.push(vec![T::default(); SLOT_CHUNK]);
            }
            let n = if c == 0 { (i + 1).max(64) } else { SLOT_CHUNK };
            self.chunks.push(vec![T::default(); n]);
        }
        let chunk = &mut self.chunks[c];
        if i >= chunk.len() {
            let n = (i + 1).max(chunk.len() * 2).min(SLOT_CHUNK);
            chunk.resize(n, T::default());
        }
        let x = &mut chunk[i];
        *x = T::default();
        x
    }

    #[inline]
    fn try_get(&self, slot: u32) -> Option<&T> {
        let (c, i) = chunk_of(slot);
        self.chunks.get(c)?.get(i)
    }

    #[inline]
    fn get(&self, slot: u32) -> &T {
        match self.try_get(slot) {
            Some(x) => x,
            None => panic!("tcpFlags: state of slot {slot} used before its flow was created"),
        }
    }

    #[inline]
    fn get_mut(&mut self, slot: u32) -> &mut T {
        let (c, i) = chunk_of(slot);
        Self::in_chunk(self.chunk_mut(c, slot), i, slot)
    }

    /// The state of `a` and, if given (and different, and its state exists), of `b`.
    #[inline]
    fn pair(&mut self, a: u32, b: Option<u32>) -> (&mut T, Option<&mut T>) {
        let (ca, ia) = chunk_of(a);
        match b.filter(|&b| b != a).map(chunk_of) {
            // most pairs share a chunk
            Some((cb, ib)) if cb == ca => {
                let ch = self.chunk_mut(ca, a);
                if ib < ch.len() {
                    let (x, y) = Self::two(ch, ia, ib, a);
                    (x, Some(y))
                } else {
                    (Self::in_chunk(ch, ia, a), None)
                }
            }
            Some((cb, ib)) if self.chunks.get(cb).is_some_and(|ch| ib < ch.len()) => {
                let (x, y) = Self::two(&mut self.chunks, ca, cb, a);
                (Self::in_chunk(x, ia, a), Some(&mut y[ib]))
            }
            _ => (self.get_mut(a), None),
        }
    }

    /// Elements `i` and `j` of `v`: `j` is in range and differs from `i`, an `i` out of range
    /// is the state of `slot` missing.
    #[inline]
    fn two<U>(v: &mut [U], i: usize, j: usize, slot: u32) -> (&mut U, &mut U) {
        if i >= v.len() {
            Self::missing(slot)
        }
        if i < j {
            let (lo, hi) = v.split_at_mut(j);
            (&mut lo[i], &mut hi[0])
        } else {
            let (lo, hi) = v.split_at_mut(i);
            (&mut hi[0], &mut lo[j])
        }
    }

    #[inline]
    fn chunk_mut(&mut self, c: usize, slot: u32) -> &mut Vec<T> {
        match self.chunks.get_mut(c) {
            Some(ch) => ch,
            None => Self::missing(slot),
        }
    }

    #[inline]
    fn in_chunk(ch: &mut [T], i: usize, slot: u32) -> &mut T {
        match ch.get_mut(i) {
            Some(x) => x,
            None => Self::missing(slot),
        }
    }

    #[cold]
    #[inline(never)]
    fn missing(slot: u32) -> ! {
        panic!("tcpFlags: state of slot {slot} used before its flow was created")
    }

    /// Prefetch hint for the cache lines of the first `bytes` bytes of `slot`'s state (no
    /// effect on the contents; a slot that does not exist yet is ignored).
    #[inline]
    fn prefetch(&self, slot: u32, bytes: usize) {
        if let Some(x) = self.try_get(slot) {
            // the pointers are only handed to the prefetch instruction, never dereferenced
            let p = x as *const T as *const u8;
            let end = p as usize + bytes.min(std::mem::size_of::<T>());
            let mut line = p.wrapping_sub(p as usize & 63);
            while (line as usize) < end {
                crate::flow::table::prefetch_ptr(line);
                line = line.wrapping_add(64);
            }
        }
    }
}

/// Process-wide (here: per worker, merged for the report) aggregates and counters.
#[derive(Clone, Copy, Default, Debug)]
struct Totals {
    ip_flags: u16,
    fstat: u16,
    flags: u16,
    anom: u16,
    tos: u8,
    mp_types: u16,
    mp_flags: u8,
    n_low_win: u64,
    n_tcp_pkts: u64,
    n_scans: u64,
    n_succ_scans: u64,
    n_seq_retries: u64,
    n_syn_retries: u64,
    n_mptcp_opts: u64,
}

/// The plugin instance of one worker.
pub struct TcpFlags {
    o: Opts,
    /// `o` is [`Opts::DEFAULT`]: the packets take the path specialised for it.
    reference_opts: bool,
    flows: Slots<State>,
    /// Flag counters (TCPFLGCNT=1 only).
    counts: Slots<[u16; 16]>,
    g: Totals,
    /// Baselines of the differential monitoring counters (scans, successful scans, SYN and
    /// seq retries).
    base: [u64; 4],
}

impl TcpFlags {
    pub fn new(c: &Config) -> TcpFlags {
        TcpFlags::with_opts(Opts::from_config(c))
    }

    pub fn with_opts(o: Opts) -> TcpFlags {
        TcpFlags {
            o,
            reference_opts: o == Opts::DEFAULT,
            flows: Slots::default(),
            counts: Slots::default(),
            g: Totals::default(),
            base: [0; 4],
        }
    }

    /// Size of the per-flow state in bytes (without the optional flag counters).
    pub fn state_size() -> usize {
        std::mem::size_of::<State>()
    }

    /// The empty packet-mode fields of an L2 packet (or the TCP part of a non-TCP packet is
    /// written by `packet.rs`).
    fn l2_pkt_fields(&self, out: &mut Vec<u8>) {
        let n = self.packet_columns().len();
        out.resize(out.len() + n, b'\t');
    }

    /// The tcpJA4T string (spec §8): window, option kinds, MSS, window scale.
    /// tcpJA4T; `ws_used` is the aggregate's WS_USED bit (see the quirk below).
    fn ja4t(&self, st: &State, ws_used: bool) -> Vec<u8> {
        let mut s = Vec::with_capacity(48);
        tf::push_u64(&mut s, st.win_init as u64);
        s.push(b'_');
        if st.ja4_n == 0 {
            s.extend_from_slice(b"00_");
        } else {
            for (i, &k) in st.ja4[..st.ja4_n as usize].iter().enumerate() {
                if i > 0 {
                    s.push(b'-');
                }
                tf::push_u64(&mut s, k as u64);
            }
            // T2 quirk: the separator between the option list and the MSS is overwritten by
            // the MSS (`65535_2-1-3-1-1-8-41460_5`).
        }
        if st.mss < 10 {
            s.push(b'0');
        }
        tf::push_u64(&mut s, st.mss as u64);
        s.push(b'_');
        // T2 quirk: tested on the aggregate over all flows written so far, not on this flow.
        if ws_used {
            tf::push_u64(&mut s, st.ws_shift as u64);
        } else {
            s.extend_from_slice(b"00");
        }
        // the reference's buffer holds 80 characters
        s.truncate(80);
        s
    }
}

const FLGCNT_TYPES: [Ty; 16] = [Ty::U16; 16];

impl Plugin for TcpFlags {
    fn name(&self) -> &'static str {
        "tcpFlags"
    }

    fn wants_l4_word_sum(&self) -> bool {
        // the L4 checksum is computed at IPCHECKSUM=2
        self.o.ipchecksum > 1
    }

    fn columns(&self) -> Vec<Column> {
        let o = &self.o;
        let mut c = vec![
            Column::new("tcpFStat", &[Ty::H16], "tcpFlags status"),
            Column::new("ipMindIPID", &[Ty::U16], "IP minimum delta IP ID"),
            Column::new("ipMaxdIPID", &[Ty::U16], "IP maximum delta IP ID"),
            Column::new("ipMinTTL", &[Ty::U8], "IP minimum TTL"),
            Column::new("ipMaxTTL", &[Ty::U8], "IP maximum TTL"),
            Column::new("ipTTLChg", &[Ty::U8], "IP TTL change count"),
        ];
        c.push(match o.iptos {
            2 => Column::new(
                "ipToSPrec_ecn",
                &[Ty::U8, Ty::U8],
                "IP Type of Service: Precedence and ECN",
            ),
            1 => Column::new(
                "ipToSDscp_ecn",
                &[Ty::U8, Ty::U8],
                "IP Type of Service: DSCP and ECN decimal",
            ),
            _ => Column::new("ipToS", &[Ty::H8], "IP Type of Service hex"),
        });
        c.extend([
            Column::new("ipFlags", &[Ty::H16], "IP aggregated flags"),
            Column::new("ipOptCnt", &[Ty::U16], "IP options count"),
            Column::new(
                "ipOptCpCl_Num",
                &[Ty::H8, Ty::H32],
                "IP aggregated options, copy-class and number",
            ),
            Column::new(
                "ip6OptCntHH_D",
                &[Ty::U16, Ty::U16],
                "IPv6 Hop-by-Hop destination option counts",
            ),
            Column::new(
                "ip6OptHH_D",
                &[Ty::H32, Ty::H32],
                "IPv6 aggregated Hop-by-Hop destination options",
            ),
        ]);
        if o.seqack {
            c.extend([
                Column::new("tcpISeqN", &[Ty::U32], "TCP initial sequence number"),
                Column::new("tcpPSeqCnt", &[Ty::U16], "TCP packet seq count"),
                Column::new("tcpSeqSntBytes", &[Ty::U64], "TCP sent seq diff bytes"),
                Column::new(
                    "tcpSeqFaultCnt",
                    &[Ty::U16],
                    "TCP sequence number fault count",
                ),
                Column::new("tcpPAckCnt", &[Ty::U16], "TCP packet ACK count"),
                Column::new(
                    "tcpFlwLssAckRcvdBytes",
                    &[Ty::U64],
                    "TCP flawless ACK received bytes",
                ),
                Column::new("tcpAckFaultCnt", &[Ty::U16], "TCP ACK number fault count"),
                Column::new("tcpBFlgtMx", &[Ty::U32], "TCP Bytes in Flight MAX"),
            ]);
        }
        if o.window {
            c.extend([
                Column::new(
                    "tcpInitWinSz",
                    &[Ty::U32],
                    "TCP initial effective window size",
                ),
                Column::new("tcpAvgWinSz", &[Ty::F], "TCP average effective window size"),
                Column::new(
                    "tcpMinWinSz",
                    &[Ty::U32],
                    "TCP minimum effective window size",
                ),
                Column::new(
                    "tcpMaxWinSz",
                    &[Ty::U32],
                    "TCP maximum effective window size",
                ),
                Column::new(
                    "tcpWinSzDwnCnt",
                    &[Ty::U16],
                    "TCP effective window size change down count",
                ),
                Column::new(
                    "tcpWinSzUpCnt",
                    &[Ty::U16],
                    "TCP effective window size change up count",
                ),
                Column::new(
                    "tcpWinSzChgDirCnt",
                    &[Ty::U16],
                    "TCP effective window size direction change count",
                ),
                Column::new(
                    "tcpWinSzThRt",
                    &[Ty::F],
                    "TCP packet count ratio below window size WINMIN threshold",
                ),
            ]);
        }
        c.extend([
            Column::new(
                "tcpFlags",
                &[Ty::H16],
                "TCP aggregated protocol flags (FIN-ACK, SYN-ACK, RST-ACK, CWR, ECE, URG, ACK, PSH, RST, SYN, FIN)",
            ),
            Column::new("tcpAnomaly", &[Ty::H16], "TCP aggregated header anomaly flags"),
        ]);
        if o.flgcnt {
            c.push(Column::new(
                "tcpCntF_S_R_P_A_U_E_C_FA_SA_RA_N_SF_SFR_RF_X",
                &FLGCNT_TYPES,
                "TCP flags counts",
            ));
        }
        if o.ja4t {
            c.push(Column::new(
                "tcpJA4T",
                &[Ty::Sc],
                "TCP JA4T/JA4TS fingerprint",
            ));
        }
        c.extend([
            Column::new("tcpOptPktCnt", &[Ty::U16], "TCP options packet count"),
            Column::new("tcpOptCnt", &[Ty::U16], "TCP options count"),
            Column::new("tcpOptions", &[Ty::H32], "TCP aggregated options"),
            Column::new("tcpMSS", &[Ty::U16], "TCP maximum segment size"),
            Column::new("tcpWS", &[Ty::U16], "TCP window scale"),
        ]);
        if o.mptcp {
            c.extend([
                Column::new("tcpMPTBF", &[Ty::H16], "TCP MPTCP type bitfield"),
                Column::new("tcpMPF", &[Ty::H8], "TCP MPTCP flags"),
                Column::new("tcpMPAID", &[Ty::U8], "TCP MPTCP address ID"),
                Column::new("tcpMPDSSF", &[Ty::H8], "TCP MPTCP DSS flags"),
            ]);
        }
        if o.nat_bt {
            c.extend([
                Column::new("tcpTmS", &[Ty::U32], "TCP time stamp"),
                Column::new("tcpTmER", &[Ty::U32], "TCP time echo reply"),
                Column::new("tcpEcI", &[Ty::F], "TCP estimated counter increment"),
                Column::new("tcpUtm", &[Ty::D], "TCP estimated up time"),
                Column::new("tcpBtm", &[Ty::Ts], "TCP estimated boot time"),
            ]);
        }
        if o.rtt {
            c.extend([
                Column::new(
                    "tcpSSASAATrip",
                    &[Ty::F],
                    "TCP trip time (A: SYN, SYN-ACK, B: SYN-ACK, ACK)",
                ),
                Column::new("tcpRTTAckTripMin", &[Ty::F], "TCP ACK trip min"),
                Column::new("tcpRTTAckTripMax", &[Ty::F], "TCP ACK trip max"),
                Column::new("tcpRTTAckTripAvg", &[Ty::F], "TCP ACK trip average"),
                Column::new(
                    "tcpRTTAckTripJitAvg",
                    &[Ty::F],
                    "TCP ACK trip jitter average",
                ),
                Column::new(
                    "tcpRTTSseqAA",
                    &[Ty::F],
                    "TCP round trip time (A: SYN, SYN-ACK, ACK, B: ACK-ACK)",
                ),
                Column::new(
                    "tcpRTTAckJitAvg",
                    &[Ty::F],
                    "TCP ACK round trip average jitter",
                ),
            ]);
        }
        c
    }

    fn packet_columns(&self) -> Vec<&'static str> {
        let o = &self.o;
        let mut v = vec![
            match o.iptos {
                2 => "ipToSPrec_ecn",
                1 => "ipToSDscp_ecn",
                _ => "ipToS",
            },
            "ipID",
            "ipIDDiff",
            "ipFrag",
            "ipTTL",
            "ipHdrChkSum",
            "ipCalChkSum",
            "l4HdrChkSum",
            "l4CalChkSum",
            "ipFlags",
            "ip6HHOptLen",
            "ip6HHOpts",
            "ip6DOptLen",
            "ip6DOpts",
            "ipOptLen",
            "ipOpts",
        ];
        if o.seqack {
            v.extend([
                "seq",
                "ack",
                "seqMax",
                "seqDiff",
                "ackDiff",
                "seqLen",
                "ackLen",
                "seqFlowLen",
                "ackFlowLen",
                "tcpMLen",
                "tcpBFlgt",
            ]);
        }
        v.extend([
            "tcpFStat",
            "tcpFlags",
            "tcpAnomaly",
            "tcpWin",
            "tcpWS",
            "tcpMSS",
        ]);
        if o.nat_bt {
            v.extend(["tcpTmS", "tcpTmER"]);
        }
        if o.mptcp {
            v.extend(["tcpMPTyp", "tcpMPF", "tcpMPAID", "tcpMPDSSF"]);
        }
        v.extend(["tcpOptLen", "tcpOpts"]);
        v
    }

    fn prefetch(&self, slot: u32) {
        self.flows.prefetch(slot, std::mem::size_of::<State>());
        if self.o.flgcnt {
            self.counts.prefetch(slot, std::mem::size_of::<[u16; 16]>());
        }
    }

    fn on_new_flow(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        self.new_flow(cx, pkt);
    }

    fn on_layer2(&mut self, cx: &mut FlowCx, _pkt: &Pkt) {
        let mut line = cx.pkt_line.take();
        if let Some(out) = line.as_deref_mut() {
            self.l2_pkt_fields(out);
        }
        cx.pkt_line = line;
    }

    /// The RTT and SEQ/ACK analysis read and write the opposite's first 64 bytes at each
    /// packet (asked for a few packets ahead: at the packet itself, the line still missed).
    fn prefetch_opposite(&self, slot: u32) {
        self.flows.prefetch(slot, 64);
    }

    /// Each packet reads the opposite flow's last-packet time and fragment status.
    fn reads_opposite_flow(&self) -> bool {
        true
    }

    fn on_layer4(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        self.layer4(cx, pkt);
    }

    fn on_flow_terminate(&mut self, cx: &TermCx, rec: &mut Record) {
        let o = self.o;
        let slot = cx.slot;
        let partner = cx.partner();
        let f = cx.flow();
        {
            let st = self.flows.get(slot);
            self.g.ip_flags |= st.ip_flags;
            self.g.tos |= st.tos_agg;
            self.g.fstat |= st.stat;
            self.g.flags |= st.flags_agg;
            self.g.anom |= st.anom;
        }
        if o.scan {
            let (st, op) = self.flows.pair(slot, partner);
            if st.anom & AN_SYN_RETRY == 0 && st.flags_agg & (0x0001 | 0x0002 | 0xF800) != 0 {
                if st.scan_pkts < SCAN_PMAX && st.anom & (AN_SCAN_DET | AN_SCAN_SU_DET) == 0 {
                    st.anom |= AN_SCAN_DET;
                    self.g.n_scans += 1;
                }
                if let Some(op) = op {
                    let mine = st.anom & AN_SCAN_DET != 0 && st.anom & AN_SCAN_SU_DET == 0;
                    let theirs = op.anom & AN_SCAN_DET != 0
                        && op.anom & AN_SCAN_SU_DET == 0
                        && st.scan_pkts < SCAN_PMAX
                        && op.scan_pkts < SCAN_PMAX;
                    if mine || theirs {
                        st.anom |= AN_SCAN_SU_DET;
                        op.anom |= AN_SCAN_SU_DET;
                        self.g.n_succ_scans += 1;
                    }
                }
            }
        }
        if o.frag_analyze && f.has(IPV4_FRAG_ERR) {
            self.flows.get_mut(slot).ip_flags |= IPF_FRAG_SEQERR;
        }
        let st = self.flows.get(slot);
        let op = partner.map(|p| self.flows.get(p));

        rec.u16(st.stat);
        rec.u16(st.ipid_dmin);
        rec.u16(st.ipid_dmax);
        rec.u8(st.ttl_min);
        rec.u8(st.ttl_max);
        rec.u8(st.ttl_chg);
        match o.iptos {
            2 => {
                rec.u8(st.tos_agg >> 5);
                rec.u8(st.tos_agg & 0x03);
            }
            1 => {
                rec.u8(st.tos_agg >> 2);
                rec.u8(st.tos_agg & 0x03);
            }
            _ => rec.u8(st.tos_agg),
        }
        rec.u16(st.ip_flags);
        rec.u16(st.ipopt_cnt);
        rec.u8(st.ipopt_cpcl);
        rec.u32(st.ipopt_bits);
        rec.u16(st.ip6_hh_cnt);
        rec.u16(st.ip6_d_cnt);
        rec.u32(st.ip6_hh_bits);
        rec.u32(st.ip6_d_bits);
        if o.seqack {
            rec.u32(st.seq_init);
            rec.u16(st.seq_ok_cnt);
            rec.u64(st.seq_bytes as u64);
            rec.u16(st.seq_fault_cnt);
            rec.u16(st.ack_cnt);
            rec.u64(st.ack_bytes as u64);
            rec.u16(st.ack_fault_cnt);
            rec.u32(st.inflight_max);
        }
        if o.window {
            rec.u32(st.win_init);
            rec.f32(st.win_avg);
            rec.u32(st.win_min);
            rec.u32(st.win_max);
            rec.u16(st.win_down);
            rec.u16(st.win_up);
            rec.u16(st.win_chg);
            let r = if st.tcp_pkt_cnt != 0 {
                st.win_low_cnt as f32 / st.tcp_pkt_cnt as f32
            } else {
                0.0
            };
            rec.f32(r);
        }
        rec.u16(st.flags_agg);
        rec.u16(st.anom);
        if o.flgcnt {
            for &n in self.counts.get(slot) {
                rec.u16(n);
            }
        }
        // T2 quirk: tcpWS and JA4T's last part test WS_USED on the aggregate over all flows
        // written so far (this one included). Once this shard has written such a flow the
        // answer is yes everywhere after it; before that it depends on the other shards, so
        // the record is forked and the writer picks the rendering in global order.
        let ws_known = self.g.fstat & FS_WS_USED != 0;
        if st.stat & FS_WS_USED != 0 {
            rec.mark_sets(FS_WS_USED as u64);
        }
        if !ws_known {
            rec.fork(FS_WS_USED as u64);
        }
        if o.ja4t {
            if ws_known {
                rec.str(&self.ja4t(st, true));
            } else {
                rec.split_str(&self.ja4t(st, false), &self.ja4t(st, true));
            }
        }
        rec.u16(st.opt_pkt_cnt);
        rec.u16(st.opt_cnt);
        rec.u32(st.tcpopt_bits);
        rec.u16(st.mss);
        // T2 quirk: WS_USED is taken from the aggregate over all flows written so far (this
        // one included), so flows without window scaling print 1 once any earlier flow had it.
        // The shift is taken mod 32 (x86) and the result truncated to 16 bits.
        let ws = (1u32 << (st.ws_shift & 31)) as u16;
        if ws_known {
            rec.u16(ws);
        } else {
            rec.split_u16(0, ws);
        }
        if o.mptcp {
            rec.u16(st.mp_types);
            rec.u8(st.mp_flags);
            rec.u8(st.mp_addr_id);
            rec.u8(st.mp_dss);
        }
        if o.nat_bt {
            rec.u32(st.ts_val);
            rec.u32(st.ts_ecr);
            let (eci, utm, btm) = boot_time(st);
            rec.f32(eci);
            rec.f64(utm);
            rec.ts(btm.0, btm.1);
        }
        if o.rtt {
            rec.f32(st.rtt_trip);
            rec.f32(st.rtt_min);
            rec.f32(st.rtt_max);
            rec.f32(st.rtt_avg);
            rec.f32((st.rtt_jit as f64).sqrt() as f32);
            let inv = f.has(L3FLOWINVERT);
            let sseq = match op {
                None => 0.0,
                Some(p) if inv => st.rtt_avg + p.rtt_avg,
                Some(p) => st.rtt_trip + p.rtt_trip,
            };
            rec.f32(sseq);
            let jit = match op {
                Some(p) if inv => ((st.rtt_jit + p.rtt_jit) as f64).sqrt() as f32,
                _ => 0.0,
            };
            rec.f32(jit);
        }
        let (mpt, mpf) = (st.mp_types, st.mp_flags);
        if o.mptcp {
            self.g.mp_types |= mpt;
            self.g.mp_flags |= mpf;
        }
    }

    fn merge(&mut self, other: &dyn Plugin) {
        let Some(o) = other.as_any().downcast_ref::<TcpFlags>() else {
            return;
        };
        let (a, b) = (&mut self.g, &o.g);
        a.ip_flags |= b.ip_flags;
        a.fstat |= b.fstat;
        a.flags |= b.flags;
        a.anom |= b.anom;
        a.tos |= b.tos;
        a.mp_types |= b.mp_types;
        a.mp_flags |= b.mp_flags;
        a.n_low_win += b.n_low_win;
        a.n_tcp_pkts += b.n_tcp_pkts;
        a.n_scans += b.n_scans;
        a.n_succ_scans += b.n_succ_scans;
        a.n_seq_retries += b.n_seq_retries;
        a.n_syn_retries += b.n_syn_retries;
        a.n_mptcp_opts += b.n_mptcp_opts;
        for (b, ob) in self.base.iter_mut().zip(o.base) {
            *b += ob;
        }
    }

    fn report(&self, totals: &ReportTotals, out: &mut Vec<String>) {
        let g = &self.g;
        let hex = |name: &str, v: u64, digits: usize| {
            let mut s = format!("Aggregated {name}=").into_bytes();
            tf::push_hex(&mut s, v, digits);
            String::from_utf8(s).unwrap_or_default()
        };
        for (name, v) in [
            ("ipFlags", g.ip_flags),
            ("tcpFStat", g.fstat),
            ("tcpFlags", g.flags),
            ("tcpAnomaly", g.anom),
        ] {
            if v != 0 {
                out.push(hex(name, v as u64, 4));
            }
        }
        if g.tos != 0 {
            out.push(hex("ipToS", g.tos as u64, 2));
        }
        if g.n_scans != 0 || g.n_succ_scans != 0 {
            let mut s = b"Number of TCP scans attempted, successful: ".to_vec();
            num_h(&mut s, g.n_scans);
            s.extend_from_slice(b", ");
            num_h(&mut s, g.n_succ_scans);
            pct(&mut s, g.n_succ_scans, g.n_scans);
            out.push(String::from_utf8(s).unwrap_or_default());
        }
        if g.n_seq_retries != 0 || g.n_syn_retries != 0 {
            let mut s = b"Number of TCP SYN retries, seq retries: ".to_vec();
            num_h(&mut s, g.n_syn_retries);
            s.extend_from_slice(b", ");
            num_h(&mut s, g.n_seq_retries);
            out.push(String::from_utf8(s).unwrap_or_default());
        }
        if g.n_low_win != 0 && g.n_tcp_pkts != 0 {
            let mut s = format!("Number WinSz below {}: ", self.o.winmin as i32).into_bytes();
            num_h(&mut s, g.n_low_win);
            pct(&mut s, g.n_low_win, g.n_tcp_pkts);
            out.push(String::from_utf8(s).unwrap_or_default());
        }
        if self.o.mptcp && g.n_mptcp_opts != 0 {
            let mut s = b"Aggregated MPTCP subtypes: tcpMPTBF=".to_vec();
            tf::push_hex(&mut s, g.mp_types as u64, 4);
            out.push(String::from_utf8(s).unwrap_or_default());
            let mut s = b"Aggregated MPTCP flags: tcpMPF=".to_vec();
            tf::push_hex(&mut s, g.mp_flags as u64, 2);
            out.push(String::from_utf8(s).unwrap_or_default());
            let mut s = b"Number of MPTCP packets: ".to_vec();
            num_h(&mut s, g.n_mptcp_opts);
            pct(&mut s, g.n_mptcp_opts, totals.packets);
            out.push(String::from_utf8(s).unwrap_or_default());
        }
    }

    fn monitoring_columns(&self) -> Vec<String> {
        [
            "ipFlags",
            "tcpFStat",
            "tcpFlags",
            "tcpAnomaly",
            "tcpScan",
            "tcpSuccScan",
            "tcpSynRetries",
            "tcpSeqRetries",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn monitoring_values(&self, out: &mut Vec<String>) {
        let g = &self.g;
        // the aggregates are cumulative (never reset, as in T2); the counters are differences
        // to the baselines that monitoring_reset() moves
        for v in [g.ip_flags, g.fstat, g.flags, g.anom] {
            out.push(format!("0x{v:x}"));
        }
        for (c, b) in self.counters().iter().zip(self.base) {
            out.push(c.wrapping_sub(b).to_string());
        }
    }

    fn monitoring_reset(&mut self) {
        self.base = self.counters();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl TcpFlags {
    /// Scans, successful scans, SYN retries, seq retries.
    fn counters(&self) -> [u64; 4] {
        [
            self.g.n_scans,
            self.g.n_succ_scans,
            self.g.n_syn_retries,
            self.g.n_seq_retries,
        ]
    }
}

/// `<n>` plus T2's human-readable suffix.
fn num_h(s: &mut Vec<u8>, n: u64) {
    tf::push_u64(s, n);
    tf::human_suffix(s, n, "");
}

/// ` [<100*n/tot %.2f>%]` (a zero total prints `inf`/`nan` as C does).
fn pct(s: &mut Vec<u8>, n: u64, tot: u64) {
    s.extend_from_slice(b" [");
    tf::push_fixed(s, 100.0 * n as f64 / tot as f64, 2);
    s.extend_from_slice(b"%]");
}

/// C's `timersub` on T2's timestamps. Quirk kept from the reference: the borrow adds one
/// million although the sub-second field holds nanoseconds.
fn timersub(a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
    let mut s = a.0.wrapping_sub(b.0);
    let mut n = a.1 - b.1;
    if n < 0 {
        s = s.wrapping_sub(1);
        n += 1_000_000;
    }
    (s, n)
}

/// tcpEcI, tcpUtm, tcpBtm (spec §8, NAT / boot-time estimation).
fn boot_time(st: &State) -> (f32, f64, (u64, u32)) {
    let mut f = 0.0f32;
    let mut u = 0.0f64;
    let last = (st.ts_last_sec as i64, st.ts_last_ns as i64);
    if st.tcpopt_bits & 0x100 != 0 {
        let (s, n) = timersub(last, (st.ts_first_sec as i64, st.ts_first_ns as i64));
        f = (s as f64 + n as f64 / 1e9) as f32;
        let i = st.ts_val.wrapping_sub(st.ts_val_init);
        if i != 0 {
            f /= i as f32;
            let x = f as f64;
            f = if x < 0.002 {
                0.001
            } else if x < 0.005 {
                0.004
            } else if x < 0.02 {
                0.01
            } else if x < 0.7 {
                0.1
            } else {
                1.0
            };
        } else {
            f = if st.ttl_min >= 128 {
                0.1
            } else if st.ttl_min >= 64 {
                0.004
            } else if st.ttl_min > 32 {
                0.01
            } else {
                0.001
            };
        }
        u = st.ts_val as f64 * f as f64;
    }
    let sec = u as u64;
    let ns = ((u - sec as f64) * 1e9) as u32;
    let (bs, bn) = timersub(last, (sec as i64, ns as i64));
    (f, u, (bs as u64, bn as u32))
}
