//! Live capture, end to end (needs root): scripts/live-test.sh builds two network namespaces
//! joined by a veth pair with 2 queues, replays captures rewritten to documentation addresses
//! with tcpreplay, and checks for each backend that received + dropped = sent, that the flows
//! equal a `-r` run of the same file, that SIGINT stops the capture cleanly and that no XDP
//! program stays attached (also after SIGKILL). Then monitoring during a live run (a USR1 row
//! with pktsRec + pktsDrp + ifDrp = sent, `tamandua ctl` list and report, the metrics
//! endpoint, one SIGINT ending the run once the flows have timed out), flows split across
//! workers under a round-robin fanout, and the memory budget evicting under a flow flood.
//! Where the machine lacks something (root, tcpreplay, a kernel feature) the check is skipped
//! with the reason printed.

use std::path::Path;
use std::process::Command;

fn harness(args: &[&str]) -> (i32, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = Command::new("bash")
        .arg(root.join("scripts/live-test.sh"))
        .args(args)
        .env("TAMANDUA", env!("CARGO_BIN_EXE_tamandua"))
        .env("SHARED", root.join("../shared"))
        .output()
        .expect("run scripts/live-test.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

/// One test for all backends: they share the machine's two cores and must not run at once.
#[test]
fn live_capture_counts_every_packet_and_matches_replay() {
    let mut failed = Vec::new();
    for spec in [
        vec!["check", "af_packet"],
        vec!["check", "pcap"],
        vec!["check", "af_xdp-native"],
        vec!["check", "af_xdp-generic"],
        vec!["kill"],
        vec!["monitor", "af_packet"],
        vec!["monitor", "af_xdp-generic"],
        vec!["split"],
        vec!["budget"],
    ] {
        let (code, out) = harness(&spec);
        println!("== live-test.sh {}\n{out}", spec.join(" "));
        match code {
            0 => {}
            77 => {
                println!("skipped: {}", out.trim());
                return;
            }
            _ => failed.push(spec.join(" ")),
        }
    }
    assert!(failed.is_empty(), "live capture checks failed: {failed:?}");
}
