//! AF_XDP live capture, straight on the kernel interface (libc): one XDP socket (XSK) per RX
//! queue, each with its own UMEM, fill ring and RX ring, owned by one worker.
//!
//! The XDP program (`bpf/xdp_redirect.c`, built by build.rs with clang) redirects each packet
//! to the socket of its RX queue through an XSKMAP. tamandua creates the map, patches the
//! program's one map reference (an ELF relocation) with the map's descriptor, loads it with
//! `BPF_PROG_LOAD` and attaches it with `BPF_LINK_CREATE`: a bpf_link is detached by the
//! kernel when its descriptor closes, so the program goes away on every exit path (normal
//! end, error, panic, SIGINT, even SIGKILL) and nothing is pinned in /sys/fs/bpf (which
//! `ip netns exec` hides anyway).
//!
//! Binding tries zero-copy first and falls back to copy mode (veth refuses zero-copy), always
//! with need-wakeup, and retries while the queue is busy (EBUSY: a previous socket is still
//! being torn down). Drops are the socket's XDP_STATISTICS: rx_dropped (no fill-ring buffer,
//! frame too large), rx_ring_full; rx_fill_ring_empty_descs and rx_invalid_descs are shown too.
//! AF_XDP has no packet timestamps: a batch gets the CLOCK_REALTIME time of its receipt.

use crate::live::{now_ts, Rx, RxHandler, RxStats};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The XDP program object built from bpf/xdp_redirect.c (empty when clang was missing).
static XDP_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xdp_redirect.o"));

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// XDP attach mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Native, else generic.
    Auto,
    /// In the driver (veth: needs MTU ≤ ~3.5 KB).
    Native,
    /// Generic (skb) mode: any interface, slower.
    Generic,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "native" | "drv" => Ok(Mode::Native),
            "generic" | "skb" => Ok(Mode::Generic),
            _ => Err(format!("--xdp-mode {s}: expected auto, native or generic")),
        }
    }
}

/// Settings of the AF_XDP capture.
#[derive(Clone, Debug)]
pub struct Config {
    pub iface: String,
    pub queues: u32,
    pub mode: Mode,
    /// UMEM frames per socket.
    pub frames: u32,
    pub frame_size: u32,
    /// RX, fill and completion ring entries.
    pub ring_size: u32,
    pub snaplen: u32,
}

fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<RawFd> {
    // SAFETY: `attr` is a repr(C) bpf_attr prefix of the size passed; unused fields are zero.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as RawFd)
    }
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by the kernel to us and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    _rest: [u64; 4],
}

/// The program's instructions with the map reference patched, from the ELF object.
/// Finds the `xdp` section, the relocations that apply to it (`.relxdp`) and, for each one
/// naming the symbol `xsks_map`, turns its 64-bit immediate load into a map-fd load.
pub fn patched_program(obj: &[u8], map_fd: i32) -> Result<Vec<u8>, String> {
    let bad = || "XDP object: not a 64-bit little-endian ELF file".to_string();
    let u16at =
        |o: usize| -> Option<u16> { Some(u16::from_le_bytes(obj.get(o..o + 2)?.try_into().ok()?)) };
    let u32at =
        |o: usize| -> Option<u32> { Some(u32::from_le_bytes(obj.get(o..o + 4)?.try_into().ok()?)) };
    let u64at =
        |o: usize| -> Option<u64> { Some(u64::from_le_bytes(obj.get(o..o + 8)?.try_into().ok()?)) };
    if obj.len() < 64 || &obj[..4] != b"\x7fELF" || obj[4] != 2 || obj[5] != 1 {
        return Err(if obj.is_empty() {
            "the XDP program was not built (clang missing at build time)".to_string()
        } else {
            bad()
        });
    }
    let shoff = u64at(0x28).ok_or_else(bad)? as usize;
    let shentsize = u16at(0x3a).ok_or_else(bad)? as usize;
    let shnum = u16at(0x3c).ok_or_else(bad)? as usize;
    let shstrndx = u16at(0x3e).ok_or_else(bad)? as usize;
    struct Sh {
        name: u32,
        ty: u32,
        off: usize,
        size: usize,
        link: u32,
        info: u32,
    }
    let mut sh = Vec::new();
    for i in 0..shnum {
        let b = shoff + i * shentsize;
        sh.push(Sh {
            name: u32at(b).ok_or_else(bad)?,
            ty: u32at(b + 4).ok_or_else(bad)?,
            off: u64at(b + 24).ok_or_else(bad)? as usize,
            size: u64at(b + 32).ok_or_else(bad)? as usize,
            link: u32at(b + 40).ok_or_else(bad)?,
            info: u32at(b + 44).ok_or_else(bad)?,
        });
    }
    let cstr = |sec: usize, off: usize| -> Option<&[u8]> {
        let s = sh.get(sec)?;
        let start = s.off + off;
        let bytes = obj.get(start..s.off + s.size)?;
        let end = bytes.iter().position(|&c| c == 0)?;
        Some(&bytes[..end])
    };
    let prog_idx = (0..sh.len())
        .find(|&i| cstr(shstrndx, sh[i].name as usize) == Some(b"xdp"))
        .ok_or("XDP object: no 'xdp' section")?;
    let p = &sh[prog_idx];
    let mut insns = obj.get(p.off..p.off + p.size).ok_or_else(bad)?.to_vec();
    let mut patched = 0;
    for r in sh
        .iter()
        .filter(|s| s.ty == 9 && s.info as usize == prog_idx)
    {
        let symtab = sh.get(r.link as usize).ok_or_else(bad)?;
        for k in 0..r.size / 16 {
            let off = u64at(r.off + 16 * k).ok_or_else(bad)? as usize;
            let info = u64at(r.off + 16 * k + 8).ok_or_else(bad)?;
            let sym = (info >> 32) as usize;
            let name_off = u32at(symtab.off + 24 * sym).ok_or_else(bad)? as usize;
            let name = cstr(symtab.link as usize, name_off).ok_or_else(bad)?;
            if name != b"xsks_map" {
                return Err(format!(
                    "XDP object: unexpected relocation against '{}'",
                    String::from_utf8_lossy(name)
                ));
            }
            let insn = insns.get_mut(off..off + 16).ok_or_else(bad)?;
            if insn[0] != 0x18 {
                return Err("XDP object: map relocation on a non-ld_imm64 instruction".into());
            }
            insn[1] = (insn[1] & 0x0f) | (BPF_PSEUDO_MAP_FD << 4);
            insn[4..8].copy_from_slice(&map_fd.to_le_bytes());
            patched += 1;
        }
    }
    if patched == 0 {
        return Err("XDP object: the program does not use xsks_map".into());
    }
    Ok(insns)
}

/// The attached XDP program and its map. Dropping it closes the bpf_link (the kernel
/// detaches the program) and the map.
pub struct XdpAttachment {
    _link: OwnedFd,
    _prog: OwnedFd,
    _map: OwnedFd,
    pub mode: Mode,
}

/// One ring shared with the kernel: producer and consumer indices, flags, descriptors.
struct RingMap {
    base: *mut u8,
    len: usize,
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    desc: *mut u8,
    mask: u32,
}

impl RingMap {
    fn map(
        fd: RawFd,
        off: &libc::xdp_ring_offset,
        entries: u32,
        entry: usize,
        pgoff: i64,
    ) -> io::Result<RingMap> {
        let len = off.desc as usize + entries as usize * entry;
        // SAFETY: maps the ring the kernel allocated for this socket at the documented offset.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let b = base as *mut u8;
        // SAFETY: the offsets come from XDP_MMAP_OFFSETS and lie inside the mapping.
        unsafe {
            Ok(RingMap {
                base: b,
                len,
                producer: b.add(off.producer as usize) as *const AtomicU32,
                consumer: b.add(off.consumer as usize) as *const AtomicU32,
                flags: b.add(off.flags as usize) as *const AtomicU32,
                desc: b.add(off.desc as usize),
                mask: entries - 1,
            })
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping (u32, 4-byte aligned by the kernel).
        unsafe { &*self.producer }
    }
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*self.consumer }
    }
    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*self.flags }
    }
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly this ring's mapping; no reference into it outlives self.
        unsafe {
            libc::munmap(self.base as *mut libc::c_void, self.len);
        }
    }
}

/// One XDP socket with its UMEM.
pub struct Xsk {
    fd: OwnedFd,
    umem: *mut u8,
    umem_len: usize,
    frame_size: u64,
    rx: RingMap,
    fill: RingMap,
    _comp: RingMap,
    free: Vec<u64>,
    snaplen: usize,
    received: u64,
    pub queue: u32,
    pub zero_copy: bool,
}

// SAFETY: the mappings are owned by this value alone and used by one thread at a time.
unsafe impl Send for Xsk {}

fn setsockopt<T>(fd: RawFd, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live value of the size passed; the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            name,
            val as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn getsockopt<T: Default>(fd: RawFd, name: libc::c_int) -> io::Result<T> {
    let mut v = T::default();
    let mut len = std::mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` is writable and `len` holds its size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            name,
            &mut v as *mut T as *mut libc::c_void,
            &mut len,
        )
    };
    if r == 0 {
        Ok(v)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[repr(C)]
#[derive(Default)]
struct MmapOffsets {
    rx: RingOff,
    tx: RingOff,
    fr: RingOff,
    cr: RingOff,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct RingOff {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}

impl RingOff {
    fn to_libc(self) -> libc::xdp_ring_offset {
        libc::xdp_ring_offset {
            producer: self.producer,
            consumer: self.consumer,
            desc: self.desc,
            flags: self.flags,
        }
    }
}

#[repr(C)]
#[derive(Default)]
struct XdpStats {
    rx_dropped: u64,
    rx_invalid_descs: u64,
    tx_invalid_descs: u64,
    rx_ring_full: u64,
    rx_fill_ring_empty_descs: u64,
    tx_ring_empty_descs: u64,
}

impl Xsk {
    /// Creates the socket and its UMEM and rings and binds it to `queue` (zero-copy if the
    /// driver takes it, else copy mode; need-wakeup; retried while EBUSY).
    fn open(cfg: &Config, ifindex: u32, queue: u32, generic: bool) -> io::Result<Xsk> {
        let ring = cfg.ring_size.max(64).next_power_of_two();
        let frame_size = if cfg.frame_size >= 4096 { 4096 } else { 2048 };
        let frames = cfg.frames.max(2 * ring);
        // SAFETY: plain socket(2); the descriptor is checked and then owned.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = owned(raw);
        let umem_len = frames as usize * frame_size as usize;
        // SAFETY: anonymous private mapping of umem_len bytes, checked below.
        let umem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                umem_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if umem == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let umem = umem as *mut u8;
        let unmap = |e: io::Error| {
            // SAFETY: the mapping created just above, not used any more on this error path.
            unsafe { libc::munmap(umem as *mut libc::c_void, umem_len) };
            e
        };
        let reg = libc::xdp_umem_reg {
            addr: umem as u64,
            len: umem_len as u64,
            chunk_size: frame_size,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        let f = fd.as_raw_fd();
        setsockopt(f, libc::XDP_UMEM_REG, &reg).map_err(unmap)?;
        setsockopt(f, libc::XDP_UMEM_FILL_RING, &ring).map_err(unmap)?;
        setsockopt(f, libc::XDP_UMEM_COMPLETION_RING, &ring).map_err(unmap)?;
        setsockopt(f, libc::XDP_RX_RING, &ring).map_err(unmap)?;
        let off: MmapOffsets = getsockopt(f, libc::XDP_MMAP_OFFSETS).map_err(unmap)?;
        let rx =
            RingMap::map(f, &off.rx.to_libc(), ring, 16, libc::XDP_PGOFF_RX_RING).map_err(unmap)?;
        let fill = RingMap::map(
            f,
            &off.fr.to_libc(),
            ring,
            8,
            libc::XDP_UMEM_PGOFF_FILL_RING as i64,
        )
        .map_err(unmap)?;
        let comp = RingMap::map(
            f,
            &off.cr.to_libc(),
            ring,
            8,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING as i64,
        )
        .map_err(unmap)?;
        let mut x = Xsk {
            fd,
            umem,
            umem_len,
            frame_size: frame_size as u64,
            rx,
            fill,
            _comp: comp,
            free: (0..frames as u64)
                .rev()
                .map(|i| i * frame_size as u64)
                .collect(),
            snaplen: cfg.snaplen.max(1) as usize,
            received: 0,
            queue,
            zero_copy: false,
        };
        x.refill();
        // bind: zero-copy first (not in generic mode), then copy; retry while busy
        let modes: &[u16] = if generic {
            &[libc::XDP_COPY]
        } else {
            &[libc::XDP_ZEROCOPY, libc::XDP_COPY]
        };
        let mut last = None;
        for &m in modes {
            let sa = libc::sockaddr_xdp {
                sxdp_family: libc::AF_XDP as u16,
                sxdp_flags: m | libc::XDP_USE_NEED_WAKEUP,
                sxdp_ifindex: ifindex,
                sxdp_queue_id: queue,
                sxdp_shared_umem_fd: 0,
            };
            for attempt in 0..20 {
                // SAFETY: `sa` is a valid sockaddr_xdp of the size passed.
                let r = unsafe {
                    libc::bind(
                        x.fd.as_raw_fd(),
                        &sa as *const libc::sockaddr_xdp as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                    )
                };
                if r == 0 {
                    x.zero_copy = m == libc::XDP_ZEROCOPY;
                    return Ok(x);
                }
                let e = io::Error::last_os_error();
                let busy = e.raw_os_error() == Some(libc::EBUSY);
                last = Some(e);
                if !busy || attempt == 19 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("bind failed")))
    }

    /// Gives free frames to the kernel through the fill ring.
    fn refill(&mut self) {
        let prod = self.fill.producer().load(Ordering::Relaxed);
        let cons = self.fill.consumer().load(Ordering::Acquire);
        let room = (self.fill.mask + 1) - prod.wrapping_sub(cons);
        let n = (room as usize).min(self.free.len());
        for i in 0..n {
            let addr = self.free.pop().unwrap_or(0);
            let slot = (prod.wrapping_add(i as u32) & self.fill.mask) as usize;
            // SAFETY: slot ≤ mask, inside the fill ring's descriptor array of u64 entries,
            // which the kernel does not read before we publish the producer index.
            unsafe { (self.fill.desc as *mut u64).add(slot).write(addr) };
        }
        if n > 0 {
            self.fill
                .producer()
                .store(prod.wrapping_add(n as u32), Ordering::Release);
        }
    }

    fn wait(&self, timeout_ms: i32) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Rx for Xsk {
    fn next_batch(&mut self, timeout_ms: i32, h: &mut dyn RxHandler) -> io::Result<usize> {
        let mut cons = self.rx.consumer().load(Ordering::Relaxed);
        let mut prod = self.rx.producer().load(Ordering::Acquire);
        if prod == cons {
            if self.fill.flags().load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
                || timeout_ms > 0
            {
                // poll both waits and, with need-wakeup, kicks the kernel to fill the ring
                self.wait(timeout_ms)?;
            }
            cons = self.rx.consumer().load(Ordering::Relaxed);
            prod = self.rx.producer().load(Ordering::Acquire);
            if prod == cons {
                return Ok(0);
            }
        }
        let n = prod.wrapping_sub(cons) as usize;
        let ts = now_ts();
        h.begin(n);
        for i in 0..n {
            let slot = (cons.wrapping_add(i as u32) & self.rx.mask) as usize;
            // SAFETY: slot ≤ mask inside the RX descriptor array; the kernel published this
            // descriptor before the producer index we loaded with acquire ordering.
            let d = unsafe { (self.rx.desc as *const libc::xdp_desc).add(slot).read() };
            let start = d.addr as usize;
            let len = d.len as usize;
            if start + len <= self.umem_len {
                // SAFETY: bounds checked above; the frame belongs to us until we put it back
                // on the fill ring.
                let data = unsafe { std::slice::from_raw_parts(self.umem.add(start), len) };
                h.packet(ts, &data[..len.min(self.snaplen)], d.len);
            }
            self.free.push(d.addr & !(self.frame_size - 1));
        }
        self.rx
            .consumer()
            .store(cons.wrapping_add(n as u32), Ordering::Release);
        self.received += n as u64;
        self.refill();
        Ok(n)
    }

    fn stats(&mut self) -> RxStats {
        let s: XdpStats = getsockopt(self.fd.as_raw_fd(), libc::XDP_STATISTICS).unwrap_or_default();
        RxStats {
            received: self.received,
            kernel_drops: s.rx_dropped,
            ring_full: s.rx_ring_full,
            fill_empty: s.rx_fill_ring_empty_descs,
            invalid: s.rx_invalid_descs,
            ..Default::default()
        }
    }

    fn linktype(&self) -> u32 {
        1
    }
}

impl Drop for Xsk {
    fn drop(&mut self) {
        // SAFETY: the UMEM mapping created in open(); the rings are unmapped by RingMap::drop
        // and the socket is closed by OwnedFd after this.
        unsafe {
            libc::munmap(self.umem as *mut libc::c_void, self.umem_len);
        }
    }
}

fn load_and_attach(ifindex: u32, map: &OwnedFd, flags: u32) -> io::Result<(OwnedFd, OwnedFd)> {
    let insns = patched_program(XDP_OBJECT, map.as_raw_fd()).map_err(io::Error::other)?;
    let license = b"GPL\0";
    let mut log = vec![0u8; 64 * 1024];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"tamandua_xdp");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: (insns.len() / 8) as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_XDP,
        ..Default::default()
    };
    let prog = match sys_bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => owned(fd),
        Err(e) => {
            let end = log.iter().position(|&c| c == 0).unwrap_or(0);
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "loading the XDP program: {e} {}",
                    String::from_utf8_lossy(&log[..end]).trim()
                ),
            ));
        }
    };
    let mut la = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
        ..Default::default()
    };
    let link = owned(sys_bpf(BPF_LINK_CREATE, &mut la).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "attaching the XDP program ({} mode): {e}",
                if flags == XDP_FLAGS_DRV_MODE {
                    "native"
                } else {
                    "generic"
                }
            ),
        )
    })?);
    Ok((prog, link))
}

/// Opens one socket per queue and attaches the program; returns the attachment (keep it for
/// the whole capture), the sockets in queue order, and a line for the report.
pub fn open(cfg: &Config) -> Result<(XdpAttachment, Vec<Xsk>, String), String> {
    let ifindex = crate::capture::afpacket::ifindex(&cfg.iface).map_err(|e| e.to_string())?;
    if XDP_OBJECT.is_empty() {
        return Err("the XDP program was not built (clang missing at build time)".into());
    }
    let queues = cfg.queues.max(1);
    let mut ma = MapCreateAttr {
        map_type: BPF_MAP_TYPE_XSKMAP,
        key_size: 4,
        value_size: 4,
        max_entries: queues.max(1),
        ..Default::default()
    };
    ma.map_name[..8].copy_from_slice(b"xsks_map");
    let map =
        owned(sys_bpf(BPF_MAP_CREATE, &mut ma).map_err(|e| format!("creating the XSKMAP: {e}"))?);
    let tries: Vec<Mode> = match cfg.mode {
        Mode::Auto => vec![Mode::Native, Mode::Generic],
        m => vec![m],
    };
    let mut errs = Vec::new();
    for mode in tries {
        let flags = if mode == Mode::Native {
            XDP_FLAGS_DRV_MODE
        } else {
            XDP_FLAGS_SKB_MODE
        };
        // sockets first, in the map, then the program: it never redirects to a missing socket
        let mut socks = Vec::new();
        let mut err = None;
        for q in 0..queues {
            match Xsk::open(cfg, ifindex, q, mode == Mode::Generic) {
                Ok(s) => socks.push(s),
                Err(e) => {
                    err = Some(format!("binding an XDP socket to queue {q}: {e}"));
                    break;
                }
            }
        }
        if err.is_none() {
            for s in &socks {
                let key = s.queue;
                let val = s.fd.as_raw_fd() as u32;
                let mut ea = MapElemAttr {
                    map_fd: map.as_raw_fd() as u32,
                    key: &key as *const u32 as u64,
                    value: &val as *const u32 as u64,
                    ..Default::default()
                };
                if let Err(e) = sys_bpf(BPF_MAP_UPDATE_ELEM, &mut ea) {
                    err = Some(format!(
                        "adding the socket of queue {key} to the XSKMAP: {e}"
                    ));
                    break;
                }
            }
        }
        if let Some(e) = err {
            errs.push(e);
            continue;
        }
        let (prog, link) = match load_and_attach(ifindex, &map, flags) {
            Ok(x) => x,
            Err(e) => {
                errs.push(e.to_string());
                continue;
            }
        };
        let zc = socks.iter().filter(|s| s.zero_copy).count();
        let note = format!(
            "AF_XDP: {} mode, {} socket(s) on queues 0..{} ({}), {} UMEM frames of {} bytes and {} ring entries per socket, need-wakeup; XDP program attached through a bpf_link",
            if mode == Mode::Native { "native" } else { "generic" },
            socks.len(),
            queues - 1,
            if zc == socks.len() { "zero-copy" } else if zc == 0 { "copy mode" } else { "partly zero-copy" },
            cfg.frames.max(2 * cfg.ring_size.max(64).next_power_of_two()),
            if cfg.frame_size >= 4096 { 4096 } else { 2048 },
            cfg.ring_size.max(64).next_power_of_two()
        );
        return Ok((
            XdpAttachment {
                _link: link,
                _prog: prog,
                _map: map,
                mode,
            },
            socks,
            note,
        ));
    }
    Err(errs.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_program_gets_its_map_patched() {
        if XDP_OBJECT.is_empty() {
            eprintln!("skipped: the XDP object was not built (no clang)");
            return;
        }
        let p = patched_program(XDP_OBJECT, 7).unwrap();
        assert_eq!(p.len() % 8, 0);
        let ld = p
            .chunks(8)
            .position(|i| i[0] == 0x18)
            .expect("a 64-bit immediate load");
        let i = &p[ld * 8..ld * 8 + 8];
        assert_eq!(i[1] >> 4, BPF_PSEUDO_MAP_FD);
        assert_eq!(i32::from_le_bytes(i[4..8].try_into().unwrap()), 7);
        assert_eq!(p[p.len() - 8], 0x95); // exit
    }

    #[test]
    fn bad_objects_are_refused() {
        assert!(patched_program(b"", 3).unwrap_err().contains("not built"));
        assert!(patched_program(&[0u8; 100], 3).is_err());
        let mut cut = XDP_OBJECT.to_vec();
        cut.truncate(cut.len().min(80));
        if !XDP_OBJECT.is_empty() {
            assert!(patched_program(&cut, 3).is_err());
        }
    }

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("native").unwrap(), Mode::Native);
        assert_eq!(Mode::parse("skb").unwrap(), Mode::Generic);
        assert!(Mode::parse("zc").is_err());
    }
}
