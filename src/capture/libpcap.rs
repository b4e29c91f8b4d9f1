//! libpcap live capture, the fallback backend: one handle, one worker.
//!
//! Not in immediate mode: on this kernel libpcap's immediate mode drops packets. And
//! `pcap_next_ex` in blocking mode does not return on its timeout while the line is idle
//! (libpcap 1.10 keeps polling), so the handle is non-blocking and the worker polls the
//! handle's descriptor itself with its own timeout: an idle worker still runs its timeout
//! pass and sees SIGINT. The kernel retires a partly filled buffer block after the handle's
//! timeout (50 ms), which bounds the latency at low rates.

use crate::live::{Rx, RxHandler, RxStats};
use crate::time::Ts;
use std::io;
use std::os::fd::AsRawFd;

pub struct LibPcap {
    cap: pcap::Capture<pcap::Active>,
    linktype: u32,
    received: u64,
    /// Packets handed over per `next_batch` call at most (the rest wait for the next call).
    burst: usize,
}

// SAFETY: the handle is used by one thread at a time (the worker that owns this value);
// libpcap handles may move between threads as long as they are not shared.
unsafe impl Send for LibPcap {}

impl LibPcap {
    pub fn open(
        iface: &str,
        snaplen: u32,
        buffer_bytes: u64,
        filter: Option<&str>,
    ) -> Result<LibPcap, String> {
        let inactive =
            pcap::Capture::from_device(iface).map_err(|e| format!("libpcap {iface}: {e}"))?;
        let cap = inactive
            .promisc(true)
            .snaplen(snaplen.min(i32::MAX as u32) as i32)
            .buffer_size(buffer_bytes.min(i32::MAX as u64) as i32)
            .timeout(50)
            .immediate_mode(false)
            .precision(pcap::Precision::Nano)
            .open()
            .map_err(|e| format!("libpcap {iface}: {e}"))?;
        let mut cap = cap
            .setnonblock()
            .map_err(|e| format!("libpcap {iface}: non-blocking mode: {e}"))?;
        if let Some(f) = filter {
            cap.filter(f, true)
                .map_err(|e| format!("libpcap filter '{f}': {e}"))?;
        }
        let linktype = cap.get_datalink().0 as u32;
        Ok(LibPcap {
            cap,
            linktype,
            received: 0,
            burst: 256,
        })
    }
}

impl Rx for LibPcap {
    fn next_batch(&mut self, timeout_ms: i32, h: &mut dyn RxHandler) -> io::Result<usize> {
        let mut n = 0;
        let mut polled = false;
        while n < self.burst {
            match self.cap.next_packet() {
                Ok(p) => {
                    h.begin(1);
                    let ts = Ts::new(p.header.ts.tv_sec as u64, p.header.ts.tv_usec as u32);
                    h.packet(ts, p.data, p.header.len);
                    n += 1;
                }
                Err(pcap::Error::TimeoutExpired) => {
                    // nothing buffered (non-blocking): wait once for the descriptor
                    if n > 0 || polled || timeout_ms == 0 {
                        break;
                    }
                    polled = true;
                    let mut pfd = libc::pollfd {
                        fd: self.cap.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd; the descriptor belongs to the open handle.
                    let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
                    if r <= 0 {
                        break;
                    }
                }
                Err(e) => {
                    if n > 0 {
                        break;
                    }
                    return Err(io::Error::other(format!("libpcap: {e}")));
                }
            }
            if n > 0 && n % 64 == 0 {
                // let the worker tick regularly under load
                break;
            }
        }
        self.received += n as u64;
        Ok(n)
    }

    fn stats(&mut self) -> RxStats {
        let s = self.cap.stats().ok();
        RxStats {
            received: self.received,
            kernel_drops: s.map_or(0, |s| s.dropped as u64),
            ..Default::default()
        }
    }

    fn linktype(&self) -> u32 {
        self.linktype
    }
}
