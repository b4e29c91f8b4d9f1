//! Report text: the machine row (T2's MACHINE_REPORT=1 columns, FACTS (b)) and the human
//! "Anteater" report (the end report's layout with a monitoring header), absolute or
//! differential.

use super::MonConfig;
use crate::report::counters::Counters;
use crate::report::{self, ReportInput};
use crate::textfmt as tf;
use crate::time::Ts;
use std::time::Duration;

/// One worker's figures at a report.
#[derive(Clone, Debug, Default)]
pub struct WorkerView {
    /// Packets attached to flows (A + B).
    pub packets: u64,
    /// Flows created.
    pub flows: u64,
    /// Flows in the worker's table.
    pub live: u64,
    /// Batches waiting in the reader→worker ring, and its capacity.
    pub ring: u64,
    pub ring_cap: u64,
    /// Times the reader found the ring full (it waited: replay never drops).
    pub ring_full: u64,
    /// Live capture: packets the worker's source received and the kernel dropped for it.
    pub source: Option<(u64, u64)>,
}

/// Everything a report shows, in absolute terms (the formatter makes the differences).
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Time of the packet the report follows (T2's actTime).
    pub ts: Ts,
    pub first_ts: Ts,
    /// Wall clock at the report (seconds, nanoseconds since the epoch) and since the start.
    pub wall: (u64, u32),
    pub elapsed: Duration,
    /// Reader and worker counters added up (numL2 counted once).
    pub c: Counters,
    /// Flows in memory over all workers (T2's hash map fill).
    pub fill: u64,
    pub peak: u64,
    pub mem_kb: u64,
    /// Plugin monitoring values, merged over the workers.
    pub plugin_vals: Vec<String>,
    pub workers: Vec<WorkerView>,
    /// Live capture: packets received, dropped, dropped by the interface.
    pub live: Option<(u64, u64, u64)>,
    /// Live capture: flows whose reverse flow was created on another worker (a lower bound,
    /// see `monitor::split`).
    pub split: Option<u64>,
}

/// Machine column of [`Snapshot::split`] (live capture only, after T2's columns).
pub const SPLIT_COLUMN: &str = "numFlowsSplitAcrossWorkers";

/// Static facts for the human report.
#[derive(Clone, Debug, Default)]
pub struct InputInfo {
    /// "Processing file: …", "Link layer type: …", "Snapshot length: …" lines.
    pub lines: Vec<String>,
    pub file_size: Option<u64>,
    pub pcapng: bool,
    pub capacity_ref: u64,
    /// (plugin name, its monitoring column names) in plugin order.
    pub plugin_cols: Vec<(&'static str, Vec<String>)>,
}

/// Produces report text; keeps the previous report for differential mode.
pub struct Formatter {
    pub cfg: MonConfig,
    pub info: InputInfo,
    prev: Option<Snapshot>,
}

/// `self - prev` for every counter (the header and time fields are the caller's).
pub fn delta(cur: &Counters, prev: &Counters) -> Counters {
    let mut d = cur.clone();
    macro_rules! sub {
        ($($f:ident),*) => { $( d.$f = cur.$f.saturating_sub(prev.$f); )* };
    }
    sub!(
        packets,
        raw_bytes,
        processed_bytes,
        num_l2,
        num_v4,
        num_v6,
        num_vx,
        num_llc,
        num_gre,
        num_teredo,
        num_ayiya,
        dtls_records,
        bytes_on_wire,
        frag_v4,
        frag_v6,
        num_a,
        num_b,
        a_bytes,
        b_bytes,
        arp,
        rarp,
        total_a,
        total_b,
        total_l2,
        total_v4,
        total_v6,
        corr_repl,
        rm_flows,
        alarms,
        alarm_flows,
        no_create_drops
    );
    d.pad_bytes = cur.pad_bytes - prev.pad_bytes;
    for i in 0..d.proto_pkts.len().min(prev.proto_pkts.len()) {
        d.proto_pkts[i] = cur.proto_pkts[i].saturating_sub(prev.proto_pkts[i]);
        d.proto_bytes[i] = cur.proto_bytes[i].saturating_sub(prev.proto_bytes[i]);
    }
    for e in d.l2_type_pkts.iter_mut() {
        if let Some(p) = prev.l2_type_pkts.iter().find(|p| p.0 == e.0) {
            e.1 = e.1.saturating_sub(p.1);
            e.2 = e.2.saturating_sub(p.2);
        }
    }
    d
}

fn l2_count(c: &Counters, t: u16) -> (u64, u64) {
    c.l2_type_pkts
        .iter()
        .find(|e| e.0 == t)
        .map(|e| (e.1, e.2))
        .unwrap_or((0, 0))
}

/// T2's rawBandwidth: bytes on the wire × 8 over the report's duration, in float32 as T2
/// computes it.
pub fn bandwidth(bytes: u64, dur: Ts) -> f64 {
    // the seconds are added in double, then the duration is a float (checked on the
    // monitoring-dev rows: a float division of the nanoseconds is off in the last digit)
    let mut f = (dur.sec as u32 as f64 + dur.nsec as f64 / 1e9) as f32;
    if f == 0.0 {
        f = f32::MIN_POSITIVE;
    }
    f *= 0.125f32;
    (bytes as f32 / f) as f64
}

/// Merges one plugin monitoring value of two workers: hex aggregates are OR-ed, decimal
/// counters added (floats keep the first one's decimals).
pub fn merge_value(a: &str, b: &str) -> String {
    let hex = |s: &str| {
        s.strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
    };
    if let (Some(x), Some(y)) = (hex(a), hex(b)) {
        let width = a.len().max(b.len()) - 2;
        let v = x | y;
        let s = format!("{v:x}");
        // keep a zero-padded width if the inputs were padded
        return if s.len() < width && (a.len() == b.len()) && a.starts_with("0x0") {
            format!("0x{v:0width$x}")
        } else {
            format!("0x{s}")
        };
    }
    if let (Ok(x), Ok(y)) = (a.parse::<u64>(), b.parse::<u64>()) {
        return (x + y).to_string();
    }
    if let (Ok(x), Ok(y)) = (a.parse::<i64>(), b.parse::<i64>()) {
        return (x + y).to_string();
    }
    if let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) {
        let dec = a.split_once('.').map(|(_, d)| d.len()).unwrap_or(0);
        return format!("{:.*}", dec, x + y);
    }
    a.to_string()
}

impl Formatter {
    pub fn new(cfg: MonConfig, info: InputInfo) -> Formatter {
        Formatter {
            cfg,
            info,
            prev: None,
        }
    }

    fn rep_char(&self) -> char {
        if self.cfg.diff {
            'D'
        } else {
            'A'
        }
    }

    /// The machine header line (written once at start-up).
    pub fn machine_header(&self, live: bool, workers: usize) -> String {
        let mut h = String::from("%repType\tsensorID\ttime\tduration\t");
        if live {
            h.push_str("pktsRec\tpktsDrp\tifDrp\t");
        }
        h.push_str(
            "memUsageKB\tfillSzHashMap\tnumFlows\tnumAFlows\tnumBFlows\tnumPkts\tnumAPkts\tnumBPkts\t\
numL2Pkts\tnumV4Pkts\tnumV6Pkts\tnumVxPkts\tnumBytes\tnumABytes\tnumBBytes\tnumFrgV4Pkts\t\
numFrgV6Pkts\tnumAlarms\trawBandwidth\tglobalWarn",
        );
        for t in &self.cfg.l2 {
            h.push_str(&format!("\t0x{t:04x}Pkts\t0x{t:04x}Bytes"));
        }
        for &p in &self.cfg.l3 {
            let n = match (self.cfg.proto_names, super::proto::l3_name(p)) {
                (true, Some(n)) => n.to_string(),
                _ => p.to_string(),
            };
            h.push_str(&format!("\t{n}Pkts\t{n}Bytes"));
        }
        for (_, cols) in &self.info.plugin_cols {
            for c in cols {
                h.push('\t');
                h.push_str(c);
            }
        }
        if live {
            h.push('\t');
            h.push_str(SPLIT_COLUMN);
        }
        if self.cfg.worker_cols {
            for i in 0..workers {
                h.push_str(&format!(
                    "\tw{i}Pkts\tw{i}Flows\tw{i}Live\tw{i}Ring\tw{i}RingFull"
                ));
                if live {
                    h.push_str(&format!("\tw{i}PktsRec\tw{i}PktsDrp"));
                }
            }
        }
        h.push('\n');
        h
    }

    /// The baseline of a differential report: the previous report, or zero at the first
    /// packet.
    fn base(&self, s: &Snapshot) -> Snapshot {
        match (&self.prev, self.cfg.diff) {
            (Some(p), true) => p.clone(),
            _ => Snapshot {
                ts: s.first_ts,
                first_ts: s.first_ts,
                c: Counters::default(),
                workers: vec![WorkerView::default(); s.workers.len()],
                ..Default::default()
            },
        }
    }

    /// Formats a report (machine row or human report) and moves the baseline.
    pub fn report(&mut self, s: &Snapshot) -> String {
        let out = if self.cfg.machine {
            self.machine_row(s)
        } else {
            self.human(s)
        };
        self.prev = Some(s.clone());
        out
    }

    pub fn machine_row(&self, s: &Snapshot) -> String {
        let b = self.base(s);
        let c = delta(&s.c, &b.c);
        let dur = s.ts.t2_duration(b.ts);
        let mut o: Vec<u8> = Vec::with_capacity(512);
        o.extend_from_slice(b"USR1MR_");
        o.push(self.rep_char() as u8);
        o.push(b'\t');
        tf::push_u64(&mut o, self.cfg.sensor);
        o.push(b'\t');
        tf::push_ts(&mut o, s.ts.sec, s.ts.nsec);
        o.push(b'\t');
        tf::push_ts(&mut o, dur.sec, dur.nsec);
        o.push(b'\t');
        let tab = |o: &mut Vec<u8>, v: u64| {
            tf::push_u64(o, v);
            o.push(b'\t');
        };
        if let Some((rec, drp, ifd)) = s.live {
            let (r0, d0, i0) = b.live.unwrap_or((0, 0, 0));
            tab(&mut o, rec.wrapping_sub(r0));
            tab(&mut o, drp.wrapping_sub(d0));
            tab(&mut o, ifd.wrapping_sub(i0));
        }
        tf::push_i64(&mut o, s.mem_kb as i64 - b.mem_kb as i64);
        o.push(b'\t');
        tf::push_i64(&mut o, s.fill as i64 - b.fill as i64);
        o.push(b'\t');
        for v in [
            c.total_a + c.total_b,
            c.total_a,
            c.total_b,
            c.packets,
            c.num_a,
            c.num_b,
            c.num_l2,
            c.num_v4,
            c.num_v6,
            c.num_vx,
            c.processed_bytes,
            c.a_bytes,
            c.b_bytes,
            c.frag_v4,
            c.frag_v6,
            c.alarms,
        ] {
            tab(&mut o, v);
        }
        tf::push_fixed(&mut o, bandwidth(c.raw_bytes, dur), 3);
        o.push(b'\t');
        tf::push_hex(&mut o, s.c.global_warn, 16);
        for &t in &self.cfg.l2 {
            let (p, by) = l2_count(&c, t);
            o.push(b'\t');
            tf::push_u64(&mut o, p);
            o.push(b'\t');
            tf::push_u64(&mut o, by);
        }
        for &p in &self.cfg.l3 {
            o.push(b'\t');
            tf::push_u64(&mut o, c.proto_pkts[p as usize]);
            o.push(b'\t');
            tf::push_u64(&mut o, c.proto_bytes[p as usize]);
        }
        for v in &s.plugin_vals {
            o.push(b'\t');
            o.extend_from_slice(v.as_bytes());
        }
        if let Some(n) = s.split {
            o.push(b'\t');
            tf::push_u64(&mut o, n.saturating_sub(b.split.unwrap_or(0)));
        }
        if self.cfg.worker_cols {
            for (i, w) in s.workers.iter().enumerate() {
                let w0 = b.workers.get(i).cloned().unwrap_or_default();
                for v in [
                    w.packets.saturating_sub(w0.packets),
                    w.flows.saturating_sub(w0.flows),
                    w.live,
                    w.ring,
                    w.ring_full.saturating_sub(w0.ring_full),
                ] {
                    o.push(b'\t');
                    tf::push_u64(&mut o, v);
                }
                if let Some((r, d)) = w.source {
                    let (r0, d0) = w0.source.unwrap_or_default();
                    for v in [r.saturating_sub(r0), d.saturating_sub(d0)] {
                        o.push(b'\t');
                        tf::push_u64(&mut o, v);
                    }
                }
            }
        }
        o.push(b'\n');
        String::from_utf8(o).unwrap_or_default()
    }

    /// The human report: the Anteater, the monitoring header, then the end report's body for
    /// the period (D) or since the start (A), the hash-map fill and the per-worker lines.
    pub fn human(&self, s: &Snapshot) -> String {
        let b = self.base(s);
        let mut c = delta(&s.c, &b.c);
        c.first_ts = Some(b.ts);
        c.last_ts = s.ts;
        let dur = s.ts.t2_duration(b.ts);
        let mut l: Vec<String> = vec![String::new()];
        l.extend(ANTEATER.iter().map(|a| format!("{a:^80}")));
        l.push(format!(
            "USR1 {} type report: tamandua {} (Tranalyzer2 0.9.3 compatible). PID: {}",
            self.rep_char(),
            crate::app::VERSION,
            std::process::id()
        ));
        l.push(report::date(
            "PCAP time: ",
            s.ts.sec,
            s.ts.nsec as i32 as i64,
        ));
        l.push(report::duration(
            "PCAP duration: ",
            dur.sec,
            dur.nsec as i64,
        ));
        l.push(report::date("Time: ", s.wall.0, s.wall.1 as i64).replace(" GMT)", " UTC)"));
        l.push(report::duration(
            "Elapsed time: ",
            s.elapsed.as_secs(),
            s.elapsed.subsec_nanos() as i64,
        ));
        l.extend(self.info.lines.iter().cloned());
        if let Some(total) = self.info.file_size.filter(|&t| t > 0) {
            let done = 24 + s.c.processed_bytes + 16 * s.c.packets;
            l.push(format!(
                "Total bytes to process: {total}{}",
                report::h(total, "")
            ));
            let pct = (100.0f32 * done as f32) / total as f32;
            l.push(format!("Percentage completed: {pct:.2}%"));
            l.push(format!(
                "Total bytes processed so far: {done}{}",
                report::h(done, "")
            ));
            let el = s.elapsed.as_secs_f64();
            let rem = if done > 0 && total > done {
                el * (total - done) as f64 / done as f64
            } else {
                0.0
            };
            let remd = Duration::from_secs_f64(rem.max(0.0));
            l.push(report::duration(
                "Remaining time: ",
                remd.as_secs(),
                remd.subsec_nanos() as i64,
            ));
            let etf = Duration::new(s.wall.0, s.wall.1) + remd;
            l.push(
                report::date("ETF: ", etf.as_secs(), etf.subsec_nanos() as i64)
                    .replace(" GMT)", " UTC)"),
            );
        }
        // plugin lines from the merged monitoring values
        let mut plugin_lines = Vec::new();
        let mut vals = s.plugin_vals.iter();
        for (name, cols) in &self.info.plugin_cols {
            let mut v = Vec::new();
            for col in cols {
                let Some(val) = vals.next() else { break };
                if let Some(h) = val.strip_prefix("0x") {
                    let x = u64::from_str_radix(h, 16).unwrap_or(0);
                    if x != 0 {
                        v.push(format!("Aggregated {col}={}", fmt_hex4(x)));
                    }
                } else if val != "0" && val != "0.000" {
                    v.push(format!("{col}: {val}"));
                }
            }
            plugin_lines.push((*name, v));
        }
        let ri = ReportInput {
            counters: &c,
            plugin_lines,
            file_size: None,
            pcapng: self.info.pcapng,
            peak_flows: s.peak,
            capacity_ref: self.info.capacity_ref,
            max_rss_kb: s.mem_kb,
            phys_mem_kb: crate::report::memory_kb().1,
            wall_seconds: 0.0,
            workers: s.workers.len(),
            per_worker: Vec::new(),
        };
        let body = report::body(&ri);
        let mut fill = Vec::new();
        report::nump(
            &mut fill,
            "Fill size of main hash map",
            s.fill,
            self.info.capacity_ref,
        );
        let at = body
            .iter()
            .position(|x| x.starts_with("Max number of flows in memory"))
            .or_else(|| body.iter().position(|x| x.starts_with("Memory usage")))
            .unwrap_or(body.len());
        for (i, x) in body.into_iter().enumerate() {
            if i == at {
                l.append(&mut fill);
            }
            l.push(x);
        }
        l.append(&mut fill);
        if let Some((rec, drp, ifd)) = s.live {
            let (r0, d0, i0) = b.live.unwrap_or((0, 0, 0));
            l.push(format!(
                "Live capture: pktsRec {}, pktsDrp {}, ifDrp {}",
                rec.saturating_sub(r0),
                drp.saturating_sub(d0),
                ifd.saturating_sub(i0)
            ));
        }
        if let Some(n) = s.split {
            l.push(format!(
                "Number of flows split across workers (lower bound): {}",
                n.saturating_sub(b.split.unwrap_or(0))
            ));
        }
        if s.workers.len() > 1 {
            for (i, w) in s.workers.iter().enumerate() {
                let w0 = b.workers.get(i).cloned().unwrap_or_default();
                let src = match (w.source, w0.source.unwrap_or_default()) {
                    (Some((r, d)), (r0, d0)) => format!(
                        ", pktsRec {}, pktsDrp {}",
                        r.saturating_sub(r0),
                        d.saturating_sub(d0)
                    ),
                    _ => String::new(),
                };
                l.push(format!(
                    "tamandua: worker {i}: {} packets, {} flows created, {} flows in memory, ring {}/{}, ring full {} times{src}",
                    w.packets.saturating_sub(w0.packets),
                    w.flows.saturating_sub(w0.flows),
                    w.live,
                    w.ring,
                    w.ring_cap,
                    w.ring_full.saturating_sub(w0.ring_full)
                ));
            }
        }
        l.push("=".repeat(80));
        l.push(String::new());
        let mut out = l.join("\n");
        out.push('\n');
        out
    }
}

/// `0x%04x`.
fn fmt_hex4(v: u64) -> String {
    format!("0x{v:04x}")
}

const ANTEATER: [&str; 6] = [
    "@      @",
    "|    |",
    "===============================vVv==(a    a)==vVv===============================",
    "=====================================\\    /=====================================",
    "======================================\\  /======================================",
    "oo",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_values() {
        assert_eq!(merge_value("0x40", "0xa13"), "0xa53");
        assert_eq!(merge_value("0x0", "0x0"), "0x0");
        assert_eq!(merge_value("3", "4"), "7");
        assert_eq!(merge_value("1.500", "2.250"), "3.750");
    }

    #[test]
    fn bandwidth_as_t2() {
        // teams, first report: 447 bytes in 0.675298 s
        let v = bandwidth(447, Ts::new(0, 675_298_000));
        let mut o = Vec::new();
        tf::push_fixed(&mut o, v, 3);
        assert_eq!(String::from_utf8(o).unwrap(), "5295.440");
    }

    fn live_cfg(diff: bool) -> MonConfig {
        MonConfig {
            machine: true,
            diff,
            pcap_time: false,
            start_on: false,
            psync: true,
            interval: 1.0,
            proto_names: true,
            l2: vec![],
            l3: vec![],
            worker_cols: true,
            sensor: 666,
        }
    }

    fn live_snapshot(rec: u64, drp: u64, ifd: u64, split: u64) -> Snapshot {
        Snapshot {
            ts: Ts::new(100, 0),
            first_ts: Ts::new(99, 0),
            live: Some((rec, drp, ifd)),
            split: Some(split),
            workers: vec![
                WorkerView {
                    source: Some((rec - 1, drp)),
                    ..Default::default()
                },
                WorkerView {
                    source: Some((1, 0)),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    /// The value of column `name` in a machine row.
    fn column(header: &str, row: &str, name: &str) -> String {
        let i = header
            .trim_end()
            .split('\t')
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        row.trim_end().split('\t').nth(i).unwrap().to_string()
    }

    #[test]
    fn live_rows_carry_source_counters_and_split_flows() {
        let mut f = Formatter::new(live_cfg(true), InputInfo::default());
        let h = f.machine_header(true, 2);
        // T2's live columns follow duration
        assert!(h.starts_with(
            "%repType\tsensorID\ttime\tduration\tpktsRec\tpktsDrp\tifDrp\tmemUsageKB"
        ));
        assert_eq!(h.trim_end().split('\t').count(), 24 + 3 + 1 + 2 * 7);
        let r1 = f.report(&live_snapshot(10, 2, 1, 3));
        let r2 = f.report(&live_snapshot(25, 2, 4, 5));
        assert_eq!(h.split('\t').count(), r1.split('\t').count());
        for (name, first, second) in [
            ("pktsRec", "10", "15"),
            ("pktsDrp", "2", "0"),
            ("ifDrp", "1", "3"),
            (SPLIT_COLUMN, "3", "2"),
            ("w0PktsRec", "9", "15"),
            ("w1PktsRec", "1", "0"),
            ("w0PktsDrp", "2", "0"),
        ] {
            assert_eq!(column(&h, &r1, name), first, "{name}");
            assert_eq!(column(&h, &r2, name), second, "{name} (differential)");
        }
        // replay rows have none of them
        let g = Formatter::new(live_cfg(false), InputInfo::default());
        let rh = g.machine_header(false, 2);
        assert!(!rh.contains("pktsRec") && !rh.contains(SPLIT_COLUMN));
        // the human report says the same
        let mut hf = Formatter::new(
            MonConfig {
                machine: false,
                ..live_cfg(false)
            },
            InputInfo::default(),
        );
        let text = hf.report(&live_snapshot(10, 2, 1, 3));
        assert!(text.contains("Live capture: pktsRec 10, pktsDrp 2, ifDrp 1"));
        assert!(text.contains("Number of flows split across workers (lower bound): 3"));
        assert!(text.contains(", pktsRec 9, pktsDrp 2\n"));
    }

    #[test]
    fn anteater_is_centred_as_t2() {
        let l: Vec<String> = ANTEATER.iter().map(|a| format!("{a:^80}")).collect();
        assert_eq!(
            l[0],
            "                                    @      @                                    "
        );
        assert_eq!(
            l[1],
            "                                     |    |                                     "
        );
        assert_eq!(
            l[5],
            "                                       oo                                       "
        );
    }
}
