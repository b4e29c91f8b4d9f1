//! Flows: the per-worker flow table and the worker that runs T2's flow stage on it.

pub mod table;
pub mod worker;
