//! Micro-benchmarks of the packet path: dissection, the symmetric dispatch hash, and flow-table
//! lookup (hit and miss) on a table larger than the caches.
//! Run: cargo bench --bench hotpath

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tamandua::capture::PcapReader;
use tamandua::dissect::{dlt, Dissector, FlowKey};
use tamandua::flow::table::FlowTable;

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

fn bench(c: &mut Criterion) {
    let pkts = packets();
    let mut g = c.benchmark_group("dissect");
    g.throughput(Throughput::Elements(pkts.len() as u64));
    g.bench_function("ftp.pcap (209 Ethernet/IPv4/TCP packets)", |b| {
        let mut d = Dissector::new();
        b.iter(|| {
            for (data, len, lt) in &pkts {
                black_box(d.dissect(data, *len, if *lt == 0 { dlt::EN10MB } else { *lt }));
            }
        })
    });
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
