//! AF_PACKET live capture: one TPACKET_V3 receive ring per worker, the workers' sockets joined
//! in one PACKET_FANOUT group so the kernel picks the worker of each packet.
//!
//! The ring is a memory-mapped array of blocks. The kernel fills a block with packets (each
//! with a `tpacket3_hdr`: arrival time in ns, captured and wire length, VLAN tag) and hands it
//! to user space by setting `TP_STATUS_USER` in the block header, either when the block is full
//! or when the retire timeout expires. We read every packet of the block, then give it back
//! with `TP_STATUS_KERNEL`. Packets that find no free block are counted by the kernel in
//! `tp_drops` (and `tp_freeze_q_cnt` counts how often the queue froze); the kernel resets both
//! on every read, so they are accumulated here.
//!
//! Fanout modes (`--fanout`): `ippair` (default) is a classic-BPF fanout program that hashes
//! the IP address pair symmetrically (XOR of source and destination; MAC pair for non-IP
//! frames), so both directions *and every fragment* of a datagram reach one worker, as the
//! replay dispatcher does. `hash` is the kernel's symmetric flow hash (ports included:
//! non-first fragments, which carry no ports, can land on another worker than their first
//! fragment). `hash-defrag` adds PACKET_FANOUT_FLAG_DEFRAG: the kernel then reassembles IPv4
//! datagrams *before* capture, so tamandua sees one reassembled packet instead of the fragments
//! (different packet counts and flows than `-r` on the same traffic, and incomplete fragment
//! trains vanish without being counted). `qm` follows the NIC's RX queue (use it when RSS is
//! symmetric, see tuning/), `cpu` the receiving CPU, `lb` round robin (not flow-safe).

use crate::live::{Rx, RxHandler, RxStats};
use crate::time::Ts;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// linux/if_packet.h (defined here: the libc crate does not export them on every version)
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_FANOUT: libc::c_int = 18;
const PACKET_MR_PROMISC: libc::c_ushort = 1;
const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const FANOUT_HASH: u32 = 0;
const FANOUT_LB: u32 = 1;
const FANOUT_CPU: u32 = 2;
const FANOUT_QM: u32 = 5;
const FANOUT_CBPF: u32 = 6;
const FANOUT_FLAG_DEFRAG: u32 = 0x8000;
const PACKET_FANOUT_DATA: libc::c_int = 22;

#[repr(C)]
struct TpacketReq3 {
    tp_block_size: u32,
    tp_block_nr: u32,
    tp_frame_size: u32,
    tp_frame_nr: u32,
    tp_retire_blk_tov: u32,
    tp_sizeof_priv: u32,
    tp_feature_req_word: u32,
}

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    tp_packets: u32,
    tp_drops: u32,
    tp_freeze_q_cnt: u32,
}

/// `struct tpacket_block_desc` with `struct tpacket_hdr_v1` inlined (only the fields we read).
#[repr(C)]
struct BlockDesc {
    version: u32,
    offset_to_priv: u32,
    block_status: u32,
    num_pkts: u32,
    offset_to_first_pkt: u32,
    blk_len: u32,
}

/// `struct tpacket3_hdr` (the fields we read).
#[repr(C)]
struct Tp3Hdr {
    tp_next_offset: u32,
    tp_sec: u32,
    tp_nsec: u32,
    tp_snaplen: u32,
    tp_len: u32,
    tp_status: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_rxhash: u32,
    tp_vlan_tci: u32,
    tp_vlan_tpid: u16,
    tp_padding: u16,
}

/// How the kernel spreads packets over the workers' sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fanout {
    IpPair,
    Hash,
    HashDefrag,
    Qm,
    Cpu,
    Lb,
}

impl Fanout {
    pub fn parse(s: &str) -> Result<Fanout, String> {
        Ok(match s {
            "ippair" => Fanout::IpPair,
            "hash" => Fanout::Hash,
            "hash-defrag" => Fanout::HashDefrag,
            "qm" => Fanout::Qm,
            "cpu" => Fanout::Cpu,
            "lb" => Fanout::Lb,
            _ => {
                return Err(format!(
                    "--fanout {s}: expected ippair, hash, hash-defrag, qm, cpu or lb"
                ))
            }
        })
    }

    fn mode(self) -> u32 {
        match self {
            Fanout::IpPair => FANOUT_CBPF,
            Fanout::Hash => FANOUT_HASH,
            Fanout::HashDefrag => FANOUT_HASH | FANOUT_FLAG_DEFRAG,
            Fanout::Qm => FANOUT_QM,
            Fanout::Cpu => FANOUT_CPU,
            Fanout::Lb => FANOUT_LB,
        }
    }
}

/// Settings of one AF_PACKET socket.
#[derive(Clone, Debug)]
pub struct Config {
    pub iface: String,
    pub block_size: u32,
    pub block_count: u32,
    /// Block retire timeout in ms (latency bound for a slowly filling block).
    pub block_timeout_ms: u32,
    pub snaplen: u32,
    pub promisc: bool,
    pub fanout: Fanout,
    /// Fanout group id (shared by the workers of one run).
    pub group: u16,
    /// Classic BPF filter (compiled with libpcap), attached in the kernel.
    pub filter: Option<Vec<libc::sock_filter>>,
}

/// One worker's socket and ring.
pub struct AfPacket {
    fd: OwnedFd,
    ring: *mut u8,
    ring_len: usize,
    block_size: usize,
    blocks: usize,
    cur: usize,
    snaplen: usize,
    stats: RxStats,
    scratch: Vec<u8>,
}

// SAFETY: the ring mapping is owned by this value alone (no aliasing pointer escapes), so the
// value may move to the worker thread that uses it.
unsafe impl Send for AfPacket {}

fn last_err(what: &str, iface: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("AF_PACKET {what} on {iface}: {e}"))
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, val: &T) -> bool {
    // SAFETY: `val` points to a live value of the size passed; the kernel only reads it.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            val as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        ) == 0
    }
}

/// The interface index of `iface`, or an error naming it.
pub fn ifindex(iface: &str) -> io::Result<u32> {
    let c = std::ffi::CString::new(iface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no such interface: {iface}"),
        ));
    }
    Ok(i)
}

/// The fanout program of `Fanout::IpPair`: a symmetric hash of the IPv4/IPv6 address pair
/// (XOR of both addresses, then multiplied to spread the bits; the kernel takes it modulo the
/// number of sockets), or of the MAC pair for other frames.
pub fn ippair_program() -> Vec<libc::sock_filter> {
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const LD_H_ABS: u16 = 0x28;
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const ST: u16 = 0x02;
    const LDX_MEM: u16 = 0x61; // BPF_LDX | BPF_W | BPF_MEM
    const XOR_X: u16 = 0xac; // BPF_ALU | BPF_XOR | BPF_X
    const MUL_K: u16 = 0x24;
    const RSH_K: u16 = 0x74;
    const RET_A: u16 = 0x16;
    const NET: u32 = 0xfff0_0000; // SKF_NET_OFF
    const LL: u32 = 0xffe0_0000; // SKF_LL_OFF
    const PROTO: u32 = 0xffff_f000; // SKF_AD_OFF + SKF_AD_PROTOCOL
    let i = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let mut p = vec![
        i(LD_H_ABS, 0, 0, PROTO),
        i(JEQ_K, 0, 6, 0x0800), // IPv4? else skip to the IPv6 check
        i(LD_W_ABS, 0, 0, NET + 12),
        i(ST, 0, 0, 0),
        i(LD_W_ABS, 0, 0, NET + 16),
        i(LDX_MEM, 0, 0, 0),
        i(XOR_X, 0, 0, 0),
        i(0x05, 0, 0, 0),       // BPF_JA to the mixing tail (patched below)
        i(JEQ_K, 0, 0, 0x86dd), // IPv6? (jf patched below)
    ];
    // IPv6: XOR of the eight address words
    p.push(i(LD_W_ABS, 0, 0, NET + 8));
    p.push(i(ST, 0, 0, 0));
    for w in 1..8u32 {
        p.push(i(LD_W_ABS, 0, 0, NET + 8 + 4 * w));
        p.push(i(LDX_MEM, 0, 0, 0));
        p.push(i(XOR_X, 0, 0, 0));
        p.push(i(ST, 0, 0, 0));
    }
    let v6_done = p.len();
    p.push(i(0x05, 0, 0, 0)); // JA tail
    let other = p.len();
    // other frames: last four bytes of the destination and source MACs
    p.push(i(LD_W_ABS, 0, 0, LL + 2));
    p.push(i(ST, 0, 0, 0));
    p.push(i(LD_W_ABS, 0, 0, LL + 8));
    p.push(i(LDX_MEM, 0, 0, 0));
    p.push(i(XOR_X, 0, 0, 0));
    let tail = p.len();
    p.push(i(MUL_K, 0, 0, 0x9e37_79b1));
    p.push(i(RSH_K, 0, 0, 16));
    p.push(i(RET_A, 0, 0, 0));
    p[7].k = (tail - 8) as u32;
    p[8].jf = (other - 9) as u8;
    p[v6_done].k = (tail - v6_done - 1) as u32;
    p
}

impl AfPacket {
    /// Opens the socket, sets up the ring, binds to the interface and joins the fanout group.
    pub fn open(cfg: &Config) -> io::Result<AfPacket> {
        let index = ifindex(&cfg.iface)?;
        // SAFETY: plain socket(2) call; the returned descriptor is checked and then owned.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                0, // receive nothing until bind (ring and filter are set up first)
            )
        };
        if raw < 0 {
            return Err(last_err("socket", &cfg.iface));
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if !setsockopt(&fd, libc::SOL_PACKET, PACKET_VERSION, &TPACKET_V3) {
            return Err(last_err("TPACKET_V3", &cfg.iface));
        }
        if let Some(f) = &cfg.filter {
            let prog = libc::sock_fprog {
                len: f.len() as u16,
                filter: f.as_ptr() as *mut libc::sock_filter,
            };
            if !setsockopt(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog) {
                return Err(last_err("filter", &cfg.iface));
            }
        }
        let page = 4096u32;
        let block_size = cfg.block_size.max(page).next_power_of_two();
        let blocks = cfg.block_count.max(2);
        let frame = 2048u32;
        let req = TpacketReq3 {
            tp_block_size: block_size,
            tp_block_nr: blocks,
            tp_frame_size: frame,
            tp_frame_nr: block_size / frame * blocks,
            tp_retire_blk_tov: cfg.block_timeout_ms.max(1),
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        if !setsockopt(&fd, libc::SOL_PACKET, PACKET_RX_RING, &req) {
            return Err(last_err("PACKET_RX_RING", &cfg.iface));
        }
        let ring_len = block_size as usize * blocks as usize;
        // SAFETY: maps the ring the kernel just allocated for this socket; checked below.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(last_err("mmap", &cfg.iface));
        }
        let me = AfPacket {
            fd,
            ring: ring as *mut u8,
            ring_len,
            block_size: block_size as usize,
            blocks: blocks as usize,
            cur: 0,
            snaplen: cfg.snaplen.max(1) as usize,
            stats: RxStats::default(),
            scratch: Vec::with_capacity(1 << 16),
        };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid starting value.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = index as i32;
        // SAFETY: `sll` is a valid sockaddr_ll of the size passed.
        let r = unsafe {
            libc::bind(
                me.fd.as_raw_fd(),
                &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(last_err("bind", &cfg.iface));
        }
        if cfg.promisc {
            // SAFETY: packet_mreq is plain data.
            let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
            mr.mr_ifindex = index as i32;
            mr.mr_type = PACKET_MR_PROMISC;
            if !setsockopt(&me.fd, libc::SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr) {
                return Err(last_err("promiscuous mode", &cfg.iface));
            }
        }
        let val: u32 = cfg.group as u32 | (cfg.fanout.mode() << 16);
        if !setsockopt(&me.fd, libc::SOL_PACKET, PACKET_FANOUT, &val) {
            return Err(last_err("PACKET_FANOUT", &cfg.iface));
        }
        if cfg.fanout == Fanout::IpPair {
            let prog = ippair_program();
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr() as *mut libc::sock_filter,
            };
            // the program is shared by the group: every member may set it, the last one wins
            if !setsockopt(&me.fd, libc::SOL_PACKET, PACKET_FANOUT_DATA, &fprog) {
                return Err(last_err("fanout program", &cfg.iface));
            }
        }
        Ok(me)
    }

    fn block(&self, i: usize) -> *mut BlockDesc {
        // SAFETY: i < blocks, so the offset stays inside the mapping.
        unsafe { self.ring.add(i * self.block_size) as *mut BlockDesc }
    }

    fn block_ready(&self, i: usize) -> bool {
        let b = self.block(i);
        // SAFETY: block_status is a u32 inside the mapping, written by the kernel; read it
        // atomically with acquire ordering so the packets it publishes are visible.
        let st = unsafe {
            (*(std::ptr::addr_of_mut!((*b).block_status) as *const std::sync::atomic::AtomicU32))
                .load(std::sync::atomic::Ordering::Acquire)
        };
        st & TP_STATUS_USER != 0
    }

    /// Reads the kernel's counters (reset on read) into the accumulated ones.
    fn read_stats(&mut self) {
        let mut s = TpacketStatsV3::default();
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: `s` is writable and `len` holds its size.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                &mut s as *mut TpacketStatsV3 as *mut libc::c_void,
                &mut len,
            )
        };
        if r == 0 {
            self.stats.kernel_drops += s.tp_drops as u64;
            self.stats.freeze_q += s.tp_freeze_q_cnt as u64;
        }
    }

    /// Hands the packets of block `i` to `h`, then returns the block to the kernel.
    fn consume_block(&mut self, i: usize, h: &mut dyn RxHandler) -> usize {
        let b = self.block(i);
        // SAFETY: the block is ours (TP_STATUS_USER was seen with acquire ordering) until we
        // store TP_STATUS_KERNEL; the kernel wrote num_pkts/offset fields before that.
        let (n, first) = unsafe { ((*b).num_pkts as usize, (*b).offset_to_first_pkt as usize) };
        h.begin(n);
        let base = b as *const u8;
        let mut off = first;
        for _ in 0..n {
            if off + std::mem::size_of::<Tp3Hdr>() > self.block_size {
                break;
            }
            // SAFETY: `off` is inside this block (checked above and below); the header and the
            // frame it points to were written by the kernel before it released the block.
            let hdr = unsafe { &*(base.add(off) as *const Tp3Hdr) };
            let mac = hdr.tp_mac as usize;
            let caplen = hdr.tp_snaplen as usize;
            if off + mac + caplen > self.block_size {
                break;
            }
            // SAFETY: bounds checked just above.
            let frame = unsafe { std::slice::from_raw_parts(base.add(off + mac), caplen) };
            let ts = Ts::new(hdr.tp_sec as u64, hdr.tp_nsec);
            let mut wire = hdr.tp_len;
            let data: &[u8] = if hdr.tp_status & TP_STATUS_VLAN_VALID != 0 && frame.len() >= 12 {
                // the kernel took the VLAN tag out of the frame: put it back as libpcap does
                let tpid = if hdr.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                    hdr.tp_vlan_tpid
                } else {
                    0x8100
                };
                self.scratch.clear();
                self.scratch.extend_from_slice(&frame[..12]);
                self.scratch.extend_from_slice(&tpid.to_be_bytes());
                self.scratch
                    .extend_from_slice(&(hdr.tp_vlan_tci as u16).to_be_bytes());
                self.scratch.extend_from_slice(&frame[12..]);
                wire += 4;
                &self.scratch
            } else {
                frame
            };
            let data = &data[..data.len().min(self.snaplen)];
            h.packet(ts, data, wire);
            self.stats.received += 1;
            if hdr.tp_next_offset == 0 {
                break;
            }
            off += hdr.tp_next_offset as usize;
        }
        // SAFETY: as in block_ready; release ordering so our reads finish before the kernel
        // reuses the block.
        unsafe {
            (*(std::ptr::addr_of_mut!((*b).block_status) as *const std::sync::atomic::AtomicU32))
                .store(TP_STATUS_KERNEL, std::sync::atomic::Ordering::Release);
        }
        n
    }
}

impl Rx for AfPacket {
    fn next_batch(&mut self, timeout_ms: i32, h: &mut dyn RxHandler) -> io::Result<usize> {
        if !self.block_ready(self.cur) {
            if timeout_ms == 0 {
                return Ok(0);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    return Ok(0);
                }
                return Err(e);
            }
            if !self.block_ready(self.cur) {
                return Ok(0);
            }
        }
        let i = self.cur;
        let n = self.consume_block(i, h);
        self.cur = (self.cur + 1) % self.blocks;
        Ok(n)
    }

    fn stats(&mut self) -> RxStats {
        self.read_stats();
        self.stats.clone()
    }

    fn linktype(&self) -> u32 {
        1
    }
}

impl Drop for AfPacket {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping created in open(); nothing borrows it any more.
        unsafe {
            libc::munmap(self.ring as *mut libc::c_void, self.ring_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a classic BPF program over `pkt` the way the kernel does for the loads we use
    /// (SKF_NET_OFF relative to `net`, SKF_LL_OFF relative to 0, protocol ancillary load).
    fn run(p: &[libc::sock_filter], pkt: &[u8], net: usize, proto: u16) -> Option<u32> {
        let (mut a, mut x, mut mem, mut pc) = (0u32, 0u32, [0u32; 16], 0usize);
        let load = |k: u32, size: usize| -> Option<u32> {
            let off = if k >= 0xfff0_0000 {
                net + (k - 0xfff0_0000) as usize
            } else if k >= 0xffe0_0000 {
                (k - 0xffe0_0000) as usize
            } else {
                k as usize
            };
            let b = pkt.get(off..off + size)?;
            Some(b.iter().fold(0u32, |v, &x| (v << 8) | x as u32))
        };
        loop {
            let i = p[pc];
            pc += 1;
            match i.code {
                0x28 if i.k == 0xffff_f000 => a = proto as u32,
                0x20 => a = load(i.k, 4)?,
                0x28 => a = load(i.k, 2)?,
                0x15 => pc += if a == i.k { i.jt } else { i.jf } as usize,
                0x05 => pc += i.k as usize,
                0x02 => mem[i.k as usize] = a,
                0x61 => x = mem[i.k as usize],
                0xac => a ^= x,
                0x24 => a = a.wrapping_mul(i.k),
                0x74 => a >>= i.k,
                0x16 => return Some(a),
                c => panic!("opcode {c:#x}"),
            }
        }
    }

    fn eth(src: [u8; 6], dst: [u8; 6], et: u16, l3: &[u8]) -> Vec<u8> {
        let mut v = dst.to_vec();
        v.extend_from_slice(&src);
        v.extend_from_slice(&et.to_be_bytes());
        v.extend_from_slice(l3);
        v
    }

    #[test]
    fn ippair_hash_is_symmetric_and_ignores_ports() {
        let p = ippair_program();
        let mut v4 = [0u8; 28];
        v4[0] = 0x45;
        v4[12..16].copy_from_slice(&[192, 0, 2, 1]);
        v4[16..20].copy_from_slice(&[198, 51, 100, 7]);
        v4[20..22].copy_from_slice(&1234u16.to_be_bytes());
        let mut r4 = v4;
        r4[12..16].copy_from_slice(&[198, 51, 100, 7]);
        r4[16..20].copy_from_slice(&[192, 0, 2, 1]);
        r4[20..22].copy_from_slice(&80u16.to_be_bytes());
        let a = run(&p, &eth([1; 6], [2; 6], 0x800, &v4), 14, 0x800).unwrap();
        let b = run(&p, &eth([2; 6], [1; 6], 0x800, &r4), 14, 0x800).unwrap();
        assert_eq!(a, b);
        let mut other = r4;
        other[19] = 8;
        let c = run(&p, &eth([2; 6], [1; 6], 0x800, &other), 14, 0x800).unwrap();
        assert_ne!(a, c);

        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[8..24].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v6[24..40].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        let mut r6 = v6;
        r6[8..24].copy_from_slice(&v6[24..40]);
        r6[24..40].copy_from_slice(&v6[8..24]);
        let a = run(&p, &eth([1; 6], [2; 6], 0x86dd, &v6), 14, 0x86dd).unwrap();
        let b = run(&p, &eth([2; 6], [1; 6], 0x86dd, &r6), 14, 0x86dd).unwrap();
        assert_eq!(a, b);

        let arp = [0u8; 28];
        let a = run(&p, &eth([1, 2, 3, 4, 5, 6], [7; 6], 0x806, &arp), 14, 0x806).unwrap();
        let b = run(&p, &eth([7; 6], [1, 2, 3, 4, 5, 6], 0x806, &arp), 14, 0x806).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn fanout_names() {
        assert_eq!(Fanout::parse("ippair").unwrap(), Fanout::IpPair);
        assert_eq!(Fanout::parse("hash-defrag").unwrap().mode(), 0x8000);
        assert!(Fanout::parse("x").is_err());
    }
}
