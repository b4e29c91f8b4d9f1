//! The units that travel between threads: packet batches (reader → worker) and output batches
//! (worker → writer). Both are recycled through return rings, so the steady state allocates
//! nothing.

use crate::dissect::PacketInfo;
use crate::time::Ts;

/// One packet in a batch: its metadata, and where its bytes and hdrDesc are in `bytes`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PktEntry {
    pub pkt_no: u64,
    pub ts: Ts,
    pub len: u32,
    pub data_off: u32,
    pub caplen: u32,
    pub desc_off: u32,
    pub desc_len: u32,
    pub info: PacketInfo,
}

/// Packets for one worker, plus the reader's clock.
#[derive(Default)]
pub struct PacketBatch {
    pub bytes: Vec<u8>,
    pub pkts: Vec<PktEntry>,
    /// The reader's position when the batch was sent: the number and time of the last packet
    /// read. Workers run a timeout pass with it so idle shards still expire flows.
    pub tick: Option<(u64, Ts)>,
    /// Set on the last batch: flush everything and stop.
    pub eof: bool,
    /// The global clock: (packet number, time) of the other shards' packets, in capture order.
    /// T2 runs its timeout pass before every packet with that packet's time; a worker replays
    /// these passes between its own packets, so every flow leaves at the same packet as in a
    /// single-threaded run and the merged output keeps T2's order.
    pub clock: Vec<(u64, Ts)>,
}

impl PacketBatch {
    /// An empty batch with room for `pkts` packets, `bytes` bytes of packet data and
    /// hdrDesc, and `clock` entries of the other shards' clock.
    pub fn with_capacity(pkts: usize, bytes: usize, clock: usize) -> PacketBatch {
        PacketBatch {
            bytes: Vec::with_capacity(bytes),
            pkts: Vec::with_capacity(pkts),
            clock: Vec::with_capacity(clock),
            ..Default::default()
        }
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.pkts.clear();
        self.tick = None;
        self.eof = false;
        self.clock.clear();
    }

    pub fn data(&self, e: &PktEntry) -> &[u8] {
        &self.bytes[e.data_off as usize..(e.data_off + e.caplen) as usize]
    }

    pub fn desc(&self, e: &PktEntry) -> &[u8] {
        &self.bytes[e.desc_off as usize..(e.desc_off + e.desc_len) as usize]
    }
}

/// Where a flow record sits in the global output order: the packet number of the event that
/// wrote it (a timeout pass, an eviction, or `u64::MAX` for the end-of-input flush), then the
/// LRU stamp for end-of-input flushes, then the worker and its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderKey {
    pub event: u64,
    pub minor: u64,
    pub worker: u32,
    pub seq: u64,
}

/// A written flow record: its order key and the end offset of its typed values (a
/// [`crate::output::columns::Record`]) in the batch's `records` buffer. A forked record has its
/// alternative values right after the primary ones, up to `alt_end`; otherwise
/// `alt_end == end`. The writer turns the values into text: formatting is about a fifth of a
/// worker's time, and the writer's thread has room for it.
///
/// Except at the end of the input with several workers: the reader is done, the workers flush
/// their tables at once, and one writer formatting for all of them would leave the other CPUs
/// idle. Those records arrive as text (`text`): each rendering is its flows.txt line followed
/// by its flows.json line, which end at `split` (primary) or `alt_split` (alternative).
#[derive(Clone, Copy, Debug)]
pub struct RecMeta {
    pub key: OrderKey,
    pub end: u32,
    pub alt_end: u32,
    pub text: bool,
    pub split: u32,
    pub alt_split: u32,
    /// Order-dependent bits this record sets, and the bits that select the alternative.
    pub sets: u64,
    pub needs: u64,
    /// The worker's provisional flowInd, and whether no later record carries it (the writer
    /// then forgets its global number).
    pub prov_ind: u64,
    pub last_of_flow: bool,
}

/// Output of one worker, in its own order.
#[derive(Default)]
pub struct OutBatch {
    pub worker: usize,
    pub recs: Vec<RecMeta>,
    /// The records' typed values, back to back (see [`RecMeta`]).
    pub records: Vec<u8>,
    /// Flows given a new flowInd: (packet number of the creating packet, provisional flowInd).
    pub created: Vec<(u64, u64)>,
    /// Packet-mode lines: (pkt_no, end offset in `pkt_txt`).
    pub pkts: Vec<(u64, u32)>,
    pub pkt_txt: Vec<u8>,
    /// All later output of this worker has event > watermark (and pkt_no > watermark), or,
    /// while the table is flushed at the end of the input (event `u64::MAX`), a minor key >
    /// `watermark_minor`: the writer can then merge the workers' flushes as they arrive.
    pub watermark: u64,
    /// `u64::MAX` except during the end-of-input flush (see `watermark`).
    pub watermark_minor: u64,
    pub done: bool,
}

impl OutBatch {
    /// An empty batch with room for what `b` holds: grown by doubling from nothing, it would
    /// copy its text several times and fault in about twice the memory it ends up with.
    pub fn sized_like(b: &OutBatch) -> OutBatch {
        let more = |n: usize| n + n / 4;
        OutBatch {
            recs: Vec::with_capacity(more(b.recs.len())),
            records: Vec::with_capacity(more(b.records.len())),
            created: Vec::with_capacity(more(b.created.len())),
            pkts: Vec::with_capacity(more(b.pkts.len())),
            pkt_txt: Vec::with_capacity(more(b.pkt_txt.len())),
            watermark_minor: u64::MAX,
            ..Default::default()
        }
    }

    pub fn clear(&mut self) {
        self.recs.clear();
        self.created.clear();
        self.records.clear();
        self.pkts.clear();
        self.pkt_txt.clear();
        self.watermark = 0;
        self.watermark_minor = u64::MAX;
        self.done = false;
    }

    /// The (event, minor) bound on every later output of the worker (see `watermark`).
    pub fn bound(&self) -> (u64, u64) {
        (self.watermark, self.watermark_minor)
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty() && self.pkts.is_empty()
    }

    /// Bytes held, to decide when to hand the batch over.
    pub fn size(&self) -> usize {
        self.records.len() + self.pkt_txt.len()
    }
}
