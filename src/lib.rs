//! tamandua: a multi-core flow analyzer that writes Tranalyzer2-compatible outputs.
//!
//! Where things are:
//! - a packet enters through [`capture`] (pcap/pcapng files; live sources),
//! - is dissected once by [`dissect`] (header views in [`wire`]),
//! - is handed by [`dispatch`] to the worker that owns its flow (symmetric hash, lock-free rings),
//! - lives in that worker's shard of the flow table ([`flow::table`], [`flow::worker`]), where the
//!   [`plugins`] (through the [`plugin`] interface) keep their per-flow state,
//! - and leaves as a record formatted by the sinks in [`output`] and written in a deterministic
//!   order by the writer thread ([`output::writer`]).
//!
//! [`report`] prints the end report; [`app`] wires the stages together for a run.

pub mod allocator;
pub mod app;
pub mod batch;
pub mod budget;
pub mod capture;
pub mod cli;
pub mod config;
pub mod control;
pub mod dispatch;
pub mod dissect;
pub mod flow;
pub mod flowstat;
pub mod live;
pub mod monitor;
pub mod output;
pub mod plugin;
pub mod plugins;
pub mod progress;
pub mod report;
pub mod textfmt;
pub mod textput;
pub mod time;
pub mod wire;

#[cfg(test)]
mod testutil;
