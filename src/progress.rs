//! Progress of a replay as report lines: share of the input bytes read (over the whole series
//! of files for `-R`/`-D`), elapsed and remaining time, and the estimated time of finish.
//!
//! The bytes are the on-disk bytes (compressed files count as stored), which is what the
//! reader's speed is limited by and what the user sees with `ls`.

use crate::config::Setting;
use std::time::{Duration, Instant};

/// The settings this module reads.
pub const SETTINGS: &[Setting] = &[(
    "PROGRESS_INTERVAL",
    "60",
    "Seconds between progress lines (input read, remaining time, estimated finish) during a replay; 0 = none",
)];

pub struct Progress {
    start: Instant,
    interval: Option<Duration>,
    next: Instant,
}

impl Progress {
    pub fn new(interval_secs: f64) -> Progress {
        let start = Instant::now();
        let interval = (interval_secs > 0.0 && interval_secs.is_finite())
            .then(|| Duration::from_secs_f64(interval_secs));
        Progress {
            start,
            interval,
            next: start + interval.unwrap_or_default(),
        }
    }

    /// A progress line when one is due (call it every few thousand packets).
    pub fn tick(&mut self, consumed: u64, total: Option<u64>) -> Option<String> {
        let iv = self.interval?;
        let now = Instant::now();
        if now < self.next {
            return None;
        }
        self.next = now + iv;
        Some(self.line(consumed, total))
    }

    /// The line for the current position.
    pub fn line(&self, consumed: u64, total: Option<u64>) -> String {
        let el = self.start.elapsed().as_secs_f64();
        line(consumed, total, el, unix_now())
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `1h 02m 03s`-style text.
pub fn dur(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    let (h, m, s) = (s / 3600, s % 3600 / 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// `2024-01-31 13:45:00 UTC`.
pub fn utc(sec: u64) -> String {
    let days = (sec / 86_400) as i64;
    let sod = sec % 86_400;
    // civil date from days since 1970-01-01 (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The progress line for `consumed` of `total` bytes after `elapsed` seconds.
pub fn line(consumed: u64, total: Option<u64>, elapsed: f64, now: u64) -> String {
    let h = crate::budget::human;
    match total.filter(|&t| t > 0) {
        Some(t) => {
            let frac = (consumed as f64 / t as f64).min(1.0);
            let mut s = format!(
                "[INF] Progress: {:.2}% ({} of {}), elapsed {}",
                100.0 * frac,
                h(consumed),
                h(t),
                dur(elapsed)
            );
            if consumed > 0 && elapsed > 0.0 {
                let rest = elapsed * (t.saturating_sub(consumed)) as f64 / consumed as f64;
                s.push_str(&format!(
                    ", remaining {}, ETF {}",
                    dur(rest),
                    utc(now + rest.round() as u64)
                ));
            }
            s
        }
        None => format!(
            "[INF] Progress: {} read, elapsed {}",
            h(consumed),
            dur(elapsed)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(dur(3723.0), "1h 02m 03s");
        assert_eq!(dur(65.0), "1m 05s");
        let l = line(1 << 30, Some(4 << 30), 60.0, 1_700_000_000);
        assert_eq!(
            l,
            "[INF] Progress: 25.00% (1.00 GiB of 4.00 GiB), elapsed 1m 00s, remaining 3m 00s, ETF 2023-11-14 22:16:20 UTC"
        );
        assert!(line(10, None, 1.0, 0).contains("read"));
    }

    #[test]
    fn interval_zero_means_never() {
        let mut p = Progress::new(0.0);
        assert!(p.tick(1, Some(2)).is_none());
    }
}
