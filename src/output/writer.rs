//! The writer thread: merges the workers' output batches into one deterministic order and
//! writes the files. Flow records are ordered by [`OrderKey`](crate::dispatch::batch::OrderKey),
//! packet lines by packet number; a record is written once every worker's watermark shows it
//! cannot produce an earlier one, so the order does not depend on thread timing.

use crate::dispatch::batch::OutBatch;
use crate::dispatch::ring::Ring;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

/// Output files (any may be absent).
pub struct Sinks {
    pub flows_txt: Option<Box<dyn Write + Send>>,
    pub flows_json: Option<Box<dyn Write + Send>>,
    pub packets: Option<Box<dyn Write + Send>>,
}

/// What the writer did.
#[derive(Debug, Default, Clone, Copy)]
pub struct WriterStats {
    pub records: u64,
    pub packet_lines: u64,
}

struct Lane {
    batches: VecDeque<Box<OutBatch>>,
    watermark: u64,
    done: bool,
}

/// Runs the writer until every worker is done. `rings[w]`/`free[w]` belong to worker `w`.
pub fn run(
    rings: Vec<Arc<Ring<Box<OutBatch>>>>,
    free: Vec<Arc<Ring<Box<OutBatch>>>>,
    mut sinks: Sinks,
) -> io::Result<WriterStats> {
    for r in &rings {
        r.register_consumer();
    }
    for f in &free {
        f.register_producer();
    }
    let n = rings.len();
    let mut lanes: Vec<Lane> = (0..n)
        .map(|_| Lane {
            batches: VecDeque::new(),
            watermark: 0,
            done: false,
        })
        .collect();
    // records and packet lines are consumed with independent cursors (batch index in the lane,
    // position in the batch); a cursor past its batch moves to the next one
    let mut rec_cur: Vec<(usize, usize)> = vec![(0, 0); n];
    let mut pkt_cur: Vec<(usize, usize)> = vec![(0, 0); n];
    let mut stats = WriterStats::default();
    loop {
        let mut got = false;
        for w in 0..n {
            while let Some(b) = rings[w].try_pop() {
                lanes[w].watermark = b.watermark;
                lanes[w].done |= b.done;
                lanes[w].batches.push_back(b);
                got = true;
            }
        }
        let min_wm = lanes
            .iter()
            .map(|l| if l.done { u64::MAX } else { l.watermark })
            .min()
            .unwrap_or(u64::MAX);
        let all_done = lanes.iter().all(|l| l.done);

        // flow records
        loop {
            let mut best: Option<(crate::dispatch::batch::OrderKey, usize)> = None;
            for w in 0..n {
                let (bi, ri) = rec_cur[w];
                let lane = &lanes[w];
                let mut bi = bi;
                let mut ri = ri;
                while bi < lane.batches.len() && ri >= lane.batches[bi].recs.len() {
                    bi += 1;
                    ri = 0;
                }
                rec_cur[w] = (bi, ri);
                if bi < lane.batches.len() {
                    let k = lane.batches[bi].recs[ri].key;
                    if best.map_or(true, |(bk, _)| k < bk) {
                        best = Some((k, w));
                    }
                }
            }
            let Some((k, w)) = best else { break };
            if !(all_done || k.event <= min_wm) {
                break;
            }
            let (bi, ri) = rec_cur[w];
            let b = &lanes[w].batches[bi];
            let txt_start = if ri == 0 {
                0
            } else {
                b.recs[ri - 1].txt_end as usize
            };
            let json_start = if ri == 0 {
                0
            } else {
                b.recs[ri - 1].json_end as usize
            };
            let r = b.recs[ri];
            if let Some(o) = sinks.flows_txt.as_mut() {
                o.write_all(&b.txt[txt_start..r.txt_end as usize])?;
            }
            if let Some(o) = sinks.flows_json.as_mut() {
                o.write_all(&b.json[json_start..r.json_end as usize])?;
            }
            stats.records += 1;
            rec_cur[w] = (bi, ri + 1);
        }

        // packet lines
        loop {
            let mut best: Option<(u64, usize)> = None;
            for w in 0..n {
                let (mut bi, mut pi) = pkt_cur[w];
                let lane = &lanes[w];
                while bi < lane.batches.len() && pi >= lane.batches[bi].pkts.len() {
                    bi += 1;
                    pi = 0;
                }
                pkt_cur[w] = (bi, pi);
                if bi < lane.batches.len() {
                    let no = lane.batches[bi].pkts[pi].0;
                    if best.map_or(true, |(b, _)| no < b) {
                        best = Some((no, w));
                    }
                }
            }
            let Some((no, w)) = best else { break };
            if !(all_done || no <= min_wm) {
                break;
            }
            let (bi, pi) = pkt_cur[w];
            let b = &lanes[w].batches[bi];
            let start = if pi == 0 {
                0
            } else {
                b.pkts[pi - 1].1 as usize
            };
            if let Some(o) = sinks.packets.as_mut() {
                o.write_all(&b.pkt_txt[start..b.pkts[pi].1 as usize])?;
            }
            stats.packet_lines += 1;
            pkt_cur[w] = (bi, pi + 1);
        }

        // recycle batches both cursors have left
        for w in 0..n {
            while rec_cur[w].0 > 0 && pkt_cur[w].0 > 0 {
                let Some(mut b) = lanes[w].batches.pop_front() else {
                    break;
                };
                rec_cur[w].0 -= 1;
                pkt_cur[w].0 -= 1;
                b.clear();
                let _ = free[w].try_push(b);
            }
        }

        if all_done
            && (0..n).all(|w| {
                rec_cur[w].0 >= lanes[w].batches.len() && pkt_cur[w].0 >= lanes[w].batches.len()
            })
        {
            break;
        }
        if !got {
            // wait on the lane that holds the others back
            let w = (0..n)
                .filter(|&w| !lanes[w].done)
                .min_by_key(|&w| lanes[w].watermark)
                .unwrap_or(0);
            if let Some(b) = rings[w].pop_timeout(Duration::from_millis(5)) {
                lanes[w].watermark = b.watermark;
                lanes[w].done |= b.done;
                lanes[w].batches.push_back(b);
            }
        }
    }
    for o in [
        sinks.flows_txt.as_mut(),
        sinks.flows_json.as_mut(),
        sinks.packets.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        o.flush()?;
    }
    Ok(stats)
}
