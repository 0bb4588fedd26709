//! Real threads, real contention: many threads take random subsets of 16 locks in random request
//! orders, some through nested guards, some cancelling half-way, and check mutual exclusion on
//! every lock they hold. A deadlock or a lost wake-up hangs the test; broken exclusion fails it.
#![cfg(not(loom))]

mod common;

use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};
use std::cell::UnsafeCell;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use futures_lite::future::block_on;
use lockorder::{Error, Guard, LockId, LockManager};

const LOCKS: usize = 16;
/// Threads and iterations per thread: small under Miri, which is ~1000x slower.
const THREADS: usize = if cfg!(miri) { 3 } else { 8 };
const ITERATIONS: usize = if cfg!(miri) { 60 } else { 20_000 };

/// xorshift64*: a tiny deterministic generator, one per thread, so a run can be replayed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What the locks protect: an "inside" flag and a plain, non-atomic counter. Two holders at once
/// show up as a flag already set or as a lost count; a release that does not happen-before the
/// next acquire makes the counter a data race, which ThreadSanitizer and Miri report.
struct Shared {
    inside: [AtomicBool; LOCKS],
    count: [Unsynchronized; LOCKS],
}

/// A counter with no synchronization of its own: only the lock manager orders its accesses.
/// Plain memory is the point (an atomic would hide a missing happens-before from the race
/// detectors), and it takes `unsafe` to share it.
struct Unsynchronized(UnsafeCell<u64>);

// SAFETY: the counter of lock `pos` is only accessed while holding lock `pos` (in
// `Shared::work`), or after every thread has been joined; the lock manager's mutual exclusion and
// happens-before edges are exactly what this test checks.
unsafe impl Sync for Unsynchronized {}

impl Unsynchronized {
    fn get(&self) -> u64 {
        // SAFETY: see `impl Sync`: the caller holds the lock or all threads are joined.
        unsafe { *self.0.get() }
    }

    fn set(&self, n: u64) {
        // SAFETY: see `impl Sync`: the caller holds the lock.
        unsafe { *self.0.get() = n }
    }
}

impl Shared {
    fn enter(&self, held: &[usize]) {
        for &pos in held {
            assert!(
                !self.inside[pos].swap(true, Ordering::Relaxed),
                "lock {pos} has two holders"
            );
        }
    }

    fn work(&self, held: &[usize], rng: &mut Rng) {
        for &pos in held {
            let n = self.count[pos].get();
            if rng.below(4) == 0 {
                // Let others run into the lock while it is held.
                thread::yield_now();
            }
            self.count[pos].set(n + 1);
        }
    }

    fn leave(&self, held: &[usize]) {
        for &pos in held {
            assert!(self.inside[pos].swap(false, Ordering::Relaxed));
        }
    }
}

#[derive(Default)]
struct Stats {
    /// Acquisitions that found a lock busy and had to wait for it.
    waited: AtomicUsize,
    /// Acquisitions dropped while waiting.
    cancelled: AtomicUsize,
    /// Critical sections entered, per lock.
    entered: [AtomicUsize; LOCKS],
    /// Iterations started, by all workers (for the watchdog).
    progress: AtomicUsize,
    /// Workers done.
    finished: AtomicUsize,
}

/// Watches the workers of a test: if none of them finishes an iteration for a minute, the test
/// is stuck (a lost wake-up parks every waiter for ever), and the watchdog prints the manager's
/// status (every lock, its holding and its waiters) and ends the process, so that a hang fails
/// with the locks named instead of stalling the run. It returns once `workers` have finished.
fn watchdog(m: &LockManager, progress: &AtomicUsize, finished: &AtomicUsize, workers: usize) {
    let mut last = progress.load(Ordering::Relaxed);
    let mut still = std::time::Instant::now();
    while finished.load(Ordering::Relaxed) < workers {
        thread::sleep(std::time::Duration::from_millis(100));
        let now = progress.load(Ordering::Relaxed);
        if now != last {
            last = now;
            still = std::time::Instant::now();
        } else if still.elapsed() > std::time::Duration::from_secs(60) {
            // Straight to the process's stderr: the test harness captures `eprintln!`, and the
            // capture is lost with the process.
            let _ = writeln!(
                std::io::stderr(),
                "no progress for 60 s after {now} iterations; the locks:\n{}",
                m.status()
            );
            std::process::abort();
        }
    }
}

fn manager() -> (LockManager, Vec<LockId>) {
    let mut b = LockManager::builder();
    for i in 0..LOCKS {
        b.register(&format!("l{i}"), 10 * i as u32 + 5).unwrap();
    }
    let m = b.build();
    let ids = (0..LOCKS)
        .map(|i| m.id(&format!("l{i}")).unwrap())
        .collect();
    (m, ids)
}

/// A random subset of 1..=4 locks, in a random order (with a repeat now and then).
fn request(rng: &mut Rng) -> Vec<usize> {
    let mut picked: Vec<usize> = (0..1 + rng.below(4)).map(|_| rng.below(LOCKS)).collect();
    if rng.below(8) == 0 {
        picked.push(picked[0]);
    }
    picked
}

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

fn critical_section(shared: &Shared, stats: &Stats, held: &[usize], rng: &mut Rng) {
    shared.enter(held);
    shared.work(held, rng);
    for &pos in held {
        stats.entered[pos].fetch_add(1, Ordering::Relaxed);
    }
    shared.leave(held);
}

fn worker(m: &LockManager, ids: &[LockId], shared: &Shared, stats: &Stats, seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..ITERATIONS {
        stats.progress.fetch_add(1, Ordering::Relaxed);
        let picked = request(&mut rng);
        let keys: Vec<LockId> = picked.iter().map(|&p| ids[p]).collect();
        let mut held = picked.clone();
        held.sort_unstable();
        held.dedup();
        match rng.below(4) {
            // Try first; wait only if that fails.
            0 => {
                let g = match m.try_acquire(&keys) {
                    Ok(g) => g,
                    Err(Error::WouldBlock { .. }) => {
                        stats.waited.fetch_add(1, Ordering::Relaxed);
                        block_on(m.acquire(&keys)).unwrap()
                    }
                    Err(e) => panic!("{e}"),
                };
                critical_section(shared, stats, &held, &mut rng);
                drop(g);
            }
            // Poll once with a waker that does nothing, then wait with a real one.
            1 => {
                let mut acquire = pin!(m.acquire(&keys));
                let g = match poll_once(acquire.as_mut()) {
                    Poll::Ready(g) => g.unwrap(),
                    Poll::Pending => {
                        stats.waited.fetch_add(1, Ordering::Relaxed);
                        block_on(acquire).unwrap()
                    }
                };
                critical_section(shared, stats, &held, &mut rng);
                drop(g);
            }
            // Cancel: poll once, maybe give others a chance to wake it, then drop.
            2 => {
                let mut acquire = pin!(m.acquire(&keys));
                match poll_once(acquire.as_mut()) {
                    Poll::Ready(g) => {
                        let _g: Guard<'_> = g.unwrap();
                        critical_section(shared, stats, &held, &mut rng);
                    }
                    Poll::Pending => {
                        thread::yield_now();
                        stats.cancelled.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // Nested: the lower half through the manager, the upper half through the guard.
            _ => {
                let (low, high) = held.split_at(held.len() / 2);
                let mut outer = block_on(m.acquire(low.iter().map(|&p| ids[p]))).unwrap();
                let inner = block_on(outer.acquire(&keys)).unwrap();
                assert!(held.iter().all(|&p| inner.holds(ids[p])));
                critical_section(shared, stats, high, &mut rng);
                drop(inner);
                if !low.is_empty() {
                    critical_section(shared, stats, low, &mut rng);
                }
                drop(outer);
            }
        }
    }
}

#[test]
fn random_sets_from_many_threads_exclude_and_finish() {
    let (m, ids) = manager();
    let shared = Shared {
        inside: core::array::from_fn(|_| AtomicBool::new(false)),
        count: core::array::from_fn(|_| Unsynchronized(UnsafeCell::new(0))),
    };
    let stats = Stats::default();
    thread::scope(|s| {
        for t in 0..THREADS {
            let (m, ids, shared, stats) = (&m, &ids, &shared, &stats);
            s.spawn(move || {
                worker(m, ids, shared, stats, t as u64 + 1);
                stats.finished.fetch_add(1, Ordering::Relaxed);
            });
        }
        watchdog(&m, &stats.progress, &stats.finished, THREADS);
    });

    // No count was lost to two holders at once.
    for pos in 0..LOCKS {
        assert_eq!(
            shared.count[pos].get(),
            stats.entered[pos].load(Ordering::Relaxed) as u64,
            "lock {pos}"
        );
    }
    // Everything was released, and the manager still works, in both modes.
    common::assert_all_free(&m);
    drop(m.try_acquire(&ids).unwrap());

    let waited = stats.waited.load(Ordering::Relaxed);
    let cancelled = stats.cancelled.load(Ordering::Relaxed);
    println!(
        "{THREADS} threads x {ITERATIONS} acquisitions: {waited} waited, {cancelled} cancelled while waiting"
    );
    // The test exercised the waiting path, not only the uncontended one.
    assert!(waited > 0);
}

/// A queue of waiters behind one lock: each is listening before the holder lets go, so every
/// release must hand the lock on to the next one, to the last. A release that forgets the
/// waiters still queued strands them, and the test hangs.
#[test]
fn a_queue_of_waiters_drains() {
    const WAITERS: usize = 3;
    const ROUNDS: usize = if cfg!(miri) { 5 } else { 300 };
    let (m, ids) = manager();
    let lock = [ids[0]];
    let held = Unsynchronized(UnsafeCell::new(0));
    for round in 0..ROUNDS {
        let g = m.try_acquire(lock).unwrap();
        thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            for _ in 0..WAITERS {
                let (m, tx, held) = (&m, tx.clone(), &held);
                s.spawn(move || {
                    let mut acquire = pin!(m.acquire(lock));
                    assert!(poll_once(acquire.as_mut()).is_pending());
                    tx.send(()).unwrap();
                    let g = block_on(acquire).unwrap();
                    held.set(held.get() + 1);
                    drop(g);
                });
            }
            // Every waiter is queued; now let go.
            (0..WAITERS).for_each(|_| rx.recv().unwrap());
            drop(g);
        });
        assert_eq!(held.get(), (round as u64 + 1) * WAITERS as u64);
    }
    common::assert_all_free(&m);
}

/// Readers and writers: threads take random sets in which each lock is shared or exclusive at
/// random (by try, poll-then-wait, blocking wait, cancellation), and check on every lock that a
/// writer is alone and readers only meet readers. Readers read the plain counter, writers bump
/// it: a write that a release does not order before a read is a data race for the sanitizers.
#[test]
fn readers_and_writers_from_many_threads_exclude_and_finish() {
    const WRITER: usize = 1 << 20;
    let (m, ids) = manager();
    let state: [AtomicUsize; LOCKS] = core::array::from_fn(|_| AtomicUsize::new(0));
    let counts: [Unsynchronized; LOCKS] =
        core::array::from_fn(|_| Unsynchronized(UnsafeCell::new(0)));
    let written: [AtomicUsize; LOCKS] = core::array::from_fn(|_| AtomicUsize::new(0));
    let stats = Stats::default();
    let readers_met = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (m, ids, state, counts, written, stats, readers_met) =
                (&m, &ids, &state, &counts, &written, &stats, &readers_met);
            s.spawn(move || {
                let mut rng = Rng::new(1000 + t as u64);
                for _ in 0..ITERATIONS / 2 {
                    stats.progress.fetch_add(1, Ordering::Relaxed);
                    let picked = request(&mut rng);
                    // Mostly reads: each picked lock is exclusive with probability 1/4.
                    let (excl, shared): (Vec<usize>, Vec<usize>) =
                        picked.iter().partition(|_| rng.below(4) == 0);
                    let key = |p: &usize| ids[*p];
                    let acquire = m
                        .acquire(excl.iter().map(key))
                        .shared(shared.iter().map(key));
                    let g = match rng.below(3) {
                        0 => match acquire.try_now() {
                            Ok(g) => g,
                            Err(Error::WouldBlock { .. }) => {
                                stats.waited.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            Err(e) => panic!("{e}"),
                        },
                        1 => {
                            let mut acquire = pin!(acquire);
                            match poll_once(acquire.as_mut()) {
                                Poll::Ready(g) => g.unwrap(),
                                Poll::Pending if rng.below(2) == 0 => {
                                    stats.cancelled.fetch_add(1, Ordering::Relaxed);
                                    continue;
                                }
                                Poll::Pending => {
                                    stats.waited.fetch_add(1, Ordering::Relaxed);
                                    block_on(acquire).unwrap()
                                }
                            }
                        }
                        _ => acquire.wait().unwrap(),
                    };
                    let mut held: Vec<(usize, bool)> = picked
                        .iter()
                        .map(|&p| (p, g.mode(ids[p]) == Some(lockorder::Mode::Exclusive)))
                        .collect();
                    held.sort_unstable();
                    held.dedup();
                    for &(p, exclusive) in &held {
                        if exclusive {
                            let before = state[p].fetch_add(WRITER, Ordering::Relaxed);
                            assert_eq!(before, 0, "lock {p}: a writer met another holder");
                            counts[p].set(counts[p].get() + 1);
                            written[p].fetch_add(1, Ordering::Relaxed);
                        } else {
                            let before = state[p].fetch_add(1, Ordering::Relaxed);
                            assert!(before < WRITER, "lock {p}: a reader met a writer");
                            if before > 0 {
                                readers_met.fetch_add(1, Ordering::Relaxed);
                            }
                            let _ = counts[p].get();
                        }
                    }
                    if rng.below(4) == 0 {
                        thread::yield_now();
                    }
                    for &(p, exclusive) in &held {
                        state[p].fetch_sub(if exclusive { WRITER } else { 1 }, Ordering::Relaxed);
                    }
                    drop(g);
                }
                stats.finished.fetch_add(1, Ordering::Relaxed);
            });
        }
        watchdog(&m, &stats.progress, &stats.finished, THREADS);
    });
    for p in 0..LOCKS {
        assert_eq!(
            counts[p].get(),
            written[p].load(Ordering::Relaxed) as u64,
            "lock {p}"
        );
    }
    common::assert_all_free(&m);
    drop(m.try_acquire(&ids).unwrap());
    let (waited, met) = (
        stats.waited.load(Ordering::Relaxed),
        readers_met.load(Ordering::Relaxed),
    );
    println!("readers and writers: {waited} waited, {met} times a reader joined another");
    assert!(waited > 0, "the waiting path was exercised");
    assert!(
        met > 0 || cfg!(miri),
        "readers held a lock together at least once"
    );
}
