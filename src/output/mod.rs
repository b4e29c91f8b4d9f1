//! Sinks and output files: typed records ([`columns`]), their text ([`txt`]) and JSON ([`json`])
//! forms, file naming ([`prefix`]) and the writer thread ([`writer`]).

pub mod columns;
pub mod flowind;
pub mod json;
pub mod prefix;
pub mod rotate;
pub mod txt;
pub mod writer;
