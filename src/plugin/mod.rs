//! The plugin interface: T2's callbacks (init, column description, new flow, layer 2, layer 4,
//! flow terminate, report, monitoring, finalize) for compiled-in plugins chosen at run time.
//!
//! Every worker owns one instance of each plugin; an instance keeps the per-flow state of the
//! flows in its worker's shard, in an array indexed by flow slot ([`SlotVec`]). At the end the
//! instances are merged ([`Plugin::merge`]) and the merged one prints the report lines.

use crate::config::Config;
use crate::dissect::PacketInfo;
use crate::flow::table::{Flow, FlowTable};
use crate::output::columns::{Column, Record};
use crate::time::Ts;
use std::any::Any;

/// One packet as the plugins see it.
pub struct Pkt<'a> {
    /// Captured bytes (caplen).
    pub data: &'a [u8],
    pub info: &'a PacketInfo,
    /// The packet's hdrDesc.
    pub hdr_desc: &'a [u8],
    pub ts: Ts,
    /// Original wire length.
    pub len: u32,
    /// Global packet number (1-based, capture order).
    pub pkt_no: u64,
}

impl Pkt<'_> {
    pub fn caplen(&self) -> u32 {
        self.data.len() as u32
    }
    /// Bytes from offset `off` to the end of the capture (empty for [`crate::dissect::NONE`]).
    pub fn from(&self, off: u32) -> &[u8] {
        self.data.get(off as usize..).unwrap_or(&[])
    }
}

/// What a plugin may touch while it handles a packet of a flow.
pub struct FlowCx<'a> {
    pub table: &'a mut FlowTable,
    pub slot: u32,
    /// The worker's aggregated status word (goes into the report's "Aggregated flowStat").
    pub global_warn: &'a mut u64,
    /// Packet-mode line being built (`-s`): plugins append their columns, each followed by a tab.
    pub pkt_line: Option<&'a mut Vec<u8>>,
    /// Flows a plugin asks to be written and removed after this packet (T2's T2_RM_FLOW).
    pub remove: &'a mut Vec<u32>,
}

impl FlowCx<'_> {
    pub fn flow(&self) -> &Flow {
        self.table.get(self.slot)
    }
    pub fn flow_mut(&mut self) -> &mut Flow {
        self.table.get_mut(self.slot)
    }
    pub fn partner(&self) -> Option<u32> {
        self.flow().partner()
    }
    /// Changes the flow's timeout. The value must be one the plugin registered with
    /// [`Plugin::timeouts`], otherwise the flow is only looked at by the longer handlers.
    pub fn set_timeout(&mut self, seconds: f32) {
        self.table.set_timeout(self.slot, seconds);
    }
    /// Sets the timeout of the opposite flow, if there is one (a plugin aborting a connection
    /// must shorten both directions: a pair leaves only when both are due).
    pub fn set_partner_timeout(&mut self, seconds: f32) {
        if let Some(p) = self.partner() {
            self.table.set_timeout(p, seconds);
        }
    }
    /// Marks the flow (and its partner) to be written and removed after this packet
    /// (T2's FORCE_MODE / T2_RM_FLOW). The flow gets RMFLOW.
    pub fn force_remove(&mut self) {
        self.flow_mut().status |= crate::flowstat::RMFLOW;
        *self.global_warn |= crate::flowstat::RMFLOW;
        if !self.remove.contains(&self.slot) {
            self.remove.push(self.slot);
        }
    }
    /// Raises an alarm on the flow: FL_ALARM on the flow and in the aggregated flowStat, and
    /// one more alarm in the report. With ALARM_MODE=1 only alarmed flows are written.
    pub fn alarm(&mut self) {
        self.flow_mut().status |= crate::flowstat::FL_ALARM;
        *self.global_warn |= crate::flowstat::FL_ALARM;
        self.table.alarms += 1;
    }
}

/// Context for the end-of-flow callback.
pub struct TermCx<'a> {
    pub table: &'a FlowTable,
    pub slot: u32,
}

impl TermCx<'_> {
    pub fn flow(&self) -> &Flow {
        self.table.get(self.slot)
    }
    pub fn partner(&self) -> Option<u32> {
        self.flow().partner()
    }
}

/// Totals a plugin may need for its report lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReportTotals {
    /// All processed packets.
    pub packets: u64,
    /// Captured bytes of packets attached to flows (numABytes + numBBytes).
    pub ab_bytes: u64,
}

/// The plugin callbacks. All have empty defaults: a plugin implements what it needs.
pub trait Plugin: Send {
    /// T2's plugin name (`basicFlow`, `tcpFlags`, …).
    fn name(&self) -> &'static str;

    /// flows.txt columns, in order.
    fn columns(&self) -> Vec<Column> {
        Vec::new()
    }

    /// packets.txt column names (packet mode, `-s`).
    fn packet_columns(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Timeout values this plugin will give flows (T2's timeout_handler_add), in seconds.
    fn timeouts(&self) -> Vec<f32> {
        Vec::new()
    }

    /// Whether the plugin reads [`crate::dissect::PacketInfo::l4_word_sum`] (an L4 checksum
    /// over the payload): the packet's reader then computes it. The default is no.
    fn wants_l4_word_sum(&self) -> bool {
        false
    }

    /// A hint that a packet of the flow in `slot` (or a new flow that would get that slot)
    /// comes soon: a plugin with large per-flow state may prefetch it
    /// ([`SlotVec::prefetch`]). Must not change any state; the default does nothing.
    fn prefetch(&self, _slot: u32) {}

    /// A hint that a packet of the opposite direction of the flow in `slot` comes soon: a
    /// plugin that reads the opposite's state at each packet may prefetch the part it reads.
    /// Must not change any state; the default does nothing.
    fn prefetch_opposite(&self, _slot: u32) {}

    /// Whether the plugin's packet callbacks read the core [`crate::flow::table::Flow`] of
    /// the opposite direction (its last packet's time, its status) in flow mode: the worker
    /// then prefetches those lines a few packets ahead. The default is no, and then nobody
    /// pays for two cache lines a packet that nothing reads (with a million flows they are
    /// misses).
    fn reads_opposite_flow(&self) -> bool {
        false
    }

    /// A flow was created for `pkt` (called before the packet's layer callbacks).
    fn on_new_flow(&mut self, _cx: &mut FlowCx, _pkt: &Pkt) {}

    /// A packet of a layer-2 flow.
    fn on_layer2(&mut self, _cx: &mut FlowCx, _pkt: &Pkt) {}

    /// A packet of an IP flow.
    fn on_layer4(&mut self, _cx: &mut FlowCx, _pkt: &Pkt) {}

    /// The flow is written: append this plugin's columns to `rec`.
    fn on_flow_terminate(&mut self, _cx: &TermCx, _rec: &mut Record) {}

    /// Folds another worker's instance (same plugin) into this one, for the end report.
    fn merge(&mut self, _other: &dyn Plugin) {}

    /// End-report lines (without the `name: ` prefix).
    fn report(&self, _totals: &ReportTotals, _out: &mut Vec<String>) {}

    /// Monitoring columns (names) and values for the machine report.
    fn monitoring_columns(&self) -> Vec<String> {
        Vec::new()
    }
    fn monitoring_values(&self, _out: &mut Vec<String>) {}
    /// Resets the counters behind differential monitoring values.
    fn monitoring_reset(&mut self) {}

    fn as_any(&self) -> &dyn Any;
}

/// Folds every worker's plugin instances into the first worker's (for the end report).
pub fn merge_instances(
    mut workers: impl Iterator<Item = Vec<Box<dyn Plugin>>>,
) -> Vec<Box<dyn Plugin>> {
    let Some(mut merged) = workers.next() else {
        return Vec::new();
    };
    for other in workers {
        for (m, o) in merged.iter_mut().zip(other.iter()) {
            m.merge(o.as_ref());
        }
    }
    merged
}

/// Per-flow plugin state indexed by flow slot; grows with the flow table.
///
/// Stored in fixed-size chunks, like the flow arena: growing never copies the states of the
/// flows already there (no second copy to fault in, no transient doubling of memory).
#[derive(Clone, Debug)]
pub struct SlotVec<T> {
    /// Chunks of a fixed size: indexing within one needs no bounds check.
    chunks: Vec<Box<[T; SLOT_CHUNK]>>,
}

const SLOT_CHUNK_BITS: u32 = 12;
const SLOT_CHUNK: usize = 1 << SLOT_CHUNK_BITS;

impl<T: Default + Clone> Default for SlotVec<T> {
    fn default() -> Self {
        SlotVec { chunks: Vec::new() }
    }
}

impl<T: Default + Clone> SlotVec<T> {
    #[inline]
    fn at(&self, slot: u32) -> Option<&T> {
        self.chunks
            .get((slot >> SLOT_CHUNK_BITS) as usize)
            .map(|c| &c[slot as usize & (SLOT_CHUNK - 1)])
    }

    /// Adds chunks until chunk `c` exists.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, c: usize) {
        while self.chunks.len() <= c {
            let chunk: Box<[T]> = vec![T::default(); SLOT_CHUNK].into_boxed_slice();
            match chunk.try_into() {
                Ok(chunk) => self.chunks.push(chunk),
                Err(_) => unreachable!("a chunk has SLOT_CHUNK states"),
            }
        }
    }

    /// The state of `slot`, whatever it held (growing the array if needed): for a new flow,
    /// or for state written before it is read (the caller sets every field it reads later;
    /// see [`SlotVec::reset`]).
    #[inline]
    pub fn fresh(&mut self, slot: u32) -> &mut T {
        let c = (slot >> SLOT_CHUNK_BITS) as usize;
        if c >= self.chunks.len() {
            self.grow(c);
        }
        &mut self.chunks[c][slot as usize & (SLOT_CHUNK - 1)]
    }

    /// Resets the state of `slot` for a new flow (growing the array if needed).
    #[inline]
    pub fn reset(&mut self, slot: u32) -> &mut T {
        let x = self.fresh(slot);
        *x = T::default();
        x
    }
    /// Sets the state of `slot` for a new flow to `v` (growing the array if needed): one
    /// write of the value the caller built, instead of a default then the fields changed.
    #[inline]
    pub fn reset_to(&mut self, slot: u32, v: T) -> &mut T {
        let x = self.fresh(slot);
        *x = v;
        x
    }
    #[inline]
    pub fn get(&self, slot: u32) -> &T {
        match self.at(slot) {
            Some(x) => x,
            None => panic!("SlotVec: slot {slot} was never reset"),
        }
    }
    /// Prefetch hint for the state of `slot` (all its cache lines); no effect on the contents.
    #[inline]
    pub fn prefetch(&self, slot: u32) {
        if let Some(x) = self.at(slot) {
            // every cache line the state spans (the pointers are never dereferenced)
            let p = x as *const T as *const u8;
            let end = p.wrapping_add(std::mem::size_of::<T>()) as usize;
            let mut line = p.wrapping_sub(p as usize & 63);
            while (line as usize) < end {
                crate::flow::table::prefetch_ptr(line);
                line = line.wrapping_add(64);
            }
        }
    }
    #[inline]
    pub fn get_mut(&mut self, slot: u32) -> &mut T {
        match self.chunks.get_mut((slot >> SLOT_CHUNK_BITS) as usize) {
            Some(c) => &mut c[slot as usize & (SLOT_CHUNK - 1)],
            None => panic!("SlotVec: slot {slot} was never reset"),
        }
    }
}

/// A registered plugin kind: name and constructor.
pub struct PluginInfo {
    pub name: &'static str,
    pub make: fn(&Config) -> Box<dyn Plugin>,
    /// Run-time settings (T2 constant names) the plugin reads, with default and meaning.
    pub settings: &'static [(&'static str, &'static str, &'static str)],
}

#[cfg(test)]
mod tests {
    use super::SlotVec;

    #[test]
    fn slot_vec_grows_in_chunks_and_keeps_states() {
        let mut v: SlotVec<(u64, u32)> = SlotVec::default();
        for s in [0u32, 5, 4095, 4096, 20_000, 3] {
            *v.reset(s) = (s as u64, 7);
        }
        for s in [0u32, 5, 4095, 4096, 20_000, 3] {
            assert_eq!(*v.get(s), (s as u64, 7));
        }
        // slots of allocated chunks that were never reset hold the default
        assert_eq!(*v.get(1), (0, 0));
        v.get_mut(4096).1 = 9;
        v.prefetch(4096);
        v.prefetch(1 << 30); // a hint only, also for slots that do not exist
        assert_eq!(v.reset(4096).1, 0, "reset gives a fresh state");
        assert_eq!(*v.reset_to(4096, (1, 2)), (1, 2));
        assert_eq!(
            *v.reset_to(9000, (3, 4)),
            (3, 4),
            "reset_to grows the array too"
        );
        assert_eq!(*v.get(9000), (3, 4));
        assert_eq!(*v.get(4096), (1, 2));
        assert_eq!(*v.get(8999), (0, 0));
    }
}
