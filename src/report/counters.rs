//! The counters behind the end report and the monitoring rows. The reader counts what follows
//! from dissection alone; each worker counts what needs its flows; the report adds them up.

use crate::time::Ts;

#[derive(Clone, Debug)]
pub struct Counters {
    // ---- reader side
    pub packets: u64,
    pub raw_bytes: u64,
    pub processed_bytes: u64,
    pub num_l2: u64,
    pub num_v4: u64,
    pub num_v6: u64,
    pub num_vx: u64,
    pub num_llc: u64,
    pub num_gre: u64,
    pub num_teredo: u64,
    pub num_ayiya: u64,
    pub dtls_records: u64,
    pub bytes_on_wire: u64,
    pub hdr_min: u16,
    pub hdr_max: u16,
    pub hdr_avg: f32,
    pub first_ts: Option<Ts>,
    pub last_ts: Ts,
    pub vlan_max: u32,
    pub mpls_max: u32,
    // ---- worker side
    pub pad_bytes: i64,
    pub frag_v4: u64,
    pub frag_v6: u64,
    pub num_a: u64,
    pub num_b: u64,
    pub a_bytes: u64,
    pub b_bytes: u64,
    pub arp: u64,
    pub rarp: u64,
    /// Packets and captured bytes of IP packets with a flow, by l4Proto.
    pub proto_pkts: Vec<u64>,
    pub proto_bytes: Vec<u64>,
    /// Packets and bytes of L2 flows by EtherType (for MONPROTL2).
    pub l2_type_pkts: Vec<(u16, u64, u64)>,
    pub total_a: u64,
    pub total_b: u64,
    pub total_l2: u64,
    pub total_v4: u64,
    pub total_v6: u64,
    pub corr_repl: u64,
    /// Flows evicted because the table was at its cap (autopilot).
    pub rm_flows: u64,
    pub alarms: u64,
    pub alarm_flows: u64,
    /// Packets without flow because flow creation was stopped (first SIGINT).
    pub no_create_drops: u64,
    pub global_warn: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            packets: 0,
            raw_bytes: 0,
            processed_bytes: 0,
            num_l2: 0,
            num_v4: 0,
            num_v6: 0,
            num_vx: 0,
            num_llc: 0,
            num_gre: 0,
            num_teredo: 0,
            num_ayiya: 0,
            dtls_records: 0,
            bytes_on_wire: 0,
            hdr_min: u16::MAX,
            hdr_max: 0,
            hdr_avg: 0.0,
            first_ts: None,
            last_ts: Ts::ZERO,
            vlan_max: 0,
            mpls_max: 0,
            pad_bytes: 0,
            frag_v4: 0,
            frag_v6: 0,
            num_a: 0,
            num_b: 0,
            a_bytes: 0,
            b_bytes: 0,
            arp: 0,
            rarp: 0,
            proto_pkts: vec![0; 256],
            proto_bytes: vec![0; 256],
            l2_type_pkts: Vec::new(),
            total_a: 0,
            total_b: 0,
            total_l2: 0,
            total_v4: 0,
            total_v6: 0,
            corr_repl: 0,
            rm_flows: 0,
            alarms: 0,
            alarm_flows: 0,
            no_create_drops: 0,
            global_warn: 0,
        }
    }
}

impl Counters {
    /// Adds another side's counters (worker or reader) into this one.
    pub fn merge(&mut self, o: &Counters) {
        let own_packets = self.packets;
        self.packets += o.packets;
        self.raw_bytes += o.raw_bytes;
        self.processed_bytes += o.processed_bytes;
        self.num_l2 += o.num_l2;
        self.num_v4 += o.num_v4;
        self.num_v6 += o.num_v6;
        self.num_vx += o.num_vx;
        self.num_llc += o.num_llc;
        self.num_gre += o.num_gre;
        self.num_teredo += o.num_teredo;
        self.num_ayiya += o.num_ayiya;
        self.dtls_records += o.dtls_records;
        self.bytes_on_wire += o.bytes_on_wire;
        self.hdr_min = self.hdr_min.min(o.hdr_min);
        self.hdr_max = self.hdr_max.max(o.hdr_max);
        self.vlan_max = self.vlan_max.max(o.vlan_max);
        self.mpls_max = self.mpls_max.max(o.mpls_max);
        // header-count mean weighted by packets (the sides count disjoint packets; in replay only
        // the reader has any, so its float32 running mean is kept exactly)
        if o.packets > 0 {
            self.hdr_avg = if own_packets == 0 {
                o.hdr_avg
            } else {
                ((self.hdr_avg as f64 * own_packets as f64 + o.hdr_avg as f64 * o.packets as f64)
                    / (own_packets + o.packets) as f64) as f32
            };
        }
        // the first packet is the earliest first; the last is the latest (live shards)
        match (self.first_ts, o.first_ts) {
            (None, _) => {
                self.first_ts = o.first_ts;
                self.last_ts = o.last_ts;
            }
            (Some(a), Some(b)) => {
                self.first_ts = Some(a.min(b));
                self.last_ts = self.last_ts.max(o.last_ts);
            }
            (Some(_), None) => {}
        }
        self.pad_bytes += o.pad_bytes;
        self.frag_v4 += o.frag_v4;
        self.frag_v6 += o.frag_v6;
        self.num_a += o.num_a;
        self.num_b += o.num_b;
        self.a_bytes += o.a_bytes;
        self.b_bytes += o.b_bytes;
        self.arp += o.arp;
        self.rarp += o.rarp;
        for i in 0..256 {
            self.proto_pkts[i] += o.proto_pkts[i];
            self.proto_bytes[i] += o.proto_bytes[i];
        }
        for &(t, p, b) in &o.l2_type_pkts {
            self.add_l2_type(t, p, b);
        }
        self.total_a += o.total_a;
        self.total_b += o.total_b;
        self.total_l2 += o.total_l2;
        self.total_v4 += o.total_v4;
        self.total_v6 += o.total_v6;
        self.corr_repl += o.corr_repl;
        self.rm_flows += o.rm_flows;
        self.alarms += o.alarms;
        self.alarm_flows += o.alarm_flows;
        self.no_create_drops += o.no_create_drops;
        self.global_warn |= o.global_warn;
    }

    pub fn add_l2_type(&mut self, t: u16, pkts: u64, bytes: u64) {
        match self.l2_type_pkts.iter_mut().find(|e| e.0 == t) {
            Some(e) => {
                e.1 += pkts;
                e.2 += bytes;
            }
            None => self.l2_type_pkts.push((t, pkts, bytes)),
        }
    }

    /// Packets attached to flows.
    pub fn ab_packets(&self) -> u64 {
        self.num_a + self.num_b
    }

    pub fn total_flows(&self) -> u64 {
        self.total_a + self.total_b
    }
}
