//! One worker's shard of the flow table: an arena of flows addressed by slot, a hash index
//! from flow key to slot, the LRU list with T2's timeout sentinels, and the fragment index
//! (core.md 7–9). Nothing here is shared between threads.

use crate::dissect::{mix64, FlowKey};
use crate::time::Ts;
use hashbrown::HashTable;

/// "No slot".
pub const NIL: u32 = u32::MAX;

/// Core per-flow state (plugins keep theirs in their own slot-indexed arrays).
#[derive(Clone, Debug)]
pub struct Flow {
    pub key: FlowKey,
    pub first_seen: Ts,
    pub last_seen: Ts,
    pub status: u64,
    pub flow_ind: u64,
    /// Slot of the opposite-direction flow, or [`NIL`].
    pub partner: u32,
    /// This flow's timeout in seconds (plugins may change it at any packet).
    pub timeout: f32,
    /// Padding bytes of the flow's packets (padBytesSnt).
    pub pad_bytes: i64,
    /// Last IPv4 identification, `u32::MAX` for a new flow (DUPIPID needs three packets).
    pub last_ip_id: u32,
    pub last_frag_id: u32,
    /// Packet number of the last move to the LRU head: the end-of-input flush order.
    pub lru_stamp: u64,
    older: u32,
    newer: u32,
    /// A timeout-handler sentinel rather than a flow.
    sentinel: bool,
    live: bool,
}

impl Flow {
    fn blank() -> Flow {
        Flow {
            key: FlowKey::default(),
            first_seen: Ts::ZERO,
            last_seen: Ts::ZERO,
            status: 0,
            flow_ind: 0,
            partner: NIL,
            timeout: 0.0,
            pad_bytes: 0,
            last_ip_id: u32::MAX,
            last_frag_id: 0,
            lru_stamp: 0,
            older: NIL,
            newer: NIL,
            sentinel: false,
            live: false,
        }
    }

    pub fn has(&self, bits: u64) -> bool {
        self.status & bits != 0
    }

    pub fn partner(&self) -> Option<u32> {
        (self.partner != NIL).then_some(self.partner)
    }

    /// Whether the flow is in the table (not yet written).
    pub fn is_live(&self) -> bool {
        self.live
    }
}

/// T2's flow age: `float32(float32(Δsec) + Δnsec / 1e9)`.
pub fn age(now: Ts, last: Ts) -> f32 {
    let ds = (now.sec as i64).wrapping_sub(last.sec as i64) as f32;
    (ds as f64 + (now.nsec as i64 - last.nsec as i64) as f64 / 1e9) as f32
}

/// A timeout handler: a timeout value and the sentinel that marks how far the LRU walk for
/// that value has progressed.
#[derive(Clone, Copy, Debug)]
struct Handler {
    timeout: f32,
    sentinel: u32,
}

fn key_hash(k: &FlowKey) -> u64 {
    let a = u128::from_ne_bytes(k.src);
    let b = u128::from_ne_bytes(k.dst);
    let h = mix64((a as u64) ^ ((a >> 64) as u64).rotate_left(23) ^ 0x9e37_79b9_7f4a_7c15);
    let h = mix64(h ^ (b as u64) ^ ((b >> 64) as u64).rotate_left(41));
    mix64(h ^ k.tail() ^ ((k.proto as u64) << 1 | k.l2 as u64).rotate_left(29))
}

/// The fragment index key: the flow key with the ports replaced by the fragment ID.
pub fn frag_key(k: &FlowKey, id: u32, proto: u8) -> FlowKey {
    FlowKey {
        sport: (id >> 16) as u16,
        dport: id as u16,
        proto,
        ..*k
    }
}

/// One worker's flow table.
pub struct FlowTable {
    flows: Vec<Flow>,
    free: Vec<u32>,
    index: HashTable<u32>,
    frags: HashTable<(FlowKey, u32)>,
    /// Newest end of the LRU list.
    head: u32,
    /// Oldest end.
    tail: u32,
    handlers: Vec<Handler>,
    live: usize,
    /// Maximum number of live flows; 0 = grow without limit.
    pub capacity: usize,
    /// Alarms plugins raised on flows of this shard (the report's "N alarms in M flows").
    pub alarms: u64,
}

impl FlowTable {
    /// `timeouts`: the distinct timeout values registered by the core and the plugins, in
    /// registration order.
    pub fn new(timeouts: &[f32], capacity: usize) -> FlowTable {
        let mut t = FlowTable {
            flows: Vec::with_capacity(1024),
            free: Vec::new(),
            index: HashTable::with_capacity(1024),
            frags: HashTable::new(),
            head: NIL,
            tail: NIL,
            handlers: Vec::new(),
            live: 0,
            capacity,
            alarms: 0,
        };
        for &to in timeouts {
            if t.handlers.iter().any(|h| h.timeout == to) {
                continue;
            }
            let s = t.alloc();
            t.flows[s as usize].sentinel = true;
            t.flows[s as usize].live = true;
            // inserted at the tail end of the list
            t.link_tail(s);
            t.handlers.push(Handler {
                timeout: to,
                sentinel: s,
            });
        }
        t.handlers.sort_by(|a, b| b.timeout.total_cmp(&a.timeout));
        t
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Slots ever allocated (plugins size their arrays to this).
    pub fn slots(&self) -> usize {
        self.flows.len()
    }

    pub fn get(&self, slot: u32) -> &Flow {
        &self.flows[slot as usize]
    }

    pub fn get_mut(&mut self, slot: u32) -> &mut Flow {
        &mut self.flows[slot as usize]
    }

    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    pub fn flows_mut(&mut self) -> &mut [Flow] {
        &mut self.flows
    }

    /// Whether a new flow needs an eviction first.
    pub fn is_full(&self) -> bool {
        self.capacity != 0 && self.live >= self.capacity
    }

    fn alloc(&mut self) -> u32 {
        if let Some(s) = self.free.pop() {
            self.flows[s as usize] = Flow::blank();
            s
        } else {
            self.flows.push(Flow::blank());
            (self.flows.len() - 1) as u32
        }
    }

    pub fn lookup(&self, key: &FlowKey) -> Option<u32> {
        let flows = &self.flows;
        self.index
            .find(key_hash(key), |&s| flows[s as usize].key == *key)
            .copied()
    }

    /// Inserts a new flow at the LRU head and returns its slot. The caller fills the fields.
    pub fn insert(&mut self, key: FlowKey, stamp: u64) -> u32 {
        let s = self.alloc();
        {
            let f = &mut self.flows[s as usize];
            f.key = key;
            f.live = true;
            f.lru_stamp = stamp;
        }
        let flows = &self.flows;
        self.index
            .insert_unique(key_hash(&key), s, |&x| key_hash(&flows[x as usize].key));
        self.link_head(s);
        self.live += 1;
        s
    }

    /// Removes a flow from the index and the LRU list and frees its slot.
    pub fn remove(&mut self, slot: u32) {
        self.detach(slot);
        self.free_detached(slot);
    }

    /// Takes a flow out of the index and the LRU list; its slot stays readable (the flow is
    /// about to be written) until [`FlowTable::free_detached`]. Idempotent.
    pub fn detach(&mut self, slot: u32) {
        if !self.flows[slot as usize].live {
            return;
        }
        let key = self.flows[slot as usize].key;
        if let Ok(e) = self.index.find_entry(key_hash(&key), |&s| s == slot) {
            e.remove();
        }
        self.unlink(slot);
        self.flows[slot as usize].live = false;
        self.live -= 1;
    }

    /// Returns a detached slot to the free list.
    pub fn free_detached(&mut self, slot: u32) {
        debug_assert!(!self.flows[slot as usize].live);
        self.free.push(slot);
    }

    /// Moves a flow to the LRU head (a packet was attached through the normal lookup).
    pub fn touch(&mut self, slot: u32, stamp: u64) {
        self.flows[slot as usize].lru_stamp = stamp;
        if self.head == slot {
            return;
        }
        self.unlink(slot);
        self.link_head(slot);
    }

    fn link_head(&mut self, s: u32) {
        let old = self.head;
        {
            let f = &mut self.flows[s as usize];
            f.newer = NIL;
            f.older = old;
        }
        if old != NIL {
            self.flows[old as usize].newer = s;
        } else {
            self.tail = s;
        }
        self.head = s;
    }

    fn link_tail(&mut self, s: u32) {
        let old = self.tail;
        {
            let f = &mut self.flows[s as usize];
            f.older = NIL;
            f.newer = old;
        }
        if old != NIL {
            self.flows[old as usize].older = s;
        } else {
            self.head = s;
        }
        self.tail = s;
    }

    /// Inserts `s` directly on the tail side of `at` (or at the head when `at` is NIL).
    fn link_older_than(&mut self, s: u32, at: u32) {
        if at == NIL {
            self.link_head(s);
            return;
        }
        let older = self.flows[at as usize].older;
        {
            let f = &mut self.flows[s as usize];
            f.newer = at;
            f.older = older;
        }
        self.flows[at as usize].older = s;
        if older != NIL {
            self.flows[older as usize].newer = s;
        } else {
            self.tail = s;
        }
    }

    fn unlink(&mut self, s: u32) {
        let (older, newer) = {
            let f = &self.flows[s as usize];
            (f.older, f.newer)
        };
        if older != NIL {
            self.flows[older as usize].newer = newer;
        } else {
            self.tail = newer;
        }
        if newer != NIL {
            self.flows[newer as usize].older = older;
        } else {
            self.head = older;
        }
        let f = &mut self.flows[s as usize];
        f.older = NIL;
        f.newer = NIL;
    }

    /// T2's timeout pass (core.md 9.3) at time `now`: calls `expire(table, slot)` for every
    /// flow whose pair is due; `expire` must write the pair and remove both flows.
    pub fn timeout_pass(&mut self, now: Ts, mut expire: impl FnMut(&mut FlowTable, u32)) {
        for hi in 0..self.handlers.len() {
            let h = self.handlers[hi];
            let mut f = self.flows[h.sentinel as usize].newer;
            while f != NIL {
                let fl = &self.flows[f as usize];
                if fl.sentinel {
                    f = fl.newer;
                    continue;
                }
                let a = age(now, fl.last_seen);
                if a < h.timeout {
                    break;
                }
                let mut next = fl.newer;
                if a >= fl.timeout {
                    let partner = fl.partner;
                    let partner_due = partner == NIL || {
                        let p = &self.flows[partner as usize];
                        age(now, p.last_seen) >= p.timeout
                    };
                    if partner_due {
                        if next == partner && partner != NIL {
                            next = self.flows[partner as usize].newer;
                        }
                        expire(self, f);
                    }
                }
                f = next;
            }
            // the sentinel now sits directly tail-side of f
            if f == NIL || self.flows[h.sentinel as usize].newer != f {
                self.unlink(h.sentinel);
                self.link_older_than(h.sentinel, f);
            }
        }
    }

    /// The oldest flow (tail side, sentinels skipped).
    pub fn oldest(&self) -> Option<u32> {
        let mut s = self.tail;
        while s != NIL {
            let f = &self.flows[s as usize];
            if !f.sentinel {
                return Some(s);
            }
            s = f.newer;
        }
        None
    }

    /// The flow just newer than `slot` (sentinels skipped).
    pub fn newer_than(&self, slot: u32) -> Option<u32> {
        let mut s = self.flows[slot as usize].newer;
        while s != NIL {
            let f = &self.flows[s as usize];
            if !f.sentinel {
                return Some(s);
            }
            s = f.newer;
        }
        None
    }

    // ------------------------------------------------------------ fragment index (core.md 8)

    pub fn frag_get(&self, key: &FlowKey) -> Option<u32> {
        self.frags.find(key_hash(key), |e| e.0 == *key).map(|e| e.1)
    }

    pub fn frag_insert(&mut self, key: FlowKey, slot: u32) {
        let h = key_hash(&key);
        match self.frags.find_mut(h, |e| e.0 == key) {
            Some(e) => e.1 = slot,
            None => {
                self.frags.insert_unique(h, (key, slot), |e| key_hash(&e.0));
            }
        }
    }

    /// Removes a fragment entry; returns whether it existed.
    pub fn frag_remove(&mut self, key: &FlowKey) -> bool {
        match self.frags.find_entry(key_hash(key), |e| e.0 == *key) {
            Ok(e) => {
                e.remove();
                true
            }
            Err(_) => false,
        }
    }

    pub fn frag_len(&self) -> usize {
        self.frags.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> FlowKey {
        let mut k = FlowKey::default();
        k.src[0] = n;
        k.dst[0] = 200;
        k.eth_type = 0x0800;
        k.ip_ver = 4;
        k
    }

    fn add(t: &mut FlowTable, n: u8, sec: u64) -> u32 {
        let s = t.insert(key(n), sec);
        let f = t.get_mut(s);
        f.first_seen = Ts::new(sec, 0);
        f.last_seen = Ts::new(sec, 0);
        f.timeout = 182.0;
        s
    }

    #[test]
    fn lookup_insert_remove_reuses_slots() {
        let mut t = FlowTable::new(&[182.0], 0);
        let a = add(&mut t, 1, 0);
        let b = add(&mut t, 2, 0);
        assert_eq!(t.lookup(&key(1)), Some(a));
        assert_eq!(t.lookup(&key(2)), Some(b));
        assert_eq!(t.len(), 2);
        t.remove(a);
        assert_eq!(t.lookup(&key(1)), None);
        let c = add(&mut t, 3, 1);
        assert_eq!(c, a, "freed slot is reused");
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn timeout_pass_expires_in_lru_order_at_exactly_the_timeout() {
        let mut t = FlowTable::new(&[182.0], 0);
        add(&mut t, 1, 0);
        add(&mut t, 2, 10);
        add(&mut t, 3, 20);
        let mut out = Vec::new();
        t.timeout_pass(Ts::new(191, 0), |t, s| {
            out.push(t.get(s).key.src[0]);
            t.remove(s);
        });
        assert_eq!(out, vec![1]);
        t.timeout_pass(Ts::new(202, 0), |t, s| {
            out.push(t.get(s).key.src[0]);
            t.remove(s);
        });
        assert_eq!(out, vec![1, 2, 3]);
        assert!(t.is_empty());
    }

    #[test]
    fn a_pair_leaves_only_when_both_directions_expired() {
        let mut t = FlowTable::new(&[182.0], 0);
        let a = add(&mut t, 1, 0);
        let b = add(&mut t, 2, 100);
        t.get_mut(a).partner = b;
        t.get_mut(b).partner = a;
        let mut out = Vec::new();
        let mut exp = |t: &mut FlowTable, s: u32| {
            let p = t.get(s).partner;
            out.push(s);
            t.remove(s);
            if p != NIL {
                t.remove(p);
            }
        };
        t.timeout_pass(Ts::new(184, 0), &mut exp);
        assert!(t.lookup(&key(1)).is_some(), "A expired but B is alive");
        t.timeout_pass(Ts::new(283, 0), &mut exp);
        assert!(t.is_empty());
    }

    #[test]
    fn shorter_timeouts_need_their_own_handler() {
        let mut t = FlowTable::new(&[182.0, 10.0], 0);
        let a = add(&mut t, 1, 0);
        t.get_mut(a).timeout = 10.0;
        add(&mut t, 2, 0);
        let mut out = Vec::new();
        t.timeout_pass(Ts::new(10, 0), |t, s| {
            out.push(t.get(s).key.src[0]);
            t.remove(s);
        });
        assert_eq!(out, vec![1]);
    }

    #[test]
    fn touch_moves_to_head_and_oldest_skips_sentinels() {
        let mut t = FlowTable::new(&[182.0, 120.0], 0);
        let a = add(&mut t, 1, 0);
        let b = add(&mut t, 2, 1);
        assert_eq!(t.oldest(), Some(a));
        t.touch(a, 5);
        assert_eq!(t.oldest(), Some(b));
        assert_eq!(t.newer_than(b), Some(a));
    }

    #[test]
    fn fragment_index() {
        let mut t = FlowTable::new(&[182.0], 0);
        let k = frag_key(&key(1), 0x1234, 17);
        assert_eq!(t.frag_get(&k), None);
        t.frag_insert(k, 7);
        assert_eq!(t.frag_get(&k), Some(7));
        t.frag_insert(k, 8);
        assert_eq!(t.frag_get(&k), Some(8));
        assert!(t.frag_remove(&k));
        assert!(!t.frag_remove(&k));
    }
}
