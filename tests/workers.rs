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
