//! Dispatch: how packets get from a capture source to the worker that owns their flow.
//!
//! In replay one reader thread reads the records, dissects each packet once, and appends it
//! (bytes, hdrDesc and the dissection result) to the batch of the worker chosen by the
//! symmetric hash of its flow key ([`crate::dissect::FlowKey::dispatch_hash`]). Full batches
//! go through per-worker lock-free rings; a full ring makes the reader wait (replay never
//! drops). Every `TICK_PACKETS` packets each worker gets a batch, even an empty one, carrying
//! the reader's clock, so idle workers still expire their flows.

pub mod batch;
pub mod placement;
pub mod ring;

use crate::capture::mapped::MapWindow;
use crate::dissect::{Dissector, FlowClass, PacketInfo};
use crate::flowstat::*;
use crate::report::counters::Counters;
use crate::time::Ts;
use batch::{PacketBatch, PktEntry};
use placement::Placement;
use ring::Ring;
use std::sync::Arc;

/// Dissection plus the counters that follow from it alone (T2's end-of-packet bookkeeping,
/// core.md 1). The replay reader has one; a live-capture worker has its own.
#[derive(Default)]
pub struct Ingest {
    pub dissector: Dissector,
    pub counters: Counters,
    /// Fill [`PacketInfo::l4_word_sum`] (a plugin wants it).
    pub l4_word_sums: bool,
}

impl Ingest {
    /// Counts and dissects one record; returns the dissection and the packet's hdrDesc.
    pub fn ingest(
        &mut self,
        ts: Ts,
        data: &[u8],
        wire_len: u32,
        linktype: u32,
    ) -> (PacketInfo, &[u8]) {
        let mut info = PacketInfo::default();
        let desc = self.ingest_into(ts, data, wire_len, linktype, &mut info);
        (info, desc)
    }

    /// [`Ingest::ingest`] into `info` (overwritten); returns the packet's hdrDesc. Inlined
    /// into the replay reader's [`Dispatcher::packet`] (no call, no argument shuffling).
    #[inline(always)]
    pub fn ingest_into(
        &mut self,
        ts: Ts,
        data: &[u8],
        wire_len: u32,
        linktype: u32,
        info: &mut PacketInfo,
    ) -> &[u8] {
        let c = &mut self.counters;
        c.packets += 1;
        c.raw_bytes += wire_len as u64;
        if c.first_ts.is_none() {
            c.first_ts = Some(ts);
        }
        c.last_ts = ts;
        if data.is_empty() {
            *info = PacketInfo::default();
            return &[];
        }
        c.processed_bytes += data.len() as u64;
        self.dissector.dissect_into(data, wire_len, linktype, info);
        if self.l4_word_sums && info.l4 != crate::dissect::NONE {
            info.l4_word_sum = data
                .get(info.l4 as usize..)
                .map(crate::wire::checksum::word_sum);
        }
        let c = &mut self.counters;
        let st = info.status;
        if info.llc {
            c.num_llc += 1;
        }
        if st & L2_IPV4 != 0 {
            c.num_v4 += 1;
        } else if st & L2_IPV6 != 0 {
            c.num_v6 += 1;
        }
        // rare: one test for the four
        if st & (L3_IPVX | L3_TRDO | L3_AYIYA | L2_GRE) != 0 {
            c.num_vx += (st & L3_IPVX != 0) as u64;
            c.num_teredo += (st & L3_TRDO != 0) as u64;
            c.num_ayiya += (st & L3_AYIYA != 0) as u64;
            c.num_gre += (st & L2_GRE != 0) as u64;
        }
        if info.class == FlowClass::L2 {
            c.num_l2 += 1;
        }
        c.dtls_records += info.dtls_records as u64;
        c.frag_v6 += info.v6_frag_walk as u64;
        c.bytes_on_wire += info.bytes_on_wire;
        c.global_warn |= st;
        let n = info.num_hdrs;
        c.hdr_max = c.hdr_max.max(n);
        c.hdr_min = c.hdr_min.min(n);
        // (through i64: the same f64 for any count below 2^63, in one instruction instead of six)
        let t = (1.0f64 / (c.packets as i64) as f64) as f32;
        c.hdr_avg = (1.0f32 - t) * c.hdr_avg + t * n as f32;
        self.dissector.hdr_desc()
    }

    /// Folds the dissector's own tallies into the counters (call once at the end).
    pub fn finish_counters(&mut self) {
        self.counters.vlan_max = self.dissector.vlan_max;
        self.counters.mpls_max = self.dissector.mpls_max;
        self.counters.num_vx += self.dissector.bad_version_frames;
        self.dissector.bad_version_frames = 0;
    }
}

/// The reader's side of the rings to one worker.
pub struct Lane {
    pub to_worker: Arc<Ring<Box<PacketBatch>>>,
    pub free: Arc<Ring<Box<PacketBatch>>>,
    pub batch: Box<PacketBatch>,
}

/// Splits dissected packets into per-worker batches.
pub struct Dispatcher {
    pub lanes: Vec<Lane>,
    pub ingest: Ingest,
    batch_packets: usize,
    tick_packets: u64,
    since_tick: u64,
    last: Option<(u64, Ts)>,
    /// Set when every CPU runs a worker (see [`placement`]).
    pub placement: Option<Placement>,
    /// Where a packet is dissected and its entry completed before its worker is known: the
    /// entry then goes into that worker's batch in one copy.
    scratch: PktEntry,
}

impl Dispatcher {
    pub fn new(lanes: Vec<Lane>, batch_packets: usize, tick_packets: u64) -> Dispatcher {
        Dispatcher {
            lanes,
            ingest: Ingest::default(),
            batch_packets: batch_packets.max(1),
            tick_packets: tick_packets.max(1),
            since_tick: 0,
            last: None,
            placement: None,
            scratch: PktEntry::default(),
        }
    }

    /// Worker of a flow hash (multiply-shift: uniform for any worker count).
    pub fn worker_of(hash: u64, workers: usize) -> usize {
        ((hash as u128 * workers as u128) >> 64) as usize
    }

    /// Handles one capture record: counting, dissection, and hand-off to a worker. Bytes that
    /// lie in a mapped `window` of the input are handed over by reference, others copied.
    /// Inlined into the reader loop, its only caller (-1% of the reader's instructions).
    #[inline(always)]
    pub fn packet(
        &mut self,
        pkt_no: u64,
        ts: Ts,
        data: &[u8],
        wire_len: u32,
        linktype: u32,
        window: Option<&Arc<MapWindow>>,
    ) {
        let e = &mut self.scratch;
        let has_desc = !self
            .ingest
            .ingest_into(ts, data, wire_len, linktype, &mut e.info)
            .is_empty();
        // one worker needs no hash
        let w = match self.lanes.len() {
            1 => 0,
            n => Self::worker_of(e.info.key.dispatch_hash(), n),
        };
        let b = &mut self.lanes[w].batch;
        (e.window, e.data_off) = b.place_data(data, window);
        e.pkt_no = pkt_no;
        e.ts = ts;
        e.len = wire_len;
        e.caplen = data.len() as u32;
        // the hdrDesc: the number of a fixed text, else a copy (the dissector's hdrDesc is
        // this packet's when ingest_into returned it, i.e. when it is not empty)
        let d = &self.ingest.dissector;
        match d.desc_template() {
            Some(t) if has_desc => {
                e.desc_template = t + 1;
                e.desc_off = 0;
                e.desc_len = 0;
            }
            _ => {
                let desc = if has_desc { d.hdr_desc() } else { &[] };
                e.desc_template = 0;
                e.desc_off = b.bytes.len() as u32;
                e.desc_len = desc.len() as u16;
                b.bytes.extend_from_slice(desc);
            }
        }
        // copied straight from the scratch entry (push(*e) copied it to the stack first)
        b.pkts.extend_from_slice(std::slice::from_ref(e));
        self.last = Some((pkt_no, ts));
        let full = b.pkts.len() >= self.batch_packets;
        // a shard that gets few packets still hears the clock in bounded batches: the lanes
        // whose clock reaches the bound are sent after this packet's lane (only a clock that
        // grew can reach it: every lane leaves this function below the bound)
        let mut clock_full = false;
        if self.lanes.len() > 1 {
            let bound = 4 * self.batch_packets;
            for (i, other) in self.lanes.iter_mut().enumerate() {
                if i != w {
                    other.batch.clock.push((pkt_no, ts));
                    clock_full |= other.batch.clock.len() >= bound;
                }
            }
        }
        if full {
            self.send(w, false);
        }
        if clock_full {
            for i in 0..self.lanes.len() {
                if self.lanes[i].batch.clock.len() >= 4 * self.batch_packets {
                    self.send(i, false);
                }
            }
        }
        self.since_tick += 1;
        if self.since_tick >= self.tick_packets {
            self.tick_all(false);
        }
    }

    fn send(&mut self, w: usize, eof: bool) {
        let lane = &mut self.lanes[w];
        let fresh = match lane.free.try_pop() {
            Some(mut b) => {
                b.clear();
                b
            }
            // sized like the batch it replaces: growing by doubling would copy, and fault in
            // about twice the memory the batch ends up with
            None => Box::new(PacketBatch::with_capacity(
                self.batch_packets,
                lane.batch.bytes.len() + lane.batch.bytes.len() / 4,
                lane.batch.clock.len(),
            )),
        };
        let mut b = std::mem::replace(&mut lane.batch, fresh);
        b.tick = self.last;
        b.eof = eof;
        let lanes = &self.lanes;
        if let Some(p) = self.placement.as_mut() {
            p.on_send(|l| lanes[l].to_worker.len(), lanes[w].to_worker.capacity());
        }
        // held up by this worker: the others take what they have been sent so far
        lanes[w].to_worker.push_or_else(b, || {
            for l in lanes {
                l.to_worker.nudge_consumer();
            }
        });
    }

    /// Sends every worker its pending batch with the current clock.
    pub fn tick_all(&mut self, eof: bool) {
        self.since_tick = 0;
        for w in 0..self.lanes.len() {
            self.send(w, eof);
        }
    }

    /// End of input: every worker gets its last batch and flushes its flows.
    pub fn finish(&mut self) {
        self.tick_all(true);
        for l in &self.lanes {
            l.to_worker.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_choice_is_in_range_and_spreads() {
        let mut seen = [0u32; 3];
        for i in 0..3000u64 {
            let w = Dispatcher::worker_of(crate::dissect::mix64(i), 3);
            seen[w] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
        assert_eq!(Dispatcher::worker_of(u64::MAX, 1), 0);
    }

    #[test]
    fn batches_give_back_each_packets_hdr_desc() {
        // fast-path frames (fixed texts), others (copied texts) and empty records, mixed
        let mut plain = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x00];
        plain.extend_from_slice(&[0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        plain.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        plain.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 2, 1, 0]);
        plain.extend_from_slice(&[0, 0, 0, 0]);
        let mut arp = plain.clone();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut vlan = plain[..12].to_vec();
        vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        vlan.extend_from_slice(&plain[12..]);
        let frames: [&[u8]; 5] = [&plain, &arp, &[], &vlan, &plain[..30]];
        let lane = || Lane {
            to_worker: Arc::new(Ring::new(4)),
            free: Arc::new(Ring::new(4)),
            batch: Box::default(),
        };
        let mut disp = Dispatcher::new(vec![lane()], 1000, 1000);
        let mut want = Vec::new();
        let mut d = Dissector::new();
        for i in 0..40u64 {
            let f = frames[i as usize % frames.len()];
            disp.packet(i + 1, Ts::ZERO, f, f.len() as u32, 1, None);
            want.push(if f.is_empty() {
                Vec::new()
            } else {
                d.dissect(f, f.len() as u32, 1);
                d.hdr_desc().to_vec()
            });
        }
        let b = &disp.lanes[0].batch;
        assert_eq!(b.pkts.len(), 40);
        for (e, want) in b.pkts.iter().zip(&want) {
            assert_eq!(b.desc(e), &want[..], "packet {}", e.pkt_no);
        }
        // the plain frames' texts were not copied
        assert!(b.pkts.iter().any(|e| e.desc_template != 0));
        let copied: usize = want
            .iter()
            .zip(&b.pkts)
            .filter(|(_, e)| e.desc_template == 0)
            .map(|(w, _)| w.len())
            .sum();
        assert_eq!(
            b.bytes.len(),
            copied + frames.iter().map(|f| f.len()).sum::<usize>() * 8
        );
    }

    /// The hash as it was first written (every address half mixed): flows must keep going to
    /// the same worker (see [`crate::dissect::FlowKey::dispatch_hash`]).
    fn reference_dispatch_hash(k: &crate::dissect::FlowKey) -> u64 {
        use crate::dissect::mix64;
        let w = |a: &[u8; 16], i: usize| u64::from_le_bytes(a[i..i + 8].try_into().unwrap());
        let a = mix64(w(&k.src, 0)) ^ mix64(w(&k.src, 8).rotate_left(17));
        let b = mix64(w(&k.dst, 0)) ^ mix64(w(&k.dst, 8).rotate_left(17));
        mix64(a.wrapping_add(b) ^ ((k.eth_type as u64) << 16 | k.vlan as u64))
    }

    #[test]
    fn dispatch_hash_is_symmetric_and_spreads_flows() {
        let mut r = crate::testutil::XorShift(0x1234_5678_9abc_def1);
        for workers in [2usize, 3, 4] {
            let mut seen = vec![0u32; workers];
            for i in 0..4000 {
                let mut k = crate::dissect::FlowKey {
                    eth_type: 0x0800,
                    sport: r.next() as u16,
                    dport: 443,
                    proto: 6,
                    ..Default::default()
                };
                // IPv4 clients of one subnet talking to a few servers, and random IPv6 pairs
                if i % 2 == 0 {
                    k.src[..4].copy_from_slice(&[10, 1, (i >> 8) as u8, i as u8]);
                    k.dst[..4].copy_from_slice(&[192, 168, 0, (r.next() % 4) as u8]);
                } else {
                    k.eth_type = 0x86dd;
                    k.src = r.bytes(16).try_into().unwrap();
                    k.dst = r.bytes(16).try_into().unwrap();
                }
                let h = k.dispatch_hash();
                assert_eq!(h, reference_dispatch_hash(&k));
                assert_eq!(h, k.reversed().dispatch_hash());
                // ports and protocol do not count (fragments carry none)
                k.sport = 0;
                k.proto = 17;
                assert_eq!(h, k.dispatch_hash());
                seen[Dispatcher::worker_of(h, workers)] += 1;
            }
            let fair = 4000 / workers as u32;
            assert!(
                seen.iter().all(|&n| n > fair * 8 / 10),
                "{workers} workers: {seen:?}"
            );
        }
    }
}
