//! A series of capture files read as one stream (`-r FILE`, `-R LIST`, `-D EXPR[:SCHR][,STOP]`).
//!
//! Packets keep their numbering and the flow table keeps its state from one file to the next,
//! so a flow that spans a file boundary is one flow. Every file goes through
//! [`decompress`](super::decompress), so the parts may be compressed differently.
//!
//! Errors are per file: a file that cannot be opened, is not a capture, or turns out corrupt
//! or truncated is named in a warning, listed in the end report, and the series goes on with
//! the next file (what was read from a damaged file is kept). A single `-r FILE` keeps the
//! one-file behaviour: an open error is fatal, a read error ends the input.
//!
//! `-D` follows T2: the number in the file name is incremented after each file; without STOP
//! the series waits for the next file to appear. While it waits, the newest file is followed
//! like `tail -f` (a capture being written by `tcpdump -C` is read to its real end), and the
//! wait ends when the next file appears or after the give-up time without new data.

use super::decompress::{self, Compression};
use super::pcapfile::{InputError, InputErrorKind, PcapReader, Record};
use super::Source;
use crate::dissect::dlt;
use crate::time::Ts;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Which files make up the input.
#[derive(Clone, Debug)]
pub enum Plan {
    /// `-r FILE` (or `-r -`): one file with the classic error behaviour.
    Single(String),
    /// `-R LIST`: the files named in a list file.
    List(Vec<String>),
    /// `-D EXPR[:SCHR][,STOP]`: a numbered series.
    Numbered(Numbered),
}

/// How long `-D` waits for files.
#[derive(Clone, Debug)]
pub struct WaitOptions {
    /// How often to look for the next file (and for new data in the newest one).
    pub poll: Duration,
    /// Stop waiting after this long without new data (`None`: wait for ever, as T2).
    pub give_up: Option<Duration>,
    /// Ends any wait at once (the run's signal handling sets it).
    pub interrupt: Interrupt,
}

/// A check, installed once the run's signal handling exists, that tells a `-D` wait to end.
#[derive(Clone, Default)]
pub struct Interrupt(Arc<OnceLock<Box<dyn Fn() -> bool + Send + Sync>>>);

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Interrupt(installed: {})", self.0.get().is_some())
    }
}

impl Interrupt {
    /// Installs the check (the first one installed stays).
    pub fn set(&self, f: impl Fn() -> bool + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(f));
    }

    pub fn is_set(&self) -> bool {
        self.0.get().is_some_and(|f| f())
    }
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            poll: Duration::from_secs(5),
            give_up: None,
            interrupt: Interrupt::default(),
        }
    }
}

/// Reads a `-R` list: one path per line; blank lines and lines starting with `#` are skipped;
/// surrounding white space is trimmed. Relative paths are taken as given (relative to the
/// current directory), as T2 does.
pub fn read_list(path: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("-R {path}: {e}"))?;
    let files: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if files.is_empty() {
        return Err(format!("-R {path}: the list names no file"));
    }
    Ok(files)
}

/// A numbered file series: `prefix` + number (zero-padded to `width` when the first number
/// was written with a leading zero) + `suffix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub prefix: String,
    pub suffix: String,
    /// 0: the number is written without padding.
    pub width: usize,
    pub first: u64,
    /// The last number; `None`: open-ended (wait for each next file).
    pub stop: Option<u64>,
    /// STOP was given (not implied by the width of a zero-padded number).
    pub stop_given: bool,
}

impl Numbered {
    /// Parses `EXPR[:SCHR][,STOP]`. The number starts right after the last occurrence of SCHR
    /// in EXPR; without SCHR it is the last run of digits in the file name. A number written
    /// with a leading zero (`trace000.pcap`) keeps its width, and the series then ends at the
    /// largest number of that width unless STOP says otherwise (T2's rule).
    pub fn parse(arg: &str) -> Result<Numbered, String> {
        let err = |why: &str| format!("-D {arg}: {why}; expected EXPR[:SCHR][,STOP]");
        let mut expr = arg;
        let mut stop = None;
        if let Some(i) = expr.rfind(',') {
            let s = &expr[i + 1..];
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                stop = Some(s.parse::<u64>().map_err(|_| err("STOP is too large"))?);
                expr = &expr[..i];
            } else if s.starts_with('-') {
                return Err(err("STOP must not be negative"));
            }
        }
        let mut schr: Option<&str> = None;
        if let Some(i) = expr.rfind(':') {
            let s = &expr[i + 1..];
            if !s.contains('/') {
                schr = (!s.is_empty()).then_some(s);
                expr = &expr[..i];
            }
        }
        if expr.is_empty() {
            return Err(err("no file name"));
        }
        let name_start = expr.rfind('/').map_or(0, |i| i + 1);
        let b = expr.as_bytes();
        let num_start = match schr {
            Some(sep) => {
                let at = expr[name_start..]
                    .rfind(sep)
                    .map(|i| name_start + i)
                    .or_else(|| expr.rfind(sep))
                    .ok_or_else(|| err(&format!("the separator '{sep}' is not in the name")))?;
                at + sep.len()
            }
            None => {
                let mut end = b.len();
                while end > name_start && !b[end - 1].is_ascii_digit() {
                    end -= 1;
                }
                if end == name_start {
                    return Err(err("the file name has no number"));
                }
                let mut start = end;
                while start > name_start && b[start - 1].is_ascii_digit() {
                    start -= 1;
                }
                start
            }
        };
        let mut num_end = num_start;
        while num_end < b.len() && b[num_end].is_ascii_digit() {
            num_end += 1;
        }
        if num_end == num_start {
            return Err(err("no number right after the separator"));
        }
        let digits = &expr[num_start..num_end];
        let first: u64 = digits.parse().map_err(|_| err("the number is too large"))?;
        let width = if digits.len() > 1 && digits.starts_with('0') {
            digits.len()
        } else {
            0
        };
        let stop_given = stop.is_some();
        if width > 0 && stop.is_none() && width < 19 {
            stop = Some(10u64.pow(width as u32) - 1);
        }
        if let Some(s) = stop {
            if s < first {
                return Err(err(&format!("STOP {s} is below the first number {first}")));
            }
        }
        Ok(Numbered {
            prefix: expr[..num_start].to_string(),
            suffix: expr[num_end..].to_string(),
            width,
            first,
            stop,
            stop_given,
        })
    }

    pub fn path(&self, n: u64) -> String {
        format!("{}{:0w$}{}", self.prefix, n, self.suffix, w = self.width)
    }
}

/// A file of the series that could not be read completely.
#[derive(Clone, Debug)]
pub struct Problem {
    pub file: String,
    pub what: String,
}

/// What the series tells the run while it reads: log lines (file switches, per-file warnings),
/// problem files, and the figures for the end report.
#[derive(Default)]
struct Notes {
    lines: Vec<String>,
    problems: Vec<Problem>,
    files_opened: usize,
    /// Bytes of pcap data: the size of plain files, the decompressed bytes of compressed ones.
    pcap_bytes: u64,
    pcap_bytes_known: bool,
}

/// The run's view of a series (the series itself is moved into the reader loop).
#[derive(Clone)]
pub struct SeriesHandle {
    notes: Arc<Mutex<Notes>>,
    pending: Arc<AtomicBool>,
    interrupt: Interrupt,
}

impl SeriesHandle {
    /// Tells the series how to learn that the run was interrupted (SIGINT, SIGTERM): a `-D`
    /// wait for the next file, or for more data in the newest one, then ends at once and the
    /// input is over.
    pub fn on_interrupt(&self, f: impl Fn() -> bool + Send + Sync + 'static) {
        self.interrupt.set(f);
    }

    /// Cheap test for new log lines (one relaxed load).
    #[inline]
    pub fn has_lines(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    pub fn take_lines(&self) -> Vec<String> {
        self.pending.store(false, Ordering::Relaxed);
        match self.notes.lock() {
            Ok(mut n) => std::mem::take(&mut n.lines),
            Err(_) => Vec::new(),
        }
    }

    pub fn problems(&self) -> Vec<Problem> {
        self.notes
            .lock()
            .map(|n| n.problems.clone())
            .unwrap_or_default()
    }

    pub fn files_opened(&self) -> usize {
        self.notes.lock().map(|n| n.files_opened).unwrap_or(0)
    }

    /// Size of the pcap data for the end report's "Number of pcap bytes" and completion
    /// percentage (plain files: their size as T2 counts it; compressed: decompressed bytes).
    pub fn report_size(&self) -> Option<u64> {
        self.notes
            .lock()
            .ok()
            .filter(|n| n.pcap_bytes_known)
            .map(|n| n.pcap_bytes)
    }
}

struct Current {
    reading: Reading,
    name: String,
    compression: Compression,
    consumed: Arc<AtomicU64>,
    disk_size: Option<u64>,
    first_record: bool,
    /// Bytes of pcap data read (decompressed), known when the file is done.
    pcap_bytes: u64,
}

enum Reading {
    /// A file read in the reader's own thread.
    Direct(PcapReader),
    /// The newest file of a `-D` series, which may still be written: read by a helper thread
    /// that follows it (see [`Follow`]) and hands over copies of its records, so the reader
    /// thread never blocks for long (it reports [`pending`] instead).
    Tail(Tail),
}

/// What the tail thread sends.
enum Msg {
    Rec(Owned),
    /// The file is done: its decompressed byte count, or the error that ended it.
    Done(Result<u64, InputError>),
}

/// A record copied out of the tail thread's reader.
#[derive(Default)]
struct Owned {
    ts: Ts,
    caplen: u32,
    len: u32,
    linktype: u32,
    data: Vec<u8>,
}

struct Tail {
    rx: Receiver<Msg>,
    /// Buffers handed back for reuse.
    back: SyncSender<Vec<u8>>,
    rec: Owned,
    /// Link type, snap length, pcapng.
    desc: (u32, u32, bool),
}

/// The tail thread's reader, described once it has read the file's header.
struct Opened {
    desc: (u32, u32, bool),
    compression: Compression,
    consumed: Arc<AtomicU64>,
}

/// Records in flight between the tail thread and the reader: enough to ride over scheduling
/// jitter, small enough not to matter for memory.
const TAIL_QUEUE: usize = 1024;

/// The error that tells the run "no packet yet, call again" (see [`is_pending`]).
fn pending(path: &str) -> InputError {
    InputError {
        path: path.to_string(),
        offset: 0,
        kind: InputErrorKind::Io(io::Error::new(
            io::ErrorKind::WouldBlock,
            "waiting for more data or the next file of the series",
        )),
    }
}

/// Whether an error from [`Series`] only means that no packet is available yet (a `-D`
/// series waiting for data): the caller should hand its pending work on (partial batches)
/// and ask again; the source is not finished.
pub fn is_pending(e: &InputError) -> bool {
    matches!(&e.kind, InputErrorKind::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

/// Where the search for the next file stands.
enum Next {
    Path(String),
    /// Not there yet: call again later.
    Wait,
    End,
}

/// The series as a [`Source`].
pub struct Series {
    plan: Plan,
    /// List: index of the next file; Numbered: the next number.
    next: u64,
    cur: Option<Current>,
    /// On-disk bytes of the files already closed.
    done_disk: u64,
    /// On-disk bytes of the files known to belong to the series.
    total_disk: Option<u64>,
    files_total: Option<u64>,
    linktype: u32,
    snaplen: u32,
    pcapng: bool,
    name: String,
    last_ts: Ts,
    wait: WaitOptions,
    /// Milliseconds since `t0` when data last arrived (give-up clock of `-D`).
    last_data: Arc<AtomicU64>,
    t0: Instant,
    notes: Arc<Mutex<Notes>>,
    pending: Arc<AtomicBool>,
    /// An open-ended `-D` wait gave up: no further file is looked for.
    ended: bool,
    /// No switch lines for the first file (the run's start-up lines describe it).
    quiet_open: bool,
    /// Position in the series (1-based) of the file last looked for.
    pos: u64,
    /// A wait for the next file is under way (the first [`Next::Wait`] returns at once).
    waiting: bool,
}

impl Series {
    /// Opens the first readable file of the plan (its link type and snap length describe the
    /// input at start-up).
    pub fn open(plan: Plan, wait: WaitOptions) -> Result<(Series, SeriesHandle), InputError> {
        let notes = Arc::new(Mutex::new(Notes {
            pcap_bytes_known: true,
            ..Notes::default()
        }));
        let pending_lines = Arc::new(AtomicBool::new(false));
        let (next, files_total, name) = match &plan {
            Plan::Single(p) => (0, Some(1), p.clone()),
            Plan::List(v) => (
                0,
                Some(v.len() as u64),
                v.first().cloned().unwrap_or_default(),
            ),
            Plan::Numbered(n) => (
                n.first,
                n.stop.filter(|_| n.stop_given).map(|s| s - n.first + 1),
                n.path(n.first),
            ),
        };
        if let Plan::Numbered(n) = &plan {
            let p = n.path(n.first);
            if !Path::new(&p).exists() {
                return Err(InputError {
                    path: p,
                    offset: 0,
                    kind: InputErrorKind::Io(io::Error::new(
                        io::ErrorKind::NotFound,
                        "the first file of the -D series does not exist",
                    )),
                });
            }
        }
        let mut s = Series {
            plan,
            next,
            cur: None,
            done_disk: 0,
            total_disk: None,
            files_total,
            linktype: 0,
            snaplen: 0,
            pcapng: false,
            name,
            last_ts: Ts::ZERO,
            wait,
            last_data: Arc::new(AtomicU64::new(0)),
            t0: Instant::now(),
            notes: notes.clone(),
            pending: pending_lines.clone(),
            ended: false,
            quiet_open: true,
            pos: 0,
            waiting: false,
        };
        s.rescan_total();
        if !s.open_next_blocking()? {
            return Err(InputError {
                path: s.name.clone(),
                offset: 0,
                kind: InputErrorKind::NotACapture("no file of the series could be read".into()),
            });
        }
        s.quiet_open = false;
        let (lt, sl, ng, name) = {
            let c = s.cur.as_ref().expect("a file is open");
            let (lt, sl, ng) = c.describe();
            (lt, sl, ng, c.name.clone())
        };
        s.linktype = lt;
        s.snaplen = sl;
        s.pcapng = ng;
        s.name = name;
        let interrupt = s.wait.interrupt.clone();
        Ok((
            s,
            SeriesHandle {
                notes,
                pending: pending_lines,
                interrupt,
            },
        ))
    }

    fn single(&self) -> bool {
        matches!(self.plan, Plan::Single(_))
    }

    fn note(&self, line: String) {
        if let Ok(mut n) = self.notes.lock() {
            n.lines.push(line);
        }
        self.pending.store(true, Ordering::Relaxed);
    }

    fn problem(&self, file: &str, what: String) {
        self.note(format!("[WRN] {what}; continuing with the next file"));
        if let Ok(mut n) = self.notes.lock() {
            n.problems.push(Problem {
                file: file.to_string(),
                what,
            });
        }
    }

    /// Sum of the on-disk sizes of the files still ahead plus those done (progress total).
    fn rescan_total(&mut self) {
        let size = |p: &str| {
            std::fs::metadata(p)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())
        };
        let cur = self.cur.as_ref().and_then(|c| c.disk_size).unwrap_or(0);
        self.total_disk = match &self.plan {
            Plan::Single(p) => size(p),
            Plan::List(v) => {
                let ahead: u64 = v[self.next as usize..].iter().filter_map(|p| size(p)).sum();
                Some(self.done_disk + cur + ahead)
            }
            Plan::Numbered(n) => {
                let mut ahead = 0;
                let mut k = self.next;
                while n.stop.map_or(true, |s| k <= s) {
                    match size(&n.path(k)) {
                        Some(b) => ahead += b,
                        None => break,
                    }
                    k += 1;
                }
                Some(self.done_disk + cur + ahead)
            }
        };
    }

    /// The next file to open.
    fn next_path(&mut self) -> Next {
        if self.ended {
            return Next::End;
        }
        if let Plan::Numbered(n) = &self.plan {
            let n = n.clone();
            return self.next_numbered(&n);
        }
        let p = match &self.plan {
            Plan::Single(p) => (self.next == 0).then(|| p.clone()),
            Plan::List(v) => v.get(self.next as usize).cloned(),
            Plan::Numbered(_) => None,
        };
        self.next += 1;
        self.pos = self.next;
        p.map_or(Next::End, Next::Path)
    }

    fn idle(&self) -> Duration {
        self.t0.elapsed().saturating_sub(Duration::from_millis(
            self.last_data.load(Ordering::Relaxed),
        ))
    }

    fn next_numbered(&mut self, n: &Numbered) -> Next {
        loop {
            let k = self.next;
            if n.stop.is_some_and(|s| k > s) {
                return Next::End;
            }
            let p = n.path(k);
            self.pos = k - n.first + 1;
            if !Path::new(&p).exists() && self.waiting {
                // the first look returned at once (so the run could hand on its work); later
                // ones wait a poll interval first
                std::thread::sleep(self.wait.poll);
            }
            if Path::new(&p).exists() {
                self.waiting = false;
                self.next += 1;
                return Next::Path(p);
            }
            if self.wait.interrupt.is_set() {
                self.note(format!(
                    "[INF] -D: interrupted while waiting for {p}: end of the series"
                ));
                self.ended = true;
                return Next::End;
            }
            let gave_up = self.wait.give_up.filter(|g| self.idle() >= *g);
            let Some(g) = gave_up else {
                self.waiting = true;
                return Next::Wait;
            };
            let waited = g.as_secs_f64();
            self.waiting = false;
            match n.stop.filter(|_| n.stop_given) {
                Some(s) if k < s => {
                    // skip to the next file that exists (T2's MFPTMOUT skips one number a time)
                    let found =
                        (k + 1..=s.min(k + 100_000)).find(|j| Path::new(&n.path(*j)).exists());
                    let what = match found {
                        Some(j) if j > k + 1 => format!(
                            "{p} .. {}: did not appear within {waited} s (skipped)",
                            n.path(j - 1)
                        ),
                        _ => format!("{p}: did not appear within {waited} s (skipped)"),
                    };
                    self.problem(&p, what);
                    match found {
                        Some(j) => {
                            self.next = j;
                            self.touch();
                        }
                        None => {
                            self.ended = true;
                            return Next::End;
                        }
                    }
                }
                Some(_) => {
                    self.problem(&p, format!("{p}: did not appear within {waited} s"));
                    self.ended = true;
                    return Next::End;
                }
                None => {
                    self.note(format!(
                        "[INF] -D: no new data and no {p} for {waited} s: end of the series"
                    ));
                    self.ended = true;
                    return Next::End;
                }
            }
        }
    }

    fn touch(&self) {
        self.last_data
            .store(self.t0.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Opens the next readable file. `Ok(None)`: not there yet (call again); `Ok(Some(false))`:
    /// the series is over.
    fn open_next(&mut self) -> Result<Option<bool>, InputError> {
        loop {
            let path = match self.next_path() {
                Next::Path(p) => p,
                Next::Wait => return Ok(None),
                Next::End => return Ok(Some(false)),
            };
            match self.open_file(&path) {
                Ok(c) => {
                    self.touch();
                    if let Ok(mut n) = self.notes.lock() {
                        n.files_opened += 1;
                    }
                    if !self.quiet_open {
                        let no = self.pos.max(1);
                        let of = match self.files_total {
                            Some(t) => format!("no. {no} of {t}"),
                            None => format!("no. {no}"),
                        };
                        let comp = if c.compression == Compression::None {
                            String::new()
                        } else {
                            format!(" ({}-compressed)", c.compression.name())
                        };
                        self.note(format!("Processing file {of}: {path}{comp}"));
                        let (lt, sl, _) = c.describe();
                        let (ln, ld) = dlt::name(lt);
                        self.note(format!("Link layer type: {ld} [{ln}/{lt}]"));
                        self.note(format!(
                            "Snapshot length: {sl}{}",
                            crate::report::h(sl as u64, "")
                        ));
                    }
                    self.cur = Some(c);
                    self.rescan_total();
                    return Ok(Some(true));
                }
                Err(e) => {
                    if self.single() {
                        return Err(e);
                    }
                    let what = e.to_string();
                    self.problem(&path, format!("{what} (file skipped)"));
                }
            }
        }
    }

    /// [`open_next`](Self::open_next), waiting as long as it takes (start-up only).
    fn open_next_blocking(&mut self) -> Result<bool, InputError> {
        loop {
            if let Some(opened) = self.open_next()? {
                return Ok(opened);
            }
        }
    }

    fn open_file(&self, path: &str) -> Result<Current, InputError> {
        if let Plan::Numbered(n) = &self.plan {
            // follow the newest file of an open series: it may still be written
            let k = self.next - 1;
            let last = n.stop.is_some_and(|s| k >= s) && n.stop_given;
            if !last && !Path::new(&n.path(k + 1)).exists() {
                return self.open_tail(path, n.path(k + 1));
            }
        }
        let (rd, compression, consumed) = decompress::open_capture(path)?;
        let disk_size = if path == "-" {
            None
        } else {
            std::fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())
        };
        Ok(Current {
            reading: Reading::Direct(rd),
            name: path.to_string(),
            compression,
            consumed,
            disk_size,
            first_record: true,
            pcap_bytes: 0,
        })
    }

    /// Opens the newest file of a `-D` series in a helper thread that follows it.
    fn open_tail(&self, path: &str, next: String) -> Result<Current, InputError> {
        let io_err = |e: io::Error| InputError {
            path: path.to_string(),
            offset: 0,
            kind: InputErrorKind::Io(e),
        };
        let f = File::open(path).map_err(io_err)?;
        let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        let follow = Follow {
            f,
            next,
            wait: self.wait.clone(),
            last_data: self.last_data.clone(),
            t0: self.t0,
        };
        let name = path.to_string();
        let (otx, orx) = sync_channel::<Result<Opened, InputError>>(1);
        let (tx, rx) = sync_channel::<Msg>(TAIL_QUEUE);
        let (back, back_rx) = sync_channel::<Vec<u8>>(TAIL_QUEUE);
        let spawned = std::thread::Builder::new()
            .name("series-tail".into())
            .spawn(move || {
                let o = match decompress::wrap(Box::new(follow), size) {
                    Ok(o) => o,
                    Err(e) => {
                        let _ = otx.send(Err(InputError {
                            path: name.clone(),
                            offset: 0,
                            kind: InputErrorKind::Io(e),
                        }));
                        return;
                    }
                };
                let plain = o.compression == Compression::None;
                let (compression, consumed) = (o.compression, o.consumed.clone());
                let rd = PcapReader::from_read(o.reader, &name, if plain { size } else { None });
                let mut rd = match rd {
                    Ok(rd) => rd,
                    Err(e) => {
                        let _ = otx.send(Err(e));
                        return;
                    }
                };
                let _ = otx.send(Ok(Opened {
                    desc: (
                        rd.linktype(),
                        rd.snaplen(),
                        matches!(rd.format(), super::FileFormat::Pcapng),
                    ),
                    compression,
                    consumed,
                }));
                loop {
                    let msg = match rd.next_record() {
                        Ok(Some(r)) => {
                            let mut data = back_rx.try_recv().unwrap_or_default();
                            data.clear();
                            data.extend_from_slice(r.data);
                            Msg::Rec(Owned {
                                ts: r.ts,
                                caplen: r.caplen,
                                len: r.len,
                                linktype: r.linktype,
                                data,
                            })
                        }
                        Ok(None) => Msg::Done(Ok(rd.bytes_consumed())),
                        Err(e) => Msg::Done(Err(e)),
                    };
                    let last = matches!(msg, Msg::Done(_));
                    if tx.send(msg).is_err() || last {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            return Err(io_err(e));
        }
        // the file exists: its header comes soon (or the give-up time ends the wait inside the
        // thread)
        let o = match orx.recv() {
            Ok(r) => r?,
            Err(_) => return Err(io_err(io::Error::other("the series reader thread ended"))),
        };
        Ok(Current {
            reading: Reading::Tail(Tail {
                rx,
                back,
                rec: Owned::default(),
                desc: o.desc,
            }),
            name: path.to_string(),
            compression: o.compression,
            consumed: o.consumed,
            disk_size: size,
            first_record: true,
            pcap_bytes: 0,
        })
    }

    /// Closes the current file and books its bytes.
    fn close_current(&mut self) {
        if let Some(c) = self.cur.take() {
            let disk = c.consumed.load(Ordering::Relaxed);
            self.done_disk += c.disk_size.unwrap_or(disk).max(disk);
            let pcap = match &c.reading {
                Reading::Direct(rd) => rd.bytes_consumed(),
                Reading::Tail(_) => c.pcap_bytes,
            };
            if let Ok(mut n) = self.notes.lock() {
                match (c.compression, c.disk_size) {
                    (Compression::None, Some(s)) => n.pcap_bytes += s,
                    (Compression::None, None) => n.pcap_bytes_known = false,
                    _ => n.pcap_bytes += pcap,
                }
            }
        }
    }

    /// Books the first record of a file (order check across files).
    fn first_of_file(&mut self, name: &str, ts: Ts) {
        if ts < self.last_ts && self.last_ts != Ts::ZERO {
            self.note(format!(
                "[WRN] {name}: its first packet ({}.{:09}) is older than the last packet of the previous file ({}.{:09}): check the order of the files",
                ts.sec, ts.nsec, self.last_ts.sec, self.last_ts.nsec
            ));
        }
    }
}

impl Current {
    /// Link type, snap length, pcapng.
    fn describe(&self) -> (u32, u32, bool) {
        match &self.reading {
            Reading::Direct(rd) => (
                rd.linktype(),
                rd.snaplen(),
                matches!(rd.format(), super::FileFormat::Pcapng),
            ),
            Reading::Tail(t) => t.desc,
        }
    }
}

impl Series {
    /// [`Source::next_record`] in every case but the common one.
    fn next_record_general(&mut self) -> Result<Option<Record<'_>>, InputError> {
        loop {
            if self.cur.is_none() {
                match self.open_next()? {
                    Some(true) => {}
                    Some(false) => return Ok(None),
                    None => return Err(pending(&self.name)),
                }
            }
            let cur: *mut Current = self.cur.as_mut().expect("a file is open");
            // SAFETY: `cur` points into `self.cur`, which is neither moved nor changed between
            // here and the return of the record, so the record may borrow it for the lifetime
            // of `&mut self`. (The raw pointer only works around the borrow checker's
            // rejection of a conditional return of a borrow inside a loop.)
            let c = unsafe { &mut *cur };
            let res: Result<Option<Record<'_>>, InputError> = match &mut c.reading {
                Reading::Direct(rd) => rd.next_record(),
                Reading::Tail(t) => match t.rx.recv_timeout(self.wait.poll) {
                    Ok(Msg::Rec(r)) => {
                        let old = std::mem::replace(&mut t.rec, r);
                        let _ = t.back.try_send(old.data);
                        Ok(Some(Record {
                            ts: t.rec.ts,
                            caplen: t.rec.caplen,
                            len: t.rec.len,
                            linktype: t.rec.linktype,
                            data: &t.rec.data,
                            window: None,
                        }))
                    }
                    Ok(Msg::Done(Ok(bytes))) => {
                        c.pcap_bytes = bytes;
                        Ok(None)
                    }
                    Ok(Msg::Done(Err(e))) => Err(e),
                    Err(RecvTimeoutError::Timeout) => return Err(pending(&c.name)),
                    Err(RecvTimeoutError::Disconnected) => Ok(None),
                },
            };
            match res {
                Ok(Some(r)) => {
                    let ts = r.ts;
                    if std::mem::replace(&mut c.first_record, false) {
                        let name = c.name.clone();
                        self.first_of_file(&name, ts);
                    }
                    self.last_ts = ts;
                    return Ok(Some(r));
                }
                Ok(None) => self.close_current(),
                Err(e) => {
                    if self.single() {
                        self.close_current();
                        return Err(e);
                    }
                    let name = e.path.clone();
                    self.problem(&name, e.to_string());
                    self.close_current();
                }
            }
        }
    }
}

impl Source for Series {
    #[inline]
    fn next_record(&mut self) -> Result<Option<Record<'_>>, InputError> {
        // the common case: the next record of the open file (not its first), whole in its buffer
        let taken = match &mut self.cur {
            Some(Current {
                reading: Reading::Direct(rd),
                first_record: false,
                ..
            }) => rd.take_buffered(),
            _ => None,
        };
        if let Some(b) = taken {
            self.last_ts = b.ts;
            let Some(Current {
                reading: Reading::Direct(rd),
                ..
            }) = &self.cur
            else {
                unreachable!("take_buffered gave a record of a direct reader");
            };
            return Ok(Some(rd.buffered_record(&b)));
        }
        self.next_record_general()
    }

    fn linktype(&self) -> u32 {
        self.linktype
    }

    fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// On-disk bytes of the whole series as far as it is known (progress total).
    fn file_size(&self) -> Option<u64> {
        self.total_disk
    }

    /// On-disk bytes read so far.
    fn bytes_consumed(&self) -> u64 {
        self.done_disk
            + self
                .cur
                .as_ref()
                .map_or(0, |c| c.consumed.load(Ordering::Relaxed))
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn is_pcapng(&self) -> bool {
        self.pcapng
    }
}

/// Reads a file of a `-D` series; at its end, waits (polling) for more data as long as the
/// next file of the series does not exist, so a capture still being written is read whole.
struct Follow {
    f: File,
    next: String,
    wait: WaitOptions,
    last_data: Arc<AtomicU64>,
    t0: Instant,
}

impl Read for Follow {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.f.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.last_data
                    .store(self.t0.elapsed().as_millis() as u64, Ordering::Relaxed);
                return Ok(n);
            }
            if Path::new(&self.next).exists() {
                // the writer moved on; read what it appended meanwhile, then end
                let n = self.f.read(buf)?;
                return Ok(n);
            }
            if self.wait.interrupt.is_set() {
                return Ok(0);
            }
            if let Some(g) = self.wait.give_up {
                let last = Duration::from_millis(self.last_data.load(Ordering::Relaxed));
                if self.t0.elapsed().saturating_sub(last) >= g {
                    return Ok(0);
                }
            }
            std::thread::sleep(self.wait.poll);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(arg: &str) -> Numbered {
        Numbered::parse(arg).unwrap()
    }

    #[test]
    fn tcpdump_rotation_names() {
        // tcpdump -C: trace.pcap, trace.pcap1, trace.pcap2 ... (T2's SCHR 'p' case)
        let s = n("dir/trace.pcap1");
        assert_eq!(s.path(2), "dir/trace.pcap2");
        assert_eq!(s.path(10), "dir/trace.pcap10");
        assert_eq!((s.first, s.stop, s.width), (1, None, 0));
        let s = n("dir/trace.pcap0:p,7");
        assert_eq!((s.first, s.stop), (0, Some(7)));
        assert_eq!(s.path(3), "dir/trace.pcap3");
    }

    #[test]
    fn padded_numbers_keep_their_width_and_imply_a_stop() {
        let s = n("/x/file_000.pcap.zst");
        assert_eq!(s.path(7), "/x/file_007.pcap.zst");
        assert_eq!((s.first, s.stop, s.width), (0, Some(999), 3));
        let s = n("/x/file_000.pcap,5");
        assert_eq!(s.stop, Some(5));
    }

    #[test]
    fn separators() {
        // '.' picks the number after the last dot, '_' after the last underscore
        let s = n("a/run_3.part.12:.");
        assert_eq!(s.path(13), "a/run_3.part.13");
        let s = n("a/run_3.part.12:_");
        assert_eq!(s.path(4), "a/run_4.part.12");
        // multi-character separator
        let s = n("cap-part-2-x.pcap:part-,9");
        assert_eq!(s.path(3), "cap-part-3-x.pcap");
        assert_eq!(s.stop, Some(9));
        // an empty SCHR means the default
        let s = n("trace.pcap0:");
        assert_eq!(s.path(1), "trace.pcap1");
    }

    #[test]
    fn bad_expressions() {
        assert!(Numbered::parse("nodigits.pcap").is_err());
        assert!(Numbered::parse("trace.pcap5,3").is_err());
        assert!(Numbered::parse("trace.pcap:x").is_err());
        assert!(Numbered::parse("trace.pcap1:.").is_err());
        assert!(Numbered::parse("").is_err());
    }

    #[test]
    fn list_files_skip_comments_and_blanks() {
        let d = std::env::temp_dir().join(format!("tamandua-list-{}", std::process::id()));
        std::fs::write(&d, "# comment\n a.pcap \n\n  # also a comment\nb.pcap.gz\n").unwrap();
        let v = read_list(d.to_str().unwrap()).unwrap();
        assert_eq!(v, vec!["a.pcap".to_string(), "b.pcap.gz".to_string()]);
        std::fs::write(&d, "# nothing\n").unwrap();
        assert!(read_list(d.to_str().unwrap()).is_err());
        let _ = std::fs::remove_file(&d);
    }
}
