//! The writer thread: merges the workers' output batches into one deterministic order and
//! writes the files. Flow records are ordered by [`OrderKey`](crate::dispatch::batch::OrderKey),
//! packet lines by packet number; a record is written once every worker's watermark shows it
//! cannot produce an earlier one, so the order does not depend on thread timing.

use super::columns::Column;
use super::flowind::GlobalInds;
use super::{json, txt};
use crate::dispatch::batch::OutBatch;
use crate::dispatch::placement::Placement;
use crate::dispatch::ring::Ring;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

/// Output files (any may be absent) and the flow records' columns.
pub struct Sinks {
    pub columns: Arc<Vec<Column>>,
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

/// The value of a decimal number written by `textfmt::push_u64` (digits only, no overflow).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |v, &c| {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// Appends `text` to `out`, with the provisional flowInd that starts at `skip` and ends at the
/// next `end` byte (the second column of a line, or `"flowInd":N` in JSON) replaced by the
/// global one; unchanged when the number is not in `map`.
fn push_renumbered(out: &mut Vec<u8>, text: &[u8], skip: usize, end: u8, map: &GlobalInds) {
    let start = skip.min(text.len());
    let stop = text[start..]
        .iter()
        .position(|&c| c == end)
        .map_or(text.len(), |i| start + i);
    match parse_decimal(&text[start..stop]).and_then(|p| map.get(p)) {
        Some(global) => {
            out.extend_from_slice(&text[..start]);
            crate::textfmt::push_u64(out, global);
            out.extend_from_slice(&text[stop..]);
        }
        None => out.extend_from_slice(text),
    }
}

/// Where a record keeps its flowInd: the direction byte, then the index as a little-endian
/// u64 (the worker's `emit` writes them first).
const FLOW_IND: std::ops::Range<usize> = 1..9;

/// Gives a record the global flowInd of its provisional one (kept when not in `map`).
fn renumber_record(rec: &mut [u8], map: &GlobalInds) {
    let Some(b) = rec.get_mut(FLOW_IND) else {
        return;
    };
    let prov = u64::from_le_bytes(b.try_into().expect("8 bytes"));
    if let Some(global) = map.get(prov) {
        b.copy_from_slice(&global.to_le_bytes());
    }
}

/// Formats one flow record into `scratch` (reused, so no allocation per record) and writes it
/// with one `write_all`: rotating sinks count records by writes.
fn write_record(
    o: &mut dyn Write,
    scratch: &mut Vec<u8>,
    format: impl FnOnce(&mut Vec<u8>),
) -> io::Result<()> {
    scratch.clear();
    format(scratch);
    o.write_all(scratch)
}

/// Writes one record formatted by its worker, with its provisional flowInd (starting at
/// `skip`, ending at the next `end` byte) replaced by the global one when `renumber`. One
/// `write_all` per record, as [`write_record`].
fn write_text_renumbered(
    o: &mut dyn Write,
    scratch: &mut Vec<u8>,
    text: &[u8],
    skip: usize,
    end: u8,
    renumber: bool,
    map: &GlobalInds,
) -> io::Result<()> {
    if !renumber {
        return o.write_all(text);
    }
    scratch.clear();
    push_renumbered(scratch, text, skip, end, map);
    o.write_all(scratch)
}

/// Packet lines are gathered (merged and renumbered) into one buffer and handed to the sink
/// in pieces of at least this size: a buffered sink passes writes this large straight to the
/// file, so each byte is copied once in user space, and packets.txt costs few syscalls.
const PKT_GATHER: usize = 2 << 20;

/// Runs the writer until every worker is done. `rings[w]`/`free[w]` belong to worker `w`.
///
/// Flow records arrive as typed values and are formatted here, once each (only the chosen
/// rendering of a forked record). With several workers, flowInd is renumbered here to T2's
/// numbering (flows in creation order): workers announce each creation with its packet number,
/// the writer merges these in capture order and rewrites the provisional index in every packet
/// line and record.
pub fn run(
    rings: Vec<Arc<Ring<Box<OutBatch>>>>,
    free: Vec<Arc<Ring<Box<OutBatch>>>>,
    mut sinks: Sinks,
    mut placement: Option<Placement>,
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
    let mut global = GlobalInds::new(n);
    let mut scratch = Vec::new();
    let mut txt_fmt = txt::TxtFormatter::new(&sinks.columns);
    let mut json_fmt = json::JsonFormatter::new(&sinks.columns);
    let mut pkt_gather: Vec<u8> = Vec::new();
    let mut next_ind = 0u64;
    let mut stats = WriterStats::default();
    let mut order_bits = 0u64;
    let mut spare: Vec<Vec<Box<OutBatch>>> = (0..n).map(|_| Vec::new()).collect();
    loop {
        let mut got = false;
        for w in 0..n {
            while let Some(b) = rings[w].try_pop() {
                if renumber {
                    // a batch's records are looked up soon: their windows' lines, all at once
                    for r in &b.recs {
                        global.prefetch(r.prov_ind);
                    }
                }
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
                    push_renumbered(&mut pkt_gather, line, skip, b'\t', &global);
                } else {
                    pkt_gather.extend_from_slice(line);
                }
                if pkt_gather.len() >= PKT_GATHER {
                    o.write_all(&pkt_gather)?;
                    pkt_gather.clear();
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
            let b = &mut lanes[w].batches[bi];
            let start = if ri == 0 {
                0
            } else {
                b.recs[ri - 1].alt_end as usize
            };
            let r = b.recs[ri];
            // records whose values depend on the flows written before them (in global order)
            order_bits |= r.sets;
            let alt = r.needs != 0 && order_bits & r.needs != 0;
            let (range, split) = if alt {
                (r.end as usize..r.alt_end as usize, r.alt_split as usize)
            } else {
                (start..r.end as usize, r.split as usize)
            };
            if r.text {
                // formatted by the worker (end-of-input flush): flows.txt line, flows.json line
                let (txt, json) = (&b.records[range.start..split], &b.records[split..range.end]);
                if let Some(o) = sinks.flows_txt.as_mut() {
                    // "A\t<flowInd>\t..."
                    write_text_renumbered(
                        o.as_mut(),
                        &mut scratch,
                        txt,
                        2,
                        b'\t',
                        renumber,
                        &global,
                    )?;
                }
                if let Some(o) = sinks.flows_json.as_mut() {
                    // {"dir":"A","flowInd":<n>,...
                    write_text_renumbered(
                        o.as_mut(),
                        &mut scratch,
                        json,
                        21,
                        b',',
                        renumber,
                        &global,
                    )?;
                }
            } else {
                let rec = &mut b.records[range];
                if renumber {
                    renumber_record(rec, &global);
                }
                if let Some(o) = sinks.flows_txt.as_mut() {
                    write_record(o.as_mut(), &mut scratch, |s| txt_fmt.write(rec, s))?;
                }
                if let Some(o) = sinks.flows_json.as_mut() {
                    write_record(o.as_mut(), &mut scratch, |s| json_fmt.write(rec, s))?;
                }
            }
            if renumber && r.last_of_flow {
                global.remove(r.prov_ind);
            }
            stats.records += 1;
            rec_cur[w].pos += 1;
        }

        // recycle batches every cursor has left
        for w in 0..n {
            // batches the full return ring refused earlier, first
            while let Some(b) = spare[w].pop() {
                if let Err(b) = free[w].try_push(b) {
                    spare[w].push(b);
                    break;
                }
            }
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
                // kept rather than freed when the ring is full: while a lane waits for the
                // other's watermark its worker allocates fresh batches, and in packet mode
                // (~180 KB each) freeing and reallocating them cost page faults
                if let Err(b) = free[w].try_push(b) {
                    spare[w].push(b);
                }
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
            // with a worker on every CPU: not on the CPU of the worker that is behind
            if let Some(p) = placement.as_mut() {
                p.keep_off(Some(w));
            }
            if let Some(b) = rings[w].pop_timeout(Duration::from_millis(5)) {
                lanes[w].watermark = b.bound();
                lanes[w].done |= b.done;
                lanes[w].batches.push_back(b);
            } else if let Some(o) = sinks.packets.as_mut().filter(|_| !pkt_gather.is_empty()) {
                // idle (live capture): hand the gathered lines on instead of holding them
                o.write_all(&pkt_gather)?;
                pkt_gather.clear();
            }
        }
    }
    if let Some(o) = sinks.packets.as_mut() {
        o.write_all(&pkt_gather)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_parsing_takes_digits_only() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"4711"), Some(4711));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"+1"), None);
        assert_eq!(parse_decimal(b"1a"), None);
        assert_eq!(parse_decimal(b"0x1"), None);
    }

    #[test]
    fn renumbering_replaces_only_the_flow_index() {
        // worker 0 of 2 numbers its flows 1, 3, 5, ...
        let mut map = GlobalInds::new(2);
        for prov in 1..=10_000u64 {
            map.insert(prov * 2 + 1, prov);
        }
        let mut out = b"kept|".to_vec();
        push_renumbered(&mut out, b"17\t201\tx\ty\n", 3, b'\t', &map);
        assert_eq!(out, b"kept|17\t100\tx\ty\n");
        // unknown index or not a number: the line is kept as it is
        out.clear();
        push_renumbered(&mut out, b"17\t200\tx\n", 3, b'\t', &map);
        assert_eq!(out, b"17\t200\tx\n");
        out.clear();
        push_renumbered(&mut out, b"A\t-\tx\n", 2, b'\t', &map);
        assert_eq!(out, b"A\t-\tx\n");
        // the index runs to the end of the text when no separator follows
        out.clear();
        push_renumbered(&mut out, b"A\t20001", 2, b'\t', &map);
        assert_eq!(out, b"A\t10000");
        // JSON (records the workers formatted): {"dir":"A","flowInd":<n>,...
        let json = b"{\"dir\":\"A\",\"flowInd\":7,\"x\":1}\n";
        out.clear();
        push_renumbered(&mut out, json, 21, b',', &map);
        assert_eq!(out, b"{\"dir\":\"A\",\"flowInd\":3,\"x\":1}\n");
        // a skip beyond the text keeps it
        out.clear();
        push_renumbered(&mut out, b"A", 5, b'\t', &map);
        assert_eq!(out, b"A");
    }

    #[test]
    fn a_record_is_renumbered_in_place_and_written_once() {
        use crate::output::columns::{Record, Ty};
        struct Writes(Vec<Vec<u8>>);
        impl Write for Writes {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.push(buf.to_vec());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let cols = [
            Column::new("dir", &[Ty::Dir], ""),
            Column::new("flowInd", &[Ty::U64], ""),
            Column::new("x", &[Ty::U8], ""),
        ];
        let mut map = GlobalInds::new(2);
        map.insert(5, 2);
        let record = |dir: u8, ind: u64| {
            let mut r = Record::default();
            r.u8(dir);
            r.u64(ind);
            r.u8(7);
            r.buf
        };
        let mut sink = Writes(Vec::new());
        let mut scratch = b"stale".to_vec();
        for mut rec in [record(1, 5), record(0, 9)] {
            renumber_record(&mut rec, &map);
            write_record(&mut sink, &mut scratch, |s| {
                txt::write_record(&cols, &rec, s)
            })
            .unwrap();
        }
        write_record(&mut sink, &mut scratch, |s| {
            json::write_record(&cols, &record(0, 3), s)
        })
        .unwrap();
        assert_eq!(sink.0[0], b"B\t2\t7\n");
        assert_eq!(sink.0[1], b"A\t9\t7\n");
        assert_eq!(sink.0[2], b"{\"dir\":\"A\",\"flowInd\":3,\"x\":7}\n");
        assert_eq!(sink.0.len(), 3);
        // too short to hold an index: left alone
        let mut short = vec![0u8, 5];
        renumber_record(&mut short, &map);
        assert_eq!(short, [0, 5]);
    }
}
