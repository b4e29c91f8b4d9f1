//! Every capture of tcpdump's test suite (many malformed on purpose, many odd link types): no
//! panic, no hang; either a flows file or one clear error line.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn every_tcpdump_capture_gives_flows_or_one_clear_error() {
    let dir = shared().join("pcaps").join("tcpdump");
    let out = tmpdir("corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("../shared/pcaps/tcpdump")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(
        files.len() > 500,
        "expected the tcpdump corpus, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    let (mut with_flows, mut refused) = (0, 0);
    for f in &files {
        let stem = f.file_name().unwrap().to_string_lossy().to_string();
        let prefix = out.join(&stem);
        let args = [
            "-r",
            f.to_str().unwrap(),
            "-w",
            prefix.to_str().unwrap(),
            "-c",
            "0",
            "-l",
        ];
        let Some(o) = run_with_timeout(&args, Duration::from_secs(30)) else {
            failures.push(format!("{stem}: hang (killed after 30 s)"));
            continue;
        };
        let code = o.status.code();
        let stderr = String::from_utf8_lossy(&o.stderr);
        match code {
            None => failures.push(format!("{stem}: killed by a signal")),
            Some(c) if c >= 101 => failures.push(format!("{stem}: panic (status {c}): {stderr}")),
            Some(0) => {
                if !out.join(format!("{stem}_flows.txt")).exists() {
                    failures.push(format!("{stem}: status 0 but no flows file"));
                }
                with_flows += 1;
            }
            Some(_) => {
                let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
                if lines.len() != 1
                    || !(lines[0].contains(&stem) || lines[0].contains("link-layer"))
                {
                    failures.push(format!(
                        "{stem}: refused without one clear error line: {stderr:?}"
                    ));
                }
                refused += 1;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        with_flows > 300,
        "only {with_flows} captures processed ({refused} refused)"
    );
}
