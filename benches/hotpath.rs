//! Micro-benchmarks of the packet path: dissection, the symmetric dispatch hash, flow-table
//! lookup (hit and miss) on a table larger than the caches, the whole flow stage of a
//! worker (basicFlow + basicStats) on minimum-size packets of many flows, and the text of one
//! flow record (flows.txt line) with the default and the basic plugins.
//! Run: cargo bench --bench hotpath [-- FILTER]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::sync::Arc;
use std::time::Duration;
use tamandua::capture::PcapReader;
use tamandua::config::Config;
use tamandua::dispatch::batch::{PacketBatch, PktEntry};
use tamandua::dispatch::ring::Ring;
use tamandua::dissect::{dlt, Dissector, FlowKey};
use tamandua::flow::table::FlowTable;
use tamandua::flow::worker::{Worker, WorkerSetup};
use tamandua::output::columns::Column;
use tamandua::output::txt::TxtFormatter;
use tamandua::plugin::Plugin;
use tamandua::plugins::tcp_flags::{self, TcpFlags};
use tamandua::plugins::tcp_states::TcpStates;
use tamandua::plugins::{basic_flow::BasicFlow, basic_stats::BasicStats};
use tamandua::time::Ts;
use tamandua::wire::checksum::{word_sum, word_sum_portable};

/// Packets of a real capture (bundled in tests/data), with their link type.
fn packets() -> Vec<(Vec<u8>, u32, u32)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ftp.pcap");
    let mut r = PcapReader::open(path).expect("tests/data/ftp.pcap");
    let mut v = Vec::new();
    while let Ok(Some(rec)) = r.next_record() {
        v.push((rec.data.to_vec(), rec.len, rec.linktype));
    }
    v
}

fn key(i: u32) -> FlowKey {
    let mut k = FlowKey::default();
    k.src[..4].copy_from_slice(&i.to_be_bytes());
    k.dst[..4].copy_from_slice(&(!i).to_be_bytes());
    k.sport = (i % 60000) as u16 + 1024;
    k.dport = 443;
    k.proto = 6;
    k.eth_type = 0x0800;
    k.ip_ver = 4;
    k
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Like ../shared/bench/gen-small64.py: 60-byte Ethernet/IPv4/TCP frames of `flows` random
/// bidirectional flows picked uniformly (45% in the reply direction), 67 ns apart, dissected
/// and cut into worker batches of 256.
fn small64_batches(n: usize, flows: usize) -> Vec<PacketBatch> {
    let mut rng = Rng(42);
    let f: Vec<(u32, u32, u16, u16)> = (0..flows)
        .map(|_| {
            let r = rng.next();
            (
                0x0a00_0000 | (r as u32 & 0xff_ffff),
                0xc0a8_0000 | ((r >> 24) as u32 & 0xffff),
                1024 + (r >> 40) as u16 % 64000,
                [80, 443, 53, 22, 8080][(r >> 60) as usize % 5],
            )
        })
        .collect();
    let mut seen = vec![false; flows];
    let mut d = Dissector::new();
    let mut out = Vec::new();
    let mut b = PacketBatch::default();
    let t0 = 1_700_000_000u64 * 1_000_000_000;
    for i in 0..n {
        let r = rng.next();
        let fi = (r % flows as u64) as usize;
        let (mut s, mut dd, mut sp, mut dp) = f[fi];
        let rev = (r >> 32) % 100 < 45;
        if rev {
            (s, dd, sp, dp) = (dd, s, dp, sp);
        }
        let mut fr = Vec::with_capacity(60);
        fr.extend_from_slice(&[
            2,
            0,
            0,
            0,
            0,
            1 + rev as u8,
            2,
            0,
            0,
            0,
            0,
            2 - rev as u8,
            8,
            0,
        ]);
        fr.extend_from_slice(&[0x45, 0, 0, 40]);
        fr.extend_from_slice(&(i as u16).to_be_bytes());
        fr.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
        fr.extend_from_slice(&s.to_be_bytes());
        fr.extend_from_slice(&dd.to_be_bytes());
        fr.extend_from_slice(&sp.to_be_bytes());
        fr.extend_from_slice(&dp.to_be_bytes());
        fr.extend_from_slice(&(i as u32).to_be_bytes());
        fr.extend_from_slice(&[
            0,
            0,
            0,
            0,
            0x50,
            if seen[fi] { 0x10 } else { 0x02 },
            0xff,
            0xff,
        ]);
        fr.extend_from_slice(&[0; 10]);
        seen[fi] = true;
        let t = t0 + 67 * i as u64;
        let ts = Ts::new(t / 1_000_000_000, (t % 1_000_000_000) as u32);
        let info = d.dissect(&fr, 60, dlt::EN10MB);
        let data_off = b.bytes.len() as u32;
        b.bytes.extend_from_slice(&fr);
        let desc_off = b.bytes.len() as u32;
        b.bytes.extend_from_slice(d.hdr_desc());
        b.pkts.push(PktEntry {
            pkt_no: i as u64 + 1,
            ts,
            len: 60,
            data_off,
            caplen: 60,
            desc_off,
            desc_len: d.hdr_desc().len() as u16,
            info,
            ..Default::default()
        });
        if b.pkts.len() == 256 {
            b.tick = Some((i as u64 + 1, ts));
            out.push(std::mem::take(&mut b));
        }
    }
    if !b.pkts.is_empty() {
        out.push(b);
    }
    out
}

/// CPU time of the calling thread: the machine may be shared, and waiting for a core is not
/// the flow stage's cost.
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn worker() -> Worker {
    let plugins: Vec<Box<dyn Plugin>> =
        vec![Box::new(BasicFlow::new()), Box::new(BasicStats::new())];
    Worker::new(WorkerSetup {
        index: 0,
        workers: 1,
        plugins,
        txt: true,
        packet_mode: false,
        flow_timeout: 182.0,
        timeouts: vec![182.0],
        capacity: 0,
        ..Default::default()
    })
}

/// The flow records the plugins write for tests/data/ftp.pcap (as a worker hands them to the
/// writer), with their columns.
fn ftp_records(plugins: Vec<Box<dyn Plugin>>) -> (Vec<Column>, Vec<Vec<u8>>) {
    let mut columns = Worker::core_columns();
    for p in &plugins {
        columns.extend(p.columns());
    }
    let mut w = Worker::new(WorkerSetup {
        index: 0,
        workers: 1,
        plugins,
        txt: true,
        columns: Arc::new(columns.clone()),
        flow_timeout: 182.0,
        timeouts: vec![182.0],
        ..Default::default()
    });
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ftp.pcap");
    let mut r = PcapReader::open(path).expect("tests/data/ftp.pcap");
    let (mut d, mut b) = (Dissector::new(), PacketBatch::default());
    while let Ok(Some(rec)) = r.next_record() {
        let lt = if rec.linktype == 0 {
            dlt::EN10MB
        } else {
            rec.linktype
        };
        let info = d.dissect(rec.data, rec.len, lt);
        let data_off = b.bytes.len() as u32;
        b.bytes.extend_from_slice(rec.data);
        let desc_off = b.bytes.len() as u32;
        b.bytes.extend_from_slice(d.hdr_desc());
        b.pkts.push(PktEntry {
            pkt_no: b.pkts.len() as u64 + 1,
            ts: rec.ts,
            len: rec.len,
            data_off,
            caplen: rec.caplen,
            desc_off,
            desc_len: d.hdr_desc().len() as u16,
            info,
            ..Default::default()
        });
    }
    w.process_batch(&b);
    w.flush_all();
    let (out, free) = (Ring::new(4), Ring::new(4));
    w.send(&out, &free);
    let batch = out.try_pop().expect("the flushed records");
    let mut start = 0;
    let records = batch
        .recs
        .iter()
        .map(|m| {
            let rec = batch.records[start..m.end as usize].to_vec();
            start = m.alt_end as usize;
            rec
        })
        .collect();
    (columns, records)
}

/// The longest record (the flow with most to say) and its columns.
fn longest_record(plugins: Vec<Box<dyn Plugin>>) -> (Vec<Column>, Vec<u8>) {
    let (columns, records) = ftp_records(plugins);
    let rec = records.into_iter().max_by_key(Vec::len).expect("a record");
    (columns, rec)
}

fn bench_flow_text(c: &mut Criterion) {
    // tcpFlags' columns depend on its settings: their defaults
    let mut config = Config::new();
    config.register(tcp_flags::SETTINGS);
    let default: Vec<Box<dyn Plugin>> = vec![
        Box::new(BasicFlow::new()),
        Box::new(BasicStats::new()),
        Box::new(TcpFlags::new(&config)),
        Box::new(TcpStates::new()),
    ];
    let basic: Vec<Box<dyn Plugin>> = vec![Box::new(BasicFlow::new()), Box::new(BasicStats::new())];
    let mut g = c.benchmark_group("flows.txt line");
    g.throughput(Throughput::Elements(1));
    for (name, plugins) in [
        ("default plugins (ftp.pcap's longest record)", default),
        ("basicFlow+basicStats (ftp.pcap's longest record)", basic),
    ] {
        let (columns, rec) = longest_record(plugins);
        let mut f = TxtFormatter::new(&columns);
        let mut out = Vec::with_capacity(4096);
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                f.write(black_box(&rec), &mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let pkts = packets();
    let mut g = c.benchmark_group("dissect");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    for (name, full) in [
        ("ftp.pcap (209 Ethernet/IPv4/TCP packets)", false),
        ("ftp.pcap, full path only (no fast path)", true),
    ] {
        g.bench_function(name, |b| {
            let mut d = Dissector::new();
            d.full_path_only = full;
            b.iter(|| {
                for (data, len, lt) in &pkts {
                    black_box(d.dissect(data, *len, if *lt == 0 { dlt::EN10MB } else { *lt }));
                }
            })
        });
    }
    g.finish();

    // the L4 word sum the reader computes for tcpFlags, over typical payload sizes
    let mut g = c.benchmark_group("word_sum");
    let bytes: Vec<u8> = (0..1500u32).map(|i| (i * 7 + 3) as u8).collect();
    for n in [20usize, 40, 64, 128, 300, 1460] {
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function(format!("{n} bytes"), |b| {
            b.iter(|| black_box(word_sum(black_box(&bytes[..n]))))
        });
        g.bench_function(format!("{n} bytes, portable"), |b| {
            b.iter(|| black_box(word_sum_portable(black_box(&bytes[..n]))))
        });
    }
    g.finish();

    let keys: Vec<FlowKey> = (0..1024).map(key).collect();
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("dispatch_hash (symmetric)", |b| {
        b.iter(|| {
            let mut x = 0u64;
            for k in &keys {
                x ^= k.dispatch_hash();
            }
            black_box(x)
        })
    });
    g.bench_function("flow-table index hash", |b| {
        b.iter(|| {
            for k in &keys {
                black_box(FlowTable::hash(k));
            }
        })
    });
    g.finish();

    const N: u32 = 1 << 20;
    let mut t = FlowTable::new(&[182.0], 0);
    for i in 0..N {
        t.insert(key(i), i as u64);
    }
    let mut g = c.benchmark_group("flow-table (1 M flows)");
    g.throughput(Throughput::Elements(1024));
    g.bench_function("lookup hit, random order", |b| {
        let mut x = 0x9e37_79b9u32;
        b.iter_batched(
            || {
                (0..1024)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        key(x % N)
                    })
                    .collect::<Vec<_>>()
            },
            |ks| {
                for k in &ks {
                    black_box(t.lookup(k));
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("lookup miss", |b| {
        let ks: Vec<FlowKey> = (N..N + 1024).map(key).collect();
        b.iter(|| {
            for k in &ks {
                black_box(t.lookup(k));
            }
        })
    });
    g.finish();
    drop(t);

    // the flow stage of one worker: 2 M packets over 200 K bidirectional flows (a table of
    // ~400 K flows, far larger than the caches; ~20% of the packets create a flow)
    const PKTS: usize = 2_000_000;
    let batches = small64_batches(PKTS, 200_000);
    let mut g = c.benchmark_group("worker flow stage");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(PKTS as u64));
    // measured in thread CPU time
    g.bench_function("basicFlow+basicStats, 60-byte TCP, 200 K flows", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut w = worker();
                let t0 = thread_cpu();
                for batch in &batches {
                    w.process_batch(batch);
                }
                total += thread_cpu() - t0;
                black_box(w.table.len());
            }
            total
        })
    });
    // writing every flow at the end of the input (formatting included), from the LRU order
    g.throughput(Throughput::Elements(1));
    g.bench_function("end-of-input flush of the table above (txt records)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut w = worker();
                for batch in &batches {
                    w.process_batch(batch);
                }
                let t0 = thread_cpu();
                w.flush_all();
                total += thread_cpu() - t0;
                black_box(w.table.len());
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_flow_text);
criterion_main!(benches);
