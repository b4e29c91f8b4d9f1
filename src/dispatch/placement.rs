//! Where the replay reader and the writer run when every CPU they may use also runs a pinned
//! worker (`-c` naming every CPU, or no `-c` at all: one worker per CPU).
//!
//! Each of them then shares a CPU with some worker, and which one matters. On the CPU of a
//! worker with a long backlog the reader gets half of that CPU at best, and every batch it
//! hands that worker wakes it there and gives it the CPU back; meanwhile the other workers
//! run dry and their CPUs idle (a run of real.pcap with two workers on two CPUs left a fifth
//! of the CPU time idle that way). So the reader keeps off the CPU of the worker with the
//! longest backlog, once that backlog is clearly longer than the shortest one, and returns to
//! every CPU once the backlogs are even again: the scheduler then places it next to a worker
//! that is about to run out of work.
//!
//! The writer merges the workers' records in one order, so it waits for the worker that is
//! furthest behind; sharing that worker's CPU, it would keep it behind (at the end of
//! small64, one worker flushed alone for half a second after the other). So the writer keeps
//! off the CPU of the worker it waits for.
//!
//! The workers' side of the same problem (a worker woken by the reader taking the CPU from
//! it) is [`crate::flow::worker::yield_to_pipeline`].

use nix::sched::{sched_setaffinity, CpuSet};

/// How often (in batches sent) the backlogs are looked at: reading the ring lengths is a
/// few shared loads, a move a system call and a migration.
const CHECK_EVERY: u32 = 4;

pub struct Placement {
    /// The CPU of each lane's worker.
    worker_cpu: Vec<usize>,
    /// Every CPU this process may use.
    allowed: Vec<usize>,
    /// The lane whose worker's CPU the calling thread keeps off, if any.
    avoiding: Option<usize>,
    sends: u32,
    /// Affinity changes made (for tests and the curious).
    pub moves: u64,
}

impl Placement {
    /// A placement for workers pinned to `worker_cpu` (per lane), or `None` when it has
    /// nothing to do: fewer than two workers, or a CPU among `allowed` runs no worker (the
    /// other threads stay there, see `app::keep_off_worker_cpus`). Its methods change the
    /// affinity of the thread that calls them.
    pub fn new(worker_cpu: Vec<usize>, allowed: Vec<usize>) -> Option<Placement> {
        if worker_cpu.len() < 2 || allowed.iter().any(|c| !worker_cpu.contains(c)) {
            return None;
        }
        Some(Placement {
            worker_cpu,
            allowed,
            avoiding: None,
            sends: 0,
            moves: 0,
        })
    }

    /// The lane to keep off, given each lane's backlog (batches queued) and the ring
    /// capacity: the longest, once it exceeds the shortest by a quarter of the ring; the
    /// current choice is kept until the difference falls to an eighth (no flapping).
    pub fn choose(backlog: &[usize], capacity: usize, current: Option<usize>) -> Option<usize> {
        let (Some(max), Some(&min)) = (
            backlog.iter().enumerate().max_by_key(|&(_, &b)| b),
            backlog.iter().min(),
        ) else {
            return None;
        };
        let spread = max.1 - min;
        if spread >= (capacity / 4).max(1) {
            Some(max.0)
        } else if spread <= capacity / 8 {
            None
        } else {
            current
        }
    }

    /// The CPUs the reader may use while it keeps off `avoid`'s worker.
    fn cpus(&self, avoid: Option<usize>) -> Vec<usize> {
        let off = avoid.map(|l| self.worker_cpu[l]);
        self.allowed
            .iter()
            .copied()
            .filter(|&c| Some(c) != off)
            .collect()
    }

    /// The reader's policy, called at every batch it sends with each lane's backlog.
    pub fn on_send(&mut self, backlog: impl Fn(usize) -> usize, capacity: usize) {
        self.sends = self.sends.wrapping_add(1);
        if self.sends % CHECK_EVERY != 0 {
            return;
        }
        let mut lens = [0usize; 64];
        let n = self.worker_cpu.len().min(lens.len());
        for (l, len) in lens.iter_mut().enumerate().take(n) {
            *len = backlog(l);
        }
        let want = Self::choose(&lens[..n], capacity, self.avoiding);
        self.keep_off(want);
    }

    /// Keeps the calling thread off the CPU of `lane`'s worker (`None`: every CPU). Only a
    /// change costs a system call.
    pub fn keep_off(&mut self, lane: Option<usize>) {
        if lane == self.avoiding || lane.is_some_and(|l| l >= self.worker_cpu.len()) {
            return;
        }
        let cpus = self.cpus(lane);
        let mut set = CpuSet::new();
        if cpus.is_empty() || cpus.iter().any(|&c| set.set(c).is_err()) {
            return;
        }
        // a refused change (CPU hot-unplugged, cgroup narrowed) leaves the thread where it
        // is, which is where it would be without this
        if sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).is_ok() {
            self.avoiding = lane;
            self.moves += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_when_every_cpu_runs_a_worker() {
        assert!(Placement::new(vec![0, 1], vec![0, 1]).is_some());
        assert!(Placement::new(vec![1, 0], vec![0, 1]).is_some());
        assert!(
            Placement::new(vec![0, 1], vec![0, 1, 2]).is_none(),
            "CPU 2 is free for the reader"
        );
        assert!(Placement::new(vec![0], vec![0]).is_none(), "one worker");
    }

    #[test]
    fn keeps_off_the_longest_backlog_with_hysteresis() {
        let cap = 16;
        assert_eq!(Placement::choose(&[0, 0], cap, None), None);
        assert_eq!(Placement::choose(&[3, 0], cap, None), None, "small spread");
        assert_eq!(Placement::choose(&[12, 8], cap, None), Some(0));
        assert_eq!(Placement::choose(&[1, 16], cap, None), Some(1));
        // between an eighth and a quarter: the current choice stays
        assert_eq!(Placement::choose(&[3, 0], cap, Some(0)), Some(0));
        assert_eq!(Placement::choose(&[0, 3], cap, Some(0)), Some(0));
        assert_eq!(Placement::choose(&[0, 3], cap, None), None);
        // even again: back to every CPU
        assert_eq!(Placement::choose(&[5, 4], cap, Some(0)), None);
        // three lanes: the longest one
        assert_eq!(Placement::choose(&[2, 9, 14], cap, None), Some(2));
        assert_eq!(Placement::choose(&[], cap, None), None);
    }

    #[test]
    fn the_reader_may_use_every_cpu_but_the_avoided_workers() {
        let p = Placement::new(vec![2, 0, 1], vec![0, 1, 2]).unwrap();
        assert_eq!(p.cpus(None), vec![0, 1, 2]);
        assert_eq!(p.cpus(Some(0)), vec![0, 1]);
        assert_eq!(p.cpus(Some(2)), vec![0, 2]);
    }

    /// The CPUs this process may use, if there are at least two (else the test is skipped).
    fn several_cpus() -> Option<Vec<usize>> {
        let allowed: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect();
        if allowed.len() < 2 {
            eprintln!("skipped: one CPU, nothing to keep off");
            return None;
        }
        Some(allowed)
    }

    #[test]
    fn keep_off_changes_only_on_a_new_lane() {
        let Some(allowed) = several_cpus() else {
            return;
        };
        std::thread::spawn(move || {
            let mut p = Placement::new(allowed.clone(), allowed).unwrap();
            p.keep_off(Some(1));
            p.keep_off(Some(1));
            assert_eq!(p.moves, 1, "the same lane again: no system call");
            p.keep_off(Some(99));
            assert_eq!(p.moves, 1, "no such lane: ignored");
            p.keep_off(None);
            assert_eq!(p.moves, 2);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn moves_the_calling_thread_and_back() {
        use nix::sched::sched_getaffinity;
        let Some(allowed) = several_cpus() else {
            return;
        };
        // in a thread of its own: the test harness's threads keep their affinity
        std::thread::spawn(move || {
            // one worker per CPU, as without -c
            let mut p = Placement::new(allowed.clone(), allowed.clone()).unwrap();
            let here = || {
                let set = sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
                (0..CpuSet::count())
                    .filter(|&c| set.is_set(c).unwrap_or(false))
                    .collect::<Vec<_>>()
            };
            for _ in 0..CHECK_EVERY {
                p.on_send(|l| if l == 0 { 16 } else { 0 }, 16);
            }
            assert_eq!(p.moves, 1);
            assert!(!here().contains(&allowed[0]), "off worker 0's CPU");
            assert!(here().contains(&allowed[1]));
            for _ in 0..CHECK_EVERY {
                p.on_send(|_| 4, 16);
            }
            assert_eq!(p.moves, 2);
            assert_eq!(here(), allowed, "every CPU again");
        })
        .join()
        .unwrap();
    }
}
