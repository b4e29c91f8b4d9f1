//! Run-time configuration under T2's constant names (FLOW_TIMEOUT, IPCHECKSUM, …), from a TOML
//! file (`--config`) and repeatable `-o NAME=VALUE` (later wins). Names are case-insensitive.
//! Every name must be known: the core's and the selected plugins' settings are registered with
//! a default and a description, so a typo is an error instead of a silently ignored option.

use std::collections::BTreeMap;

/// A setting: name (upper case), default value, meaning.
pub type Setting = (&'static str, &'static str, &'static str);

/// Settings of the core.
pub const CORE_SETTINGS: &[Setting] = &[
    ("FLOW_TIMEOUT", "182", "Flow timeout in seconds (packet time) before a flow is written"),
    ("MAX_FLOWS", "0", "Flow-table cap per run (0 = grow as needed); above it the oldest flow is evicted, marked RMFLOW_HFULL and counted"),
    ("HASHFACTOR", "0", "T2's -f: cap the flow table at 262144 x HASHFACTOR flows (0 = no cap)"),
    ("SENSORID", "666", "Sensor ID printed in headers and monitoring rows"),
    ("ALARM_MODE", "0", "1: write only flows a plugin raised an alarm on (FL_ALARM)"),
    ("BATCH_PACKETS", "256", "Packets per batch handed from the reader to a worker"),
    ("RING_BATCHES", "16", "Batches a reader-to-worker ring holds before the reader waits"),
    ("TICK_PACKETS", "4096", "The reader's clock reaches idle workers at least every this many packets"),
    ("INPUT_MMAP", "1", "Read plain capture files through memory mappings, handing packets to the workers without copying them (0: read them into buffers)"),
    ("FORMAT_IN_WORKERS", "auto", "Who turns flow records into text in replay: 1 the workers, 0 the writer, auto the workers when several run and every CPU has one (the writer has no CPU of its own then)"),
];

/// Parsed settings: upper-case name → value text.
#[derive(Clone, Debug, Default)]
pub struct Config {
    values: BTreeMap<String, String>,
    known: BTreeMap<String, (String, String)>,
}

impl Config {
    pub fn new() -> Config {
        let mut c = Config::default();
        c.register(CORE_SETTINGS);
        c
    }

    /// Makes settings known (with their defaults).
    pub fn register(&mut self, settings: &[Setting]) {
        for (n, d, m) in settings {
            self.known
                .insert(n.to_ascii_uppercase(), (d.to_string(), m.to_string()));
        }
    }

    /// Sets a value without checking the name (used for settings registered later).
    pub fn set_raw(&mut self, name: &str, value: &str) {
        self.values
            .insert(name.trim().to_ascii_uppercase(), value.trim().to_string());
    }

    /// Parses `NAME=VALUE`.
    pub fn set_assignment(&mut self, s: &str) -> Result<(), String> {
        let (n, v) = s
            .split_once('=')
            .ok_or_else(|| format!("-o {s}: expected NAME=VALUE"))?;
        if n.trim().is_empty() {
            return Err(format!("-o {s}: empty name"));
        }
        self.set_raw(n, v);
        Ok(())
    }

    /// Loads a TOML file of `NAME = value` pairs (a `[tamandua]` table or top level).
    pub fn load_toml(&mut self, path: &str) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let doc: toml::Table = text.parse().map_err(|e| format!("{path}: {e}"))?;
        fn walk(c: &mut Config, t: &toml::Table, path: &str) -> Result<(), String> {
            for (k, v) in t {
                match v {
                    toml::Value::Table(inner) => walk(c, inner, path)?,
                    toml::Value::String(s) => c.set_raw(k, s),
                    toml::Value::Integer(i) => c.set_raw(k, &i.to_string()),
                    toml::Value::Float(f) => c.set_raw(k, &f.to_string()),
                    toml::Value::Boolean(b) => c.set_raw(k, if *b { "1" } else { "0" }),
                    other => return Err(format!("{path}: {k}: unsupported value {other}")),
                }
            }
            Ok(())
        }
        walk(self, &doc, path)
    }

    /// Checks that every given name is known.
    pub fn validate(&self) -> Result<(), String> {
        for n in self.values.keys() {
            if !self.known.contains_key(n) {
                let mut near: Vec<&str> = self
                    .known
                    .keys()
                    .filter(|k| k.contains(n.as_str()) || n.contains(k.as_str()))
                    .map(|s| s.as_str())
                    .collect();
                near.truncate(5);
                let hint = if near.is_empty() {
                    String::new()
                } else {
                    format!(" (did you mean {}?)", near.join(", "))
                };
                return Err(format!(
                    "unknown setting {n}{hint}; `tamandua --list-settings` shows every setting of the selected plugins"
                ));
            }
        }
        Ok(())
    }

    /// The value text of a setting (given value or its registered default).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(|s| s.as_str())
            .or_else(|| self.known.get(name).map(|(d, _)| d.as_str()))
    }

    pub fn f64(&self, name: &str) -> f64 {
        self.text(name).and_then(|s| s.parse().ok()).unwrap_or(0.0)
    }

    pub fn u64(&self, name: &str) -> u64 {
        self.text(name).and_then(parse_int).unwrap_or(0)
    }

    pub fn bool(&self, name: &str) -> bool {
        matches!(self.text(name), Some(s) if !matches!(s.to_ascii_lowercase().as_str(), "0" | "false" | "no" | "off" | ""))
    }

    /// Checks that numeric settings parse, so a bad value is an error at start-up.
    pub fn check_numeric(&self, names: &[&str]) -> Result<(), String> {
        for n in names {
            if let Some(v) = self.values.get(*n) {
                if v.parse::<f64>().is_err() && parse_int(v).is_none() {
                    return Err(format!("setting {n}={v}: not a number"));
                }
            }
        }
        Ok(())
    }

    /// Every known setting with its current value and meaning (for `--list-settings`).
    pub fn describe(&self) -> Vec<(String, String, String)> {
        self.known
            .iter()
            .map(|(n, (d, m))| {
                (
                    n.clone(),
                    self.values.get(n).cloned().unwrap_or_else(|| d.clone()),
                    m.clone(),
                )
            })
            .collect()
    }
}

fn parse_int(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(h, 16).ok()
    } else {
        s.parse::<u64>().ok().or_else(|| {
            s.parse::<f64>()
                .ok()
                .filter(|f| *f >= 0.0)
                .map(|f| f as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_later_wins() {
        let mut c = Config::new();
        c.set_assignment("flow_timeout=10").unwrap();
        c.set_assignment("FLOW_TIMEOUT = 20").unwrap();
        assert_eq!(c.f64("FLOW_TIMEOUT"), 20.0);
        c.validate().unwrap();
    }

    #[test]
    fn defaults_and_unknown_names() {
        let mut c = Config::new();
        assert_eq!(c.u64("FLOW_TIMEOUT"), 182);
        c.set_assignment("FLOW_TIMOUT=1").unwrap();
        let e = c.validate().unwrap_err();
        assert!(e.contains("FLOW_TIMOUT"), "{e}");
        assert!(c.set_assignment("novalue").is_err());
    }

    #[test]
    fn toml_file() {
        let dir = std::env::temp_dir().join(format!("tamandua-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(&p, "FLOW_TIMEOUT = 30\n[plugins]\nsensorid = 7\n").unwrap();
        let mut c = Config::new();
        c.load_toml(p.to_str().unwrap()).unwrap();
        assert_eq!(c.u64("FLOW_TIMEOUT"), 30);
        assert_eq!(c.u64("SENSORID"), 7);
        assert!(c.bool("FLOW_TIMEOUT"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
