//! A worker: owns one shard of the flow table and the plugin state of its flows. It takes
//! dissected packets in capture order (for its shard), does T2's flow stage — timeouts, lookup,
//! A/B pairing, fragments, plugin callbacks (core.md 7–9) — and formats the records it writes
//! into output batches for the writer thread.

use crate::dispatch::batch::{OrderKey, OutBatch, PacketBatch, PktEntry, RecMeta};
use crate::dispatch::ring::Ring;
use crate::dissect::{FlowClass, FlowKey, Frag, PacketInfo, NONE};
use crate::flow::table::{frag_key, FlowTable, KeyHash, NIL};
use crate::flowstat::*;
use crate::output::columns::{Column, Record, Ty};
use crate::output::{json, txt};
use crate::plugin::{FlowCx, Pkt, Plugin, TermCx};
use crate::report::counters::Counters;
use crate::textfmt;
use crate::time::Ts;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// State shared by all workers (read-mostly, atomics only).
#[derive(Default)]
pub struct Shared {
    /// First SIGINT: packets that match no flow are dropped instead of creating one.
    pub no_create: AtomicBool,
    /// Live flows over all workers, and the peak.
    pub concurrent: AtomicU64,
    pub peak: AtomicU64,
    /// Packets processed by all workers (monitoring).
    pub processed: AtomicU64,
    /// The monitor (reports, per-worker gauges), when the run has one.
    pub monitor: std::sync::OnceLock<Arc<crate::monitor::Link>>,
}

/// Makes the calling replay worker a batch thread (SCHED_BATCH, sched(7)): same CPU share,
/// but when it wakes up it waits for the next tick instead of taking the CPU from the thread
/// running there. With a worker on every CPU, the reader (or the writer) shares a CPU with
/// one, and each batch it handed that worker made it give the CPU up at once: the reader,
/// the single source of every worker's packets, then ran in slices of a few hundred
/// microseconds while the other workers ran dry. Returns whether the policy was set
/// (lowering one's own priority needs no privilege, but a seccomp or container policy may
/// refuse it; the run is then only slower).
pub fn yield_to_pipeline() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads one sched_param, which lives on this stack for the
    // call; pid 0 is the calling thread, and SCHED_BATCH takes priority 0.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) == 0 }
}

/// What a worker is configured with.
#[derive(Default)]
pub struct WorkerSetup {
    pub index: usize,
    pub workers: usize,
    pub plugins: Vec<Box<dyn Plugin>>,
    /// The sinks that take flow records (without one, records are only counted and their
    /// plugins' aggregates kept) and all flows.txt columns, to format the end-of-input flush.
    pub txt: bool,
    pub json: bool,
    pub columns: Arc<Vec<Column>>,
    pub packet_mode: bool,
    pub flow_timeout: f32,
    /// Registered timeout values in registration order (core first).
    pub timeouts: Vec<f32>,
    pub capacity: usize,
    /// ALARM_MODE: write only flows with FL_ALARM.
    pub alarm_mode: bool,
    pub shared: Arc<Shared>,
}

/// Whether a worker formats the next chunk of its end-of-input flush itself: always when
/// several workers flush at once, else when the writer has fallen half a ring behind
/// (`writer_backlog` of `ring_capacity` batches waiting). A smaller lag is no sign of a slow
/// writer: it pops its ring in bursts, so two or three batches wait there whenever it is in
/// a write; a worker that formatted then (two batches, session 5) lengthened small64's flush
/// by 7% with the writer's CPU half idle.
fn self_formats_flush(workers: usize, writer_backlog: usize, ring_capacity: usize) -> bool {
    workers > 1 || writer_backlog >= (ring_capacity / 2).max(2)
}

pub struct Worker {
    pub index: usize,
    workers: usize,
    pub plugins: Vec<Box<dyn Plugin>>,
    pub table: FlowTable,
    pub counters: Counters,
    records: bool,
    txt: bool,
    json: bool,
    /// flows.txt and flows.json lines of the records (columns of [`WorkerSetup::columns`]).
    txt_fmt: txt::TxtFormatter,
    json_fmt: json::JsonFormatter,
    /// Format records here rather than in the writer (see [`RecMeta`]): set for the
    /// end-of-input flush when there are several workers, and for the whole run by
    /// [`Worker::format_records_here`].
    format_here: bool,
    packet_mode: bool,
    /// Some packet callback reads the opposite direction's core flow (a plugin says so, or
    /// basicFlow's packet-mode columns do): it is prefetched ahead of each packet.
    prefetch_opposite_flow: bool,
    flow_timeout: f32,
    alarm_mode: bool,
    rec: Record,
    out: Box<OutBatch>,
    seq: u64,
    local_index: u64,
    last_pkt_no: u64,
    remove: Vec<u32>,
    /// Flows found due by the current timeout pass (reused buffer).
    expired: Vec<u32>,
    /// The registered timeout values, longest first (the handlers' walk order).
    timeouts_desc: Vec<f32>,
    shared: Arc<Shared>,
    /// Flows evicted at the cap: the first eviction prints the autopilot warning.
    pub evicted: u64,
    /// Record bytes of the last batch of the end-of-input flush.
    flush_hint: usize,
    /// Monitoring: gauges and report answers (see `crate::monitor`).
    mon: Option<crate::monitor::WorkerPort>,
    /// The end-of-input flush's prefetch cursors (log positions, see
    /// [`Worker::prefetch_flush`]).
    flush_far: usize,
    flush_near: usize,
}

impl Worker {
    pub fn new(s: WorkerSetup) -> Worker {
        Worker {
            index: s.index,
            workers: s.workers.max(1),
            table: FlowTable::new(&s.timeouts, s.capacity),
            counters: Counters {
                hdr_min: u16::MAX,
                ..Default::default()
            },
            records: s.txt || s.json,
            txt: s.txt,
            json: s.json,
            txt_fmt: txt::TxtFormatter::new(&s.columns),
            json_fmt: json::JsonFormatter::new(&s.columns),
            format_here: false,
            packet_mode: s.packet_mode,
            prefetch_opposite_flow: s.packet_mode
                || s.plugins.iter().any(|p| p.reads_opposite_flow()),
            flow_timeout: s.flow_timeout,
            alarm_mode: s.alarm_mode,
            plugins: s.plugins,
            rec: Record::default(),
            flush_far: 0,
            flush_near: 0,
            out: Box::default(),
            seq: 0,
            local_index: 0,
            last_pkt_no: 0,
            remove: Vec::new(),
            expired: Vec::new(),
            timeouts_desc: {
                let mut t = s.timeouts.clone();
                t.sort_by(|a, b| b.total_cmp(a));
                t.dedup();
                t
            },
            mon: s
                .shared
                .monitor
                .get()
                .map(|l| crate::monitor::WorkerPort::new(l.clone(), s.index)),
            shared: s.shared,
            evicted: 0,
            flush_hint: 0,
        }
    }

    /// Formats this worker's records itself for the whole run (FORMAT_IN_WORKERS): when
    /// every CPU runs a worker, the writer shares one with a worker and the reader, falls
    /// behind during the run, and formats its backlog alone at the end.
    pub fn format_records_here(&mut self) {
        self.format_here = self.records;
    }

    /// Runs the worker until the reader sends the last batch; returns itself for the report.
    pub fn run(
        mut self,
        input: &Ring<Box<PacketBatch>>,
        input_free: &Ring<Box<PacketBatch>>,
        output: &Ring<Box<OutBatch>>,
        output_free: &Ring<Box<OutBatch>>,
    ) -> Worker {
        input.register_consumer();
        input_free.register_producer();
        output.register_producer();
        output_free.register_consumer();
        let mut unsent = 0;
        loop {
            // about to sleep: the writer gets what this worker holds instead of waiting for it
            let next = input.pop_or_else(|| {
                if unsent > 0 {
                    self.send(output, output_free);
                    unsent = 0;
                }
            });
            let Some(mut batch) = next else { break };
            let eof = batch.eof;
            self.process_batch(&batch);
            unsent += 1;
            batch.clear();
            // the reader may have stopped listening (error path): never block on the free ring
            let _ = input_free.try_push(batch);
            if eof {
                // in pieces: one output batch for millions of records would be grown by
                // doubling (page faults, copies) and double the peak memory
                // Who formats the flushed records: with several workers, each its own (the
                // reader is done, and one writer would leave CPUs idle). With one, the worker
                // formats a chunk itself whenever the writer lags half a ring behind,
                // else hands it over typed: on small64's 2 M records the writer formatting
                // alone was the whole end of the run, with the worker's CPU idle.
                let workers = self.workers;
                while !self.flush_some(
                    FLUSH_CHUNK,
                    self_formats_flush(workers, output.len(), output.capacity()),
                ) {
                    // later flush records sort after the last one written (LRU order), so
                    // the writer may merge this part with the other workers' right away
                    let written = self.out.recs.last().map_or(0, |r| r.key.minor);
                    self.send_with_bound(output, output_free, (u64::MAX, written));
                }
                self.out.done = true;
                self.out.watermark = u64::MAX;
                self.send(output, output_free);
                break;
            }
            if unsent >= SEND_EVERY || self.out.size() >= SEND_BYTES {
                self.send(output, output_free);
                unsent = 0;
            }
        }
        self
    }

    /// Hands the output gathered so far to the writer (with this worker's watermark) and
    /// starts a fresh batch. Live-capture workers call it periodically.
    pub fn send(&mut self, output: &Ring<Box<OutBatch>>, output_free: &Ring<Box<OutBatch>>) {
        self.send_with_bound(output, output_free, (self.last_pkt_no, u64::MAX));
    }

    /// [`Worker::send`] with an explicit (event, minor) bound on all later output.
    fn send_with_bound(
        &mut self,
        output: &Ring<Box<OutBatch>>,
        output_free: &Ring<Box<OutBatch>>,
        (event, minor): (u64, u64),
    ) {
        // a new batch is sized like the one it replaces (see `OutBatch::sized_like`)
        let fresh = output_free
            .try_pop()
            .unwrap_or_else(|| Box::new(OutBatch::sized_like(&self.out)));
        let mut full = std::mem::replace(&mut self.out, fresh);
        self.out.clear();
        full.worker = self.index;
        if !full.done {
            full.watermark = event;
            full.watermark_minor = minor;
        }
        output.push(full);
    }

    /// Processes one batch of packets (all belonging to this worker's shard).
    ///
    /// A table larger than the caches costs a DRAM access per line a packet touches, so the
    /// batch goes through a software pipeline: `INDEX_AHEAD` packets ahead the key is hashed
    /// and its index line prefetched; `FLOW_AHEAD` packets ahead the (by then cached) index
    /// gives the slot, whose flow lines and plugin state are prefetched; `PARTNER_AHEAD`
    /// packets ahead the (by then cached) flow gives its opposite direction, whose lines (and
    /// the plugin state read through it) are prefetched too (plugins read the opposite's
    /// times at every packet). The hints never change results: each packet is still looked
    /// up when its turn comes.
    pub fn process_batch(&mut self, batch: &PacketBatch) {
        const INDEX_AHEAD: usize = 12;
        const FLOW_AHEAD: usize = 6;
        const PARTNER_AHEAD: usize = 3;
        const RING: usize = 16;
        let pkts = &batch.pkts[..];
        let n = pkts.len();
        let mut hashes = [None::<KeyHash>; RING];
        let mut slots = [None::<u32>; RING];
        let stage1 = |t: &FlowTable, e: &PktEntry| -> Option<KeyHash> {
            // the packet's first bytes (link and IP headers) were last in the reader's cache
            let data = batch.data(e);
            crate::flow::table::prefetch_ptr(data.as_ptr());
            if data.len() > 64 {
                crate::flow::table::prefetch_ptr(data.as_ptr().wrapping_add(64));
            }
            let info = &e.info;
            if info.class == FlowClass::NoFlow
                || (info.class == FlowClass::Ip && info.frag == Frag::Later)
            {
                return None;
            }
            let h = FlowTable::hash(&info.key);
            t.prefetch_index(&h);
            Some(h)
        };
        for (j, e) in pkts.iter().enumerate().take(INDEX_AHEAD) {
            hashes[j % RING] = stage1(&self.table, e);
        }
        for j in 0..FLOW_AHEAD.min(n) {
            slots[j % RING] = self.prefetch_flow(hashes[j % RING]);
        }
        // own packets and the other shards' clock, merged in capture order
        let clock = &batch.clock[..];
        let mut ci = 0;
        for (i, e) in pkts.iter().enumerate() {
            if let Some(a) = pkts.get(i + INDEX_AHEAD) {
                hashes[(i + INDEX_AHEAD) % RING] = stage1(&self.table, a);
            }
            if i + FLOW_AHEAD < n {
                slots[(i + FLOW_AHEAD) % RING] =
                    self.prefetch_flow(hashes[(i + FLOW_AHEAD) % RING]);
            }
            if i + PARTNER_AHEAD < n {
                if let Some(s) = slots[(i + PARTNER_AHEAD) % RING] {
                    if let Some(p) = self.table.partner_guess(s) {
                        if self.prefetch_opposite_flow {
                            self.table.prefetch_slot(p);
                        }
                        for pl in &self.plugins {
                            pl.prefetch_opposite(p);
                        }
                    }
                }
            }
            let start = ci;
            while clock.get(ci).is_some_and(|&(no, _)| no <= e.pkt_no) {
                ci += 1;
            }
            self.clock_run(&clock[start..ci]);
            self.packet_hashed(e, batch.data(e), batch.desc(e), hashes[i % RING]);
        }
        self.clock_run(&clock[ci..]);
        if let Some((no, ts)) = batch.tick {
            if no > self.last_pkt_no {
                self.timeout_pass(ts, no);
                self.last_pkt_no = no;
            }
        }
        self.shared
            .processed
            .fetch_add(batch.pkts.len() as u64, Ordering::Relaxed);
        if let Some(m) = self.mon.as_mut() {
            m.after_batch(
                batch.tick.map(|t| t.0),
                &self.counters,
                &self.table,
                &mut self.plugins,
            );
        }
    }

    /// Live capture: answers a pending monitoring request with this worker's figures and its
    /// own dissection counters (`ingest`); call it every few milliseconds.
    pub fn monitor_poll(&mut self, ingest: &Counters, last_ts: Ts) {
        if let Some(m) = self.mon.as_mut() {
            m.poll(
                ingest,
                &self.counters,
                &self.table,
                &mut self.plugins,
                last_ts,
            );
        }
    }

    /// T2's timeout passes at a run of the other shards' packets (between two of this
    /// worker's own, in capture order). If nothing this shard holds is due at the latest of
    /// their times, nothing is due at any of them: the table does not change in between, and
    /// whether a flow is due only grows with the pass time (`FlowTable::nothing_due` is
    /// monotone in it, tested there). So one check stands for the run, and each pass is made
    /// only when something is due (with two workers, half the checks of a worker).
    fn clock_run(&mut self, run: &[(u64, Ts)]) {
        if let [_, _, ..] = run {
            let last_no = run[run.len() - 1].0;
            let latest = run
                .iter()
                .map(|&(_, t)| t)
                .max_by_key(|t| t.sec as i128 * 1_000_000_000 + t.nsec as i128);
            if let Some(latest) = latest {
                if self.table.nothing_due(latest) {
                    self.last_pkt_no = self.last_pkt_no.max(last_no);
                    return;
                }
            }
        }
        for &(no, ts) in run {
            self.tick(ts, no);
        }
    }

    /// A timeout pass at time `now` for an event numbered `event` (the writer orders records
    /// by it). Replay calls it with the reader's clock; live capture with arrival time.
    pub fn tick(&mut self, now: Ts, event: u64) {
        if event > self.last_pkt_no {
            self.timeout_pass(now, event);
            self.last_pkt_no = event;
        }
    }

    /// Ends the run: writes every flow and marks the output batch as the last one.
    pub fn finish(&mut self) {
        self.flush_all();
        self.out.done = true;
        self.out.watermark = u64::MAX;
    }

    fn timeout_pass(&mut self, now: Ts, event: u64) {
        if self.table.nothing_due(now) {
            return;
        }
        // collect first: writing needs the whole worker, the pass only borrows the table
        let mut pairs = std::mem::take(&mut self.expired);
        pairs.clear();
        self.table.timeout_pass(now, |t, s| {
            pairs.push(s);
            let p = t.get(s).partner;
            // unlink now so the walk continues correctly; the slots stay readable until reused
            detach(t, s);
            if p != NIL {
                detach(t, p);
            }
        });
        // the walk read both flows of each pair (cached now); their plugin states were not
        // read since the pair's last packet: asked for a few pairs ahead of their writing
        for &s in pairs.iter().take(EXPIRE_AHEAD) {
            self.prefetch_pair_states(s);
        }
        for (k, &s) in pairs.iter().enumerate() {
            if let Some(&a) = pairs.get(k + EXPIRE_AHEAD) {
                self.prefetch_pair_states(a);
            }
            // Between shards, records of one event are interleaved as T2's single walk would
            // order them: by timeout handler (longest first), then LRU position. Within a shard
            // the writer keeps the worker's own (exact) order whatever this key says.
            let f = self.table.get(s);
            let rank = self
                .timeouts_desc
                .iter()
                .position(|&t| t == f.timeout())
                .unwrap_or(0) as u64;
            let minor = rank << 48 | (f.lru_stamp & ((1 << 48) - 1));
            self.write_pair(
                s,
                OrderKey {
                    event,
                    minor,
                    worker: self.index as u32,
                    seq: 0,
                },
            );
        }
        self.expired = pairs;
    }

    /// Prefetch hint: the plugin states of the flow in `slot` and of its partner.
    #[inline]
    fn prefetch_pair_states(&self, slot: u32) {
        let p = self.table.get(slot).partner;
        for pl in &self.plugins {
            pl.prefetch(slot);
            if p != NIL {
                pl.prefetch(p);
            }
        }
    }

    /// Second stage of the [`Worker::process_batch`] pipeline; returns the slot guessed.
    #[inline]
    fn prefetch_flow(&self, h: Option<KeyHash>) -> Option<u32> {
        let slot = h.and_then(|h| self.table.prefetch_flow(&h))?;
        for p in &self.plugins {
            p.prefetch(slot);
        }
        Some(slot)
    }

    /// The flow stage for one packet (core.md 7.5–7.6, 8).
    pub fn packet(&mut self, e: &PktEntry, data: &[u8], desc: &[u8]) {
        self.packet_hashed(e, data, desc, None);
    }

    /// [`Worker::packet`] with the flow key's index hash, if already computed.
    fn packet_hashed(&mut self, e: &PktEntry, data: &[u8], desc: &[u8], hash: Option<KeyHash>) {
        let info = &e.info;
        if e.pkt_no > self.last_pkt_no {
            self.timeout_pass(e.ts, e.pkt_no);
            self.last_pkt_no = e.pkt_no;
        }
        let mut status = info.status;
        let pkt = Pkt {
            data,
            info,
            hdr_desc: desc,
            ts: e.ts,
            len: e.len,
            pkt_no: e.pkt_no,
        };
        let slot = match info.class {
            FlowClass::NoFlow => {
                self.counters.global_warn |= status;
                return;
            }
            FlowClass::L2 => {
                let Some(slot) = self.lookup_or_create(&info.key, hash, &pkt, e.pkt_no) else {
                    self.counters.no_create_drops += 1;
                    return;
                };
                self.counters.add_l2_type(info.eth_type, 1, e.caplen as u64);
                match info.eth_type {
                    0x0806 => self.counters.arp += 1,
                    0x8035 => self.counters.rarp += 1,
                    _ => {}
                }
                slot
            }
            FlowClass::Ip => match self.ip_flow(&pkt, &mut status, hash) {
                Some(s) => s,
                None => {
                    self.counters.no_create_drops += 1;
                    return;
                }
            },
        };
        // attach (7.6)
        if info.class == FlowClass::Ip {
            self.counters.proto_pkts[info.l4_proto as usize] += 1;
            self.counters.proto_bytes[info.l4_proto as usize] += e.caplen as u64;
        }
        self.counters.pad_bytes += info.pad;
        {
            let f = self.table.get_mut(slot);
            f.pad_bytes += info.pad;
            f.status |= status;
        }
        self.table.set_last_seen(slot, e.ts);
        let flow_ind = self.table.get(slot).flow_ind;
        // the packet line is formatted straight into the output batch (no copy)
        let mut line = std::mem::take(&mut self.out.pkt_txt);
        if self.packet_mode {
            textfmt::push_u64(&mut line, e.pkt_no);
            line.push(b'\t');
            textfmt::push_u64(&mut line, flow_ind);
            line.push(b'\t');
        }
        {
            let mut cx = FlowCx {
                table: &mut self.table,
                slot,
                global_warn: &mut self.counters.global_warn,
                pkt_line: if self.packet_mode {
                    Some(&mut line)
                } else {
                    None
                },
                remove: &mut self.remove,
            };
            for p in self.plugins.iter_mut() {
                if info.class == FlowClass::L2 {
                    p.on_layer2(&mut cx, &pkt);
                } else {
                    p.on_layer4(&mut cx, &pkt);
                }
            }
        }
        if self.packet_mode {
            let l7 = if info.l7 == NONE {
                &[][..]
            } else {
                pkt.from(info.l7)
            };
            let n = (info.snap_l7_len as usize).min(l7.len());
            textfmt::push_l7_escaped(&mut line, &l7[..n]);
            line.push(b'\n');
            self.out.pkts.push((e.pkt_no, line.len() as u32));
        }
        self.out.pkt_txt = line;
        let f = self.table.get(slot);
        if f.has(L3FLOWINVERT) {
            self.counters.num_b += 1;
            self.counters.b_bytes += e.caplen as u64;
        } else {
            self.counters.num_a += 1;
            self.counters.a_bytes += e.caplen as u64;
        }
        self.counters.global_warn |= status;
        if !self.remove.is_empty() {
            let list = std::mem::take(&mut self.remove);
            for &s in &list {
                if self.table.get(s).is_live() {
                    detach(&mut self.table, s);
                    if let Some(p) = self.table.get(s).partner() {
                        detach(&mut self.table, p);
                    }
                    self.write_pair(
                        s,
                        OrderKey {
                            event: e.pkt_no,
                            minor: 1,
                            worker: self.index as u32,
                            seq: 0,
                        },
                    );
                }
            }
            self.remove = list;
            self.remove.clear();
        }
    }

    /// Finds or creates the flow of an IP packet, with T2's fragment handling (core.md 8).
    fn ip_flow(&mut self, pkt: &Pkt, status: &mut u64, hash: Option<KeyHash>) -> Option<u32> {
        let info = pkt.info;
        let v6 = info.ip_ver == 6;
        if info.frag == Frag::Later {
            // IPv6: T2 looks up later fragments with protocol 0 (a bug the reference shows)
            let lookup = frag_key(&info.key, info.frag_id, if v6 { 0 } else { info.l4_proto });
            if let Some(slot) = self.table.frag_get(&lookup) {
                if v6 {
                    self.counters.frag_v6 += 1;
                } else {
                    self.counters.frag_v4 += 1;
                }
                if !info.frag_mf {
                    self.table.frag_remove(&lookup);
                    self.table.get_mut(slot).status &= !IPV4_FRAG_PENDING;
                }
                return Some(slot);
            }
            self.counters.global_warn |= IPV4_FRAG | IPV4_FRAG_HDSEQ_ERR;
            let slot = self.lookup_or_create(&info.key, hash, pkt, pkt.pkt_no)?;
            self.first_fragment(slot, info, status, true);
            return Some(slot);
        }
        let slot = self.lookup_or_create(&info.key, hash, pkt, pkt.pkt_no)?;
        if info.frag == Frag::First {
            self.first_fragment(slot, info, status, false);
        } else if self.table.get(slot).has(IPV4_FRAG_PENDING) {
            self.table.get_mut(slot).status |= IPV4_FRAG_ERR;
            self.counters.global_warn |= IPV4_FRAG_ERR;
        }
        Some(slot)
    }

    fn first_fragment(&mut self, slot: u32, info: &PacketInfo, status: &mut u64, orphan: bool) {
        if info.ip_ver == 6 {
            self.counters.frag_v6 += 1;
        } else {
            self.counters.frag_v4 += 1;
            *status |= IPV4_FRAG;
        }
        let key = frag_key(&info.key, info.frag_id, info.l4_proto);
        let (pending, last_id, fkey) = {
            let f = self.table.get_mut(slot);
            f.status |= IPV4_FRAG;
            if orphan {
                f.status |= IPV4_FRAG_HDSEQ_ERR;
            }
            (f.has(IPV4_FRAG_PENDING), f.last_frag_id, f.key)
        };
        if pending {
            let old = frag_key(&fkey, last_id, fkey.proto);
            if !self.table.frag_remove(&old) || last_id != info.frag_id {
                self.table.get_mut(slot).status |= IPV4_FRAG_ERR;
                self.counters.global_warn |= IPV4_FRAG_ERR;
            }
            self.table.frag_insert(key, slot);
        } else if let Some(other) = self.table.frag_get(&key) {
            if other != slot {
                self.table.get_mut(other).status &= !IPV4_FRAG_PENDING;
            }
            self.table.frag_insert(key, slot);
        } else {
            self.table.frag_insert(key, slot);
        }
        let f = self.table.get_mut(slot);
        f.last_frag_id = info.frag_id;
        f.status |= IPV4_FRAG_PENDING;
    }

    /// Lookup with LRU move and DUPIPID, or creation with A/B pairing (core.md 7.2).
    /// `hash`: the key's index hash, if already computed.
    fn lookup_or_create(
        &mut self,
        key: &FlowKey,
        hash: Option<KeyHash>,
        pkt: &Pkt,
        stamp: u64,
    ) -> Option<u32> {
        let info = pkt.info;
        let hash = hash.unwrap_or_else(|| FlowTable::hash(key));
        if let Some(slot) = self.table.lookup_hashed(&hash, key) {
            self.table.touch(slot, stamp);
            if let Some(id) = info.ip_id {
                let f = self.table.get_mut(slot);
                if id != 0 && id as u32 == f.last_ip_id {
                    f.status |= DUPIPID;
                    self.counters.global_warn |= DUPIPID;
                }
                f.last_ip_id = id as u32;
            }
            return Some(slot);
        }
        if self.shared.no_create.load(Ordering::Relaxed) {
            return None;
        }
        while self.table.is_full() {
            let Some(old) = self.table.oldest() else {
                break;
            };
            self.evicted += 1;
            self.counters.rm_flows += 1;
            self.table.get_mut(old).status |= RMFLOW_HFULL;
            self.counters.global_warn |= RMFLOW_HFULL;
            detach(&mut self.table, old);
            if let Some(p) = self.table.get(old).partner() {
                detach(&mut self.table, p);
            }
            self.write_pair(
                old,
                OrderKey {
                    event: pkt.pkt_no,
                    minor: 0,
                    worker: self.index as u32,
                    seq: 0,
                },
            );
        }
        let slot = self.table.insert_hashed(&hash, *key, stamp);
        self.local_index += 1;
        {
            self.table.set_last_seen(slot, pkt.ts);
            self.table.set_timeout(slot, self.flow_timeout);
            let f = self.table.get_mut(slot);
            f.first_seen = pkt.ts;
            f.status = match info.class {
                FlowClass::L2 => L2_FLOW,
                _ if info.has(L2_IPV6) => L2_IPV6,
                _ => L2_IPV4,
            };
        }
        match info.class {
            FlowClass::L2 => self.counters.total_l2 += 1,
            _ if info.has(L2_IPV6) => self.counters.total_v6 += 1,
            _ => self.counters.total_v4 += 1,
        }
        let rev = key.reversed();
        let partner = self.table.lookup(&rev);
        let new_index = (self.local_index - 1) * self.workers as u64 + self.index as u64 + 1;
        match partner {
            Some(r) if r == slot => {
                self.out.created.push((pkt.pkt_no, new_index));
                self.counters.total_a += 1;
                let f = self.table.get_mut(slot);
                f.flow_ind = new_index;
                if key.proto == 6 && !key.l2 {
                    f.status |= LANDATTACK;
                    self.counters.global_warn |= LANDATTACK;
                }
            }
            Some(r) => {
                self.counters.total_b += 1;
                let (ind, inverted) = {
                    let p = self.table.get_mut(r);
                    p.partner = slot;
                    (p.flow_ind, p.has(L3FLOWINVERT))
                };
                let f = self.table.get_mut(slot);
                f.partner = r;
                f.flow_ind = ind;
                if !inverted {
                    f.status |= L3FLOWINVERT;
                }
                // the index was not used
                self.local_index -= 1;
            }
            None => {
                // live capture: is the reverse flow on another worker? (see monitor::split)
                if let Some(m) = &self.mon {
                    m.unpaired_flow(key);
                }
                self.out.created.push((pkt.pkt_no, new_index));
                self.counters.total_a += 1;
                let f = self.table.get_mut(slot);
                f.flow_ind = new_index;
                if !key.l2
                    && ((key.sport < 1024 && key.sport < key.dport)
                        || (key.sport & 0xfff6) == 8080
                        || (key.proto == 6 && info.tcp_flags & 0x12 == 0x12))
                {
                    f.status |= L3FLOWINVERT;
                }
            }
        }
        let now = self.shared.concurrent.fetch_add(1, Ordering::Relaxed) + 1;
        self.shared.peak.fetch_max(now, Ordering::Relaxed);
        let mut cx = FlowCx {
            table: &mut self.table,
            slot,
            global_warn: &mut self.counters.global_warn,
            pkt_line: None,
            remove: &mut self.remove,
        };
        for p in self.plugins.iter_mut() {
            p.on_new_flow(&mut cx, pkt);
        }
        Some(slot)
    }

    /// Writes a flow and its partner (core.md 9.4) and frees both slots. Both must already be
    /// detached from the index and the LRU list.
    fn write_pair(&mut self, slot: u32, mut key: OrderKey) {
        let f = self.table.get(slot);
        let partner = f.partner();
        let order: [Option<u32>; 2] = match partner {
            None => {
                if f.has(L3FLOWINVERT) {
                    self.counters.corr_repl += 1;
                }
                [Some(slot), None]
            }
            Some(p) if f.has(L3FLOWINVERT) => [Some(p), Some(slot)],
            Some(p) => [Some(slot), Some(p)],
        };
        for (i, s) in order.iter().enumerate() {
            let Some(s) = *s else { continue };
            key.seq = self.seq;
            self.seq += 1;
            let last = i == 1 || order[1].is_none();
            self.emit(s, i as u8, key, last);
        }
        for s in order.into_iter().flatten() {
            let (pending, fkey, last) = {
                let f = self.table.get(s);
                (f.has(IPV4_FRAG_PENDING), f.key, f.last_frag_id)
            };
            if pending {
                self.table.frag_remove(&frag_key(&fkey, last, fkey.proto));
                self.counters.global_warn |= IPV4_FRAG_PENDING;
            }
            self.table.free_detached(s);
            self.shared.concurrent.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Collects one record (dir + flowInd + plugin columns) into the output batch; the writer
    /// formats it.
    fn emit(&mut self, slot: u32, dir: u8, key: OrderKey, last_of_flow: bool) {
        let alarmed = self.table.get(slot).has(FL_ALARM);
        if alarmed {
            self.counters.alarm_flows += 1;
        }
        self.rec.clear();
        self.rec.u8(dir);
        // the writer renumbers flowInd in place: it must stay at byte 1 (see `writer`)
        self.rec.u64(self.table.get(slot).flow_ind);
        let cx = TermCx {
            table: &self.table,
            slot,
        };
        for p in self.plugins.iter_mut() {
            p.on_flow_terminate(&cx, &mut self.rec);
        }
        // ALARM_MODE: every flow reaches the plugins (their report aggregates), only alarmed
        // flows are written
        if self.alarm_mode && !alarmed {
            return;
        }
        let (mut split, mut alt_split) = (0, 0);
        if self.format_here {
            split = self.put_text(false);
        } else if self.records {
            self.out.records.extend_from_slice(&self.rec.buf);
        }
        let end = self.out.records.len() as u32;
        if self.rec.forked && self.format_here {
            alt_split = self.put_text(true);
        } else if self.rec.forked && self.records {
            self.out.records.extend_from_slice(&self.rec.alt);
        }
        self.out.recs.push(RecMeta {
            key,
            end,
            alt_end: self.out.records.len() as u32,
            text: self.format_here,
            split,
            alt_split,
            sets: self.rec.sets,
            needs: if self.rec.forked { self.rec.needs } else { 0 },
            prov_ind: self.table.get(slot).flow_ind,
            last_of_flow,
        });
    }

    /// Appends the current record (its alternative rendering if `alt`) as its flows.txt line
    /// and then its flows.json line; returns where the first ends.
    fn put_text(&mut self, alt: bool) -> u32 {
        let rec = if alt { &self.rec.alt } else { &self.rec.buf };
        if self.txt {
            self.txt_fmt.write(rec, &mut self.out.records);
        }
        let split = self.out.records.len() as u32;
        if self.json {
            self.json_fmt.write(rec, &mut self.out.records);
        }
        split
    }

    /// End of input: writes every flow from the oldest LRU end (core.md 9.4 step 3).
    pub fn flush_all(&mut self) {
        while !self.flush_some(usize::MAX, self.workers > 1) {}
    }

    /// [`Worker::flush_all`] in steps: writes flows until the output batch holds at least
    /// `max_records` records; returns whether the table is empty.
    fn flush_some(&mut self, max_records: usize, format_here: bool) -> bool {
        // every flow leaves now: the index need not follow
        self.table.drain();
        self.format_here = format_here && self.records;
        if max_records != usize::MAX && self.out.recs.is_empty() {
            // size a fresh batch like the last one instead of growing it by doubling
            self.out.records.reserve(self.flush_hint);
            self.out.recs.reserve(max_records + 2);
        }
        while let Some(s) = self.table.oldest() {
            self.prefetch_flush();
            if self.out.recs.len() >= max_records {
                self.flush_hint = self.out.records.len() + self.out.records.len() / 16;
                return false;
            }
            let stamp = self.table.get(s).lru_stamp;
            detach(&mut self.table, s);
            if let Some(p) = self.table.get(s).partner() {
                detach(&mut self.table, p);
            }
            self.write_pair(
                s,
                OrderKey {
                    event: u64::MAX,
                    minor: stamp,
                    worker: self.index as u32,
                    seq: 0,
                },
            );
        }
        true
    }

    /// Prefetch hints while the flows are written from the oldest end (their LRU order is
    /// random in memory). Two cursors run over the log ahead of the oldest entry, each visiting
    /// every position once: [`FLUSH_FAR`] positions ahead the flow's lines, [`FLUSH_NEAR`] ahead
    /// its plugin states and its partner's (the partner's slot comes from the flow's line the
    /// far cursor asked for). Stale entries (flows moved on or already written with their
    /// partner, about half the log at the end of a run) are skipped rather than fetched.
    #[inline]
    fn prefetch_flush(&mut self) {
        let t = &self.table;
        let tail = t.oldest_pos();
        let mut far = self.flush_far.max(tail);
        while far < tail + FLUSH_FAR {
            if let Some(s) = t.flow_at_pos(far) {
                t.prefetch_slot(s);
            }
            far += 1;
        }
        let mut near = self.flush_near.max(tail);
        while near < tail + FLUSH_NEAR {
            if let Some(s) = t.flow_at_pos(near) {
                let p = t.get(s).partner;
                for pl in &self.plugins {
                    pl.prefetch(s);
                }
                if p != NIL {
                    t.prefetch_slot(p);
                    for pl in &self.plugins {
                        pl.prefetch(p);
                    }
                }
            }
            near += 1;
        }
        (self.flush_far, self.flush_near) = (far, near);
    }

    /// The core's own columns.
    pub fn core_columns() -> Vec<Column> {
        vec![
            Column::new("dir", &[Ty::Dir], "Flow direction"),
            Column::new("flowInd", &[Ty::U64], "Flow index"),
        ]
    }
}

/// Records per output batch while the flows are flushed at the end of the input.
const FLUSH_CHUNK: usize = 1024;

/// Pairs ahead of the one being written at which a timeout pass asks for plugin states.
const EXPIRE_AHEAD: usize = 4;

/// Log positions ahead of the oldest entry at which the end-of-input flush asks for a flow's
/// lines, and for its plugin states and partner (see [`Worker::prefetch_flush`]).
const FLUSH_FAR: usize = 64;
const FLUSH_NEAR: usize = 32;

/// Replay hands its output to the writer after this many input batches, or sooner once it
/// holds `SEND_BYTES`: one hand-over per input batch (mostly a few records) cost a wake-up of
/// the writer every few batches, ~3% of a worker's time, and the writer only needs the
/// watermark often enough to merge the workers' output without holding much of it.
const SEND_EVERY: usize = 8;
const SEND_BYTES: usize = 128 << 10;

/// Takes a flow out of the index and the LRU list but keeps its slot readable until it is
/// written (its partner may still be looked at).
fn detach(t: &mut FlowTable, s: u32) {
    t.detach(s);
}

#[cfg(test)]
mod tests {
    use super::{Worker, WorkerSetup};
    use crate::plugin::Plugin;
    use crate::plugins::{basic_flow::BasicFlow, basic_stats::BasicStats, tcp_flags::TcpFlags};

    fn worker(plugins: Vec<Box<dyn Plugin>>, packet_mode: bool) -> Worker {
        Worker::new(WorkerSetup {
            plugins,
            packet_mode,
            flow_timeout: 182.0,
            timeouts: vec![182.0],
            ..Default::default()
        })
    }

    #[test]
    fn the_opposite_flow_is_prefetched_only_when_a_callback_reads_it() {
        let basic = || -> Vec<Box<dyn Plugin>> {
            vec![Box::new(BasicFlow::new()), Box::new(BasicStats::new())]
        };
        assert!(!worker(basic(), false).prefetch_opposite_flow);
        // basicFlow's packet-mode columns read the opposite's last packet time
        assert!(worker(basic(), true).prefetch_opposite_flow);
        let mut with_tcp = basic();
        with_tcp.push(Box::new(TcpFlags::new(&crate::config::Config::default())));
        assert!(worker(with_tcp, false).prefetch_opposite_flow);
    }

    #[test]
    fn a_lone_worker_formats_its_flush_only_while_the_writer_lags() {
        use super::self_formats_flush as f;
        assert!(f(2, 0, 16), "several workers: always");
        assert!(!f(1, 0, 16));
        assert!(
            !f(1, 2, 16),
            "the writer pops in bursts: two waiting is no lag"
        );
        assert!(!f(1, 7, 16));
        assert!(f(1, 8, 16), "half a ring behind");
        assert!(f(1, 2, 2), "a tiny ring: two batches");
    }
}
