//! Command line: T2's flags where T2 has them, explained by `--help`.

use clap::Parser;

#[derive(Parser, Debug, Clone, Default)]
#[command(
    name = "tamandua",
    version,
    about = "Multi-core network flow analyzer writing Tranalyzer2-compatible flow, packet and report files",
    long_about = "Reads packets, groups them into bidirectional A/B flows, runs analysis plugins and writes \
PREFIX_flows.txt, PREFIX_headers.txt (and PREFIX_packets.txt with -s) in Tranalyzer2 0.9.3's formats. \
Packets are dissected once by a reader thread, spread over pinned workers by a symmetric flow hash \
(each worker owns its share of the flow table) and written by one writer thread in a deterministic order.",
    after_help = "Examples:\n  tamandua -r capture.pcap -w out/          # out/capture_flows.txt, out/capture_headers.txt\n  tamandua -r x.pcapng -w out/ -c 0,1 -s     # two workers on CPUs 0 and 1, packet mode\n  tamandua -r x.pcap -o FLOW_TIMEOUT=60 --plugins basicFlow,basicStats,jsonSink\n  tamandua --list-settings                   # every -o NAME of the selected plugins\n  tamandua -r x.pcap -o MACHINE_REPORT=1 -o MONINTTMPCP=1   # a monitoring row per pcap second\n  tamandua ctl --help                        # reports, periodic reports, stop: running instances"
)]
pub struct Cli {
    /// Read packets from a pcap or pcapng file ('-' for standard input)
    #[arg(short = 'r', value_name = "FILE")]
    pub read: Option<String>,

    /// Output prefix: a path prefix, or a folder (trailing '/' or existing) to name outputs after
    /// the input; '-' writes flows to standard output
    #[arg(short = 'w', value_name = "PREFIX")]
    pub write: Option<String>,

    /// Packet mode: also write PREFIX_packets.txt, one line per packet in capture order
    #[arg(short = 's')]
    pub packet_mode: bool,

    /// Write the end report to PREFIX_log.txt instead of standard output
    #[arg(short = 'l')]
    pub log_file: bool,

    /// CPUs to pin one worker each to: '2', '0,1', '0-3' (default: one worker per available CPU).
    /// The other threads (reader, writer, monitor) then run on the remaining CPUs, if any; with a
    /// worker on every CPU the reader keeps off the busiest worker's CPU
    #[arg(short = 'c', value_name = "CPU-LIST")]
    pub cpus: Option<String>,

    /// Flow-table cap as T2's hash factor: at most 262144 x F flows, the oldest are evicted (marked
    /// RMFLOW_HFULL and counted) beyond it. Default: the table grows as needed
    #[arg(short = 'f', value_name = "F")]
    pub hash_factor: Option<u64>,

    /// Set a configuration value by its T2 name (repeatable), e.g. -o FLOW_TIMEOUT=60
    #[arg(short = 'o', value_name = "NAME=VALUE")]
    pub set: Vec<String>,

    /// Read configuration values from a TOML file of NAME = value pairs
    #[arg(long = "config", value_name = "FILE")]
    pub config: Option<String>,

    /// Plugins to run, in order (sinks: txtSink, jsonSink)
    #[arg(long = "plugins", value_name = "LIST", default_value = crate::plugins::DEFAULT)]
    pub plugins: String,

    /// List the available plugins and exit
    #[arg(long = "list-plugins")]
    pub list_plugins: bool,

    /// List every configuration name (-o) of the selected plugins with its value and exit
    #[arg(long = "list-settings")]
    pub list_settings: bool,

    // ---- monitoring (src/monitor; `tamandua ctl` controls a running instance)
    /// Write monitoring reports to PREFIX_monitoring.txt instead of standard output
    #[arg(short = 'm')]
    pub monitoring_file: bool,

    /// Monitoring interval in seconds (MONINTV): periodic reports (SIGUSR2, MONINTTMPCP_ON or
    /// the pcap time base MONINTTMPCP=1) come every SECONDS
    #[arg(short = 'M', value_name = "SECONDS")]
    pub monitoring_interval: Option<f64>,

    /// Serve Prometheus metrics (packets, flows, per-worker counters, ring occupancy) at
    /// http://ADDR:PORT/metrics; a bare PORT listens on 127.0.0.1
    #[arg(long = "metrics", value_name = "ADDR:PORT")]
    pub metrics: Option<String>,

    /// Show a progress line for file input (default: when standard output is a terminal and
    /// without -l)
    #[arg(long = "progress", overrides_with = "no_progress")]
    pub progress: bool,

    /// Never show the progress line
    #[arg(long = "no-progress", overrides_with = "progress")]
    pub no_progress: bool,

    // ---- batch processing (docs/batch.md)
    /// Read the capture files listed in LIST (one path per line, '#' starts a comment line) as
    /// one stream: flows span files. Any file may be gzip, zstd, xz or lz4 compressed
    #[arg(short = 'R', value_name = "LIST", conflicts_with_all = ["read", "dir_series", "interface"])]
    pub read_list: Option<String>,

    /// Read a numbered file series as one stream (T2's -D): EXPR is the first file
    /// (trace.pcap0, trace_000.pcap.zst); the number after the last SCHR (default: the last
    /// number in the file name) counts up to STOP; without STOP each next file is waited for
    #[arg(short = 'D', value_name = "EXPR[:SCHR][,STOP]", conflicts_with_all = ["read", "interface"])]
    pub dir_series: Option<String>,

    /// -D: seconds between looks for the next file (T2's POLLTM)
    #[arg(long = "poll", value_name = "SECONDS", default_value_t = 5.0)]
    pub poll: f64,

    /// -D: end the series when neither new data nor the next file came for SECONDS
    /// (default: wait for ever, as T2)
    #[arg(long = "give-up", value_name = "SECONDS")]
    pub give_up: Option<f64>,

    /// Split the flow files (T2's -W): PREFIX as for -w; the next file (PREFIX_flows.txt0, 1, ..)
    /// starts after SIZE bytes (K/M/G = x1000, default 500M) or, with a trailing 'f', after SIZE
    /// flows (e.g. 100Kf); numbering starts at START
    #[arg(
        short = 'W',
        value_name = "PREFIX[:SIZE][,START]",
        conflicts_with = "write"
    )]
    pub write_split: Option<String>,

    /// Compress the flow and packet files as they are written: zstd (.zst) or gzip (.gz)
    #[arg(long = "compress", value_name = "zstd|gzip")]
    pub compress: Option<String>,

    /// Memory the run may use, e.g. 8G or 512M: it sets the flow-table cap (beyond it the oldest
    /// flows are written early, marked RMFLOW_HFULL and counted). Default: MEMORY_BUDGET (auto:
    /// half the RAM); 0: no budget
    #[arg(long = "memory-budget", value_name = "SIZE")]
    pub memory_budget: Option<String>,

    // ---- live capture (src/live.rs)
    /// Capture live from network interface IFACE (instead of -r); SIGINT stops it
    #[arg(short = 'i', value_name = "IFACE", conflicts_with = "read")]
    pub interface: Option<String>,

    /// Live capture backend: af_xdp, af_packet or pcap (default: the first of them that works
    /// on the interface; the report says which and why)
    #[arg(long = "capture", value_name = "BACKEND", requires = "interface")]
    pub capture: Option<String>,

    /// Live: snap length, bytes kept of each packet
    #[arg(short = 'S', value_name = "BYTES", default_value_t = 65535)]
    pub snaplen: u32,

    /// Live: kernel buffer per worker in KiB (AF_PACKET ring, libpcap buffer; default 32768)
    #[arg(short = 'B', value_name = "KIB")]
    pub buffer_kib: Option<u32>,

    /// Live: read the BPF capture filter from FILE (else the trailing words are the filter)
    #[arg(short = 'F', value_name = "FILE")]
    pub filter_file: Option<String>,

    /// Live: BPF capture filter, as trailing words (e.g. `tamandua -i eth0 tcp port 80`)
    #[arg(value_name = "FILTER", trailing_var_arg = true)]
    pub filter_words: Vec<String>,

    /// Live: switch to user NAME once the capture sockets are open
    #[arg(long = "user", value_name = "NAME")]
    pub user: Option<String>,

    /// Live AF_PACKET: fanout mode ippair (symmetric IP-pair hash, fragment-safe; default),
    /// hash, hash-defrag, qm, cpu or lb
    #[arg(long = "fanout", value_name = "MODE", default_value = "ippair")]
    pub fanout: String,

    /// Live AF_PACKET: ring block size in bytes (power of two, default 1048576)
    #[arg(long = "block-size", value_name = "BYTES", default_value_t = 1 << 20)]
    pub block_size: u32,

    /// Live AF_PACKET: block retire timeout in ms (latency bound at low rates)
    #[arg(long = "block-timeout", value_name = "MS", default_value_t = 10)]
    pub block_timeout: u32,

    /// Live AF_XDP: attach mode native (driver), generic (skb) or auto (native, else generic)
    #[arg(long = "xdp-mode", value_name = "MODE", default_value = "auto")]
    pub xdp_mode: String,

    /// Live AF_XDP: UMEM frames per queue (each --frame-size bytes)
    #[arg(long = "umem-frames", value_name = "N", default_value_t = 8192)]
    pub umem_frames: u32,

    /// Live AF_XDP: UMEM frame size in bytes (2048 or 4096)
    #[arg(long = "frame-size", value_name = "BYTES", default_value_t = 4096)]
    pub frame_size: u32,

    /// Live AF_XDP: RX and fill ring entries (power of two)
    #[arg(long = "ring-size", value_name = "N", default_value_t = 4096)]
    pub ring_size: u32,

    /// Live AF_XDP: RX queues to capture (default: one per worker, 0..workers-1)
    #[arg(long = "queues", value_name = "N")]
    pub queues: Option<u32>,

    /// Live: stop by itself after SECONDS (as if SIGINT came)
    #[arg(long = "duration", value_name = "SECONDS")]
    pub duration: Option<f64>,
}

/// Parses a CPU list (`2`, `0,1`, `0-3`, `0,2-3`).
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a: usize = a
                .trim()
                .parse()
                .map_err(|_| format!("-c {s}: '{part}' is not a CPU range"))?;
            let b: usize = b
                .trim()
                .parse()
                .map_err(|_| format!("-c {s}: '{part}' is not a CPU range"))?;
            if b < a {
                return Err(format!("-c {s}: range '{part}' is reversed"));
            }
            out.extend(a..=b);
        } else {
            out.push(
                part.parse()
                    .map_err(|_| format!("-c {s}: '{part}' is not a CPU number"))?,
            );
        }
    }
    if out.is_empty() {
        return Err(format!("-c '{s}': no CPU given"));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(d) = out.iter().find(|c| !seen.insert(**c)) {
        return Err(format!("-c {s}: CPU {d} given twice"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("2").unwrap(), vec![2]);
        assert_eq!(parse_cpu_list("0,1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_list("0-3").unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_cpu_list("0,2-3").unwrap(), vec![0, 2, 3]);
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("x").is_err());
        assert!(parse_cpu_list("1,1").is_err());
        assert!(parse_cpu_list("").is_err());
    }
}
