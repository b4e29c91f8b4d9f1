//! The end report (spec/core.md 13): the core's counters, the plugins' lines and the
//! warning/info lines, in T2's order and formats, plus our own wall-clock rates.

pub mod counters;

use crate::flowstat::*;
use crate::textfmt as tf;
use counters::Counters;

/// Human suffix `H(n)` as text.
pub fn h(n: u64, unit: &str) -> String {
    let mut v = Vec::new();
    tf::human_suffix(&mut v, n, unit);
    String::from_utf8(v).unwrap_or_default()
}

fn pct(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        100.0 * n as f64 / total as f64
    }
}

/// `label: n H(n)` when n > 0.
pub fn num(out: &mut Vec<String>, label: &str, n: u64) {
    if n > 0 {
        out.push(format!("{label}: {n}{}", h(n, "")));
    }
}

/// `label: n H(n) [p%]` when n > 0.
pub fn nump(out: &mut Vec<String>, label: &str, n: u64, total: u64) {
    if n > 0 {
        out.push(format!("{label}: {n}{} [{:.2}%]", h(n, ""), pct(n, total)));
    }
}

fn speed(out: &mut Vec<String>, label: &str, bytes_per_s: f64) {
    let bits = bytes_per_s * 8.0;
    out.push(format!("{label}: {bits:.0} b/s{}", h(bits as u64, "b/s")));
}

fn rate(out: &mut Vec<String>, label: &str, v: f64) {
    out.push(format!("{label}: {v:.2}{}", h(v as u64, "")));
}

/// `Dump start:`-style date line text.
pub fn date(prefix: &str, sec: u64, subsec: i64) -> String {
    let mut v = prefix.as_bytes().to_vec();
    tf::push_date_utc(&mut v, sec, subsec);
    String::from_utf8(v).unwrap_or_default()
}

/// `Total dump duration:`-style line text.
pub fn duration(prefix: &str, sec: u64, nsec: i64) -> String {
    let mut v = prefix.as_bytes().to_vec();
    tf::push_duration(&mut v, sec, nsec);
    String::from_utf8(v).unwrap_or_default()
}

/// T2's "Hash Autopilot" lines when flows were evicted at the table cap (`rm_flows` of them),
/// with the `-f` factor that would have held the table (`cap_total` flows over all workers).
pub fn eviction_lines(rm_flows: u64, cap_total: u64, from_budget: bool) -> Vec<String> {
    if rm_flows == 0 {
        return Vec::new();
    }
    let mut v = vec![
        "[WRN] Hash Autopilot: main HashMap full: flushing 1 oldest flow(s)".to_string(),
        format!(
            "[INF] Hash Autopilot: Fix: Invoke tamandua with '-f {}' (or raise MAX_FLOWS)",
            (cap_total / crate::app::T2_TABLE).max(1) * 2
        ),
    ];
    if from_budget {
        v.push("[INF] The flow-table cap came from the memory budget: raise --memory-budget (MEMORY_BUDGET) to keep more flows in memory".to_string());
    }
    v
}

/// Each plugin's end-report lines (T2's plugin sections): the workers' instances of every
/// plugin are merged first, then report against the run's totals.
pub fn plugin_lines(
    workers: impl Iterator<Item = Vec<Box<dyn crate::plugin::Plugin>>>,
    total: &Counters,
) -> Vec<(&'static str, Vec<String>)> {
    let totals = crate::plugin::ReportTotals {
        packets: total.packets,
        ab_bytes: total.a_bytes + total.b_bytes,
    };
    crate::plugin::merge_instances(workers)
        .iter()
        .map(|p| {
            let mut v = Vec::new();
            p.report(&totals, &mut v);
            (p.name(), v)
        })
        .collect()
}

/// The lines that close processing (core.md 13.2 item 10): dump stop, total dump duration,
/// elapsed processing time and the time until the flows were written.
pub fn closing_lines(
    start: crate::time::Ts,
    stop: crate::time::Ts,
    processing: std::time::Duration,
    total: std::time::Duration,
) -> Vec<String> {
    let dd = stop.t2_duration(start);
    vec![
        date("Dump stop : ", stop.sec, stop.nsec as i32 as i64),
        duration("Total dump duration: ", dd.sec, dd.nsec as i64),
        duration(
            "Finished processing. Elapsed time: ",
            processing.as_secs(),
            processing.subsec_nanos() as i64,
        ),
        duration(
            "Finished unloading flow memory. Time: ",
            total.as_secs(),
            total.subsec_nanos() as i64,
        ),
    ]
}

/// Everything the end report needs besides the counters.
pub struct ReportInput<'a> {
    pub counters: &'a Counters,
    /// (plugin name, its report lines) in plugin order.
    pub plugin_lines: Vec<(&'static str, Vec<String>)>,
    /// Size of the input file(s) in bytes, when known.
    pub file_size: Option<u64>,
    /// Bytes of the input consumed (for the completion percentage of pcapng files).
    pub pcapng: bool,
    pub peak_flows: u64,
    /// T2's table capacity the percentage of "Max number of flows in memory" refers to.
    pub capacity_ref: u64,
    pub max_rss_kb: u64,
    pub phys_mem_kb: u64,
    pub wall_seconds: f64,
    pub workers: usize,
    pub per_worker: Vec<WorkerLine>,
}

/// Per-worker figures for our own lines.
#[derive(Clone, Debug, Default)]
pub struct WorkerLine {
    pub packets: u64,
    pub flows: u64,
    pub ring_full: u64,
    pub evicted: u64,
}

/// The report body after "Finished unloading flow memory".
pub fn body(r: &ReportInput) -> Vec<String> {
    let c = r.counters;
    let mut o = Vec::new();
    let p = c.packets;
    let ab = c.ab_packets();
    let f = match c.first_ts {
        Some(first) => c.last_ts.diff_f64(first),
        None => 0.0,
    };
    if let Some(size) = r.file_size.filter(|&s| s > 0) {
        let v = (100.0f32 * (24 + c.processed_bytes + 16 * p) as f32) / size as f32;
        o.push(format!("Percentage completed: {:.2}%", v));
    }
    num(&mut o, "Number of processed packets", p);
    num(&mut o, "Number of processed bytes", c.processed_bytes);
    num(&mut o, "Number of raw bytes", c.raw_bytes);
    num(&mut o, "Number of pad bytes", c.pad_bytes.max(0) as u64);
    if let Some(size) = r.file_size {
        num(&mut o, "Number of pcap bytes", size);
    }
    nump(&mut o, "Number of L2 packets", c.num_l2, p);
    nump(&mut o, "Number of IPv4 packets", c.num_v4, p);
    nump(&mut o, "Number of IPv6 packets", c.num_v6, p);
    nump(&mut o, "Number of IPvX packets", c.num_vx, p);
    if p != ab && ab > 0 {
        nump(&mut o, "Number of packets without flow", p - ab, p);
    }
    nump(&mut o, "Number of A packets", c.num_a, ab);
    nump(&mut o, "Number of B packets", c.num_b, ab);
    let abb = c.a_bytes + c.b_bytes;
    nump(&mut o, "Number of A bytes", c.a_bytes, abb);
    nump(&mut o, "Number of B bytes", c.b_bytes, abb);
    let la = if c.num_a == 0 {
        0.0
    } else {
        c.a_bytes as f64 / c.num_a as f64
    };
    let lb = if c.num_b == 0 {
        0.0
    } else {
        c.b_bytes as f64 / c.num_b as f64
    };
    rate(&mut o, "<A packet load>", la);
    rate(&mut o, "<B packet load>", lb);
    o.push("-".repeat(80));
    for (name, lines) in &r.plugin_lines {
        for l in lines {
            o.push(format!("{name}: {l}"));
        }
    }
    o.push("-".repeat(80));
    let (hmin, hmax) = if p == 0 {
        (65535, 0)
    } else {
        (c.hdr_min, c.hdr_max)
    };
    o.push(format!(
        "Headers count: min: {hmin}, max: {hmax}, avg: {:.2}",
        c.hdr_avg
    ));
    let gw = c.global_warn;
    if gw & L2_VLAN != 0 {
        o.push(format!("Max VLAN header count: {}", r.counters_vlan_max()));
    }
    if gw & (L2_MPLS_UCAST | L2_MPLS_MCAST) != 0 {
        o.push(format!("Max MPLS header count: {}", r.counters_mpls_max()));
    }
    nump(&mut o, "Number of LLC packets", c.num_llc, p);
    nump(&mut o, "Number of ARP packets", c.arp, p);
    nump(&mut o, "Number of RARP packets", c.rarp, p);
    nump(&mut o, "Number of GRE packets", c.num_gre, p);
    nump(&mut o, "Number of Teredo packets", c.num_teredo, p);
    nump(&mut o, "Number of AYIYA packets", c.num_ayiya, p);
    nump(&mut o, "Number of IGMP packets", c.proto_pkts[2], p);
    nump(&mut o, "Number of ICMP packets", c.proto_pkts[1], p);
    nump(&mut o, "Number of ICMPv6 packets", c.proto_pkts[58], p);
    nump(&mut o, "Number of TCP packets", c.proto_pkts[6], p);
    nump(
        &mut o,
        "Number of TCP bytes",
        c.proto_bytes[6],
        c.processed_bytes,
    );
    nump(&mut o, "Number of UDP packets", c.proto_pkts[17], p);
    nump(
        &mut o,
        "Number of UDP bytes",
        c.proto_bytes[17],
        c.processed_bytes,
    );
    if gw & L4_SCTP != 0 {
        nump(&mut o, "Number of SCTP packets", c.proto_pkts[132], p);
        nump(
            &mut o,
            "Number of SCTP bytes",
            c.proto_bytes[132],
            c.processed_bytes,
        );
    }
    nump(&mut o, "Number of DTLS packets", c.dtls_records, p);
    nump(
        &mut o,
        "Number of IPv4 fragmented packets",
        c.frag_v4,
        c.num_v4,
    );
    nump(
        &mut o,
        "Number of IPv6 fragmented packets",
        c.frag_v6,
        c.num_v6,
    );
    o.push("~".repeat(80));
    let t = c.total_flows();
    if t > 0 {
        num(&mut o, "Number of processed      flows", t);
        nump(&mut o, "Number of processed L2   flows", c.total_l2, t);
        nump(&mut o, "Number of processed IPv4 flows", c.total_v4, t);
        nump(&mut o, "Number of processed IPv6 flows", c.total_v6, t);
        nump(&mut o, "Number of processed A    flows", c.total_a, t);
        nump(&mut o, "Number of processed B    flows", c.total_b, t);
        let req = c.total_a - c.corr_repl.min(c.total_a);
        let rep = c.total_b + c.corr_repl;
        nump(&mut o, "Number of request        flows", req, t);
        nump(&mut o, "Number of reply          flows", rep, t);
        o.push(format!(
            "Total   A/B    flow asymmetry: {:.2}",
            (c.total_a as f64 - c.total_b as f64) / t as f64
        ));
        o.push(format!(
            "Total req/rply flow asymmetry: {:.2}",
            (req as f64 - rep as f64) / t as f64
        ));
        if ab > 0 {
            rate(
                &mut o,
                "Number of processed A+B packets/A+B flows",
                ab as f64 / t as f64,
            );
        }
        if c.total_a > 0 {
            rate(
                &mut o,
                "Number of processed A   packets/A   flows",
                c.num_a as f64 / c.total_a as f64,
            );
        }
        if c.total_b > 0 {
            rate(
                &mut o,
                "Number of processed   B packets/  B flows",
                c.num_b as f64 / c.total_b as f64,
            );
        }
    }
    if f > 0.0 {
        rate(&mut o, "Number of processed total packets/s", p as f64 / f);
        if ab > 0 {
            rate(&mut o, "Number of processed A+B   packets/s", ab as f64 / f);
            if c.num_a > 0 {
                rate(
                    &mut o,
                    "Number of processed A     packets/s",
                    c.num_a as f64 / f,
                );
            }
            if c.num_b > 0 {
                rate(
                    &mut o,
                    "Number of processed   B   packets/s",
                    c.num_b as f64 / f,
                );
            }
        }
    }
    o.push("~".repeat(80));
    if f > 0.0 {
        rate(&mut o, "<Number of processed flows/s>", t as f64 / f);
        speed(&mut o, "<Bandwidth>", c.bytes_on_wire as f64 / f);
        if gw & (L2SNAPLENGTH | L3SNAPLENGTH) != 0 {
            speed(&mut o, "<Snapped bandwidth>", c.processed_bytes as f64 / f);
        }
        speed(&mut o, "<Raw bandwidth>", c.raw_bytes as f64 / f);
    }
    nump(
        &mut o,
        "Max number of flows in memory",
        r.peak_flows,
        r.capacity_ref,
    );
    nump(
        &mut o,
        "Number of flows terminated by autopilot",
        c.rm_flows,
        t,
    );
    if c.alarms > 0 {
        o.push(format!(
            "[WRN] {} alarms in {} flows [{:.2}%]",
            c.alarms,
            c.alarm_flows,
            pct(c.alarm_flows, t)
        ));
    }
    o.push(format!(
        "Memory usage: {:.2} GB [{:.2}%]",
        r.max_rss_kb as f64 / 1e6,
        if r.phys_mem_kb == 0 {
            0.0
        } else {
            100.0 * r.max_rss_kb as f64 / r.phys_mem_kb as f64
        }
    ));
    o.push(format!("Aggregated flowStat=0x{gw:016x}"));
    o.extend(status_lines(gw));
    // our own lines: rates against wall-clock time and the per-worker view
    if r.wall_seconds > 0.0 {
        o.push(format!(
            "tamandua: wall-clock rate: {:.0} packets/s, {:.0} b/s raw, {} worker(s)",
            p as f64 / r.wall_seconds,
            c.raw_bytes as f64 * 8.0 / r.wall_seconds,
            r.workers
        ));
    }
    if r.per_worker.len() > 1 {
        for (i, w) in r.per_worker.iter().enumerate() {
            o.push(format!(
                "tamandua: worker {i}: {} packets, {} flows, ring full {} times, {} flows evicted",
                w.packets, w.flows, w.ring_full, w.evicted
            ));
        }
    }
    if c.no_create_drops > 0 {
        o.push(format!(
            "[INF] {} packets without flow after flow creation was stopped",
            c.no_create_drops
        ));
    }
    o
}

impl ReportInput<'_> {
    fn counters_vlan_max(&self) -> u32 {
        self.counters.vlan_max
    }
    fn counters_mpls_max(&self) -> u32 {
        self.counters.mpls_max
    }
}

/// The `[WRN]`/`[INF]` lines for the bits of the aggregated flowStat (core.md 13.4).
pub fn status_lines(gw: u64) -> Vec<String> {
    let mut o = Vec::new();
    let mut w = |bit: u64, s: &str| {
        if gw & bit != 0 {
            o.push(s.to_string());
        }
    };
    w(L2SNAPLENGTH, "[WRN] L2 header snapped");
    w(L3SNAPLENGTH, "[WRN] L3 SnapLength < Length in IP header");
    w(L3HDRSHRTLEN, "[WRN] L3 header snapped");
    w(L4HDRSHRTLEN, "[WRN] L4 header snapped");
    w(LANDATTACK, "[WRN] Land attack");
    w(
        TIMEJUMP,
        "[WRN] Timestamp jump, probably due to multi-path packet delay or NTP operation",
    );
    w(DUPIPID, "[WRN] Consecutive duplicate IP ID");
    w(
        PCAPSNPD,
        "[WRN] PCAP packet length > IO_BUFFER_MAX_MTU, caplen reduced",
    );
    w(HDOVRN, "[WRN] Header description overrun");
    w(L3_IPVX, "[WRN] IPvX L3 header bogus packets");
    w(IPV4_HL_TOO_SHORT, "[WRN] IPv4 header length < 20 bytes");
    w(IP_PL_MSMTCH, "[WRN] IPv4/6 payload length > framing length");
    w(
        IPV4_FRAG_HDSEQ_ERR,
        "[WRN] IPv4/6 fragmentation header packet missing",
    );
    w(
        IPV4_FRAG_PENDING,
        "[WRN] IPv4/6 packet fragmentation sequence not finished",
    );
    w(
        STPDSCT,
        "[INF] Stop dissecting: Clipped packet, unhandled protocol or subsequent fragment",
    );
    w(L2_FLOW, "[INF] Layer 2 flows");
    w(LAPD_FLOW, "[INF] LAPD flows");
    w(L2_IPV4 | FS_IPV4_PKT, "[INF] IPv4 flows");
    w(L2_IPV6 | FS_IPV6_PKT, "[INF] IPv6 flows");
    w(L4_SCTP, "[INF] SCTP");
    w(L2_NO_ETH, "[INF] No Ethernet header");
    w(L2_ARP, "[INF] ARP");
    w(L2_RARP, "[INF] RARP");
    w(L2_LLDP, "[INF] LLDP");
    w(L3_ETHIPF, "[INF] EtherIP");
    w(L2_VLAN, "[INF] VLAN encapsulation");
    w(FS_VLAN0, "[INF] VLAN ID 0 (priority tag)");
    w(IPV4_FRAG, "[INF] IPv4/6 fragmentation");
    w(L3_IPIP, "[INF] IPv4/6 in IPv4/6");
    w(L3_VXLAN, "[INF] VXLAN encapsulation");
    w(L3_GENEVE, "[INF] GENEVE encapsulation");
    w(L2_MPLS_UCAST | L2_MPLS_MCAST, "[INF] MPLS encapsulation");
    w(L2_L2TP, "[INF] L2TP encapsulation");
    w(L2_PPP, "[INF] PPP/HDLC encapsulation");
    w(L2_GRE, "[INF] GRE encapsulation");
    w(L2_ERSPAN, "[INF] ERSPAN encapsulation");
    w(L2_WCCP, "[INF] WCCP encapsulation");
    w(L3_AYIYA, "[INF] AYIYA tunnel");
    w(L3_GTP, "[INF] GTP tunnel");
    w(L3_TRDO, "[INF] Teredo tunnel");
    w(L3_CAPWAP, "[INF] CAPWAP/LWAPP tunnel");
    w(L3_IPSEC_AH, "[INF] IPsec AH");
    w(L3_IPSEC_ESP, "[INF] IPsec ESP");
    w(L4_UPNP, "[INF] SSDP/UPnP");
    w(L7_SIPRTP, "[INF] SIP/RTP");
    w(L7_DTLS, "[INF] DTLS");
    w(TORADD, "[INF] Tor addresses");
    w(FL_ALARM, "[INF] IPAlarm");
    o
}

/// Peak resident memory of this process in KB (from /proc), and the machine's memory.
/// Problem files of a multi-file input (`-R`, `-D`): (file, what went wrong) in the order met.
pub fn problem_files(list: &[(String, String)], files_opened: usize) -> Vec<String> {
    let mut o = vec![format!(
        "[WRN] Problem files: {} ({} files opened; what was read before a fault was kept)",
        list.len(),
        files_opened
    )];
    for (file, what) in list {
        let what = what.strip_prefix(&format!("{file}: ")).unwrap_or(what);
        o.push(format!("[WRN]     {file}: {what}"));
    }
    o
}

pub fn memory_kb() -> (u64, u64) {
    let read = |path: &str, key: &str| -> u64 {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    };
    (
        read("/proc/self/status", "VmHWM:"),
        read("/proc/meminfo", "MemTotal:"),
    )
}
