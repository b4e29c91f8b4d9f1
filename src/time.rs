//! Packet timestamps as T2 keeps them: seconds plus a sub-second field in nanoseconds that is
//! stored exactly as the capture gave it (not normalised: fuzzed captures carry values ≥ 1e9 and
//! T2's outputs print them as such).

/// A capture timestamp. `nsec` is the record's sub-second field converted to nanoseconds with
/// wrapping 32-bit arithmetic (µs × 1000), never normalised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts {
    pub sec: u64,
    pub nsec: u32,
}

impl Ts {
    pub const ZERO: Ts = Ts { sec: 0, nsec: 0 };

    pub const fn new(sec: u64, nsec: u32) -> Ts {
        Ts { sec, nsec }
    }

    /// Seconds as a double (used for rates and report durations).
    pub fn as_f64(self) -> f64 {
        self.sec as f64 + self.nsec as f64 / 1e9
    }

    /// `self - earlier` in seconds as a double, with signed seconds (no wrap).
    pub fn diff_f64(self, earlier: Ts) -> f64 {
        (self.sec as i64 - earlier.sec as i64) as f64
            + (self.nsec as i64 - earlier.nsec as i64) as f64 / 1e9
    }

    /// T2's duration `self - earlier`: borrow on the nanoseconds, seconds wrap as unsigned 32 bit
    /// (a negative duration prints as ~4.29e9 seconds).
    pub fn t2_duration(self, earlier: Ts) -> Ts {
        let mut sec = (self.sec as u32).wrapping_sub(earlier.sec as u32);
        let mut ns = self.nsec as i64 - earlier.nsec as i64;
        if ns < 0 {
            ns += 1_000_000_000;
            sec = sec.wrapping_sub(1);
        }
        Ts {
            sec: sec as u64,
            nsec: ns as u32,
        }
    }
}
