//! A Prometheus text endpoint (`--metrics ADDR:PORT`, loopback when only a port is given): a
//! tiny HTTP/1.1 server on a std `TcpListener` answering `GET /metrics` (and `/`) with the
//! reader's, the workers' and the rings' counters. Everything it reads is an atomic the packet
//! path already maintains; a scrape never touches the packet path.

use super::Hub;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// `PORT`, `:PORT`, `HOST:PORT` or `[V6]:PORT`; a bare port means 127.0.0.1.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    let full = if t.parse::<u16>().is_ok() {
        format!("127.0.0.1:{t}")
    } else if let Some(p) = t.strip_prefix(':') {
        format!("127.0.0.1:{p}")
    } else {
        t.to_string()
    };
    full.to_socket_addrs()
        .map_err(|e| format!("--metrics {s}: {e}"))?
        .next()
        .ok_or_else(|| format!("--metrics {s}: no address"))
}

/// Binds and starts the server thread.
pub fn spawn(hub: Arc<Hub>, addr: &str) -> Result<std::thread::JoinHandle<()>, String> {
    let a = parse_addr(addr)?;
    let l = TcpListener::bind(a).map_err(|e| format!("--metrics {addr}: {e}"))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            while !hub.done.load(Ordering::Acquire) {
                match l.accept() {
                    Ok((s, _)) => serve(&hub, s),
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })
        .map_err(|e| format!("cannot start the metrics thread: {e}"))
}

fn serve(hub: &Hub, mut s: TcpStream) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16384 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req);
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = if path == "/metrics" || path == "/" {
        ("200 OK", render(hub))
    } else {
        ("404 Not Found", "not found: try /metrics\n".to_string())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body.as_bytes());
}

/// The metrics in Prometheus' text format.
pub fn render(hub: &Hub) -> String {
    let mut o = String::new();
    let mut m = |name: &str, kind: &str, help: &str, vals: &[(String, u64)]| {
        let _ = writeln!(o, "# HELP tamandua_{name} {help}");
        let _ = writeln!(o, "# TYPE tamandua_{name} {kind}");
        for (labels, v) in vals {
            let _ = writeln!(o, "tamandua_{name}{labels} {v}");
        }
    };
    let r = &hub.reader;
    let one = |v: u64| vec![(String::new(), v)];
    m(
        "packets_total",
        "counter",
        "Packets read",
        &one(r.packets.load(Ordering::Relaxed)),
    );
    m(
        "raw_bytes_total",
        "counter",
        "Bytes on the wire of the packets read",
        &one(r.raw_bytes.load(Ordering::Relaxed)),
    );
    m(
        "processed_bytes_total",
        "counter",
        "Captured bytes of the packets read",
        &one(r.processed_bytes.load(Ordering::Relaxed)),
    );
    if let Some(size) = hub.file_size {
        m("input_bytes", "gauge", "Size of the input file", &one(size));
        m(
            "input_position_bytes",
            "gauge",
            "Bytes of the input consumed",
            &one(r.file_pos.load(Ordering::Relaxed).min(size)),
        );
    }
    let sh = &hub.shared;
    m(
        "flows_in_memory",
        "gauge",
        "Flows in the flow tables of all workers",
        &one(sh.concurrent.load(Ordering::Relaxed)),
    );
    m(
        "flows_in_memory_peak",
        "gauge",
        "Most flows in memory at once",
        &one(sh.peak.load(Ordering::Relaxed)),
    );
    m(
        "worker_packets_processed_total",
        "counter",
        "Packets processed by all workers",
        &one(sh.processed.load(Ordering::Relaxed)),
    );
    let lbl = |i: usize| format!("{{worker=\"{i}\"}}");
    let g = &hub.link.slots;
    m(
        "worker_packets_total",
        "counter",
        "Packets attached to flows, per worker",
        &g.iter()
            .enumerate()
            .map(|(i, s)| (lbl(i), s.gauges.packets.load(Ordering::Relaxed)))
            .collect::<Vec<_>>(),
    );
    m(
        "worker_flows_total",
        "counter",
        "Flows created, per worker",
        &g.iter()
            .enumerate()
            .map(|(i, s)| (lbl(i), s.gauges.flows.load(Ordering::Relaxed)))
            .collect::<Vec<_>>(),
    );
    m(
        "worker_flows_in_memory",
        "gauge",
        "Flows in the worker's table",
        &g.iter()
            .enumerate()
            .map(|(i, s)| (lbl(i), s.gauges.live.load(Ordering::Relaxed)))
            .collect::<Vec<_>>(),
    );
    if let Some(rings) = hub.rings.get() {
        m(
            "ring_batches",
            "gauge",
            "Batches waiting in the reader-to-worker ring",
            &rings
                .iter()
                .enumerate()
                .map(|(i, r)| (lbl(i), r.len() as u64))
                .collect::<Vec<_>>(),
        );
        m(
            "ring_capacity_batches",
            "gauge",
            "Capacity of the reader-to-worker ring",
            &rings
                .iter()
                .enumerate()
                .map(|(i, r)| (lbl(i), r.capacity() as u64))
                .collect::<Vec<_>>(),
        );
        m(
            "ring_full_total",
            "counter",
            "Times the reader found the worker's ring full and waited (replay never drops)",
            &rings
                .iter()
                .enumerate()
                .map(|(i, r)| (lbl(i), r.full_events.load(Ordering::Relaxed)))
                .collect::<Vec<_>>(),
        );
    }
    if let Some(counts) = hub.live_counts.get() {
        let (rec, drp, ifd) = counts();
        m(
            "capture_received_total",
            "counter",
            "Live capture: packets received by the capture sources (pktsRec)",
            &one(rec),
        );
        m(
            "capture_kernel_drops_total",
            "counter",
            "Live capture: packets the kernel dropped for the capture sources (pktsDrp)",
            &one(drp),
        );
        m(
            "capture_interface_drops_total",
            "counter",
            "Live capture: packets the interface dropped since the start (ifDrp)",
            &one(ifd),
        );
        m(
            "worker_capture_received_total",
            "counter",
            "Live capture: packets received by the worker's capture source",
            &g.iter()
                .enumerate()
                .map(|(i, s)| (lbl(i), s.gauges.received.load(Ordering::Relaxed)))
                .collect::<Vec<_>>(),
        );
        m(
            "worker_capture_dropped_total",
            "counter",
            "Live capture: packets the kernel dropped for the worker's capture source",
            &g.iter()
                .enumerate()
                .map(|(i, s)| (lbl(i), s.gauges.dropped.load(Ordering::Relaxed)))
                .collect::<Vec<_>>(),
        );
    }
    if let Some(n) = hub.link.split_flows() {
        m(
            "flows_split_across_workers_total",
            "counter",
            "Live capture: flows whose reverse direction was created on another worker (RSS or fanout not symmetric; a lower bound)",
            &one(n),
        );
    }
    let c = &hub.ctl;
    m(
        "reports_total",
        "counter",
        "Monitoring reports written",
        &one(hub.reports.load(Ordering::Relaxed)),
    );
    m(
        "periodic_reports",
        "gauge",
        "1 while periodic reports are on",
        &one(c.periodic.load(Ordering::Relaxed) as u64),
    );
    m(
        "flow_creation_stopped",
        "gauge",
        "1 after the first SIGINT (no new flows)",
        &one(sh.no_create.load(Ordering::Relaxed) as u64),
    );
    m(
        "run_level",
        "gauge",
        "3 running, 2 no flow creation, 1 writing all flows and exiting",
        &one(c.level.load(Ordering::Relaxed) as u64),
    );
    m(
        "uptime_seconds",
        "gauge",
        "Seconds since start",
        &one(hub.started.elapsed().as_secs()),
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("9100").unwrap().to_string(), "127.0.0.1:9100");
        assert_eq!(parse_addr(":9100").unwrap().to_string(), "127.0.0.1:9100");
        assert_eq!(
            parse_addr("0.0.0.0:9100").unwrap().to_string(),
            "0.0.0.0:9100"
        );
        assert!(parse_addr("nope").is_err());
    }
}
