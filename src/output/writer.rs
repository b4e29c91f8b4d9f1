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
    /// (event, minor) bound of the lane's later output (see `OutBatch::watermark`).
    watermark: (u64, u64),
    done: bool,
}

/// A cursor over one kind of item (records, packet lines, flow creations) of a lane: batch
/// index in the lane and position in that batch. A cursor past its batch moves to the next.
#[derive(Clone, Copy, Default)]
struct Cursor {
    batch: usize,
    pos: usize,
}

impl Cursor {
    /// Normalises the cursor and returns the batch/position of the next item, if any.
    fn next(&mut self, lane: &Lane, len: impl Fn(&OutBatch) -> usize) -> Option<(usize, usize)> {
        while self.batch < lane.batches.len() && self.pos >= len(&lane.batches[self.batch]) {
            self.batch += 1;
            self.pos = 0;
        }
        (self.batch < lane.batches.len()).then_some((self.batch, self.pos))
    }
}

/// Replaces the provisional flowInd between the first `sep0` and the following `sep1` of `text`
/// (the second column of a line, or `"flowInd":N` in JSON) with the global one.
fn write_renumbered(
    o: &mut dyn Write,
    text: &[u8],
    skip: usize,
    end: u8,
    map: &std::collections::HashMap<u64, u64>,
) -> io::Result<()> {
    let start = skip.min(text.len());
    let stop = text[start..]
        .iter()
        .position(|&c| c == end)
        .map_or(text.len(), |i| start + i);
    let prov = std::str::from_utf8(&text[start..stop])
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    match prov.and_then(|p| map.get(&p)) {
        Some(g) => {
            // one write per record: rotating sinks count records by writes
            let mut line = Vec::with_capacity(text.len() + 8);
            line.extend_from_slice(&text[..start]);
            crate::textfmt::push_u64(&mut line, *g);
            line.extend_from_slice(&text[stop..]);
            o.write_all(&line)
        }
        None => o.write_all(text),
    }
}

/// Runs the writer until every worker is done. `rings[w]`/`free[w]` belong to worker `w`.
///
/// With several workers, flowInd is renumbered here to T2's numbering (flows in creation
/// order): workers announce each creation with its packet number, the writer merges these in
/// capture order and rewrites the provisional index in every packet line and record.
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
    let renumber = n > 1;
    let mut lanes: Vec<Lane> = (0..n)
        .map(|_| Lane {
            batches: VecDeque::new(),
            watermark: (0, 0),
            done: false,
        })
        .collect();
    let mut rec_cur = vec![Cursor::default(); n];
    let mut pkt_cur = vec![Cursor::default(); n];
    let mut new_cur = vec![Cursor::default(); n];
    let mut global: std::collections::HashMap<u64, u64> = std::collections::HashMap::new();
    let mut next_ind = 0u64;
    let mut stats = WriterStats::default();
    let mut order_bits = 0u64;
    loop {
        let mut got = false;
        for w in 0..n {
            while let Some(b) = rings[w].try_pop() {
                lanes[w].watermark = b.bound();
                lanes[w].done |= b.done;
                lanes[w].batches.push_back(b);
                got = true;
            }
        }
        let min_wm = lanes
            .iter()
            .map(|l| {
                if l.done {
                    (u64::MAX, u64::MAX)
                } else {
                    l.watermark
                }
            })
            .min()
            .unwrap_or((u64::MAX, u64::MAX));
        let all_done = lanes.iter().all(|l| l.done);
        // creations and packet lines are keyed by packet number, records by (event, minor)
        let ready = |k: u64| all_done || k <= min_wm.0;
        let ready_rec =
            |k: &crate::dispatch::batch::OrderKey| all_done || (k.event, k.minor) <= min_wm;

        // flow creations, in capture order: the global flowInd
        if renumber {
            loop {
                let mut best: Option<(u64, usize)> = None;
                for w in 0..n {
                    if let Some((bi, i)) = new_cur[w].next(&lanes[w], |b| b.created.len()) {
                        let no = lanes[w].batches[bi].created[i].0;
                        if best.map_or(true, |(b, _)| no < b) {
                            best = Some((no, w));
                        }
                    }
                }
                let Some((no, w)) = best else { break };
                if !ready(no) {
                    break;
                }
                let c = new_cur[w];
                let prov = lanes[w].batches[c.batch].created[c.pos].1;
                next_ind += 1;
                global.insert(prov, next_ind);
                new_cur[w].pos += 1;
            }
        }

        // packet lines (before the records: a record may retire its flow's global number)
        loop {
            let mut best: Option<(u64, usize)> = None;
            for w in 0..n {
                if let Some((bi, pi)) = pkt_cur[w].next(&lanes[w], |b| b.pkts.len()) {
                    let no = lanes[w].batches[bi].pkts[pi].0;
                    if best.map_or(true, |(b, _)| no < b) {
                        best = Some((no, w));
                    }
                }
            }
            let Some((no, w)) = best else { break };
            if !ready(no) {
                break;
            }
            let Cursor { batch: bi, pos: pi } = pkt_cur[w];
            let b = &lanes[w].batches[bi];
            let start = if pi == 0 {
                0
            } else {
                b.pkts[pi - 1].1 as usize
            };
            let line = &b.pkt_txt[start..b.pkts[pi].1 as usize];
            if let Some(o) = sinks.packets.as_mut() {
                if renumber {
                    // "<pktNo>\t<flowInd>\t..."
                    let skip = line.iter().position(|&c| c == b'\t').map_or(0, |i| i + 1);
                    write_renumbered(o.as_mut(), line, skip, b'\t', &global)?;
                } else {
                    o.write_all(line)?;
                }
            }
            stats.packet_lines += 1;
            pkt_cur[w].pos += 1;
        }

        // flow records
        loop {
            let mut best: Option<(crate::dispatch::batch::OrderKey, usize)> = None;
            for w in 0..n {
                if let Some((bi, ri)) = rec_cur[w].next(&lanes[w], |b| b.recs.len()) {
                    let k = lanes[w].batches[bi].recs[ri].key;
                    if best.map_or(true, |(bk, _)| k < bk) {
                        best = Some((k, w));
                    }
                }
            }
            let Some((k, w)) = best else { break };
            if !ready_rec(&k) {
                break;
            }
            let Cursor { batch: bi, pos: ri } = rec_cur[w];
            let b = &lanes[w].batches[bi];
            let txt_start = if ri == 0 {
                0
            } else {
                b.recs[ri - 1].alt_txt_end as usize
            };
            let json_start = if ri == 0 {
                0
            } else {
                b.recs[ri - 1].alt_json_end as usize
            };
            let r = b.recs[ri];
            // records whose text depends on the flows written before them (in global order)
            order_bits |= r.sets;
            let (txt, json) = if r.needs != 0 && order_bits & r.needs != 0 {
                (
                    r.txt_end as usize..r.alt_txt_end as usize,
                    r.json_end as usize..r.alt_json_end as usize,
                )
            } else {
                (
                    txt_start..r.txt_end as usize,
                    json_start..r.json_end as usize,
                )
            };
            if let Some(o) = sinks.flows_txt.as_mut() {
                if renumber {
                    // "A\t<flowInd>\t..."
                    write_renumbered(o.as_mut(), &b.txt[txt], 2, b'\t', &global)?;
                } else {
                    o.write_all(&b.txt[txt])?;
                }
            }
            if let Some(o) = sinks.flows_json.as_mut() {
                if renumber {
                    // {"dir":"A","flowInd":<n>,...
                    write_renumbered(o.as_mut(), &b.json[json], 21, b',', &global)?;
                } else {
                    o.write_all(&b.json[json])?;
                }
            }
            if renumber && r.last_of_flow {
                global.remove(&r.prov_ind);
            }
            stats.records += 1;
            rec_cur[w].pos += 1;
        }

        // recycle batches every cursor has left
        for w in 0..n {
            // (record and packet cursors were left normalised by their loops)
            new_cur[w].next(&lanes[w], |b| if renumber { b.created.len() } else { 0 });
            while rec_cur[w].batch > 0 && pkt_cur[w].batch > 0 && new_cur[w].batch > 0 {
                let Some(mut b) = lanes[w].batches.pop_front() else {
                    break;
                };
                rec_cur[w].batch -= 1;
                pkt_cur[w].batch -= 1;
                new_cur[w].batch -= 1;
                b.clear();
                let _ = free[w].try_push(b);
            }
        }

        if all_done
            && (0..n).all(|w| {
                let len = lanes[w].batches.len();
                rec_cur[w].batch >= len && pkt_cur[w].batch >= len && new_cur[w].batch >= len
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
                lanes[w].watermark = b.bound();
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
