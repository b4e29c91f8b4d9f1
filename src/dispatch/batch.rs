//! The units that travel between threads: packet batches (reader → worker) and output batches
//! (worker → writer). Both are recycled through return rings, so the steady state allocates
//! nothing.

use crate::capture::mapped::MapWindow;
use crate::dissect::PacketInfo;
use crate::time::Ts;
use std::sync::Arc;

/// One packet in a batch: its metadata, where its bytes are (`data_off` in `bytes`, or in
/// `windows[window - 1]` when `window` is not 0) and where its hdrDesc is: at `desc_off`
/// (`desc_len` bytes) in `bytes`, or, when `desc_template` is not 0, the dissector's fixed
/// text number `desc_template - 1` ([`crate::dissect::desc_template_text`]: most packets,
/// whose hdrDesc is then not copied).
#[derive(Clone, Copy, Debug, Default)]
pub struct PktEntry {
    pub pkt_no: u64,
    pub ts: Ts,
    pub len: u32,
    pub data_off: u32,
    pub caplen: u32,
    pub desc_off: u32,
    pub desc_len: u16,
    pub window: u16,
    pub desc_template: u8,
    pub info: PacketInfo,
}

/// Packets for one worker, plus the reader's clock.
#[derive(Default)]
pub struct PacketBatch {
    pub bytes: Vec<u8>,
    pub pkts: Vec<PktEntry>,
    /// The mapped windows of the input file that packets of this batch point into (kept
    /// mapped until the worker is done with the batch).
    pub windows: Vec<Arc<MapWindow>>,
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
        self.windows.clear();
        self.tick = None;
        self.eof = false;
        self.clock.clear();
    }

    #[inline]
    pub fn data(&self, e: &PktEntry) -> &[u8] {
        let src = match e.window {
            0 => &self.bytes[..],
            w => self.windows[w as usize - 1].bytes(),
        };
        &src[e.data_off as usize..e.data_off as usize + e.caplen as usize]
    }

    /// Where a packet's bytes go: a reference into `window` when they lie in it (no copy),
    /// else a copy in `bytes`. Returns (`window` index + 1 or 0, offset).
    #[inline]
    pub fn place_data(&mut self, data: &[u8], window: Option<&Arc<MapWindow>>) -> (u16, u32) {
        // the common case, inlined: in the window the batch already refers to
        if let Some(w) = window {
            if let Some(off) = w.offset_of(data) {
                if self.windows.last().is_some_and(|l| Arc::ptr_eq(l, w)) {
                    return (self.windows.len() as u16, off);
                }
            }
        }
        self.place_data_general(data, window)
    }

    /// [`PacketBatch::place_data`] in every case.
    #[inline(never)]
    fn place_data_general(&mut self, data: &[u8], window: Option<&Arc<MapWindow>>) -> (u16, u32) {
        if let Some(w) = window {
            if let Some(off) = w.offset_of(data) {
                let same = self.windows.last().is_some_and(|l| Arc::ptr_eq(l, w));
                if !same && self.windows.len() < u16::MAX as usize {
                    self.windows.push(w.clone());
                }
                if self.windows.last().is_some_and(|l| Arc::ptr_eq(l, w)) {
                    return (self.windows.len() as u16, off);
                }
            }
        }
        let off = self.bytes.len() as u32;
        self.bytes.extend_from_slice(data);
        (0, off)
    }

    #[inline]
    pub fn desc(&self, e: &PktEntry) -> &[u8] {
        match e.desc_template {
            0 => &self.bytes[e.desc_off as usize..e.desc_off as usize + e.desc_len as usize],
            t => crate::dissect::desc_template_text(t - 1),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn packets_in_a_mapped_window_are_referenced_others_copied() {
        let mut path = std::env::temp_dir();
        path.push(format!("tamandua-batch-{}", std::process::id()));
        let content: Vec<u8> = (0..8192u32).map(|i| (i % 253) as u8).collect();
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&content))
            .expect("temp file");
        let f = std::fs::File::open(&path).expect("open");
        let w1 = Arc::new(MapWindow::map(&f, 0, 4096).expect("map"));
        let w2 = Arc::new(MapWindow::map(&f, 4096, 4096).expect("map"));
        std::fs::remove_file(&path).ok();
        let mut b = PacketBatch::default();
        let add = |b: &mut PacketBatch, data: &[u8], w: Option<&Arc<MapWindow>>| {
            let (window, data_off) = b.place_data(data, w);
            b.pkts.push(PktEntry {
                data_off,
                caplen: data.len() as u32,
                window,
                ..Default::default()
            });
            window
        };
        let heap = vec![9u8; 30];
        assert_eq!(add(&mut b, &w1.bytes()[100..160], Some(&w1)), 1);
        assert_eq!(add(&mut b, &w1.bytes()[4000..4096], Some(&w1)), 1);
        assert_eq!(add(&mut b, &w2.bytes()[0..10], Some(&w2)), 2);
        // not a slice of the window it names: copied
        assert_eq!(add(&mut b, &heap, Some(&w2)), 0);
        assert_eq!(add(&mut b, &w1.bytes()[..5], None), 0);
        assert_eq!(b.windows.len(), 2, "one reference per window");
        assert_eq!(
            b.bytes.len(),
            35,
            "only the copies are in the batch's bytes"
        );
        let want: [&[u8]; 5] = [
            &content[100..160],
            &content[4000..4096],
            &content[4096..4106],
            &heap,
            &content[..5],
        ];
        for (e, want) in b.pkts.iter().zip(want) {
            assert_eq!(b.data(e), want);
        }
        // the worker's clear() releases the windows
        b.clear();
        assert!(b.windows.is_empty());
        assert_eq!(Arc::strong_count(&w1), 1);
    }
}
