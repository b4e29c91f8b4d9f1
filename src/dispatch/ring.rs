//! A bounded single-producer/single-consumer ring with blocking on full/empty, built on
//! crossbeam's lock-free `ArrayQueue`. The packet path only does lock-free pushes and pops;
//! a side that has to wait parks itself (with a short timeout, so a lost wake-up costs at most
//! that long) and the other side unparks it after its next operation.
//!
//! A wake-up is a system call for one side and a context switch for the other. Where only
//! throughput matters (replay), a ring can wake its waiting side only once `wake_batch`
//! elements (or free places) are there ([`Ring::wake_batch`]): the consumer then works
//! through several batches per wake-up instead of one, and sleeps longer in between.

use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::Thread;
use std::time::Duration;

const PARK: Duration = Duration::from_micros(200);
/// Park timeout of a side that is woken in batches (the timeout only bounds a lost wake-up
/// or a slow producer: a reader blocked on a pipe, the last partial batches).
const PARK_BATCHED: Duration = Duration::from_millis(2);
const SPINS: u32 = 64;

pub struct Ring<T> {
    q: ArrayQueue<T>,
    producer: Mutex<Option<Thread>>,
    consumer: Mutex<Option<Thread>>,
    producer_waits: AtomicBool,
    consumer_waits: AtomicBool,
    /// How often a push found the ring full (backpressure events).
    pub full_events: AtomicU64,
    closed: AtomicBool,
    /// Elements (for the consumer) or free places (for the producer) that make a wake-up.
    wake_batch: usize,
}

impl<T> Ring<T> {
    pub fn new(capacity: usize) -> Ring<T> {
        Ring {
            q: ArrayQueue::new(capacity.max(1)),
            producer: Mutex::new(None),
            consumer: Mutex::new(None),
            producer_waits: AtomicBool::new(false),
            consumer_waits: AtomicBool::new(false),
            full_events: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            wake_batch: 1,
        }
    }

    /// Wakes a waiting consumer only once `n` elements are queued, and a waiting producer
    /// only once `n` places are free (at most half the capacity, so both can happen).
    pub fn wake_batch(mut self, n: usize) -> Ring<T> {
        self.wake_batch = n.clamp(1, (self.q.capacity() / 2).max(1));
        self
    }

    fn park(&self) {
        std::thread::park_timeout(if self.wake_batch > 1 {
            PARK_BATCHED
        } else {
            PARK
        });
    }

    pub fn capacity(&self) -> usize {
        self.q.capacity()
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// Registers the calling thread as the producer (so the consumer can wake it).
    pub fn register_producer(&self) {
        *self.producer.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current());
    }

    /// Registers the calling thread as the consumer.
    pub fn register_consumer(&self) {
        *self.consumer.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::thread::current());
    }

    fn wake(slot: &Mutex<Option<Thread>>, flag: &AtomicBool) {
        if flag.swap(false, Ordering::AcqRel) {
            if let Some(t) = slot.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                t.unpark();
            }
        }
    }

    /// Pushes, waiting while the ring is full (replay never drops).
    pub fn push(&self, v: T) {
        self.push_or_else(v, || {})
    }

    /// [`Ring::push`] that calls `before_wait` once, if and before it has to sleep. A producer
    /// feeding several rings uses it to wake their consumers ([`Ring::nudge_consumer`]): with
    /// batched wake-ups one of them may sleep on a few queued batches while the producer is
    /// held up here.
    pub fn push_or_else(&self, mut v: T, before_wait: impl FnOnce()) {
        let mut before_wait = Some(before_wait);
        let mut spins = 0;
        let mut counted = false;
        loop {
            match self.q.push(v) {
                Ok(()) => {
                    if self.q.len() >= self.wake_batch {
                        Self::wake(&self.consumer, &self.consumer_waits);
                    }
                    return;
                }
                Err(back) => {
                    v = back;
                    if !counted {
                        self.full_events.fetch_add(1, Ordering::Relaxed);
                        counted = true;
                    }
                    if spins < SPINS {
                        spins += 1;
                        std::hint::spin_loop();
                        continue;
                    }
                    if let Some(f) = before_wait.take() {
                        f();
                    }
                    self.producer_waits.store(true, Ordering::Release);
                    if self.q.is_full() {
                        self.park();
                    }
                }
            }
        }
    }

    /// Pushes without waiting; gives the value back when full (live capture counts a drop).
    pub fn try_push(&self, v: T) -> Result<(), T> {
        match self.q.push(v) {
            Ok(()) => {
                if self.q.len() >= self.wake_batch {
                    Self::wake(&self.consumer, &self.consumer_waits);
                }
                Ok(())
            }
            Err(v) => {
                self.full_events.fetch_add(1, Ordering::Relaxed);
                Err(v)
            }
        }
    }

    /// Pops without waiting.
    pub fn try_pop(&self) -> Option<T> {
        let v = self.q.pop();
        if v.is_some() && self.q.capacity() - self.q.len() >= self.wake_batch {
            Self::wake(&self.producer, &self.producer_waits);
        }
        v
    }

    /// Pops, waiting while the ring is empty; `None` once the ring is closed and drained.
    pub fn pop(&self) -> Option<T> {
        self.pop_or_else(|| {})
    }

    /// [`Ring::pop`] that calls `before_wait` once, if and before it has to sleep (then looks
    /// again). A worker hands on the output it holds there, so the writer need not wait for
    /// it while the worker idles.
    pub fn pop_or_else(&self, before_wait: impl FnOnce()) -> Option<T> {
        let mut before_wait = Some(before_wait);
        let mut spins = 0;
        loop {
            if let Some(v) = self.try_pop() {
                return Some(v);
            }
            if self.closed.load(Ordering::Acquire) {
                return self.try_pop();
            }
            if spins < SPINS {
                spins += 1;
                std::hint::spin_loop();
                continue;
            }
            if let Some(f) = before_wait.take() {
                f();
                continue;
            }
            self.consumer_waits.store(true, Ordering::Release);
            if self.q.is_empty() && !self.closed.load(Ordering::Acquire) {
                self.park();
            }
        }
    }

    /// Pops, waiting at most `timeout`.
    pub fn pop_timeout(&self, timeout: Duration) -> Option<T> {
        let end = std::time::Instant::now() + timeout;
        loop {
            if let Some(v) = self.try_pop() {
                return Some(v);
            }
            if self.closed.load(Ordering::Acquire) || std::time::Instant::now() >= end {
                return None;
            }
            self.consumer_waits.store(true, Ordering::Release);
            if self.q.is_empty() {
                self.park();
            }
        }
    }

    /// Wakes a sleeping consumer if anything is queued, fewer than the wake batch too.
    pub fn nudge_consumer(&self) {
        if !self.q.is_empty() {
            Self::wake(&self.consumer, &self.consumer_waits);
        }
    }

    /// No more pushes will come: wakes the consumer.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.consumer_waits.store(true, Ordering::Release);
        Self::wake(&self.consumer, &self.consumer_waits);
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A consumer thread that pops until the ring is closed and returns what it got.
    fn drain_in_thread(r: Arc<Ring<u32>>) -> std::thread::JoinHandle<Vec<u32>> {
        std::thread::spawn(move || {
            r.register_consumer();
            let mut got = Vec::new();
            while let Some(v) = r.pop() {
                got.push(v);
            }
            got
        })
    }

    #[test]
    fn blocking_push_and_pop_keep_order_under_backpressure() {
        let r = Arc::new(Ring::new(4));
        let consumer = drain_in_thread(r.clone());
        r.register_producer();
        for i in 0..10_000u32 {
            r.push(i);
        }
        r.close();
        let got = consumer.join().unwrap();
        assert_eq!(got, (0..10_000).collect::<Vec<_>>());
        assert!(
            r.full_events.load(Ordering::Relaxed) > 0,
            "a ring of 4 must have been full"
        );
    }

    #[test]
    fn batched_wake_ups_keep_order_and_finish() {
        // a consumer woken every 8 elements, a producer every 8 free places, and a tail of
        // fewer than 8 elements that only the park timeout or close() delivers
        let r = Arc::new(Ring::new(16).wake_batch(8));
        assert_eq!(r.wake_batch, 8);
        let consumer = drain_in_thread(r.clone());
        r.register_producer();
        for i in 0..10_003u32 {
            r.push(i);
        }
        // the last 3 are delivered by the consumer's park timeout, not by a wake-up
        let t = std::time::Instant::now();
        while !r.is_empty() {
            assert!(t.elapsed() < Duration::from_secs(5), "tail never consumed");
            std::thread::sleep(Duration::from_millis(1));
        }
        r.close();
        let got = consumer.join().unwrap();
        assert_eq!(got, (0..10_003).collect::<Vec<_>>());
        assert_eq!(
            Ring::<u8>::new(4).wake_batch(100).wake_batch,
            2,
            "clamped to half"
        );
    }

    #[test]
    fn before_wait_runs_once_and_only_when_the_caller_must_wait() {
        let r = Ring::new(2);
        let mut calls = 0;
        r.push_or_else(1, || calls += 1);
        r.push_or_else(2, || calls += 1);
        assert_eq!(calls, 0, "room: no wait");
        assert_eq!(r.pop_or_else(|| calls += 1), Some(1));
        assert_eq!(calls, 0, "something queued: no wait");
        assert_eq!(r.try_pop(), Some(2));
        // empty: the consumer's hook runs once, and may fill the ring itself
        assert_eq!(
            r.pop_or_else(|| {
                calls += 1;
                let _ = r.try_push(7);
            }),
            Some(7)
        );
        assert_eq!(calls, 1);
        // full: the producer's hook runs once before it sleeps; a consumer frees a place
        let r = Arc::new(Ring::new(1).wake_batch(1));
        r.register_producer();
        r.push(1);
        let consumer = drain_in_thread(r.clone());
        let mut hooks = 0;
        r.push_or_else(2, || hooks += 1);
        r.close();
        assert_eq!(consumer.join().unwrap(), vec![1, 2]);
        assert!(hooks <= 1, "at most once per push");
    }

    #[test]
    fn a_nudge_wakes_a_consumer_sleeping_below_its_wake_batch() {
        // woken only every 8 elements: 3 queued would wait for the park timeout
        let r = Ring::new(16).wake_batch(8);
        r.register_consumer();
        r.consumer_waits.store(true, Ordering::Release); // as a consumer about to sleep
        r.nudge_consumer();
        assert!(
            r.consumer_waits.load(Ordering::Acquire),
            "nothing queued: no wake-up"
        );
        for i in 0..3u32 {
            r.push(i);
        }
        assert!(
            r.consumer_waits.load(Ordering::Acquire),
            "below the wake batch: still asleep"
        );
        r.nudge_consumer();
        assert!(!r.consumer_waits.load(Ordering::Acquire), "woken");
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn try_push_reports_full() {
        let r = Ring::new(1);
        assert!(r.try_push(1).is_ok());
        assert_eq!(r.try_push(2), Err(2));
        assert_eq!(r.try_pop(), Some(1));
        assert_eq!(r.pop_timeout(Duration::from_millis(1)), None);
    }
}
