//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tamandua")
}

/// `../shared` next to the project (where CI puts it).
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("shared")
}

pub fn ndpi(name: &str) -> PathBuf {
    shared().join("pcaps").join("ndpi").join(name)
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tamandua-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs tamandua with a wall-clock limit; returns None on timeout (the process is killed).
pub fn run_with_timeout(args: &[&str], limit: Duration) -> Option<Output> {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tamandua");
    let start = Instant::now();
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().ok();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn run(args: &[&str]) -> Output {
    run_with_timeout(args, Duration::from_secs(120)).expect("tamandua timed out")
}

/// Flow records without the flowInd column (numbering depends on the worker count), sorted.
pub fn record_set(flows_txt: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(flows_txt).unwrap();
    let mut v: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| {
            let mut c: Vec<&str> = l.split('\t').collect();
            if c.len() > 1 {
                c.remove(1);
            }
            c.join("\t")
        })
        .collect();
    v.sort();
    v
}
