//! Capture sources: where packets enter tamandua.
//!
//! Replay sources implement [`Source`]: they hand out records one at a time in capture order
//! (the reader thread then dissects and dispatches them). [`pcapfile`] reads one pcap/pcapng
//! file or stream.

pub mod afpacket;
pub mod afxdp;
pub mod decompress;
pub mod libpcap;
pub mod mapped;
pub mod pcapfile;
pub mod series;

pub use pcapfile::{FileFormat, InputError, PcapReader, Record};

/// A replay input: one file, a pipe, or a series of files read as one stream.
pub trait Source: Send {
    /// The next record, `Ok(None)` at the end. After an error the source is finished, except
    /// for [`series::is_pending`] ("no packet yet, ask again").
    fn next_record(&mut self) -> Result<Option<Record<'_>>, InputError>;
    /// Link type of the (first) input, for the start-up check and report.
    fn linktype(&self) -> u32;
    fn snaplen(&self) -> u32;
    /// Total bytes of the input(s) when known (completion percentage).
    fn file_size(&self) -> Option<u64>;
    /// Bytes consumed so far (progress).
    fn bytes_consumed(&self) -> u64;
    /// The name to print (`Processing file:`).
    fn name(&self) -> &str;
    fn is_pcapng(&self) -> bool;
}

impl Source for PcapReader {
    fn next_record(&mut self) -> Result<Option<Record<'_>>, InputError> {
        PcapReader::next_record(self)
    }
    fn linktype(&self) -> u32 {
        PcapReader::linktype(self)
    }
    fn snaplen(&self) -> u32 {
        PcapReader::snaplen(self)
    }
    fn file_size(&self) -> Option<u64> {
        PcapReader::file_size(self)
    }
    fn bytes_consumed(&self) -> u64 {
        PcapReader::bytes_consumed(self)
    }
    fn name(&self) -> &str {
        PcapReader::name(self)
    }
    fn is_pcapng(&self) -> bool {
        matches!(self.format(), FileFormat::Pcapng)
    }
}
