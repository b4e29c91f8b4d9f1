//! tcpStates: T2's TCP connection state machine (spec/tcpStates.md). Every flow carries a small
//! state (NEW, ESTABLISHED, CLOSING, CLOSED, RESET) plus handshake/teardown bookkeeping; the
//! transitions set anomaly bits (the `tcpStatesAFlags` column) and change the core timeout of
//! the flow and of its opposite direction, which decides when the pair leaves the flow table.

use crate::dissect::{FlowClass, Frag, NONE};
use crate::output::columns::{Column, Record, Ty};
use crate::plugin::{FlowCx, Pkt, Plugin, ReportTotals, SlotVec, TermCx};
use crate::textfmt as tf;
use crate::wire::{be32_at, u8_at};
use std::any::Any;

// ---- anomaly bits (the output column)
/// Malformed or unseen connection establishment.
pub const MAL_CON_EST: u8 = 0x01;
/// Malformed or unseen teardown.
pub const MAL_TEARDWN: u8 = 0x02;
/// SYN present or ACK missing while established.
pub const MAL_FLGS_EST: u8 = 0x04;
/// Packets after a completed teardown.
pub const PKTS_TERM: u8 = 0x08;
/// Packets after a reset.
pub const PKTS_RST: u8 = 0x10;
/// This direction sent a RST.
pub const RST_TRANS: u8 = 0x40;
/// NULL/Xmas packets, FIN or RST scans, FIN+ACK openers without a proper teardown.
pub const EVIL: u8 = 0x80;

// ---- connection states
const NEW: u8 = 0;
const ESTABLISHED: u8 = 1;
const CLOSING: u8 = 2;
const CLOSED: u8 = 3;
const RESET: u8 = 4;

// ---- bookkeeping bits
const SYN_SEEN: u8 = 0x01;
const SYN_ACKD: u8 = 0x02;
const FIN_SEEN: u8 = 0x04;
const FIN_ACKD: u8 = 0x08;
const FIN_SCAN: u8 = 0x10;

// ---- TCP flag bits of header byte 13
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

// ---- timeouts (seconds) for the states, registered with the core in this order
const TO_RESET: f32 = 0.1;
const TO_NEW: f32 = 120.0;
const TO_ESTABLISHED: f32 = 610.0;
const TO_CLOSING: f32 = 120.0;
const TO_CLOSED: f32 = 10.0;

/// The timeout a flow gets when it enters `state`.
fn state_timeout(state: u8) -> f32 {
    match state {
        NEW => TO_NEW,
        ESTABLISHED => TO_ESTABLISHED,
        CLOSING => TO_CLOSING,
        CLOSED => TO_CLOSED,
        _ => TO_RESET,
    }
}

/// Per-flow state (12 bytes). Sequence numbers are kept as u32; comparisons with `x + 1` are
/// done in u64 as T2 does, so 0xFFFFFFFF + 1 never equals an ACK of 0.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct State {
    syn_seq: u32,
    fin_seq: u32,
    anom: u8,
    state: u8,
    bits: u8,
}

impl State {
    fn has(&self, b: u8) -> bool {
        self.bits & b != 0
    }
    /// `ack` acknowledges this direction's last SYN.
    fn acks_syn(&self, ack: u32) -> bool {
        ack as u64 == self.syn_seq as u64 + 1
    }
    /// `ack` acknowledges this direction's last FIN.
    fn acks_fin(&self, ack: u32) -> bool {
        ack as u64 == self.fin_seq as u64 + 1
    }
}

/// One direction's side of a transition: its state and the timeout to give it, if any.
struct Side {
    st: State,
    timeout: Option<f32>,
}

impl Side {
    fn go(&mut self, state: u8) {
        self.st.state = state;
        self.timeout = Some(state_timeout(state));
    }
}

/// Runs one processed TCP packet through the state machine (spec §4). `me` is the packet's
/// flow, `op` the opposite flow when the core has linked one.
fn step(me: &mut Side, mut op: Option<&mut Side>, raw: u8, seq: u32, ack: u32) {
    let low = raw & 0x3f;
    if low == 0x29 || low == 0x00 {
        me.st.anom |= EVIL;
    }
    match me.st.state {
        NEW => step_new(me, op, raw, seq, ack),
        ESTABLISHED => {
            if raw & (SYN | ACK) != ACK {
                me.st.anom |= MAL_FLGS_EST;
                if let Some(o) = op.as_deref_mut() {
                    o.st.anom |= MAL_FLGS_EST;
                }
            }
            if raw & FIN != 0 {
                me.st.bits |= FIN_SEEN;
                me.st.fin_seq = seq;
                me.go(CLOSING);
                if raw & ACK != 0 {
                    ack_fin(op.as_deref_mut(), ack);
                }
            }
            if raw & RST != 0 {
                reset_teardown(me, op);
            }
        }
        CLOSING => {
            if raw & RST != 0 {
                reset_teardown(me, op.as_deref_mut());
            }
            if raw & ACK != 0 {
                ack_fin(op.as_deref_mut(), ack);
            }
            if let Some(o) = op {
                if me.st.has(FIN_SEEN)
                    && me.st.has(FIN_ACKD)
                    && o.st.has(FIN_SEEN)
                    && o.st.has(FIN_ACKD)
                {
                    me.go(CLOSED);
                    o.go(CLOSED);
                }
            }
        }
        CLOSED => {
            me.st.anom |= PKTS_TERM;
            if raw & RST != 0 {
                reset_teardown(me, op);
            }
        }
        _ => me.st.anom |= PKTS_RST,
    }
}

/// The opposite's FIN is acknowledged by `ack` (if it has sent one).
fn ack_fin(op: Option<&mut Side>, ack: u32) {
    if let Some(o) = op {
        if o.st.has(FIN_SEEN) && o.st.acks_fin(ack) {
            o.st.bits |= FIN_ACKD;
        }
    }
}

/// A RST after the handshake: both directions are reset, the teardown is malformed.
fn reset_teardown(me: &mut Side, op: Option<&mut Side>) {
    me.go(RESET);
    me.st.anom |= RST_TRANS | MAL_TEARDWN;
    if let Some(o) = op {
        o.go(RESET);
        o.st.anom |= MAL_TEARDWN;
    }
}

/// Both directions become ESTABLISHED with a malformed establishment.
fn bad_establish(me: &mut Side, op: Option<&mut Side>) {
    me.go(ESTABLISHED);
    me.st.anom |= MAL_CON_EST;
    if let Some(o) = op {
        o.go(ESTABLISHED);
        o.st.anom |= MAL_CON_EST;
    }
}

/// The NEW state: the first matching rule applies.
fn step_new(me: &mut Side, op: Option<&mut Side>, raw: u8, seq: u32, ack: u32) {
    let class = raw & (FIN | SYN | RST | ACK);
    if raw & (FIN | SYN | RST) == SYN {
        me.st.bits |= SYN_SEEN;
        me.st.syn_seq = seq;
        me.go(NEW);
        if raw & ACK != 0 {
            match op {
                Some(o) if o.st.acks_syn(ack) => o.st.bits |= SYN_ACKD,
                op => bad_establish(me, op),
            }
        }
        return;
    }
    match op {
        Some(o) if class == ACK => {
            if o.st.acks_syn(ack) {
                o.st.bits |= SYN_ACKD;
                if me.st.has(SYN_ACKD) {
                    me.go(ESTABLISHED);
                    o.go(ESTABLISHED);
                }
            } else {
                bad_establish(me, Some(o));
            }
        }
        Some(o) if class == RST | ACK => {
            me.go(RESET);
            me.st.anom |= RST_TRANS;
            o.go(RESET);
        }
        op if raw & RST != 0 => {
            me.st.anom |= RST_TRANS | MAL_CON_EST;
            me.go(RESET);
            match op {
                Some(o) => {
                    o.st.anom |= MAL_CON_EST;
                    o.go(RESET);
                }
                None => me.st.anom |= EVIL,
            }
        }
        op if class == FIN | ACK => {
            me.st.bits |= FIN_SEEN;
            me.st.fin_seq = seq;
            me.st.anom |= MAL_CON_EST;
            me.go(CLOSING);
            match op {
                Some(o) => {
                    o.st.anom |= MAL_CON_EST;
                    if o.st.has(FIN_SEEN) && o.st.acks_fin(ack) {
                        o.st.bits |= FIN_ACKD;
                    }
                }
                None => me.st.bits |= FIN_SCAN,
            }
        }
        _ if class == FIN => me.st.anom |= EVIL,
        op => bad_establish(me, op),
    }
}

#[derive(Default)]
pub struct TcpStates {
    flows: SlotVec<State>,
    /// OR of the values written for TCP flows (end report).
    agg: u8,
    /// Written values (flowInd, anom), for the unit tests.
    #[cfg(test)]
    ended: Vec<(u64, u8)>,
}

impl TcpStates {
    pub fn new() -> TcpStates {
        TcpStates::default()
    }

    /// Handles one packet of an IP flow; returns the value for packets.txt.
    fn packet(&mut self, cx: &mut FlowCx, pkt: &Pkt) -> u8 {
        let info = pkt.info;
        if info.class != FlowClass::Ip
            || info.l4_proto != 6
            || info.frag == Frag::Later
            || info.l4 == NONE
        {
            return 0;
        }
        if info.snap_l4_len < 13 {
            return 0;
        }
        let l4 = info.l4 as usize;
        let d = pkt.data;
        let raw = u8_at(d, l4 + 13);
        let seq = be32_at(d, l4 + 4);
        let ack = be32_at(d, l4 + 8);

        let slot = cx.slot;
        let partner = cx.partner().filter(|&p| p != slot);
        let mut me = Side {
            st: *self.flows.get(slot),
            timeout: None,
        };
        let mut op = partner.map(|p| Side {
            st: *self.flows.get(p),
            timeout: None,
        });
        step(&mut me, op.as_mut(), raw, seq, ack);
        *self.flows.get_mut(slot) = me.st;
        if let Some(t) = me.timeout {
            cx.set_timeout(t);
        }
        if let (Some(p), Some(o)) = (partner, op) {
            *self.flows.get_mut(p) = o.st;
            if let Some(t) = o.timeout {
                cx.table.set_timeout(p, t);
            }
        }
        me.st.anom
    }
}

fn push_col(cx: &mut FlowCx, v: u8) {
    if let Some(out) = cx.pkt_line.as_deref_mut() {
        tf::push_hex(out, v as u64, 2);
        out.push(b'\t');
    }
}

impl Plugin for TcpStates {
    fn name(&self) -> &'static str {
        "tcpStates"
    }

    fn columns(&self) -> Vec<Column> {
        vec![Column::new(
            "tcpStatesAFlags",
            &[Ty::H8],
            "TCP state machine anomalies",
        )]
    }

    fn packet_columns(&self) -> Vec<&'static str> {
        vec!["tcpStatesAFlags"]
    }

    fn timeouts(&self) -> Vec<f32> {
        // T2's registration order (the second 120 is a duplicate the core ignores)
        vec![TO_RESET, TO_NEW, TO_ESTABLISHED, TO_CLOSING, TO_CLOSED]
    }

    fn prefetch(&self, slot: u32) {
        self.flows.prefetch(slot);
    }

    /// Every TCP packet steps both directions' machines.
    fn prefetch_opposite(&self, slot: u32) {
        self.flows.prefetch(slot);
    }

    fn on_new_flow(&mut self, cx: &mut FlowCx, _pkt: &Pkt) {
        self.flows.reset(cx.slot);
    }

    fn on_layer2(&mut self, cx: &mut FlowCx, _pkt: &Pkt) {
        push_col(cx, 0);
    }

    fn on_layer4(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        let v = self.packet(cx, pkt);
        push_col(cx, v);
    }

    fn on_flow_terminate(&mut self, cx: &TermCx, rec: &mut Record) {
        let f = cx.flow();
        if f.key.l2 || f.key.proto != 6 {
            rec.u8(0);
            return;
        }
        let slot = cx.slot;
        let mut me = *self.flows.get(slot);
        match cx.partner().filter(|&p| p != slot) {
            None => me.anom |= MAL_CON_EST | MAL_TEARDWN,
            Some(p) => {
                let o = self.flows.get_mut(p);
                let all = |a: &State, b: &State, x: u8, y: u8| {
                    a.bits & (x | y) == x | y && b.bits & (x | y) == x | y
                };
                if !all(&me, o, SYN_SEEN, SYN_ACKD) {
                    me.anom |= MAL_CON_EST;
                }
                if !all(&me, o, FIN_SEEN, FIN_ACKD) {
                    me.anom |= MAL_TEARDWN;
                } else {
                    me.bits &= !FIN_SCAN;
                    o.bits &= !FIN_SCAN;
                }
            }
        }
        if me.has(FIN_SCAN) {
            me.anom |= EVIL;
        }
        *self.flows.get_mut(slot) = me;
        self.agg |= me.anom;
        #[cfg(test)]
        self.ended.push((f.flow_ind, me.anom));
        rec.u8(me.anom);
    }

    fn merge(&mut self, other: &dyn Plugin) {
        if let Some(o) = other.as_any().downcast_ref::<TcpStates>() {
            self.agg |= o.agg;
        }
    }

    fn report(&self, _totals: &ReportTotals, out: &mut Vec<String>) {
        if self.agg != 0 {
            out.push(format!("Aggregated tcpStatesAFlags=0x{:02x}", self.agg));
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::batch::PktEntry;
    use crate::dissect::Dissector;
    use crate::flow::worker::{Worker, WorkerSetup};
    use crate::time::Ts;

    const A: ([u8; 4], u16) = ([10, 0, 0, 1], 40000);
    const B: ([u8; 4], u16) = ([10, 0, 0, 2], 80);

    fn csum(b: &[u8]) -> u16 {
        let mut s = 0u32;
        for c in b.chunks(2) {
            s += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
        }
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    /// Ethernet + IPv4 (+ optional fragment word) + 20-byte TCP header.
    fn frame(
        src: ([u8; 4], u16),
        dst: ([u8; 4], u16),
        flags: u8,
        seq: u32,
        ack: u32,
        frag: u16,
    ) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, dst.0[3]]);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, src.0[3]]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let mut ip = vec![0x45, 0, 0, 40, 0, 1];
        ip.extend_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&[64, 6, 0, 0]);
        ip.extend_from_slice(&src.0);
        ip.extend_from_slice(&dst.0);
        let c = csum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut tcp = Vec::new();
        tcp.extend_from_slice(&src.1.to_be_bytes());
        tcp.extend_from_slice(&dst.1.to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(&tcp);
        f
    }

    struct Rig {
        w: Worker,
        d: Dissector,
        no: u64,
        /// packets.txt values of tcpStatesAFlags, in packet order
        col: Vec<u8>,
    }

    impl Rig {
        fn new() -> Rig {
            let p = TcpStates::new();
            let mut timeouts = vec![182.0f32];
            timeouts.extend(p.timeouts());
            let w = Worker::new(WorkerSetup {
                index: 0,
                workers: 1,
                plugins: vec![Box::new(p)],
                packet_mode: false,
                flow_timeout: 182.0,
                timeouts,
                capacity: 0,
                ..Default::default()
            });
            Rig {
                w,
                d: Dissector::new(),
                no: 0,
                col: Vec::new(),
            }
        }

        fn plugin(&self) -> &TcpStates {
            self.w.plugins[0]
                .as_any()
                .downcast_ref::<TcpStates>()
                .unwrap()
        }

        fn send_frame(&mut self, t: f64, f: Vec<u8>) {
            let n = f.len() as u32;
            self.send_frame_len(t, f, n);
        }

        fn send_frame_len(&mut self, t: f64, f: Vec<u8>, wire: u32) {
            self.no += 1;
            let info = self.d.dissect(&f, wire, 1);
            let desc = self.d.hdr_desc().to_vec();
            let ts = Ts::new(t as u64, ((t - t.floor()) * 1e9).round() as u32);
            let e = PktEntry {
                pkt_no: self.no,
                ts,
                len: wire,
                caplen: f.len() as u32,
                info,
                ..Default::default()
            };
            self.w.packet(&e, &f, &desc);
            // the value the packet left in its flow (what packets.txt shows for processed packets)
            let slot = self.w.table.lookup(&info.key).unwrap();
            self.col.push(self.plugin().flows.get(slot).anom);
        }

        /// A packet from `A` to `B` (`ab`) or back.
        fn tcp(&mut self, t: f64, ab: bool, flags: u8, seq: u32, ack: u32) {
            let (s, d) = if ab { (A, B) } else { (B, A) };
            self.send_frame(t, frame(s, d, flags, seq, ack, 0));
        }

        fn slot(&self, ab: bool) -> Option<u32> {
            let f = frame(if ab { A } else { B }, if ab { B } else { A }, SYN, 0, 0, 0);
            let info = Dissector::new().dissect(&f, f.len() as u32, 1);
            self.w.table.lookup(&info.key)
        }

        fn st(&self, ab: bool) -> State {
            *self
                .plugin()
                .flows
                .get(self.slot(ab).expect("flow is live"))
        }

        fn timeout(&self, ab: bool) -> f32 {
            self.w.table.get(self.slot(ab).unwrap()).timeout()
        }

        fn flow_ind(&self, ab: bool) -> u64 {
            self.w.table.get(self.slot(ab).unwrap()).flow_ind
        }

        /// Written values at end of input: (flowInd, anom) in output order.
        fn finish(mut self) -> Vec<(u64, u8)> {
            self.w.flush_all();
            self.plugin().ended.clone()
        }
    }

    const SA: u8 = SYN | ACK;
    const FA: u8 = FIN | ACK;
    const RA: u8 = RST | ACK;

    /// SYN, SYN-ACK, ACK with A's ISN 100 and B's ISN 500.
    fn handshake(r: &mut Rig, t: f64) {
        r.tcp(t, true, SYN, 100, 0);
        assert_eq!((r.st(true).state, r.timeout(true)), (NEW, 120.0));
        r.tcp(t + 0.01, false, SA, 500, 101);
        assert!(r.st(true).has(SYN_ACKD));
        assert_eq!((r.st(false).state, r.timeout(false)), (NEW, 120.0));
        r.tcp(t + 0.02, true, ACK, 101, 501);
        assert_eq!(r.st(true).state, ESTABLISHED);
        assert_eq!(r.st(false).state, ESTABLISHED);
        assert_eq!((r.timeout(true), r.timeout(false)), (610.0, 610.0));
    }

    #[test]
    fn clean_connection_ends_with_zero_and_closed_timeout() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.1, true, ACK | 0x08, 101, 501);
        r.tcp(1.2, true, FA, 101, 501);
        assert_eq!((r.st(true).state, r.timeout(true)), (CLOSING, 120.0));
        r.tcp(1.3, false, FA, 501, 102);
        assert!(r.st(true).has(FIN_ACKD));
        assert_eq!(r.st(false).state, CLOSING);
        r.tcp(1.4, true, ACK, 102, 502);
        assert_eq!(r.st(true).state, CLOSED);
        assert_eq!(r.st(false).state, CLOSED);
        assert_eq!((r.timeout(true), r.timeout(false)), (10.0, 10.0));
        assert!(r.col.iter().all(|&v| v == 0));
        let ind = r.flow_ind(true);
        assert_eq!(r.finish(), vec![(ind, 0), (ind, 0)]);
    }

    #[test]
    fn closed_pair_leaves_after_ten_seconds_and_late_packets_mark_pkts_term() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.2, true, FA, 101, 501);
        r.tcp(1.3, false, FA, 501, 102);
        r.tcp(1.4, true, ACK, 102, 502);
        // a packet within 10 s stays in the pair and is flagged
        r.tcp(5.0, false, ACK, 502, 102);
        assert_eq!(r.st(false).anom, PKTS_TERM);
        let ind = r.flow_ind(true);
        // 10 s after the last packet of both: the pair is written, a new flow starts
        r.tcp(15.5, true, SYN, 9000, 0);
        assert_ne!(r.flow_ind(true), ind);
        assert_eq!(r.plugin().ended, vec![(ind, 0), (ind, PKTS_TERM)]);
    }

    #[test]
    fn closed_pair_survives_just_under_ten_seconds() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.2, true, FA, 101, 501);
        r.tcp(1.3, false, FA, 501, 102);
        r.tcp(1.4, true, ACK, 102, 502);
        let ind = r.flow_ind(true);
        r.tcp(11.3, true, ACK, 102, 502);
        assert_eq!(r.flow_ind(true), ind);
        assert!(r.plugin().ended.is_empty());
    }

    #[test]
    fn refused_connection_rst_ack_resets_both_and_leaves_after_100ms() {
        let mut r = Rig::new();
        r.tcp(10.0, true, SYN, 100, 0);
        r.tcp(10.05, false, RA, 0, 101);
        assert_eq!(r.st(false).state, RESET);
        assert_eq!(r.st(true).state, RESET);
        assert_eq!(r.st(false).anom, RST_TRANS);
        assert_eq!(r.st(true).anom, 0);
        assert_eq!((r.timeout(true), r.timeout(false)), (0.1, 0.1));
        let ind = r.flow_ind(true);
        // retransmitted SYN 0.5 s later: a new flow pair
        r.tcp(10.6, true, SYN, 100, 0);
        assert_ne!(r.flow_ind(true), ind);
        // sender 0x03, refuser 0x43
        assert_eq!(r.plugin().ended, vec![(ind, 0x03), (ind, 0x43)]);
    }

    #[test]
    fn packet_inside_reset_window_stays_and_marks_pkts_rst() {
        let mut r = Rig::new();
        r.tcp(10.0, true, SYN, 100, 0);
        r.tcp(10.05, false, RA, 0, 101);
        let ind = r.flow_ind(true);
        r.tcp(10.1, true, SYN, 100, 0);
        assert_eq!(r.flow_ind(true), ind);
        assert_eq!(r.st(true).anom, PKTS_RST);
        assert_eq!(*r.col.last().unwrap(), PKTS_RST);
    }

    #[test]
    fn reset_timeout_needs_both_directions_due() {
        // A's RST lowers both timeouts to 0.1 s: a packet 0.2 s later removes the pair
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        let ind = r.flow_ind(true);
        r.tcp(2.0, true, RA, 101, 501);
        assert_eq!((r.timeout(true), r.timeout(false)), (0.1, 0.1));
        r.tcp(2.2, true, SYN, 7, 0);
        assert_ne!(r.flow_ind(true), ind);
        // full handshake ended by RST: sender 0x42, other side 0x02
        assert_eq!(r.plugin().ended, vec![(ind, 0x42), (ind, 0x02)]);
    }

    #[test]
    fn established_survives_longer_than_flow_timeout() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        let ind = r.flow_ind(true);
        r.tcp(500.0, true, ACK, 101, 501);
        assert_eq!(r.flow_ind(true), ind, "610 s timeout keeps the connection");
        // B (last seen at 1.01) is due at 1000 s, A (500 s) is not: the pair stays
        r.tcp(1000.0, true, ACK, 101, 501);
        assert_eq!(r.flow_ind(true), ind);
        r.tcp(1000.5, false, ACK, 501, 101);
        assert_eq!(r.flow_ind(true), ind);
        assert!(r.plugin().ended.is_empty());
        // 609.9 s of silence: still there; 610.5 s: both due, a new pair starts
        r.tcp(1609.9, true, ACK, 101, 501);
        assert!(r.plugin().ended.is_empty());
        r.tcp(2220.5, false, ACK, 501, 101);
        assert_eq!(r.plugin().ended, vec![(ind, 0x02), (ind, 0x02)]);
        assert_ne!(r.flow_ind(false), ind);
    }

    #[test]
    fn new_flow_keeps_default_timeout_until_a_syn() {
        let mut r = Rig::new();
        r.tcp(1.0, true, FIN, 5, 0);
        assert_eq!(r.st(true).anom, EVIL);
        assert_eq!(r.st(true).state, NEW);
        assert_eq!(r.timeout(true), 182.0);
        let ind = r.flow_ind(true);
        assert_eq!(r.finish(), vec![(ind, EVIL | 0x03)]);
    }

    #[test]
    fn syn_only_flow_leaves_after_120s() {
        let mut r = Rig::new();
        r.tcp(1.0, true, SYN, 5, 0);
        let ind = r.flow_ind(true);
        r.tcp(120.9, false, ACK, 5, 0);
        assert!(r.plugin().ended.is_empty());
        let ind2 = r.flow_ind(false);
        assert_eq!(ind2, ind, "B joined A's pair");
        // a lone ACK with wrong ack number from B moved both to ESTABLISHED (610)
        assert_eq!(r.st(true).state, ESTABLISHED);
        assert_eq!(r.st(true).anom, MAL_CON_EST);
        assert_eq!(r.timeout(true), 610.0);
        let mut r = Rig::new();
        r.tcp(1.0, true, SYN, 5, 0);
        let ind = r.flow_ind(true);
        r.tcp(121.0, false, SYN, 77, 0);
        assert_eq!(r.plugin().ended, vec![(ind, 0x03)]);
    }

    #[test]
    fn syn_ack_with_wrong_ack_establishes_both_with_mal_con_est() {
        let mut r = Rig::new();
        r.tcp(1.0, true, SYN, 100, 0);
        r.tcp(1.1, false, SA, 500, 999);
        assert_eq!(r.st(true).state, ESTABLISHED);
        assert_eq!(r.st(false).state, ESTABLISHED);
        assert_eq!(r.st(true).anom, MAL_CON_EST);
        assert_eq!(r.st(false).anom, MAL_CON_EST);
        assert!(!r.st(true).has(SYN_ACKD));
    }

    #[test]
    fn syn_ack_without_opposite_is_malformed_establishment() {
        let mut r = Rig::new();
        r.tcp(1.0, false, SA, 500, 101);
        assert_eq!(r.st(false).state, ESTABLISHED);
        assert_eq!(r.st(false).anom, MAL_CON_EST);
        assert_eq!(r.timeout(false), 610.0);
    }

    #[test]
    fn ack_with_wrong_number_in_new_is_malformed() {
        let mut r = Rig::new();
        r.tcp(1.0, true, SYN, 100, 0);
        r.tcp(1.1, false, SA, 500, 101);
        r.tcp(1.2, true, ACK, 101, 12345);
        assert_eq!(r.st(true).state, ESTABLISHED);
        assert_eq!(r.st(true).anom, MAL_CON_EST);
        assert_eq!(r.st(false).anom, MAL_CON_EST);
    }

    #[test]
    fn right_ack_before_own_syn_was_acked_stays_new() {
        let mut r = Rig::new();
        r.tcp(1.0, true, SYN, 100, 0);
        r.tcp(1.1, false, ACK, 500, 101);
        assert!(r.st(true).has(SYN_ACKD));
        assert_eq!(r.st(false).state, NEW);
        assert_eq!(r.st(true).state, NEW);
        assert_eq!(r.timeout(false), 182.0);
    }

    #[test]
    fn rst_in_new_without_opposite_is_evil() {
        let mut r = Rig::new();
        r.tcp(1.0, true, RST, 1, 0);
        assert_eq!(r.st(true).anom, RST_TRANS | MAL_CON_EST | EVIL);
        assert_eq!((r.st(true).state, r.timeout(true)), (RESET, 0.1));
    }

    #[test]
    fn plain_rst_in_new_with_opposite_marks_both() {
        let mut r = Rig::new();
        r.tcp(1.0, true, SYN, 100, 0);
        r.tcp(1.05, false, RST, 0, 0);
        assert_eq!(r.st(false).anom, RST_TRANS | MAL_CON_EST);
        assert_eq!(r.st(true).anom, MAL_CON_EST);
        assert_eq!(r.st(true).state, RESET);
        assert_eq!(r.timeout(true), 0.1);
    }

    #[test]
    fn null_and_xmas_are_evil() {
        let mut r = Rig::new();
        r.tcp(1.0, true, 0x00, 1, 0);
        // NULL falls through to "anything else": established with MAL_CON_EST
        assert_eq!(r.st(true).anom, EVIL | MAL_CON_EST);
        assert_eq!(r.st(true).state, ESTABLISHED);
        let mut r = Rig::new();
        r.tcp(1.0, true, 0x29, 1, 0);
        // Xmas is a lone FIN for the NEW rules: state unchanged
        assert_eq!(r.st(true).anom, EVIL);
        assert_eq!(r.st(true).state, NEW);
        let ind = r.flow_ind(true);
        assert_eq!(r.finish(), vec![(ind, 0x83)]);
    }

    #[test]
    fn fin_ack_opener_without_opposite_is_a_fin_scan() {
        let mut r = Rig::new();
        r.tcp(1.0, true, FA, 100, 7);
        assert_eq!((r.st(true).state, r.timeout(true)), (CLOSING, 120.0));
        assert!(r.st(true).has(FIN_SCAN));
        assert_eq!(r.st(true).anom, MAL_CON_EST);
        // answered by a bare ACK only: A ends EVIL, B 0x03
        r.tcp(1.1, false, ACK, 7, 101);
        // the ACK does not match a SYN: both directions are moved to ESTABLISHED
        assert_eq!(r.st(true).state, ESTABLISHED);
        assert!(!r.st(true).has(FIN_ACKD));
        let ind = r.flow_ind(true);
        assert_eq!(r.finish(), vec![(ind, 0x83), (ind, 0x03)]);
    }

    #[test]
    fn fin_scan_is_cleared_by_complete_teardown() {
        let mut r = Rig::new();
        r.tcp(1.0, true, FA, 100, 7);
        r.tcp(1.1, false, FA, 7, 101);
        assert_eq!(r.st(false).anom, MAL_CON_EST);
        assert_eq!(r.st(false).state, CLOSING);
        r.tcp(1.2, true, ACK, 101, 8);
        assert_eq!(r.st(true).state, CLOSED);
        assert_eq!(r.st(false).state, CLOSED);
        let ind = r.flow_ind(true);
        assert_eq!(r.finish(), vec![(ind, MAL_CON_EST), (ind, MAL_CON_EST)]);
    }

    #[test]
    fn fin_ack_opener_acknowledges_opposite_fin() {
        let mut r = Rig::new();
        r.tcp(1.0, true, 0x18, 100, 7); // PSH+ACK: established (malformed)
        r.tcp(1.1, true, FA, 100, 7);
        assert_eq!(r.st(true).state, CLOSING);
        r.tcp(1.2, false, FA, 7, 101);
        assert!(r.st(true).has(FIN_ACKD));
        assert_eq!(r.st(false).anom, MAL_CON_EST);
    }

    #[test]
    fn established_flag_anomalies() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.5, true, 0x08, 101, 0); // PSH without ACK
        assert_eq!(r.st(true).anom, MAL_FLGS_EST);
        assert_eq!(r.st(false).anom, MAL_FLGS_EST);
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.5, false, SA, 500, 101); // retransmitted SYN-ACK
        assert_eq!(r.st(false).anom, MAL_FLGS_EST);
        assert_eq!(r.st(false).state, ESTABLISHED);
    }

    #[test]
    fn fin_rst_in_established_ends_in_reset() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.5, true, FIN | RST | ACK, 101, 501);
        assert!(r.st(true).has(FIN_SEEN));
        assert_eq!(r.st(true).state, RESET);
        assert_eq!(r.st(true).anom, RST_TRANS | MAL_TEARDWN);
        assert_eq!(r.st(false).anom, MAL_TEARDWN);
        assert_eq!(r.timeout(false), 0.1);
    }

    #[test]
    fn rst_in_closing_resets_both() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.2, true, FA, 101, 501);
        r.tcp(1.3, true, RA, 102, 501);
        assert_eq!(r.st(true).state, RESET);
        assert_eq!(r.st(true).anom, RST_TRANS | MAL_TEARDWN);
        assert_eq!(r.st(false).state, RESET);
        assert_eq!(r.st(false).anom, MAL_TEARDWN);
    }

    #[test]
    fn rst_ack_completing_teardown_in_closing_ends_closed() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.2, true, FA, 101, 501);
        r.tcp(1.3, false, FA, 501, 102);
        // A acknowledges B's FIN with RST+ACK
        r.tcp(1.4, true, RA, 102, 502);
        assert_eq!(r.st(true).state, CLOSED);
        assert_eq!(r.st(false).state, CLOSED);
        assert_eq!(r.st(true).anom, RST_TRANS | MAL_TEARDWN);
        assert_eq!(r.timeout(true), 10.0);
    }

    #[test]
    fn second_fin_in_closing_keeps_first_fin_seq() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.2, true, FA, 101, 501);
        r.tcp(1.3, true, FA, 150, 501);
        assert_eq!(r.st(true).fin_seq, 101);
        r.tcp(1.4, false, FA, 501, 151);
        assert!(!r.st(true).has(FIN_ACKD));
        r.tcp(1.5, false, ACK, 502, 102);
        assert!(r.st(true).has(FIN_ACKD));
    }

    #[test]
    fn only_a_fin_acknowledges_the_opposite_fin_while_established() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.2, true, FA, 101, 501);
        r.tcp(1.3, false, ACK, 501, 102);
        assert!(!r.st(true).has(FIN_ACKD));
        assert_eq!(r.st(false).state, ESTABLISHED);
        r.tcp(1.4, false, FA, 501, 102);
        assert!(r.st(true).has(FIN_ACKD));
    }

    #[test]
    fn rst_in_closed_resets() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        r.tcp(1.2, true, FA, 101, 501);
        r.tcp(1.3, false, FA, 501, 102);
        r.tcp(1.4, true, ACK, 102, 502);
        r.tcp(1.5, false, RST, 502, 0);
        assert_eq!(r.st(false).state, RESET);
        assert_eq!(r.st(false).anom, PKTS_TERM | RST_TRANS | MAL_TEARDWN);
        assert_eq!(r.st(true).anom, MAL_TEARDWN);
        assert_eq!((r.timeout(true), r.timeout(false)), (0.1, 0.1));
    }

    #[test]
    fn sequence_comparison_is_64_bit() {
        let mut r = Rig::new();
        r.tcp(1.0, true, SYN, 0xffff_ffff, 0);
        r.tcp(1.1, false, SA, 500, 0);
        assert!(!r.st(true).has(SYN_ACKD));
        assert_eq!(r.st(true).anom, MAL_CON_EST);
    }

    #[test]
    fn later_fragments_and_short_headers_are_skipped() {
        let mut r = Rig::new();
        handshake(&mut r, 1.0);
        // a later fragment whose bytes look like a NULL packet: not processed, column 0
        r.send_frame(1.5, frame(A, B, 0, 1, 0, 0x0010));
        assert_eq!(*r.col.last().unwrap(), 0);
        assert_eq!(r.st(true).anom, 0);
        // first fragment (MF, offset 0) is processed: PSH only -> MAL_FLGS_EST
        r.send_frame(1.6, frame(A, B, 0x08, 1, 0, 0x2000));
        assert_eq!(r.st(true).anom, MAL_FLGS_EST);
        // truncated TCP header (12 bytes captured) is skipped
        let mut f = frame(A, B, RST, 1, 0, 0);
        f.truncate(14 + 20 + 12);
        r.send_frame_len(1.7, f, 54);
        assert_eq!(r.st(true).state, ESTABLISHED);
        assert_eq!(r.st(true).anom, MAL_FLGS_EST);
        // 13 captured bytes are enough
        let mut f = frame(A, B, RST, 1, 0, 0);
        f.truncate(14 + 20 + 14);
        r.send_frame_len(1.8, f, 54);
        assert_eq!(r.st(true).state, RESET);
    }

    #[test]
    fn state_is_twelve_bytes() {
        assert_eq!(std::mem::size_of::<State>(), 12);
    }

    #[test]
    fn end_report_and_merge() {
        let mut a = TcpStates::new();
        let mut out = Vec::new();
        a.report(&ReportTotals::default(), &mut out);
        assert!(out.is_empty());
        let mut b = TcpStates::new();
        b.agg = 0x43;
        a.agg = 0x80;
        a.merge(&b);
        a.report(&ReportTotals::default(), &mut out);
        assert_eq!(out, vec!["Aggregated tcpStatesAFlags=0xc3".to_string()]);
        assert_eq!(a.timeouts(), vec![0.1, 120.0, 610.0, 120.0, 10.0]);
    }

    #[test]
    fn packet_column_for_l2_udp_and_tcp() {
        use crate::flow::table::FlowTable;
        let mut d = Dissector::new();
        let mut table = FlowTable::new(&[182.0], 0);
        let mut p = TcpStates::new();
        let mut gw = 0u64;
        let mut rm = Vec::new();
        let mut run = |f: Vec<u8>, l2: bool| -> Vec<u8> {
            let info = d.dissect(&f, f.len() as u32, 1);
            let pkt = Pkt {
                data: &f,
                info: &info,
                hdr_desc: b"",
                ts: Ts::new(1, 0),
                len: f.len() as u32,
                pkt_no: 1,
            };
            let slot = table
                .lookup(&info.key)
                .unwrap_or_else(|| table.insert(info.key, 1));
            let mut line = Vec::new();
            let mut cx = FlowCx {
                table: &mut table,
                slot,
                global_warn: &mut gw,
                pkt_line: Some(&mut line),
                remove: &mut rm,
            };
            p.on_new_flow(&mut cx, &pkt);
            if l2 {
                p.on_layer2(&mut cx, &pkt);
            } else {
                p.on_layer4(&mut cx, &pkt);
            }
            line
        };
        // ARP frame
        let mut arp = vec![0xffu8; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert_eq!(run(arp, true), b"0x00\t");
        // UDP: same frame with protocol 17
        let mut udp = frame(A, B, 0, 1, 0, 0);
        udp[23] = 17;
        assert_eq!(run(udp, false), b"0x00\t");
        // TCP NULL packet without opposite
        assert_eq!(run(frame(A, B, 0, 1, 0, 0), false), b"0x81\t");
    }
}
