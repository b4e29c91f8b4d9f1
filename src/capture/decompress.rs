//! Opening a capture whatever its compression: the first bytes (never the file name) decide
//! whether the stream goes through a gzip, zstd, xz or lz4-frame decoder before it reaches the
//! pcap/pcapng reader. Used for `-r FILE`, `-r -` (a pipe), and every file of a series.
//!
//! The on-disk (compressed) bytes read so far are counted in an [`AtomicU64`] shared with the
//! caller, so progress and the remaining time refer to the files as they are on disk.
//!
//! Compressed streams are decoded on a helper thread that hands 1 MiB blocks to the reader
//! thread: decoding then overlaps with dissection instead of adding to it.

use super::pcapfile::{InputError, InputErrorKind, PcapReader};
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

/// How a capture file is compressed, from its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
    Lz4,
}

impl Compression {
    /// Recognises the container from the first bytes of a stream (6 are enough).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
            Compression::Lz4
        } else {
            Compression::None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Lz4 => "lz4",
        }
    }
}

/// Counts the bytes read from the underlying file or pipe.
struct Counting<R> {
    inner: R,
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// An input stream ready for the pcap reader.
pub struct Opened {
    /// Decompressed bytes.
    pub reader: Box<dyn Read + Send>,
    pub compression: Compression,
    /// Size on disk (`None` for pipes and standard input).
    pub disk_size: Option<u64>,
    /// On-disk bytes read so far (compressed bytes for a compressed file).
    pub consumed: Arc<AtomicU64>,
}

/// Opens `path` (`-` is standard input) and puts a decoder in front when the magic bytes call
/// for one.
pub fn open(path: &str) -> io::Result<Opened> {
    if path == "-" {
        return wrap(Box::new(io::stdin()), None);
    }
    let f = File::open(path)?;
    let meta = f.metadata()?;
    if meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a directory",
        ));
    }
    let size = meta.is_file().then_some(meta.len());
    wrap(Box::new(f), size)
}

/// Puts a decoder in front of any byte stream when its first bytes call for one.
pub fn wrap(src: Box<dyn Read + Send>, disk_size: Option<u64>) -> io::Result<Opened> {
    let consumed = Arc::new(AtomicU64::new(0));
    let mut src = Counting {
        inner: src,
        n: consumed.clone(),
    };
    // a pipe may deliver fewer bytes per read than the magic needs
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match src.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let compression = Compression::detect(&head[..got]);
    let stream: Box<dyn Read + Send> = Box::new(Cursor::new(head[..got].to_vec()).chain(src));
    let reader: Box<dyn Read + Send> = match compression {
        Compression::None => stream,
        Compression::Gzip => threaded(Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(1 << 16, stream),
        ))),
        Compression::Zstd => threaded(Box::new(zstd::stream::read::Decoder::new(stream)?)),
        Compression::Xz => threaded(Box::new(liblzma::read::XzDecoder::new_multi_decoder(
            stream,
        ))),
        Compression::Lz4 => threaded(Box::new(lz4_flex::frame::FrameDecoder::new(stream))),
    };
    Ok(Opened {
        reader,
        compression,
        disk_size,
        consumed,
    })
}

/// Opens a capture file (or `-`) of any supported compression for the pcap reader. Errors
/// name the file, as the reader's own do.
pub fn open_capture(path: &str) -> Result<(PcapReader, Compression, Arc<AtomicU64>), InputError> {
    let io_err = |e: io::Error| InputError {
        path: path.to_string(),
        offset: 0,
        kind: InputErrorKind::Io(e),
    };
    if path != "-" && MAP_INPUT.load(Ordering::Relaxed) {
        // a plain regular file is mapped (no copies of its bytes, see `super::mapped`)
        let f = File::open(path).map_err(io_err)?;
        let meta = f.metadata().map_err(io_err)?;
        let mut head = [0u8; 6];
        let got = read_head(&f, &mut head).map_err(io_err)?;
        if meta.is_file() && Compression::detect(&head[..got]) == Compression::None {
            let consumed = Arc::new(AtomicU64::new(0));
            let rd = PcapReader::from_file(f, path, Some(consumed.clone()))?;
            return Ok((rd, Compression::None, consumed));
        }
    }
    let o = open(path).map_err(io_err)?;
    // the reader's completion figures refer to the pcap bytes, which only the plain file has
    let size = if o.compression == Compression::None {
        o.disk_size
    } else {
        None
    };
    let rd = PcapReader::from_read(o.reader, path, size).map_err(|mut e| {
        if o.compression != Compression::None {
            if let InputErrorKind::NotACapture(what) = &mut e.kind {
                what.push_str(&format!(" (after {} decompression)", o.compression.name()));
            }
        }
        e
    })?;
    Ok((rd, o.compression, o.consumed))
}

/// Whether plain capture files are memory-mapped (INPUT_MMAP; set once at start).
pub static MAP_INPUT: AtomicBool = AtomicBool::new(true);

/// The first bytes of a file, read without moving its position.
fn read_head(f: &File, head: &mut [u8]) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut got = 0;
    while got < head.len() {
        match f.read_at(&mut head[got..], got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

const BLOCK: usize = 1 << 20;
const BLOCKS_AHEAD: usize = 4;

/// Runs a decoder on its own thread; the returned reader hands out what it decoded.
fn threaded(mut dec: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(BLOCKS_AHEAD);
    let spawned = std::thread::Builder::new()
        .name("decompress".into())
        .spawn(move || loop {
            let mut block = vec![0u8; BLOCK];
            let mut n = 0;
            let mut end = false;
            while n < BLOCK {
                match dec.read(&mut block[n..]) {
                    Ok(0) => {
                        end = true;
                        break;
                    }
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        // hand over what was decoded before the error, then the error
                        if n > 0 {
                            block.truncate(n);
                            if tx.send(Ok(block)).is_err() {
                                return;
                            }
                        }
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            block.truncate(n);
            if n > 0 && tx.send(Ok(block)).is_err() {
                return; // the reader went away
            }
            if end {
                return;
            }
        });
    match spawned {
        Ok(_) => Box::new(BlockReader {
            rx,
            cur: Vec::new(),
            pos: 0,
            finished: false,
        }),
        // no thread available: the stream is still readable, only not in parallel
        Err(_) => unreachable_decoder(),
    }
}

/// Only reached when a thread cannot be started at all, which leaves the decoder moved into
/// the failed closure; report it as a read error rather than panicking.
fn unreachable_decoder() -> Box<dyn Read + Send> {
    struct Failed;
    impl Read for Failed {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("cannot start the decompression thread"))
        }
    }
    Box::new(Failed)
}

struct BlockReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
    finished: bool,
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            if self.finished {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    self.cur = b;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.finished = true;
                    return Err(e);
                }
                Err(_) => {
                    self.finished = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pcap_bytes() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        for i in 0..3000u32 {
            v.extend_from_slice(&i.to_le_bytes());
            v.extend_from_slice(&0u32.to_le_bytes());
            v.extend_from_slice(&60u32.to_le_bytes());
            v.extend_from_slice(&60u32.to_le_bytes());
            v.extend((0..60).map(|k| (k as u32 ^ i) as u8));
        }
        v
    }

    fn read_all(c: Vec<u8>) -> (Compression, Vec<u8>, u64) {
        let len = c.len() as u64;
        let mut o = wrap(Box::new(Cursor::new(c)), Some(len)).unwrap();
        let mut out = Vec::new();
        o.reader.read_to_end(&mut out).unwrap();
        (o.compression, out, o.consumed.load(Ordering::Relaxed))
    }

    #[test]
    fn every_container_decodes_to_the_same_bytes() {
        let plain = pcap_bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&plain[..], 3).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&plain).unwrap();
        let xz = xz.finish().unwrap();
        let mut lz = lz4_flex::frame::FrameEncoder::new(Vec::new());
        lz.write_all(&plain).unwrap();
        let lz = lz.finish().unwrap();
        for (want, c) in [
            (Compression::None, plain.clone()),
            (Compression::Gzip, gz),
            (Compression::Zstd, zst),
            (Compression::Xz, xz),
            (Compression::Lz4, lz),
        ] {
            let clen = c.len() as u64;
            let (got, out, consumed) = read_all(c);
            assert_eq!(got, want);
            assert!(out == plain, "{want:?}: decoded bytes differ");
            assert_eq!(consumed, clen, "{want:?}: on-disk bytes counted");
        }
    }

    #[test]
    fn concatenated_gzip_members_are_one_stream() {
        let plain = pcap_bytes();
        let (a, b) = plain.split_at(1000);
        let mut c = Vec::new();
        for part in [a, b] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            c.extend(gz.finish().unwrap());
        }
        assert!(read_all(c).1 == plain);
    }

    #[test]
    fn a_corrupt_stream_is_a_read_error_not_a_panic() {
        let plain = pcap_bytes();
        let mut z = zstd::encode_all(&plain[..], 3).unwrap();
        let n = z.len();
        z.truncate(n / 2);
        let mut o = wrap(Box::new(Cursor::new(z)), None).unwrap();
        let mut out = Vec::new();
        assert!(o.reader.read_to_end(&mut out).is_err());
    }

    #[test]
    fn short_and_empty_inputs() {
        let (c, out, _) = read_all(vec![0x1f]);
        assert_eq!(c, Compression::None);
        assert_eq!(out, vec![0x1f]);
        let (c, out, _) = read_all(Vec::new());
        assert_eq!(c, Compression::None);
        assert!(out.is_empty());
    }
}
