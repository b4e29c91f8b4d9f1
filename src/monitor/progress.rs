//! The progress line for pcap input: a one-line bar on the terminal (standard error), updated
//! five times a second from the reader's published position. Off when standard output is not a
//! terminal, with `-l`, for standard input, or with `--no-progress`.

use super::{Hub, Options};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Whether to show the line.
pub fn wanted(o: &Options, file_size: Option<u64>) -> bool {
    if file_size.unwrap_or(0) == 0 || o.live {
        return false;
    }
    match o.progress {
        Some(v) => v,
        None => {
            !o.log_to_file && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
        }
    }
}

/// Starts the updater thread.
pub fn spawn(hub: Arc<Hub>) -> Option<std::thread::JoinHandle<()>> {
    let size = hub.file_size?;
    let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr_with_hz(5));
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {percent:>3}% {bytes}/{total_bytes} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let _ = hub.bar.set(bar.clone());
    std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let mut last = (0u64, std::time::Instant::now());
            while !hub.done.load(Ordering::Acquire) {
                let pos = hub.reader.file_pos.load(Ordering::Relaxed).min(size);
                let pk = hub.reader.packets.load(Ordering::Relaxed);
                let dt = last.1.elapsed().as_secs_f64();
                if dt >= 1.0 {
                    let rate = (pk - last.0) as f64 / dt;
                    bar.set_message(format!(
                        "{pk} pkts ({rate:.0}/s), {} flows",
                        hub.shared.concurrent.load(Ordering::Relaxed)
                    ));
                    last = (pk, std::time::Instant::now());
                }
                bar.set_position(pos);
                std::thread::sleep(Duration::from_millis(200));
            }
            bar.finish_and_clear();
        })
        .ok()
}
