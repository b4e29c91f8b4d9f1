//! tcpWin end to end: hand-built TCP captures run through the binary with
//! `--plugins basicFlow,basicStats,tcpWin,txtSink`, checking what the tutorials show in
//! flows.txt, packets.txt (`-s`) and the end report.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const PLUGINS: &str = "basicFlow,basicStats,tcpWin,txtSink";

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// One endpoint: address, port, TTL.
#[derive(Clone, Copy)]
struct Host([u8; 4], u16, u8);

const CLIENT: Host = Host([192, 168, 1, 105], 49330, 128);
const SERVER: Host = Host([143, 166, 11, 10], 64334, 111);

/// A packet of the capture: time, direction (client to server?), TCP flags, window.
struct P(f64, bool, u8, u16);

fn tcp_frame(src: Host, dst: Host, flags: u8, win: u16, seq: u32) -> Vec<u8> {
    let mut f = vec![
        0, 0x19, 0xe3, 0, 0, dst.0[3], 0, 0x08, 0x74, 0, 0, src.0[3], 8, 0,
    ];
    let mut ip = vec![
        0x45,
        0,
        0,
        40,
        (seq >> 8) as u8,
        seq as u8,
        0x40,
        0,
        src.2,
        6,
        0,
        0,
    ];
    ip.extend_from_slice(&src.0);
    ip.extend_from_slice(&dst.0);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&1u32.to_be_bytes());
    f.extend_from_slice(&[0x50, flags]);
    f.extend_from_slice(&win.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f
}

/// Writes a microsecond pcap (Ethernet) of one client/server connection.
fn write_pcap(dir: &Path, name: &str, pkts: &[P], client: Host, server: Host) -> PathBuf {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for (i, p) in pkts.iter().enumerate() {
        let (s, d) = if p.1 {
            (client, server)
        } else {
            (server, client)
        };
        let f = tcp_frame(s, d, p.2, p.3, i as u32 + 1);
        let t = 1_258_594_163.0 + p.0;
        let sec = t.floor() as u32;
        let usec = ((t - t.floor()) * 1e6).round() as u32;
        b.extend_from_slice(&sec.to_le_bytes());
        b.extend_from_slice(&usec.to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&f);
    }
    let p = dir.join(name);
    std::fs::write(&p, b).unwrap();
    p
}

/// A tab-separated output file: header names and rows.
struct Table {
    cols: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(p: &Path) -> Table {
        let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let mut lines = text.lines();
        let cols = lines
            .next()
            .unwrap()
            .trim_start_matches('%')
            .split('\t')
            .map(String::from)
            .collect();
        let rows = lines
            .map(|l| l.split('\t').map(String::from).collect())
            .collect();
        Table { cols, rows }
    }
    fn col(&self, name: &str) -> usize {
        self.cols
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.cols))
    }
    fn get(&self, row: usize, name: &str) -> &str {
        &self.rows[row][self.col(name)]
    }
}

/// Runs tamandua on `pcap` and returns (flows, report text, output prefix).
fn run_tamandua(tag: &str, pcap: &Path, extra: &[&str]) -> (Table, String, PathBuf) {
    let out = pcap.parent().unwrap().join(tag);
    std::fs::create_dir_all(&out).unwrap();
    let prefix = out.join("x");
    let mut args = vec![
        "-r",
        pcap.to_str().unwrap(),
        "-w",
        prefix.to_str().unwrap(),
        "--plugins",
        PLUGINS,
        "-l",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(
        o.status.success(),
        "{tag}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = std::fs::read_to_string(out.join("x_log.txt")).unwrap_or_default()
        + &String::from_utf8_lossy(&o.stdout);
    (Table::read(&out.join("x_flows.txt")), report, prefix)
}

/// flowInd -> directions written, for the flows of the connection.
fn pairs(t: &Table) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, r) in t.rows.iter().enumerate() {
        m.entry(t.get(i, "flowInd").to_string())
            .or_default()
            .push(r[t.col("dir")].clone());
    }
    m
}

/// The tutorial's handshake: SYN, SYN-ACK, ACK.
fn handshake(t: f64) -> Vec<P> {
    vec![
        P(t, true, SYN, 8192),
        P(t + 0.08, false, SYN | ACK, 8192),
        P(t + 0.16, true, ACK, 64860),
    ]
}

#[test]
fn est_timeout_splits_a_connection_with_a_1_5_s_gap() {
    let dir = tmpdir("tcpwin-split");
    let mut pkts = handshake(0.0);
    pkts.extend([
        P(0.3, false, ACK, 4140),
        P(0.4, true, ACK, 64833),
        // 1.5 s of silence in both directions: longer than TCPWIN_TMT_EST
        P(1.9, false, ACK, 4156),
        P(2.0, true, ACK, 64761),
        P(2.1, false, FIN | ACK, 4170),
    ]);
    let pcap = write_pcap(&dir, "split.pcap", &pkts, CLIENT, SERVER);
    let (flows, _, _) = run_tamandua("default", &pcap, &[]);
    let p = pairs(&flows);
    assert_eq!(p.len(), 2, "two flow pairs: {p:?}");
    for dirs in p.values() {
        assert_eq!(dirs.len(), 2, "both directions in each pair: {p:?}");
    }
    // the first pair began with a SYN and stays BGN; the second begins mid-stream with the
    // server's ACK (EST; its FIN then moves it to ABRT)
    let states: Vec<&str> = (0..4).map(|i| flows.get(i, "tcpWinState")).collect();
    assert_eq!(states, ["0x01", "0x01", "0x04", "0x02"]);
    let pk: Vec<&str> = (0..4).map(|i| flows.get(i, "pktsSnt")).collect();
    assert_eq!(pk, ["3", "2", "2", "1"]);
    assert_eq!(flows.get(2, "srcIP"), "143.166.11.10");
    assert_eq!(flows.get(0, "tcpInitWinSz"), "8192");
    assert_eq!(flows.get(0, "tcpWinIpTTL"), "128");
    assert_eq!(flows.get(1, "tcpWinIpTTL"), "111");

    // the exercise of the tutorial: TCPWIN_TMT_EST=4.0 keeps the connection in one flow
    let (flows, _, _) = run_tamandua("est4", &pcap, &["-o", "TCPWIN_TMT_EST=4.0"]);
    assert_eq!(pairs(&flows).len(), 1);
    // without tcpWin the default flow timeout keeps it too
    let out = dir.join("plain");
    std::fs::create_dir_all(&out).unwrap();
    let o = run(&[
        "-r",
        pcap.to_str().unwrap(),
        "-w",
        out.join("x").to_str().unwrap(),
        "--plugins",
        "basicFlow,basicStats,txtSink",
        "-l",
    ]);
    assert!(o.status.success());
    assert_eq!(pairs(&Table::read(&out.join("x_flows.txt"))).len(), 1);
}

/// The tutorial's flow 44: two zero windows from the client abort the connection in both
/// directions; after 1 ms both are due and the next packet opens flow 45.
fn abort_capture(dir: &Path) -> PathBuf {
    let mut pkts = handshake(0.0);
    pkts.extend([
        P(0.3, false, ACK, 4140),
        P(0.35, true, ACK, 0),
        P(0.4, false, ACK, 4140),
        P(0.45, true, ACK, 0),
        // 0.5 ms later the client is not due yet: the packet joins the aborted pair
        P(0.4505, true, ACK, 64860),
        // 10 ms later both are due (the server only because its timeout was shortened by
        // the abort too): a new pair
        P(0.4605, true, ACK, 0),
        P(0.47, false, ACK, 4140),
    ]);
    write_pcap(dir, "abort.pcap", &pkts, CLIENT, SERVER)
}

#[test]
fn two_zero_windows_abort_both_directions_and_raise_one_alarm() {
    let dir = tmpdir("tcpwin-abort");
    let pcap = abort_capture(&dir);
    let (flows, report, prefix) = run_tamandua("s", &pcap, &["-s"]);
    let p = pairs(&flows);
    assert_eq!(p.len(), 2, "{p:?}");
    // first pair: A = client (aborted, 2 undershoots), B = server (aborted by its opposite)
    assert_eq!(flows.get(0, "dir"), "A");
    assert_eq!(flows.get(0, "srcIP"), "192.168.1.105");
    assert_eq!(flows.get(0, "tcpWinStat"), "0xd2");
    assert_eq!(flows.get(0, "tcpWinState"), "0x04");
    assert_eq!(flows.get(0, "tcpWinThCnt"), "2");
    assert_eq!(flows.get(0, "pktsSnt"), "5");
    assert_eq!(flows.get(0, "tcpWinSzThRt"), "0.4");
    assert_eq!(flows.get(1, "tcpWinStat"), "0x12");
    assert_eq!(flows.get(1, "tcpWinState"), "0x04");
    assert_eq!(flows.get(1, "pktsSnt"), "3");
    assert_eq!(flows.get(1, "tcpWinThCnt"), "0");
    // second pair: the client's zero-window packet starts it (EST, one undershoot)
    assert_eq!(flows.get(2, "tcpWinStat"), "0x50");
    assert_eq!(flows.get(2, "tcpInitWinSz"), "0");
    assert_eq!(flows.get(2, "tcpWinState"), "0x02");
    // the alarm flag is on the flow that reached TCPWIN_FLWPRG only
    let fs: Vec<u64> = (0..4)
        .map(|i| u64::from_str_radix(&flows.get(i, "flowStat")[2..], 16).unwrap())
        .collect();
    let alarm = 0x0002_0000_0000_0000u64;
    assert_eq!(
        fs.iter().map(|s| s & alarm != 0).collect::<Vec<_>>(),
        [true, false, false, false]
    );

    assert!(
        report.contains("[WRN] 1 alarms in 1 flows [25.00%]"),
        "{report}"
    );
    for l in [
        "tcpWin: Aggregated tcpWinStat=0xd2",
        "tcpWin: Aggregated tcpWinState=0x07",
        "tcpWin: Number of TCP winsize packets below threshold 1: 3 [30.00%]",
    ] {
        assert!(report.contains(l), "missing {l:?} in\n{report}");
    }

    // packet mode: the packet that aborts, and the one 0.5 ms later still in the pair
    let pk = Table::read(&PathBuf::from(format!("{}_packets.txt", prefix.display())));
    assert_eq!(pk.rows.len(), 10);
    let cols = |row: usize| -> Vec<&str> {
        [
            "tcpWinStat",
            "tcpWinState",
            "tcpWinSize",
            "tcpWinThPktCnt",
            "tcpWinTimeout",
        ]
        .iter()
        .map(|c| pk.get(row, c))
        .collect()
    };
    assert_eq!(cols(0), ["0x02", "0x01", "8192", "0", "2.200000"]);
    assert_eq!(cols(2), ["0x12", "0x01", "64860", "0", "1.000000"]);
    assert_eq!(cols(4), ["0x52", "0x01", "0", "1", "1.000000"]);
    assert_eq!(cols(6), ["0xd2", "0x04", "0", "2", "0.001000"]);
    assert_eq!(cols(7), ["0xd2", "0x04", "64860", "2", "0.001000"]);
    assert_eq!(pk.get(7, "flowInd"), pk.get(6, "flowInd"));
    assert_eq!(cols(8), ["0x50", "0x02", "0", "1", "1.000000"]);
    assert_ne!(pk.get(8, "flowInd"), pk.get(6, "flowInd"));
}

#[test]
fn alarm_mode_writes_only_the_aborted_flow() {
    let dir = tmpdir("tcpwin-alarm");
    let pcap = abort_capture(&dir);
    let (flows, report, _) = run_tamandua("am", &pcap, &["-o", "ALARM_MODE=1"]);
    assert_eq!(flows.rows.len(), 1);
    assert_eq!(flows.get(0, "tcpWinStat"), "0xd2");
    assert!(report.contains("1 alarms in 1 flows"), "{report}");
}

#[test]
fn force_mode_removes_the_pair_at_the_second_zero_window() {
    let dir = tmpdir("tcpwin-force");
    let pcap = abort_capture(&dir);
    let (flows, report, _) = run_tamandua("fm", &pcap, &["-o", "FORCE_MODE=1"]);
    // the pair is written right after the second zero window: the client's packet 0.5 ms
    // later already opens the second pair (without FORCE_MODE it joined the first)
    let p = pairs(&flows);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(flows.get(0, "pktsSnt"), "4");
    assert_eq!(flows.get(2, "srcIP"), "192.168.1.105");
    assert_eq!(flows.get(2, "pktsSnt"), "2");
    let rmflow = 1u64 << 41;
    let fs = u64::from_str_radix(&flows.get(0, "flowStat")[2..], 16).unwrap();
    assert!(fs & rmflow != 0, "RMFLOW on the removed flow");
    assert_eq!(flows.get(0, "tcpWinThCnt"), "2");
    assert!(report.contains("1 alarms in 1 flows"), "{report}");
}

#[test]
fn flwprg_three_needs_a_third_zero_window() {
    let dir = tmpdir("tcpwin-flwprg");
    let pcap = abort_capture(&dir);
    let (flows, report, _) = run_tamandua("p3", &pcap, &["-o", "TCPWIN_FLWPRG=3"]);
    // the third zero window (0.4605 s) aborts; the split moves to the last packet
    assert_eq!(pairs(&flows).len(), 2);
    assert_eq!(flows.get(0, "tcpWinThCnt"), "3");
    assert_eq!(flows.get(0, "pktsSnt"), "6");
    assert_eq!(flows.get(1, "pktsSnt"), "3");
    assert_eq!(flows.get(2, "srcIP"), "143.166.11.10");
    assert_eq!(flows.get(0, "tcpWinStat"), "0xd2");
    assert!(report.contains("1 alarms in 1 flows"), "{report}");
}
