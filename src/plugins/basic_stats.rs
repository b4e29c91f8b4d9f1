//! basicStats: per-flow packet/byte counts, size and inter-arrival statistics in float32 as T2
//! computes them (spec/basicStats.md), its packet-mode length columns and its report lines.

use crate::dissect::FlowClass;
use crate::output::columns::{Column, Record, Run, Ty};
use crate::plugin::{FlowCx, Pkt, Plugin, ReportTotals, SlotVec, TermCx};
use crate::textfmt as tf;
use crate::time::Ts;
use std::any::Any;

/// Per-flow state: one cache line (aligned to one, so a packet of the flow costs one line).
#[derive(Clone, Default)]
#[repr(align(64))]
struct State {
    pkts: u64,
    bytes: u64,
    min_sz: u16,
    max_sz: u16,
    avg_sz: f32,
    var_sz: f32,
    min_iat: f32,
    max_iat: f32,
    avg_iat: f32,
    var_iat: f32,
    last: Ts,
}

const _: () = assert!(std::mem::size_of::<State>() == 64);

/// A talker for the report: the record's identity and its count.
#[derive(Clone, Copy, Default)]
struct Talker {
    value: u64,
    ver: u8,
    addr: [u8; 16],
    /// Output order of the record (ties keep the earlier-written flow).
    order: u64,
    set: bool,
}

impl Talker {
    fn offer(&mut self, value: u64, ver: u8, addr: [u8; 16], order: u64) {
        if value > self.value {
            *self = Talker {
                value,
                ver,
                addr,
                order,
                set: true,
            };
        }
    }
    fn merge(&mut self, o: &Talker) {
        if o.set && (o.value > self.value || (o.value == self.value && o.order < self.order)) {
            *self = *o;
        }
    }
}

#[derive(Default)]
pub struct BasicStats {
    flows: SlotVec<State>,
    mx_byts: u64,
    mx_byts_order: u64,
    mx_bytsps: f32,
    mx_pkts: u64,
    mx_bytsps_order: u64,
    l2_pkts: Talker,
    l2_bytes: Talker,
    l3_pkts: Talker,
    l3_bytes: Talker,
    any_l2: bool,
    any_l3: bool,
    written: u64,
}

impl BasicStats {
    pub fn new() -> BasicStats {
        BasicStats::default()
    }

    fn update(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        let ls = cx.flow().last_seen();
        let st = self.flows.get_mut(cx.slot);
        let l = pkt.info.stat_len;
        st.pkts += 1;
        st.bytes += l as u64;
        st.min_sz = st.min_sz.min(l);
        st.max_sz = st.max_sz.max(l);
        let ds = (ls.sec as u32).wrapping_sub(st.last.sec as u32) as f32;
        let dns = (ls.nsec as i64 - st.last.nsec as i64) as f32;
        let iat = (ds as f64 + dns as f64 / 1e9) as f32;
        st.min_iat = iat.min(st.min_iat);
        st.max_iat = iat.max(st.max_iat);
        st.last = ls;
        let n = st.pkts as f32;
        let m = l as f32 - st.avg_sz;
        st.avg_sz += m / n;
        st.var_sz += (m * m - st.var_sz) / n;
        let m = iat - st.avg_iat;
        st.avg_iat += m / n;
        st.var_iat += (m * m - st.var_iat) / n;
        if let Some(out) = cx.pkt_line.as_deref_mut() {
            let i = pkt.info;
            let l2 = i.class == FlowClass::L2;
            for v in [
                pkt.len as u64,
                i.snap_l3_len as u64,
                i.snap_l4_len as u64,
                i.snap_l7_len as u64,
                if l2 { 0 } else { i.l3_len as u64 },
                i.udp_len as u64,
                i.l7_len as u64,
            ] {
                tf::push_u64(out, v);
                out.push(b'\t');
            }
            tf::push_i64(out, i.pad);
            out.push(b'\t');
        }
    }
}

/// basicStats' duration: float32 of the (unsigned 32-bit) seconds plus nanoseconds.
fn flow_duration(first: Ts, last: Ts) -> (f32, bool) {
    let d = last.t2_duration(first);
    (
        (d.sec as u32 as f64 + d.nsec as f64 / 1e9) as f32,
        d.sec != 0 || d.nsec != 0,
    )
}

impl Plugin for BasicStats {
    fn name(&self) -> &'static str {
        "basicStats"
    }

    fn columns(&self) -> Vec<Column> {
        vec![
            Column::new("pktsSnt", &[Ty::U64], "Number of transmitted packets"),
            Column::new("pktsRcvd", &[Ty::U64], "Number of received packets"),
            Column::new(
                "padBytesSnt",
                &[Ty::I64],
                "Number of transmitted padding bytes",
            ),
            Column::new(
                "l7BytesSnt",
                &[Ty::U64],
                "Number of transmitted layer 7 bytes",
            ),
            Column::new(
                "l7BytesRcvd",
                &[Ty::U64],
                "Number of received layer 7 bytes",
            ),
            Column::new("minL7PktSz", &[Ty::U16], "Minimum layer 7 packet size"),
            Column::new("maxL7PktSz", &[Ty::U16], "Maximum layer 7 packet size"),
            Column::new("avgL7PktSz", &[Ty::F], "Average layer 7 packet size"),
            Column::new(
                "stdL7PktSz",
                &[Ty::F],
                "Standard deviation layer 7 packet size",
            ),
            Column::new("minIAT", &[Ty::F], "Minimum IAT"),
            Column::new("maxIAT", &[Ty::F], "Maximum IAT"),
            Column::new("avgIAT", &[Ty::F], "Average IAT"),
            Column::new("stdIAT", &[Ty::F], "Standard deviation IAT"),
            Column::new("pktps", &[Ty::F], "Sent packets per second"),
            Column::new("bytps", &[Ty::F], "Sent bytes per second"),
            Column::new("pktAsm", &[Ty::F], "Packet stream asymmetry"),
            Column::new("bytAsm", &[Ty::F], "Byte stream asymmetry"),
        ]
    }

    fn packet_columns(&self) -> Vec<&'static str> {
        vec![
            "pktLen",
            "snapL3Len",
            "snapL4Len",
            "snapL7Len",
            "l3Len",
            "udpLen",
            "l7Len",
            "padLen",
        ]
    }

    fn prefetch(&self, slot: u32) {
        self.flows.prefetch(slot);
    }

    fn on_new_flow(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        let last = cx.flow().last_seen();
        let st = self.flows.reset(cx.slot);
        st.min_sz = u16::MAX;
        st.avg_sz = pkt.info.stat_len as f32;
        st.min_iat = 4.0e12;
        st.last = last;
    }

    fn on_layer2(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        self.update(cx, pkt);
    }

    fn on_layer4(&mut self, cx: &mut FlowCx, pkt: &Pkt) {
        self.update(cx, pkt);
    }

    fn on_flow_terminate(&mut self, cx: &TermCx, rec: &mut Record) {
        let f = cx.flow();
        let st = self.flows.get(cx.slot).clone();
        let (opkts, obytes) = match cx.partner() {
            Some(p) => {
                let o = self.flows.get(p);
                (o.pkts, o.bytes)
            }
            None => (0, 0),
        };
        let mut r = Run::<{ 5 * 8 + 2 * 2 + 10 * 4 }>::new();
        r.u64(st.pkts);
        r.u64(opkts);
        r.i64(f.pad_bytes);
        r.u64(st.bytes);
        r.u64(obytes);
        r.u16(st.min_sz);
        r.u16(st.max_sz);
        let avg = if st.pkts > 0 {
            st.bytes as f32 / st.pkts as f32
        } else {
            0.0
        };
        r.f32(avg);
        r.f32(st.var_sz.sqrt());
        r.f32(st.min_iat);
        r.f32(st.max_iat);
        r.f32(st.avg_iat);
        r.f32(st.var_iat.sqrt());
        let (dur, nonzero) = flow_duration(f.first_seen, f.last_seen());
        let (pktps, bytps) = if nonzero {
            (st.pkts as f32 / dur, st.bytes as f32 / dur)
        } else {
            (0.0, 0.0)
        };
        r.f32(pktps);
        r.f32(bytps);
        let dir = if cx.partner().is_none() && f.has(crate::flowstat::L3FLOWINVERT) {
            -1.0f32
        } else {
            1.0
        };
        let tp = st.pkts + opkts;
        let pkt_asm = if tp == 0 {
            0.0
        } else {
            dir * (st.pkts as f32 - opkts as f32) / tp as f32
        };
        let tb = st.bytes + obytes;
        let byt_asm = if tb == 0 {
            0.0
        } else {
            (st.bytes as f32 - obytes as f32) / tb as f32
        };
        r.f32(pkt_asm);
        r.f32(byt_asm);
        rec.run(&r);

        // report aggregates, in output order of this worker
        let order = self.written;
        self.written += 1;
        let avg_u = avg as u64;
        if avg_u > self.mx_byts {
            self.mx_byts = avg_u;
            self.mx_byts_order = order;
        }
        if bytps > self.mx_bytsps {
            self.mx_bytsps = bytps;
            self.mx_pkts = st.pkts;
            self.mx_bytsps_order = order;
        }
        if f.key.l2 {
            self.any_l2 |= st.pkts > 0;
            let mut a = [0u8; 16];
            a[..6].copy_from_slice(&f.key.src[..6]);
            self.l2_pkts.offer(st.pkts, 0, a, order);
            self.l2_bytes.offer(st.bytes, 0, a, order);
        } else {
            self.any_l3 |= st.pkts > 0;
            let ver = if f.has(crate::flowstat::L2_IPV6) {
                6
            } else {
                4
            };
            self.l3_pkts.offer(st.pkts, ver, f.key.src, order);
            self.l3_bytes.offer(st.bytes, ver, f.key.src, order);
        }
    }

    fn merge(&mut self, other: &dyn Plugin) {
        let Some(o) = other.as_any().downcast_ref::<BasicStats>() else {
            return;
        };
        if o.mx_byts > self.mx_byts {
            self.mx_byts = o.mx_byts;
        }
        if o.mx_bytsps > self.mx_bytsps {
            self.mx_bytsps = o.mx_bytsps;
            self.mx_pkts = o.mx_pkts;
        }
        self.l2_pkts.merge(&o.l2_pkts);
        self.l2_bytes.merge(&o.l2_bytes);
        self.l3_pkts.merge(&o.l3_pkts);
        self.l3_bytes.merge(&o.l3_bytes);
        self.any_l2 |= o.any_l2;
        self.any_l3 |= o.any_l3;
    }

    fn report(&self, totals: &ReportTotals, out: &mut Vec<String>) {
        let h = |n: u64, unit: &str| {
            let mut v = Vec::new();
            tf::human_suffix(&mut v, n, unit);
            String::from_utf8(v).unwrap_or_default()
        };
        let pct = |n: u64, tot: u64| {
            if tot == 0 {
                0.0
            } else {
                100.0 * n as f64 / tot as f64
            }
        };
        out.push(format!(
            "Flow max(pktload): {}{}",
            self.mx_byts,
            h(self.mx_byts, "")
        ));
        let b = (self.mx_bytsps * 8.0) as u64;
        out.push(format!(
            "Flow max(b/s), pkts: {}{}, {}{}",
            b,
            h(b, "b/s"),
            self.mx_pkts,
            h(self.mx_pkts, "")
        ));
        let addr = |t: &Talker, l2: bool| -> String {
            let mut v = Vec::new();
            if l2 {
                tf::push_mac(
                    &mut v,
                    [
                        t.addr[0], t.addr[1], t.addr[2], t.addr[3], t.addr[4], t.addr[5],
                    ],
                );
            } else if t.set {
                match t.ver {
                    6 => tf::push_ipv6(&mut v, t.addr),
                    _ => tf::push_ipv4(&mut v, [t.addr[0], t.addr[1], t.addr[2], t.addr[3]]),
                }
            }
            String::from_utf8(v).unwrap_or_default()
        };
        if self.any_l2 {
            let t = &self.l2_pkts;
            out.push(format!(
                "Biggest L2 flow talker: {}: {}{} [{:.2}%] packets",
                addr(t, true),
                t.value,
                h(t.value, ""),
                pct(t.value, totals.packets)
            ));
            let t = &self.l2_bytes;
            out.push(format!(
                "Biggest L2 flow talker: {}: {}{} [{:.2}%] bytes",
                addr(t, true),
                t.value,
                h(t.value, ""),
                pct(t.value, totals.ab_bytes)
            ));
        }
        if self.any_l3 {
            let t = &self.l3_pkts;
            out.push(format!(
                "Biggest L3 flow talker: {}: {}{} [{:.2}%] packets",
                addr(t, false),
                t.value,
                h(t.value, ""),
                pct(t.value, totals.packets)
            ));
            let t = &self.l3_bytes;
            out.push(format!(
                "Biggest L3 flow talker: {}: {}{} [{:.2}%] bytes",
                addr(t, false),
                t.value,
                h(t.value, ""),
                pct(t.value, totals.ab_bytes)
            ));
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
