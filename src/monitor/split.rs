//! Flows split across workers: live capture relies on the NIC (RSS) or the kernel (fanout) to
//! send both directions of a connection to one worker. When that distribution is not
//! symmetric, the two directions become two unpaired flows on two workers. This table counts
//! such flows without touching the packet path: it is consulted only when a worker creates a
//! flow for which its own table holds no reverse flow.
//!
//! Each entry is one `AtomicU64` indexed by a direction-independent hash of the flow key and
//! holding: a tag (more bits of that hash), the direction the key was seen in, and the worker
//! that created it. A worker creating an unpaired flow swaps its own entry in; if the previous
//! entry has the same tag, the other direction and another worker, the reverse flow lives on
//! another worker: one split flow. Two different connections that share an entry overwrite each
//! other, so a split can go unseen (never the other way round, up to 47-bit tag collisions):
//! the count is a lower bound.

use crate::dissect::{mix64, FlowKey};
use std::sync::atomic::{AtomicU64, Ordering};

/// Entries of the table (a power of two): 512 KiB, enough that overwrites are rare for the
/// flows created within a flow timeout on a busy link.
pub const DEFAULT_ENTRIES: usize = 1 << 16;

const WORKER_BITS: u32 = 16;
const DIR_BIT: u64 = 1 << WORKER_BITS;
const TAG_SHIFT: u32 = WORKER_BITS + 1;

/// See the module description.
pub struct SplitTable {
    entries: Box<[AtomicU64]>,
    mask: u64,
    split: AtomicU64,
}

/// The key's direction-independent hash and its direction (`None` when both ends are equal:
/// such a flow is its own reverse).
fn symmetric_hash(k: &FlowKey) -> Option<(u64, bool)> {
    let a = (k.src, k.sport);
    let b = (k.dst, k.dport);
    let forward = match a.cmp(&b) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Greater => false,
        std::cmp::Ordering::Equal => return None,
    };
    let (lo, hi) = if forward { (a, b) } else { (b, a) };
    let word =
        |x: &[u8; 16], i: usize| u64::from_le_bytes(x[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut h = mix64(word(&lo.0, 0) ^ 0x5157_4c49_5453_0001);
    h = mix64(h ^ word(&lo.0, 8));
    h = mix64(h ^ word(&hi.0, 0));
    h = mix64(h ^ word(&hi.0, 8));
    h = mix64(
        h ^ (lo.1 as u64)
            ^ (hi.1 as u64) << 16
            ^ (k.proto as u64) << 32
            ^ (k.l2 as u64) << 40
            ^ (k.vlan as u64) << 41,
    );
    Some((mix64(h ^ k.eth_type as u64), forward))
}

impl SplitTable {
    /// A table of `entries` entries (rounded up to a power of two).
    pub fn new(entries: usize) -> SplitTable {
        let n = entries.max(2).next_power_of_two();
        SplitTable {
            entries: (0..n).map(|_| AtomicU64::new(0)).collect(),
            mask: n as u64 - 1,
            split: AtomicU64::new(0),
        }
    }

    /// Worker `worker` created a flow with key `key` and found no reverse flow in its own
    /// table. Returns whether the reverse flow was recorded by another worker (and counts it).
    pub fn unpaired_flow(&self, key: &FlowKey, worker: usize) -> bool {
        let Some((h, forward)) = symmetric_hash(key) else {
            return false;
        };
        let who = (worker as u64 + 1) & ((1 << WORKER_BITS) - 1);
        let tag = h >> TAG_SHIFT;
        let mine = tag << TAG_SHIFT | if forward { DIR_BIT } else { 0 } | who;
        let prev = self.entries[(h & self.mask) as usize].swap(mine, Ordering::Relaxed);
        let split = prev != 0
            && prev >> TAG_SHIFT == tag
            && (prev & DIR_BIT) != (mine & DIR_BIT)
            && prev & (DIR_BIT - 1) != who;
        if split {
            self.split.fetch_add(1, Ordering::Relaxed);
        }
        split
    }

    /// Flows found split so far (a lower bound, see the module description).
    pub fn count(&self) -> u64 {
        self.split.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(a: u8, b: u8, sp: u16, dp: u16) -> FlowKey {
        let mut k = FlowKey {
            sport: sp,
            dport: dp,
            proto: 17,
            eth_type: 0x0800,
            ip_ver: 4,
            ..Default::default()
        };
        k.src[..4].copy_from_slice(&[192, 0, 2, a]);
        k.dst[..4].copy_from_slice(&[198, 51, 100, b]);
        k
    }

    #[test]
    fn the_hash_ignores_the_direction() {
        let k = key(1, 2, 1000, 53);
        let (h1, d1) = symmetric_hash(&k).unwrap();
        let (h2, d2) = symmetric_hash(&k.reversed()).unwrap();
        assert_eq!(h1, h2);
        assert_ne!(d1, d2);
        assert_ne!(h1, symmetric_hash(&key(1, 2, 1001, 53)).unwrap().0);
        let mut same = k;
        same.dst = same.src;
        same.dport = same.sport;
        assert!(symmetric_hash(&same).is_none());
    }

    #[test]
    fn reverse_flow_on_another_worker_is_counted() {
        let t = SplitTable::new(DEFAULT_ENTRIES);
        let k = key(1, 2, 1000, 53);
        assert!(!t.unpaired_flow(&k, 0));
        assert!(t.unpaired_flow(&k.reversed(), 1));
        assert_eq!(t.count(), 1);
    }

    #[test]
    fn same_worker_same_direction_or_other_flow_is_not_counted() {
        let t = SplitTable::new(DEFAULT_ENTRIES);
        let k = key(1, 2, 1000, 53);
        t.unpaired_flow(&k, 0);
        // the reverse flow on the same worker (it would have paired; e.g. after a timeout)
        assert!(!t.unpaired_flow(&k.reversed(), 0));
        // the same direction again on another worker (a non-flow-preserving fanout)
        t.unpaired_flow(&k, 0);
        assert!(!t.unpaired_flow(&k, 1));
        // an unrelated flow
        assert!(!t.unpaired_flow(&key(3, 4, 1000, 53), 1));
        assert_eq!(t.count(), 0);
    }

    #[test]
    fn collisions_hide_splits_but_never_invent_them() {
        // two entries only: most unrelated keys share one
        let t = SplitTable::new(2);
        let mut found = 0;
        for i in 0..200u16 {
            let k = key(1, 2, 1000 + i, 53);
            t.unpaired_flow(&k, 0);
            t.unpaired_flow(&key(9, 9, 2000 + i, 53), 0);
            if t.unpaired_flow(&k.reversed(), 1) {
                found += 1;
            }
        }
        assert!(found < 200, "an overwritten entry must hide some splits");
        assert_eq!(t.count(), found);
        // only reverse keys were ever counted: unrelated keys on two workers give nothing
        let u = SplitTable::new(2);
        for i in 0..1000u16 {
            u.unpaired_flow(&key(1, 2, i, 80), (i % 2) as usize);
        }
        assert_eq!(u.count(), 0);
    }
}
