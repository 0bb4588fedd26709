//! Model checks of the raw lock, the `Acquire` future and the guards with loom: every
//! interleaving of a few threads (up to the preemption bound) is explored, and loom reports a
//! data race, a lost wake-up (all threads blocked) or a leaked object as a failure.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 cargo test --release --target-dir target/loom --test loom
//! ```
#![cfg(loom)]

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};

use lockorder::{Error, LockManager, NoTimer, Timer};
use loom::cell::UnsafeCell;
use loom::future::{block_on, AtomicWaker};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A manager of locks named `"a"`, `"b"`, ... in that order.
fn manager(names: &[&str]) -> LockManager<NoTimer> {
    let mut b = LockManager::builder();
    for (order, name) in (1..).zip(names) {
        b.register(name, order).unwrap();
    }
    b.build()
}

/// Spawns a model thread that runs `f` on `handles`, the thread's own handles on what the model
/// shares (cloned by the caller, before the spawn). Like `loom::thread::spawn`, it asks for no
/// `Send`: loom runs every model thread on the test's own.
fn spawn_with<H: 'static>(handles: H, f: impl FnOnce(H) + 'static) -> thread::JoinHandle<()> {
    thread::spawn(move || f(handles))
}

/// Explores `f` with at most `preemptions` preemptions per execution, whatever
/// `LOOM_MAX_PREEMPTIONS` says: for models that are too slow with more.
fn model_bounded(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(preemptions);
    model.check(f);
}

/// Every lock is free and can be taken again in both modes (a shared try also fails on a free
/// lock kept for a waiting writer or a reservation that no longer exists), and all at once.
fn assert_all_free<T: lockorder::MaybeTimer>(m: &LockManager<T>) {
    for info in m.locks() {
        assert!(!m.is_locked(info.id()).unwrap(), "{} leaked", info.name());
        drop(m.try_acquire([info.id()]).expect("free for a writer"));
        drop(
            m.try_acquire_shared([info.id()])
                .expect("free for a reader"),
        );
    }
    let names: Vec<&str> = m.locks().map(|l| l.name()).collect();
    drop(m.try_acquire(names).expect("every lock is free"));
}

/// Data guarded only by the lock manager. loom checks every access against the happens-before
/// order: two accesses not ordered by a release and an acquire of the lock are a reported race.
struct Guarded(UnsafeCell<usize>);

impl Guarded {
    fn new() -> Self {
        Self(UnsafeCell::new(0))
    }

    /// Read-modify-write, only while holding the lock that guards it.
    fn bump(&self) {
        // SAFETY: callers hold the lock guarding this cell, so no other thread accesses it; loom
        // verifies exactly that claim on every explored interleaving.
        self.0.with_mut(|p| unsafe { *p += 1 });
    }

    fn get(&self) -> usize {
        // SAFETY: read after every writer thread has been joined.
        self.0.with(|p| unsafe { *p })
    }

    /// A read, only while holding the lock that guards it, in shared mode at least: reads may
    /// overlap each other, never a `bump`.
    fn get_shared(&self) -> usize {
        // SAFETY: callers hold the guarding lock (shared); writers hold it exclusively, so no
        // write overlaps this read. loom verifies the claim on every explored interleaving.
        self.0.with(|p| unsafe { *p })
    }
}

#[test]
fn one_lock_excludes() {
    loom::model(|| {
        let m = Arc::new(manager(&["a"]));
        let data = Arc::new(Guarded::new());
        let inside = Arc::new(AtomicBool::new(false));
        let worker = |m: Arc<LockManager>, data: Arc<Guarded>, inside: Arc<AtomicBool>| {
            let g = block_on(m.acquire(["a"])).unwrap();
            assert!(!inside.swap(true, Ordering::Relaxed), "two holders at once");
            data.bump();
            inside.store(false, Ordering::Relaxed);
            drop(g);
        };
        let t = spawn_with(
            (m.clone(), data.clone(), inside.clone()),
            move |(m, data, inside)| worker(m, data, inside),
        );
        worker(m.clone(), data.clone(), inside);
        t.join().unwrap();
        assert_eq!(data.get(), 2);
        assert_all_free(&m);
    });
}

#[test]
fn opposite_request_orders_never_deadlock() {
    loom::model(|| {
        let m = Arc::new(manager(&["a", "b"]));
        let data = Arc::new((Guarded::new(), Guarded::new()));
        let t = spawn_with((m.clone(), data.clone()), move |(m, data)| {
            let g = block_on(m.acquire(["a", "b"])).unwrap();
            data.0.bump();
            data.1.bump();
            drop(g);
        });
        let g = block_on(m.acquire(["b", "a"])).unwrap();
        data.1.bump();
        data.0.bump();
        drop(g);
        t.join().unwrap();
        assert_eq!((data.0.get(), data.1.get()), (2, 2));
        assert_all_free(&m);
    });
}

#[test]
fn nested_in_opposite_orders_is_refused_not_deadlocked() {
    loom::model(|| {
        let m = Arc::new(manager(&["a", "b"]));
        let t = spawn_with(m.clone(), move |m| {
            let mut outer = block_on(m.acquire(["a"])).unwrap();
            let inner = block_on(outer.acquire(["b"])).unwrap();
            assert!(inner.holds("a") && inner.holds("b"));
        });
        let mut outer = block_on(m.acquire(["b"])).unwrap();
        let err = block_on(outer.acquire(["a"])).unwrap_err();
        assert!(matches!(err, Error::OrderViolation { .. }), "{err}");
        drop(outer);
        t.join().unwrap();
        assert_all_free(&m);
    });
}

static CANCELLED_WHILE_WAITING: StdAtomicUsize = StdAtomicUsize::new(0);

/// Spawns a thread that polls `acquire` once (with a waker that does nothing), lets the others
/// run, and drops it: if it was woken in between, that wake-up must reach another waiter. Counts
/// in `dropped_waiting` the executions where it was still waiting when dropped.
fn poll_once_then_drop<F>(
    acquire: F,
    dropped_waiting: &'static StdAtomicUsize,
) -> thread::JoinHandle<()>
where
    F: Future + Send + 'static,
{
    thread::spawn(move || {
        let mut acquire = Box::pin(acquire);
        let poll = acquire
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        thread::yield_now();
        drop(acquire);
        if poll.is_pending() {
            dropped_waiting.fetch_add(1, StdOrdering::Relaxed);
        }
    })
}

/// Three threads on one lock: one takes it in mode `first` and releases it, one waits
/// (exclusive) and is dropped after one poll, and the last blocks on it in mode `last` until it
/// has it: a lost wake-up leaves every thread blocked, which loom reports as a deadlock.
fn a_dropped_waiter_strands_nobody(
    first: lockorder::Mode,
    last: lockorder::Mode,
    dropped_waiting: &'static StdAtomicUsize,
) {
    loom::model(move || {
        let m = Arc::new(manager(&["a"]));
        let take = |m: &LockManager, mode| match mode {
            lockorder::Mode::Shared => drop(block_on(m.acquire_shared(["a"])).unwrap()),
            lockorder::Mode::Exclusive => drop(block_on(m.acquire(["a"])).unwrap()),
        };
        let holder = spawn_with(m.clone(), move |m| take(&m, first));
        let dropped = {
            let m = m.clone();
            poll_once_then_drop(
                async move { m.acquire(["a"]).await.map(drop) },
                dropped_waiting,
            )
        };
        take(&m, last);
        holder.join().unwrap();
        dropped.join().unwrap();
        assert_all_free(&m);
    });
    // The interesting case, a waiter dropped while listening, was explored.
    assert!(dropped_waiting.load(StdOrdering::Relaxed) > 0);
}

#[test]
fn cancelled_waiter_passes_its_wake_up_on() {
    use lockorder::Mode::Exclusive;
    a_dropped_waiter_strands_nobody(Exclusive, Exclusive, &CANCELLED_WHILE_WAITING);
}

#[test]
fn cancelled_partial_acquire_releases_what_it_took() {
    loom::model(|| {
        let m = Arc::new(manager(&["a", "b"]));
        let holder = spawn_with(m.clone(), move |m| {
            drop(block_on(m.acquire(["b"])).unwrap())
        });
        let canceller = spawn_with(m.clone(), move |m| {
            // May hold "a" while waiting for "b" when it is dropped.
            let mut acquire = m.acquire(["a", "b"]);
            let poll = Pin::new(&mut acquire).poll(&mut Context::from_waker(Waker::noop()));
            drop(acquire);
            drop(poll);
        });
        drop(block_on(m.acquire(["a", "b"])).unwrap());
        holder.join().unwrap();
        canceller.join().unwrap();
        assert_all_free(&m);
    });
}

#[test]
fn nested_reentrant_acquire_excludes() {
    loom::model(|| {
        let m = Arc::new(manager(&["a", "b"]));
        let data = Arc::new((Guarded::new(), Guarded::new()));
        let t = spawn_with((m.clone(), data.clone()), move |(m, data)| {
            let mut outer = block_on(m.acquire(["a"])).unwrap();
            data.0.bump();
            // "a" is held already: skipped; "b" is taken.
            let inner = block_on(outer.acquire(["a", "b"])).unwrap();
            data.0.bump();
            data.1.bump();
            drop(inner);
            assert!(m.is_locked("a").unwrap());
            data.0.bump();
        });
        let g = block_on(m.acquire(["b", "a"])).unwrap();
        data.0.bump();
        data.1.bump();
        drop(g);
        t.join().unwrap();
        assert_eq!((data.0.get(), data.1.get()), (4, 2));
        assert_all_free(&m);
    });
}

// === a timer driven by a model thread ===

/// A timer whose sleeps all complete when [`fire`](ModelTimer::fire) is called. One sleeper at a
/// time: the waker slot is shared.
#[derive(Clone)]
struct ModelTimer(Arc<(AtomicBool, AtomicWaker)>);

impl ModelTimer {
    fn new() -> Self {
        Self(Arc::new((AtomicBool::new(false), AtomicWaker::new())))
    }

    fn fire(&self) {
        self.0 .0.store(true, Ordering::Release);
        self.0 .1.wake();
    }
}

struct ModelSleep(ModelTimer);

impl Future for ModelSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let shared = &(self.0).0;
        shared.1.register_by_ref(cx.waker());
        if shared.0.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Timer for ModelTimer {
    type Sleep = ModelSleep;

    fn now(&self) -> Duration {
        Duration::ZERO
    }

    fn sleep(&self, _: Duration) -> ModelSleep {
        ModelSleep(self.clone())
    }
}

static GRANTED: StdAtomicUsize = StdAtomicUsize::new(0);
static TIMED_OUT: StdAtomicUsize = StdAtomicUsize::new(0);

#[test]
fn timeout_racing_a_release_strands_nobody() {
    loom::model(|| {
        let timer = ModelTimer::new();
        let mut b = LockManager::builder().timer(timer.clone());
        b.register("a", 1).unwrap();
        let m = Arc::new(b.build());
        let timed_out = Arc::new(AtomicUsize::new(0));
        let holder = spawn_with((m.clone(), timer.clone()), move |(m, timer)| {
            let g = block_on(m.acquire(["a"]).no_timeout()).unwrap();
            timer.fire();
            drop(g);
        });
        let impatient = spawn_with((m.clone(), timed_out.clone()), move |(m, timed_out)| {
            let got = block_on(m.acquire(["a"]).timeout(Duration::from_secs(1)));
            match got {
                Ok(g) => drop(g),
                Err(Error::Timeout { lock }) => {
                    assert_eq!(lock, "a");
                    timed_out.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => panic!("{e}"),
            }
        });
        // Waits without a timeout: a wake-up swallowed by the timed-out waiter strands it.
        drop(block_on(m.acquire(["a"]).no_timeout()).unwrap());
        holder.join().unwrap();
        impatient.join().unwrap();
        match timed_out.load(Ordering::Relaxed) {
            0 => GRANTED.fetch_add(1, StdOrdering::Relaxed),
            _ => TIMED_OUT.fetch_add(1, StdOrdering::Relaxed),
        };
        assert_all_free(&m);
    });
    // Both outcomes of the race were explored.
    assert!(GRANTED.load(StdOrdering::Relaxed) > 0);
    assert!(TIMED_OUT.load(StdOrdering::Relaxed) > 0);
}

// === status readers against holders ===

loom::thread_local! {
    /// The time a `ThreadClock` shows on this model thread.
    static NOW: std::cell::Cell<u64> = std::cell::Cell::new(0);
}

/// A clock that shows each model thread its own time, so that a status entry's timestamp names
/// the holding that published it.
#[derive(Clone, Copy)]
struct ThreadClock;

impl Timer for ThreadClock {
    type Sleep = core::future::Pending<()>;

    fn now(&self) -> Duration {
        Duration::from_secs(NOW.with(|n| n.get()))
    }

    fn sleep(&self, _: Duration) -> Self::Sleep {
        core::future::pending()
    }
}

/// The status record is a sequence lock whose sequence is the lock word: a reader must never
/// accept an entry mixing two holdings (one holding's label with another's timestamp), whatever
/// the interleaving of its loads with the holder's publishing, releasing and taking again.
#[test]
fn status_never_mixes_two_holdings() {
    loom::model(|| {
        let mut b = LockManager::builder().timer(ThreadClock);
        b.register("a", 1).unwrap();
        let m = Arc::new(b.build());
        // One holder, two holdings in a row: "one" at time 1, then "two" at time 2.
        let holder = spawn_with(m.clone(), move |m| {
            for (id, label) in [(1, "one"), (2, "two")] {
                NOW.with(|n| n.set(id));
                drop(m.acquire(["a"]).owner(label).try_now().unwrap());
            }
        });
        // Without a yield here loom runs the reader's loads before the holders start and never
        // reorders them (its backtracking starts from a thread's first yield or write).
        thread::yield_now();
        for entry in m.status().iter() {
            if entry.is_locked {
                SEEN_HELD.fetch_add(1, StdOrdering::Relaxed);
            }
            let at = entry.acquired_at.map(|d| d.as_secs());
            match entry.owner.as_ref().and_then(|o| o.label()) {
                Some("one") => assert_eq!(at, Some(1), "label of one, time of another"),
                Some("two") => assert_eq!(at, Some(2), "label of two, time of another"),
                Some(other) => panic!("unknown label {other}"),
                None => assert_eq!(at, None, "a time without an owner"),
            }
            if !entry.is_locked {
                assert!(entry.owner.is_none() && entry.acquired_at.is_none());
            }
        }
        holder.join().unwrap();
        assert_all_free(&m);
    });
    // The reader did meet held locks, not only free ones.
    assert!(SEEN_HELD.load(StdOrdering::Relaxed) > 0);
}

static SEEN_HELD: StdAtomicUsize = StdAtomicUsize::new(0);

// === shared mode, writer preference and priority for passed-over waiters ===

/// Two readers and a writer of one lock: readers may overlap, a writer overlaps nobody. loom
/// reports a read racing a write of the cell (a missing happens-before) or an execution where
/// every thread is blocked (a lost wake-up between the two events).
#[test]
fn readers_share_and_writers_exclude() {
    loom::model(|| {
        let m = Arc::new(manager(&["a"]));
        let data = Arc::new(Guarded::new());
        let reader = |m: Arc<LockManager>, data: Arc<Guarded>| {
            thread::spawn(move || {
                let g = block_on(m.acquire_shared(["a"])).unwrap();
                let seen = data.get_shared();
                assert!(seen <= 1);
                drop(g);
            })
        };
        let r1 = reader(m.clone(), data.clone());
        let r2 = reader(m.clone(), data.clone());
        let g = block_on(m.acquire(["a"])).unwrap();
        data.bump();
        drop(g);
        r1.join().unwrap();
        r2.join().unwrap();
        assert_eq!(data.get(), 1);
        assert_all_free(&m);
    });
}

static WRITER_GAVE_UP_WAITING: StdAtomicUsize = StdAtomicUsize::new(0);

static PARTIAL_GAVE_UP_WAITING: StdAtomicUsize = StdAtomicUsize::new(0);

/// A partial acquire that gives up settles both of its locks: it holds `a` and waits for `b`
/// (held shared) as a writer, so new readers of `b` yield to it, when it is dropped. Its release
/// counts it off `b`'s writers and wakes the readers that yielded, and unlocks `a` and wakes its
/// waiters; a thread that asks for `b` shared and then for `a` must always get both.
#[test]
fn a_partial_acquire_that_gives_up_settles_both_locks() {
    loom::model(|| {
        let m = Arc::new(manager(&["a", "b"]));
        let holder = spawn_with(m.clone(), move |m| {
            drop(block_on(m.acquire_shared(["b"])).unwrap())
        });
        let quitter = poll_once_then_drop(
            {
                let m = m.clone();
                async move { m.acquire(["a", "b"]).await.map(drop) }
            },
            &PARTIAL_GAVE_UP_WAITING,
        );
        drop(block_on(m.acquire_shared(["b"])).unwrap());
        drop(block_on(m.acquire(["a"])).unwrap());
        holder.join().unwrap();
        quitter.join().unwrap();
        assert_all_free(&m);
    });
    assert!(PARTIAL_GAVE_UP_WAITING.load(StdOrdering::Relaxed) > 0);
}

/// A writer that waits behind a reader, then gives up: a new reader that yielded to it must be
/// woken when it gives up (or get in once the first reader leaves).
#[test]
fn readers_yielding_to_a_writer_that_gives_up_are_woken() {
    use lockorder::Mode::Shared;
    a_dropped_waiter_strands_nobody(Shared, Shared, &WRITER_GAVE_UP_WAITING);
}

static WRITER_AT_THE_HEAD_GAVE_UP: StdAtomicUsize = StdAtomicUsize::new(0);

/// A writer at the head of the line is woken alone by a release, and gives up: its wake-up must
/// reach the reader behind it, which the release left asleep (G2).
#[test]
fn a_reader_behind_a_woken_writer_that_gives_up_is_woken() {
    use lockorder::Mode::{Exclusive, Shared};
    a_dropped_waiter_strands_nobody(Exclusive, Shared, &WRITER_AT_THE_HEAD_GAVE_UP);
}

/// Readers at the head of the line are woken together and take the lock; the writer behind them,
/// which the release left asleep with its waiting bit cleared, must be woken by the last reader's
/// release: a woken reader's take sets the waiting bits again (T6).
#[test]
fn a_writer_behind_readers_at_the_head_of_the_line_gets_through() {
    loom::model(|| {
        let m = Arc::new(manager(&["a"]));
        let g = block_on(m.acquire(["a"])).unwrap();
        let reader = spawn_with(m.clone(), |m| {
            drop(block_on(m.acquire_shared(["a"])).unwrap())
        });
        let writer = spawn_with(m.clone(), |m| drop(block_on(m.acquire(["a"])).unwrap()));
        thread::yield_now();
        drop(g);
        reader.join().unwrap();
        writer.join().unwrap();
        assert_all_free(&m);
    });
}

static PASSED_OVER_THEN_CANCELLED: StdAtomicUsize = StdAtomicUsize::new(0);

/// A waiter is woken, may be passed over by a newcomer (then newcomers yield to it), and gives
/// up: whatever it was owed passes on. A third thread blocking on the lock must always get it,
/// and nothing may stay reserved afterwards.
#[test]
fn a_turn_owed_to_a_waiter_that_gives_up_passes_on() {
    loom::model(|| {
        let m = Arc::new(manager(&["a"]));
        let holder = spawn_with(m.clone(), move |m| {
            // Takes it twice: the second time may pass over the woken waiter.
            drop(block_on(m.acquire(["a"])).unwrap());
            if let Ok(g) = m.try_acquire(["a"]) {
                drop(g);
            }
        });
        let quitter = spawn_with(m.clone(), move |m| {
            let mut acquire = m.acquire(["a"]);
            let mut cx = Context::from_waker(Waker::noop());
            let first = Pin::new(&mut acquire).poll(&mut cx);
            let second = Pin::new(&mut acquire).poll(&mut cx);
            drop(acquire);
            if first.is_pending() && second.is_pending() {
                PASSED_OVER_THEN_CANCELLED.fetch_add(1, StdOrdering::Relaxed);
            }
        });
        drop(block_on(m.acquire(["a"])).unwrap());
        holder.join().unwrap();
        quitter.join().unwrap();
        assert_all_free(&m);
    });
    assert!(PASSED_OVER_THEN_CANCELLED.load(StdOrdering::Relaxed) > 0);
}

/// The last reader's release frees the lock and clears the waiting bits in one step: a writer
/// that takes the lock right after it sets its bit again for the writer queued behind it, and
/// that second writer must be woken by the first one's release. (Freeing first and clearing the
/// bits in a second step lost that wake-up.)
#[test]
fn writers_queued_behind_a_reader_all_get_through() {
    // Two preemptions reach the race; three take minutes.
    model_bounded(2, || {
        let m = Arc::new(manager(&["a"]));
        let r = block_on(m.acquire_shared(["a"])).unwrap();
        let writer =
            |m: Arc<LockManager>| thread::spawn(move || drop(block_on(m.acquire(["a"])).unwrap()));
        let w1 = writer(m.clone());
        let w2 = writer(m.clone());
        thread::yield_now();
        drop(r);
        w1.join().unwrap();
        w2.join().unwrap();
        assert_all_free(&m);
    });
}

static NEWCOMER_GOT_IN: StdAtomicUsize = StdAtomicUsize::new(0);

/// Two readers wait behind a writer; a newcomer writer may get in first, so that one reader
/// reserves the lock and the other listens again. The main thread then holds a shared guard
/// while it waits for both readers: they must both get in beside it. If the reserving reader's
/// shared holding does not wake the other, only the last reader's release would, and the main
/// thread's guard keeps that from happening: every thread blocks, which loom reports.
#[test]
fn readers_queued_behind_a_reserving_reader_join_its_holding() {
    // One preemption reaches the race (and finds it in well under a second without the fix);
    // two take many minutes with three threads this long.
    model_bounded(1, || {
        let m = Arc::new(manager(&["a"]));
        let writer = m.try_acquire(["a"]).unwrap();
        let reader = |m: Arc<LockManager>| {
            thread::spawn(move || drop(block_on(m.acquire_shared(["a"])).unwrap()))
        };
        let r1 = reader(m.clone());
        let r2 = reader(m.clone());
        thread::yield_now();
        drop(writer);
        if let Ok(newcomer) = m.try_acquire(["a"]) {
            NEWCOMER_GOT_IN.fetch_add(1, StdOrdering::Relaxed);
            drop(newcomer);
        }
        let stays = block_on(m.acquire_shared(["a"])).unwrap();
        r1.join().unwrap();
        r2.join().unwrap();
        drop(stays);
        assert_all_free(&m);
    });
    assert!(NEWCOMER_GOT_IN.load(StdOrdering::Relaxed) > 0);
}

/// A reader reserves a lock while a writer waits for it, and a new reader queues behind that
/// writer. The writer then gives up on one thread while the reserving reader takes the lock on
/// another: either the take sees no writer waiting and wakes the queued reader, or the writer's
/// giving up sees the lock held shared and wakes it. The main thread keeps its shared holding
/// until the queued reader is through, so a wake-up lost between the two blocks every thread.
#[test]
fn a_writer_giving_up_while_a_reserving_reader_takes_strands_no_reader() {
    model_bounded(2, || {
        // A std `Arc`: owned futures hold the manager through one.
        let m = std::sync::Arc::new(manager(&["a"]));
        let mut cx = Context::from_waker(Waker::noop());
        let first = m.try_acquire(["a"]).unwrap();
        let mut reserving = Box::pin(m.acquire_shared(["a"]));
        assert!(reserving.as_mut().poll(&mut cx).is_pending());
        let mut writer = Box::pin(m.acquire_owned(["a"]));
        assert!(writer.as_mut().poll(&mut cx).is_pending());
        drop(first);
        let newcomer = m.try_acquire(["a"]).unwrap();
        // Woken and passed over: the reader reserves, the writer listens again.
        assert!(reserving.as_mut().poll(&mut cx).is_pending());
        assert!(writer.as_mut().poll(&mut cx).is_pending());
        let queued = spawn_with(m.clone(), move |m| {
            drop(block_on(m.acquire_shared(["a"])).unwrap())
        });
        let gives_up = thread::spawn(move || drop(writer));
        drop(newcomer);
        let stays = block_on(reserving).unwrap();
        gives_up.join().unwrap();
        queued.join().unwrap();
        drop(stays);
        assert_all_free(&m);
    });
}

/// A reader and a writer through `Protected`: under `--cfg loom` every access through a guard
/// is recorded on a loom cell, so a reference handed out without the happens-before of the
/// lock's release and take would be a reported race, and a reader seeing half a write fails.
#[test]
fn a_reader_and_a_writer_through_protected() {
    loom::model(|| {
        let m = Arc::new(manager(&["a"]));
        let data = Arc::new(m.protect("a", (0_usize, 0_usize)).unwrap());
        let writer = spawn_with((m.clone(), data.clone()), move |(m, data)| {
            let mut g = block_on(m.acquire(["a"])).unwrap();
            let v = g.get_mut(&data).unwrap();
            v.0 += 1;
            v.1 += 1;
        });
        let g = block_on(m.acquire_shared(["a"])).unwrap();
        let seen = *g.get(&data).unwrap();
        assert!(seen == (0, 0) || seen == (1, 1), "{seen:?}");
        drop(g);
        writer.join().unwrap();
        let g = m.try_acquire(["a"]).unwrap();
        assert_eq!(*g.get(&data).unwrap(), (1, 1));
    });
}

// === the uncontended path handing over to the waiting loop ===

/// A walk takes its free locks with first tries alone, meets a busy one and waits there: it
/// keeps what it took and its holder id, the lock it waited for is handed over without a lost
/// wake-up, and a reader meanwhile joins or waits for the shared lock the walk took first.
#[test]
fn a_walk_past_free_locks_waits_at_the_first_busy_one() {
    loom::model(|| {
        let m = Arc::new(manager(&["a", "b", "c"]));
        let data = Arc::new(Guarded::new());
        let holder = m.try_acquire(["b"]).unwrap();
        let walker = spawn_with((m.clone(), data.clone()), move |(m, data)| {
            let g = block_on(m.acquire(["c", "b"]).shared(["a"])).unwrap();
            data.bump();
            let status = m.status();
            assert!(g.holder().is_some());
            assert_eq!(status[1].owner, g.holder());
            assert_eq!(status[2].owner, g.holder());
            drop(g);
        });
        data.bump();
        drop(holder);
        drop(block_on(m.acquire_shared(["a"])).unwrap());
        walker.join().unwrap();
        assert_eq!(data.get(), 2);
        assert_all_free(&m);
    });
}

/// A writer takes the lock with a try made before it looked at its listener, which an earlier
/// release had notified, and discards that notification a moment later. In between, a reader
/// that the same release woke finds the lock taken, reserves it and gives up: lifting the
/// reservation clears the writers' waiting bit that the take had set, and owes the writers' queue
/// a wake-up. That wake-up must reach the writer queued behind (it is one more than are notified
/// already): if the notification about to be discarded counted as the queue's, the holder's
/// release finds no bit and wakes nobody, and the queued writer sleeps for ever, which loom
/// reports with every thread blocked.
#[test]
fn a_reservation_given_up_while_a_writer_takes_strands_no_writer() {
    model_bounded(2, || {
        let m = std::sync::Arc::new(manager(&["a"]));
        let mut cx = Context::from_waker(Waker::noop());
        let first = m.try_acquire(["a"]).unwrap();
        let mut taker = Box::pin(m.acquire_owned(["a"]));
        assert!(taker.as_mut().poll(&mut cx).is_pending());
        let mut queued = Box::pin(m.acquire_owned(["a"]));
        assert!(queued.as_mut().poll(&mut cx).is_pending());
        let mut quitter = Box::pin(m.acquire_owned([] as [&str; 0]).shared(["a"]));
        assert!(quitter.as_mut().poll(&mut cx).is_pending());
        // Wakes the first writer and the reader.
        drop(first);
        let taker = thread::spawn(move || drop(block_on(taker).unwrap()));
        let quitter = thread::spawn(move || {
            let _ = quitter
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
            drop(quitter);
        });
        drop(block_on(queued).unwrap());
        taker.join().unwrap();
        quitter.join().unwrap();
        assert_all_free(&m);
    });
}
