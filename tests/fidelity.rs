//! Agreement with Tranalyzer2 0.9.3's own outputs on the 329 reference captures
//! (`../shared/tools/fidelity.py`), and packets.txt against the packet-mode references.

mod common;
use common::*;
use std::process::Command;

fn fidelity_json(args: &[&str]) -> serde_json_lite::Obj {
    let tool = shared().join("tools").join("fidelity.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&tool)
        .args(["--jobs", "2", "--json", "--"])
        .arg(bin())
        .args(args);
    let o = cmd.output().expect("python3 fidelity.py");
    assert!(
        o.status.success(),
        "fidelity.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json_lite::parse(&String::from_utf8_lossy(&o.stdout))
}

#[test]
fn default_plugins_match_t2_on_the_reference_captures() {
    let r = fidelity_json(&["-c", "0"]);
    let exact = r.num("exact_pct");
    assert_eq!(r.num("crashed"), 0.0, "crashes: {r:?}");
    assert_eq!(r.num("timeouts"), 0.0, "timeouts: {r:?}");
    assert_eq!(r.num("no_output"), 0.0, "captures without output: {r:?}");
    let low: Vec<String> = r
        .columns()
        .into_iter()
        .filter(|(_, v)| *v < 99.5)
        .map(|(c, v)| format!("{c} {v:.2}%"))
        .collect();
    assert!(low.is_empty(), "columns below 99.5%: {low:?}");
    assert!(exact >= 99.0, "only {exact:.2}% of T2's flows exact");
}

#[test]
fn basic_plugins_match_t2_with_two_workers() {
    if std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        < 2
    {
        eprintln!("skipped: one CPU");
        return;
    }
    let r = fidelity_json(&["-c", "0,1"]);
    let low: Vec<String> = r
        .columns()
        .into_iter()
        .filter(|(_, v)| *v < 99.5)
        .map(|(c, v)| format!("{c} {v:.2}%"))
        .collect();
    assert!(
        low.is_empty(),
        "columns below 99.5% with 2 workers: {low:?}"
    );
    assert!(r.num("exact_pct") >= 99.0);
}

#[test]
fn packets_txt_matches_t2_packet_mode_for_one_and_two_workers() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("compare-packets.py");
    for cpus in ["0", "0,1"] {
        if cpus == "0,1"
            && std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                < 2
        {
            continue;
        }
        let o = Command::new("python3")
            .arg(&script)
            .arg(bin())
            .args(["-c", cpus])
            .output()
            .expect("python3");
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "packets.txt differs from T2 with -c {cpus}:\n{text}"
        );
    }
}

#[test]
fn end_reports_match_t2_line_for_line() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("compare-reports.py");
    let o = Command::new("python3")
        .arg(&script)
        .arg(bin())
        .args(["-c", "0"])
        .output()
        .expect("python3");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "end reports differ from T2's:\n{text}");
}

/// A tiny reader for the flat JSON object fidelity.py prints (numbers and one nested object).
mod serde_json_lite {
    #[derive(Debug)]
    pub struct Obj(pub String);

    pub fn parse(s: &str) -> Obj {
        Obj(s.trim().to_string())
    }

    impl Obj {
        pub fn num(&self, key: &str) -> f64 {
            let pat = format!("\"{key}\": ");
            let i = self
                .0
                .find(&pat)
                .unwrap_or_else(|| panic!("no {key} in {}", self.0))
                + pat.len();
            let rest = &self.0[i..];
            let end = rest.find([',', '}']).unwrap_or(rest.len());
            rest[..end].trim().parse().unwrap()
        }
        pub fn columns(&self) -> Vec<(String, f64)> {
            let i = self.0.find("\"columns\": {").expect("columns") + "\"columns\": {".len();
            let rest = &self.0[i..];
            let end = rest.find('}').unwrap();
            rest[..end]
                .split(", \"")
                .filter(|p| !p.trim().is_empty())
                .map(|p| {
                    let (k, v) = p.split_once(": ").unwrap();
                    (k.trim_matches('"').to_string(), v.trim().parse().unwrap())
                })
                .collect()
        }
    }
}

/// (flow identity, vlanID) of every record of a flows.txt, sorted.
fn vlan_ids(flows_txt: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(flows_txt).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines
        .next()
        .unwrap()
        .trim_start_matches('%')
        .split('\t')
        .collect();
    let col = |name: &str| head.iter().position(|h| h.trim() == name).unwrap();
    let keep = [
        "dir", "srcIP", "srcPort", "dstIP", "dstPort", "l4Proto", "vlanID",
    ]
    .map(col);
    let mut v: Vec<String> = lines
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            keep.map(|i| c[i]).join(" ")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn vlan_ids_match_t2_on_tagged_captures() {
    // basicFlow keeps a flow's VLAN IDs apart from its per-packet state (written only for
    // tagged flows): each of these captures has tagged flows in T2's output
    for name in ["bfd", "hsrp0", "dns"] {
        let dir = tmpdir(&format!("vlan-{name}"));
        let pcap = ndpi(&format!("{name}.pcap"));
        let out = format!("{}/", dir.display());
        let o = run(&["-r", pcap.to_str().unwrap(), "-w", &out, "-c", "0"]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let ours = vlan_ids(&dir.join(format!("{name}_flows.txt")));
        let reference = shared()
            .join("reference/t2-0.9.3/default")
            .join(name)
            .join("flows.txt");
        let t2 = vlan_ids(&reference);
        assert!(
            t2.iter().any(|l| !l.ends_with(' ')),
            "{name}: the reference has tagged flows"
        );
        assert_eq!(ours, t2, "{name}: vlanID per flow");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
