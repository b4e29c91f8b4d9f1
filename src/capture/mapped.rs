//! Read-only memory mappings of a capture file, one window at a time.
//!
//! A plain capture file is not read into a buffer: the reader maps a window of it and hands
//! out packet data as slices of the mapping, and the dispatcher passes those slices on to the
//! workers without copying them (a batch keeps the windows its packets point into alive).
//! On real.pcap the two copies this saves — the kernel's into the read buffer, the reader's
//! into the batch — were a tenth of the whole run's CPU time (BENCHMARKS.md).
//!
//! Windows are bounded so that a terabyte capture does not become a terabyte of mapped
//! (resident, if page cache) memory: the reader maps the next window when a record crosses
//! the end of the current one, and a window is unmapped when the last batch that points into
//! it is done with it.
//!
//! A file that another process truncates while it is mapped raises SIGBUS on access to the
//! lost pages, where a read would have seen a short file; captures still being written are
//! read through the `-D` follower (a stream), never mapped.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// Bytes mapped at a time (at least the longest record plus its header).
pub const WINDOW: usize = 32 << 20;

/// One mapped window: `len` bytes of the file from `offset` (a multiple of the page size).
pub struct MapWindow {
    ptr: NonNull<u8>,
    len: usize,
    offset: u64,
}

// SAFETY: the mapping is read-only and private to this object: nothing writes to it through
// any pointer, so shared references from several threads are sound, and it can be unmapped
// from any thread (munmap is not tied to the mapping thread).
unsafe impl Send for MapWindow {}
// SAFETY: see Send: only `&[u8]` views are ever handed out.
unsafe impl Sync for MapWindow {}

/// The system's page size (mapping offsets must be multiples of it).
pub fn page_size() -> u64 {
    // SAFETY: sysconf only reads a system constant.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

impl MapWindow {
    /// An empty window (nothing mapped).
    pub fn empty() -> MapWindow {
        MapWindow {
            ptr: NonNull::dangling(),
            len: 0,
            offset: 0,
        }
    }

    /// Maps `len` bytes of `file` from `offset` (page-aligned), read-only. The caller keeps
    /// `offset + len` within the file's size.
    pub fn map(file: &File, offset: u64, len: usize) -> io::Result<MapWindow> {
        if len == 0 {
            return Ok(MapWindow {
                offset,
                ..MapWindow::empty()
            });
        }
        if offset % page_size() != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "mapping offset not page-aligned",
            ));
        }
        // SAFETY: a new private read-only mapping at an address the kernel chooses: it cannot
        // alias any memory of ours. The file descriptor is valid for the call (borrowed from
        // `file`); the mapping stays valid after the file is closed.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: advice on the range just mapped; it changes no contents. The kernel reads
        // ahead more and drops the pages behind sooner (they are read once, in order).
        unsafe { libc::madvise(p, len, libc::MADV_SEQUENTIAL) };
        Ok(MapWindow {
            ptr: NonNull::new(p as *mut u8).ok_or_else(|| io::Error::other("mmap gave null"))?,
            len,
            offset,
        })
    }

    /// The mapped bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is either dangling with `len` 0 (a valid empty slice) or the start of
        // a live read-only mapping of `len` bytes, which lives until `self` is dropped.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// File offset of the first mapped byte.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Where `data` (a slice of this window) starts in the window, if it is one.
    #[inline]
    pub fn offset_of(&self, data: &[u8]) -> Option<u32> {
        let start = self.ptr.as_ptr() as usize;
        let p = data.as_ptr() as usize;
        (p >= start && p + data.len() <= start + self.len && self.len <= u32::MAX as usize)
            .then(|| (p - start) as u32)
    }
}

impl std::fmt::Debug for MapWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MapWindow({} bytes at {})", self.len, self.offset)
    }
}

impl Drop for MapWindow {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmaps exactly the mapping created in `map`; no slice of it can outlive
            // `self` (they borrow it).
            unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn maps_a_window_of_a_file_and_locates_slices() {
        let page = page_size() as usize;
        let mut path = std::env::temp_dir();
        path.push(format!("tamandua-mapped-{}", std::process::id()));
        let data: Vec<u8> = (0..3 * page + 100).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(&data))
            .expect("temp file");
        let f = File::open(&path).expect("open");
        let w = MapWindow::map(&f, page as u64, 2 * page + 50).expect("map");
        drop(f); // the mapping outlives the descriptor
        assert_eq!(w.offset(), page as u64);
        assert_eq!(w.bytes(), &data[page..3 * page + 50]);
        let inner = &w.bytes()[10..20];
        assert_eq!(w.offset_of(inner), Some(10));
        assert_eq!(w.offset_of(&data[..4]), None, "not a slice of the window");
        let f = File::open(&path).expect("open");
        assert!(
            MapWindow::map(&f, 1, 10).is_err(),
            "unaligned offsets are refused"
        );
        assert!(MapWindow::map(&f, 0, 0).expect("empty").bytes().is_empty());
        std::fs::remove_file(&path).ok();
    }
}
