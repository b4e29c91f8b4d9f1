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
    after_help = "Examples:\n  tamandua -r capture.pcap -w out/          # out/capture_flows.txt, out/capture_headers.txt\n  tamandua -r x.pcapng -w out/ -c 0,1 -s     # two workers on CPUs 0 and 1, packet mode\n  tamandua -r x.pcap -o FLOW_TIMEOUT=60 --plugins basicFlow,basicStats,jsonSink\n  tamandua --list-settings                   # every -o NAME of the selected plugins"
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

    /// CPUs to pin one worker each to: '2', '0,1', '0-3' (default: one worker per available CPU)
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
