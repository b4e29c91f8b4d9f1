//! tcpWin: the example plugin of T2's plugin-development tutorials, in the state the tutorials
//! leave it (tcpWin14). It counts TCP packets whose advertised window is below a threshold,
//! runs a rudimentary TCP state machine (NEW, BGN, EST, ABRT) that gives each flow a timeout
//! per state, and aborts a connection in both directions once too many of its packets
//! undershot the threshold (the pair then leaves the flow table 1 ms later, so the next packet
//! opens a new flow). It is not in the default plugin set:
//! `--plugins basicFlow,basicStats,tcpWin,txtSink`.
//!
//! Outputs: flows.txt columns tcpWinStat, tcpWinState, tcpWinIpTTL, tcpInitWinSz, tcpWinThCnt,
//! tcpWinSzThRt; packet-mode columns tcpWinStat, tcpWinState, tcpWinSize, tcpWinThPktCnt,
//! tcpWinTimeout; end-report lines; the monitoring column winPktThCnt. docs/plugin-guide.md
//! walks through this file.

use crate::config::{Config, Setting};
use crate::dissect::{FlowClass, Frag, NONE};
use crate::output::columns::{Column, Record, Ty};
use crate::plugin::{FlowCx, Pkt, Plugin, PluginInfo, ReportTotals, SlotVec, TermCx};
use crate::textfmt as tf;
use crate::wire::{be16_at, u8_at};
use std::any::Any;

/// Run-time settings under the tutorial's constant names (`-o NAME=VALUE`).
pub const SETTINGS: &[Setting] = &[
    (
        "TCPWIN_THRES",
        "1",
        "tcpWin: a TCP window below this value is a threshold undershoot (tcpWinThCnt, winPktThCnt)",
    ),
    (
        "TCPWIN_FLWPRG",
        "2",
        "tcpWin: undershoots after which a connection is aborted in both directions (timeout TCPWIN_TMT_ABRT) and raises an alarm",
    ),
    (
        "TCPWIN_MINPKTS",
        "50",
        "tcpWin: packets a flow needs before its source can be the report's worst host",
    ),
    (
        "TCPWIN_TMT_NEW",
        "10.0",
        "tcpWin: timeout (s) of a TCP flow in state NEW",
    ),
    (
        "TCPWIN_TMT_BGN",
        "2.2",
        "tcpWin: timeout (s) after a SYN (state BGN)",
    ),
    (
        "TCPWIN_TMT_EST",
        "1.0",
        "tcpWin: timeout (s) of a running connection, also right after its FIN or RST",
    ),
    (
        "TCPWIN_TMT_ABRT",
        "0.001",
        "tcpWin: timeout (s) of an aborted connection (both directions)",
    ),
    (
        "FORCE_MODE",
        "0",
        "1: plugins may force a flow out at once (T2_RM_FLOW); tcpWin does so at the TCPWIN_FLWPRG-th undershoot",
    ),
];

// ---- tcpWinStat bits: the low five are the TCP flags FIN, SYN, RST, PSH, ACK seen
pub const STAT_FLAGS: u8 = 0x1f;
/// A packet's window was below TCPWIN_THRES.
pub const STAT_THU: u8 = 0x40;
/// The connection was aborted: TCPWIN_FLWPRG undershoots.
pub const STAT_ABNRM: u8 = 0x80;

// ---- tcpWinState
pub const STATE_NEW: u8 = 0x00;
pub const STATE_BGN: u8 = 0x01;
pub const STATE_EST: u8 = 0x02;
pub const STATE_ABRT: u8 = 0x04;

// ---- TCP flag bits (header byte 13)
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// The settings, read once per plugin instance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Opts {
    pub thres: u32,
    pub flwprg: u32,
    pub minpkts: u64,
    pub tmt_new: f32,
    pub tmt_bgn: f32,
    pub tmt_est: f32,
    pub tmt_abrt: f32,
    pub force: bool,
}

impl Default for Opts {
    fn default() -> Opts {
        Opts::from_config(&Config::default())
    }
}

impl Opts {
    /// Reads the settings; a missing or unreadable value falls back to the default above.
    pub fn from_config(c: &Config) -> Opts {
        let num = |name: &str| -> f64 {
            let default = SETTINGS
                .iter()
                .find(|s| s.0 == name)
                .and_then(|s| s.1.parse::<f64>().ok())
                .unwrap_or(0.0);
            c.text(name)
                .and_then(|t| t.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .unwrap_or(default)
        };
        Opts {
            thres: num("TCPWIN_THRES").min(u32::MAX as f64) as u32,
            flwprg: num("TCPWIN_FLWPRG").min(u32::MAX as f64) as u32,
            minpkts: num("TCPWIN_MINPKTS") as u64,
            tmt_new: num("TCPWIN_TMT_NEW") as f32,
            tmt_bgn: num("TCPWIN_TMT_BGN") as f32,
            tmt_est: num("TCPWIN_TMT_EST") as f32,
            tmt_abrt: num("TCPWIN_TMT_ABRT") as f32,
            force: num("FORCE_MODE") != 0.0,
        }
    }
}

/// Per-flow state (16 bytes).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct State {
    /// Window of the first TCP header seen (tcpInitWinSz).
    pub win_init: u32,
    /// Packets whose window undershot the threshold (tcpWinThCnt).
    pub th_cnt: u32,
    /// Packets of the flow (basicStats' numTPkts, the denominator of tcpWinSzThRt).
    pub pkts: u32,
    /// IP TTL / hop limit of the first TCP packet.
    pub ttl: u8,
    pub stat: u8,
    pub state: u8,
    /// A TCP header was seen (win_init and ttl are set).
    seen: bool,
}

/// The source of the flow with the highest undershoot ratio (the report's "IP:" line).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Worst {
    ratio: f32,
    pkts: u32,
    ver: u8,
    addr: [u8; 16],
}

impl Worst {
    /// Whether `self` beats `o`: higher ratio, then more packets, then the lower address
    /// (a total order, so the result does not depend on the worker count).
    fn beats(&self, o: &Worst) -> bool {
        match self.ratio.total_cmp(&o.ratio) {
            std::cmp::Ordering::Equal => {
                (self.pkts, std::cmp::Reverse((self.ver, self.addr)))
                    > (o.pkts, std::cmp::Reverse((o.ver, o.addr)))
            }
            c => c.is_gt(),
        }
    }
}

/// What the plugin reads from a TCP packet it handles.
struct TcpView {
    win: u32,
    flags: u8,
    ttl: u8,
}

/// The TCP fields of `pkt`, or None when tcpWin does not handle the packet: not TCP, a later
/// fragment, or the window not captured.
fn tcp_view(pkt: &Pkt) -> Option<TcpView> {
    let i = pkt.info;
    if i.class != FlowClass::Ip
        || i.l4_proto != 6
        || i.frag == Frag::Later
        || i.l4 == NONE
        || i.snap_l4_len < 16
    {
        return None;
    }
    let l4 = i.l4 as usize;
    let ttl = match (i.l3, i.ip_ver) {
        (NONE, _) => 0,
        (l3, 6) => u8_at(pkt.data, l3 as usize + 7),
        (l3, _) => u8_at(pkt.data, l3 as usize + 8),
    };
    Some(TcpView {
        win: be16_at(pkt.data, l4 + 14) as u32,
        flags: u8_at(pkt.data, l4 + 13),
        ttl,
    })
}

pub struct TcpWin {
    o: Opts,
    flows: SlotVec<State>,
    /// OR of every flow's stat / state (report).
    stat: u8,
    state: u8,
    /// Undershooting packets over the run (T2's winThCntG).
    th_pkts: u64,
    /// The same since the last monitoring reset (differential winPktThCnt).
    mon_th_pkts: u64,
    worst: Option<Worst>,
    /// Written flows: (flowInd, state), for the unit tests.
    #[cfg(test)]
    ended: Vec<(u64, State)>,
}

impl TcpWin {
    pub fn new(c: &Config) -> TcpWin {
        TcpWin::with_opts(Opts::from_config(c))
    }

    pub fn with_opts(o: Opts) -> TcpWin {
        TcpWin {
            o,
            flows: SlotVec::default(),
            stat: 0,
            state: 0,
            th_pkts: 0,
            mon_th_pkts: 0,
            worst: None,
            #[cfg(test)]
            ended: Vec::new(),
        }
    }

    pub fn opts(&self) -> Opts {
        self.o
    }

    /// A flow's state (for tests and for plugins that depend on tcpWin).
    pub fn flow_state(&self, slot: u32) -> State {
        *self.flows.get(slot)
    }

    /// Undershooting packets counted so far (winThCntG).
    pub fn below_threshold_packets(&self) -> u64 {
        self.th_pkts
    }

    /// One TCP packet through the counters and the state machine.
    fn tcp_packet(&mut self, cx: &mut FlowCx, t: &TcpView) {
        let o = self.o;
        let slot = cx.slot;
        let st = self.flows.get_mut(slot);
        if !st.seen {
            st.seen = true;
            st.win_init = t.win;
            st.ttl = t.ttl;
        }
        let mut force = false;
        if t.win < o.thres {
            st.th_cnt += 1;
            st.stat |= STAT_THU;
            self.th_pkts += 1;
            self.mon_th_pkts += 1;
            force = o.force && st.th_cnt >= o.flwprg;
        }
        st.stat |= t.flags & STAT_FLAGS;

        // The tutorial's switch: NEW falls through into BGN, BGN into EST, an abort in EST
        // into ABRT. `check` says whether the EST tests run for this packet.
        let mut timeout = None;
        let mut abort = false;
        let mut state = st.state;
        let check = match state {
            STATE_NEW if t.flags & SYN != 0 => {
                state = STATE_BGN;
                timeout = Some(o.tmt_bgn);
                false
            }
            STATE_NEW if t.flags & ACK == 0 => false,
            STATE_NEW | STATE_BGN => {
                // a mid-stream start is EST at once; a SYN-opened connection stays in BGN
                // but runs on the EST timeout from its second packet on
                if state == STATE_NEW {
                    state = STATE_EST;
                }
                timeout = Some(o.tmt_est);
                true
            }
            STATE_EST => true,
            STATE_ABRT => {
                timeout = Some(o.tmt_abrt);
                false
            }
            _ => false,
        };
        if check {
            if st.stat & (FIN | RST) != 0 {
                // ABRT, but the EST timeout for a while to catch packets after the FIN/RST
                state = STATE_ABRT;
                timeout = Some(o.tmt_est);
            } else if st.th_cnt >= o.flwprg {
                st.stat |= STAT_ABNRM;
                state = STATE_ABRT;
                timeout = Some(o.tmt_abrt);
                abort = true;
            }
        }
        st.state = state;
        let (stat, state) = (st.stat, st.state);
        self.stat |= stat;
        self.state |= state;

        if let Some(t) = timeout {
            cx.set_timeout(t);
        }
        if abort {
            // the pair leaves only when both directions are due: abort the opposite too
            if let Some(p) = cx.partner().filter(|&p| p != slot) {
                self.flows.get_mut(p).state = STATE_ABRT;
                cx.set_partner_timeout(o.tmt_abrt);
            }
            cx.alarm();
        }
        if force {
            cx.force_remove();
        }
        if let Some(out) = cx.pkt_line.as_deref_mut() {
            let st = self.flows.get(slot);
            tf::push_hex(out, st.stat as u64, 2);
            out.push(b'\t');
            tf::push_hex(out, st.state as u64, 2);
            out.push(b'\t');
            tf::push_u64(out, t.win as u64);
            out.push(b'\t');
            tf::push_u64(out, st.th_cnt as u64);
            out.push(b'\t');
            tf::push_f6(out, cx.table.get(slot).timeout() as f64);
            out.push(b'\t');
        }
    }
}

/// The packet-mode columns of a packet tcpWin does not handle (T2's TCPWIN_SPKTMD_PRI_NONE).
fn push_none(cx: &mut FlowCx) {
    if let Some(out) = cx.pkt_line.as_deref_mut() {
        out.extend_from_slice(b"0x00\t0x00\t\t\t\t");
    }
}

/// The registry entry (`src/plugins/mod.rs`).
pub fn info() -> PluginInfo {
    PluginInfo {
        name: "tcpWin",
        make: |c: &Config| Box::new(TcpWin::new(c)) as Box<dyn Plugin>,
        settings: SETTINGS,
    }
}

impl Plugin for TcpWin {
    fn name(&self) -> &'static str {
        "tcpWin"
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("tcpWinStat", &[Ty::H8], "TCP window size threshold status"),
            Column::new("tcpWinState", &[Ty::H8], "TCP window size state"),
            Column::new("tcpWinIpTTL", &[Ty::U8], "IP TTL"),
            Column::new(
                "tcpInitWinSz",
                &[Ty::U32],
                "TCP initial effective window size",
            ),
            Column::new("tcpWinThCnt", &[Ty::U32], "TCP window size threshold count"),
            Column::new(
                "tcpWinSzThRt",
                &[Ty::F],
                "TCP packet count ratio below window size threshold",
            ),
        ]
    }

    fn packet_columns(&self) -> Vec<&'static str> {
        vec![
            "tcpWinStat",
            "tcpWinState",
            "tcpWinSize",
            "tcpWinThPktCnt",
            "tcpWinTimeout",
        ]
    }

    fn timeouts(&self) -> Vec<f32> {
        vec![
            self.o.tmt_new,
            self.o.tmt_bgn,
            self.o.tmt_est,
            self.o.tmt_abrt,
        ]
    }

    fn prefetch(&self, slot: u32) {
        self.flows.prefetch(slot);
    }

    fn on_new_flow(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        self.flows.reset(cx.slot);
        if pkt.info.class == FlowClass::Ip && pkt.info.l4_proto == 6 {
            cx.set_timeout(self.o.tmt_new);
        }
    }

    fn on_layer2(&mut self, cx: &mut FlowCx, _pkt: &Pkt) {
        push_none(cx);
    }

    fn on_layer4(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        let st = self.flows.get_mut(cx.slot);
        st.pkts = st.pkts.saturating_add(1);
        match tcp_view(pkt) {
            Some(t) => self.tcp_packet(cx, &t),
            None => push_none(cx),
        }
    }

    fn on_flow_terminate(&mut self, cx: &TermCx, rec: &mut Record) {
        let st = *self.flows.get(cx.slot);
        let ratio = if st.pkts > 0 {
            st.th_cnt as f32 / st.pkts as f32
        } else {
            0.0
        };
        rec.u8(st.stat);
        rec.u8(st.state);
        rec.u8(st.ttl);
        rec.u32(st.win_init);
        rec.u32(st.th_cnt);
        rec.f32(ratio);

        let f = cx.flow();
        if st.th_cnt > 0 && st.pkts as u64 >= self.o.minpkts && !f.key.l2 {
            let w = Worst {
                ratio,
                pkts: st.pkts,
                ver: f.key.ip_ver,
                addr: f.key.src,
            };
            if self.worst.map_or(true, |b| w.beats(&b)) {
                self.worst = Some(w);
            }
        }
        #[cfg(test)]
        self.ended.push((f.flow_ind, st));
    }

    fn merge(&mut self, other: &dyn Plugin) {
        let Some(o) = other.as_any().downcast_ref::<TcpWin>() else {
            return;
        };
        self.stat |= o.stat;
        self.state |= o.state;
        self.th_pkts += o.th_pkts;
        self.mon_th_pkts += o.mon_th_pkts;
        if let Some(w) = o.worst {
            if self.worst.map_or(true, |b| w.beats(&b)) {
                self.worst = Some(w);
            }
        }
    }

    fn report(&self, totals: &ReportTotals, out: &mut Vec<String>) {
        if self.th_pkts == 0 {
            return;
        }
        out.push(format!("Aggregated tcpWinStat=0x{:02x}", self.stat));
        out.push(format!("Aggregated tcpWinState=0x{:02x}", self.state));
        crate::report::nump(
            out,
            &format!(
                "Number of TCP winsize packets below threshold {}",
                self.o.thres
            ),
            self.th_pkts,
            totals.packets,
        );
        if let Some(w) = self.worst {
            let mut ip = Vec::new();
            if w.ver == 6 {
                tf::push_ipv6(&mut ip, w.addr);
            } else {
                tf::push_ipv4(&mut ip, [w.addr[0], w.addr[1], w.addr[2], w.addr[3]]);
            }
            out.push(format!("IP: {}", String::from_utf8_lossy(&ip)));
        }
    }

    fn monitoring_columns(&self) -> Vec<String> {
        vec!["winPktThCnt".to_string()]
    }

    fn monitoring_values(&self, out: &mut Vec<String>) {
        out.push(self.mon_th_pkts.to_string());
    }

    fn monitoring_reset(&mut self) {
        self.mon_th_pkts = 0;
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
    use crate::flow::table::FlowTable;
    use crate::flow::worker::{Worker, WorkerSetup};
    use crate::flowstat::{FL_ALARM, RMFLOW};
    use crate::time::Ts;

    const A: ([u8; 4], u16, u8) = ([10, 0, 0, 1], 40000, 128);
    const B: ([u8; 4], u16, u8) = ([10, 0, 0, 2], 80, 52);
    const SA: u8 = SYN | ACK;
    const FA: u8 = FIN | ACK;

    /// Ethernet + IPv4 (TTL, fragment word) + 20-byte TCP header with the given window.
    fn frame(
        src: ([u8; 4], u16, u8),
        dst: ([u8; 4], u16, u8),
        flags: u8,
        win: u16,
        frag: u16,
    ) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, dst.0[3], 2, 0, 0, 0, 0, src.0[3], 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0, 0, 40, 0, 1]);
        f.extend_from_slice(&frag.to_be_bytes());
        f.extend_from_slice(&[src.2, 6, 0, 0]);
        f.extend_from_slice(&src.0);
        f.extend_from_slice(&dst.0);
        f.extend_from_slice(&src.1.to_be_bytes());
        f.extend_from_slice(&dst.1.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags]);
        f.extend_from_slice(&win.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 0]);
        f
    }

    /// A worker with tcpWin as its only plugin, fed hand-built packets.
    struct Rig {
        w: Worker,
        d: Dissector,
        no: u64,
    }

    impl Rig {
        fn new(o: Opts) -> Rig {
            let p = TcpWin::with_opts(o);
            let mut timeouts = vec![182.0f32];
            timeouts.extend(p.timeouts());
            let w = Worker::new(WorkerSetup {
                index: 0,
                workers: 1,
                plugins: vec![Box::new(p)],
                flow_timeout: 182.0,
                timeouts,
                ..Default::default()
            });
            Rig {
                w,
                d: Dissector::new(),
                no: 0,
            }
        }

        fn plugin(&self) -> &TcpWin {
            self.w.plugins[0].as_any().downcast_ref::<TcpWin>().unwrap()
        }

        fn send(&mut self, t: f64, f: Vec<u8>) {
            self.no += 1;
            let info = self.d.dissect(&f, f.len() as u32, 1);
            let desc = self.d.hdr_desc().to_vec();
            let e = PktEntry {
                pkt_no: self.no,
                ts: Ts::new(t as u64, ((t - t.floor()) * 1e9).round() as u32),
                len: f.len() as u32,
                caplen: f.len() as u32,
                info,
                ..Default::default()
            };
            self.w.packet(&e, &f, &desc);
        }

        /// A TCP packet from A to B (`ab`) or back.
        fn tcp(&mut self, t: f64, ab: bool, flags: u8, win: u16) {
            let (s, d) = if ab { (A, B) } else { (B, A) };
            self.send(t, frame(s, d, flags, win, 0));
        }

        fn slot(&self, ab: bool) -> Option<u32> {
            let (s, d) = if ab { (A, B) } else { (B, A) };
            let f = frame(s, d, ACK, 1, 0);
            let info = Dissector::new().dissect(&f, f.len() as u32, 1);
            self.w.table.lookup(&info.key)
        }

        fn st(&self, ab: bool) -> State {
            self.plugin()
                .flow_state(self.slot(ab).expect("flow is in the table"))
        }

        fn timeout(&self, ab: bool) -> f32 {
            self.w.table.get(self.slot(ab).unwrap()).timeout()
        }

        fn flow_ind(&self, ab: bool) -> u64 {
            self.w.table.get(self.slot(ab).unwrap()).flow_ind
        }

        fn status(&self, ab: bool) -> u64 {
            self.w.table.get(self.slot(ab).unwrap()).status
        }

        /// flowInd of every written flow, in output order.
        fn ended(&self) -> Vec<u64> {
            self.plugin().ended.iter().map(|e| e.0).collect()
        }

        /// A complete handshake from `t`: SYN, SYN-ACK, ACK (50 ms apart).
        fn handshake(&mut self, t: f64) {
            self.tcp(t, true, SYN, 8192);
            self.tcp(t + 0.05, false, SA, 5840);
            self.tcp(t + 0.1, true, ACK, 64860);
        }
    }

    fn opts() -> Opts {
        Opts::default()
    }

    #[test]
    fn defaults_are_the_tutorials_constants() {
        let o = opts();
        assert_eq!((o.thres, o.flwprg, o.minpkts), (1, 2, 50));
        assert_eq!(
            (o.tmt_new, o.tmt_bgn, o.tmt_est, o.tmt_abrt),
            (10.0, 2.2, 1.0, 0.001)
        );
        assert!(!o.force);
        let p = TcpWin::with_opts(o);
        assert_eq!(p.timeouts(), vec![10.0, 2.2, 1.0, 0.001]);
        let names: Vec<&str> = SETTINGS.iter().map(|s| s.0).collect();
        for n in [
            "TCPWIN_THRES",
            "TCPWIN_FLWPRG",
            "TCPWIN_TMT_NEW",
            "TCPWIN_TMT_BGN",
            "TCPWIN_TMT_EST",
            "TCPWIN_TMT_ABRT",
            "FORCE_MODE",
        ] {
            assert!(names.contains(&n), "{n} is not a setting");
        }
    }

    #[test]
    fn settings_come_from_the_config() {
        let mut c = Config::new();
        c.register(SETTINGS);
        c.set_assignment("tcpwin_tmt_est=4.0").unwrap();
        c.set_assignment("TCPWIN_FLWPRG=3").unwrap();
        c.set_assignment("FORCE_MODE=1").unwrap();
        c.set_assignment("TCPWIN_THRES=oops").unwrap();
        c.validate().unwrap();
        let o = Opts::from_config(&c);
        assert_eq!((o.tmt_est, o.flwprg, o.force), (4.0, 3, true));
        assert_eq!(o.thres, 1, "an unreadable value keeps the default");
        assert_eq!(TcpWin::new(&c).timeouts(), vec![10.0, 2.2, 4.0, 0.001]);
    }

    #[test]
    fn syn_gives_bgn_then_the_est_timeout() {
        let mut r = Rig::new(opts());
        r.tcp(1.0, true, SYN, 8192);
        assert_eq!((r.st(true).state, r.timeout(true)), (STATE_BGN, 2.2));
        r.tcp(1.05, false, SA, 5840);
        assert_eq!((r.st(false).state, r.timeout(false)), (STATE_BGN, 2.2));
        r.tcp(1.1, true, ACK, 64860);
        // T2's tcpWin14 leaves a SYN-opened connection in BGN, on the EST timeout
        assert_eq!((r.st(true).state, r.timeout(true)), (STATE_BGN, 1.0));
        assert_eq!(r.st(true).stat, SYN | ACK);
        assert_eq!((r.st(true).win_init, r.st(true).ttl), (8192, 128));
        assert_eq!((r.st(false).win_init, r.st(false).ttl), (5840, 52));
        assert_eq!(r.plugin().state, STATE_BGN);
    }

    #[test]
    fn mid_stream_ack_is_established() {
        let mut r = Rig::new(opts());
        r.tcp(1.0, true, ACK, 100);
        assert_eq!((r.st(true).state, r.timeout(true)), (STATE_EST, 1.0));
    }

    #[test]
    fn new_flow_without_syn_or_ack_stays_new_on_the_new_timeout() {
        let mut r = Rig::new(opts());
        r.tcp(1.0, true, RST, 100);
        assert_eq!((r.st(true).state, r.timeout(true)), (STATE_NEW, 10.0));
        assert_eq!(r.st(true).stat, RST);
        let ind = r.flow_ind(true);
        r.tcp(10.9, true, RST, 100);
        assert_eq!(r.flow_ind(true), ind, "9.9 s < TCPWIN_TMT_NEW");
        r.tcp(21.0, true, RST, 100);
        assert_ne!(r.flow_ind(true), ind, "10.1 s: the flow timed out");
    }

    #[test]
    fn est_timeout_splits_a_connection_at_a_1_5_s_gap() {
        let mut r = Rig::new(opts());
        r.tcp(1.0, true, ACK, 1000);
        r.tcp(1.1, false, ACK, 1000);
        r.tcp(1.5, true, ACK, 1000);
        r.tcp(1.6, false, ACK, 1000);
        let ind = r.flow_ind(true);
        assert_eq!(r.flow_ind(false), ind);
        assert!(r.ended().is_empty());
        // 1.5 s of silence in both directions: the pair is gone, a new one starts
        r.tcp(3.1, true, ACK, 1000);
        assert_eq!(r.ended(), vec![ind, ind]);
        let ind2 = r.flow_ind(true);
        assert_ne!(ind2, ind);
        assert_eq!(r.st(true).state, STATE_EST);
        r.tcp(3.2, false, ACK, 1000);
        assert_eq!(r.flow_ind(false), ind2);
    }

    #[test]
    fn est_timeout_keeps_a_connection_with_0_9_s_gaps() {
        let mut r = Rig::new(opts());
        r.handshake(1.0);
        let ind = r.flow_ind(true);
        for i in 1..6 {
            let t = 1.1 + 0.9 * i as f64;
            r.tcp(t, false, ACK, 5840);
            r.tcp(t + 0.01, true, ACK, 64860);
        }
        assert_eq!(r.flow_ind(true), ind);
        assert!(r.ended().is_empty());
    }

    #[test]
    fn syn_handshake_split_by_est_timeout() {
        let mut r = Rig::new(opts());
        r.handshake(1.0);
        r.tcp(1.2, false, ACK, 5840);
        let ind = r.flow_ind(true);
        // A is due at 2.1 s, B at 2.2 s: at 2.15 s only A is due and the pair stays
        r.tcp(2.15, true, ACK, 64860);
        assert_eq!(r.flow_ind(true), ind);
        r.tcp(3.7, false, ACK, 5840);
        assert_eq!(r.ended(), vec![ind, ind]);
        assert_ne!(r.flow_ind(false), ind);
    }

    #[test]
    fn one_direction_due_is_not_enough() {
        let mut r = Rig::new(opts());
        r.tcp(1.0, true, ACK, 1000);
        r.tcp(1.1, false, ACK, 1000);
        let ind = r.flow_ind(true);
        // B keeps talking, A is silent for 3 s: A is due, B is not
        for i in 1..=6 {
            r.tcp(1.1 + 0.5 * i as f64, false, ACK, 1000);
        }
        assert_eq!(r.flow_ind(true), ind);
        assert!(r.ended().is_empty());
    }

    #[test]
    fn two_zero_windows_abort_both_directions() {
        let mut r = Rig::new(opts());
        r.handshake(1.0);
        let ind = r.flow_ind(true);
        r.tcp(1.3, false, ACK, 0);
        assert_eq!(r.st(false).th_cnt, 1);
        assert_eq!(r.st(false).stat, SA | STAT_THU);
        assert_eq!(r.timeout(false), 1.0, "one undershoot does not abort");
        assert_eq!(r.w.table.alarms, 0);
        r.tcp(1.4, false, ACK, 0);
        let b = r.st(false);
        assert_eq!(b.th_cnt, 2);
        assert_eq!(b.stat, SA | STAT_THU | STAT_ABNRM);
        assert_eq!(b.state, STATE_ABRT);
        assert_eq!(r.st(true).state, STATE_ABRT, "the opposite is aborted too");
        assert_eq!((r.timeout(true), r.timeout(false)), (0.001, 0.001));
        // one alarm, on the flow that reached TCPWIN_FLWPRG
        assert_eq!(r.w.table.alarms, 1);
        assert!(r.status(false) & FL_ALARM != 0);
        assert!(r.status(true) & FL_ALARM == 0);
        assert!(r.w.counters.global_warn & FL_ALARM != 0);
        // 0.5 ms later B is not due yet: the packet still joins the pair
        r.tcp(1.4005, true, ACK, 64860);
        assert_eq!(r.flow_ind(true), ind);
        assert_eq!(r.timeout(true), 0.001);
        assert!(r.ended().is_empty());
        // 2 ms later both are: the pair leaves and the packet opens a new flow
        r.tcp(1.402, true, ACK, 64860);
        assert_ne!(r.flow_ind(true), ind);
        assert_eq!(r.ended(), vec![ind, ind]);
        assert_eq!(r.w.counters.alarm_flows, 1);
        let ended = &r.plugin().ended;
        let bst = ended.iter().map(|e| e.1).find(|s| s.th_cnt == 2).unwrap();
        assert_eq!((bst.stat, bst.state, bst.pkts), (0xd2, STATE_ABRT, 3));
        assert_eq!(r.plugin().below_threshold_packets(), 2);
        assert_eq!(r.plugin().stat, 0xd2);
        assert_eq!(r.plugin().state, STATE_BGN | STATE_EST | STATE_ABRT);
    }

    #[test]
    fn undershoots_after_fin_do_not_abort() {
        let mut r = Rig::new(opts());
        r.handshake(1.0);
        r.tcp(1.3, false, FA, 0);
        assert_eq!((r.st(false).state, r.timeout(false)), (STATE_ABRT, 1.0));
        r.tcp(1.4, false, ACK, 0);
        // already ABRT: the next packet gets the abort timeout, no ABNRM, no alarm
        assert_eq!((r.st(false).state, r.timeout(false)), (STATE_ABRT, 0.001));
        assert_eq!(r.st(false).stat & STAT_ABNRM, 0);
        assert_eq!(r.st(false).th_cnt, 2);
        assert_eq!(r.w.table.alarms, 0);
        assert_eq!(r.timeout(true), 1.0, "the opposite keeps its timeout");
    }

    #[test]
    fn flwprg_three_needs_three_undershoots() {
        let mut r = Rig::new(Opts {
            flwprg: 3,
            ..opts()
        });
        r.handshake(1.0);
        r.tcp(1.3, false, ACK, 0);
        r.tcp(1.4, false, ACK, 0);
        assert_eq!(r.st(false).state, STATE_BGN);
        r.tcp(1.5, false, ACK, 0);
        assert_eq!(r.st(false).state, STATE_ABRT);
        assert_eq!(r.w.table.alarms, 1);
    }

    #[test]
    fn longer_est_timeout_keeps_the_flow() {
        // the tutorial's exercise: TCPWIN_TMT_EST=4.0 keeps a connection across a 1.5 s gap
        let mut r = Rig::new(Opts {
            tmt_est: 4.0,
            ..opts()
        });
        r.tcp(1.0, true, ACK, 1000);
        r.tcp(1.1, false, ACK, 1000);
        let ind = r.flow_ind(true);
        r.tcp(2.6, true, ACK, 1000);
        assert_eq!(r.flow_ind(true), ind);
        assert!(r.ended().is_empty());
    }

    #[test]
    fn force_mode_removes_the_pair_after_the_packet() {
        let mut r = Rig::new(Opts {
            force: true,
            ..opts()
        });
        r.handshake(1.0);
        let ind = r.flow_ind(true);
        r.tcp(1.3, false, ACK, 0);
        assert!(r.ended().is_empty());
        r.tcp(1.4, false, ACK, 0);
        assert_eq!(r.ended(), vec![ind, ind], "written right after the packet");
        assert!(r.slot(true).is_none() && r.slot(false).is_none());
        assert_eq!(r.w.table.alarms, 1);
        // the next packet, even 0.1 ms later, opens a new pair
        r.tcp(1.4001, true, ACK, 64860);
        assert_ne!(r.flow_ind(true), ind);
        assert_eq!(r.status(true) & RMFLOW, 0);
    }

    #[test]
    fn later_fragments_udp_and_short_headers_are_not_handled() {
        let mut r = Rig::new(opts());
        r.tcp(1.0, true, ACK, 1000);
        // a first fragment (MF) is handled; the later fragment, whose bytes would read as
        // window 0, is only counted as a packet of the flow
        r.send(1.05, frame(A, B, ACK, 1000, 0x2000));
        r.send(1.1, frame(A, B, ACK, 0, 0x0010));
        let s = r.st(true);
        assert_eq!((s.th_cnt, s.pkts), (0, 3));
        // a truncated TCP header (window not captured)
        let mut f = frame(A, B, ACK, 0, 0);
        f.truncate(14 + 20 + 14);
        r.send(1.2, f);
        assert_eq!(r.st(true).th_cnt, 0);
        // UDP: no TCP state, the core's flow timeout
        let mut u = frame(A, B, 0, 0, 0);
        u[23] = 17;
        r.send(1.3, u.clone());
        let info = Dissector::new().dissect(&u, u.len() as u32, 1);
        let slot = r.w.table.lookup(&info.key).unwrap();
        assert_eq!(r.w.table.get(slot).timeout(), 182.0);
        assert_eq!(r.plugin().flow_state(slot).state, STATE_NEW);
    }

    #[test]
    fn flow_columns_and_ratio() {
        let mut r = Rig::new(opts());
        r.handshake(1.0);
        r.tcp(1.3, false, ACK, 0);
        for i in 0..6 {
            r.tcp(1.4 + 0.1 * i as f64, false, ACK, 100);
        }
        let ind = r.flow_ind(true);
        let mut p = TcpWin::with_opts(opts());
        let slot = r.slot(false).unwrap();
        *p.flows.reset(slot) = r.st(false);
        let mut rec = Record::default();
        p.on_flow_terminate(
            &TermCx {
                table: &r.w.table,
                slot,
            },
            &mut rec,
        );
        let mut want = Record::default();
        want.u8(SA | STAT_THU);
        want.u8(STATE_BGN);
        want.u8(52);
        want.u32(5840);
        want.u32(1);
        want.f32(1.0 / 8.0);
        assert_eq!(rec.buf, want.buf);
        assert_eq!(r.flow_ind(false), ind);
        // 8 packets < TCPWIN_MINPKTS: no worst host
        assert!(p.worst.is_none());
        p.o.minpkts = 8;
        p.on_flow_terminate(
            &TermCx {
                table: &r.w.table,
                slot,
            },
            &mut rec,
        );
        assert_eq!(p.worst.unwrap().addr[..4], [10, 0, 0, 2]);
    }

    /// Runs one packet through a fresh tcpWin with packet mode on; returns its columns.
    fn packet_line(f: Vec<u8>, timeout_before: Option<f32>) -> Vec<u8> {
        let mut d = Dissector::new();
        let mut table = FlowTable::new(&[182.0], 0);
        let mut p = TcpWin::with_opts(opts());
        let (mut gw, mut rm) = (0u64, Vec::new());
        let info = d.dissect(&f, f.len() as u32, 1);
        let pkt = Pkt {
            data: &f,
            info: &info,
            hdr_desc: b"",
            ts: Ts::new(1, 0),
            len: f.len() as u32,
            pkt_no: 1,
        };
        let slot = table.insert(info.key, 1);
        table.set_timeout(slot, timeout_before.unwrap_or(182.0));
        let mut line = Vec::new();
        let mut cx = FlowCx {
            table: &mut table,
            slot,
            global_warn: &mut gw,
            pkt_line: Some(&mut line),
            remove: &mut rm,
        };
        p.on_new_flow(&mut cx, &pkt);
        if info.class == FlowClass::L2 {
            p.on_layer2(&mut cx, &pkt);
        } else {
            p.on_layer4(&mut cx, &pkt);
        }
        line
    }

    #[test]
    fn packet_mode_columns() {
        assert_eq!(
            TcpWin::with_opts(opts()).packet_columns(),
            vec![
                "tcpWinStat",
                "tcpWinState",
                "tcpWinSize",
                "tcpWinThPktCnt",
                "tcpWinTimeout"
            ]
        );
        assert_eq!(
            packet_line(frame(A, B, SYN, 8192, 0), None),
            b"0x02\t0x01\t8192\t0\t2.200000\t"
        );
        assert_eq!(
            packet_line(frame(A, B, ACK, 0, 0), None),
            b"0x50\t0x02\t0\t1\t1.000000\t"
        );
        assert_eq!(
            packet_line(frame(A, B, RST, 7, 0), None),
            b"0x04\t0x00\t7\t0\t10.000000\t"
        );
        let mut udp = frame(A, B, 0, 0, 0);
        udp[23] = 17;
        assert_eq!(packet_line(udp, None), b"0x00\t0x00\t\t\t\t");
        let mut arp = vec![0xffu8; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert_eq!(packet_line(arp, None), b"0x00\t0x00\t\t\t\t");
    }

    #[test]
    fn report_lines_and_merge() {
        let mut a = TcpWin::with_opts(opts());
        let mut out = Vec::new();
        a.report(&ReportTotals::default(), &mut out);
        assert!(out.is_empty(), "no undershoot, no lines");
        let mut b = TcpWin::with_opts(opts());
        a.stat = 0x5a;
        a.state = 0x03;
        a.th_pkts = 1;
        b.stat = 0x94;
        b.state = 0x04;
        b.th_pkts = 3;
        let host = |ratio: f32, pkts: u32, last: u8| Worst {
            ratio,
            pkts,
            ver: 4,
            addr: [192, 168, 1, last, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        a.worst = Some(host(0.001, 1464, 105));
        b.worst = Some(host(0.0005, 3000, 7));
        a.merge(&b);
        a.report(
            &ReportTotals {
                packets: 5902,
                ab_bytes: 0,
            },
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                "Aggregated tcpWinStat=0xde",
                "Aggregated tcpWinState=0x07",
                "Number of TCP winsize packets below threshold 1: 4 [0.07%]",
                "IP: 192.168.1.105",
            ]
        );
        // ties: more packets, then the lower address, whatever the merge order
        let (x, y, z) = (host(0.5, 60, 9), host(0.5, 80, 200), host(0.5, 80, 3));
        assert!(y.beats(&x) && z.beats(&y) && !y.beats(&z) && !x.beats(&x));
    }

    #[test]
    fn monitoring_is_absolute_until_reset() {
        let mut r = Rig::new(opts());
        r.tcp(1.0, true, ACK, 0);
        let p = r.w.plugins[0].as_mut();
        assert_eq!(p.monitoring_columns(), vec!["winPktThCnt"]);
        let mut v = Vec::new();
        p.monitoring_values(&mut v);
        assert_eq!(v, vec!["1"]);
        p.monitoring_reset();
        v.clear();
        p.monitoring_values(&mut v);
        assert_eq!(v, vec!["0"], "differential: counted since the last reset");
        r.tcp(1.1, true, ACK, 0);
        r.tcp(1.2, true, ACK, 5);
        let p = r.w.plugins[0].as_mut();
        v.clear();
        p.monitoring_values(&mut v);
        assert_eq!(v, vec!["1"]);
        // the report keeps the run's total
        let mut out = Vec::new();
        p.report(
            &ReportTotals {
                packets: 3,
                ab_bytes: 0,
            },
            &mut out,
        );
        assert!(out
            .contains(&"Number of TCP winsize packets below threshold 1: 2 [66.67%]".to_string()));
    }
}
