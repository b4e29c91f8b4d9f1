//! Monitoring: reports while a run goes on (T2's USR1/USR2 reports, machine or human,
//! absolute or differential, pcap or real time base), signals ([`signals`]), per-worker
//! figures, a Prometheus text endpoint ([`metrics`]) and a progress line ([`progress`]).
//!
//! How a report stays exact although the workers run asynchronously (replay):
//! 1. The reader decides, after a packet P, that a report is due (pcap-time rule, USR1, timer).
//! 2. It takes its own counters (everything that follows from dissection alone) and sends them
//!    to the assembler thread, queues the request (id, P) for every worker and sends every
//!    worker its pending batch with the clock of P ([`Dispatcher::tick_all`]).
//! 3. Each worker, after the first batch whose clock reached P (so after all of its packets
//!    up to P and the timeout pass at P's time), answers with a copy of its counters, its flow
//!    count and its plugins' monitoring values ([`WorkerPort`]).
//! 4. The assembler thread adds the parts up when all are in and prints the report.
//!
//! The reader never waits: the packet path costs one relaxed atomic load and two compares
//! ([`Monitor::due`]).
//!
//! Live capture (no reader thread, every worker reads its own packets): the control thread
//! asks the workers directly ([`Monitor::request_direct`]) and each worker answers at its next
//! poll ([`crate::flow::worker::Worker::monitor_poll`]) with its own ingest counters.

pub mod format;
pub mod metrics;
pub mod progress;
pub mod proto;
pub mod signals;
pub mod split;

use crate::app::Log;
use crate::config::{Config, Setting};
use crate::dispatch::batch::PacketBatch;
use crate::dispatch::ring::Ring;
use crate::dispatch::Dispatcher;
use crate::flow::table::FlowTable;
use crate::flow::worker::Shared;
use crate::plugin::Plugin;
use crate::report::counters::Counters;
use crate::time::Ts;
use crossbeam_queue::ArrayQueue;
use format::{Formatter, InputInfo, Snapshot, WorkerView};
use signals::{Control, Output, EV_DRAIN, EV_LOG, EV_REPORT, EV_STOP, EV_TOGGLE};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// Run-time settings under T2's constant names (main.h / tranalyzer.h).
pub const SETTINGS: &[Setting] = &[
    ("MACHINE_REPORT", "0", "Monitoring reports: 1 machine rows (tab-separated, header once), 0 human (Anteater) reports"),
    ("DIFF_REPORT", "0", "Monitoring reports: 1 differential (since the previous report), 0 absolute (since the first packet)"),
    ("MONINTTMPCP", "0", "Monitoring time base: 1 pcap time (a report after the first packet of every MONINTV-second step), 0 real time"),
    ("MONINTTMPCP_ON", "0", "Real time base: 1 periodic reports from start-up, 0 only after SIGUSR2 (tamandua ctl periodic)"),
    ("MONINTPSYNC", "1", "1: reports are printed in step with processing, after the current packet; 0: at once (live capture)"),
    ("MONINTV", "1", "Monitoring interval in seconds (-M)"),
    ("MONPROTMD", "1", "Machine report protocol columns: 1 names (TCPPkts), 0 numbers (6Pkts)"),
    ("MONPROTL2", "0x0806,0x8035", "EtherTypes with packet and byte columns in machine rows (numbers or ETHERTYPE_ names)"),
    ("MONPROTL3", "TCP,UDP,ICMP,ICMPv6,SCTP", "IP protocols with packet and byte columns in machine rows (names or numbers)"),
    ("MONWORKERS", "0", "1: machine rows end with per-worker columns (packets, flows, flows in memory, ring occupancy, ring-full events)"),
];

/// The monitoring configuration of a run.
#[derive(Clone, Debug)]
pub struct MonConfig {
    pub machine: bool,
    pub diff: bool,
    pub pcap_time: bool,
    pub start_on: bool,
    pub psync: bool,
    pub interval: f64,
    pub proto_names: bool,
    pub l2: Vec<u16>,
    pub l3: Vec<u8>,
    pub worker_cols: bool,
    pub sensor: u64,
}

impl MonConfig {
    /// Reads the settings; `interval` (from `-M`) overrides MONINTV.
    pub fn from_config(cfg: &Config, interval: Option<f64>) -> Result<MonConfig, String> {
        let interval = interval.unwrap_or_else(|| cfg.f64("MONINTV"));
        if !(interval > 0.0 && interval.is_finite()) {
            return Err(format!(
                "monitoring interval {interval}: must be a positive number of seconds"
            ));
        }
        Ok(MonConfig {
            machine: cfg.bool("MACHINE_REPORT"),
            diff: cfg.bool("DIFF_REPORT"),
            pcap_time: cfg.bool("MONINTTMPCP"),
            start_on: cfg.bool("MONINTTMPCP_ON"),
            psync: cfg.bool("MONINTPSYNC"),
            interval,
            proto_names: cfg.bool("MONPROTMD"),
            l2: proto::list(cfg.text("MONPROTL2").unwrap_or(""), proto::parse_l2)?,
            l3: proto::list(cfg.text("MONPROTL3").unwrap_or(""), proto::parse_l3)?,
            worker_cols: cfg.bool("MONWORKERS"),
            sensor: cfg.u64("SENSORID"),
        })
    }
}

/// Options from the command line.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-m`: reports go to this file (PREFIX_monitoring.txt) instead of standard output.
    pub file: Option<String>,
    /// Remove the file at the end if no report was written (`-w -`, as T2).
    pub remove_if_empty: bool,
    /// `--metrics ADDR:PORT`.
    pub metrics: Option<String>,
    /// `--progress` / `--no-progress` (None: on when standard output is a terminal).
    pub progress: Option<bool>,
    /// `-l`: the log goes to a file (the progress line stays off by default).
    pub log_to_file: bool,
    /// Live capture: the rows carry pktsRec, pktsDrp, ifDrp.
    pub live: bool,
}

// ---------------------------------------------------------------------------------------------
// worker side
// ---------------------------------------------------------------------------------------------

/// Per-worker gauges, updated once per batch by their worker (one cache line each).
#[repr(align(128))]
#[derive(Default)]
pub struct Gauges {
    /// Packets attached to flows.
    pub packets: AtomicU64,
    /// Flows created.
    pub flows: AtomicU64,
    /// Flows in the worker's table.
    pub live: AtomicU64,
    /// Live capture: packets this worker's source received (after the filter) and the packets
    /// the kernel dropped for it (pktsRec, pktsDrp), published by the worker.
    pub received: AtomicU64,
    pub dropped: AtomicU64,
}

/// What the monitor shares with one worker.
pub struct WorkerSlot {
    /// Report requests (id, packet number): answer after the first batch whose clock reached
    /// the packet number.
    requests: ArrayQueue<(u64, u64)>,
    /// Direct request (live capture): the highest id asked for.
    direct: AtomicU64,
    pub gauges: Gauges,
}

/// The monitor's side of the workers: request queues, gauges, the answer channel.
pub struct Link {
    pub slots: Vec<WorkerSlot>,
    tx: Mutex<Sender<Msg>>,
    diff: bool,
    /// Live capture: answers carry the sources' counters.
    live: bool,
    /// Live capture: flows whose two directions were created on different workers.
    pub split: Option<split::SplitTable>,
}

impl Link {
    fn send(&self, m: Msg) {
        let _ = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(m);
    }

    /// Live capture: worker `index` publishes what its source received and what the kernel
    /// dropped for it (totals so far).
    pub fn publish_source(&self, index: usize, received: u64, dropped: u64) {
        if let Some(s) = self.slots.get(index) {
            s.gauges.received.store(received, Ordering::Relaxed);
            s.gauges.dropped.store(dropped, Ordering::Relaxed);
        }
    }

    /// Live capture: the newest direct report request for worker `index` (0: none yet); a
    /// worker publishes its source counters when it sees a new one, before answering.
    pub fn direct_request(&self, index: usize) -> u64 {
        self.slots
            .get(index)
            .map_or(0, |s| s.direct.load(Ordering::Acquire))
    }

    /// Packets received and dropped by the kernel over all live sources.
    pub fn source_totals(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(r, d), s| {
            (
                r + s.gauges.received.load(Ordering::Relaxed),
                d + s.gauges.dropped.load(Ordering::Relaxed),
            )
        })
    }

    /// Flows split across workers so far (live capture), `None` when not counted.
    pub fn split_flows(&self) -> Option<u64> {
        self.split.as_ref().map(|t| t.count())
    }
}

/// A worker's handle on the monitor (kept by [`crate::flow::worker::Worker`]).
pub struct WorkerPort {
    link: Arc<Link>,
    index: usize,
    pending: VecDeque<(u64, u64)>,
    direct_done: u64,
    /// Most flows in this worker's table, sampled at every batch end.
    peak: u64,
}

/// What a worker reports: its counters, flows in memory and plugin values.
pub struct WorkerPart {
    pub id: u64,
    pub index: usize,
    pub counters: Counters,
    pub fill: u64,
    /// Most flows in the worker's table so far (sampled per batch).
    pub peak: u64,
    pub vals: Vec<String>,
    /// Live capture: the worker's own dissection counters.
    pub ingest: Option<Counters>,
    pub last_ts: Ts,
    /// Live capture: the source's received and dropped packets when the worker answered.
    pub source: Option<(u64, u64)>,
}

impl WorkerPort {
    pub fn new(link: Arc<Link>, index: usize) -> WorkerPort {
        WorkerPort {
            link,
            index,
            pending: VecDeque::new(),
            direct_done: 0,
            peak: 0,
        }
    }

    /// Called once per batch after its packets and its timeout pass: publishes the gauges and
    /// answers the report requests whose packet the batch's clock (`tick`) has reached.
    #[inline]
    pub fn after_batch(
        &mut self,
        tick: Option<u64>,
        counters: &Counters,
        table: &FlowTable,
        plugins: &mut [Box<dyn Plugin>],
    ) {
        let fill = table.len();
        self.peak = self.peak.max(fill as u64);
        let slot = &self.link.slots[self.index];
        slot.gauges
            .packets
            .store(counters.num_a + counters.num_b, Ordering::Relaxed);
        slot.gauges
            .flows
            .store(counters.total_a + counters.total_b, Ordering::Relaxed);
        slot.gauges.live.store(fill as u64, Ordering::Relaxed);
        while let Some(r) = slot.requests.pop() {
            self.pending.push_back(r);
        }
        if let Some(no) = tick {
            while let Some(&(id, at)) = self.pending.front() {
                if no < at {
                    break;
                }
                self.pending.pop_front();
                self.answer(id, counters, table, plugins, None, Ts::ZERO);
            }
        }
    }

    /// This worker created a flow without a reverse flow in its own table: with live capture,
    /// looks for the reverse flow on the other workers ([`split::SplitTable`]). Flow creation
    /// only, never per packet.
    #[inline]
    pub fn unpaired_flow(&self, key: &crate::dissect::FlowKey) {
        if let Some(t) = &self.link.split {
            t.unpaired_flow(key, self.index);
        }
    }

    /// Live capture: answers a direct request, if one is pending, with the worker's own
    /// ingest counters.
    pub fn poll(
        &mut self,
        ingest: &Counters,
        counters: &Counters,
        table: &FlowTable,
        plugins: &mut [Box<dyn Plugin>],
        last_ts: Ts,
    ) {
        let want = self.link.slots[self.index].direct.load(Ordering::Acquire);
        if want > self.direct_done {
            self.direct_done = want;
            self.answer(want, counters, table, plugins, Some(ingest), last_ts);
        }
    }

    fn answer(
        &self,
        id: u64,
        counters: &Counters,
        table: &FlowTable,
        plugins: &mut [Box<dyn Plugin>],
        ingest: Option<&Counters>,
        last_ts: Ts,
    ) {
        let mut counters = counters.clone();
        counters.alarms += table.alarms;
        let mut vals = Vec::new();
        for p in plugins.iter() {
            p.monitoring_values(&mut vals);
        }
        if self.link.diff {
            for p in plugins.iter_mut() {
                p.monitoring_reset();
            }
        }
        let g = &self.link.slots[self.index].gauges;
        let source = self.link.live.then(|| {
            (
                g.received.load(Ordering::Relaxed),
                g.dropped.load(Ordering::Relaxed),
            )
        });
        self.link.send(Msg::Worker(Box::new(WorkerPart {
            id,
            index: self.index,
            counters,
            fill: table.len() as u64,
            peak: self.peak.max(table.len() as u64),
            vals,
            ingest: ingest.cloned(),
            last_ts,
            source,
        })));
    }
}

// ---------------------------------------------------------------------------------------------
// messages and the assembler
// ---------------------------------------------------------------------------------------------

/// The reader's part of a report.
pub struct ReaderPart {
    pub id: u64,
    pub ts: Ts,
    pub counters: Counters,
    /// Per lane: batches in the ring, capacity, ring-full events.
    pub rings: Vec<(u64, u64, u64)>,
}

pub enum Msg {
    Reader(Box<ReaderPart>),
    /// A direct request (live capture): only worker parts follow.
    Direct(u64),
    Worker(Box<WorkerPart>),
    Stop,
}

/// Reader-side figures published for the metrics endpoint and the progress line.
#[derive(Default)]
pub struct ReaderStats {
    pub packets: AtomicU64,
    pub raw_bytes: AtomicU64,
    pub processed_bytes: AtomicU64,
    /// T2's "bytes processed so far": 24 + captured bytes + 16 per record.
    pub file_pos: AtomicU64,
}

/// What the monitor's threads share.
pub struct Hub {
    pub ctl: Arc<Control>,
    pub link: Arc<Link>,
    pub shared: Arc<Shared>,
    pub reader: ReaderStats,
    pub rings: OnceLock<Vec<Arc<Ring<Box<PacketBatch>>>>>,
    pub started: Instant,
    pub reports: AtomicU64,
    pub workers: usize,
    pub file_size: Option<u64>,
    pub bar: OnceLock<indicatif::ProgressBar>,
    /// Live capture: packets received, dropped by the kernel, dropped by the interface (the
    /// pktsRec, pktsDrp, ifDrp columns). A report takes pktsRec and pktsDrp from the workers'
    /// answers (each as of its answer) and ifDrp from here; the metrics take all three.
    pub live_counts: OnceLock<LiveCounts>,
    next_direct: AtomicU64,
    done: AtomicBool,
}

impl Hub {
    fn write_report(&self, out: &Output, text: &str) {
        let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
        let mut write = || {
            let _ = w.write_all(text.as_bytes());
            let _ = w.flush();
        };
        match self.bar.get() {
            Some(b) => b.suspend(write),
            None => write(),
        }
        self.reports.fetch_add(1, Ordering::Relaxed);
    }

    /// Live capture: asks every worker for its figures now (they answer at their next poll).
    pub fn request_direct(&self) {
        let id = self.next_direct.fetch_add(1, Ordering::AcqRel) + 1;
        let id = id | (1 << 63);
        self.link.send(Msg::Direct(id));
        for s in &self.link.slots {
            s.direct.fetch_max(id, Ordering::AcqRel);
        }
    }
}

/// Reads the capture's receive and drop counters.
pub type LiveCounts = Box<dyn Fn() -> (u64, u64, u64) + Send + Sync>;

struct Pending {
    reader: Option<Box<ReaderPart>>,
    parts: Vec<Option<Box<WorkerPart>>>,
    got: usize,
}

fn now_wall() -> (u64, u32) {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_nanos())
}

fn assemble(hub: &Hub, p: Pending) -> Snapshot {
    let mut c = Counters::default();
    let mut ts = Ts::ZERO;
    let mut num_l2 = 0;
    let rings = p
        .reader
        .as_ref()
        .map(|r| r.rings.clone())
        .unwrap_or_default();
    if let Some(r) = &p.reader {
        c = r.counters.clone();
        ts = r.ts;
        num_l2 = r.counters.num_l2;
    }
    let mut fill = 0;
    let mut peak = 0;
    let mut vals: Vec<String> = Vec::new();
    let mut workers = Vec::new();
    let mut first_ts = c.first_ts;
    let mut source: Option<(u64, u64)> = None;
    for (i, w) in p.parts.into_iter().enumerate() {
        let Some(w) = w else { continue };
        if let Some(ing) = &w.ingest {
            num_l2 += ing.num_l2;
            c.merge(ing);
            first_ts = match (first_ts, ing.first_ts) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            ts = ts.max(w.last_ts);
        }
        c.merge(&w.counters);
        fill += w.fill;
        peak += w.peak;
        if vals.is_empty() {
            vals = w.vals.clone();
        } else {
            for (a, b) in vals.iter_mut().zip(w.vals.iter()) {
                *a = format::merge_value(a, b);
            }
        }
        let (ring, ring_cap, ring_full) = rings.get(i).copied().unwrap_or_default();
        if let Some((r, d)) = w.source {
            let (r0, d0) = source.unwrap_or_default();
            source = Some((r0 + r, d0 + d));
        }
        workers.push(WorkerView {
            packets: w.counters.num_a + w.counters.num_b,
            flows: w.counters.total_a + w.counters.total_b,
            live: w.fill,
            ring,
            ring_cap,
            ring_full,
            source: w.source,
        });
    }
    // the reader counts L2 packets at dissection (T2 counts them before the flow lookup)
    c.num_l2 = num_l2;
    c.first_ts = first_ts;
    Snapshot {
        ts,
        first_ts: first_ts.unwrap_or(ts),
        wall: now_wall(),
        elapsed: hub.started.elapsed(),
        c,
        fill,
        // per-worker peaks add up to at most the global one (and match it with one worker)
        peak: peak.min(hub.shared.peak.load(Ordering::Relaxed)).max(fill),
        mem_kb: crate::report::memory_kb().0,
        plugin_vals: vals,
        workers,
        live: hub.live_counts.get().map(|f| {
            let (rec, drp, ifd) = f();
            let (r, d) = source.unwrap_or((rec, drp));
            (r, d, ifd)
        }),
        split: hub.link.split_flows(),
    }
}

fn assembler(hub: Arc<Hub>, rx: Receiver<Msg>, mut fmt: Formatter, out: Output) {
    let n = hub.workers;
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let new = |reader| Pending {
        reader,
        parts: (0..n).map(|_| None).collect(),
        got: 0,
    };
    while let Ok(m) = rx.recv() {
        match m {
            Msg::Stop => break,
            Msg::Reader(r) => {
                pending.insert(r.id, new(Some(r)));
            }
            Msg::Direct(id) => {
                pending.insert(id, new(None));
            }
            Msg::Worker(w) => {
                if let Some(p) = pending.get_mut(&w.id) {
                    if w.index < n && p.parts[w.index].is_none() {
                        let i = w.index;
                        p.parts[i] = Some(w);
                        p.got += 1;
                    }
                }
            }
        }
        while let Some(e) = pending.first_entry() {
            if e.get().got < n {
                break;
            }
            let p = e.remove();
            let snap = assemble(&hub, p);
            let text = fmt.report(&snap);
            hub.write_report(&out, &text);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the reader's side
// ---------------------------------------------------------------------------------------------

/// What the packet loop does after [`Monitor::handle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Continue,
    /// Stop reading: second INT, TERM, or the flows drained after the first INT.
    Stop,
}

/// Everything [`Monitor::start`] needs.
pub struct Setup {
    pub cfg: MonConfig,
    pub opts: Options,
    pub shared: Arc<Shared>,
    pub workers: usize,
    pub ring_batches: usize,
    pub info: InputInfo,
}

/// The monitor, owned by the packet loop's thread.
pub struct Monitor {
    pub hub: Arc<Hub>,
    pub cfg: MonConfig,
    tx: Sender<Msg>,
    next_id: u64,
    // pcap-time trigger (T2: timeDiff = sec - firstSec; report when timeDiff - last >= MONINTV)
    first_sec: Option<i64>,
    last_diff: i64,
    step: i64,
    next_due: i64,
    draining: bool,
    threads: Vec<JoinHandle<()>>,
    assembler: Option<JoinHandle<()>>,
    out: Output,
    opts: Options,
}

const HEARTBEAT_MASK: u64 = 0xfff;

impl Monitor {
    /// Blocks the handled signals (call before starting any thread), writes the machine
    /// header, starts the control thread, the assembler and, if asked, the metrics endpoint
    /// and the progress line. The workers find the monitor through `Shared::monitor`.
    pub fn start(s: Setup) -> Result<Monitor, String> {
        signals::block()?;
        let out: Output = match &s.opts.file {
            Some(p) => Arc::new(Mutex::new(Box::new(std::io::BufWriter::new(
                std::fs::File::create(p).map_err(|e| format!("{p}: {e}"))?,
            )))),
            None => Arc::new(Mutex::new(Box::new(std::io::stdout()))),
        };
        let (tx, rx) = channel();
        let depth = s.ring_batches + 16;
        let link = Arc::new(Link {
            slots: (0..s.workers)
                .map(|_| WorkerSlot {
                    requests: ArrayQueue::new(depth),
                    direct: AtomicU64::new(0),
                    gauges: Gauges::default(),
                })
                .collect(),
            tx: Mutex::new(tx.clone()),
            diff: s.cfg.diff,
            live: s.opts.live,
            split: s
                .opts
                .live
                .then(|| split::SplitTable::new(split::DEFAULT_ENTRIES)),
        });
        let _ = s.shared.monitor.set(link.clone());
        let realtime = !s.cfg.pcap_time;
        let ctl = Arc::new(Control::new(
            s.shared.clone(),
            out.clone(),
            realtime,
            Duration::from_secs_f64(s.cfg.interval),
        ));
        // pcap time base: periodic from the first packet; real time: with MONINTTMPCP_ON
        let periodic = s.cfg.pcap_time || s.cfg.start_on;
        ctl.periodic.store(periodic, Ordering::Release);
        ctl.in_step_no_create.store(!s.opts.live, Ordering::Release);
        let hub = Arc::new(Hub {
            ctl: ctl.clone(),
            link,
            shared: s.shared.clone(),
            reader: ReaderStats::default(),
            rings: OnceLock::new(),
            started: Instant::now(),
            reports: AtomicU64::new(0),
            workers: s.workers,
            file_size: s.info.file_size,
            bar: OnceLock::new(),
            live_counts: OnceLock::new(),
            next_direct: AtomicU64::new(0),
            done: AtomicBool::new(false),
        });
        let fmt = Formatter::new(s.cfg.clone(), s.info);
        if s.cfg.machine {
            let h = fmt.machine_header(s.opts.live, s.workers);
            let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
            w.write_all(h.as_bytes()).map_err(|e| e.to_string())?;
            w.flush().map_err(|e| e.to_string())?;
        }
        let mut threads = vec![signals::spawn(ctl.clone())?];
        let (h2, o2) = (hub.clone(), out.clone());
        let assembler = std::thread::Builder::new()
            .name("monitor".into())
            .spawn(move || assembler(h2, rx, fmt, o2))
            .map_err(|e| format!("cannot start the monitor thread: {e}"))?;
        if let Some(addr) = &s.opts.metrics {
            threads.push(metrics::spawn(hub.clone(), addr)?);
        }
        if progress::wanted(&s.opts, hub.file_size) {
            if let Some(t) = progress::spawn(hub.clone()) {
                threads.push(t);
            }
        }
        let step = (s.cfg.interval.ceil() as i64).max(1);
        let mut m = Monitor {
            hub,
            cfg: s.cfg,
            tx,
            next_id: 0,
            first_sec: None,
            last_diff: 0,
            step,
            next_due: i64::MAX,
            draining: false,
            threads,
            assembler: Some(assembler),
            out,
            opts: s.opts,
        };
        m.rearm();
        Ok(m)
    }

    /// Lets the metrics endpoint see the reader→worker rings.
    pub fn attach_rings(&self, rings: Vec<Arc<Ring<Box<PacketBatch>>>>) {
        let _ = self.hub.rings.set(rings);
    }

    /// Live capture without a reader thread: report requests go straight to the workers.
    pub fn use_direct_reports(&self) {
        let hub = Arc::downgrade(&self.hub);
        *self
            .hub
            .ctl
            .direct
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(move || {
            if let Some(h) = hub.upgrade() {
                h.request_direct();
            }
        }));
    }

    /// The next pcap-time trigger after a toggle or a report.
    fn rearm(&mut self) {
        let on = self.cfg.pcap_time && self.hub.ctl.periodic.load(Ordering::Acquire);
        self.next_due = match (on, self.first_sec) {
            (false, _) => i64::MAX,
            (true, None) => i64::MIN,
            (true, Some(f)) => f + self.last_diff + self.step,
        };
    }

    /// Per packet, after the packet was handed to its worker: does [`Monitor::handle`] have
    /// anything to do? One relaxed load and two compares.
    #[inline(always)]
    pub fn due(&self, pkt_no: u64, ts: Ts) -> bool {
        pkt_no & HEARTBEAT_MASK == 0
            || self.hub.ctl.events.load(Ordering::Relaxed) != 0
            || ts.sec as i64 >= self.next_due
            || self.draining
    }

    /// Prints a due report (in step: it covers every packet up to `pkt_no`), logs the control
    /// thread's messages, and says whether to stop reading.
    pub fn handle(&mut self, pkt_no: u64, ts: Ts, disp: &mut Dispatcher, log: &mut Log) -> Step {
        self.publish(&disp.ingest.counters);
        let ev = self.hub.ctl.events.swap(0, Ordering::AcqRel);
        if ev & EV_LOG != 0 {
            for l in self.hub.ctl.take_log() {
                log.line(&l);
            }
            log.flush();
        }
        if ev & EV_DRAIN != 0 {
            self.stop_creation(pkt_no, disp);
        }
        if ev & EV_TOGGLE != 0 {
            self.rearm();
        }
        let mut report = ev & EV_REPORT != 0;
        let sec = ts.sec as i64;
        if sec >= self.next_due {
            match self.first_sec {
                None => {
                    self.first_sec = Some(sec);
                    self.last_diff = 0;
                }
                Some(f) => {
                    report = true;
                    self.last_diff = sec - f;
                }
            }
            self.rearm();
        }
        if report {
            self.issue(pkt_no, ts, disp);
        }
        if ev & EV_STOP != 0 || self.hub.ctl.stop.load(Ordering::Acquire) {
            return Step::Stop;
        }
        if self.draining && self.hub.shared.concurrent.load(Ordering::Acquire) == 0 {
            log.line("[INF] All flows drained after flow creation was stopped: terminating");
            return Step::Stop;
        }
        Step::Continue
    }

    /// First INT in replay: the packets read so far still create flows, later ones do not.
    /// The workers finish what they were sent (a short wait, once) before the flag is set.
    fn stop_creation(&mut self, pkt_no: u64, disp: &mut Dispatcher) {
        self.draining = true;
        disp.tick_all(false);
        let sh = &self.hub.shared;
        let t = Instant::now();
        while sh.processed.load(Ordering::Acquire) < pkt_no && t.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_micros(50));
        }
        sh.no_create.store(true, Ordering::Release);
    }

    fn publish(&self, c: &Counters) {
        let r = &self.hub.reader;
        r.packets.store(c.packets, Ordering::Relaxed);
        r.raw_bytes.store(c.raw_bytes, Ordering::Relaxed);
        r.processed_bytes
            .store(c.processed_bytes, Ordering::Relaxed);
    }

    /// The input's position in bytes as stored (on disk: compressed files and `-R`/`-D` series
    /// count their compressed bytes), for the progress bar and the metrics.
    pub fn set_input_position(&self, bytes: u64) {
        self.hub.reader.file_pos.store(bytes, Ordering::Relaxed);
    }

    /// Issues a report at packet `pkt_no` (see the module description).
    fn issue(&mut self, pkt_no: u64, ts: Ts, disp: &mut Dispatcher) {
        self.next_id += 1;
        let id = self.next_id;
        let mut counters = disp.ingest.counters.clone();
        counters.num_vx += disp.ingest.dissector.bad_version_frames;
        let rings = disp
            .lanes
            .iter()
            .map(|l| {
                (
                    l.to_worker.len() as u64,
                    l.to_worker.capacity() as u64,
                    l.to_worker.full_events.load(Ordering::Relaxed),
                )
            })
            .collect();
        let _ = self.tx.send(Msg::Reader(Box::new(ReaderPart {
            id,
            ts,
            counters,
            rings,
        })));
        for s in &self.hub.link.slots {
            let mut r = (id, pkt_no);
            while let Err(back) = s.requests.push(r) {
                r = back;
                std::thread::yield_now();
            }
        }
        disp.tick_all(false);
    }

    /// Reading is over: publishes the last reader figures.
    pub fn reader_done(&self, disp: &Dispatcher) {
        self.publish(&disp.ingest.counters);
    }

    /// Ends monitoring after the workers have finished: prints the reports still being
    /// assembled, logs the control thread's last messages and stops the threads.
    pub fn finish(mut self, log: &mut Log) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(a) = self.assembler.take() {
            let _ = a.join();
        }
        self.hub.done.store(true, Ordering::Release);
        self.hub.ctl.quit.store(true, Ordering::Release);
        if let Some(control) = self.threads.first() {
            signals::wake(control);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for l in self.hub.ctl.take_log() {
            log.line(&l);
        }
        {
            let mut w = self.out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = w.flush();
        }
        if let (Some(p), true) = (&self.opts.file, self.opts.remove_if_empty) {
            if self.hub.reports.load(Ordering::Relaxed) == 0 && !self.cfg.machine {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}
