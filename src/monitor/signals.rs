//! The one place signals are handled (T2's semantics, FACTS (e)).
//!
//! [`block`] blocks SIGINT, SIGTERM, SIGUSR1 and SIGUSR2 in the calling thread before any other
//! thread exists, so every thread inherits the mask; a control thread waits for them with
//! `sigtimedwait` and turns them into flags that the packet loops read ([`Control`]):
//!
//! | signal | effect |
//! |---|---|
//! | USR1 | one report ([`EV_REPORT`]) |
//! | USR2 | periodic reports on/off ([`Control::periodic`]) |
//! | INT, first | no more flows are created (`Shared::no_create`); the run ends once the flows have drained |
//! | INT, second | stop reading, write every flow, end report ([`Control::stop`]) |
//! | INT, third | hard stop: exit at once, flows not yet written are lost |
//! | TERM | as the second INT; a TERM when already stopping exits at once (status 1) |
//!
//! The packet path only ever loads [`Control::events`]; nothing here takes a lock a packet
//! loop could wait for, except the hard stop, which takes the report output lock so that no
//! report is cut in the middle.

use crate::flow::worker::Shared;
use nix::sys::signal::{SigSet, Signal};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A report was requested (USR1, timer, `tamandua ctl report`).
pub const EV_REPORT: u32 = 1;
/// Periodic reports were switched on or off (USR2).
pub const EV_TOGGLE: u32 = 2;
/// Flow creation stopped (first INT): the loop checks whether the flows have drained.
pub const EV_DRAIN: u32 = 4;
/// Stop reading now, write every flow (second INT, TERM).
pub const EV_STOP: u32 = 8;
/// Log lines are waiting ([`Control::take_log`]).
pub const EV_LOG: u32 = 16;

/// The report output: standard output or PREFIX_monitoring.txt. Whoever writes a report holds
/// the lock for the whole report; the hard stop takes it before exiting.
pub type Output = Arc<Mutex<Box<dyn Write + Send>>>;

/// Flags set by the control thread (or by a live-capture loop) and read by the packet loops.
pub struct Control {
    /// Pending events (`EV_*`), read with one relaxed load per packet.
    pub events: AtomicU32,
    /// Periodic reports are on.
    pub periodic: AtomicBool,
    /// Stop reading and write every flow (second INT or TERM).
    pub stop: AtomicBool,
    /// T2's run level: 3 running, 2 no flow creation, 1 exiting, 0 hard stop.
    pub level: AtomicU32,
    /// Reports requested so far (for metrics).
    pub requested: AtomicU64,
    /// The run is over: the control thread leaves its loop.
    pub quit: AtomicBool,
    /// Replay: the packet loop stops flow creation itself, exactly after the packets read
    /// before the signal ([`EV_DRAIN`]); otherwise the first INT sets `Shared::no_create` here.
    pub in_step_no_create: AtomicBool,
    /// Real-time base: the control thread requests a report every `interval` while periodic.
    pub realtime: bool,
    pub interval: Duration,
    log: Mutex<Vec<String>>,
    shared: Arc<Shared>,
    out: Output,
    /// Called for a report request when no packet loop prints reports in step (live capture
    /// with MONINTPSYNC=0): it asks the workers directly.
    pub direct: Mutex<Option<Box<dyn Fn() + Send>>>,
}

impl Control {
    pub fn new(shared: Arc<Shared>, out: Output, realtime: bool, interval: Duration) -> Control {
        Control {
            events: AtomicU32::new(0),
            periodic: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            level: AtomicU32::new(3),
            requested: AtomicU64::new(0),
            quit: AtomicBool::new(false),
            in_step_no_create: AtomicBool::new(false),
            realtime,
            interval,
            log: Mutex::new(Vec::new()),
            shared,
            out,
            direct: Mutex::new(None),
        }
    }

    fn raise(&self, ev: u32) {
        self.events.fetch_or(ev, Ordering::AcqRel);
    }

    fn say(&self, s: &str) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(s.to_string());
        self.raise(EV_LOG);
    }

    /// Log lines written by the control thread since the last call (the packet loop prints
    /// them to the run's log).
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// One report, as SIGUSR1.
    pub fn request_report(&self) {
        self.requested.fetch_add(1, Ordering::Relaxed);
        if let Some(f) = self
            .direct
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            f();
            return;
        }
        self.raise(EV_REPORT);
    }

    /// Periodic reports on/off, as SIGUSR2.
    pub fn toggle_periodic(&self) -> bool {
        let on = !self.periodic.fetch_xor(true, Ordering::AcqRel);
        self.raise(EV_TOGGLE);
        on
    }

    /// SIGINT: 3 → 2 stop flow creation, 2 → 1 write all flows and exit, 1 → 0 hard stop.
    pub fn interrupt(&self) {
        let lvl = self.level.load(Ordering::Acquire);
        match lvl {
            3 => {
                self.level.store(2, Ordering::Release);
                if !self.in_step_no_create.load(Ordering::Acquire) {
                    self.shared.no_create.store(true, Ordering::Release);
                }
                self.say("[INF] SIGINT: Stop flow creation: the run ends when the flows have drained (again: write all flows and exit)");
                self.raise(EV_DRAIN);
            }
            2 => {
                self.level.store(1, Ordering::Release);
                self.stop.store(true, Ordering::Release);
                self.say("[INF] SIGINT: Remove all flows and exit (again: stop at once)");
                self.raise(EV_STOP);
            }
            _ => {
                self.level.store(0, Ordering::Release);
                self.hard_exit("[INF] SIGINT: Terminate, terminate.");
            }
        }
    }

    /// SIGTERM: write all flows and exit; a second one (or one after the second INT) exits at
    /// once.
    pub fn terminate(&self) {
        if self.level.load(Ordering::Acquire) <= 1 {
            self.hard_exit("[INF] SIGTERM: exit now");
        }
        self.level.store(1, Ordering::Release);
        self.stop.store(true, Ordering::Release);
        self.say("[INF] SIGTERM: Terminate: remove all flows and exit");
        self.raise(EV_STOP);
    }

    /// Exits the process without writing the remaining flows. The report output lock is taken
    /// first, so a report being written is finished, never cut.
    pub fn hard_exit(&self, msg: &str) -> ! {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = out.flush();
        let _ = std::io::stdout().flush();
        eprintln!("{msg}");
        std::process::exit(1)
    }
}

/// The signals handled here.
fn set() -> SigSet {
    let mut s = SigSet::empty();
    s.add(Signal::SIGINT);
    s.add(Signal::SIGTERM);
    s.add(Signal::SIGUSR1);
    s.add(Signal::SIGUSR2);
    // only wakes the control thread when the run ends ([`wake`]); blocked everywhere, so an
    // operator's `kill -CONT` does nothing else either
    s.add(Signal::SIGCONT);
    s
}

/// Wakes the control thread out of its wait so that it sees `quit` now rather than at the end
/// of its 200 ms wait (the run's wall time would otherwise end on that tick).
pub fn wake(control: &std::thread::JoinHandle<()>) {
    use std::os::unix::thread::JoinHandleExt;
    // SAFETY: the thread has not been joined yet, so its pthread_t is valid; SIGCONT is
    // blocked in every thread of the process and only consumed by `sigtimedwait`.
    unsafe {
        libc::pthread_kill(control.as_pthread_t(), libc::SIGCONT);
    }
}

/// Blocks the handled signals in the calling thread (and so in every thread it starts later).
/// Call before starting any thread.
pub fn block() -> Result<(), String> {
    set()
        .thread_block()
        .map_err(|e| format!("cannot block signals: {e}"))
}

/// Waits up to `d` for one of the handled signals.
fn wait(set: &SigSet, d: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `set` is a valid sigset_t; a null siginfo pointer is allowed.
    let r = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    (r > 0).then_some(r)
}

/// Starts the control thread: it waits for signals and runs the real-time report timer.
pub fn spawn(ctl: Arc<Control>) -> Result<std::thread::JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let s = set();
            let mut next = Instant::now() + ctl.interval;
            let mut was_periodic = ctl.periodic.load(Ordering::Acquire);
            while !ctl.quit.load(Ordering::Acquire) {
                let periodic = ctl.periodic.load(Ordering::Acquire);
                if periodic && !was_periodic {
                    next = Instant::now() + ctl.interval;
                }
                was_periodic = periodic;
                let timer = ctl.realtime && periodic;
                let now = Instant::now();
                if timer && now >= next {
                    ctl.request_report();
                    next += ctl.interval;
                    if next < now {
                        next = now + ctl.interval;
                    }
                    continue;
                }
                let mut d = Duration::from_millis(200);
                if timer {
                    d = d.min(next - now);
                }
                match wait(&s, d) {
                    Some(libc::SIGUSR1) => ctl.request_report(),
                    Some(libc::SIGUSR2) => {
                        ctl.toggle_periodic();
                    }
                    Some(libc::SIGINT) => ctl.interrupt(),
                    Some(libc::SIGTERM) => ctl.terminate(),
                    _ => {}
                }
            }
        })
        .map_err(|e| format!("cannot start the control thread: {e}"))
}
