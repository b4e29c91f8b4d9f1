//! Batch processing (docs/batch.md): file series (`-R`, `-D`) give the flows of the unsplit
//! capture, compressed parts included; `-D` picks up a file written later; `-W` splits flow
//! files by size and by flow count; a flow flood under a memory budget stays within it and
//! loses no flow.

mod common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A real capture with a few hundred flows, and the flows.txt of its unsplit run.
const CAPTURE: &str = "1kxun.pcap";

fn capture() -> Option<PathBuf> {
    let p = ndpi(CAPTURE);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipped: {} not found (../shared missing)", p.display());
        None
    }
}

fn core_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Worker CPUs for the runs: two when the machine has them (the invariance suites check that
/// the worker count does not matter; here it keeps the memory figures comparable).
fn cpus() -> &'static str {
    if core_count() >= 2 {
        "0,1"
    } else {
        "0"
    }
}

fn tamandua(args: &[&str]) -> std::process::Output {
    let o = run(args);
    assert!(
        o.status.success(),
        "tamandua {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    o
}

/// Flows of the unsplit capture (byte for byte: same packets in the same order give the same
/// records in the same order).
fn reference(dir: &Path, cap: &Path) -> String {
    tamandua(&[
        "-r",
        cap.to_str().unwrap(),
        "-w",
        dir.join("ref").to_str().unwrap(),
        "-c",
        cpus(),
        "-l",
    ]);
    std::fs::read_to_string(dir.join("ref_flows.txt")).unwrap()
}

/// Splits `cap` into parts of `n` packets with editcap (wireshark-common).
fn split(cap: &Path, dir: &Path, n: u32) -> Vec<PathBuf> {
    let st = Command::new("editcap")
        .args(["-c", &n.to_string()])
        .arg(cap)
        .arg(dir.join("part.pcap"))
        .status()
        .expect("editcap not found: run scripts/install-deps.sh (package wireshark-common)");
    assert!(st.success(), "editcap failed");
    let mut parts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("part_")
        })
        .collect();
    parts.sort();
    assert!(
        parts.len() >= 3,
        "expected at least 3 parts, got {}",
        parts.len()
    );
    parts
}

#[derive(Clone, Copy, Debug)]
enum Z {
    Plain,
    Gzip,
    Zstd,
    Xz,
    Lz4,
}

fn compress(data: &[u8], z: Z) -> Vec<u8> {
    match z {
        Z::Plain => data.to_vec(),
        Z::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Z::Zstd => zstd::encode_all(data, 3).unwrap(),
        Z::Xz => {
            let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Z::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
    }
}

const MIX: [Z; 6] = [Z::Plain, Z::Gzip, Z::Zstd, Z::Xz, Z::Lz4, Z::Plain];

fn ext(z: Z) -> &'static str {
    match z {
        Z::Plain => "",
        Z::Gzip => ".gz",
        Z::Zstd => ".zst",
        Z::Xz => ".xz",
        Z::Lz4 => ".lz4",
    }
}

fn report_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn r_list_of_split_and_compressed_parts_gives_the_unsplit_flows() {
    let Some(cap) = capture() else { return };
    let dir = tmpdir("batch-list");
    let want = reference(&dir, &cap);
    let parts = split(&cap, &dir, 250);
    let mut list = String::from("# parts of the capture, some compressed\n\n");
    for (i, p) in parts.iter().enumerate() {
        let z = MIX[i % MIX.len()];
        let data = std::fs::read(p).unwrap();
        let name = format!("{}{}", p.display(), ext(z));
        std::fs::write(&name, compress(&data, z)).unwrap();
        if !matches!(z, Z::Plain) {
            std::fs::remove_file(p).unwrap();
        }
        list.push_str(&format!("{name}\n"));
    }
    std::fs::write(dir.join("parts.txt"), list).unwrap();
    let o = tamandua(&[
        "-R",
        dir.join("parts.txt").to_str().unwrap(),
        "-w",
        dir.join("r").to_str().unwrap(),
        "-c",
        cpus(),
    ]);
    let got = std::fs::read_to_string(dir.join("r_flows.txt")).unwrap();
    assert!(got == want, "-R flows differ from the unsplit capture's");
    let rep = report_of(&o);
    assert!(rep.contains(&format!("of {}: ", parts.len())), "{rep}");
    assert!(rep.contains("(zstd-compressed)") && rep.contains("(xz-compressed)"));
    assert!(!rep.contains("Problem files"), "{rep}");
}

#[test]
fn d_series_with_stop_gives_the_unsplit_flows() {
    let Some(cap) = capture() else { return };
    let dir = tmpdir("batch-dstop");
    let want = reference(&dir, &cap);
    let parts = split(&cap, &dir, 300);
    // numbered as tcpdump -C names them; compressed parts keep the name: the magic decides
    for (i, p) in parts.iter().enumerate() {
        let data = std::fs::read(p).unwrap();
        let name = dir.join(format!("trace.pcap{i}"));
        std::fs::write(&name, compress(&data, MIX[i % MIX.len()])).unwrap();
    }
    let expr = format!(
        "{}:p,{}",
        dir.join("trace.pcap0").display(),
        parts.len() - 1
    );
    let o = tamandua(&[
        "-D",
        &expr,
        "-w",
        dir.join("d").to_str().unwrap(),
        "-c",
        cpus(),
    ]);
    let got = std::fs::read_to_string(dir.join("d_flows.txt")).unwrap();
    assert!(got == want, "-D flows differ from the unsplit capture's");
    assert!(!report_of(&o).contains("Problem files"));
}

#[test]
fn d_series_without_stop_picks_up_a_file_written_later() {
    let Some(cap) = capture() else { return };
    let dir = tmpdir("batch-dwait");
    let want = reference(&dir, &cap);
    let parts = split(&cap, &dir, 500);
    let n = parts.len();
    let name = |i: usize| dir.join(format!("run_{i:03}.pcap"));
    // all but the last part now; the last one after a delay, written slowly
    for (i, p) in parts.iter().enumerate().take(n - 1) {
        let data = std::fs::read(p).unwrap();
        std::fs::write(name(i), compress(&data, MIX[i % MIX.len()])).unwrap();
    }
    let out = dir.join("w");
    let log = std::fs::File::create(dir.join("w.log")).unwrap();
    let t0 = Instant::now();
    let mut child = Command::new(bin())
        .args([
            "-D",
            name(0).to_str().unwrap(),
            "--poll",
            "0.1",
            "--give-up",
            "2",
            "-w",
            out.to_str().unwrap(),
            "-c",
            cpus(),
        ])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert!(
        child.try_wait().unwrap().is_none(),
        "tamandua did not wait for the next file"
    );
    // the late file arrives in two pieces, as from a writer that is still at work
    let data = std::fs::read(&parts[n - 1]).unwrap();
    let mut f = std::fs::File::create(name(n - 1)).unwrap();
    f.write_all(&data[..data.len() / 2]).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    f.write_all(&data[data.len() / 2..]).unwrap();
    drop(f);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success());
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "tamandua did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = std::fs::read_to_string(dir.join("w_flows.txt")).unwrap();
    assert!(got == want, "-D flows differ from the unsplit capture's");
    let rep = std::fs::read_to_string(dir.join("w.log")).unwrap();
    assert!(rep.contains(&format!("run_{:03}.pcap", n - 1)), "{rep}");
    assert!(rep.contains("end of the series"), "{rep}");
    assert!(!rep.contains("Problem files"), "{rep}");
}

#[test]
fn d_series_waiting_for_ever_ends_cleanly_on_sigint() {
    let Some(cap) = capture() else { return };
    let dir = tmpdir("batch-dint");
    let parts = split(&cap, &dir, 400);
    let names: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("cap{i}.pcap"))).collect();
    for (p, n) in parts.iter().zip(&names) {
        std::fs::copy(p, n).unwrap();
    }
    // the same two files as a list: what the interrupted series must have written
    std::fs::write(
        dir.join("two.txt"),
        format!("{}\n{}\n", names[0].display(), names[1].display()),
    )
    .unwrap();
    tamandua(&[
        "-R",
        dir.join("two.txt").to_str().unwrap(),
        "-w",
        dir.join("two").to_str().unwrap(),
        "-c",
        cpus(),
        "-l",
    ]);
    let mut child = Command::new(bin())
        .args([
            "-D",
            names[0].to_str().unwrap(),
            "--poll",
            "0.1",
            "-w",
            dir.join("int").to_str().unwrap(),
            "-c",
            cpus(),
            "-l",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(child.try_wait().unwrap().is_none(), "no wait for cap2.pcap");
    // SAFETY: plain FFI call on our own child's pid.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let t0 = Instant::now();
    let st = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "SIGINT did not end the wait"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(st.success(), "exit status {st:?}");
    let want = std::fs::read_to_string(dir.join("two_flows.txt")).unwrap();
    let got = std::fs::read_to_string(dir.join("int_flows.txt")).unwrap();
    assert!(got == want, "the interrupted series lost flows");
    let log = std::fs::read_to_string(dir.join("int_log.txt")).unwrap();
    assert!(log.contains("interrupted while waiting"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_file_in_a_series_is_named_and_the_run_goes_on() {
    let Some(cap) = capture() else { return };
    let dir = tmpdir("batch-broken");
    let parts = split(&cap, &dir, 300);
    // part 1 truncated in the middle of a record, part 2 not a capture, part 3 missing
    let p1 = std::fs::read(&parts[1]).unwrap();
    std::fs::write(&parts[1], &p1[..p1.len() - 7]).unwrap();
    std::fs::write(&parts[2], b"this is not a capture file\n").unwrap();
    let missing = dir.join("no-such-file.pcap");
    let list: Vec<String> = vec![
        parts[0].display().to_string(),
        parts[1].display().to_string(),
        parts[2].display().to_string(),
        missing.display().to_string(),
        parts[3].display().to_string(),
    ];
    std::fs::write(dir.join("l.txt"), list.join("\n")).unwrap();
    let o = tamandua(&[
        "-R",
        dir.join("l.txt").to_str().unwrap(),
        "-w",
        dir.join("b").to_str().unwrap(),
        "-c",
        cpus(),
    ]);
    let rep = report_of(&o);
    assert!(rep.contains("Problem files: 3"), "{rep}");
    for f in [&list[1], &list[2], &list[3]] {
        assert!(
            rep.lines()
                .any(|l| l.starts_with("[WRN] ") && l.contains(f.as_str())),
            "{f} not named: {rep}"
        );
    }
    assert!(rep.contains("truncated"), "{rep}");
    assert!(rep.contains("not a pcap or pcapng file"), "{rep}");
    // the packets of the files after the broken ones were read
    assert!(
        rep.contains(&format!("Processing file no. 5 of 5: {}", list[4])),
        "{rep}"
    );
}

#[test]
fn compressed_standard_input() {
    let Some(cap) = capture() else { return };
    let dir = tmpdir("batch-stdin");
    let want = reference(&dir, &cap);
    let z = compress(&std::fs::read(&cap).unwrap(), Z::Zstd);
    let mut child = Command::new(bin())
        .args([
            "-r",
            "-",
            "-w",
            dir.join("s").to_str().unwrap(),
            "-c",
            cpus(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // a pipe delivers the magic bytes in pieces
    stdin.write_all(&z[..2]).unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stdin.write_all(&z[2..]).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let got = std::fs::read_to_string(dir.join("s_flows.txt")).unwrap();
    assert!(got == want, "flows from a zstd pipe differ");
}

fn parts_of(dir: &Path, stem: &str) -> Vec<PathBuf> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let n = p.file_name()?.to_str()?.to_string();
            let rest = n.strip_prefix(stem)?;
            let num: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            Some((num.parse().ok()?, p))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

#[test]
fn w_splits_flow_files_by_flow_count_and_by_size() {
    let Some(cap) = capture() else { return };
    let dir = tmpdir("batch-split");
    let want = reference(&dir, &cap);
    let header = want.lines().next().unwrap().to_string() + "\n";
    let records = want.lines().count() - 1;
    assert!(records > 200);

    // by flow count, numbered from 3
    tamandua(&[
        "-r",
        cap.to_str().unwrap(),
        "-W",
        &format!("{}:100f,3", dir.join("f").display()),
        "-c",
        cpus(),
        "-l",
    ]);
    let parts = parts_of(&dir, "f_flows.txt");
    assert_eq!(parts.len(), records.div_ceil(100), "{parts:?}");
    assert!(parts[0].ends_with("f_flows.txt3"));
    let mut all = String::new();
    for (i, p) in parts.iter().enumerate() {
        let t = std::fs::read_to_string(p).unwrap();
        let n = t.lines().filter(|l| !l.starts_with('%')).count();
        if i + 1 < parts.len() {
            assert_eq!(n, 100, "{}", p.display());
        }
        assert_eq!(
            t.starts_with('%'),
            i == 0,
            "only the first part has the header"
        );
        all.push_str(&t);
    }
    assert!(all == want, "the parts do not add up to the unsplit flows");

    // by size, zstd-compressed
    tamandua(&[
        "-r",
        cap.to_str().unwrap(),
        "-W",
        &format!("{}:20K", dir.join("s").display()),
        "--compress",
        "zstd",
        "-c",
        cpus(),
        "-l",
    ]);
    let parts = parts_of(&dir, "s_flows.txt");
    assert!(parts.len() >= 3, "{parts:?}");
    let mut all = String::new();
    for (i, p) in parts.iter().enumerate() {
        assert!(p.to_str().unwrap().ends_with(".zst"));
        let t =
            String::from_utf8(zstd::decode_all(std::fs::File::open(p).unwrap()).unwrap()).unwrap();
        let last_len = t.lines().last().map_or(0, |l| l.len() + 1);
        if i + 1 < parts.len() {
            // full at the record that reached 20 kB: no record is cut
            assert!(
                t.len() >= 20_000 && t.len() - last_len < 20_000,
                "{}",
                p.display()
            );
        }
        assert!(t.ends_with('\n'));
        all.push_str(&t);
    }
    assert!(all.starts_with(&header));
    assert!(
        all == want,
        "the compressed parts do not add up to the unsplit flows"
    );
}

#[test]
fn compressed_flow_and_packet_files() {
    let Some(cap) = capture() else { return };
    let dir = tmpdir("batch-gz");
    tamandua(&[
        "-r",
        cap.to_str().unwrap(),
        "-w",
        dir.join("p").to_str().unwrap(),
        "-s",
        "-c",
        cpus(),
        "-l",
    ]);
    tamandua(&[
        "-r",
        cap.to_str().unwrap(),
        "-w",
        dir.join("g").to_str().unwrap(),
        "-s",
        "--compress",
        "gzip",
        "-c",
        cpus(),
        "-l",
    ]);
    for f in ["flows.txt", "packets.txt"] {
        let plain = std::fs::read(dir.join(format!("p_{f}"))).unwrap();
        let mut d = flate2::read::MultiGzDecoder::new(
            std::fs::File::open(dir.join(format!("g_{f}.gz"))).unwrap(),
        );
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut got).unwrap();
        assert!(got == plain, "{f}.gz differs");
    }
}

// ---- the flood

/// A synthetic SYN flood answered by SYN/ACKs: `pairs` distinct TCP connections of two
/// packets each (the reply right after its request), 1 µs apart.
fn write_flood(path: &Path, pairs: u32) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hdr = Vec::new();
    hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&65535u32.to_le_bytes());
    hdr.extend_from_slice(&1u32.to_le_bytes());
    f.write_all(&hdr).unwrap();
    let csum = |b: &[u8]| {
        let mut s: u32 = b
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    };
    let mut t: u64 = 1_700_000_000_000_000;
    for i in 0..pairs {
        let client = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        let server = [192, 168, 7, 7];
        let cport = 1024 + (i % 60000) as u16;
        for (src, dst, sp, dp, flags) in [
            (client, server, cport, 443u16, 0x02u8),
            (server, client, 443, cport, 0x12),
        ] {
            let mut fr = Vec::with_capacity(60);
            fr.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
            let mut ip = vec![0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0];
            ip.extend_from_slice(&src);
            ip.extend_from_slice(&dst);
            let c = csum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            fr.extend_from_slice(&ip);
            fr.extend_from_slice(&sp.to_be_bytes());
            fr.extend_from_slice(&dp.to_be_bytes());
            fr.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
            fr.resize(60, 0);
            f.write_all(&((t / 1_000_000) as u32).to_le_bytes())
                .unwrap();
            f.write_all(&((t % 1_000_000) as u32).to_le_bytes())
                .unwrap();
            f.write_all(&60u32.to_le_bytes()).unwrap();
            f.write_all(&60u32.to_le_bytes()).unwrap();
            f.write_all(&fr).unwrap();
            t += 1;
        }
    }
    f.flush().unwrap();
}

/// Runs tamandua and returns (exit success, peak RSS in KiB) from wait4, which also reaps the
/// child (hence no `Child::wait`).
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str], stdout: &Path) -> (bool, u64) {
    let child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain FFI call with valid out-pointers; the child is ours and not yet reaped.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert_eq!(r, pid, "wait4 failed");
    (
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        ru.ru_maxrss as u64,
    )
}

#[test]
fn a_flood_under_a_256_mib_budget_stays_within_it_and_loses_no_flow() {
    let dir = tmpdir("batch-flood");
    let pcap = dir.join("flood.pcap");
    // far more connections than 256 MiB can hold (about 1 KiB per flow direction)
    let pairs = 400_000u32;
    write_flood(&pcap, pairs);
    let budget_mib = 256u64;
    let log = dir.join("flood.log");
    let t0 = Instant::now();
    let (ok, peak_kib) = run_measured(
        &[
            "-r",
            pcap.to_str().unwrap(),
            "-w",
            dir.join("fl").to_str().unwrap(),
            "-c",
            cpus(),
            "--memory-budget",
            &format!("{budget_mib}M"),
            "-o",
            "PROGRESS_INTERVAL=0.05",
        ],
        &log,
    );
    let secs = t0.elapsed().as_secs_f64();
    let rep = std::fs::read_to_string(&log).unwrap();
    assert!(ok, "tamandua failed: {rep}");
    eprintln!(
        "flood: {pairs} connections, peak RSS {} MiB under a {budget_mib} MiB budget, {secs:.1} s",
        peak_kib / 1024
    );
    assert!(
        peak_kib * 1024 <= budget_mib * (1 << 20) * 6 / 5,
        "peak RSS {peak_kib} KiB exceeds the budget + 20%"
    );
    assert!(rep.contains("[INF] Memory budget: 256.00 MiB"), "{rep}");
    assert!(rep.contains("[INF] Progress:"), "{rep}");

    // every connection exactly once, both directions, and the evicted ones marked
    let flows = std::fs::read_to_string(dir.join("fl_flows.txt")).unwrap();
    let hdr: Vec<&str> = flows
        .lines()
        .next()
        .unwrap()
        .trim_start_matches('%')
        .split('\t')
        .collect();
    let col = |name: &str| hdr.iter().position(|c| *c == name).unwrap();
    let (i_stat, i_src, i_sport, i_dst) =
        (col("flowStat"), col("srcIP"), col("srcPort"), col("dstIP"));
    let mut seen = std::collections::HashSet::new();
    let mut marked = 0u64;
    let mut n = 0u64;
    for l in flows.lines().skip(1) {
        let c: Vec<&str> = l.split('\t').collect();
        let key = format!("{} {} {}", c[i_src], c[i_sport], c[i_dst]);
        assert!(seen.insert(key), "flow written twice: {l}");
        let stat = u64::from_str_radix(c[i_stat].trim_start_matches("0x"), 16).unwrap();
        if stat & (1 << 42) != 0 {
            marked += 1;
        }
        n += 1;
    }
    assert_eq!(
        n,
        2 * pairs as u64,
        "every connection gives an A and a B flow"
    );
    let evicted: u64 = rep
        .lines()
        .filter(|l| l.contains("flows evicted"))
        .filter_map(|l| {
            l.rsplit(", ")
                .next()?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(evicted > 0, "no eviction counted: {rep}");
    assert!(rep.contains("Hash Autopilot"), "{rep}");
    assert!(rep.contains("memory budget"), "{rep}");
    // an evicted pair is two records with RMFLOW_HFULL
    assert!(
        marked >= evicted,
        "{marked} marked records, {evicted} evictions"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
