//! The memory budget: how much resident memory a run may use, turned into the flow-table cap.
//!
//! A run's memory is a fixed part (program, pipeline buffers: the reader-to-worker rings hold
//! `RING_BATCHES` batches of `BATCH_PACKETS` packets per worker, and the output rings as many
//! formatted batches) plus a part proportional to the flows in memory. The per-flow part
//! depends on the plugins: each keeps slot-indexed state per flow. The figures below were
//! measured as peak-RSS growth per flow under a flow flood (`docs/batch.md` gives the method
//! and the commands), taking the worst case over table sizes: the tables grow by doubling, so
//! a cap just above a power of two pays for the copy as well.
//!
//! When the cap is reached the oldest flow is written early, marked `RMFLOW_HFULL` and counted
//! (the core's eviction), so a flood costs flow splitting, never an out-of-memory kill.

use crate::config::Setting;

/// The settings this module reads.
pub const SETTINGS: &[Setting] = &[(
    "MEMORY_BUDGET",
    "auto",
    "Resident memory the run may use, e.g. 8G, 512M (K/M/G/T are powers of 1024): the flow-table cap is derived from it; 'auto' = half the RAM (or of the cgroup limit); 0 = no budget (the table grows as needed unless MAX_FLOWS or -f cap it)",
)];

/// Peak resident bytes per flow of the core (flow arena, hash index, LRU links, output
/// records of evicted flows in flight).
pub const CORE_BYTES_PER_FLOW: u64 = 450;
/// Per-flow bytes of the compiled-in plugins (their slot-indexed state).
pub const PLUGIN_BYTES_PER_FLOW: &[(&str, u64)] = &[
    ("basicFlow", 270),
    ("basicStats", 430),
    ("tcpFlags", 1300),
    ("tcpStates", 850),
];
/// A plugin without a measured figure is assumed to cost this much per flow.
pub const UNKNOWN_PLUGIN_BYTES_PER_FLOW: u64 = 1024;
/// The process before any flow: code, allocator, start-up buffers.
pub const BASE_BYTES: u64 = 24 << 20;
/// Below this many flows per worker the budget is refused as too small.
pub const MIN_FLOWS_PER_WORKER: u64 = 1024;

/// Parses a size: a number with an optional K, M, G or T suffix (powers of 1024, an optional
/// trailing `B` or `iB` is accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mul) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 512M, 8G)"))?;
    if v.is_nan() || v < 0.0 || !v.is_finite() {
        return Err(format!("'{s}' is not a size (e.g. 512M, 8G)"));
    }
    Ok((v * mul as f64) as u64)
}

/// Physical memory of the machine and the cgroup limit, whichever is smaller (bytes).
pub fn available_memory() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .filter_map(|s| s.trim().parse::<u64>().ok())
    .filter(|&v| v > 0 && v < (1u64 << 60))
    .min();
    match (total, cgroup) {
        (Some(t), Some(c)) => Some(t.min(c)),
        (t, c) => t.or(c),
    }
}

/// Per-flow bytes of the core plus the selected analysis plugins.
pub fn bytes_per_flow(plugins: &[String]) -> u64 {
    CORE_BYTES_PER_FLOW
        + plugins
            .iter()
            .map(|p| {
                PLUGIN_BYTES_PER_FLOW
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(p))
                    .map_or(UNKNOWN_PLUGIN_BYTES_PER_FLOW, |(_, b)| *b)
            })
            .sum::<u64>()
}

/// The pipeline's buffers: per worker, the packet batches circulating between the reader and
/// the worker (input ring plus free ring; each packet: its 200-byte entry, its header
/// description and its bytes, taken as up to 600 on average) and the output batches in flight.
pub fn pipeline_bytes(workers: usize, ring_batches: u64, batch_packets: u64, snap: u32) -> u64 {
    let entry = std::mem::size_of::<crate::dispatch::batch::PktEntry>() as u64;
    let per_packet = entry + 64 + u64::from(snap.clamp(64, 600));
    let batches = 2 * ring_batches + 4;
    let in_flight = batches * batch_packets * per_packet;
    // output batches: formatted records, typically a few dozen per batch
    let out = batches * (32 << 10);
    workers as u64 * (in_flight + out)
}

/// The pipeline of a live capture: no reader-to-worker rings (each worker reads its own
/// source), the output batches in flight as in replay, and the capture buffers the kernel
/// shares with the process (AF_PACKET rings, AF_XDP UMEMs, the libpcap buffer), which are
/// resident once traffic has filled them.
pub fn live_pipeline_bytes(workers: usize, ring_batches: u64, capture_bytes: u64) -> u64 {
    let out = (2 * ring_batches + 4) * (32 << 10);
    workers as u64 * out + capture_bytes
}

/// Where the budget came from, for the report line.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Given with `--memory-budget` or `MEMORY_BUDGET`.
    Given,
    /// Half of this much memory.
    Auto(u64),
}

/// The outcome: the flow cap for the whole run and per worker.
#[derive(Clone, Debug)]
pub struct Plan {
    pub budget: u64,
    pub source: Source,
    pub bytes_per_flow: u64,
    pub fixed: u64,
    pub total_flows: u64,
    pub per_worker: u64,
}

impl Plan {
    /// The report line.
    pub fn line(&self) -> String {
        let src = match self.source {
            Source::Given => String::new(),
            Source::Auto(m) => format!(" (auto: half of {})", human(m)),
        };
        format!(
            "[INF] Memory budget: {}{src}: up to {} flows in memory ({} per worker, ~{} B per flow, {} fixed)",
            human(self.budget),
            self.total_flows,
            self.per_worker,
            self.bytes_per_flow,
            human(self.fixed)
        )
    }
}

/// `1.50 GiB`-style text.
pub fn human(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.2} {}", U[i])
    }
}

/// Turns a budget setting (`auto`, `0`, or a size) into a flow cap, given the pipeline's
/// buffers ([`pipeline_bytes`] for replay, [`live_pipeline_bytes`] for live capture).
/// `Ok(None)`: no budget.
pub fn plan(
    setting: &str,
    plugins: &[String],
    workers: usize,
    pipeline: u64,
) -> Result<Option<Plan>, String> {
    let s = setting.trim();
    let (budget, source) = if s.eq_ignore_ascii_case("auto") || s.is_empty() {
        match available_memory() {
            Some(m) => (m / 2, Source::Auto(m)),
            None => return Ok(None),
        }
    } else {
        let b = parse_size(s).map_err(|e| format!("MEMORY_BUDGET: {e}"))?;
        if b == 0 {
            return Ok(None);
        }
        (b, Source::Given)
    };
    let workers = workers.max(1);
    let bpf = bytes_per_flow(plugins);
    let fixed = BASE_BYTES + pipeline;
    let min = fixed + MIN_FLOWS_PER_WORKER * workers as u64 * bpf;
    if budget < min {
        return Err(format!(
            "memory budget {} is too small for {workers} worker(s): the pipeline needs about {} and the flow tables at least {} (lower RING_BATCHES/BATCH_PACKETS, the capture buffers, or use fewer workers)",
            human(budget),
            human(fixed),
            human(min - fixed)
        ));
    }
    let per_worker = (budget - fixed) / bpf / workers as u64;
    Ok(Some(Plan {
        budget,
        source,
        bytes_per_flow: bpf,
        fixed,
        total_flows: per_worker * workers as u64,
        per_worker,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert!(parse_size("x").is_err());
        assert!(parse_size("-1G").is_err());
    }

    #[test]
    fn the_cap_follows_the_budget() {
        let p = vec!["basicFlow".to_string(), "basicStats".to_string()];
        let pipe = pipeline_bytes(2, 64, 256, 65535);
        let a = plan("512M", &p, 2, pipe).unwrap().unwrap();
        let b = plan("1G", &p, 2, pipe).unwrap().unwrap();
        assert!(b.total_flows > 2 * a.total_flows - 10);
        assert_eq!(a.total_flows, a.per_worker * 2);
        assert!(a.fixed + a.total_flows * a.bytes_per_flow <= a.budget);
        assert!(plan("0", &p, 2, pipe).unwrap().is_none());
        assert!(plan("1M", &p, 2, pipe).is_err());
        // an unknown plugin is costed conservatively
        let q = vec!["someNewPlugin".to_string()];
        assert_eq!(
            bytes_per_flow(&q),
            CORE_BYTES_PER_FLOW + UNKNOWN_PLUGIN_BYTES_PER_FLOW
        );
    }

    #[test]
    fn live_capture_buffers_come_out_of_the_budget() {
        let p = vec!["basicFlow".to_string(), "basicStats".to_string()];
        let small = live_pipeline_bytes(2, 64, 4 << 20);
        let big = live_pipeline_bytes(2, 64, 256 << 20);
        assert_eq!(big - small, (256 << 20) - (4 << 20));
        let a = plan("512M", &p, 2, small).unwrap().unwrap();
        let b = plan("512M", &p, 2, big).unwrap().unwrap();
        // 252 MiB more of capture buffers: that many bytes fewer for flows
        let fewer = (a.total_flows - b.total_flows) * a.bytes_per_flow;
        assert!(
            fewer.abs_diff(252 << 20) < 2 * 2 * a.bytes_per_flow,
            "{fewer}"
        );
        assert!(b.fixed + b.total_flows * b.bytes_per_flow <= b.budget);
        // buffers alone larger than the budget: refused, not a zero cap
        assert!(plan("128M", &p, 2, live_pipeline_bytes(2, 64, 200 << 20)).is_err());
    }
}
