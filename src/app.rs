//! One run of tamandua: options → input → reader/dispatcher, pinned workers, writer → report.

use crate::cli::{parse_cpu_list, Cli};
use crate::config::Config;
use crate::dispatch::batch::{OutBatch, PacketBatch};
use crate::dispatch::ring::Ring;
use crate::dispatch::{Dispatcher, Lane};
use crate::dissect::{dlt, Warning};
use crate::flow::worker::{Shared, Worker, WorkerSetup};
use crate::output::columns::Column;
use crate::output::{prefix, txt, writer};
use crate::plugin::Plugin;
use crate::report::{self, ReportInput, WorkerLine};
use crate::time::Ts;
use clap::Parser;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// T2 capacity the "Max number of flows in memory" percentage refers to (2^18 flows).
pub const T2_TABLE: u64 = 262_144;

/// Entry point of the binary: returns the exit status.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("ctl") {
        return crate::control::main(&args[2..]);
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tamandua: {e}");
            1
        }
    }
}

/// Where report lines go: standard output or PREFIX_log.txt.
pub struct Log {
    pub out: Box<dyn Write + Send>,
}

impl Log {
    pub fn line(&mut self, s: &str) {
        let _ = writeln!(self.out, "{s}");
    }
    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// The selected plugins: analysis plugin names and sinks, in the given order.
pub struct Selection {
    pub all: Vec<String>,
    pub analysis: Vec<String>,
    pub txt: bool,
    pub json: bool,
}

pub fn select_plugins(list: &str) -> Result<Selection, String> {
    let reg = crate::plugins::registry();
    let mut sel = Selection {
        all: Vec::new(),
        analysis: Vec::new(),
        txt: false,
        json: false,
    };
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let canon = reg
            .iter()
            .map(|p| p.name)
            .chain(crate::plugins::SINKS.iter().copied())
            .find(|n| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let known: Vec<&str> = reg
                    .iter()
                    .map(|p| p.name)
                    .chain(crate::plugins::SINKS.iter().copied())
                    .collect();
                format!("unknown plugin '{name}' (available: {})", known.join(", "))
            })?;
        if sel.all.iter().any(|n| n == canon) {
            return Err(format!("plugin '{canon}' given twice"));
        }
        sel.all.push(canon.to_string());
        match canon {
            "txtSink" => sel.txt = true,
            "jsonSink" => sel.json = true,
            _ => sel.analysis.push(canon.to_string()),
        }
    }
    Ok(sel)
}

pub fn make_plugins(sel: &Selection, cfg: &Config) -> Vec<Box<dyn Plugin>> {
    let reg = crate::plugins::registry();
    sel.analysis
        .iter()
        .filter_map(|n| reg.iter().find(|p| p.name == n).map(|p| (p.make)(cfg)))
        .collect()
}

fn build_config(cli: &Cli, sel: &Selection) -> Result<Config, String> {
    let mut cfg = Config::new();
    cfg.register(crate::budget::SETTINGS);
    cfg.register(crate::progress::SETTINGS);
    for p in crate::plugins::registry() {
        if sel.analysis.iter().any(|n| n == p.name) {
            cfg.register(p.settings);
        }
    }
    cfg.register(crate::monitor::SETTINGS);
    if let Some(path) = &cli.config {
        cfg.load_toml(path)?;
    }
    for s in &cli.set {
        cfg.set_assignment(s)?;
    }
    cfg.validate()?;
    cfg.check_numeric(&[
        "FLOW_TIMEOUT",
        "MAX_FLOWS",
        "HASHFACTOR",
        "BATCH_PACKETS",
        "RING_BATCHES",
        "TICK_PACKETS",
        "MONINTV",
    ])?;
    Ok(cfg)
}

/// CPUs for the workers: the `-c` list (checked against the CPUs this process may use) or
/// every available CPU.
pub fn worker_cpus(cli: &Cli) -> Result<Vec<Option<core_affinity::CoreId>>, String> {
    let avail = core_affinity::get_core_ids().unwrap_or_default();
    match &cli.cpus {
        Some(list) => {
            let want = parse_cpu_list(list)?;
            want.iter()
                .map(|&c| {
                    avail.iter().find(|a| a.id == c).copied().map(Some).ok_or_else(|| {
                        let ids: Vec<String> = avail.iter().map(|a| a.id.to_string()).collect();
                        format!("-c {list}: CPU {c} is not available to this process (available: {})", ids.join(","))
                    })
                })
                .collect()
        }
        None => {
            let n = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            if avail.len() >= n {
                Ok(avail.into_iter().take(n).map(Some).collect())
            } else {
                Ok(vec![None; n])
            }
        }
    }
}

/// The CPUs left for the threads that are not workers (reader, writer, monitor, control):
/// every CPU this process may use that no pinned worker runs on, or `None` when there is none
/// (or a worker is unpinned), in which case they float as before.
fn housekeeping_cpus(cpus: &[Option<core_affinity::CoreId>]) -> Option<Vec<usize>> {
    let pinned: Option<Vec<usize>> = cpus.iter().map(|c| c.map(|c| c.id)).collect();
    let pinned = pinned?;
    let rest: Vec<usize> = core_affinity::get_core_ids()?
        .into_iter()
        .map(|c| c.id)
        .filter(|id| !pinned.contains(id))
        .collect();
    (!rest.is_empty()).then_some(rest)
}

/// Keeps the calling thread, and the threads it starts from now on (they inherit its mask),
/// off the workers' CPUs, so the reader and the writer do not preempt a pinned worker (with
/// `-c 0` on two CPUs a worker was preempted ~1800 times in one run of real.pcap). Workers
/// pin themselves to their own CPU when they start. Returns the note for the `Workers:` line
/// (empty when the threads are left to float).
pub fn keep_off_worker_cpus(cpus: &[Option<core_affinity::CoreId>]) -> String {
    use nix::sched::{sched_setaffinity, CpuSet};
    let Some(rest) = housekeeping_cpus(cpus) else {
        return String::new();
    };
    let mut set = CpuSet::new();
    if rest.iter().any(|&c| set.set(c).is_err())
        || sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).is_err()
    {
        return String::new();
    }
    let ids: Vec<String> = rest.iter().map(|c| c.to_string()).collect();
    format!(" (other threads on CPUs {})", ids.join(","))
}

/// The workers' CPUs and every CPU this process may use, when each of those runs a pinned
/// worker and there are several: the reader and the writer then share CPUs with workers
/// (see [`crate::dispatch::placement`]).
pub fn crowded_cpus(cpus: &[Option<core_affinity::CoreId>]) -> Option<(Vec<usize>, Vec<usize>)> {
    let workers: Vec<usize> = cpus
        .iter()
        .map(|c| c.map(|c| c.id))
        .collect::<Option<_>>()?;
    if workers.len() < 2 || housekeeping_cpus(cpus).is_some() {
        return None;
    }
    let allowed = core_affinity::get_core_ids()?
        .into_iter()
        .map(|c| c.id)
        .collect();
    Some((workers, allowed))
}

/// FORMAT_IN_WORKERS: `auto` (the workers format when every CPU runs one), or a boolean.
fn format_in_workers(cfg: &Config, crowded: bool) -> Result<bool, String> {
    match cfg.text("FORMAT_IN_WORKERS").unwrap_or("auto") {
        v if v.eq_ignore_ascii_case("auto") => Ok(crowded),
        "1" => Ok(true),
        "0" => Ok(false),
        v => Err(format!(
            "setting FORMAT_IN_WORKERS={v}: expected auto, 0 or 1"
        )),
    }
}

pub fn plugin_version_lines(sel: &Selection) -> Vec<String> {
    sel.all
        .iter()
        .enumerate()
        .map(|(i, n)| format!("    {:02}: {n}, {VERSION}", i + 1))
        .collect()
}

pub fn now_unix() -> (u64, u32) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_micros())
}

pub fn headers_preamble(sel: &Selection, cfg: &Config) -> Vec<String> {
    let (s, us) = now_unix();
    let args: Vec<String> = std::env::args().collect();
    let uts = nix::sys::utsname::uname().ok();
    let hw = uts
        .map(|u| {
            format!(
                "{};{};{};{};{}",
                u.nodename().to_string_lossy(),
                u.sysname().to_string_lossy(),
                u.release().to_string_lossy(),
                u.version().to_string_lossy(),
                u.machine().to_string_lossy()
            )
        })
        .unwrap_or_default();
    let mut v = vec![
        report::date("# Date: ", s, us as i64).replace(" GMT)", " UTC)"),
        format!("# tamandua {VERSION} (Tranalyzer2 0.9.3 compatible)"),
        "# Core configuration: L2, IPv4, IPv6".to_string(),
        format!("# SensorID: {}", cfg.u64("SENSORID")),
        format!("# PID: {}", std::process::id()),
        "# Priority: 0".to_string(),
        format!("# Command line: {}", args.join(" ")),
        format!("# HW info: {hw}"),
        "# SW info: tamandua pcap/pcapng reader".to_string(),
        "#".to_string(),
        "# Plugins loaded:".to_string(),
    ];
    for (i, n) in sel.all.iter().enumerate() {
        v.push(format!("#   {:02}: {n}, version {VERSION}", i + 1));
    }
    v.push("#".to_string());
    v
}

pub fn create(path: &str) -> Result<BufWriter<File>, String> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|e| format!("{path}: {e}"))
}

/// What a run derives from its plugin selection before any thread starts (replay and live
/// capture alike).
pub struct RunOutputs {
    /// The registered timeout values: FLOW_TIMEOUT first, then the plugins'.
    pub timeouts: Vec<f32>,
    /// (plugin, its monitoring columns) for the plugins that have any.
    pub mon_cols: Vec<(&'static str, Vec<String>)>,
    /// The opened output files (headers written): flows.txt, flows.json, packets.txt, and
    /// every flows.txt column (the core's, then each plugin's) for the writer to format with.
    pub sinks: writer::Sinks,
    /// A plugin reads [`crate::dissect::PacketInfo::l4_word_sum`].
    pub l4_word_sums: bool,
}

/// Collects the columns and timeouts of the selected plugins and opens the output files:
/// `PREFIX_flows.txt` (or standard output) with its header line and `PREFIX_headers.txt`
/// (txtSink), `PREFIX_flows.json` (jsonSink), `PREFIX_packets.txt` (`-s`); `-W` and
/// `--compress` apply through `outputs`.
pub fn open_outputs(
    cli: &Cli,
    sel: &Selection,
    cfg: &Config,
    outputs: &crate::batch::Outputs,
    prefix: &str,
    flows_stdout: bool,
) -> Result<RunOutputs, String> {
    let proto_plugins = make_plugins(sel, cfg);
    let mut columns: Vec<Column> = Worker::core_columns();
    let mut pkt_header = String::from("%pktNo\tflowInd\t");
    let mut timeouts = vec![cfg.f64("FLOW_TIMEOUT") as f32];
    for p in &proto_plugins {
        columns.extend(p.columns());
        for c in p.packet_columns() {
            pkt_header.push_str(c);
            pkt_header.push('\t');
        }
        timeouts.extend(p.timeouts());
    }
    pkt_header.push_str("l7Content\n");
    let mon_cols: Vec<(&'static str, Vec<String>)> = proto_plugins
        .iter()
        .map(|p| (p.name(), p.monitoring_columns()))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let l4_word_sums = proto_plugins.iter().any(|p| p.wants_l4_word_sum());
    drop(proto_plugins);
    let columns = Arc::new(columns);

    let mut sinks = writer::Sinks {
        columns: columns.clone(),
        flows_txt: None,
        flows_json: None,
        packets: None,
    };
    if sel.txt {
        let hdr = txt::header_line(&columns);
        let w: Box<dyn Write + Send> = if flows_stdout {
            let mut w = BufWriter::new(std::io::stdout());
            w.write_all(&hdr).map_err(|e| e.to_string())?;
            Box::new(w)
        } else {
            outputs.flows_file(&format!("{prefix}_flows.txt"), &hdr)?
        };
        sinks.flows_txt = Some(w);
        let hdr = txt::headers_file(&headers_preamble(sel, cfg), &columns);
        std::fs::write(format!("{prefix}_headers.txt"), hdr)
            .map_err(|e| format!("{prefix}_headers.txt: {e}"))?;
    }
    if sel.json {
        sinks.flows_json = Some(outputs.flows_file(&format!("{prefix}_flows.json"), b"")?);
    }
    if cli.packet_mode {
        let mut w = outputs.file(&format!("{prefix}_packets.txt"))?;
        w.write_all(pkt_header.as_bytes())
            .map_err(|e| e.to_string())?;
        sinks.packets = Some(w);
    }
    Ok(RunOutputs {
        l4_word_sums,
        timeouts,
        mon_cols,
        sinks,
    })
}

/// T2's flow-table cap from MAX_FLOWS (`-f`/HASHFACTOR: that many times 2^18): the cap of
/// the run (0: none), the per-worker cap (0: none) and the capacity the report's percentages
/// refer to.
pub fn table_cap(cli: &Cli, cfg: &Config, workers: usize) -> (u64, usize, u64) {
    let cap_total = match (
        cfg.u64("MAX_FLOWS"),
        cli.hash_factor.unwrap_or(cfg.u64("HASHFACTOR")),
    ) {
        (m, _) if m > 0 => m,
        (_, f) if f > 0 => T2_TABLE * f,
        _ => 0,
    };
    let per_worker = if cap_total == 0 {
        0
    } else {
        cap_total.div_ceil(workers.max(1) as u64) as usize
    };
    let reference = if cap_total == 0 { T2_TABLE } else { cap_total };
    (cap_total, per_worker, reference)
}

/// The configuration of worker `index` of `workers` (`columns`, `timeouts`: from
/// [`open_outputs`]; `capacity`: its flow cap, 0 for none).
pub fn worker_setup(
    cli: &Cli,
    sel: &Selection,
    cfg: &Config,
    (index, workers): (usize, usize),
    (columns, timeouts): (&Arc<Vec<Column>>, &[f32]),
    capacity: usize,
    shared: &Arc<Shared>,
) -> WorkerSetup {
    WorkerSetup {
        index,
        workers,
        plugins: make_plugins(sel, cfg),
        txt: sel.txt,
        json: sel.json,
        columns: columns.clone(),
        packet_mode: cli.packet_mode,
        flow_timeout: cfg.f64("FLOW_TIMEOUT") as f32,
        timeouts: timeouts.to_vec(),
        capacity,
        alarm_mode: cfg.bool("ALARM_MODE"),
        shared: shared.clone(),
    }
}

/// Runs tamandua with parsed options; returns the exit status.
pub fn run(cli: Cli) -> Result<i32, String> {
    let sel = select_plugins(&cli.plugins)?;
    let cfg = build_config(&cli, &sel)?;
    if cli.list_plugins {
        for p in crate::plugins::registry() {
            println!("{}", p.name);
        }
        for s in crate::plugins::SINKS {
            println!("{s}");
        }
        return Ok(0);
    }
    if cli.list_settings {
        for (n, v, m) in cfg.describe() {
            println!("{n}={v}\t{m}");
        }
        return Ok(0);
    }
    if cli.interface.is_some() {
        return crate::live::run(cli, sel, cfg);
    }
    // before any thread starts: signals are handled by the monitor's control thread only
    crate::monitor::signals::block()?;
    crate::capture::decompress::MAP_INPUT.store(cfg.bool("INPUT_MMAP"), Ordering::Relaxed);
    let outputs = crate::batch::Outputs::from_cli(&cli)?;
    let Some(crate::batch::Input {
        source: mut reader,
        series,
        name: input,
    }) = crate::batch::open_input(&cli)?
    else {
        return Err(
            "no input: give -r FILE (or -r - for standard input), -R LIST or -D EXPR; see --help"
                .into(),
        );
    };
    let linktype = reader.linktype();
    if !dlt::supported(linktype) {
        let (name, desc) = dlt::name(linktype);
        eprintln!("[ERR] Unsupported link-layer type: {desc} [{name}/{linktype}] in {input}");
        return Ok(1);
    }
    let (prefix, flows_stdout) =
        prefix::output_prefix(&input, outputs.prefix_arg(&cli)).map_err(|e| format!("-w: {e}"))?;
    let log_to_file = cli.log_file || flows_stdout;
    let mut log = Log {
        out: if log_to_file {
            Box::new(create(&format!("{prefix}_log.txt"))?)
        } else {
            Box::new(std::io::stdout())
        },
    };
    let cpus = worker_cpus(&cli)?;
    let nworkers = cpus.len();
    let started = Instant::now();

    // ---- start-up lines
    let eq = "=".repeat(80);
    log.line(&eq);
    log.line(&format!(
        "tamandua {VERSION} (Tranalyzer2 0.9.3 compatible). PID: {}, Prio: 0, SID: {}",
        std::process::id(),
        cfg.u64("SENSORID")
    ));
    log.line(&eq);
    let (s, us) = now_unix();
    log.line(&report::date("Date: ", s, us as i64).replace(" GMT)", " UTC)"));
    log.line("[INF] Creating flows for L2, IPv4, IPv6");
    let pcapng = reader.is_pcapng();
    if pcapng {
        log.line("[WRN] PCAP-NG, so *percentage completed* in end report might be less than 100%, will be fixed in a later version");
    }
    log.line("Active plugins:");
    for l in plugin_version_lines(&sel) {
        log.line(&l);
    }
    log.line(&format!("Processing file: {}", reader.name()));
    let (ln, ld) = dlt::name(linktype);
    log.line(&format!(
        "Link layer type: {ld} [{ln}/{}]",
        dlt::as_dlt(linktype)
    ));
    log.line(&format!(
        "Snapshot length: {}{}",
        reader.snaplen(),
        report::h(reader.snaplen() as u64, "")
    ));
    let crowded = crowded_cpus(&cpus);
    let format_in_workers = format_in_workers(&cfg, crowded.is_some())?;
    log.line(&format!(
        "Workers: {nworkers}{}{}",
        keep_off_worker_cpus(&cpus),
        if crowded.is_some() {
            " (a worker on every CPU: the reader and the writer keep off the busiest one's)"
        } else {
            ""
        }
    ));
    log.flush();

    // ---- plugins, columns, output files, flow-table cap
    let RunOutputs {
        timeouts,
        mon_cols,
        sinks,
        l4_word_sums,
    } = open_outputs(&cli, &sel, &cfg, &outputs, &prefix, flows_stdout)?;
    let (cap_total, capacity, capacity_ref) = table_cap(&cli, &cfg, nworkers);
    let (capacity, budget) = crate::batch::flow_cap(
        &cli,
        &cfg,
        &sel.analysis,
        nworkers,
        reader.snaplen(),
        capacity,
    )?;
    if let Some(b) = &budget {
        log.line(&b.line());
    }
    let mut progress = crate::progress::Progress::new(cfg.f64("PROGRESS_INTERVAL"));

    // ---- threads
    let shared = Arc::new(Shared::default());
    let ring_batches = cfg.u64("RING_BATCHES").max(2) as usize;
    let mut mon = crate::monitor::Monitor::start(crate::monitor::Setup {
        cfg: crate::monitor::MonConfig::from_config(&cfg, cli.monitoring_interval)?,
        opts: crate::monitor::Options {
            file: (cli.monitoring_file || flows_stdout).then(|| format!("{prefix}_monitoring.txt")),
            remove_if_empty: flows_stdout && !cli.monitoring_file,
            metrics: cli.metrics.clone(),
            progress: match (cli.progress, cli.no_progress) {
                (_, true) => Some(false),
                (true, _) => Some(true),
                _ => None,
            },
            log_to_file,
            live: false,
        },
        shared: shared.clone(),
        workers: nworkers,
        ring_batches,
        info: crate::monitor::format::InputInfo {
            lines: {
                let (n, d) = dlt::name(linktype);
                vec![
                    format!("Processing file: {input}"),
                    format!("Link layer type: {d} [{n}/{}]", dlt::as_dlt(linktype)),
                    format!(
                        "Snapshot length: {}{}",
                        reader.snaplen(),
                        report::h(reader.snaplen() as u64, "")
                    ),
                ]
            },
            file_size: reader.file_size(),
            pcapng,
            capacity_ref,
            plugin_cols: mon_cols,
        },
    })?;
    // a -D series waiting for its next file ends on SIGINT/SIGTERM
    let ctl = mon.hub.ctl.clone();
    series.on_interrupt(move || ctl.level.load(Ordering::Relaxed) < 3);
    let mut lanes = Vec::new();
    let mut out_rings = Vec::new();
    let mut out_free = Vec::new();
    let mut handles = Vec::new();
    for (i, cpu) in cpus.iter().enumerate() {
        // replay: only throughput matters, so a worker is woken for several batches at once
        let to_worker: Arc<Ring<Box<PacketBatch>>> =
            Arc::new(Ring::new(ring_batches).wake_batch(ring_batches / 4));
        let free: Arc<Ring<Box<PacketBatch>>> = Arc::new(Ring::new(ring_batches + 2));
        let out: Arc<Ring<Box<OutBatch>>> =
            Arc::new(Ring::new(ring_batches).wake_batch(ring_batches / 4));
        let ofree: Arc<Ring<Box<OutBatch>>> = Arc::new(Ring::new(ring_batches + 2));
        lanes.push(Lane {
            to_worker: to_worker.clone(),
            free: free.clone(),
            batch: Box::default(),
        });
        out_rings.push(out.clone());
        out_free.push(ofree.clone());
        let setup = worker_setup(
            &cli,
            &sel,
            &cfg,
            (i, nworkers),
            (&sinks.columns, &timeouts),
            capacity,
            &shared,
        );
        let cpu = *cpu;
        let h = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || {
                if let Some(c) = cpu {
                    core_affinity::set_for_current(c);
                }
                crate::flow::worker::yield_to_pipeline();
                let mut w = Worker::new(setup);
                if format_in_workers {
                    w.format_records_here();
                }
                w.run(&to_worker, &free, &out, &ofree)
            })
            .map_err(|e| format!("cannot start worker thread: {e}"))?;
        handles.push(h);
    }
    let placement = |c: &Option<(Vec<usize>, Vec<usize>)>| {
        c.clone().and_then(|(workers, allowed)| {
            crate::dispatch::placement::Placement::new(workers, allowed)
        })
    };
    let writer_placement = placement(&crowded);
    let writer_handle = std::thread::Builder::new()
        .name("writer".into())
        .spawn(move || writer::run(out_rings, out_free, sinks, writer_placement))
        .map_err(|e| format!("cannot start writer thread: {e}"))?;

    let mut disp = Dispatcher::new(
        lanes,
        cfg.u64("BATCH_PACKETS") as usize,
        cfg.u64("TICK_PACKETS"),
    );
    // the reader sums each packet's L4 bytes while they are in its cache (the workers' copy
    // of them comes from this core)
    disp.ingest.l4_word_sums = l4_word_sums;
    disp.placement = placement(&crowded);
    for l in &disp.lanes {
        l.to_worker.register_producer();
        l.free.register_consumer();
    }
    mon.attach_rings(disp.lanes.iter().map(|l| l.to_worker.clone()).collect());

    // ---- the reader loop
    let mut pkt_no = 0u64;
    let mut last_ts = Ts::ZERO;
    let mut warned_links: Vec<u32> = Vec::new();
    // the last link type found supported
    let mut supported_link: Option<u32> = None;
    let mut read_error: Option<String> = None;
    loop {
        if series.has_lines() {
            for l in series.take_lines() {
                log.line(&l);
            }
            log.flush();
        }
        if pkt_no & 0xfff == 0 {
            mon.set_input_position(reader.bytes_consumed());
            if let Some(l) = progress.tick(reader.bytes_consumed(), reader.file_size()) {
                log.line(&l);
                log.flush();
            }
        }
        match reader.next_record() {
            Ok(Some(rec)) => {
                pkt_no += 1;
                if pkt_no == 1 {
                    log.line(&report::date(
                        "Dump start: ",
                        rec.ts.sec,
                        rec.ts.nsec as i32 as i64,
                    ));
                }
                last_ts = rec.ts;
                if rec.caplen == 0 {
                    log.line(&format!("[WRN] No data available for packet {pkt_no}"));
                }
                // the link type of most packets is the one of the packet before
                let lt = if supported_link == Some(rec.linktype) || dlt::supported(rec.linktype) {
                    supported_link = Some(rec.linktype);
                    rec.linktype
                } else {
                    if !warned_links.contains(&rec.linktype) {
                        warned_links.push(rec.linktype);
                        let (n, d) = dlt::name(rec.linktype);
                        log.line(&format!(
                            "[WRN] Unsupported link-layer type: {d} [{n}/{}]: packets of that interface get no flow",
                            rec.linktype
                        ));
                    }
                    u32::MAX
                };
                disp.packet(pkt_no, rec.ts, rec.data, rec.len, lt, rec.window);
                for w in disp.ingest.dissector.warnings() {
                    match w {
                        Warning::L3Snap { snap_l2, snap_l3, l3_len, outer6 } => log.line(&format!(
                            "[WRN] {}snapL2Length: {snap_l2} - snapL3Length: {snap_l3} - IP length in header: {l3_len}",
                            if *outer6 { "Outer -- " } else { "" }
                        )),
                        Warning::NullFamily(f) => log.line(&format!("[WRN] Null/Loopback header: unhandled family {f}")),
                        Warning::RawVersion(v) => log.line(&format!("[WRN] Unknown IP protocol {v} in raw pcap")),
                        Warning::UnsupportedPpiDlt(d) => {
                            let (n, ds) = dlt::name(*d);
                            log.line(&format!("[WRN] Unsupported link-layer type: {ds} [{n}/{d}]"))
                        }
                    }
                }
                // monitoring: a due report (in step), USR1/USR2/INT/TERM
                if mon.due(pkt_no, rec.ts)
                    && mon.handle(pkt_no, rec.ts, &mut disp, &mut log) == crate::monitor::Step::Stop
                {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) if crate::capture::series::is_pending(&e) => {
                // a -D series waits for data: hand the partial batches on to the workers
                disp.tick_all(false);
            }
            Err(e) => {
                let msg = e.to_string();
                log.line(&format!(
                    "[WRN] input error: {msg}; the flows seen so far are written"
                ));
                eprintln!("tamandua: {msg}");
                read_error = Some(msg);
                break;
            }
        }
    }
    let _ = read_error;
    for l in series.take_lines() {
        log.line(&l);
    }
    mon.reader_done(&disp);
    disp.ingest.finish_counters();
    disp.finish();
    let elapsed_read = started.elapsed();

    let mut workers: Vec<Worker> = Vec::new();
    for h in handles {
        workers.push(
            h.join()
                .map_err(|_| "a worker thread panicked".to_string())?,
        );
    }
    let wstats = writer_handle
        .join()
        .map_err(|_| "the writer thread panicked".to_string())?;
    if let Err(e) = wstats {
        return Err(format!("writing output: {e}"));
    }

    mon.finish(&mut log);

    // ---- end report
    let mut total = disp.ingest.counters.clone();
    let mut per_worker = Vec::new();
    for (i, w) in workers.iter().enumerate() {
        total.merge(&w.counters);
        total.alarms += w.table.alarms;
        per_worker.push(WorkerLine {
            packets: w.counters.num_a + w.counters.num_b,
            flows: w.counters.total_flows(),
            ring_full: disp.lanes[i].to_worker.full_events.load(Ordering::Relaxed),
            evicted: w.evicted,
        });
    }
    let stop_ts = if pkt_no > 0 { last_ts } else { Ts::ZERO };
    let start_ts = total.first_ts.unwrap_or(Ts::ZERO);
    let el = started.elapsed();
    for l in report::closing_lines(start_ts, stop_ts, elapsed_read, el) {
        log.line(&l);
    }
    for l in report::eviction_lines(total.rm_flows, cap_total, budget.is_some()) {
        log.line(&l);
    }
    // merge plugin instances for the report
    let plugin_lines = report::plugin_lines(workers.into_iter().map(|w| w.plugins), &total);
    let (rss, phys) = report::memory_kb();
    let input_report = ReportInput {
        counters: &total,
        plugin_lines,
        file_size: series.report_size(),
        pcapng,
        peak_flows: shared.peak.load(Ordering::Relaxed),
        capacity_ref,
        max_rss_kb: rss,
        phys_mem_kb: phys,
        wall_seconds: el.as_secs_f64(),
        workers: nworkers,
        per_worker,
    };
    for l in report::body(&input_report) {
        log.line(&l);
    }
    for l in crate::batch::problem_lines(&series) {
        log.line(&l);
    }
    log.flush();
    Ok(0)
}
