//! One worker's shard of the flow table: an arena of flows addressed by slot, a hash index
//! from flow key to slot, the LRU list with T2's timeout sentinels, and the fragment index
//! (core.md 7–9). Nothing here is shared between threads.
//!
//! Layout, chosen for a table much larger than the caches (every packet of a busy link hits a
//! cold flow, and a random access to DRAM costs ~100 ns):
//! - **Arena**: flows live in fixed-size chunks, so the table grows without copying (no page
//!   faults on a second copy, no transient doubling of memory). A [`Flow`] is two cache lines,
//!   line-aligned: the key and the LRU position in the first, times and counters in the second.
//! - **Index**: open addressing over a flat array of `u64` entries (hash tag + slot), linear
//!   probing, backward-shift deletion, at most half full. An entry's place comes from a hash
//!   that is the same for a key and its reverse, so the reverse lookup at flow creation reads
//!   the cache line the forward lookup just read; one tag bit tells the two directions apart.
//!   The tag holds the high hash bits, so growing rehashes without touching the flows.
//! - **LRU list**: T2's doubly linked list (most recently used at the head, one sentinel per
//!   timeout value) is kept as a log of slots in list order: moving a flow to the head appends
//!   its slot and records the new position in the flow; the old entry goes stale (an entry is
//!   live when its flow's position points back at it). A packet thus writes nothing but its own
//!   flow and the log's end: no neighbour in the list, no cold line of the log. A sentinel is a
//!   position in the log. The log is compacted in place when it is full and at least half stale.
//!   Each entry also carries a copy of its flow's timeout and last packet time (kept current by
//!   the only setters of those fields), so the timeout walk reads the log in order and touches
//!   a flow only when it is due.
//!   The order of flows, and where every sentinel sits among them, is exactly the linked
//!   list's (a unit test replays random operations against a linked list).

use crate::dissect::{mix64, FlowKey};
use crate::time::Ts;
use hashbrown::HashTable;
use std::cell::Cell;

/// "No slot".
pub const NIL: u32 = u32::MAX;

/// Core per-flow state (plugins keep theirs in their own slot-indexed arrays).
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub struct Flow {
    // first cache line: what the lookup and the LRU move read
    pub key: FlowKey,
    /// Index of the flow's entry in the LRU log; [`NIL`] when the flow is not in the table.
    lru_pos: u32,
    /// Slot of the opposite-direction flow, or [`NIL`].
    pub partner: u32,
    /// This flow's timeout in seconds (plugins may change it at any packet, through
    /// [`FlowTable::set_timeout`]: the LRU log keeps a copy).
    timeout: f32,
    /// Last IPv4 identification, `u32::MAX` for a new flow (DUPIPID needs three packets).
    pub last_ip_id: u32,
    pub last_frag_id: u32,
    // second cache line: what every packet updates
    /// Set through [`FlowTable::set_last_seen`] (the LRU log keeps a copy).
    last_seen: Ts,
    pub first_seen: Ts,
    pub status: u64,
    pub flow_ind: u64,
    /// Padding bytes of the flow's packets (padBytesSnt).
    pub pad_bytes: i64,
    /// Packet number of the last move to the LRU head: the end-of-input flush order.
    pub lru_stamp: u64,
}

const _: () = assert!(std::mem::size_of::<Flow>() == 128);

impl Flow {
    const BLANK: Flow = Flow {
        key: FlowKey {
            src: [0; 16],
            dst: [0; 16],
            sport: 0,
            dport: 0,
            eth_type: 0,
            vlan: 0,
            proto: 0,
            l2: false,
            ip_ver: 0,
            _pad: 0,
        },
        lru_pos: NIL,
        partner: NIL,
        timeout: 0.0,
        last_ip_id: u32::MAX,
        last_frag_id: 0,
        last_seen: Ts::ZERO,
        first_seen: Ts::ZERO,
        status: 0,
        flow_ind: 0,
        pad_bytes: 0,
        lru_stamp: 0,
    };

    pub fn has(&self, bits: u64) -> bool {
        self.status & bits != 0
    }

    /// Time of the flow's last packet.
    #[inline]
    pub fn last_seen(&self) -> Ts {
        self.last_seen
    }

    /// The flow's timeout in seconds.
    #[inline]
    pub fn timeout(&self) -> f32 {
        self.timeout
    }

    pub fn partner(&self) -> Option<u32> {
        (self.partner != NIL).then_some(self.partner)
    }

    /// Whether the flow is in the table (not yet written).
    pub fn is_live(&self) -> bool {
        self.lru_pos != NIL
    }
}

/// T2's flow age: `float32(float32(Δsec) + Δnsec / 1e9)`.
pub fn age(now: Ts, last: Ts) -> f32 {
    let ds = (now.sec as i64).wrapping_sub(last.sec as i64) as f32;
    (ds as f64 + (now.nsec as i64 - last.nsec as i64) as f64 / 1e9) as f32
}

/// A timeout handler: a timeout value and its sentinel, the log position up to which the LRU
/// walk for that value has progressed (the sentinel sits just tail-side of that entry).
#[derive(Clone, Copy, Debug)]
struct Handler {
    timeout: f32,
    sentinel: u32,
    /// Idle times in nanoseconds below `bounds.0` are surely under `timeout`, above `bounds.1`
    /// surely not, whatever `age`'s rounding does; in between, `age` decides.
    bounds: (i64, i64),
}

/// One entry of the LRU log: a flow's slot and a copy of what the timeout walk asks of it.
#[derive(Clone, Copy, Debug)]
struct LogEntry {
    slot: u32,
    timeout: f32,
    /// `last_seen` in nanoseconds ([`seen_ns`]).
    seen: i64,
}

/// A timestamp too large for [`seen_ns`] (past the year 2255): the walk reads the flow.
const SEEN_FAR: i64 = i64::MIN;

/// `t` in nanoseconds since the epoch (`nsec` as it is, not normalised: the difference of two
/// such values is exactly `Δsec × 10⁹ + Δnsec`), or [`SEEN_FAR`].
#[inline]
fn seen_ns(t: Ts) -> i64 {
    if t.sec < 9_000_000_000 {
        t.sec as i64 * 1_000_000_000 + t.nsec as i64
    } else {
        SEEN_FAR
    }
}

impl LogEntry {
    #[inline]
    fn of(slot: u32, f: &Flow) -> LogEntry {
        LogEntry {
            slot,
            timeout: f.timeout,
            seen: seen_ns(f.last_seen),
        }
    }
}

/// Idle times (ns) below the first bound are surely under `timeout` as [`age`] computes it,
/// above the second surely not. age() converts Δsec to f32 (exact below 2^24 s, else off by at
/// most 2^-24 relative), adds Δnsec in f64 and rounds once to f32 (2^-24 relative), so its
/// result is within 2^-23 relative of the true idle time, and `age >= timeout` can differ from
/// the true comparison only within about one f32 ulp of `timeout` (2^-23 relative): twice that
/// plus a few ns covers it. The band matters: a flow whose idle time sits in it is read at
/// every packet (the LRU walk's sentinels wait just before such flows).
#[inline]
fn due_bounds(timeout: f32) -> (i64, i64) {
    let t = timeout as f64 * 1e9;
    let slack = t.abs() * (1.0 / (1u64 << 21) as f64) + 16.0;
    ((t - slack) as i64 - 1, (t + slack) as i64 + 1)
}

/// `age(now, last) >= timeout`, decided in integer nanoseconds away from the boundary (no
/// division), by `age` itself near it. `bounds` are [`due_bounds`] of `timeout`.
#[inline]
fn is_due_within(now: Ts, last: Ts, timeout: f32, (lo, hi): (i64, i64)) -> bool {
    let ds = (now.sec as i64).wrapping_sub(last.sec as i64);
    if ds.unsigned_abs() < 1 << 32 {
        let d = ds * 1_000_000_000 + (now.nsec as i64 - last.nsec as i64);
        if d < lo {
            return false;
        }
        if d > hi {
            return true;
        }
    }
    age(now, last) >= timeout
}

/// Whether a flow last seen at `last` with `timeout` has timed out at `now` (T2: age ≥ timeout).
#[inline]
pub fn timed_out(now: Ts, last: Ts, timeout: f32) -> bool {
    is_due_within(now, last, timeout, due_bounds(timeout))
}

impl Handler {
    fn new(timeout: f32) -> Handler {
        Handler {
            timeout,
            sentinel: 0,
            bounds: due_bounds(timeout),
        }
    }
}

/// A timeout pass's clock: `now` and, for the log entries' copies, `now` in nanoseconds.
#[derive(Clone, Copy)]
struct Now {
    ts: Ts,
    ns: i64,
}

impl Now {
    fn new(ts: Ts) -> Now {
        Now {
            ts,
            ns: seen_ns(ts),
        }
    }
}

/// Hash of the fragment index.
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

// ------------------------------------------------------------------------------ key hash

/// The index hash of a flow key, computed once per packet: [`FlowTable::hash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash {
    /// The same for a key and its reverse: places the entry.
    sym: u64,
    /// Entry tag: the high bits of `sym` with the direction in bit 0.
    tag: u32,
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = a as u128 * b as u128;
    p as u64 ^ (p >> 64) as u64
}

#[inline]
fn end_hash(addr: [u8; 16], port: u16) -> u64 {
    let a = u128::from_le_bytes(addr);
    fold_mul(
        a as u64 ^ 0x243f_6a88_85a3_08d3,
        (a >> 64) as u64 ^ (port as u64) << 40 ^ 0x1319_8a2e_0370_7344,
    )
}

impl KeyHash {
    /// The hash of the reversed key, for prefetch hints: the same entry place, the direction
    /// bit flipped (wrong only for a key whose two ends hash alike, whose reverse keeps the
    /// bit; a hint for it finds nothing).
    #[inline]
    fn reversed(&self) -> KeyHash {
        KeyHash {
            sym: self.sym,
            tag: self.tag ^ 1,
        }
    }

    #[inline]
    fn of(k: &FlowKey) -> KeyHash {
        let a = end_hash(k.src, k.sport);
        let b = end_hash(k.dst, k.dport);
        let rest =
            (k.eth_type as u64) << 48 | (k.vlan as u64) << 32 | (k.proto as u64) << 8 | k.l2 as u64;
        let sym = fold_mul(
            a.wrapping_add(b) ^ 0xa409_3822_299f_31d0,
            rest ^ 0x082e_fa98_ec4e_6c89,
        );
        KeyHash {
            sym,
            tag: ((sym >> 32) as u32 & !1) | (a < b) as u32,
        }
    }
}

// ---------------------------------------------------------------------------------- index

/// Open-addressing index: `tag << 32 | !slot`, 0 = empty (a slot is never [`NIL`]).
struct Index {
    e: Vec<u64>,
    /// `64 - log2(e.len())`: an entry's home is the top bits of its hash.
    shift: u32,
    len: usize,
}

const INDEX_MIN: usize = 1024;

/// `n` zero entries whose pages have all been written. `vec![0; n]` takes fresh zero pages
/// from the kernel without touching them: a lookup then reads a page first, the kernel maps
/// its shared zero page, and the first insert there takes a copy-on-write fault whose TLB
/// flush interrupts every other CPU running one of our threads (an IPI, a VM exit under a
/// hypervisor: 4–5% of all CPU on small64 with two workers). Written pages fault once.
fn written_zeros(n: usize) -> Vec<u64> {
    let mut e = vec![0u64; n];
    // one store per 4 KiB page; black_box keeps the compiler from dropping a store of the
    // zero it knows is there
    for page in e.chunks_mut(512) {
        page[0] = std::hint::black_box(0);
    }
    e
}

impl Index {
    fn new() -> Index {
        Index {
            e: written_zeros(INDEX_MIN),
            shift: 64 - INDEX_MIN.trailing_zeros(),
            len: 0,
        }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.e.len() - 1
    }

    #[inline]
    fn home(&self, h: &KeyHash) -> usize {
        (h.sym >> self.shift) as usize
    }

    /// Home of a stored entry (its tag holds the top 31 bits of the hash).
    #[inline]
    fn entry_home(&self, e: u64) -> usize {
        (e >> self.shift) as usize
    }

    #[inline]
    fn find(&self, h: &KeyHash, mut is: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.mask();
        let mut i = self.home(h);
        loop {
            let e = self.e[i];
            if e as u32 == 0 {
                return None;
            }
            if (e >> 32) as u32 == h.tag && is(!(e as u32)) {
                return Some(!(e as u32));
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, h: &KeyHash, slot: u32) {
        if (self.len + 1) * 2 > self.e.len() {
            self.grow();
        }
        let mask = self.mask();
        let mut i = self.home(h);
        while self.e[i] as u32 != 0 {
            i = (i + 1) & mask;
        }
        self.e[i] = (h.tag as u64) << 32 | !slot as u64;
        self.len += 1;
    }

    fn remove(&mut self, h: &KeyHash, slot: u32) {
        let mask = self.mask();
        let mut i = self.home(h);
        loop {
            let e = self.e[i];
            if e as u32 == 0 {
                debug_assert!(false, "slot {slot} not in the index");
                return;
            }
            if !(e as u32) == slot {
                break;
            }
            i = (i + 1) & mask;
        }
        // backward-shift deletion: pull later members of the cluster into the hole when
        // their home is not after it
        let mut hole = i;
        let mut j = (i + 1) & mask;
        loop {
            let e = self.e[j];
            if e as u32 == 0 {
                break;
            }
            let home = self.entry_home(e);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.e[hole] = e;
                hole = j;
            }
            j = (j + 1) & mask;
        }
        self.e[hole] = 0;
        self.len -= 1;
    }

    fn grow(&mut self) {
        let n = self.e.len() * 2;
        assert!(n <= 1 << 31, "flow index too large");
        let old = std::mem::replace(&mut self.e, written_zeros(n));
        self.shift -= 1;
        let mask = n - 1;
        for e in old {
            if e as u32 != 0 {
                let mut i = self.entry_home(e);
                while self.e[i] as u32 != 0 {
                    i = (i + 1) & mask;
                }
                self.e[i] = e;
            }
        }
    }

    #[inline]
    fn prefetch(&self, h: &KeyHash) {
        prefetch(&self.e[self.home(h)]);
    }
}

/// Hints the CPU to bring the cache line of `p` closer (no effect on results).
#[inline(always)]
pub fn prefetch<T>(p: &T) {
    prefetch_ptr(p as *const T as *const u8);
}

/// [`prefetch`] for an address that is never dereferenced.
#[inline(always)]
pub fn prefetch_ptr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint and never faults; any address is allowed.
    unsafe {
        use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

// ---------------------------------------------------------------------------------- arena

const CHUNK_BITS: u32 = 12;
/// Flows per arena chunk (512 KiB).
const CHUNK: usize = 1 << CHUNK_BITS;

struct Arena {
    chunks: Vec<Box<[Flow; CHUNK]>>,
    len: u32,
}

impl Arena {
    #[inline]
    fn get(&self, s: u32) -> &Flow {
        &self.chunks[(s >> CHUNK_BITS) as usize][s as usize & (CHUNK - 1)]
    }

    #[inline]
    fn get_mut(&mut self, s: u32) -> &mut Flow {
        &mut self.chunks[(s >> CHUNK_BITS) as usize][s as usize & (CHUNK - 1)]
    }

    fn push(&mut self) -> u32 {
        let s = self.len;
        assert!(s < NIL - 1, "flow arena full");
        if s as usize == self.chunks.len() * CHUNK {
            let c: Box<[Flow; CHUNK]> = vec![Flow::BLANK; CHUNK]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!());
            self.chunks.push(c);
        }
        self.len += 1;
        s
    }
}

// ------------------------------------------------------------------------------ the table

/// One worker's flow table.
pub struct FlowTable {
    flows: Arena,
    free: Vec<u32>,
    index: Index,
    frags: HashTable<(FlowKey, u32)>,
    /// The LRU list, oldest first: entries live where `lru_pos` of their flow points back.
    lru: Vec<LogEntry>,
    /// One bit per log entry, set once the entry is stale (its flow moved on or left): walks
    /// over the log skip stale entries without reading their (cold) flows.
    stale: Vec<u64>,
    /// Every log entry before this one is stale.
    lru_tail: Cell<u32>,
    handlers: Vec<Handler>,
    live: usize,
    /// Maximum number of live flows; 0 = grow without limit.
    pub capacity: usize,
    /// Alarms plugins raised on flows of this shard (the report's "N alarms in M flows").
    pub alarms: u64,
    /// Set by [`FlowTable::drain`]: every flow is about to be written, the index is no longer
    /// kept (nor may it be used).
    draining: bool,
    /// Nothing is due at any pass time below this (ns, [`seen_ns`]); `i64::MIN` when some
    /// handler's bound is unknown. [`FlowTable::nothing_due`] reads one entry per handler at
    /// every packet; with these bounds, as long as the entries it read stay where they are,
    /// one compare does, and a handler whose entry moved is looked at alone.
    quiet_until: i64,
    /// Per handler: the log position of the first live entry after its sentinel ([`NIL`]:
    /// none) and the time up to which that entry is not due (`i64::MIN`: unknown). Dropped
    /// when the entry goes stale (or its time goes back).
    quiet: Vec<(u32, i64)>,
    /// Some sentinel had no entry after it: the next entry pushed at the head is its first.
    watch_open: bool,
}

impl FlowTable {
    /// `timeouts`: the distinct timeout values registered by the core and the plugins, in
    /// registration order.
    pub fn new(timeouts: &[f32], capacity: usize) -> FlowTable {
        let mut t = FlowTable {
            flows: Arena {
                chunks: Vec::new(),
                len: 0,
            },
            free: Vec::new(),
            index: Index::new(),
            frags: HashTable::new(),
            lru: Vec::with_capacity(1024),
            stale: Vec::with_capacity(16),
            lru_tail: Cell::new(0),
            handlers: Vec::new(),
            live: 0,
            capacity,
            alarms: 0,
            draining: false,
            quiet_until: i64::MIN,
            quiet: Vec::new(),
            watch_open: true,
        };
        for &to in timeouts {
            if t.handlers.iter().any(|h| h.timeout == to) {
                continue;
            }
            // every sentinel starts at the tail end of the (empty) list
            t.handlers.push(Handler::new(to));
        }
        t.handlers.sort_by(|a, b| b.timeout.total_cmp(&a.timeout));
        t.quiet = vec![(NIL, i64::MIN); t.handlers.len()];
        t
    }

    /// Forgets every handler's quiet bound (the sentinels or the log positions change).
    #[inline]
    fn forget_quiet(&mut self) {
        self.quiet_until = i64::MIN;
        for q in &mut self.quiet {
            q.1 = i64::MIN;
        }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Slots ever allocated (plugins size their arrays to this).
    pub fn slots(&self) -> usize {
        self.flows.len as usize
    }

    #[inline]
    pub fn get(&self, slot: u32) -> &Flow {
        self.flows.get(slot)
    }

    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> &mut Flow {
        self.flows.get_mut(slot)
    }

    /// Whether a new flow needs an eviction first.
    pub fn is_full(&self) -> bool {
        self.capacity != 0 && self.live >= self.capacity
    }

    fn alloc(&mut self) -> u32 {
        if let Some(s) = self.free.pop() {
            *self.flows.get_mut(s) = Flow::BLANK;
            s
        } else {
            self.flows.push()
        }
    }

    /// The index hash of a key (for [`FlowTable::lookup_hashed`] and the prefetch hints).
    #[inline]
    pub fn hash(key: &FlowKey) -> KeyHash {
        KeyHash::of(key)
    }

    pub fn lookup(&self, key: &FlowKey) -> Option<u32> {
        self.lookup_hashed(&KeyHash::of(key), key)
    }

    /// [`FlowTable::lookup`] with the key's hash already computed.
    #[inline]
    pub fn lookup_hashed(&self, h: &KeyHash, key: &FlowKey) -> Option<u32> {
        debug_assert!(!self.draining, "lookup in a draining table");
        let flows = &self.flows;
        self.index.find(h, |s| flows.get(s).key == *key)
    }

    /// Prefetch hint, first stage: the index entries where `h` lives.
    #[inline]
    pub fn prefetch_index(&self, h: &KeyHash) {
        self.index.prefetch(h);
    }

    /// Prefetch hint, second stage: the slot the index holds for `h` (whose index line should
    /// be cached by now), or else the slot a new flow would get; its two cache lines are
    /// prefetched. Returns the slot, which is only a guess: the packets processed in between
    /// may change the table.
    #[inline]
    pub fn prefetch_flow(&self, h: &KeyHash) -> Option<u32> {
        let s = match self.index.find(h, |_| true) {
            Some(s) => s,
            None => {
                // a new flow: its creation looks up the opposite direction (whose tag differs
                // in the direction bit only, in the same index line) and, when there is one,
                // reads and writes both of that flow's lines
                if let Some(r) = self.index.find(&h.reversed(), |_| true) {
                    self.prefetch_slot(r);
                }
                *self.free.last()?
            }
        };
        if s < self.flows.len {
            let f = self.flows.get(s);
            prefetch(f);
            prefetch(&f.last_seen);
        }
        Some(s)
    }

    /// Prefetch hint, third stage: the slot of the opposite direction of the flow in `slot`
    /// (whose first line should be cached by now), for prefetching its state. `slot` is only
    /// a guess: it may be a free slot or one reused since, and so is the answer.
    #[inline]
    pub fn partner_guess(&self, slot: u32) -> Option<u32> {
        if slot < self.flows.len {
            let p = self.flows.get(slot).partner;
            if p != NIL {
                return Some(p);
            }
        }
        None
    }

    /// Prefetch hint: both cache lines of the flow in `slot`.
    #[inline]
    pub fn prefetch_slot(&self, slot: u32) {
        if slot < self.flows.len {
            let f = self.flows.get(slot);
            prefetch(f);
            prefetch(&f.last_seen);
        }
    }

    /// Log position of the oldest flow's entry (as last found by [`FlowTable::oldest`]): where
    /// cursors that prefetch ahead of a walk from the oldest end start.
    #[inline]
    pub fn oldest_pos(&self) -> usize {
        self.lru_tail.get() as usize
    }

    /// The flow whose entry is at log position `pos`, unless that entry is stale (its flow
    /// moved on or was written) or past the end: for prefetch hints while flows are written
    /// from the oldest end.
    #[inline]
    pub fn flow_at_pos(&self, pos: usize) -> Option<u32> {
        let e = self.lru.get(pos)?;
        if self.stale[pos >> 6] >> (pos & 63) & 1 != 0 {
            return None;
        }
        Some(e.slot)
    }

    /// Inserts a new flow at the LRU head and returns its slot. The caller fills the fields.
    pub fn insert(&mut self, key: FlowKey, stamp: u64) -> u32 {
        self.insert_hashed(&KeyHash::of(&key), key, stamp)
    }

    /// [`FlowTable::insert`] with the key's hash already computed.
    pub fn insert_hashed(&mut self, h: &KeyHash, key: FlowKey, stamp: u64) -> u32 {
        debug_assert!(!self.draining, "insert into a draining table");
        debug_assert_eq!(*h, KeyHash::of(&key));
        let s = self.alloc();
        {
            let f = self.flows.get_mut(s);
            f.key = key;
            f.lru_stamp = stamp;
        }
        self.index.insert(h, s);
        self.lru_push(s);
        self.live += 1;
        s
    }

    /// The table is being emptied for good (end of input or of the capture): detaching a flow
    /// no longer removes it from the index. That removal is a random access per flow (the
    /// flush goes in LRU order), and the end of a run with millions of flows in memory spent
    /// a tenth of its flush there. Lookups and inserts are invalid from here on.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    /// Removes a flow from the index and the LRU list and frees its slot.
    pub fn remove(&mut self, slot: u32) {
        self.detach(slot);
        self.free_detached(slot);
    }

    /// Takes a flow out of the index and the LRU list; its slot stays readable (the flow is
    /// about to be written) until [`FlowTable::free_detached`]. Idempotent.
    pub fn detach(&mut self, slot: u32) {
        let f = self.flows.get_mut(slot);
        let pos = f.lru_pos;
        if pos == NIL {
            return;
        }
        f.lru_pos = NIL;
        let key = f.key;
        if !self.draining {
            self.index.remove(&KeyHash::of(&key), slot);
        }
        self.live -= 1;
        self.mark_stale(pos);
    }

    /// Marks the log entry at `pos` stale.
    #[inline]
    fn mark_stale(&mut self, pos: u32) {
        self.stale[pos as usize >> 6] |= 1 << (pos & 63);
        for q in &mut self.quiet {
            if q.0 == pos {
                // another entry is now the first after that sentinel
                q.1 = i64::MIN;
                self.quiet_until = i64::MIN;
            }
        }
    }

    /// Sets the time of a flow's last packet (and the LRU log's copy: call it after the
    /// flow's move to the head, where the entry is a cached line).
    #[inline]
    pub fn set_last_seen(&mut self, slot: u32, ts: Ts) {
        let f = self.flows.get_mut(slot);
        f.last_seen = ts;
        let pos = f.lru_pos;
        if let Some(e) = self.lru.get_mut(pos as usize) {
            let seen = seen_ns(ts);
            // a later time only makes the entry due later: the quiet bound still holds
            let back = seen < e.seen;
            e.seen = seen;
            if back {
                self.forget_quiet();
            }
        }
    }

    /// Sets a flow's timeout in seconds (and the LRU log's copy).
    #[inline]
    pub fn set_timeout(&mut self, slot: u32, seconds: f32) {
        let f = self.flows.get_mut(slot);
        f.timeout = seconds;
        let pos = f.lru_pos;
        if let Some(e) = self.lru.get_mut(pos as usize) {
            e.timeout = seconds;
        }
    }

    /// Returns a detached slot to the free list.
    pub fn free_detached(&mut self, slot: u32) {
        debug_assert!(!self.flows.get(slot).is_live());
        self.free.push(slot);
    }

    /// Moves a flow to the LRU head (a packet was attached through the normal lookup).
    #[inline]
    pub fn touch(&mut self, slot: u32, stamp: u64) {
        let n = self.lru.len() as u32;
        let f = self.flows.get_mut(slot);
        f.lru_stamp = stamp;
        let pos = f.lru_pos;
        if pos + 1 == n && self.handlers.iter().all(|h| h.sentinel != n) {
            // already at the head (a sentinel moved to the head would have to be passed)
            return;
        }
        // the old entry goes stale: a bit in the small stale map, no store to the log
        self.mark_stale(pos);
        self.lru_push(slot);
    }

    /// Appends `s` at the head end of the LRU log.
    #[inline]
    fn lru_push(&mut self, s: u32) {
        if self.lru.len() == self.lru.capacity() {
            self.lru_make_room();
        }
        let pos = self.lru.len() as u32;
        if self.watch_open {
            // the new entry is the first after every sentinel at the head
            self.watch_open = false;
            self.quiet_until = i64::MIN;
            for q in &mut self.quiet {
                if q.0 == NIL {
                    q.1 = i64::MIN;
                }
            }
        }
        let f = self.flows.get_mut(s);
        f.lru_pos = pos;
        let e = LogEntry::of(s, f);
        self.lru.push(e);
        if pos & 63 == 0 {
            // entries past the log's end are never marked: a new word starts clear
            self.stale.push(0);
        }
    }

    #[cold]
    fn lru_make_room(&mut self) {
        let n = self.lru.len();
        // every live flow has one entry, the others are stale
        if n >= 1024 && self.live * 2 <= n {
            self.lru_compact();
        } else {
            assert!(n < (NIL / 2) as usize, "LRU log too large");
            self.lru.reserve(n.max(1024));
        }
    }

    /// Drops the stale entries from the log; flows and sentinels keep their order.
    fn lru_compact(&mut self) {
        self.forget_quiet();
        let mut order: Vec<usize> = (0..self.handlers.len()).collect();
        order.sort_by_key(|&h| self.handlers[h].sentinel);
        let mut next = 0;
        let mut w = 0usize;
        for i in 0..self.lru.len() {
            while next < order.len() && self.handlers[order[next]].sentinel as usize <= i {
                self.handlers[order[next]].sentinel = w as u32;
                next += 1;
            }
            if self.stale[i >> 6] >> (i & 63) & 1 != 0 {
                continue;
            }
            let e = self.lru[i];
            debug_assert_eq!(self.flows.get(e.slot).lru_pos, i as u32);
            self.lru[w] = e;
            self.flows.get_mut(e.slot).lru_pos = w as u32;
            w += 1;
        }
        for &h in &order[next..] {
            self.handlers[h].sentinel = w as u32;
        }
        self.lru.truncate(w);
        self.stale.clear();
        self.stale.resize(w.div_ceil(64), 0);
        self.lru_tail.set(0);
    }

    /// First log position at or after `i` that holds a flow where it is (not a stale entry
    /// of a flow moved since or written).
    #[inline]
    fn lru_next(&self, mut i: usize) -> usize {
        let n = self.lru.len();
        while i < n {
            // the run of stale entries starting at i, up to the end of its map word
            let run = (!(self.stale[i >> 6] >> (i & 63))).trailing_zeros() as usize;
            if run == 0 {
                debug_assert_eq!(self.flows.get(self.lru[i].slot).lru_pos, i as u32);
                return i;
            }
            i += run;
        }
        n
    }

    /// Whether the flow of log entry `e` is due under `timeout` (whose [`due_bounds`] are
    /// `bounds`) at `now`: decided on the entry's copy of `last_seen`, and by the flow's own
    /// timestamp and [`age`] near the boundary (as [`timed_out`] decides).
    #[inline]
    fn entry_due(&self, now: Now, e: LogEntry, timeout: f32, (lo, hi): (i64, i64)) -> bool {
        if e.seen != SEEN_FAR && now.ns != SEEN_FAR {
            // both below 2^63, so no overflow; exactly Δsec × 10⁹ + Δnsec
            let d = now.ns - e.seen;
            if d < lo {
                return false;
            }
            if d > hi {
                return true;
            }
        }
        age(now.ts, self.flows.get(e.slot).last_seen) >= timeout
    }

    /// [`due_bounds`] of `timeout`: a registered value's, computed once (flows' timeouts are
    /// nearly always one), or computed now.
    #[inline]
    fn bounds_of(&self, timeout: f32) -> (i64, i64) {
        match self.handlers.iter().find(|h| h.timeout == timeout) {
            Some(h) => h.bounds,
            None => due_bounds(timeout),
        }
    }

    /// Whether a timeout pass at `now` would find nothing to expire (the common case: the
    /// flow after every sentinel is younger than that sentinel's timeout). Moves the
    /// sentinels past stale entries, as the pass would. Reads only the log.
    #[inline]
    pub fn nothing_due(&mut self, now: Ts) -> bool {
        let now = Now::new(now);
        if now.ns < self.quiet_until && now.ns != SEEN_FAR {
            return true;
        }
        let tail = self.lru_tail.get() as usize;
        let mut until = i64::MAX;
        for hi in 0..self.handlers.len() {
            let q = self.quiet[hi];
            if now.ns < q.1 && now.ns != SEEN_FAR {
                // this handler's first entry is where it was, and not due yet
                until = until.min(q.1);
                continue;
            }
            let h = self.handlers[hi];
            let i = self.lru_next((h.sentinel as usize).max(tail));
            self.handlers[hi].sentinel = i as u32;
            // the next walk of this handler starts here and goes on into the following
            // entries: have their line (the log's old part, not cached) when it comes
            prefetch_ptr(self.lru.as_ptr().wrapping_add(i + 4) as *const u8);
            self.quiet[hi] = match self.lru.get(i) {
                Some(&e) => {
                    if self.entry_due(now, e, h.timeout, h.bounds) {
                        self.quiet[hi] = (i as u32, i64::MIN);
                        self.quiet_until = i64::MIN;
                        return false;
                    }
                    // not due while now - seen < lo (see `entry_due`)
                    let q = if e.seen == SEEN_FAR {
                        i64::MIN
                    } else {
                        e.seen.saturating_add(h.bounds.0)
                    };
                    (i as u32, q)
                }
                None => {
                    self.watch_open = true;
                    (NIL, i64::MAX)
                }
            };
            until = until.min(self.quiet[hi].1);
        }
        self.quiet_until = until;
        true
    }

    /// T2's timeout pass (core.md 9.3) at time `now`: calls `expire(table, slot)` for every
    /// flow whose pair is due; `expire` must write the pair and remove both flows (and not
    /// insert or move flows).
    pub fn timeout_pass(&mut self, now: Ts, mut expire: impl FnMut(&mut FlowTable, u32)) {
        let now = Now::new(now);
        // the sentinels move
        self.forget_quiet();
        // the bounds of the last timeout looked up: the flows walked nearly all share one or
        // two timeout values
        let mut memo = (f32::NAN, (0i64, 0i64));
        let mut bounds = |t: &FlowTable, timeout: f32| {
            if timeout != memo.0 {
                memo = (timeout, t.bounds_of(timeout));
            }
            memo.1
        };
        for hi in 0..self.handlers.len() {
            let h = self.handlers[hi];
            let mut i = (h.sentinel as usize).max(self.lru_tail.get() as usize);
            loop {
                i = self.lru_next(i);
                let Some(&e) = self.lru.get(i) else { break };
                if !self.entry_due(now, e, h.timeout, h.bounds) {
                    break;
                }
                // The walk passes quiet flows under every shorter sentinel (T2's tcpStates
                // registers 0.1 s and 10 s): the log's copies decide, and only flows due by
                // their own timeout are read (cold, random in memory: fetched a few entries
                // ahead). The pass removes those anyway.
                // the log two lines ahead (four entries a line)
                prefetch_ptr(self.lru.as_ptr().wrapping_add(i + 8) as *const u8);
                if let Some(&a) = self.lru.get(i + 6) {
                    if a.seen != SEEN_FAR && now.ns != SEEN_FAR {
                        let (lo, _) = bounds(self, a.timeout);
                        if now.ns - a.seen >= lo {
                            self.prefetch_slot(a.slot);
                        }
                    }
                }
                // due under this handler and at most as long a timeout: due by its own
                let own_due = e.timeout <= h.timeout
                    || self.entry_due(now, e, e.timeout, bounds(self, e.timeout));
                if own_due {
                    let partner = self.flows.get(e.slot).partner;
                    let partner_due = partner == NIL || {
                        let p = self.flows.get(partner);
                        timed_out(now.ts, p.last_seen, p.timeout)
                    };
                    if partner_due {
                        expire(self, e.slot);
                    }
                }
                i += 1;
            }
            // the sentinel now sits directly tail-side of the flow at i (or at the head)
            self.handlers[hi].sentinel = i as u32;
        }
    }

    /// The oldest flow (tail side, sentinels skipped).
    pub fn oldest(&self) -> Option<u32> {
        let i = self.lru_next(self.lru_tail.get() as usize);
        self.lru_tail.set(i as u32);
        self.lru.get(i).map(|e| e.slot)
    }

    /// The flow just newer than `slot` (sentinels skipped).
    pub fn newer_than(&self, slot: u32) -> Option<u32> {
        let pos = self.flows.get(slot).lru_pos;
        if pos == NIL {
            return None;
        }
        self.lru
            .get(self.lru_next(pos as usize + 1))
            .map(|e| e.slot)
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

    fn key(n: u32) -> FlowKey {
        let mut k = FlowKey::default();
        k.src[..4].copy_from_slice(&n.to_be_bytes());
        k.dst[0] = 200;
        k.sport = (n % 7) as u16;
        k.dport = 80;
        k.eth_type = 0x0800;
        k.ip_ver = 4;
        k
    }

    fn add(t: &mut FlowTable, n: u32, sec: u64) -> u32 {
        let s = t.insert(key(n), sec);
        t.get_mut(s).first_seen = Ts::new(sec, 0);
        t.set_last_seen(s, Ts::new(sec, 0));
        t.set_timeout(s, 182.0);
        s
    }

    #[test]
    fn flow_is_two_cache_lines() {
        assert_eq!(std::mem::size_of::<Flow>(), 128);
        assert_eq!(std::mem::align_of::<Flow>(), 64);
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
    fn a_key_and_its_reverse_share_a_home_but_not_a_tag() {
        for n in 0..1000 {
            let k = key(n);
            let (h, r) = (KeyHash::of(&k), KeyHash::of(&k.reversed()));
            assert_eq!(h.sym, r.sym);
            assert_ne!(h.tag, r.tag);
            // what the new-flow prefetch hint looks up for the opposite direction
            assert_eq!(h.reversed(), r);
        }
        let mut t = FlowTable::new(&[182.0], 0);
        let a = t.insert(key(5), 0);
        assert_eq!(t.lookup(&key(5).reversed()), None);
        let b = t.insert(key(5).reversed(), 0);
        assert_eq!(t.lookup(&key(5)), Some(a));
        assert_eq!(t.lookup(&key(5).reversed()), Some(b));
        // a key equal to its reverse
        let mut k = key(9);
        k.dst = k.src;
        k.dport = k.sport;
        let c = t.insert(k, 0);
        assert_eq!(t.lookup(&k.reversed()), Some(c));
        // the hint for a new flow names its opposite direction's slot
        let fresh = key(77);
        let d = t.insert(fresh.reversed(), 0);
        let h = FlowTable::hash(&fresh);
        assert_eq!(t.index.find(&h.reversed(), |_| true), Some(d));
        assert_eq!(t.prefetch_flow(&h), t.free.last().copied());
    }

    #[test]
    fn index_survives_growth_and_backward_shift_deletion() {
        use std::collections::HashMap;
        let mut t = FlowTable::new(&[182.0], 0);
        let mut model: HashMap<u32, u32> = HashMap::new();
        let mut x = 0x1234_5678u32;
        for round in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            // a small key space so that inserts and removes meet; odd keys are reversed pairs
            let n = x % 20_000;
            let k = if n % 2 == 1 {
                key(n - 1).reversed()
            } else {
                key(n)
            };
            match model.get(&n) {
                Some(&s) if round % 3 != 0 => {
                    assert_eq!(t.lookup(&k), Some(s));
                    t.remove(s);
                    model.remove(&n);
                }
                Some(&s) => assert_eq!(t.lookup(&k), Some(s)),
                None => {
                    assert_eq!(t.lookup(&k), None);
                    let s = t.insert(k, round as u64);
                    model.insert(n, s);
                }
            }
        }
        for (&n, &s) in &model {
            let k = if n % 2 == 1 {
                key(n - 1).reversed()
            } else {
                key(n)
            };
            assert_eq!(t.lookup(&k), Some(s));
        }
        assert_eq!(t.len(), model.len());
        assert_eq!(t.index.len, model.len());
    }

    /// The worker checks a run of passes at its latest time only (`Worker::clock_run`):
    /// nothing due at a time means nothing due at any earlier one, for any table, including
    /// times that go back, sub-second fields above a second (pcap records are not
    /// normalised) and times past the log's nanosecond range.
    #[test]
    fn nothing_due_is_monotone_in_the_pass_time() {
        let mut r = crate::testutil::XorShift(0x7a11_0c10_c4ec_0001);
        let time = |r: &mut crate::testutil::XorShift, base: u64| {
            let sec = match r.below(20) {
                0 => 9_000_000_000 + r.below(1000),
                _ => base + r.below(400),
            };
            let nsec = if r.below(10) == 0 {
                r.below(u32::MAX as u64) as u32
            } else {
                r.below(1_000_000_000) as u32
            };
            Ts::new(sec, nsec)
        };
        let true_ns = |t: Ts| t.sec as i128 * 1_000_000_000 + t.nsec as i128;
        let (mut quiet, mut busy) = (0, 0);
        for round in 0..300 {
            let mut t = FlowTable::new(&[182.0, 10.0, 0.1], 0);
            let base = 1_000 + round;
            let mut slots = Vec::new();
            for n in 0..(1 + r.below(40)) as u32 {
                let s = t.insert(key(n), n as u64);
                let seen = time(&mut r, base);
                t.set_last_seen(s, seen);
                t.set_timeout(s, [182.0, 10.0, 0.1, 3.5][r.below(4) as usize]);
                slots.push(s);
            }
            // some moves, and a pass that places the sentinels somewhere inside the log
            for _ in 0..r.below(20) {
                let s = slots[r.below(slots.len() as u64) as usize];
                t.touch(s, 1_000 + r.below(1000));
            }
            t.timeout_pass(time(&mut r, base), |t, s| t.remove(s));
            for _ in 0..20 {
                let (a, b) = (time(&mut r, base), time(&mut r, base));
                let (early, late) = if true_ns(a) <= true_ns(b) {
                    (a, b)
                } else {
                    (b, a)
                };
                if t.nothing_due(late) {
                    quiet += 1;
                    assert!(
                        t.nothing_due(early),
                        "round {round}: quiet at {late:?} but not at {early:?}"
                    );
                } else {
                    busy += 1;
                }
            }
        }
        assert!(quiet > 500 && busy > 500, "both cases met: {quiet} {busy}");
    }

    #[test]
    fn nothing_due_follows_the_flow_after_each_sentinel() {
        let mut t = FlowTable::new(&[182.0, 10.0], 0);
        let a = add(&mut t, 1, 0);
        // at 20 s the 10 s walk passes A (own timeout 182 s): its sentinel goes to the head
        t.timeout_pass(Ts::new(20, 0), |_, _| panic!("nothing expires"));
        assert!(t.nothing_due(Ts::new(20, 0)));
        // A moves to the head, behind that sentinel, keeping its time (0 s): due for 10 s
        t.touch(a, 2);
        assert!(!t.nothing_due(Ts::new(21, 0)));
        // a new packet time: quiet again until 10 s later
        t.set_last_seen(a, Ts::new(21, 0));
        assert!(t.nothing_due(Ts::new(30, 0)));
        assert!(!t.nothing_due(Ts::new(31, 0)));
        // a new flow after a sentinel at the head, with the time its slot had (0 s)
        t.timeout_pass(Ts::new(31, 0), |_, _| panic!("nothing expires"));
        assert!(t.nothing_due(Ts::new(31, 0)));
        let b = t.insert(key(2), 3);
        assert!(
            !t.nothing_due(Ts::new(32, 0)),
            "the new flow's copied time counts"
        );
        t.set_last_seen(b, Ts::new(32, 0));
        assert!(t.nothing_due(Ts::new(32, 0)));
        // the flow after the 10 s sentinel leaves: nothing follows it any more (A was passed),
        // and A is due for 182 s at 21 + 182 s
        t.remove(b);
        assert!(t.nothing_due(Ts::new(202, 0)));
        assert!(!t.nothing_due(Ts::new(203, 0)));
    }

    #[test]
    fn log_positions_ahead_of_the_oldest_name_live_flows_only() {
        let mut t = FlowTable::new(&[182.0], 0);
        let slots: Vec<u32> = (0..10).map(|n| add(&mut t, n, n as u64)).collect();
        // slot 0's entry at the tail goes stale, a new one is appended at the head
        t.touch(slots[0], 100);
        let live: Vec<Option<u32>> = (0..12).map(|p| t.flow_at_pos(p)).collect();
        let mut want: Vec<Option<u32>> = vec![None];
        want.extend(slots[1..].iter().map(|&s| Some(s)));
        want.extend([Some(slots[0]), None]);
        assert_eq!(live, want, "stale and past-the-end positions name no flow");
        assert_eq!(t.oldest(), Some(slots[1]));
        assert_eq!(t.oldest_pos(), 1, "the oldest flow's entry");
        // written flows leave stale entries behind them
        t.drain();
        t.detach(slots[1]);
        t.free_detached(slots[1]);
        assert_eq!(t.flow_at_pos(1), None);
        assert_eq!(t.oldest(), Some(slots[2]));
        assert_eq!(t.oldest_pos(), 2);
    }

    #[test]
    fn a_draining_table_empties_in_lru_order_without_its_index() {
        let mut t = FlowTable::new(&[182.0], 0);
        let slots: Vec<u32> = (0..100).map(|n| add(&mut t, n, n as u64)).collect();
        // move some to the head: the flush order is LRU order, not creation order
        for &s in slots.iter().step_by(3) {
            t.touch(s, 1000);
        }
        let mut expected: Vec<u32> = slots.iter().copied().filter(|s| s % 3 != 0).collect();
        expected.extend(slots.iter().step_by(3));
        let index_before = t.index.e.clone();
        t.drain();
        let mut got = vec![];
        while let Some(s) = t.oldest() {
            t.detach(s);
            t.free_detached(s);
            got.push(s);
        }
        assert_eq!(got, expected);
        assert!(t.is_empty());
        assert_eq!(t.index.e, index_before, "the index is left as it was");
    }

    #[test]
    fn timeout_pass_expires_in_lru_order_at_exactly_the_timeout() {
        let mut t = FlowTable::new(&[182.0], 0);
        add(&mut t, 1, 0);
        add(&mut t, 2, 10);
        add(&mut t, 3, 20);
        let mut out = Vec::new();
        t.timeout_pass(Ts::new(191, 0), |t, s| {
            out.push(t.get(s).key.src[3]);
            t.remove(s);
        });
        assert_eq!(out, vec![1]);
        t.timeout_pass(Ts::new(202, 0), |t, s| {
            out.push(t.get(s).key.src[3]);
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
        t.set_timeout(a, 10.0);
        add(&mut t, 2, 0);
        let mut out = Vec::new();
        t.timeout_pass(Ts::new(10, 0), |t, s| {
            out.push(t.get(s).key.src[3]);
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
        assert_eq!(t.newer_than(a), None);
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

    /// T2's LRU list as a plain doubly linked list with sentinel nodes: the reference the log
    /// must agree with, operation for operation.
    struct RefLru {
        older: Vec<u32>,
        newer: Vec<u32>,
        sentinel: Vec<bool>,
        head: u32,
        tail: u32,
        handlers: Vec<(f32, u32)>,
    }

    impl RefLru {
        fn new(timeouts: &[f32]) -> RefLru {
            let mut r = RefLru {
                older: vec![],
                newer: vec![],
                sentinel: vec![],
                head: NIL,
                tail: NIL,
                handlers: vec![],
            };
            for &to in timeouts {
                let s = r.node(true);
                // at the tail end (on an empty list: at the head, which is the tail)
                let tail = r.tail;
                r.link_older_than(s, tail);
                r.handlers.push((to, s));
            }
            r.handlers.sort_by(|a, b| b.0.total_cmp(&a.0));
            r
        }
        fn node(&mut self, sentinel: bool) -> u32 {
            self.older.push(NIL);
            self.newer.push(NIL);
            self.sentinel.push(sentinel);
            (self.older.len() - 1) as u32
        }
        fn link_head(&mut self, s: u32) {
            self.newer[s as usize] = NIL;
            self.older[s as usize] = self.head;
            if self.head != NIL {
                self.newer[self.head as usize] = s;
            } else {
                self.tail = s;
            }
            self.head = s;
        }
        fn unlink(&mut self, s: u32) {
            let (o, n) = (self.older[s as usize], self.newer[s as usize]);
            if o != NIL {
                self.newer[o as usize] = n;
            } else {
                self.tail = n;
            }
            if n != NIL {
                self.older[n as usize] = o;
            } else {
                self.head = o;
            }
        }
        fn link_older_than(&mut self, s: u32, at: u32) {
            if at == NIL {
                return self.link_head(s);
            }
            let o = self.older[at as usize];
            self.newer[s as usize] = at;
            self.older[s as usize] = o;
            self.older[at as usize] = s;
            if o != NIL {
                self.newer[o as usize] = s;
            } else {
                self.tail = s;
            }
        }
        /// Flows from the oldest, sentinels as `None`.
        fn order(&self) -> Vec<Option<u32>> {
            let mut v = vec![];
            let mut s = self.tail;
            while s != NIL {
                v.push((!self.sentinel[s as usize]).then_some(s));
                s = self.newer[s as usize];
            }
            v
        }
    }

    #[test]
    fn due_tests_agree_with_age() {
        // the integer shortcuts (on timestamps, and on the LRU log's copies in nanoseconds)
        // must give age()'s answer everywhere, above all near the timeout, for fractional
        // timeouts, nanosecond deltas and times far apart
        let mut t = FlowTable::new(&[182.0], 0);
        let slot = add(&mut t, 1, 0);
        let mut rng = crate::testutil::XorShift(0x2545_f491_4f6c_dd1d);
        let mut rnd = || rng.next();
        for to in [0.0f32, 0.1, 1.0, 10.0, 120.0, 182.0, 610.0, 3600.5, 1e9] {
            let h = Handler::new(to);
            let t_ns = (to as f64 * 1e9) as i64;
            let ulp_ns = (to as f64 * 1e9 / (1u64 << 23) as f64) as i64 + 1;
            for _ in 0..40_000 {
                let r = rnd();
                // now and then a time beyond what the log's copy holds (SEEN_FAR)
                let sec = if r % 16 == 5 {
                    9_000_000_000 + (r >> 40)
                } else {
                    r >> 34
                };
                let last = Ts::new(sec, (r % 1_000_000_000) as u32);
                // idle times around the timeout (a few ns to a few ms off), anywhere, or huge
                let d: i64 = match r % 5 {
                    0 => t_ns + (rnd() % 2001) as i64 - 1000,
                    1 => t_ns + (rnd() % 4_000_001) as i64 - 2_000_000,
                    2 => (rnd() % 4_000_000_000_000) as i64 - 1_000_000_000_000,
                    // within a few f32 ulps of the timeout, where age()'s rounding decides
                    3 => t_ns + (rnd() % (8 * ulp_ns as u64 + 1)) as i64 - 4 * ulp_ns,
                    _ => (rnd() >> 2) as i64 - (1 << 61),
                };
                let now_ns = (last.sec as i128) * 1_000_000_000 + last.nsec as i128 + d as i128;
                if now_ns < 0 {
                    continue;
                }
                let now = Ts::new(
                    (now_ns / 1_000_000_000) as u64,
                    (now_ns % 1_000_000_000) as u32,
                );
                t.set_last_seen(slot, last);
                let e = t.lru[t.get(slot).lru_pos as usize];
                assert_eq!(
                    t.entry_due(Now::new(now), e, to, h.bounds),
                    age(now, last) >= to,
                    "timeout {to}, last {last:?}, now {now:?}"
                );
                assert_eq!(timed_out(now, last, to), age(now, last) >= to);
            }
        }
    }

    impl FlowTable {
        /// [`FlowTable::nothing_due`] computed from the log alone, without the quiet bound
        /// and without moving anything.
        fn nothing_due_fresh(&self, now: Ts) -> bool {
            let now = Now::new(now);
            let tail = self.lru_tail.get() as usize;
            self.handlers.iter().all(|h| {
                let i = self.lru_next((h.sentinel as usize).max(tail));
                self.lru
                    .get(i)
                    .is_none_or(|&e| !self.entry_due(now, e, h.timeout, h.bounds))
            })
        }
    }

    #[test]
    fn the_quiet_bound_never_hides_a_due_flow() {
        // random moves, new flows, removals, packets with older times and passes; between
        // them nothing_due is asked at times around the bound it keeps, and must answer as
        // a fresh look at the log does
        let mut r = crate::testutil::XorShift(0x51ee_9d00_7b0d_0001);
        let (mut hidden_checks, mut quiet_hits) = (0, 0);
        for round in 0..40 {
            let mut t = FlowTable::new(&[182.0, 10.0, 0.5], 0);
            let mut live: Vec<u32> = Vec::new();
            let mut now: u64 = 1_000_000;
            // long enough for the log to be compacted several times
            for n in 0..2000u32 {
                match r.below(10) {
                    0..=2 => {
                        let s = t.insert(key(n + round * 1000), n as u64);
                        t.set_last_seen(s, Ts::new(now / 1000, (now % 1000) as u32 * 1_000_000));
                        t.set_timeout(s, [182.0, 10.0, 0.5][r.below(3) as usize]);
                        live.push(s);
                    }
                    3..=6 if !live.is_empty() => {
                        let s = live[r.below(live.len() as u64) as usize];
                        t.touch(s, n as u64);
                        // sometimes an older time (unsorted captures)
                        let at =
                            now.saturating_sub(if r.below(4) == 0 { r.below(20_000) } else { 0 });
                        t.set_last_seen(s, Ts::new(at / 1000, (at % 1000) as u32 * 1_000_000));
                    }
                    7 if !live.is_empty() => {
                        let k = r.below(live.len() as u64) as usize;
                        t.remove(live.swap_remove(k));
                    }
                    8 => {
                        let at = Ts::new(now / 1000, 0);
                        let mut gone = Vec::new();
                        t.timeout_pass(at, |t, s| {
                            gone.push(s);
                            t.detach(s);
                        });
                        for s in gone {
                            t.free_detached(s);
                            live.retain(|&x| x != s);
                        }
                    }
                    _ => now += r.below(3000),
                }
                // ask around the bound the table keeps (and anywhere)
                for _ in 0..3 {
                    let q = if t.quiet_until > 0 && t.quiet_until < i64::MAX && r.below(2) == 0 {
                        let b = t.quiet_until + r.below(2_000_000_000) as i64 - 1_000_000_000;
                        b.max(0) as u64
                    } else if r.below(4) == 0 {
                        now * 1_000_000 + r.below(30_000_000_000)
                    } else {
                        // shortly after the last packet: mostly nothing due
                        now * 1_000_000 + r.below(400_000_000)
                    };
                    let at = Ts::new(q / 1_000_000_000, (q % 1_000_000_000) as u32);
                    let fresh = t.nothing_due_fresh(at);
                    let cached_bound = Now::new(at).ns < t.quiet_until;
                    assert_eq!(t.nothing_due(at), fresh, "round {round}, op {n}, at {at:?}");
                    hidden_checks += 1;
                    quiet_hits += cached_bound as u32;
                }
            }
        }
        assert!(
            quiet_hits * 10 > hidden_checks,
            "the bound answered {quiet_hits} of {hidden_checks}"
        );
    }

    #[test]
    fn index_memory_is_zero_and_written() {
        for n in [1, 511, 512, 1024, 5000] {
            let e = written_zeros(n);
            assert_eq!(e.len(), n);
            assert!(e.iter().all(|&x| x == 0));
        }
    }

    #[test]
    fn the_quiet_bound_follows_compaction() {
        let mut t = FlowTable::new(&[10.0], 0);
        let x = add(&mut t, 1, 50);
        let a = add(&mut t, 2, 100);
        // X moves to the head with an older time (an unsorted capture): A is now the flow
        // after the sentinel, X right behind it
        t.touch(x, 3);
        t.set_last_seen(x, Ts::new(0, 0));
        assert!(t.nothing_due(Ts::new(105, 0)), "A is 5 s idle");
        // enough moves of two other flows to fill the log and compact it: A and X keep
        // their order but not their positions
        let (c, d) = (add(&mut t, 3, 100), add(&mut t, 4, 100));
        let before = t.lru.capacity();
        for k in 0..before as u64 {
            t.touch(if k % 2 == 0 { c } else { d }, 10 + k);
        }
        assert_eq!(t.lru.capacity(), before, "compacted, not grown");
        // A leaves the place after the sentinel: X (idle since 0) is due now
        t.touch(a, 5_000);
        assert!(!t.nothing_due(Ts::new(106, 0)));
    }

    /// The reference list's flows, oldest first, as table slots.
    fn ref_slots(r: &RefLru, node_of: &std::collections::HashMap<u32, u32>) -> Vec<u32> {
        let slot_of: std::collections::HashMap<u32, u32> =
            node_of.iter().map(|(&s, &nd)| (nd, s)).collect();
        r.order()
            .into_iter()
            .flatten()
            .map(|nd| slot_of[&nd])
            .collect()
    }

    /// What [`FlowTable::nothing_due`] must answer, from the reference list: whether the flow
    /// after every sentinel is younger than that sentinel's timeout.
    fn ref_quiet(
        r: &RefLru,
        t: &FlowTable,
        node_of: &std::collections::HashMap<u32, u32>,
        at: Ts,
    ) -> bool {
        let slot_of: std::collections::HashMap<u32, u32> =
            node_of.iter().map(|(&s, &nd)| (nd, s)).collect();
        r.handlers.iter().all(|&(to, sen)| {
            let mut f = r.newer[sen as usize];
            while f != NIL && r.sentinel[f as usize] {
                f = r.newer[f as usize];
            }
            f == NIL || age(at, t.get(slot_of[&f]).last_seen) < to
        })
    }

    #[test]
    fn lru_log_matches_the_linked_list() {
        use std::collections::HashMap;
        let timeouts = [182.0f32, 10.0, 60.0];
        let mut t = FlowTable::new(&timeouts, 0);
        let mut r = RefLru::new(&timeouts);
        // live flows as (table slot, reference node); node_of maps a slot to its node
        let mut live: Vec<u32> = vec![];
        let mut node_of: HashMap<u32, u32> = HashMap::new();
        let mut x = 0x9e37_79b9u32;
        let mut rnd = |m: u32| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % m
        };
        let mut now = 0u64;
        let mut n = 0u32;
        for stamp in 1..100_000u64 {
            let op = rnd(100);
            if op < 30 || live.is_empty() {
                n += 1;
                let s = t.insert(key(n), stamp);
                t.set_last_seen(s, Ts::new(now, 0));
                t.set_timeout(s, timeouts[rnd(3) as usize]);
                let rn = r.node(false);
                r.link_head(rn);
                node_of.insert(s, rn);
                if rnd(2) == 0 && !live.is_empty() {
                    let p = live[rnd(live.len() as u32) as usize];
                    if t.get(p).partner == NIL {
                        t.get_mut(p).partner = s;
                        t.get_mut(s).partner = p;
                    }
                }
                live.push(s);
            } else if op < 80 {
                // often the newest flow: it may sit behind a sentinel moved to the head
                let s = if op < 55 {
                    live[rnd(live.len() as u32) as usize]
                } else {
                    *node_of
                        .iter()
                        .max_by_key(|(&s, _)| t.get(s).lru_stamp)
                        .unwrap()
                        .0
                };
                t.touch(s, stamp);
                // now and then a packet with an older timestamp (captures are not sorted):
                // the flow after a sentinel may then get older, which the log's copy of its
                // time must follow
                let back = if rnd(3) == 0 { rnd(30) as u64 } else { 0 };
                // (and now and then a move to the head without a new time: the log entry's
                // copy is then the one taken at the move)
                let old_time = rnd(6) == 0;
                if !old_time {
                    t.set_last_seen(s, Ts::new(now.saturating_sub(back), 0));
                }
                if rnd(5) == 0 {
                    // a plugin changes the timeout mid-flow (tcpStates), sometimes of a flow
                    // not at the head (its partner)
                    let o = if rnd(2) == 0 { t.get(s).partner } else { s };
                    if o != NIL {
                        t.set_timeout(o, timeouts[rnd(3) as usize]);
                    }
                }
                let rn = node_of[&s];
                if r.head != rn {
                    r.unlink(rn);
                    r.link_head(rn);
                }
                if old_time || rnd(4) == 0 {
                    // asked at every packet in the worker
                    let at = Ts::new(now + rnd(200) as u64, 0);
                    if old_time || rnd(4) == 0 {
                        assert_eq!(t.nothing_due(at), ref_quiet(&r, &t, &node_of, at));
                    } else {
                        t.nothing_due(at);
                    }
                }
            } else if op < 84 {
                // forced removal of a pair
                let s = live[rnd(live.len() as u32) as usize];
                let p = t.get(s).partner;
                for s in [s, p] {
                    if s != NIL {
                        t.remove(s);
                        r.unlink(node_of.remove(&s).unwrap());
                        live.retain(|&x| x != s);
                    }
                }
            } else if op < 97 {
                now += rnd(8) as u64;
                let now = Ts::new(now, 0);
                // the reference pass, as the linked-list table did it
                let slot_of: HashMap<u32, u32> = node_of.iter().map(|(&s, &nd)| (nd, s)).collect();
                let earlier = Ts::new(now.sec.saturating_sub(rnd(4) as u64), 0);
                let (quiet_before_ref, quiet_ref) = (
                    ref_quiet(&r, &t, &node_of, earlier),
                    ref_quiet(&r, &t, &node_of, now),
                );
                let mut expected = vec![];
                for hi in 0..r.handlers.len() {
                    let (to, sen) = r.handlers[hi];
                    let mut f = r.newer[sen as usize];
                    while f != NIL {
                        if r.sentinel[f as usize] {
                            f = r.newer[f as usize];
                            continue;
                        }
                        let fl = t.get(slot_of[&f]);
                        let a = age(now, fl.last_seen);
                        if a < to {
                            break;
                        }
                        let mut next = r.newer[f as usize];
                        if a >= fl.timeout {
                            let p = fl.partner;
                            let due = p == NIL || {
                                let pf = t.get(p);
                                age(now, pf.last_seen) >= pf.timeout
                            };
                            if due {
                                let pn = (p != NIL).then(|| node_of[&p]);
                                if pn == Some(next) {
                                    next = r.newer[next as usize];
                                }
                                expected.push(slot_of[&f]);
                                r.unlink(f);
                                if let Some(pn) = pn {
                                    r.unlink(pn);
                                }
                            }
                        }
                        f = next;
                    }
                    if f == NIL || r.newer[sen as usize] != f {
                        r.unlink(sen);
                        r.link_older_than(sen, f);
                    }
                }
                // asked first at an earlier time too (as for the other workers' packets
                // between this shard's own)
                assert_eq!(
                    t.nothing_due(earlier),
                    quiet_before_ref,
                    "nothing_due, earlier"
                );
                let quiet = t.nothing_due(now);
                assert_eq!(quiet, quiet_ref, "nothing_due");
                let mut got = vec![];
                t.timeout_pass(now, |t, s| {
                    got.push(s);
                    let p = t.get(s).partner;
                    t.detach(s);
                    if p != NIL {
                        t.detach(p);
                    }
                });
                assert_eq!(got, expected);
                assert!(!quiet || got.is_empty(), "nothing_due missed an expiry");
                for &s in &got {
                    let p = t.get(s).partner;
                    for s in [s, p] {
                        if s != NIL {
                            t.free_detached(s);
                            node_of.remove(&s);
                            live.retain(|&x| x != s);
                        }
                    }
                }
            } else {
                // the whole order, oldest first, through oldest and newer_than
                let ro = ref_slots(&r, &node_of);
                let mut to = vec![];
                let mut s = t.oldest();
                while let Some(x) = s {
                    to.push(x);
                    s = t.newer_than(x);
                }
                assert_eq!(to, ro);
            }
            assert_eq!(t.len(), live.len());
        }
        assert!(t.lru.capacity() < 20_000, "the log was compacted");
        // end of input: flush from the oldest
        let ro = ref_slots(&r, &node_of);
        let mut flushed = vec![];
        while let Some(s) = t.oldest() {
            flushed.push(s);
            t.remove(s);
        }
        assert_eq!(flushed, ro);
        assert!(t.is_empty());
    }
}
