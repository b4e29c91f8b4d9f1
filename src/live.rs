//! Live capture (`-i IFACE`): every worker owns one capture source (an AF_XDP socket on one RX
//! queue, or one AF_PACKET ring in a fanout group, or the single libpcap handle), its own
//! [`Ingest`] (dissection and per-packet counters) and its own [`Worker`] (flow-table shard and
//! plugins). There is no dispatcher in the packet path: the NIC (RSS) or the kernel (fanout)
//! picks the worker of a packet.
//!
//! Ordering: the writer merges records by `OrderKey.event`. Replay uses the packet number;
//! here every received batch reserves a range of numbers from one shared counter
//! (`fetch_add(n)`), so numbers are unique, increase per worker and compare across workers.
//! Every [`TICK`] a worker, busy or idle, reserves one more number for a timeout pass at the
//! current time and publishes it as its watermark (it can never produce a smaller number
//! afterwards), so idle workers expire flows and never hold the writer back.
//!
//! Every packet the kernel gave up on is counted where it happened (AF_PACKET `tp_drops`,
//! AF_XDP `rx_dropped`/`rx_ring_full`, libpcap `ps_drop`, the interface's `rx_dropped`) and
//! shown per worker and in total in the end report.
//!
//! Monitoring and signals are replay's (`crate::monitor`): there is no reader thread, so a
//! report request (USR1, the real-time timer, `tamandua ctl report`) goes straight to the
//! workers, and each answers after its current batch with its own dissection counters and its
//! source's counters (pktsRec, pktsDrp); ifDrp comes from the interface. Flows whose two
//! directions reach different workers are counted at flow creation (`monitor::split`).

use crate::app::{self, Log, Selection};
use crate::capture::afpacket::{self, AfPacket, Fanout};
use crate::cli::{parse_cpu_list, Cli};
use crate::config::Config;
use crate::dispatch::batch::{OutBatch, PktEntry};
use crate::dispatch::ring::Ring;
use crate::dispatch::Ingest;
use crate::dissect::dlt;
use crate::flow::worker::{Shared, Worker};
use crate::monitor::signals::EV_LOG;
use crate::monitor::Hub;
use crate::output::{prefix, writer};
use crate::report::{self, ReportInput, WorkerLine};
use crate::time::Ts;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a worker runs a timeout pass and hands its output to the writer.
pub const TICK: Duration = Duration::from_millis(50);

/// Receives the packets of one batch from a capture source.
pub trait RxHandler {
    /// A batch of at most `n` packets follows.
    fn begin(&mut self, n: usize);
    /// One packet: arrival time, captured bytes (after the snap length), length on the wire.
    fn packet(&mut self, ts: Ts, data: &[u8], wire_len: u32);
}

/// A live capture source owned by one worker.
pub trait Rx: Send {
    /// Waits up to `timeout_ms` for packets and hands one batch to `h`; returns the number of
    /// packets (0 on timeout).
    fn next_batch(&mut self, timeout_ms: i32, h: &mut dyn RxHandler) -> io::Result<usize>;
    /// The counters so far (kernel counters that reset on read are accumulated).
    fn stats(&mut self) -> RxStats;
    fn linktype(&self) -> u32;
}

/// What one source received and lost.
#[derive(Clone, Debug, Default)]
pub struct RxStats {
    /// Packets handed to tamandua.
    pub received: u64,
    /// Packets the kernel dropped for this socket: AF_PACKET tp_drops, libpcap ps_drop,
    /// AF_XDP rx_dropped.
    pub kernel_drops: u64,
    /// AF_PACKET: how often the ring froze (tp_freeze_q_cnt).
    pub freeze_q: u64,
    /// AF_XDP: packets dropped because the RX ring was full (rx_ring_full).
    pub ring_full: u64,
    /// AF_XDP: times the fill ring was empty (rx_fill_ring_empty_descs; the packets are also
    /// counted in rx_dropped).
    pub fill_empty: u64,
    /// AF_XDP: invalid descriptors (rx_invalid_descs).
    pub invalid: u64,
    /// Packets dropped by the user-space BPF filter (AF_XDP).
    pub filtered: u64,
}

impl RxStats {
    /// Packets lost by the kernel for this source (each counted once).
    pub fn dropped(&self) -> u64 {
        self.kernel_drops + self.ring_full
    }

    fn add(&mut self, o: &RxStats) {
        self.received += o.received;
        self.kernel_drops += o.kernel_drops;
        self.freeze_q += o.freeze_q;
        self.ring_full += o.ring_full;
        self.fill_empty += o.fill_empty;
        self.invalid += o.invalid;
        self.filtered += o.filtered;
    }
}

/// The capture backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    AfXdp,
    AfPacket,
    Pcap,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::AfXdp => "af_xdp",
            Backend::AfPacket => "af_packet",
            Backend::Pcap => "pcap",
        }
    }

    fn parse(s: &str) -> Result<Backend, String> {
        match s {
            "af_xdp" | "afxdp" | "xdp" => Ok(Backend::AfXdp),
            "af_packet" | "afpacket" => Ok(Backend::AfPacket),
            "pcap" | "libpcap" => Ok(Backend::Pcap),
            _ => Err(format!("--capture {s}: expected af_xdp, af_packet or pcap")),
        }
    }
}

/// The current time (CLOCK_REALTIME) as a packet timestamp.
pub fn now_ts() -> Ts {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ts::new(d.as_secs(), d.subsec_nanos())
}

/// The interface's own drop counter (what libpcap reports as ps_ifdrop).
fn if_rx_dropped(iface: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/rx_dropped"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Number of RX queues of the interface (from sysfs).
pub fn rx_queue_count(iface: &str) -> u32 {
    std::fs::read_dir(format!("/sys/class/net/{iface}/queues"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
                .count() as u32
        })
        .unwrap_or(1)
        .max(1)
}

/// The capture filter: `-F FILE` or the trailing words; `None` when empty.
fn filter_text(cli: &Cli) -> Result<Option<String>, String> {
    let text = match &cli.filter_file {
        Some(f) => std::fs::read_to_string(f).map_err(|e| format!("-F {f}: {e}"))?,
        None => cli.filter_words.join(" "),
    };
    // comments as in tcpdump -F files are not part of the syntax: drop '#' to end of line
    let text: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect();
    let text = text.join(" ").trim().to_string();
    Ok(if text.is_empty() { None } else { Some(text) })
}

/// Compiles a filter with libpcap for Ethernet and returns it as classic BPF instructions.
pub fn compile_filter(expr: &str, snaplen: u32) -> Result<Vec<libc::sock_filter>, String> {
    let dead = pcap::Capture::dead_with_precision(pcap::Linktype::ETHERNET, pcap::Precision::Nano)
        .map_err(|e| format!("filter: {e}"))?;
    let _ = snaplen;
    let prog = dead
        .compile(expr, true)
        .map_err(|e| format!("filter '{expr}': {e}"))?;
    // BpfInstruction shows as "code jt jf k"
    prog.get_instructions()
        .iter()
        .map(|i| {
            let t = i.to_string();
            let v: Vec<u64> = t.split(' ').filter_map(|x| x.parse().ok()).collect();
            if v.len() != 4 {
                return Err(format!("filter: unexpected instruction '{t}'"));
            }
            Ok(libc::sock_filter {
                code: v[0] as u16,
                jt: v[1] as u8,
                jf: v[2] as u8,
                k: v[3] as u32,
            })
        })
        .collect()
}

/// Switches to user `name` (its primary group, no supplementary groups).
fn drop_privileges(name: &str) -> Result<(), String> {
    use nix::unistd::{setgid, setgroups, setuid, User};
    let u = User::from_name(name)
        .map_err(|e| format!("--user {name}: {e}"))?
        .ok_or_else(|| format!("--user {name}: no such user"))?;
    setgroups(&[u.gid]).map_err(|e| format!("--user {name}: setgroups: {e}"))?;
    setgid(u.gid).map_err(|e| format!("--user {name}: setgid: {e}"))?;
    setuid(u.uid).map_err(|e| format!("--user {name}: setuid: {e}"))?;
    Ok(())
}

/// Reads the interface's RSS configuration (ethtool ETHTOOL_GRSSH ioctl) and says whether
/// both directions of a connection hash to the same RX queue: the symmetric-XOR input
/// transform, or a Toeplitz key of the repeated 0x6D5A pattern.
pub fn rss_check(iface: &str) -> Result<bool, String> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GRSSH: u32 = 0x46;
    const HDR: usize = 24; // struct ethtool_rxfh without rss_config[]
                           // SAFETY: plain socket(2), only used for the ioctl and closed by OwnedFd.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error().to_string());
    }
    // SAFETY: fresh descriptor owned by nobody else.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let call = |buf: &mut Vec<u8>| -> io::Result<()> {
        // SAFETY: ifreq is plain data; all-zero is valid.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(iface.bytes().take(15)) {
            *d = s as libc::c_char;
        }
        ifr.ifr_ifru.ifru_data = buf.as_mut_ptr() as *mut libc::c_char;
        // SAFETY: ifr points to `buf`, which is large enough for the sizes it announces.
        let r = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&sock),
                SIOCETHTOOL as _,
                &mut ifr as *mut libc::ifreq,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    let mut buf = vec![0u8; HDR];
    buf[..4].copy_from_slice(&ETHTOOL_GRSSH.to_ne_bytes());
    call(&mut buf).map_err(|e| format!("RSS configuration not readable: {e}"))?;
    let indir = u32::from_ne_bytes(buf[8..12].try_into().unwrap_or_default()) as usize;
    let key = u32::from_ne_bytes(buf[12..16].try_into().unwrap_or_default()) as usize;
    let mut full = vec![0u8; HDR + 4 * indir + key];
    full[..16].copy_from_slice(&buf[..16]);
    call(&mut full).map_err(|e| format!("RSS configuration not readable: {e}"))?;
    let xfrm = full[17];
    let k = &full[HDR + 4 * indir..];
    let pattern = !k.is_empty()
        && k.chunks(2)
            .all(|c| c[0] == 0x6d && c.get(1).map_or(true, |&b| b == 0x5a));
    Ok(xfrm & 0x3 != 0 || pattern)
}

/// Opened capture sources, one per worker, and what keeps them working (the XDP program).
struct Opened {
    backend: Backend,
    why: String,
    sources: Vec<Box<dyn Rx>>,
    /// Filter applied in user space (AF_XDP): compiled again in each worker thread.
    user_filter: Option<String>,
    /// The attached XDP program: detached when dropped (every exit path).
    xdp: Option<crate::capture::afxdp::XdpAttachment>,
    notes: Vec<String>,
    /// Memory of the capture buffers over all sources (counted in the memory budget).
    capture_bytes: u64,
}

fn open_afpacket(
    cli: &Cli,
    iface: &str,
    n: usize,
    filter: &Option<String>,
) -> Result<Opened, String> {
    let fanout = Fanout::parse(&cli.fanout)?;
    let compiled = match filter {
        Some(f) => Some(compile_filter(f, cli.snaplen)?),
        None => None,
    };
    let buffer = cli.buffer_kib.unwrap_or(32 * 1024) as u64 * 1024;
    let block = cli.block_size.max(4096).next_power_of_two();
    let blocks = (buffer / block as u64).clamp(2, 1 << 16) as u32;
    let cfg = afpacket::Config {
        iface: iface.to_string(),
        block_size: block,
        block_count: blocks,
        block_timeout_ms: cli.block_timeout,
        snaplen: cli.snaplen,
        promisc: true,
        fanout,
        group: (std::process::id() & 0xffff) as u16,
        filter: compiled,
    };
    let mut sources: Vec<Box<dyn Rx>> = Vec::new();
    for _ in 0..n {
        sources.push(Box::new(AfPacket::open(&cfg).map_err(|e| e.to_string())?));
    }
    Ok(Opened {
        backend: Backend::AfPacket,
        why: String::new(),
        sources,
        user_filter: None,
        xdp: None,
        capture_bytes: n as u64 * blocks as u64 * block as u64,
        notes: vec![format!(
            "AF_PACKET: TPACKET_V3, {} socket(s) in fanout group {} ({}), {} blocks of {} KiB each",
            n,
            cfg.group,
            cli.fanout,
            blocks,
            block / 1024
        )],
    })
}

fn open_pcap(cli: &Cli, iface: &str, filter: &Option<String>) -> Result<Opened, String> {
    let buffer = cli.buffer_kib.unwrap_or(32 * 1024) as u64 * 1024;
    let src =
        crate::capture::libpcap::LibPcap::open(iface, cli.snaplen, buffer, filter.as_deref())?;
    Ok(Opened {
        backend: Backend::Pcap,
        why: String::new(),
        sources: vec![Box::new(src)],
        user_filter: None,
        xdp: None,
        capture_bytes: buffer,
        notes: vec!["libpcap: one handle, one worker (not in immediate mode)".to_string()],
    })
}

fn open_afxdp(cli: &Cli, iface: &str, filter: &Option<String>) -> Result<Opened, String> {
    use crate::capture::afxdp;
    if let Some(f) = filter {
        // fail early on a bad filter (each worker compiles its own copy)
        compile_filter(f, cli.snaplen)?;
    }
    let queues = cli.queues.unwrap_or_else(|| rx_queue_count(iface));
    let mode = afxdp::Mode::parse(&cli.xdp_mode)?;
    let cfg = afxdp::Config {
        iface: iface.to_string(),
        queues,
        mode,
        frames: cli.umem_frames,
        frame_size: cli.frame_size,
        ring_size: cli.ring_size,
        snaplen: cli.snaplen,
    };
    let (attach, socks, note) = afxdp::open(&cfg)?;
    let sources: Vec<Box<dyn Rx>> = socks
        .into_iter()
        .map(|s| Box::new(s) as Box<dyn Rx>)
        .collect();
    Ok(Opened {
        backend: Backend::AfXdp,
        why: String::new(),
        capture_bytes: sources.len() as u64 * cfg.frames as u64 * cfg.frame_size as u64,
        sources,
        user_filter: filter.clone(),
        xdp: Some(attach),
        notes: vec![note],
    })
}

/// Opens the sources of the chosen backend, or of the first that works (af_xdp, af_packet,
/// pcap) when none was chosen.
fn open_sources(cli: &Cli, iface: &str, workers: usize) -> Result<Opened, String> {
    let filter = filter_text(cli)?;
    if let Some(b) = &cli.capture {
        let b = Backend::parse(b)?;
        let mut o = match b {
            Backend::AfPacket => open_afpacket(cli, iface, workers, &filter),
            Backend::Pcap => open_pcap(cli, iface, &filter),
            Backend::AfXdp => open_afxdp(cli, iface, &filter),
        }
        .map_err(|e| format!("--capture {}: {e}", b.name()))?;
        o.why = "chosen with --capture".into();
        return Ok(o);
    }
    let mut reasons = Vec::new();
    match open_afxdp(cli, iface, &filter) {
        Ok(mut o) => {
            o.why = "default: AF_XDP works on this interface".into();
            return Ok(o);
        }
        Err(e) => reasons.push(format!("af_xdp: {e}")),
    }
    match open_afpacket(cli, iface, workers, &filter) {
        Ok(mut o) => {
            o.why = format!("default fallback ({})", reasons.join("; "));
            return Ok(o);
        }
        Err(e) => reasons.push(format!("af_packet: {e}")),
    }
    match open_pcap(cli, iface, &filter) {
        Ok(mut o) => {
            o.why = format!("default fallback ({})", reasons.join("; "));
            Ok(o)
        }
        Err(e) => {
            reasons.push(format!("pcap: {e}"));
            Err(format!(
                "no capture backend works on {iface}: {}",
                reasons.join("; ")
            ))
        }
    }
}

/// The per-packet path of a live worker: event numbers, user-space filter, dissection and the
/// flow stage.
struct Feed<'a> {
    ingest: &'a mut Ingest,
    worker: &'a mut Worker,
    events: &'a AtomicU64,
    next: u64,
    end: u64,
    linktype: u32,
    filter: Option<&'a pcap::BpfProgram>,
    filtered: u64,
    got: u64,
}

impl RxHandler for Feed<'_> {
    fn begin(&mut self, n: usize) {
        let base = self.events.fetch_add(n as u64, Ordering::AcqRel);
        self.next = base + 1;
        self.end = base + n as u64 + 1;
    }

    fn packet(&mut self, ts: Ts, data: &[u8], wire_len: u32) {
        if let Some(f) = self.filter {
            if !f.filter(data) {
                self.filtered += 1;
                return;
            }
        }
        if self.next >= self.end {
            // a source delivered more than it announced: take a fresh number
            self.begin(1);
        }
        let ev = self.next;
        self.next += 1;
        self.got += 1;
        let (info, desc) = self.ingest.ingest(ts, data, wire_len, self.linktype);
        let e = PktEntry {
            pkt_no: ev,
            ts,
            len: wire_len,
            caplen: data.len() as u32,
            info,
            ..Default::default()
        };
        self.worker.packet(&e, data, desc);
    }
}

/// What a worker thread gives back.
struct WorkerResult {
    worker: Worker,
    ingest: Ingest,
    stats: RxStats,
    error: Option<String>,
}

/// What every live worker thread shares with the run.
struct WorkerCtx {
    /// Signals and reports (`Control::stop`: second INT, TERM, `--duration`, a failing worker).
    hub: Arc<Hub>,
    /// The event-number counter (see the module description).
    events: Arc<AtomicU64>,
    shared: Arc<Shared>,
    out: Arc<Ring<Box<OutBatch>>>,
    ofree: Arc<Ring<Box<OutBatch>>>,
}

/// What a worker last added to the monitor's run-wide figures (they are sums over workers).
#[derive(Default)]
struct Published {
    packets: u64,
    raw_bytes: u64,
    processed_bytes: u64,
}

/// Publishes a worker's source counters (pktsRec, pktsDrp) and its share of the packet and
/// byte totals for the monitoring reports and the metrics endpoint.
fn publish(
    hub: &Hub,
    index: usize,
    rx: &mut dyn Rx,
    filtered: u64,
    ingest: &Ingest,
    done: &mut Published,
) {
    let s = rx.stats();
    let received = s.received.saturating_sub(s.filtered + filtered);
    hub.link.publish_source(index, received, s.dropped());
    let c = &ingest.counters;
    let r = &hub.reader;
    r.packets
        .fetch_add(c.packets - done.packets, Ordering::Relaxed);
    r.raw_bytes
        .fetch_add(c.raw_bytes - done.raw_bytes, Ordering::Relaxed);
    r.processed_bytes
        .fetch_add(c.processed_bytes - done.processed_bytes, Ordering::Relaxed);
    *done = Published {
        packets: c.packets,
        raw_bytes: c.raw_bytes,
        processed_bytes: c.processed_bytes,
    };
}

fn worker_loop(
    mut rx: Box<dyn Rx>,
    mut worker: Worker,
    user_filter: Option<String>,
    cx: WorkerCtx,
) -> WorkerResult {
    cx.out.register_producer();
    cx.ofree.register_consumer();
    let index = worker.index;
    let stop = &cx.hub.ctl.stop;
    let mut ingest = Ingest::default();
    let mut error = None;
    let prog = match &user_filter {
        Some(f) => {
            match pcap::Capture::dead(pcap::Linktype::ETHERNET).and_then(|d| d.compile(f, true)) {
                Ok(p) => Some(p),
                Err(e) => {
                    error = Some(format!("filter: {e}"));
                    stop.store(true, Ordering::SeqCst);
                    None
                }
            }
        }
        None => None,
    };
    let linktype = rx.linktype();
    let mut filtered = 0u64;
    let mut published = Published::default();
    let mut answered = 0u64;
    let mut last_tick = Instant::now();
    let mut drain_until: Option<Instant> = None;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        if stopping && drain_until.is_none() {
            // give blocks the kernel has not retired yet time to come (AF_PACKET block
            // timeout), but never more than a second of ongoing traffic
            drain_until = Some(Instant::now() + Duration::from_secs(1));
        }
        let mut feed = Feed {
            ingest: &mut ingest,
            worker: &mut worker,
            events: &cx.events,
            next: 0,
            end: 0,
            linktype,
            filter: prog.as_ref(),
            filtered: 0,
            got: 0,
        };
        let r = rx.next_batch(
            if stopping {
                30
            } else {
                TICK.as_millis() as i32
            },
            &mut feed,
        );
        let (n, got) = (feed.filtered + feed.got, feed.got);
        filtered += feed.filtered;
        cx.shared.processed.fetch_add(got, Ordering::Relaxed);
        let n = match r {
            Ok(k) => k.max(n as usize),
            Err(e) => {
                error = Some(e.to_string());
                stop.store(true, Ordering::SeqCst);
                break;
            }
        };
        if stopping && (n == 0 || drain_until.is_some_and(|t| Instant::now() > t)) {
            break;
        }
        let tick = n == 0 || last_tick.elapsed() >= TICK;
        if tick {
            // the timeout pass takes a number of its own: above every packet this worker has
            // seen (also when nothing arrived since the last pass, so idle flows still time
            // out), and no packet can get a smaller one any more (the writer's watermark)
            let ev = cx.events.fetch_add(1, Ordering::AcqRel) + 1;
            worker.tick(now_ts(), ev);
            worker.send(&cx.out, &cx.ofree);
            last_tick = Instant::now();
        }
        // a report request (USR1, timer, ctl) is answered after the current batch, with the
        // source's counters read just before
        let asked = cx.hub.link.direct_request(index);
        if tick || asked > answered {
            answered = asked;
            publish(&cx.hub, index, &mut *rx, filtered, &ingest, &mut published);
            worker.monitor_poll(&ingest.counters, ingest.counters.last_ts);
        }
    }
    ingest.finish_counters();
    publish(&cx.hub, index, &mut *rx, filtered, &ingest, &mut published);
    // a request that came while stopping still gets its answer
    worker.monitor_poll(&ingest.counters, ingest.counters.last_ts);
    let mut stats = rx.stats();
    stats.filtered += filtered;
    drop(rx);
    worker.finish();
    worker.send(&cx.out, &cx.ofree);
    WorkerResult {
        worker,
        ingest,
        stats,
        error,
    }
}

/// Runs a live capture until SIGINT/SIGTERM (or `--duration`); returns the exit status.
///
/// Signals as in replay (`crate::monitor::signals`): the first SIGINT stops flow creation and
/// the run ends when the flows in memory have timed out; a second SIGINT or a SIGTERM stops
/// the capture now and writes every flow.
pub fn run(cli: Cli, sel: Selection, cfg: Config) -> Result<i32, String> {
    // before any thread starts: only the monitor's control thread takes the signals
    crate::monitor::signals::block()?;
    let iface = cli.interface.clone().unwrap_or_default();
    let started = Instant::now();
    let outputs = crate::batch::Outputs::from_cli(&cli)?;
    let (prefix, flows_stdout) =
        prefix::output_prefix(&iface, outputs.prefix_arg(&cli)).map_err(|e| format!("-w: {e}"))?;
    let log_to_file = cli.log_file || flows_stdout;
    let mut log = Log {
        out: if log_to_file {
            Box::new(app::create(&format!("{prefix}_log.txt"))?)
        } else {
            Box::new(std::io::stdout())
        },
    };

    // ---- workers and their CPUs
    let mut cpus = app::worker_cpus(&cli)?;
    if cli.cpus.is_some() {
        parse_cpu_list(cli.cpus.as_deref().unwrap_or(""))?;
    }
    let if_drop_start = if_rx_dropped(&iface);
    let opened = open_sources(&cli, &iface, cpus.len())?;
    let nworkers = opened.sources.len();
    if nworkers != cpus.len() {
        // AF_XDP: one worker per RX queue; libpcap: one worker. CPUs are reused in order.
        let base = cpus.clone();
        cpus = (0..nworkers).map(|i| base[i % base.len()]).collect();
    }

    // ---- start-up lines
    let eq = "=".repeat(80);
    log.line(&eq);
    log.line(&format!(
        "tamandua {} (Tranalyzer2 0.9.3 compatible). PID: {}, Prio: 0, SID: {}",
        app::VERSION,
        std::process::id(),
        cfg.u64("SENSORID")
    ));
    log.line(&eq);
    let (s, us) = app::now_unix();
    log.line(&report::date("Date: ", s, us as i64).replace(" GMT)", " UTC)"));
    log.line("[INF] Creating flows for L2, IPv4, IPv6");
    log.line("Active plugins:");
    for l in app::plugin_version_lines(&sel) {
        log.line(&l);
    }
    log.line(&format!("Live capture from interface: {iface}"));
    log.line(&format!(
        "Capture backend: {} ({})",
        opened.backend.name(),
        opened.why
    ));
    for n in &opened.notes {
        log.line(&format!("[INF] {n}"));
    }
    if opened.backend == Backend::AfXdp || cli.fanout == "qm" {
        // here the NIC's RSS picks the worker: both directions must hash alike
        match rss_check(&iface) {
            Ok(true) => log.line("[INF] RSS is symmetric (both directions reach one worker)"),
            Ok(false) => log.line("[WRN] RSS is not symmetric: the two directions of a connection may reach different workers (see tuning/README.md)"),
            Err(e) => log.line(&format!("[INF] {e}: cannot tell whether RSS is symmetric")),
        }
    }
    if let Some(f) = filter_text(&cli)? {
        log.line(&format!(
            "Capture filter: {f}{}",
            if opened.backend == Backend::AfXdp {
                " (applied in user space before the flow lookup)"
            } else {
                " (attached in the kernel)"
            }
        ));
    }
    let linktype = 1u32;
    let (ln, ld) = dlt::name(linktype);
    let input_lines = vec![
        format!("Live capture from interface: {iface}"),
        format!("Link layer type: {ld} [{ln}/{linktype}]"),
        format!(
            "Snapshot length: {}{}",
            cli.snaplen,
            report::h(cli.snaplen as u64, "")
        ),
    ];
    for l in &input_lines[1..] {
        log.line(l);
    }
    log.line(&format!(
        "Workers: {nworkers}{}",
        app::keep_off_worker_cpus(&cpus)
    ));

    // ---- plugins, columns, output files, flow-table cap (as replay)
    let app::RunOutputs {
        timeouts,
        mon_cols,
        sinks,
        // a live worker reads its own packets: the plugin sums the payload it has in cache
        l4_word_sums: _,
    } = app::open_outputs(&cli, &sel, &cfg, &outputs, &prefix, flows_stdout)?;
    let (cap_total, capacity, capacity_ref) = app::table_cap(&cli, &cfg, nworkers);
    let (capacity, budget) = crate::batch::live_flow_cap(
        &cli,
        &cfg,
        &sel.analysis,
        nworkers,
        opened.capture_bytes,
        capacity,
    )?;
    if let Some(b) = &budget {
        log.line(&b.line());
    }
    log.flush();

    if let Some(u) = &cli.user {
        drop_privileges(u)?;
        log.line(&format!("[INF] Running as user {u}"));
    }

    // ---- monitoring: reports, signals, metrics (real-time base: no reader thread, the
    // control thread asks the workers directly)
    let shared = Arc::new(Shared::default());
    let ring_batches = cfg.u64("RING_BATCHES").max(2) as usize;
    let mut mcfg = crate::monitor::MonConfig::from_config(&cfg, cli.monitoring_interval)?;
    if mcfg.pcap_time {
        // packets arrive in real time: the pcap-time rule becomes periodic real-time reports
        log.line("[INF] Live capture: MONINTTMPCP=1 gives periodic reports in real time");
        mcfg.pcap_time = false;
        mcfg.start_on = true;
    }
    let mon = crate::monitor::Monitor::start(crate::monitor::Setup {
        cfg: mcfg,
        opts: crate::monitor::Options {
            file: (cli.monitoring_file || flows_stdout).then(|| format!("{prefix}_monitoring.txt")),
            remove_if_empty: flows_stdout && !cli.monitoring_file,
            metrics: cli.metrics.clone(),
            progress: Some(false),
            log_to_file,
            live: true,
        },
        shared: shared.clone(),
        workers: nworkers,
        ring_batches,
        info: crate::monitor::format::InputInfo {
            lines: input_lines,
            file_size: None,
            pcapng: false,
            capacity_ref,
            plugin_cols: mon_cols,
        },
    })?;
    mon.use_direct_reports();
    let xdp_native = opened
        .xdp
        .as_ref()
        .is_some_and(|a| a.mode == crate::capture::afxdp::Mode::Native);
    {
        let link = mon.hub.link.clone();
        let iface = iface.clone();
        let counts: crate::monitor::LiveCounts = Box::new(move || {
            let (rec, drp) = link.source_totals();
            let delta = if_rx_dropped(&iface).saturating_sub(if_drop_start);
            (rec, drp, interface_drops(delta, drp, xdp_native))
        });
        let _ = mon.hub.live_counts.set(counts);
    }

    // ---- threads
    let Opened {
        backend,
        sources,
        user_filter,
        xdp,
        ..
    } = opened;
    let events = Arc::new(AtomicU64::new(0));
    let mut out_rings = Vec::new();
    let mut out_free = Vec::new();
    let mut handles = Vec::new();
    for (i, rx) in sources.into_iter().enumerate() {
        let out: Arc<Ring<Box<OutBatch>>> = Arc::new(Ring::new(ring_batches));
        let ofree: Arc<Ring<Box<OutBatch>>> = Arc::new(Ring::new(ring_batches + 2));
        out_rings.push(out.clone());
        out_free.push(ofree.clone());
        let setup = app::worker_setup(
            &cli,
            &sel,
            &cfg,
            (i, nworkers),
            (&sinks.columns, &timeouts),
            capacity,
            &shared,
        );
        let cx = WorkerCtx {
            hub: mon.hub.clone(),
            events: events.clone(),
            shared: shared.clone(),
            out,
            ofree,
        };
        let cpu = cpus[i];
        let uf = user_filter.clone();
        let h = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || {
                if let Some(c) = cpu {
                    core_affinity::set_for_current(c);
                }
                worker_loop(rx, Worker::new(setup), uf, cx)
            })
            .map_err(|e| format!("cannot start worker thread: {e}"))?;
        handles.push(h);
    }
    let writer_handle = std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || writer::run(out_rings, out_free, sinks, None))
        .map_err(|e| format!("cannot start writer thread: {e}"))?;

    // ---- wait for the end: second SIGINT or SIGTERM, drained flows after the first SIGINT,
    // --duration, or a failing worker
    let ctl = mon.hub.ctl.clone();
    let deadline = cli
        .duration
        .map(|d| started + Duration::from_secs_f64(d.max(0.0)));
    loop {
        if ctl.events.swap(0, Ordering::AcqRel) & EV_LOG != 0 {
            for l in ctl.take_log() {
                log.line(&l);
            }
            log.flush();
        }
        if ctl.stop.load(Ordering::Acquire) {
            break;
        }
        if shared.no_create.load(Ordering::Acquire)
            && shared.concurrent.load(Ordering::Acquire) == 0
        {
            log.line("[INF] All flows drained after flow creation was stopped: terminating");
            ctl.stop.store(true, Ordering::Release);
            break;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            ctl.stop.store(true, Ordering::Release);
            break;
        }
        if handles.iter().any(|h| h.is_finished()) {
            ctl.stop.store(true, Ordering::Release);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed_read = started.elapsed();
    let mut results = Vec::new();
    let mut panicked = false;
    for h in handles {
        match h.join() {
            Ok(r) => results.push(r),
            Err(_) => panicked = true,
        }
    }
    // the program goes before anything else can fail
    drop(xdp);
    let if_delta = if_rx_dropped(&iface).saturating_sub(if_drop_start);
    let wstats = writer_handle
        .join()
        .map_err(|_| "the writer thread panicked".to_string())?;
    let split = mon.hub.link.split_flows().unwrap_or(0);
    mon.finish(&mut log);
    if panicked {
        return Err("a worker thread panicked".into());
    }
    if let Err(e) = wstats {
        return Err(format!("writing output: {e}"));
    }
    let mut errors: Vec<String> = results.iter().filter_map(|r| r.error.clone()).collect();
    errors.dedup();

    // ---- end report
    let mut total = crate::report::counters::Counters::default();
    let mut per_worker = Vec::new();
    let mut rx_total = RxStats::default();
    let mut live_lines = Vec::new();
    let mut first: Option<Ts> = None;
    let mut last = Ts::ZERO;
    let mut hdr_sum = 0f64;
    for r in results.iter_mut() {
        if let Some(f) = r.ingest.counters.first_ts {
            first = Some(first.map_or(f, |x| x.min(f)));
            last = last.max(r.ingest.counters.last_ts);
        }
        hdr_sum += r.ingest.counters.hdr_avg as f64 * r.ingest.counters.packets as f64;
        total.merge(&r.ingest.counters);
        total.merge(&r.worker.counters);
        total.alarms += r.worker.table.alarms;
        rx_total.add(&r.stats);
    }
    total.first_ts = first;
    total.last_ts = last;
    if total.packets > 0 {
        total.hdr_avg = (hdr_sum / total.packets as f64) as f32;
    }
    // as libpcap's ps_recv: the packets that passed the filter (AF_XDP filters in user space)
    let recv = rx_total.received - rx_total.filtered;
    let drp = rx_total.dropped();
    let if_drops = interface_drops(if_delta, drp, xdp_native);
    report::num(&mut live_lines, "Number of packets received", recv);
    live_lines.push(format!(
        "Number of packets dropped by the kernel: {drp}{}{}",
        report::h(drp, ""),
        if recv + drp > 0 {
            format!(" [{:.2}%]", 100.0 * drp as f64 / (recv + drp) as f64)
        } else {
            String::new()
        }
    ));
    live_lines.push(format!(
        "Number of packets dropped by the interface: {if_drops}{}",
        report::h(if_drops, "")
    ));
    let src_line = |s: &RxStats| -> String {
        match backend {
            Backend::AfPacket => format!(
                "tp_drops {}, tp_freeze_q_cnt {}",
                s.kernel_drops, s.freeze_q
            ),
            Backend::AfXdp => format!(
                "rx_dropped {}, rx_ring_full {}, rx_fill_ring_empty_descs {}, rx_invalid_descs {}, filtered {}",
                s.kernel_drops, s.ring_full, s.fill_empty, s.invalid, s.filtered
            ),
            Backend::Pcap => format!("ps_drop {}", s.kernel_drops),
        }
    };
    live_lines.push(format!(
        "tamandua: live {} on {iface}: pktsRec {recv}, pktsDrp {drp}, ifDrp {if_drops}; {}; interface rx_dropped +{if_delta}",
        backend.name(),
        src_line(&rx_total)
    ));
    for (i, r) in results.iter().enumerate() {
        live_lines.push(format!(
            "tamandua: worker {i}: pktsRec {}, pktsDrp {}; {}; {} flows evicted",
            r.stats.received - r.stats.filtered,
            r.stats.dropped(),
            src_line(&r.stats),
            r.worker.evicted
        ));
        per_worker.push(WorkerLine {
            packets: r.worker.counters.num_a + r.worker.counters.num_b,
            flows: r.worker.counters.total_flows(),
            ring_full: r.stats.ring_full + r.stats.freeze_q,
            evicted: r.worker.evicted,
        });
    }
    live_lines.push(format!(
        "tamandua: {split} flows split across workers (reverse direction created on another worker; a lower bound)"
    ));
    if split > 0 {
        live_lines.push(format!(
            "[WRN] {split} flows split across workers: the NIC's RSS or the fanout mode does not send both directions to one worker (see tuning/README.md)"
        ));
    }
    if drp + if_drops > 0 {
        live_lines.push(format!(
            "[WRN] {} packets lost in capture ({drp} by the kernel, {if_drops} by the interface)",
            drp + if_drops
        ));
    }
    let stop_ts = if total.packets > 0 { last } else { Ts::ZERO };
    let start_ts = total.first_ts.unwrap_or(Ts::ZERO);
    if let Some(f) = total.first_ts {
        log.line(&report::date("Dump start: ", f.sec, f.nsec as i32 as i64));
    }
    let el = started.elapsed();
    for l in report::closing_lines(start_ts, stop_ts, elapsed_read, el) {
        log.line(&l);
    }
    for l in report::eviction_lines(total.rm_flows, cap_total, budget.is_some()) {
        log.line(&l);
    }
    let plugin_lines = report::plugin_lines(results.into_iter().map(|r| r.worker.plugins), &total);
    let (rss, phys) = report::memory_kb();
    let input_report = ReportInput {
        counters: &total,
        plugin_lines,
        file_size: None,
        pcapng: false,
        peak_flows: shared.peak.load(Ordering::Relaxed),
        capacity_ref,
        max_rss_kb: rss,
        phys_mem_kb: phys,
        wall_seconds: el.as_secs_f64(),
        workers: nworkers,
        per_worker,
    };
    // the capture lines go first in the report body (T2 prints them before the counters)
    let mut body = live_lines;
    body.extend(report::body(&input_report));
    for l in body {
        log.line(&l);
    }
    // CPU time of the whole process (benchmarks: per packet)
    let ru = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok();
    if let Some(ru) = ru {
        let cpu = ru.user_time().tv_sec() as f64
            + ru.user_time().tv_usec() as f64 / 1e6
            + ru.system_time().tv_sec() as f64
            + ru.system_time().tv_usec() as f64 / 1e6;
        log.line(&format!(
            "tamandua: CPU time {cpu:.3} s ({:.0} ns per received packet)",
            if recv > 0 {
                cpu * 1e9 / recv as f64
            } else {
                0.0
            }
        ));
    }
    for e in &errors {
        log.line(&format!("[ERR] capture: {e}"));
    }
    log.flush();
    if !errors.is_empty() {
        eprintln!("tamandua: capture error: {}", errors.join("; "));
        return Ok(1);
    }
    Ok(0)
}

/// The interface's own drops (ifDrp) from the growth of its rx_dropped counter. Native XDP
/// (veth at least) also counts there the packets its redirect could not place in an XDP
/// socket: those are the sockets' drops (`socket_drops`), counted once, as pktsDrp.
fn interface_drops(rx_dropped_delta: u64, socket_drops: u64, xdp_native: bool) -> u64 {
    if xdp_native {
        rx_dropped_delta.saturating_sub(socket_drops)
    } else {
        rx_dropped_delta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile_to_classic_bpf() {
        let p = compile_filter("tcp port 80", 65535).unwrap();
        assert!(p.len() > 4);
        assert_eq!(p.last().unwrap().code, 0x06); // ret
        assert!(compile_filter("no such thing (", 65535).is_err());
    }

    #[test]
    fn backend_names() {
        assert_eq!(Backend::parse("af_packet").unwrap(), Backend::AfPacket);
        assert_eq!(Backend::parse("af_xdp").unwrap().name(), "af_xdp");
        assert!(Backend::parse("dpdk").is_err());
    }

    #[test]
    fn native_xdp_socket_drops_are_not_counted_twice() {
        // native XDP on veth counts the packets it could not place in a socket in rx_dropped
        assert_eq!(interface_drops(10, 4, true), 6);
        assert_eq!(interface_drops(3, 4, true), 0);
        // elsewhere rx_dropped is the interface's own
        assert_eq!(interface_drops(10, 4, false), 10);
    }

    #[test]
    fn stats_add_up() {
        let mut a = RxStats {
            received: 1,
            kernel_drops: 2,
            ring_full: 3,
            ..Default::default()
        };
        a.add(&a.clone());
        assert_eq!(a.dropped(), 10);
    }
}
