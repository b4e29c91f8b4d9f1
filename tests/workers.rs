//! The worker count must not change the records (only flowInd numbering), and a run must be
//! byte-identical to another run with the same worker count.

mod common;
use common::*;

fn run_capture(tag: &str, capture: &str, cpus: &str, extra: &[&str]) -> std::path::PathBuf {
    let out = tmpdir(tag);
    let prefix = out.join("x");
    let mut args = vec![
        "-r",
        capture,
        "-w",
        prefix.to_str().unwrap(),
        "-c",
        cpus,
        "-l",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(
        o.status.success(),
        "{tag}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

#[test]
fn one_and_two_workers_give_the_same_record_set() {
    let cpus = core_count();
    if cpus < 2 {
        eprintln!("skipped: this machine has one CPU, -c 0,1 is not possible");
        return;
    }
    for cap in [
        "1kxun.pcap",
        "dns_fragmented.pcap",
        "ip_fragmented_garbage.pcap",
        "vxlan.pcap",
        "teams.pcap",
    ] {
        let p = ndpi(cap);
        if !p.exists() {
            continue;
        }
        let a = run_capture(&format!("w1-{cap}"), p.to_str().unwrap(), "0", &["-s"]);
        let b = run_capture(&format!("w2-{cap}"), p.to_str().unwrap(), "0,1", &["-s"]);
        let ra = record_set(&a.join("x_flows.txt"));
        let rb = record_set(&b.join("x_flows.txt"));
        assert!(!ra.is_empty(), "{cap}: no flows");
        assert_eq!(ra, rb, "{cap}: records differ between -c 0 and -c 0,1");
        // packet lines are in capture order whatever the worker count
        let pa = record_set(&a.join("x_packets.txt"));
        let pb = record_set(&b.join("x_packets.txt"));
        assert_eq!(pa, pb, "{cap}: packet lines differ");
        let order = |p: &std::path::Path| -> Vec<u64> {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .skip(1)
                .map(|l| l.split('\t').next().unwrap().parse().unwrap())
                .collect()
        };
        let nums = order(&b.join("x_packets.txt"));
        assert!(
            nums.windows(2).all(|w| w[0] < w[1]),
            "{cap}: packets.txt not in pktNo order with 2 workers"
        );
        let _ = std::fs::remove_dir_all(a);
        let _ = std::fs::remove_dir_all(b);
    }
}

#[test]
fn runs_are_byte_identical_for_a_given_worker_count() {
    let cap = ndpi("1kxun.pcap");
    let cpus = if core_count() >= 2 { "0,1" } else { "0" };
    let a = run_capture("det-a", cap.to_str().unwrap(), cpus, &["-s"]);
    let b = run_capture("det-b", cap.to_str().unwrap(), cpus, &["-s"]);
    for f in ["x_flows.txt", "x_packets.txt"] {
        let x = std::fs::read(a.join(f)).unwrap();
        let y = std::fs::read(b.join(f)).unwrap();
        assert!(x == y, "{f} differs between two runs with -c {cpus}");
    }
    let _ = std::fs::remove_dir_all(a);
    let _ = std::fs::remove_dir_all(b);
}

fn core_count() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// A file of /proc/PID/task/TID of the first thread named `comm`.
fn task_file(pid: u32, comm: &str, file: &str) -> Option<String> {
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = t.ok()?.path();
        let name = std::fs::read_to_string(dir.join("comm")).ok()?;
        if name.trim() == comm {
            return std::fs::read_to_string(dir.join(file)).ok();
        }
    }
    None
}

/// CPUs a thread may run on, from /proc/PID/task/TID/status ("0-1", "1", ...).
fn allowed_cpus(pid: u32, comm: &str) -> Option<String> {
    task_file(pid, comm, "status")?
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}

/// A thread's scheduling policy (field 41 of /proc/PID/task/TID/stat; 3 is SCHED_BATCH).
fn sched_policy(pid: u32, comm: &str) -> Option<u32> {
    let stat = task_file(pid, comm, "stat")?;
    // the fields after the command name, which may hold spaces, start with field 3
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(41 - 3)?
        .parse()
        .ok()
}

/// Starts a run reading standard input with `-c cpus`, feeds it the start of a capture, waits
/// until `probe` sees what it looks for in the running process, ends the input and returns
/// the probe's last answer and the end report.
fn probe_running<T>(
    tag: &str,
    cpus: &str,
    mut probe: impl FnMut(u32) -> Option<T>,
) -> (Option<T>, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let out = tmpdir(tag);
    // reading standard input keeps the process (and its threads) alive until we close it
    let mut child = Command::new(bin())
        .args(["-r", "-", "-w", out.join("x").to_str().unwrap(), "-c", cpus])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let pcap = std::fs::read(ndpi("1kxun.pcap")).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // the header and a few records: the run is then set up, threads started
    stdin.write_all(&pcap[..4096]).unwrap();
    let mut seen = None;
    for _ in 0..200 {
        seen = probe(pid);
        if seen.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let _ = std::fs::remove_dir_all(out);
    (seen, String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn other_threads_stay_off_the_worker_cpu() {
    if core_count() < 2 {
        eprintln!("skipped: this machine has one CPU, there is no CPU left for the other threads");
        return;
    }
    let (seen, log) = probe_running("affinity", "0", |pid| {
        Some((allowed_cpus(pid, "worker-0")?, allowed_cpus(pid, "writer")?))
    });
    let (worker, writer) = seen.expect("worker and writer threads seen");
    assert_eq!(worker, "0", "the worker is pinned to CPU 0");
    assert!(
        writer.split([',', '-']).all(|c| c != "0") && !writer.starts_with("0"),
        "the writer may not run on the worker's CPU 0: {writer}"
    );
    assert!(log.contains("Workers: 1 (other threads on CPUs "), "{log}");
}

#[test]
fn with_a_worker_on_every_cpu_workers_are_batch_threads() {
    let n = core_count();
    if n < 2 {
        eprintln!("skipped: this machine has one CPU, one worker cannot fill several");
        return;
    }
    let all = format!("0-{}", n - 1);
    let (policies, log) = probe_running("batch", &all, |pid| {
        (0..n)
            .map(|i| sched_policy(pid, &format!("worker-{i}")))
            .collect::<Option<Vec<u32>>>()
    });
    let policies = policies.expect("every worker thread seen");
    assert!(
        policies.iter().all(|&p| p == 3),
        "SCHED_BATCH: {policies:?}"
    );
    assert!(
        log.contains(&format!(
            "Workers: {n} (a worker on every CPU: the reader and the writer keep off the busiest one's)"
        )),
        "{log}"
    );
}

#[test]
fn records_formatted_by_workers_or_by_the_writer_are_byte_identical() {
    let plugins = "basicFlow,basicStats,tcpFlags,tcpStates,txtSink,jsonSink";
    let cpus: &[&str] = if core_count() >= 2 {
        &["0", "0,1"]
    } else {
        &["0"]
    };
    for cap in ["1kxun.pcap", "teams.pcap", "ip_fragmented_garbage.pcap"] {
        let p = ndpi(cap);
        for c in cpus {
            let run_with = |v: &str| {
                let o = format!("FORMAT_IN_WORKERS={v}");
                let tag = format!("fmt{v}-{c}-{cap}");
                run_capture(
                    &tag,
                    p.to_str().unwrap(),
                    c,
                    &["--plugins", plugins, "-o", &o],
                )
            };
            let (a, b) = (run_with("0"), run_with("1"));
            for f in ["x_flows.txt", "x_flows.json"] {
                let x = std::fs::read(a.join(f)).unwrap();
                let y = std::fs::read(b.join(f)).unwrap();
                assert!(!x.is_empty(), "{cap} -c {c}: empty {f}");
                assert!(x == y, "{cap} -c {c}: {f} differs with FORMAT_IN_WORKERS");
            }
            let _ = std::fs::remove_dir_all(a);
            let _ = std::fs::remove_dir_all(b);
        }
    }
}
