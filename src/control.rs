//! `tamandua ctl`: controls running instances (like T2's t2stat) by sending them the signals
//! the monitor handles (`crate::monitor::signals`): list instances, one report, a report every
//! N seconds, toggle periodic reports, stop flow creation, write all flows and exit, exit at once.
//! Instances are found in /proc by their command name; `-s` sends through sudo for instances
//! that run as root.

use std::time::Duration;

const HELP: &str = "\
Control running tamandua instances (as T2's t2stat)

Usage: tamandua ctl [-s] [COMMAND] [PID...]

Commands:
  list               List running instances: PID, running time, command (the default)
  pids               Print the PIDs only
  report             One monitoring report (SIGUSR1)
  report --every N   A report every N seconds until interrupted
  periodic           Switch periodic reports on or off (SIGUSR2; interval MONINTV / -M)
  nocreate           Stop creating flows; the run ends when its flows have drained (first SIGINT)
  stop               Stop reading, write every flow and the end report, exit (SIGTERM)
  kill               Exit at once; flows not yet written are lost (SIGTERM twice)
  signal NAME        Send signal NAME (USR1, USR2, INT, TERM, ...)

Without PIDs a command goes to every running instance.

Options:
  -s                 Send through sudo (for instances that run as root)
  -h, --help         This help

Examples:
  tamandua ctl                       # what is running
  tamandua ctl report                # one report from every instance
  tamandua ctl -s report --every 30 4242
  tamandua ctl periodic 4242         # periodic reports on (again: off)
  tamandua ctl stop                  # like Ctrl-C twice
";

/// One running instance.
#[derive(Clone, Debug)]
pub struct Instance {
    pub pid: i32,
    pub running: Duration,
    pub command: String,
}

/// The program names that identify an instance.
fn our_names() -> Vec<String> {
    let mut v = vec!["tamandua".to_string()];
    if let Some(n) = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
    {
        if !v.contains(&n) {
            v.push(n);
        }
    }
    v
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn uptime() -> f64 {
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// Seconds since the process started (from /proc/PID/stat field 22).
fn running_time(pid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // fields after the command: state is field 3, so starttime (22) is the 20th here
    let start: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let secs = (uptime() - start / clock_ticks()).max(0.0);
    Some(Duration::from_secs_f64(secs))
}

/// Running instances (other than this process and other `ctl` invocations).
pub fn instances() -> Vec<Instance> {
    let names = our_names();
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(a0) = args.first() else { continue };
        let base = a0.rsplit('/').next().unwrap_or(a0);
        if !names.iter().any(|n| n == base) || args.get(1).map(String::as_str) == Some("ctl") {
            continue;
        }
        out.push(Instance {
            pid,
            running: running_time(pid).unwrap_or_default(),
            command: args.join(" "),
        });
    }
    out.sort_by_key(|i| i.pid);
    out
}

fn hms(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}-{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

fn signal_by_name(n: &str) -> Result<nix::sys::signal::Signal, String> {
    let up = n.trim_start_matches('-').to_ascii_uppercase();
    let full = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    full.parse()
        .map_err(|_| format!("unknown signal '{n}' (try USR1, USR2, INT, TERM)"))
}

/// Sends `sig` to `pid` (through sudo with `-s`).
pub fn send(pid: i32, sig: nix::sys::signal::Signal, sudo: bool) -> Result<(), String> {
    if sudo {
        let name = sig.as_str().trim_start_matches("SIG");
        let st = std::process::Command::new("sudo")
            .args(["kill", "-s", name, &pid.to_string()])
            .status()
            .map_err(|e| format!("sudo: {e}"))?;
        return if st.success() {
            Ok(())
        } else {
            Err(format!("sudo kill -s {name} {pid} failed"))
        };
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).map_err(|e| {
        if e == nix::errno::Errno::EPERM {
            format!(
                "{pid}: permission denied (it runs as another user: use -s to send through sudo)"
            )
        } else {
            format!("{pid}: {e}")
        }
    })
}

/// Entry point of `tamandua ctl ARGS`; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    match run(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tamandua ctl: {e}");
            1
        }
    }
}

fn run(args: &[String]) -> Result<i32, String> {
    use nix::sys::signal::Signal;
    let mut sudo = false;
    let mut cmd: Option<String> = None;
    let mut sig_name: Option<String> = None;
    let mut every: Option<f64> = None;
    let mut pids: Vec<i32> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" | "help" => {
                print!("{HELP}");
                return Ok(0);
            }
            "-s" => sudo = true,
            "--every" | "-n" => {
                let v = it.next().ok_or("--every needs a number of seconds")?;
                let n: f64 = v
                    .parse()
                    .map_err(|_| format!("--every {v}: not a number of seconds"))?;
                if n.is_nan() || n <= 0.0 {
                    return Err(format!("--every {v}: must be positive"));
                }
                every = Some(n);
            }
            s if s.parse::<i32>().is_ok_and(|p| p > 0) => pids.push(s.parse().unwrap_or(0)),
            s if cmd.as_deref() == Some("signal") && sig_name.is_none() => {
                sig_name = Some(s.to_string())
            }
            s if s.starts_with('-') && s.len() > 2 => {
                // t2stat style: -USR2, -TERM
                cmd = Some("signal".into());
                sig_name = Some(s[1..].to_string());
            }
            s if cmd.is_none() => cmd = Some(s.to_string()),
            s => {
                return Err(format!(
                    "unexpected argument '{s}' (see tamandua ctl --help)"
                ))
            }
        }
    }
    let cmd = cmd.unwrap_or_else(|| "list".into());
    let running = instances();
    let targets: Vec<i32> = if pids.is_empty() {
        running.iter().map(|i| i.pid).collect()
    } else {
        pids.clone()
    };
    match cmd.as_str() {
        "list" | "ls" | "-l" => {
            let shown: Vec<&Instance> = running
                .iter()
                .filter(|i| pids.is_empty() || pids.contains(&i.pid))
                .collect();
            if shown.is_empty() {
                println!("No running instance of tamandua found");
                return Ok(1);
            }
            println!("{:<8} {:>12}  COMMAND", "PID", "RUNNING");
            for i in shown {
                println!("{:<8} {:>12}  {}", i.pid, hms(i.running), i.command);
            }
            return Ok(0);
        }
        "pids" | "-p" => {
            for p in &targets {
                println!("{p}");
            }
            return Ok(if targets.is_empty() { 1 } else { 0 });
        }
        _ => {}
    }
    if targets.is_empty() {
        println!("No running instance of tamandua found");
        return Ok(1);
    }
    let sig = match cmd.as_str() {
        "report" => Signal::SIGUSR1,
        "periodic" => Signal::SIGUSR2,
        "nocreate" | "no-create" => Signal::SIGINT,
        "stop" | "terminate" => Signal::SIGTERM,
        "kill" => Signal::SIGTERM,
        "signal" => signal_by_name(sig_name.as_deref().ok_or("signal needs a NAME")?)?,
        other => {
            return Err(format!(
                "unknown command '{other}' (see tamandua ctl --help)"
            ))
        }
    };
    let send_all = |sig: Signal| -> i32 {
        let mut rc = 0;
        for &p in &targets {
            if let Err(e) = send(p, sig, sudo) {
                eprintln!("tamandua ctl: {e}");
                rc = 1;
            }
        }
        rc
    };
    if cmd == "report" {
        if let Some(n) = every {
            // a report every N seconds while any target is alive
            loop {
                send_all(sig);
                std::thread::sleep(Duration::from_secs_f64(n));
                let alive = targets
                    .iter()
                    .any(|&p| std::path::Path::new(&format!("/proc/{p}")).exists());
                if !alive {
                    return Ok(0);
                }
            }
        }
    }
    let rc = send_all(sig);
    if cmd == "kill" {
        // a second TERM while the first is being handled exits at once (two pending TERMs
        // would merge into one, so wait for the first to be taken)
        std::thread::sleep(Duration::from_millis(300));
        for &p in &targets {
            if std::path::Path::new(&format!("/proc/{p}")).exists() {
                let _ = send(p, Signal::SIGTERM, sudo);
            }
        }
    }
    Ok(rc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_times() {
        assert_eq!(
            signal_by_name("USR1").unwrap(),
            nix::sys::signal::Signal::SIGUSR1
        );
        assert_eq!(
            signal_by_name("-sigterm").unwrap(),
            nix::sys::signal::Signal::SIGTERM
        );
        assert!(signal_by_name("NOPE").is_err());
        assert_eq!(hms(Duration::from_secs(3_725)), "01:02:05");
        assert_eq!(hms(Duration::from_secs(90_000)), "1-01:00:00");
        assert!(running_time(std::process::id() as i32).is_some());
    }
}
