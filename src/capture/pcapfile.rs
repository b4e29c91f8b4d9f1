//! Classic pcap and pcapng file reader, written without libpcap.
//!
//! The reader sits at the head of a 10 Gbit/s pipeline, so it parses record headers in place
//! and hands out packet data as slices: no allocation and no copy per record. A plain file is
//! mapped window by window ([`super::mapped`]), and its records can travel to the workers
//! without a copy ([`Record::window`]); any other `std::io::Read` (stdin, a pipe, a
//! decompressor) is read in large chunks into one reusable buffer.
//!
//! Captures met in practice are frequently fuzzed or cut short, so every length taken from the
//! file is checked before use; malformed input yields an [`InputError`], never a panic. After an
//! error the reader is finished and [`PcapReader::next_record`] returns `Ok(None)`, so a caller
//! that logs the error and keeps looping cannot spin forever on the same bad bytes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::mapped::{self, MapWindow};
use crate::time::Ts;

/// Any record or block claiming more than this is treated as corruption rather than data: it
/// keeps a single flipped length bit from making us allocate gigabytes.
const MAX_RECORD: u32 = 256 << 20;
/// Large enough that a read system call is amortised over thousands of small packets.
const DEFAULT_BUF: usize = 1 << 20;

const PCAP_HDR_LEN: usize = 24;
const PCAP_REC_LEN: usize = 16;
const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;

const NG_SHB: u32 = 0x0a0d_0d0a;
const NG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const NG_IDB: u32 = 1;
const NG_PB: u32 = 2;
const NG_SPB: u32 = 3;
const NG_EPB: u32 = 6;
/// Type, length, byte-order magic, version and section length, plus the trailing length.
const NG_SHB_MIN_LEN: usize = 28;
const NG_OPT_TSRESOL: u16 = 9;
const NG_OPT_TSOFFSET: u16 = 14;

/// One captured packet. `data` borrows the reader's buffer, so it is only valid until the next
/// call to [`PcapReader::next_record`] — unless `window` is set: then `data` lies in that
/// mapping of the file, which stays valid as long as a clone of the `Arc` is kept.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    pub ts: Ts,
    pub caplen: u32,
    pub len: u32,
    pub linktype: u32,
    /// Exactly `caplen` bytes.
    pub data: &'a [u8],
    pub window: Option<&'a Arc<MapWindow>>,
}

/// A record consumed by [`PcapReader::take_buffered`]: its header fields and where its bytes
/// are in the reader's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Buffered {
    pub ts: Ts,
    pub caplen: u32,
    pub len: u32,
    data_at: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// `swapped` is relative to the host: true when the file's byte order differs from ours.
    Pcap {
        nanos: bool,
        swapped: bool,
    },
    Pcapng,
}

#[derive(Debug)]
pub struct InputError {
    pub path: String,
    /// File offset of the record or block at fault (for I/O errors: where reading failed).
    pub offset: u64,
    pub kind: InputErrorKind,
}

#[derive(Debug)]
pub enum InputErrorKind {
    Io(io::Error),
    /// Not a pcap/pcapng file; the text describes what was found instead (first bytes, or a
    /// hint such as "gzip-compressed").
    NotACapture(String),
    /// The record or header at `offset` needs `wanted` bytes but the input ended after `got`.
    Truncated {
        wanted: u64,
        got: u64,
    },
    /// A structurally impossible record or block (corrupt length, unknown interface...).
    BadRecord(String),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: offset {}: ", self.path, self.offset)?;
        match &self.kind {
            InputErrorKind::Io(e) => write!(f, "read error: {e}"),
            InputErrorKind::NotACapture(what) => write!(f, "not a pcap or pcapng file: {what}"),
            InputErrorKind::Truncated { wanted, got } => {
                write!(
                    f,
                    "truncated capture: record needs {wanted} bytes but the input ends after {got}"
                )
            }
            InputErrorKind::BadRecord(what) => write!(f, "corrupt record: {what}"),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            InputErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// How an interface's raw 64-bit timestamp maps to seconds + nanoseconds. The two common
/// resolutions get their own variants so that the per-packet division is by a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsConv {
    Micro,
    Nano,
    /// Units of 10^-exp seconds, exp ∉ {6, 9}.
    Dec(u8),
    /// Units of 2^-exp seconds.
    Bin(u8),
}

impl TsConv {
    fn from_tsresol(v: u8) -> TsConv {
        let exp = v & 0x7f;
        if v & 0x80 != 0 {
            TsConv::Bin(exp)
        } else {
            match exp {
                6 => TsConv::Micro,
                9 => TsConv::Nano,
                e => TsConv::Dec(e),
            }
        }
    }

    /// Returns (seconds, nanoseconds); nanoseconds are always < 1e9 here because pcapng
    /// timestamps are a single counter, unlike classic pcap's separate sub-second field.
    #[inline]
    fn convert(self, t: u64) -> (u64, u32) {
        match self {
            TsConv::Micro => (t / 1_000_000, ((t % 1_000_000) * 1000) as u32),
            TsConv::Nano => (t / 1_000_000_000, (t % 1_000_000_000) as u32),
            TsConv::Dec(e) => {
                let e = u32::from(e);
                if e <= 9 {
                    let per_sec = 10u64.pow(e);
                    (t / per_sec, ((t % per_sec) * 10u64.pow(9 - e)) as u32)
                } else if e <= 19 {
                    let per_sec = 10u64.pow(e);
                    (t / per_sec, ((t % per_sec) / 10u64.pow(e - 9)) as u32)
                } else {
                    // 10^e exceeds any u64 count: less than one second has elapsed.
                    let ns = if e - 9 <= 19 { t / 10u64.pow(e - 9) } else { 0 };
                    (0, ns as u32)
                }
            }
            TsConv::Bin(e) => {
                let e = u32::from(e);
                let (sec, frac) = if e >= 64 {
                    (0, t)
                } else {
                    (t >> e, t & ((1u64 << e) - 1))
                };
                (sec, ((u128::from(frac) * 1_000_000_000) >> e) as u32)
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    conv: TsConv,
    /// if_tsoffset: seconds to add to every timestamp of this interface.
    offset: i64,
}

/// Where the bytes come from.
enum Src {
    /// Read into a heap buffer (pipes, stdin, decompressors).
    Stream(Box<dyn Read + Send>),
    /// A regular file, mapped window by window. `size` is re-read when the last window ends
    /// (a file may grow while it is read); `consumed` follows the end of the mapped part.
    File {
        file: File,
        size: u64,
        consumed: Option<Arc<AtomicU64>>,
        /// Bytes mapped at a time ([`mapped::WINDOW`]; tests use a page).
        window: usize,
    },
}

/// The bytes at hand: a heap buffer ([`Src::Stream`]) or a mapped window ([`Src::File`]).
enum Buf {
    Heap(Vec<u8>),
    Map(Arc<MapWindow>),
}

impl Deref for Buf {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Buf::Heap(v) => v,
            Buf::Map(w) => w.bytes(),
        }
    }
}

impl Buf {
    #[inline]
    fn window(&self) -> Option<&Arc<MapWindow>> {
        match self {
            Buf::Map(w) => Some(w),
            Buf::Heap(_) => None,
        }
    }
}

pub struct PcapReader {
    src: Src,
    name: String,
    file_size: Option<u64>,
    /// Bytes `start..end` are read but not yet consumed.
    buf: Buf,
    start: usize,
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// Set after an error so the caller's loop ends instead of meeting the same error forever.
    done: bool,
    format: FileFormat,
    /// Byte order of the file (pcap) or of the current section (pcapng).
    big_endian: bool,
    nanos: bool,
    linktype: u32,
    snaplen: u32,
    seen_idb: bool,
    /// Interfaces of the current pcapng section, indexed by interface id.
    ifaces: Vec<Interface>,
}

#[inline(always)]
fn rd16(b: &[u8], off: usize, be: bool) -> u16 {
    let v = [b[off], b[off + 1]];
    if be {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

#[inline(always)]
fn rd32(b: &[u8], off: usize, be: bool) -> u32 {
    let v = [b[off], b[off + 1], b[off + 2], b[off + 3]];
    if be {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

#[inline(always)]
fn rd64(b: &[u8], off: usize, be: bool) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[off..off + 8]);
    if be {
        u64::from_be_bytes(v)
    } else {
        u64::from_le_bytes(v)
    }
}

/// Describes unrecognised leading bytes so the user can tell a wrong file from a compressed one.
fn describe_magic(b: &[u8]) -> String {
    let hint = if b.starts_with(&[0x1f, 0x8b]) {
        " (gzip-compressed; decompress it first)"
    } else if b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        " (zstd-compressed; decompress it first)"
    } else if b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z']) {
        " (xz-compressed; decompress it first)"
    } else if b.starts_with(b"BZh") {
        " (bzip2-compressed; decompress it first)"
    } else if b.starts_with(&[0xa1, 0xb2, 0xcd, 0x34]) || b.starts_with(&[0x34, 0xcd, 0xb2, 0xa1]) {
        " (Kuznetzov modified pcap, not supported)"
    } else {
        ""
    };
    let shown = &b[..b.len().min(8)];
    let hex: Vec<String> = shown.iter().map(|x| format!("{x:02x}")).collect();
    let ascii: String = shown
        .iter()
        .map(|&x| {
            if x.is_ascii_graphic() || x == b' ' {
                x as char
            } else {
                '.'
            }
        })
        .collect();
    format!(
        "unknown magic, first bytes are {} \"{}\"{}",
        hex.join(" "),
        ascii,
        hint
    )
}

impl PcapReader {
    /// Opens a capture file; `"-"` reads standard input. The name used in errors is `path`.
    pub fn open(path: &str) -> Result<PcapReader, InputError> {
        if path == "-" {
            return Self::from_read(Box::new(io::stdin()), path, None);
        }
        let f = File::open(path).map_err(|e| InputError {
            path: path.to_string(),
            offset: 0,
            kind: InputErrorKind::Io(e),
        })?;
        let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        Self::from_read(Box::new(f), path, size)
    }

    /// Reads a regular file through memory mappings (see [`super::mapped`]); `consumed`, when
    /// given, follows the bytes mapped so far (progress).
    pub fn from_file(
        file: File,
        name: &str,
        consumed: Option<Arc<AtomicU64>>,
    ) -> Result<PcapReader, InputError> {
        Self::from_file_windowed(file, name, consumed, mapped::WINDOW)
    }

    fn from_file_windowed(
        file: File,
        name: &str,
        consumed: Option<Arc<AtomicU64>>,
        window: usize,
    ) -> Result<PcapReader, InputError> {
        let size = file.metadata().map(|m| m.len()).map_err(|e| InputError {
            path: name.to_string(),
            offset: 0,
            kind: InputErrorKind::Io(e),
        })?;
        Self::with_src(
            Src::File {
                file,
                size,
                consumed,
                window,
            },
            Buf::Map(Arc::new(MapWindow::empty())),
            name,
            Some(size),
        )
    }

    /// Reads a capture from any byte stream (stdin, a pipe, a decompressor). `file_size` is
    /// only reported back, for progress display.
    pub fn from_read(
        r: Box<dyn Read + Send>,
        name: &str,
        file_size: Option<u64>,
    ) -> Result<PcapReader, InputError> {
        Self::with_buffer(r, name, file_size, DEFAULT_BUF)
    }

    fn with_buffer(
        src: Box<dyn Read + Send>,
        name: &str,
        file_size: Option<u64>,
        buf_len: usize,
    ) -> Result<PcapReader, InputError> {
        let buf = Buf::Heap(vec![0; buf_len.max(PCAP_HDR_LEN)]);
        Self::with_src(Src::Stream(src), buf, name, file_size)
    }

    fn with_src(
        src: Src,
        buf: Buf,
        name: &str,
        file_size: Option<u64>,
    ) -> Result<PcapReader, InputError> {
        let mut rd = PcapReader {
            src,
            name: name.to_string(),
            file_size,
            buf,
            start: 0,
            end: 0,
            base: 0,
            eof: false,
            done: false,
            format: FileFormat::Pcapng,
            big_endian: false,
            nanos: false,
            linktype: 0,
            snaplen: 0,
            seen_idb: false,
            ifaces: Vec::new(),
        };
        let avail = rd.fill(PCAP_HDR_LEN)?;
        let head = &rd.buf[..avail];
        if avail == 0 {
            return Err(rd.fail(0, InputErrorKind::NotACapture("empty file".into())));
        }
        if avail < 4 {
            let is_prefix = [MAGIC_USEC, MAGIC_NSEC, NG_SHB]
                .iter()
                .any(|m| m.to_le_bytes().starts_with(head) || m.to_be_bytes().starts_with(head));
            let kind = if is_prefix {
                InputErrorKind::Truncated {
                    wanted: PCAP_HDR_LEN as u64,
                    got: avail as u64,
                }
            } else {
                InputErrorKind::NotACapture(describe_magic(head))
            };
            return Err(rd.fail(0, kind));
        }
        let magic_le = rd32(head, 0, false);
        let pcap = match magic_le {
            MAGIC_USEC => Some((false, false)),
            MAGIC_NSEC => Some((false, true)),
            m if m.swap_bytes() == MAGIC_USEC => Some((true, false)),
            m if m.swap_bytes() == MAGIC_NSEC => Some((true, true)),
            _ => None,
        };
        if let Some((be, nanos)) = pcap {
            if avail < PCAP_HDR_LEN {
                let kind = InputErrorKind::Truncated {
                    wanted: PCAP_HDR_LEN as u64,
                    got: avail as u64,
                };
                return Err(rd.fail(0, kind));
            }
            rd.big_endian = be;
            rd.nanos = nanos;
            rd.snaplen = rd32(head, 16, be);
            // Bits above 16 carry FCS information in newer files; the link type proper is the
            // low 16 bits.
            rd.linktype = rd32(head, 20, be) & 0xffff;
            rd.format = FileFormat::Pcap {
                nanos,
                swapped: be != cfg!(target_endian = "big"),
            };
            rd.start = PCAP_HDR_LEN;
            return Ok(rd);
        }
        if magic_le == NG_SHB {
            if avail < 12 {
                let kind = InputErrorKind::Truncated {
                    wanted: NG_SHB_MIN_LEN as u64,
                    got: avail as u64,
                };
                return Err(rd.fail(0, kind));
            }
            let bom = rd32(head, 8, false);
            if bom != NG_BYTE_ORDER_MAGIC && bom.swap_bytes() != NG_BYTE_ORDER_MAGIC {
                let what = format!("pcapng block magic but bad byte-order magic {bom:#010x}");
                return Err(rd.fail(0, InputErrorKind::NotACapture(what)));
            }
            rd.format = FileFormat::Pcapng;
            // Consume the leading metadata blocks now so that linktype()/snaplen() are known
            // before the first packet is asked for.
            rd.ng_preload()?;
            return Ok(rd);
        }
        let what = describe_magic(head);
        Err(rd.fail(0, InputErrorKind::NotACapture(what)))
    }

    pub fn format(&self) -> &FileFormat {
        &self.format
    }

    /// Classic pcap: the header's link type. pcapng: the first interface's (0 if none seen).
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// Classic pcap: the header's snaplen. pcapng: the first interface's (0 means unlimited).
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    pub fn bytes_consumed(&self) -> u64 {
        self.base + self.start as u64
    }

    pub fn file_size(&self) -> Option<u64> {
        self.file_size
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the next packet, `Ok(None)` at the end of the input (or after an error).
    #[inline]
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, InputError> {
        if self.done {
            return Ok(None);
        }
        match self.format {
            FileFormat::Pcap { .. } => self.next_pcap(),
            FileFormat::Pcapng => self.next_pcapng(),
        }
    }

    /// Consumes the next record of a classic pcap file when it lies whole in the buffer (or
    /// mapped window): the common case, small enough to inline into the caller's loop. Returns
    /// where it is; [`PcapReader::buffered_record`] then gives the record. None when
    /// [`PcapReader::next_record`] has more to do (refill, remap, a bad record, the end,
    /// pcapng); nothing is consumed then.
    ///
    /// (Two steps so that a caller may return the record on this path and do something else
    /// with the reader on the other: the borrow checker rejects a borrow returned on one path
    /// only.)
    #[inline]
    pub fn take_buffered(&mut self) -> Option<Buffered> {
        if self.done || !matches!(self.format, FileFormat::Pcap { .. }) {
            return None;
        }
        let be = self.big_endian;
        let bytes = self.buf.get(..self.end)?;
        let h = bytes.get(self.start..self.start + PCAP_REC_LEN)?;
        let caplen = rd32(h, 8, be);
        let data_at = self.start + PCAP_REC_LEN;
        if caplen > MAX_RECORD || data_at + caplen as usize > bytes.len() {
            return None;
        }
        let frac = rd32(h, 4, be);
        let b = Buffered {
            ts: Ts {
                sec: u64::from(rd32(h, 0, be)),
                // as in next_pcap: the sub-second field as given, not normalised
                nsec: if self.nanos {
                    frac
                } else {
                    frac.wrapping_mul(1000)
                },
            },
            caplen,
            len: rd32(h, 12, be),
            data_at,
        };
        self.start = data_at + caplen as usize;
        Some(b)
    }

    /// The record [`PcapReader::take_buffered`] consumed.
    #[inline]
    pub fn buffered_record(&self, b: &Buffered) -> Record<'_> {
        Record {
            ts: b.ts,
            caplen: b.caplen,
            len: b.len,
            linktype: self.linktype,
            data: &self.buf[b.data_at..b.data_at + b.caplen as usize],
            window: self.buf.window(),
        }
    }

    fn fail(&mut self, offset: u64, kind: InputErrorKind) -> InputError {
        self.done = true;
        InputError {
            path: self.name.clone(),
            offset,
            kind,
        }
    }

    fn truncated(&mut self, wanted: usize, got: usize) -> InputError {
        let off = self.bytes_consumed();
        self.fail(
            off,
            InputErrorKind::Truncated {
                wanted: wanted as u64,
                got: got as u64,
            },
        )
    }

    fn bad(&mut self, what: String) -> InputError {
        let off = self.bytes_consumed();
        self.fail(off, InputErrorKind::BadRecord(what))
    }

    /// Makes at least `want` unconsumed bytes available if the input has them; returns how many
    /// are available (fewer only at end of input). Kept out of line: the hot path only comes
    /// here once per buffer refill.
    ///
    /// The buffer grows by doubling only as data actually arrives, so a corrupt length near the
    /// end of a file costs about as much memory as the file has left, not the claimed size.
    #[cold]
    #[inline(never)]
    fn fill(&mut self, want: usize) -> Result<usize, InputError> {
        if self.end - self.start >= want {
            return Ok(self.end - self.start);
        }
        let (src, buf) = match (&mut self.src, &mut self.buf) {
            (Src::Stream(src), Buf::Heap(buf)) => (src, buf),
            _ => return self.remap(want),
        };
        if buf.len() - self.start < want {
            // Move the partial record to the front of the buffer.
            buf.copy_within(self.start..self.end, 0);
            self.base += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        while !self.eof && self.end - self.start < want {
            if self.end == buf.len() {
                // Only reachable with start == 0 and a record larger than the buffer.
                let new_len = buf.len().saturating_mul(2).min(want.max(buf.len() + 1));
                buf.resize(new_len, 0);
            }
            match src.read(&mut buf[self.end..]) {
                Ok(0) => self.eof = true,
                // min(): a misbehaving reader must not push `end` past the buffer.
                Ok(n) => self.end = self.end.saturating_add(n).min(buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let off = self.base + self.end as u64;
                    return Err(self.fail(off, InputErrorKind::Io(e)));
                }
            }
        }
        Ok(self.end - self.start)
    }

    /// [`PcapReader::fill`] for a mapped file: maps the next window, from the page of the
    /// first unconsumed byte, at least `want` bytes long when the file has them. The old
    /// window is unmapped when the last record handed out of it is dropped.
    fn remap(&mut self, want: usize) -> Result<usize, InputError> {
        let Src::File {
            file,
            size,
            consumed,
            window,
        } = &mut self.src
        else {
            return Ok(self.end - self.start);
        };
        let pos = self.base + self.start as u64;
        let avail = self.end - self.start;
        if pos + want as u64 > *size {
            // a file that grew since it was opened is read on, as a read loop would
            if let Ok(m) = file.metadata() {
                if m.len() > *size {
                    *size = m.len();
                    self.file_size = Some(*size);
                }
            }
        }
        if self.base + self.end as u64 >= *size {
            self.eof = true;
            return Ok(avail);
        }
        let aligned = pos - pos % mapped::page_size();
        let lead = (pos - aligned) as usize;
        let len = (lead + want.max(*window)).min((*size - aligned) as usize);
        let win = match MapWindow::map(file, aligned, len) {
            Ok(w) => w,
            Err(e) => {
                let off = self.base + self.end as u64;
                return Err(self.fail(off, InputErrorKind::Io(e)));
            }
        };
        if let Some(c) = consumed {
            c.store(aligned + len as u64, Ordering::Relaxed);
        }
        self.eof = aligned + len as u64 >= *size;
        self.buf = Buf::Map(Arc::new(win));
        self.base = aligned;
        self.start = lead;
        self.end = len;
        Ok(self.end - self.start)
    }

    #[inline]
    fn next_pcap(&mut self) -> Result<Option<Record<'_>>, InputError> {
        let mut avail = self.end - self.start;
        if avail < PCAP_REC_LEN {
            avail = self.fill(PCAP_REC_LEN)?;
            if avail == 0 {
                return Ok(None);
            }
            if avail < PCAP_REC_LEN {
                return Err(self.truncated(PCAP_REC_LEN, avail));
            }
        }
        let be = self.big_endian;
        let h = &self.buf[self.start..self.start + PCAP_REC_LEN];
        let sec = rd32(h, 0, be);
        let frac = rd32(h, 4, be);
        let caplen = rd32(h, 8, be);
        let len = rd32(h, 12, be);
        if caplen > MAX_RECORD {
            return Err(self.bad(format!("record caplen {caplen} exceeds the 256 MiB limit")));
        }
        let total = PCAP_REC_LEN + caplen as usize;
        if avail < total {
            avail = self.fill(total)?;
            if avail < total {
                return Err(self.truncated(total, avail));
            }
        }
        let s = self.start;
        self.start += total;
        // The sub-second field is kept as given (µs × 1000 wrapping), not normalised: fuzzed
        // files carry out-of-range values that downstream output reproduces.
        let nsec = if self.nanos {
            frac
        } else {
            frac.wrapping_mul(1000)
        };
        Ok(Some(Record {
            ts: Ts {
                sec: u64::from(sec),
                nsec,
            },
            caplen,
            len,
            linktype: self.linktype,
            data: &self.buf[s + PCAP_REC_LEN..s + total],
            window: self.buf.window(),
        }))
    }

    /// Ensures the whole block at the read position is buffered; returns (type, total length),
    /// or None at a clean end of input. Switches byte order when the block is a section header.
    #[inline]
    fn ng_peek(&mut self) -> Result<Option<(u32, usize)>, InputError> {
        let mut avail = self.end - self.start;
        if avail < 12 {
            avail = self.fill(12)?;
            if avail == 0 {
                return Ok(None);
            }
            if avail < 12 {
                return Err(self.truncated(12, avail));
            }
        }
        let h = &self.buf[self.start..self.start + 12];
        let btype = rd32(h, 0, self.big_endian);
        if btype == NG_SHB {
            // The section header's type reads the same in both byte orders; its byte-order
            // magic decides how everything up to the next section is read.
            let bom = rd32(h, 8, false);
            if bom == NG_BYTE_ORDER_MAGIC {
                self.big_endian = false;
            } else if bom.swap_bytes() == NG_BYTE_ORDER_MAGIC {
                self.big_endian = true;
            } else {
                return Err(self.bad(format!(
                    "section header block with bad byte-order magic {bom:#010x}"
                )));
            }
        }
        let h = &self.buf[self.start..self.start + 12];
        let blen = rd32(h, 4, self.big_endian);
        let min = if btype == NG_SHB {
            NG_SHB_MIN_LEN as u32
        } else {
            12
        };
        if blen < min || blen & 3 != 0 || blen > MAX_RECORD {
            return Err(self.bad(format!("block type {btype:#x} has invalid length {blen}")));
        }
        let blen = blen as usize;
        if avail < blen {
            avail = self.fill(blen)?;
            if avail < blen {
                return Err(self.truncated(blen, avail));
            }
        }
        Ok(Some((btype, blen)))
    }

    /// Processes the non-packet blocks in front of the first packet.
    ///
    /// A malformed block found here is not reported by `open`: the reader stops in front of it
    /// and the first `next_record` meets it again, so that every format error surfaces in one
    /// place, with its offset, whether or not packets came before it. Only I/O errors abort.
    fn ng_preload(&mut self) -> Result<(), InputError> {
        loop {
            match self.ng_peek() {
                Ok(Some((btype, blen))) if !matches!(btype, NG_EPB | NG_SPB | NG_PB) => {
                    if self.ng_meta(btype, blen).is_err() {
                        self.done = false;
                        return Ok(());
                    }
                    self.start += blen;
                }
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.kind, InputErrorKind::Io(_)) => return Err(e),
                Err(_) => {
                    self.done = false;
                    return Ok(());
                }
            }
        }
    }

    #[inline]
    fn next_pcapng(&mut self) -> Result<Option<Record<'_>>, InputError> {
        loop {
            let Some((btype, blen)) = self.ng_peek()? else {
                return Ok(None);
            };
            match btype {
                NG_EPB | NG_PB | NG_SPB => return self.ng_packet(btype, blen),
                _ => {
                    self.ng_meta(btype, blen)?;
                    self.start += blen;
                }
            }
        }
    }

    /// Section headers and interface descriptions; every other non-packet block is skipped.
    fn ng_meta(&mut self, btype: u32, blen: usize) -> Result<(), InputError> {
        let be = self.big_endian;
        match btype {
            NG_SHB => {
                // Interface ids are per section. The version is not checked: other versions
                // have never been deployed and refusing them only loses packets.
                self.ifaces.clear();
            }
            NG_IDB => {
                let body = &self.buf[self.start + 8..self.start + blen - 4];
                if body.len() < 8 {
                    return Err(self.bad(format!(
                        "interface description block too short ({blen} bytes)"
                    )));
                }
                let mut iface = Interface {
                    linktype: u32::from(rd16(body, 0, be)),
                    snaplen: rd32(body, 4, be),
                    conv: TsConv::Micro,
                    offset: 0,
                };
                // Options that overrun the block are ignored rather than fatal: the packets
                // that follow are still readable.
                let mut off = 8;
                while off + 4 <= body.len() {
                    let code = rd16(body, off, be);
                    let olen = usize::from(rd16(body, off + 2, be));
                    if code == 0 {
                        break;
                    }
                    let Some(val) = body.get(off + 4..off + 4 + olen) else {
                        break;
                    };
                    match code {
                        NG_OPT_TSRESOL if !val.is_empty() => {
                            iface.conv = TsConv::from_tsresol(val[0])
                        }
                        NG_OPT_TSOFFSET if val.len() >= 8 => iface.offset = rd64(val, 0, be) as i64,
                        _ => {}
                    }
                    off += 4 + ((olen + 3) & !3);
                }
                if !self.seen_idb {
                    self.seen_idb = true;
                    self.linktype = iface.linktype;
                    self.snaplen = iface.snaplen;
                }
                self.ifaces.push(iface);
            }
            _ => {}
        }
        Ok(())
    }

    /// Parses a buffered packet block of `blen` bytes and consumes it.
    #[inline]
    fn ng_packet(&mut self, btype: u32, blen: usize) -> Result<Option<Record<'_>>, InputError> {
        let be = self.big_endian;
        let s = self.start;
        let body = &self.buf[s + 8..s + blen - 4];
        let (if_id, ts_raw, caplen, len, data_off) = if btype == NG_SPB {
            if body.len() < 4 {
                return Err(self.bad(format!("simple packet block too short ({blen} bytes)")));
            }
            let len = rd32(body, 0, be);
            let room = (body.len() - 4) as u32;
            let mut caplen = len.min(room);
            if let Some(i) = self.ifaces.first() {
                if i.snaplen != 0 {
                    caplen = caplen.min(i.snaplen);
                }
            }
            (0, None, caplen, len, 12)
        } else {
            if body.len() < 20 {
                return Err(self.bad(format!(
                    "packet block type {btype} too short ({blen} bytes)"
                )));
            }
            let if_id = if btype == NG_EPB {
                rd32(body, 0, be)
            } else {
                u32::from(rd16(body, 0, be))
            };
            let ts = (u64::from(rd32(body, 4, be)) << 32) | u64::from(rd32(body, 8, be));
            let caplen = rd32(body, 12, be);
            let len = rd32(body, 16, be);
            if caplen as usize > body.len() - 20 {
                return Err(self.bad(format!(
                    "packet block caplen {caplen} does not fit its block length {blen}"
                )));
            }
            (if_id, Some(ts), caplen, len, 28)
        };
        let Some(iface) = self.ifaces.get(if_id as usize).copied() else {
            let what = if btype == NG_SPB {
                "simple packet block but no interface is defined in this section".to_string()
            } else {
                format!("packet block refers to unknown interface id {if_id}")
            };
            return Err(self.bad(what));
        };
        let ts = match ts_raw {
            Some(t) => {
                let (sec, nsec) = iface.conv.convert(t);
                Ts {
                    sec: sec.saturating_add_signed(iface.offset),
                    nsec,
                }
            }
            None => Ts::ZERO,
        };
        self.start += blen;
        Ok(Some(Record {
            ts,
            caplen,
            len,
            linktype: iface.linktype,
            data: &self.buf[s + data_off..s + data_off + caplen as usize],
            window: self.buf.window(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::path::{Path, PathBuf};

    fn reader(bytes: Vec<u8>) -> Result<PcapReader, InputError> {
        PcapReader::from_read(Box::new(Cursor::new(bytes)), "test", None)
    }

    /// Collects (ts, caplen, len, linktype, data) until end or error.
    type Rec = (Ts, u32, u32, u32, Vec<u8>);
    fn read_all(r: &mut PcapReader) -> (Vec<Rec>, Option<InputError>) {
        let mut out = Vec::new();
        loop {
            match r.next_record() {
                Ok(Some(rec)) => {
                    assert_eq!(rec.data.len(), rec.caplen as usize);
                    out.push((rec.ts, rec.caplen, rec.len, rec.linktype, rec.data.to_vec()));
                }
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    /// [`read_all`] the way the replay reader reads: [`PcapReader::take_buffered`] first,
    /// [`PcapReader::next_record`] when it declines.
    fn read_all_buffered_first(r: &mut PcapReader) -> (Vec<Rec>, Option<InputError>) {
        let mut out = Vec::new();
        loop {
            if let Some(b) = r.take_buffered() {
                let rec = r.buffered_record(&b);
                assert_eq!(rec.data.len(), rec.caplen as usize);
                out.push((rec.ts, rec.caplen, rec.len, rec.linktype, rec.data.to_vec()));
                continue;
            }
            match r.next_record() {
                Ok(Some(rec)) => {
                    out.push((rec.ts, rec.caplen, rec.len, rec.linktype, rec.data.to_vec()));
                }
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    /// Both ways of reading give the same records, the same error at the same offset, and
    /// leave the reader at the same position.
    fn assert_same_reads(open: &dyn Fn() -> Option<PcapReader>, what: &str) {
        let (Some(mut a), Some(mut b)) = (open(), open()) else {
            return;
        };
        let (ra, ea) = read_all(&mut a);
        let (rb, eb) = read_all_buffered_first(&mut b);
        assert_eq!(ra, rb, "{what}");
        assert_eq!(format!("{ea:?}"), format!("{eb:?}"), "{what}");
        assert_eq!(a.bytes_consumed(), b.bytes_consumed(), "{what}");
    }

    #[test]
    fn buffered_fast_path_reads_what_next_record_reads() {
        // every byte order and time unit, truncated and corrupted, in heap buffers of several
        // sizes (records cut by refills) and through the stream reader
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for be in [false, true] {
            for nanos in [false, true] {
                let mut f = pcap_header(be, nanos, 65535, 1);
                for i in 0..200u32 {
                    let n = (next() % 120) as usize;
                    let data: Vec<u8> = (0..n).map(|j| (i as usize + j) as u8).collect();
                    pcap_rec(&mut f, be, 1000 + i, 999_999 * (i % 3), n as u32 + 4, &data);
                }
                for round in 0..60 {
                    let mut g = f.clone();
                    if round % 3 == 1 {
                        g.truncate((next() % g.len() as u64) as usize);
                    }
                    if round % 3 == 2 {
                        let at = 24 + (next() % (g.len() as u64 - 24)) as usize;
                        g[at] = next() as u8;
                    }
                    for buf_len in [24usize, 40, 100, 4096] {
                        let g = g.clone();
                        assert_same_reads(
                            &|| {
                                PcapReader::with_buffer(
                                    Box::new(Cursor::new(g.clone())),
                                    "m",
                                    None,
                                    buf_len,
                                )
                                .ok()
                            },
                            &format!("be {be} nanos {nanos} round {round} buffer {buf_len}"),
                        );
                    }
                }
            }
        }
        // every shared capture (pcap and pcapng), read as a stream and mapped a page at a time
        // (records cut by the end of a window)
        for dir in ["ndpi", "tcpdump"] {
            let Ok(entries) = std::fs::read_dir(shared_pcaps().join(dir)) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                let name = p.display().to_string();
                assert_same_reads(&|| PcapReader::open(&name).ok(), &name);
                let mapped = || {
                    let f = File::open(&p).ok()?;
                    PcapReader::from_file_windowed(f, &name, None, mapped::page_size() as usize)
                        .ok()
                };
                assert_same_reads(&mapped, &format!("{name} (mapped)"));
            }
        }
    }

    fn w16(v: &mut Vec<u8>, x: u16, be: bool) {
        v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
    }
    fn w32(v: &mut Vec<u8>, x: u32, be: bool) {
        v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
    }

    fn pcap_header(be: bool, nanos: bool, snaplen: u32, linktype: u32) -> Vec<u8> {
        let mut v = Vec::new();
        w32(&mut v, if nanos { MAGIC_NSEC } else { MAGIC_USEC }, be);
        w16(&mut v, 2, be);
        w16(&mut v, 4, be);
        w32(&mut v, 0, be);
        w32(&mut v, 0, be);
        w32(&mut v, snaplen, be);
        w32(&mut v, linktype, be);
        v
    }

    fn pcap_rec(v: &mut Vec<u8>, be: bool, sec: u32, frac: u32, len: u32, data: &[u8]) {
        w32(v, sec, be);
        w32(v, frac, be);
        w32(v, data.len() as u32, be);
        w32(v, len, be);
        v.extend_from_slice(data);
    }

    fn ng_block(v: &mut Vec<u8>, be: bool, btype: u32, body: &[u8]) {
        let padded = (body.len() + 3) & !3;
        let total = (12 + padded) as u32;
        w32(v, btype, be);
        w32(v, total, be);
        v.extend_from_slice(body);
        v.resize(v.len() + padded - body.len(), 0);
        w32(v, total, be);
    }

    fn shb(v: &mut Vec<u8>, be: bool) {
        let mut b = Vec::new();
        w32(&mut b, NG_BYTE_ORDER_MAGIC, be);
        w16(&mut b, 1, be);
        w16(&mut b, 0, be);
        b.extend_from_slice(&[0xff; 8]); // section length unknown
        ng_block(v, be, NG_SHB, &b);
    }

    fn idb(v: &mut Vec<u8>, be: bool, linktype: u16, snaplen: u32, opts: &[(u16, &[u8])]) {
        let mut b = Vec::new();
        w16(&mut b, linktype, be);
        w16(&mut b, 0, be);
        w32(&mut b, snaplen, be);
        for (code, val) in opts {
            w16(&mut b, *code, be);
            w16(&mut b, val.len() as u16, be);
            b.extend_from_slice(val);
            b.resize((b.len() + 3) & !3, 0);
        }
        if !opts.is_empty() {
            w32(&mut b, 0, be);
        }
        ng_block(v, be, NG_IDB, &b);
    }

    fn epb(v: &mut Vec<u8>, be: bool, if_id: u32, ts: u64, len: u32, data: &[u8]) {
        let mut b = Vec::new();
        w32(&mut b, if_id, be);
        w32(&mut b, (ts >> 32) as u32, be);
        w32(&mut b, ts as u32, be);
        w32(&mut b, data.len() as u32, be);
        w32(&mut b, len, be);
        b.extend_from_slice(data);
        ng_block(v, be, NG_EPB, &b);
    }

    fn spb(v: &mut Vec<u8>, be: bool, len: u32, data: &[u8]) {
        let mut b = Vec::new();
        w32(&mut b, len, be);
        b.extend_from_slice(data);
        ng_block(v, be, NG_SPB, &b);
    }

    /// Reads `bytes` as a stream and as a mapped file (windows of one page, so records cross
    /// window ends); both must give the same records and the same error at the same offset.
    fn same_mapped_and_streamed(bytes: &[u8]) -> (Vec<Rec>, Option<InputError>) {
        let mut path = std::env::temp_dir();
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let k = SEQ.fetch_add(1, Ordering::Relaxed);
        path.push(format!("tamandua-map-{}-{k}.pcap", std::process::id()));
        std::fs::write(&path, bytes).expect("temp file");
        let streamed = reader(bytes.to_vec()).map(|mut r| read_all(&mut r));
        let consumed = Arc::new(AtomicU64::new(0));
        let page = mapped::page_size() as usize;
        let mapped = PcapReader::from_file_windowed(
            File::open(&path).expect("open"),
            "test",
            Some(consumed.clone()),
            page,
        )
        .map(|mut r| {
            let out = read_all(&mut r);
            assert_eq!(r.bytes_consumed(), r.base + r.start as u64);
            out
        });
        std::fs::remove_file(&path).ok();
        match (streamed, mapped) {
            (Ok((a, ea)), Ok((b, eb))) => {
                assert_eq!(a, b, "records");
                assert_eq!(
                    ea.as_ref().map(|e| (e.offset, e.to_string())),
                    eb.as_ref().map(|e| (e.offset, e.to_string())),
                    "error"
                );
                if ea.is_none() {
                    assert_eq!(consumed.load(Ordering::Relaxed), bytes.len() as u64);
                }
                (a, ea)
            }
            (Err(a), Err(b)) => {
                assert_eq!((a.offset, a.to_string()), (b.offset, b.to_string()));
                (Vec::new(), Some(a))
            }
            (a, b) => panic!("stream {:?} vs mapped {:?}", a.err(), b.err()),
        }
    }

    #[test]
    fn mapped_reading_equals_streamed_reading() {
        let page = mapped::page_size() as usize;
        // pcap, both byte orders, records of many sizes (some longer than a window)
        for be in [false, true] {
            let mut v = pcap_header(be, true, 65535, 1);
            for i in 0..200u32 {
                let n = [0, 1, 60, 1500, page - 16, page, 3 * page + 5][i as usize % 7];
                let data: Vec<u8> = (0..n).map(|j| (j as u32 * 7 + i) as u8).collect();
                pcap_rec(&mut v, be, 1000 + i, i * 3, n as u32 + 4, &data);
            }
            let (recs, err) = same_mapped_and_streamed(&v);
            assert_eq!(recs.len(), 200);
            assert!(err.is_none());
            // cut inside the last record: the same truncation error, the same records before
            let cut = &v[..v.len() - 3];
            let (recs, err) = same_mapped_and_streamed(cut);
            assert_eq!(recs.len(), 199);
            assert!(matches!(
                err.map(|e| e.kind),
                Some(InputErrorKind::Truncated { .. })
            ));
        }
        // pcapng with two interfaces and blocks crossing window ends
        let mut v = Vec::new();
        shb(&mut v, false);
        idb(&mut v, false, 1, 0, &[]);
        idb(&mut v, false, 101, 0, &[(NG_OPT_TSRESOL, &[9])]);
        for i in 0..100u32 {
            let data = vec![i as u8; [10, 700, page + 3][i as usize % 3]];
            epb(
                &mut v,
                false,
                i % 2,
                1_000_000 + i as u64,
                data.len() as u32,
                &data,
            );
        }
        let (recs, err) = same_mapped_and_streamed(&v);
        assert_eq!((recs.len(), err.is_none()), (100, true));
        // empty and header-only files
        same_mapped_and_streamed(&[]);
        same_mapped_and_streamed(&pcap_header(false, false, 65535, 1)[..10]);
        let (recs, err) = same_mapped_and_streamed(&pcap_header(false, false, 65535, 1));
        assert!(recs.is_empty() && err.is_none());
    }

    #[test]
    fn mapped_records_point_into_a_window_that_outlives_the_reader() {
        let mut v = pcap_header(false, false, 65535, 1);
        pcap_rec(&mut v, false, 1, 2, 4, b"abcd");
        let mut path = std::env::temp_dir();
        path.push(format!("tamandua-map-keep-{}.pcap", std::process::id()));
        std::fs::write(&path, &v).expect("temp file");
        let mut r =
            PcapReader::from_file(File::open(&path).expect("open"), "t", None).expect("reader");
        let rec = r.next_record().expect("ok").expect("a record");
        let w = rec.window.expect("mapped").clone();
        let off = w.offset_of(rec.data).expect("in the window") as usize;
        drop(r);
        std::fs::remove_file(&path).ok();
        assert_eq!(&w.bytes()[off..off + 4], b"abcd");
    }

    #[test]
    fn pcap_usec_le() {
        let mut f = pcap_header(false, false, 65535, 1);
        pcap_rec(&mut f, false, 100, 250_000, 60, &[1, 2, 3, 4]);
        pcap_rec(&mut f, false, 101, 1_500_000, 3, &[5, 6, 7, 8, 9]); // usec ≥ 1e6, caplen > len
        pcap_rec(&mut f, false, 102, 0, 0, &[]);
        let mut r = reader(f.clone()).unwrap();
        assert_eq!(
            *r.format(),
            FileFormat::Pcap {
                nanos: false,
                swapped: cfg!(target_endian = "big")
            }
        );
        assert_eq!((r.linktype(), r.snaplen()), (1, 65535));
        assert_eq!(r.bytes_consumed(), 24);
        let (recs, err) = read_all(&mut r);
        assert!(err.is_none());
        assert_eq!(recs.len(), 3);
        assert_eq!(
            recs[0],
            (Ts::new(100, 250_000_000), 4, 60, 1, vec![1, 2, 3, 4])
        );
        assert_eq!(recs[1].0, Ts::new(101, 1_500_000u32.wrapping_mul(1000)));
        assert_eq!((recs[1].1, recs[1].2), (5, 3));
        assert_eq!(recs[2].1, 0);
        assert_eq!(r.bytes_consumed(), f.len() as u64);
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn pcap_nsec_be_with_fcs_bits() {
        let mut f = pcap_header(true, true, 262144, 0x1400_0000 | 105);
        pcap_rec(&mut f, true, 7, 999_999_999, 10, &[0xaa; 10]);
        let mut r = reader(f).unwrap();
        assert_eq!(
            *r.format(),
            FileFormat::Pcap {
                nanos: true,
                swapped: cfg!(target_endian = "little")
            }
        );
        assert_eq!(r.linktype(), 105);
        let (recs, err) = read_all(&mut r);
        assert!(err.is_none());
        assert_eq!(
            recs,
            vec![(Ts::new(7, 999_999_999), 10, 10, 105, vec![0xaa; 10])]
        );
    }

    #[test]
    fn pcap_truncated_last_record() {
        let mut f = pcap_header(false, false, 65535, 1);
        pcap_rec(&mut f, false, 1, 0, 4, &[1, 2, 3, 4]);
        let second = f.len();
        pcap_rec(&mut f, false, 2, 0, 8, &[9; 8]);
        f.truncate(f.len() - 3);
        let mut r = reader(f.clone()).unwrap();
        let (recs, err) = read_all(&mut r);
        assert_eq!(recs.len(), 1);
        let err = err.unwrap();
        assert_eq!(err.offset, second as u64);
        assert!(
            matches!(
                err.kind,
                InputErrorKind::Truncated {
                    wanted: 24,
                    got: 21
                }
            ),
            "{err}"
        );
        assert!(err
            .to_string()
            .starts_with(&format!("test: offset {second}: ")));
        // The error is not repeated: the reader is finished.
        assert!(r.next_record().unwrap().is_none());

        // Cut inside the record header.
        f.truncate(second + 5);
        let (recs, err) = read_all(&mut reader(f).unwrap());
        assert_eq!(recs.len(), 1);
        assert!(matches!(
            err.unwrap().kind,
            InputErrorKind::Truncated { wanted: 16, got: 5 }
        ));
    }

    #[test]
    fn pcap_truncated_global_header() {
        let f = pcap_header(false, false, 65535, 1);
        for cut in [2, 4, 10, 23] {
            let e = reader(f[..cut].to_vec()).err().unwrap();
            assert!(
                matches!(e.kind, InputErrorKind::Truncated { wanted: 24, .. }),
                "{cut}: {e}"
            );
        }
        // Header only: a valid, empty capture.
        let mut r = reader(f).unwrap();
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn empty_and_bad_magic() {
        let e = reader(Vec::new()).err().unwrap();
        assert!(matches!(&e.kind, InputErrorKind::NotACapture(m) if m == "empty file"));
        assert!(e.to_string().contains("empty file"));

        let e = reader(b"<!DOCTYPE html><html></html>".to_vec())
            .err()
            .unwrap();
        let msg = e.to_string();
        assert!(matches!(e.kind, InputErrorKind::NotACapture(_)));
        assert!(
            msg.contains("3c 21 44 4f") && msg.contains("<!DOCTYP"),
            "{msg}"
        );

        let e = reader(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0])
            .err()
            .unwrap();
        assert!(e.to_string().contains("gzip"), "{e}");

        let e = reader(vec![0x42]).err().unwrap();
        assert!(matches!(e.kind, InputErrorKind::NotACapture(_)));

        // pcapng block type without a valid byte-order magic.
        let mut f = vec![0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0];
        f.extend_from_slice(&[0x11; 20]);
        let e = reader(f).err().unwrap();
        assert!(matches!(e.kind, InputErrorKind::NotACapture(_)), "{e}");
    }

    #[test]
    fn pcap_huge_caplen_is_bad_record() {
        let mut f = pcap_header(false, false, 65535, 1);
        w32(&mut f, 1, false);
        w32(&mut f, 0, false);
        w32(&mut f, 0x4000_0000, false);
        w32(&mut f, 0x4000_0000, false);
        let (recs, err) = read_all(&mut reader(f).unwrap());
        assert!(recs.is_empty());
        let err = err.unwrap();
        assert_eq!(err.offset, 24);
        assert!(matches!(err.kind, InputErrorKind::BadRecord(_)), "{err}");
    }

    #[test]
    fn huge_claimed_length_in_short_file_allocates_little() {
        let mut f = pcap_header(false, false, 65535, 1);
        w32(&mut f, 1, false);
        w32(&mut f, 0, false);
        w32(&mut f, 200 << 20, false);
        w32(&mut f, 200 << 20, false);
        f.extend_from_slice(&[0; 10]);
        let mut r = reader(f).unwrap();
        let err = r.next_record().err().unwrap();
        assert!(
            matches!(err.kind, InputErrorKind::Truncated { wanted, got: 26 } if wanted == 16 + (200 << 20))
        );
        assert!(r.buf.len() <= DEFAULT_BUF, "buffer grew to {}", r.buf.len());
    }

    /// A reader returning one byte per call exercises every refill path.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 >= self.0.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    #[test]
    fn small_buffer_compaction_growth_and_trickle() {
        let mut f = pcap_header(false, true, 65535, 1);
        let mut expect = Vec::new();
        for i in 0..500u32 {
            let n = if i % 50 == 7 { 3000 } else { (i % 97) as usize };
            let data: Vec<u8> = (0..n).map(|k| (k as u32 ^ i) as u8).collect();
            pcap_rec(&mut f, false, i, i * 3, n as u32 + 1, &data);
            expect.push((
                Ts::new(u64::from(i), i * 3),
                n as u32,
                n as u32 + 1,
                1,
                data,
            ));
        }
        let mut r =
            PcapReader::with_buffer(Box::new(Cursor::new(f.clone())), "t", None, 64).unwrap();
        let (recs, err) = read_all(&mut r);
        assert!(err.is_none());
        assert_eq!(recs, expect);
        assert_eq!(r.bytes_consumed(), f.len() as u64);

        let mut r = PcapReader::with_buffer(Box::new(Trickle(f, 0)), "t", None, 100).unwrap();
        let (recs, err) = read_all(&mut r);
        assert!(err.is_none());
        assert_eq!(recs, expect);
    }

    #[test]
    fn tsconv() {
        assert_eq!(TsConv::from_tsresol(6), TsConv::Micro);
        assert_eq!(TsConv::from_tsresol(9), TsConv::Nano);
        assert_eq!(
            TsConv::Micro.convert(1_234_567_890_123),
            (1_234_567, 890_123_000)
        );
        assert_eq!(
            TsConv::Nano.convert(1_234_567_890_123),
            (1_234, 567_890_123)
        );
        assert_eq!(TsConv::Dec(3).convert(12_345), (12, 345_000_000));
        assert_eq!(TsConv::Dec(0).convert(12_345), (12_345, 0));
        assert_eq!(TsConv::Dec(12).convert(5_000_000_000_123), (5, 123 / 1000));
        assert_eq!(TsConv::Dec(12).convert(5_123_456_789_999), (5, 123_456_789));
        assert_eq!(TsConv::Dec(25).convert(u64::MAX), (0, 1844));
        assert_eq!(TsConv::Dec(127).convert(u64::MAX), (0, 0));
        assert_eq!(TsConv::from_tsresol(0x80 | 10), TsConv::Bin(10));
        assert_eq!(TsConv::Bin(10).convert((3 << 10) | 512), (3, 500_000_000));
        assert_eq!(TsConv::Bin(0).convert(42), (42, 0));
        assert_eq!(TsConv::Bin(64).convert(1 << 63), (0, 500_000_000));
        assert_eq!(TsConv::Bin(127).convert(u64::MAX), (0, 0));
    }

    #[test]
    fn pcapng_two_interfaces_spb_unknown_block() {
        for be in [false, true] {
            let mut f = Vec::new();
            shb(&mut f, be);
            idb(&mut f, be, 1, 0, &[(2, b"eth0\0"), (NG_OPT_TSRESOL, &[9])]);
            // tsresol 2^-20 plus one hour of if_tsoffset.
            let off = if be {
                3600i64.to_be_bytes()
            } else {
                3600i64.to_le_bytes()
            };
            idb(
                &mut f,
                be,
                101,
                128,
                &[(NG_OPT_TSRESOL, &[0x80 | 20]), (NG_OPT_TSOFFSET, &off)],
            );
            ng_block(&mut f, be, 0x0bad_cafe, &[1, 2, 3, 4, 5, 6, 7, 8]); // unknown: skipped
            epb(&mut f, be, 0, 1_700_000_000_123_456_789, 70, &[1, 2, 3]);
            ng_block(&mut f, be, 5, &[0; 16]); // interface statistics: skipped
            epb(&mut f, be, 1, (10 << 20) | (1 << 19), 5, &[4, 5, 6, 7, 8]);
            spb(&mut f, be, 9, &[9, 9, 9, 9, 9, 9, 9, 9, 9]);
            let mut r = reader(f.clone()).unwrap();
            assert_eq!(*r.format(), FileFormat::Pcapng);
            assert_eq!((r.linktype(), r.snaplen()), (1, 0));
            let (recs, err) = read_all(&mut r);
            assert!(err.is_none(), "{err:?}");
            assert_eq!(
                recs,
                vec![
                    (Ts::new(1_700_000_000, 123_456_789), 3, 70, 1, vec![1, 2, 3]),
                    (Ts::new(3610, 500_000_000), 5, 5, 101, vec![4, 5, 6, 7, 8]),
                    (Ts::ZERO, 9, 9, 1, vec![9; 9]),
                ]
            );
            assert_eq!(r.bytes_consumed(), f.len() as u64);
        }
    }

    #[test]
    fn pcapng_spb_respects_snaplen_and_default_resolution() {
        let mut f = Vec::new();
        shb(&mut f, false);
        idb(&mut f, false, 1, 4, &[]);
        spb(&mut f, false, 1500, &[1, 2, 3, 4]);
        epb(&mut f, false, 0, 1_500_000, 4, &[1, 2, 3, 4]);
        let (recs, err) = read_all(&mut reader(f).unwrap());
        assert!(err.is_none());
        assert_eq!(recs[0], (Ts::ZERO, 4, 1500, 1, vec![1, 2, 3, 4]));
        assert_eq!(recs[1].0, Ts::new(1, 500_000_000));
    }

    #[test]
    fn pcapng_two_sections_reset_interfaces() {
        let mut f = Vec::new();
        shb(&mut f, false);
        idb(&mut f, false, 1, 65535, &[]);
        epb(&mut f, false, 0, 1_000_000, 1, &[1]);
        shb(&mut f, true);
        idb(&mut f, true, 113, 65535, &[(NG_OPT_TSRESOL, &[9])]);
        epb(&mut f, true, 0, 2_000_000_000, 1, &[2]);
        let mut r = reader(f.clone()).unwrap();
        let (recs, err) = read_all(&mut r);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            recs,
            vec![
                (Ts::new(1, 0), 1, 1, 1, vec![1]),
                (Ts::new(2, 0), 1, 1, 113, vec![2])
            ]
        );
        // The link type reported for the file stays the first interface's.
        assert_eq!(r.linktype(), 1);

        // Interface 1 of the first section does not exist in the second.
        let mut g = Vec::new();
        shb(&mut g, false);
        idb(&mut g, false, 1, 0, &[]);
        idb(&mut g, false, 1, 0, &[]);
        shb(&mut g, false);
        idb(&mut g, false, 1, 0, &[]);
        let bad_at = g.len();
        epb(&mut g, false, 1, 0, 1, &[1]);
        let (recs, err) = read_all(&mut reader(g).unwrap());
        assert!(recs.is_empty());
        let err = err.unwrap();
        assert_eq!(err.offset, bad_at as u64);
        assert!(err.to_string().contains("unknown interface id 1"), "{err}");
    }

    #[test]
    fn pcapng_errors() {
        // Bad block length.
        for blen in [8u32, 30, 0x7fff_fff0] {
            let mut f = Vec::new();
            shb(&mut f, false);
            idb(&mut f, false, 1, 0, &[]);
            let at = f.len();
            w32(&mut f, NG_EPB, false);
            w32(&mut f, blen, false);
            f.extend_from_slice(&[0; 40]);
            let (recs, err) = read_all(&mut reader(f).unwrap());
            assert!(recs.is_empty());
            let err = err.unwrap();
            assert_eq!(err.offset, at as u64);
            assert!(matches!(err.kind, InputErrorKind::BadRecord(_)), "{err}");
        }
        // EPB caplen beyond its block.
        let mut f = Vec::new();
        shb(&mut f, false);
        idb(&mut f, false, 1, 0, &[]);
        let mut b = Vec::new();
        for x in [0u32, 0, 0, 100, 100] {
            w32(&mut b, x, false);
        }
        ng_block(&mut f, false, NG_EPB, &b);
        let (_, err) = read_all(&mut reader(f).unwrap());
        assert!(matches!(err.unwrap().kind, InputErrorKind::BadRecord(_)));
        // SPB with no interface.
        let mut f = Vec::new();
        shb(&mut f, false);
        spb(&mut f, false, 1, &[1]);
        let (_, err) = read_all(&mut reader(f).unwrap());
        assert!(matches!(err.unwrap().kind, InputErrorKind::BadRecord(_)));
        // Truncated block.
        let mut f = Vec::new();
        shb(&mut f, false);
        idb(&mut f, false, 1, 0, &[]);
        let at = f.len();
        epb(&mut f, false, 0, 0, 8, &[1; 8]);
        f.truncate(f.len() - 1);
        let (recs, err) = read_all(&mut reader(f).unwrap());
        assert!(recs.is_empty());
        let err = err.unwrap();
        assert_eq!(err.offset, at as u64);
        assert!(
            matches!(
                err.kind,
                InputErrorKind::Truncated {
                    wanted: 40,
                    got: 39
                }
            ),
            "{err}"
        );
        // Truncated section header.
        let mut f = Vec::new();
        shb(&mut f, true);
        let (recs, err) = read_all(&mut reader(f[..20].to_vec()).unwrap());
        assert!(recs.is_empty());
        let err = err.unwrap();
        assert!(
            matches!(
                err.kind,
                InputErrorKind::Truncated {
                    wanted: 28,
                    got: 20
                }
            ),
            "{err}"
        );
    }

    /// Flips bytes of valid captures at pseudo-random places: the reader may fail, never panic.
    #[test]
    fn mutated_inputs_do_not_panic() {
        let mut ng = Vec::new();
        shb(&mut ng, false);
        idb(&mut ng, false, 1, 0, &[(NG_OPT_TSRESOL, &[0x80 | 30])]);
        for i in 0..20u8 {
            epb(&mut ng, false, 0, u64::from(i) << 40, 10, &[i; 10]);
            spb(&mut ng, false, 3, &[i; 3]);
        }
        let mut pc = pcap_header(true, false, 65535, 1);
        for i in 0..20u8 {
            pcap_rec(&mut pc, true, 1, 2, 3, &[i; 7]);
        }
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for base in [&ng, &pc] {
            for _ in 0..3000 {
                let mut f = base.clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % f.len() as u64) as usize;
                    f[at] = next() as u8;
                }
                if next() % 4 == 0 {
                    f.truncate((next() % f.len() as u64) as usize);
                }
                if let Ok(mut r) = PcapReader::with_buffer(Box::new(Cursor::new(f)), "m", None, 32)
                {
                    let _ = read_all(&mut r);
                }
            }
        }
    }

    fn shared_pcaps() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps")
    }

    fn count(path: &Path) -> (u64, Option<InputError>) {
        let mut r = PcapReader::open(path.to_str().unwrap()).unwrap();
        let mut n = 0;
        loop {
            match r.next_record() {
                Ok(Some(_)) => n += 1,
                Ok(None) => return (n, None),
                Err(e) => return (n, Some(e)),
            }
        }
    }

    #[test]
    fn real_ftp_pcap() {
        let p = shared_pcaps().join("ndpi/ftp.pcap");
        if !p.exists() {
            eprintln!("skipping: {} not present", p.display());
            return;
        }
        let r = PcapReader::open(p.to_str().unwrap()).unwrap();
        assert_eq!(r.file_size(), Some(std::fs::metadata(&p).unwrap().len()));
        assert!(matches!(r.format(), FileFormat::Pcap { .. }));
        let (n, err) = count(&p);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(n, 209);
    }

    #[test]
    fn real_pcapng() {
        // Packet counts as reported by capinfos.
        for (file, packets, linktype) in [("ah.pcapng", 6, 1), ("doq.pcapng", 20, 1)] {
            let p = shared_pcaps().join("ndpi").join(file);
            if !p.exists() {
                eprintln!("skipping: {} not present", p.display());
                continue;
            }
            let r = PcapReader::open(p.to_str().unwrap()).unwrap();
            assert_eq!(*r.format(), FileFormat::Pcapng);
            assert_eq!(r.linktype(), linktype);
            let (n, err) = count(&p);
            assert!(err.is_none(), "{file}: {err:?}");
            assert_eq!(n, packets, "{file}");
        }
    }

    #[test]
    fn real_files_do_not_panic() {
        for dir in ["tcpdump", "ndpi"] {
            let Ok(entries) = std::fs::read_dir(shared_pcaps().join(dir)) else {
                eprintln!("skipping: {dir} not present");
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if !p.is_file() {
                    continue;
                }
                let Ok(mut r) = PcapReader::open(p.to_str().unwrap()) else {
                    continue;
                };
                let mut last = r.bytes_consumed();
                while let Ok(Some(_)) = r.next_record() {
                    let now = r.bytes_consumed();
                    assert!(now > last, "{}: no progress", p.display());
                    last = now;
                }
                if let Some(size) = r.file_size() {
                    assert!(r.bytes_consumed() <= size);
                }
            }
        }
    }
}
