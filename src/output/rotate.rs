//! Output files for long runs: compressed writers (`--compress zstd|gzip`) and T2's flow-file
//! splitting (`-W PREFIX[:SIZE][,START]`, txtSink.md section 4).
//!
//! The writer thread writes each flow record with exactly one `write_all` call, so a
//! [`Rotating`] writer sees record boundaries and only ever switches files between records.

use std::fs::File;
use std::io::{self, BufWriter, Write};

/// Compression of the output files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Codec {
    #[default]
    None,
    Zstd,
    Gzip,
}

impl Codec {
    pub fn parse(s: &str) -> Result<Codec, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zstd" | "zst" => Ok(Codec::Zstd),
            "gzip" | "gz" => Ok(Codec::Gzip),
            "none" | "" => Ok(Codec::None),
            _ => Err(format!("--compress {s}: expected zstd or gzip")),
        }
    }

    /// File name extension appended to compressed files.
    pub fn ext(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Zstd => ".zst",
            Codec::Gzip => ".gz",
        }
    }
}

/// zstd level: fast enough to keep up with the writer thread, about 4x on flow text.
const ZSTD_LEVEL: i32 = 3;
const BUF: usize = 1 << 20;

enum Inner {
    Plain(BufWriter<StreamFile>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<StreamFile>>),
    Gzip(flate2::write::GzEncoder<BufWriter<StreamFile>>),
}

/// Bytes of an output file handed to the disk at a time (see [`StreamFile`]).
const STREAM_WINDOW: u64 = 32 << 20;

/// A file written once from start to end whose data leaves the page cache soon after it was
/// written: when a window is complete its writeback is started, and the two windows before it
/// (written back by then unless the disk is slow) are dropped from the cache. Nothing waits:
/// pages still dirty or under writeback are skipped and get a second chance a window later,
/// or stay for the kernel to reclaim, so a slow disk is absorbed by the page cache as before.
/// Files below one window are left alone.
///
/// Packet mode writes gigabytes (1.77 GB for real.pcap). Left in the page cache, every page
/// written is a freshly allocated one, which on the benchmark VM cost 0.3-4.4 s (mostly 1-3 s)
/// of kernel time per 1.7 GB, against 0.36-0.5 s when pages are recycled this way; and the
/// output no longer evicts other files' pages. The kernel writes the same data to disk either
/// way.
struct StreamFile {
    file: File,
    window: u64,
    written: u64,
    /// Start of the window being filled.
    window_start: u64,
    /// Successful drop requests so far.
    retired: u64,
}

impl StreamFile {
    fn new(file: File, window: u64) -> StreamFile {
        StreamFile {
            file,
            window,
            written: 0,
            window_start: 0,
            retired: 0,
        }
    }

    /// Starts the writeback of the window just completed and drops the two before it from
    /// the cache. Failures (e.g. on pipes or devices, which have no page cache) only lose the
    /// hint: `write` has written the data either way.
    fn window_done(&mut self) {
        let done = self.window_start;
        self.window_start += self.window;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let fd = self.file.as_raw_fd();
            let (Ok(off), Ok(len)) = (i64::try_from(done), i64::try_from(self.window)) else {
                return;
            };
            // SAFETY: sync_file_range takes only integers (no memory is passed); with
            // SYNC_FILE_RANGE_WRITE alone it starts writeback and waits for nothing. An invalid
            // descriptor or range makes it return an error, which is ignored.
            unsafe {
                libc::sync_file_range(fd, off, len, libc::SYNC_FILE_RANGE_WRITE);
            }
            if off >= len {
                let from = off.saturating_sub(2 * len);
                let dropped = nix::fcntl::posix_fadvise(
                    fd,
                    from,
                    off - from,
                    nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
                );
                if dropped.is_ok() {
                    self.retired += 1;
                }
            }
        }
    }
}

impl Write for StreamFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        while self.written - self.window_start >= self.window {
            self.window_done();
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// One output file, compressed or not. Dropping it finishes the compressed stream; call
/// [`OutFile::finish`] to see errors.
pub struct OutFile {
    inner: Option<Inner>,
    path: String,
}

impl OutFile {
    /// Creates `path` (the caller adds [`Codec::ext`]).
    pub fn create(path: &str, codec: Codec) -> Result<OutFile, String> {
        let f = File::create(path).map_err(|e| format!("{path}: {e}"))?;
        let w = BufWriter::with_capacity(BUF, StreamFile::new(f, STREAM_WINDOW));
        let inner = match codec {
            Codec::None => Inner::Plain(w),
            Codec::Zstd => Inner::Zstd(
                zstd::stream::write::Encoder::new(w, ZSTD_LEVEL)
                    .map_err(|e| format!("{path}: zstd: {e}"))?,
            ),
            Codec::Gzip => Inner::Gzip(flate2::write::GzEncoder::new(
                w,
                flate2::Compression::new(5),
            )),
        };
        Ok(OutFile {
            inner: Some(inner),
            path: path.to_string(),
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Ends the compressed stream and flushes the file.
    pub fn finish(&mut self) -> io::Result<()> {
        match self.inner.take() {
            None => Ok(()),
            Some(Inner::Plain(mut w)) => w.flush(),
            Some(Inner::Zstd(e)) => e.finish()?.flush(),
            Some(Inner::Gzip(e)) => e.finish()?.flush(),
        }
    }

    fn w(&mut self) -> io::Result<&mut dyn Write> {
        match self.inner.as_mut() {
            Some(Inner::Plain(w)) => Ok(w),
            Some(Inner::Zstd(w)) => Ok(w),
            Some(Inner::Gzip(w)) => Ok(w),
            None => Err(io::Error::other(format!("{}: already closed", self.path))),
        }
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w()?.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.w()?.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w()?.flush()
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            eprintln!("tamandua: {}: {e}", self.path);
        }
    }
}

/// When a file of a `-W` series is full.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    pub size: u64,
    /// Count records (`f` suffix) instead of bytes.
    pub records: bool,
}

/// A parsed `-W PREFIX[:SIZE][,START]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitSpec {
    pub prefix: String,
    pub limit: Limit,
    pub start: u64,
}

/// T2's default file size for `-W` without SIZE (OFRWFILELN, 500 MB).
pub const DEFAULT_SPLIT_SIZE: u64 = 500_000_000;

impl SplitSpec {
    /// Parses `PREFIX[:SIZE][,START]`. SIZE is a number (decimals allowed) with an optional
    /// K, M or G (x1000, as T2) and an optional `f`, which counts flow records instead of
    /// bytes; T2 writes the `f` last (`10Kf`), `10fK` is accepted too.
    pub fn parse(arg: &str) -> Result<SplitSpec, String> {
        let err = |why: &str| format!("-W {arg}: {why}; expected PREFIX[:SIZE][,START]");
        let mut rest = arg;
        let mut start = 0;
        if let Some(i) = rest.rfind(',') {
            start = rest[i + 1..]
                .trim()
                .parse()
                .map_err(|_| err("START is not a number"))?;
            rest = &rest[..i];
        }
        let mut limit = Limit {
            size: DEFAULT_SPLIT_SIZE,
            records: false,
        };
        if let Some(i) = rest.rfind(':') {
            let mut s = rest[i + 1..].trim().to_string();
            rest = &rest[..i];
            if s.ends_with('f') {
                s.pop();
                limit.records = true;
            }
            let mut mul = 1.0;
            if let Some(last) = s.chars().last() {
                let m = match last {
                    'K' | 'k' => 1e3,
                    'M' => 1e6,
                    'G' | 'g' => 1e9,
                    _ => 1.0,
                };
                if m != 1.0 {
                    s.pop();
                    mul = m;
                }
            }
            if s.ends_with('f') {
                s.pop();
                limit.records = true;
            }
            let v: f64 = s.trim().parse().map_err(|_| err("SIZE is not a number"))?;
            let size = v * mul;
            if size.is_nan() || size < 1.0 || !size.is_finite() {
                return Err(err("SIZE must be at least 1"));
            }
            limit.size = size as u64;
        }
        if rest.is_empty() {
            return Err(err("no PREFIX"));
        }
        Ok(SplitSpec {
            prefix: rest.to_string(),
            limit,
            start,
        })
    }
}

/// A flow file split into numbered parts: `BASE` + index (+ the codec's extension).
pub struct Rotating {
    base: String,
    codec: Codec,
    limit: Limit,
    next_index: u64,
    header: Vec<u8>,
    cur: Option<OutFile>,
    bytes: u64,
    records: u64,
    /// Paths written so far.
    pub files: Vec<String>,
}

impl Rotating {
    /// Creates the first part at once (with the header line, which only the first part gets,
    /// as T2 without TFS_PRI_HDR_FW); later parts are opened when their first record comes,
    /// so no empty part is left at the end.
    pub fn new(
        base: &str,
        codec: Codec,
        limit: Limit,
        start: u64,
        header: &[u8],
    ) -> Result<Rotating, String> {
        let mut r = Rotating {
            base: base.to_string(),
            codec,
            limit,
            next_index: start,
            header: header.to_vec(),
            cur: None,
            bytes: 0,
            records: 0,
            files: Vec::new(),
        };
        r.open_next().map_err(|e| e.to_string())?;
        Ok(r)
    }

    /// Path of part `i`.
    pub fn part_path(base: &str, i: u64, codec: Codec) -> String {
        format!("{base}{i}{}", codec.ext())
    }

    fn open_next(&mut self) -> io::Result<()> {
        let path = Self::part_path(&self.base, self.next_index, self.codec);
        self.next_index += 1;
        let mut f = OutFile::create(&path, self.codec).map_err(io::Error::other)?;
        self.bytes = 0;
        self.records = 0;
        if self.files.is_empty() && !self.header.is_empty() {
            f.write_all(&self.header)?;
            self.bytes = self.header.len() as u64;
        }
        self.files.push(path);
        self.cur = Some(f);
        Ok(())
    }

    fn full(&self) -> bool {
        if self.limit.records {
            self.records >= self.limit.size
        } else {
            self.bytes >= self.limit.size
        }
    }
}

impl Write for Rotating {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    /// One call is one record.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.cur.is_none() {
            self.open_next()?;
        }
        let f = self.cur.as_mut().expect("a part is open");
        f.write_all(buf)?;
        self.bytes += buf.len() as u64;
        self.records += 1;
        if self.full() {
            let mut f = self.cur.take().expect("a part is open");
            f.finish()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.cur.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn split_specs() {
        let s = SplitSpec::parse("out/x").unwrap();
        assert_eq!(s.prefix, "out/x");
        assert_eq!(s.limit.size, DEFAULT_SPLIT_SIZE);
        assert!(!s.limit.records);
        assert_eq!(s.start, 0);
        let s = SplitSpec::parse("out/x:1.5M,3").unwrap();
        assert_eq!(
            (s.limit.size, s.limit.records, s.start),
            (1_500_000, false, 3)
        );
        let s = SplitSpec::parse("x:10Kf").unwrap();
        assert_eq!((s.limit.size, s.limit.records), (10_000, true));
        let s = SplitSpec::parse("x:10fK").unwrap();
        assert_eq!((s.limit.size, s.limit.records), (10_000, true));
        let s = SplitSpec::parse("x:100f").unwrap();
        assert_eq!((s.limit.size, s.limit.records), (100, true));
        assert!(SplitSpec::parse(":10").is_err());
        assert!(SplitSpec::parse("x:abc").is_err());
        assert!(SplitSpec::parse("x:0").is_err());
        assert!(SplitSpec::parse("x:10,y").is_err());
    }

    fn tmp(tag: &str) -> String {
        let d = std::env::temp_dir().join(format!("tamandua-rot-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.join("x_flows.txt").to_str().unwrap().to_string()
    }

    #[test]
    fn rotation_by_records_keeps_records_whole() {
        let base = tmp("rec");
        let lim = Limit {
            size: 3,
            records: true,
        };
        let mut r = Rotating::new(&base, Codec::None, lim, 5, b"%hdr\n").unwrap();
        for i in 0..7 {
            r.write_all(format!("rec{i}\n").as_bytes()).unwrap();
        }
        r.flush().unwrap();
        let files = r.files.clone();
        drop(r);
        assert_eq!(files.len(), 3);
        assert!(files[0].ends_with("x_flows.txt5"));
        let a = std::fs::read_to_string(&files[0]).unwrap();
        assert_eq!(a, "%hdr\nrec0\nrec1\nrec2\n");
        let c = std::fs::read_to_string(&files[2]).unwrap();
        assert_eq!(c, "rec6\n");
    }

    #[test]
    fn rotation_by_size_and_compression() {
        let base = tmp("size");
        let lim = Limit {
            size: 20,
            records: false,
        };
        let mut r = Rotating::new(&base, Codec::Zstd, lim, 0, b"%h\n").unwrap();
        for i in 0..10 {
            r.write_all(format!("record-{i}\n").as_bytes()).unwrap();
        }
        let files = r.files.clone();
        drop(r);
        // 3 + 9 + 9 = 21 >= 20: two records and the header per part, then full parts
        assert!(files.iter().all(|f| f.ends_with(".zst")));
        let mut all = String::new();
        for f in &files {
            let mut d = zstd::stream::read::Decoder::new(File::open(f).unwrap()).unwrap();
            let mut s = String::new();
            d.read_to_string(&mut s).unwrap();
            assert!(s.len() >= 18 || f == files.last().unwrap(), "{f}: {s:?}");
            all.push_str(&s);
        }
        let want: String = std::iter::once("%h\n".to_string())
            .chain((0..10).map(|i| format!("record-{i}\n")))
            .collect();
        assert_eq!(all, want);
    }

    #[test]
    fn stream_file_keeps_every_byte_while_retiring_windows() {
        let path = tmp("stream");
        let mut f = StreamFile::new(File::create(&path).unwrap(), 8192);
        let mut want = Vec::new();
        for i in 0..5000u32 {
            let line = format!("line {i} {}\n", "x".repeat((i % 37) as usize));
            f.write_all(line.as_bytes()).unwrap();
            want.extend_from_slice(line.as_bytes());
        }
        f.flush().unwrap();
        let windows = want.len() as u64 / 8192;
        assert_eq!(f.window_start, windows * 8192);
        #[cfg(target_os = "linux")]
        assert_eq!(
            f.retired,
            windows - 1,
            "every complete window but the last is dropped"
        );
        drop(f);
        assert_eq!(std::fs::read(&path).unwrap(), want);
        // a device has no page cache: the hints fail, the data still goes through
        let mut null = StreamFile::new(File::create("/dev/null").unwrap(), 4096);
        null.write_all(&[b'.'; 20_000]).unwrap();
        assert_eq!((null.written, null.window_start), (20_000, 16_384));
    }

    #[test]
    fn gzip_file_is_finished_on_drop() {
        let base = tmp("gz");
        let path = format!("{base}.gz");
        {
            let mut f = OutFile::create(&path, Codec::Gzip).unwrap();
            f.write_all(b"hello\n").unwrap();
        }
        let mut d = flate2::read::GzDecoder::new(File::open(&path).unwrap());
        let mut s = String::new();
        d.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello\n");
    }
}
