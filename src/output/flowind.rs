//! The writer's map from a worker's provisional flowInd to the global one (T2's numbering:
//! flows in creation order over all workers).
//!
//! Worker `w` of `n` numbers its `k`-th flow `k·n + w + 1`, and the writer learns them in that
//! order (a worker announces its creations in capture order). So each worker's numbers index
//! a window: a deque of global numbers from the oldest flow still open to the newest, slots of
//! written flows zero. A lookup is one load where a hash map took two cache misses (control
//! bytes, then the bucket: 90% of the writer's renumbering when 2 M flows were flushed at the
//! end of small64). A flow open for a long time would keep the window from shrinking behind
//! it, so a window longer than [`MAX_WINDOW`] hands its oldest entries to a hash map.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// Entries of a worker's window (8 bytes each) before its oldest move to the hash map.
pub const MAX_WINDOW: usize = 1 << 20;

/// A multiplicative hash of the provisional number (it is no attacker's choice).
#[derive(Default)]
pub struct IndHasher(u64);

impl Hasher for IndHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        // high bits feed hashbrown's control bytes, low bits its bucket index
        let h = (self.0 ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = h ^ (h >> 32);
    }
}

type IndMap = HashMap<u64, u64, BuildHasherDefault<IndHasher>>;

#[derive(Default)]
struct Window {
    /// The worker-local index `k` of `slots[0]`.
    base: u64,
    /// Global numbers; 0: none (written, or never announced).
    slots: VecDeque<u64>,
}

/// Provisional → global flowInd for `n` workers.
pub struct GlobalInds {
    workers: u64,
    windows: Vec<Window>,
    /// Entries older than their worker's window.
    old: IndMap,
    max_window: usize,
}

impl GlobalInds {
    pub fn new(workers: usize) -> GlobalInds {
        GlobalInds::with_window(workers, MAX_WINDOW)
    }

    fn with_window(workers: usize, max_window: usize) -> GlobalInds {
        let workers = workers.max(1);
        GlobalInds {
            workers: workers as u64,
            windows: (0..workers).map(|_| Window::default()).collect(),
            old: IndMap::default(),
            max_window: max_window.max(1),
        }
    }

    /// (worker, local index) of a provisional number (which is never 0).
    fn split(&self, prov: u64) -> Option<(usize, u64)> {
        let p = prov.checked_sub(1)?;
        Some(((p % self.workers) as usize, p / self.workers))
    }

    pub fn insert(&mut self, prov: u64, global: u64) {
        let Some((w, k)) = self.split(prov) else {
            return;
        };
        let win = &mut self.windows[w];
        if k < win.base {
            self.old.insert(prov, global);
            return;
        }
        if win.slots.is_empty() {
            win.base = k;
        }
        let at = (k - win.base) as usize;
        if at >= win.slots.len() {
            win.slots.resize(at + 1, 0);
        }
        win.slots[at] = global;
        while win.slots.len() > self.max_window {
            let Some(g) = win.slots.pop_front() else {
                break;
            };
            if g != 0 {
                // k of the entry leaving: its provisional number again
                self.old.insert(win.base * self.workers + w as u64 + 1, g);
            }
            win.base += 1;
        }
    }

    pub fn get(&self, prov: u64) -> Option<u64> {
        let (w, k) = self.split(prov)?;
        let win = &self.windows[w];
        match k
            .checked_sub(win.base)
            .and_then(|i| win.slots.get(i as usize))
        {
            Some(&g) if g != 0 => Some(g),
            Some(_) => None,
            None => self.old.get(&prov).copied(),
        }
    }

    /// A hint that `prov` will be looked up soon: its window entry is fetched into the cache
    /// (the flows written at the end of a run come in LRU order, random in their windows).
    #[inline]
    pub fn prefetch(&self, prov: u64) {
        if let Some((w, k)) = self.split(prov) {
            let win = &self.windows[w];
            if let Some(e) = k
                .checked_sub(win.base)
                .and_then(|i| win.slots.get(i as usize))
            {
                crate::flow::table::prefetch(e);
            }
        }
    }

    /// Forgets a number (its flow's last record is written).
    pub fn remove(&mut self, prov: u64) {
        let Some((w, k)) = self.split(prov) else {
            return;
        };
        let win = &mut self.windows[w];
        match k.checked_sub(win.base).map(|i| i as usize) {
            Some(i) if i < win.slots.len() => {
                win.slots[i] = 0;
                // the window starts at the oldest flow still open
                while win.slots.front() == Some(&0) {
                    win.slots.pop_front();
                    win.base += 1;
                }
            }
            _ => {
                self.old.remove(&prov);
            }
        }
    }

    /// Entries held (windows' open slots and the hash map), for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        let open: usize = self
            .windows
            .iter()
            .map(|w| w.slots.iter().filter(|&&g| g != 0).count())
            .sum();
        open + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Random creations and removals in the writer's order, checked against a plain map,
    /// with windows small enough that entries move to the hash map.
    #[test]
    fn agrees_with_a_map_under_random_creation_and_removal() {
        let mut r = crate::testutil::XorShift(0x5eed_1234_abcd_0042);
        for (workers, window) in [(1, 4), (2, 8), (3, 1 << 20), (4, 3)] {
            let mut g = GlobalInds::with_window(workers, window);
            let mut model: HashMap<u64, u64> = HashMap::new();
            let mut next_local = vec![0u64; workers];
            let mut open: Vec<u64> = Vec::new();
            let mut next_global = 0;
            for _ in 0..20_000 {
                if open.is_empty() || r.below(3) > 0 {
                    let w = r.below(workers as u64) as usize;
                    let prov = next_local[w] * workers as u64 + w as u64 + 1;
                    next_local[w] += 1;
                    next_global += 1;
                    g.insert(prov, next_global);
                    model.insert(prov, next_global);
                    open.push(prov);
                } else {
                    // mostly recent flows end, some stay open for long
                    let i = if r.below(10) == 0 {
                        r.below(open.len() as u64) as usize
                    } else {
                        open.len() - 1 - r.below(open.len().min(5) as u64) as usize
                    };
                    let prov = open.swap_remove(i);
                    // a hint only: for open, written, old and unknown numbers alike
                    g.prefetch(prov);
                    g.prefetch(prov + 7 * workers as u64);
                    g.prefetch(0);
                    assert_eq!(g.get(prov), model.remove(&prov), "prov {prov}");
                    g.remove(prov);
                    assert_eq!(g.get(prov), None, "prov {prov} removed");
                }
            }
            for &prov in &open {
                assert_eq!(g.get(prov), model.get(&prov).copied(), "prov {prov}");
            }
            assert_eq!(g.len(), open.len());
            assert_eq!(g.get(0), None, "0 is no provisional number");
            // never announced
            assert_eq!(g.get(next_global * workers as u64 * 10 + 1), None);
        }
    }

    #[test]
    fn a_long_open_flow_moves_to_the_map_and_stays_found() {
        let mut g = GlobalInds::with_window(2, 4);
        // worker 1's flows: 2, 4, 6, ...; the first stays open
        for k in 0..10u64 {
            g.insert(k * 2 + 2, 100 + k);
            if k > 0 {
                g.remove(k * 2 + 2);
            }
        }
        assert_eq!(g.get(2), Some(100));
        assert!(g.windows[1].slots.len() <= 4);
        assert_eq!(g.old.len(), 1, "the old flow left the window");
        g.remove(2);
        assert_eq!(g.get(2), None);
        assert_eq!(g.len(), 0);
    }
}
