//! The runtime compatibility scenarios, written once and run on every runtime.
//!
//! Each scenario is generic over [`Runtime`]: how to block on a future, spawn a task and get a
//! timer. Scenarios never assert on elapsed time; a watchdog turns a hang into a failure instead
//! of a stuck test run.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_lite::future;
use lockorder::{Error, LockManager, Timer};

/// A spawned task's result.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a scenario needs from an executor.
pub(crate) trait Runtime {
    /// The timer the manager and the scenario's sleeps use.
    type Timer: Timer<Sleep: Send> + Clone + Send + Sync + 'static;

    fn timer(&self) -> Self::Timer;

    /// Runs `f` to completion on this runtime.
    fn block_on<F: Future>(&self, f: F) -> F::Output;

    /// Runs `f` as a task of its own; the returned future resolves to its output.
    fn spawn<T: Send + 'static>(&self, f: impl Future<Output = T> + Send + 'static)
        -> BoxFuture<T>;
}

/// Longer than any scenario runs, real or virtual: reaching it means something hangs.
///
/// Waiters whose wake-up is under test wait without a timeout: a timeout would poll them, find
/// the lock free and hide a lost wake-up. The watchdog catches that instead.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `scenario` on `rt`, failing instead of hanging if it never finishes.
fn run<R: Runtime, F: Future<Output = ()>>(rt: &R, name: &str, scenario: F) {
    let timer = rt.timer();
    rt.block_on(future::or(scenario, async {
        timer.sleep(WATCHDOG).await;
        panic!("{name}: still running after {WATCHDOG:?}: a task never got its locks");
    }));
}

type Manager<R> = Arc<LockManager<<R as Runtime>::Timer>>;

/// Locks registered out of order: rank `i` is named `NAMES[i]`.
const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

fn manager<R: Runtime>(rt: &R) -> Manager<R> {
    let mut b = LockManager::builder().timer(rt.timer());
    for (name, order) in [
        ("e", 50),
        ("a", 10),
        ("c", 30),
        ("f", 60),
        ("b", 20),
        ("d", 40),
    ] {
        b.register(name, order).unwrap();
    }
    Arc::new(b.build())
}

/// Every lock is free and can be taken again in both modes: a single exclusive try, then a single
/// shared try (which also fails on a free lock kept for a waiter that no longer exists).
fn assert_all_free<T: lockorder::MaybeTimer>(m: &LockManager<T>, when: &str) {
    for name in NAMES {
        assert!(
            !m.is_locked(name).unwrap(),
            "{when}: `{name}` is still locked"
        );
        if let Err(e) = m.try_acquire([name]) {
            panic!("{when}: `{name}` cannot be taken exclusive: {e}");
        }
        if let Err(e) = m.try_acquire_shared([name]) {
            panic!("{when}: `{name}` cannot be taken shared: {e}");
        }
    }
}

/// Counts holders per lock and records any overlap.
#[derive(Default)]
struct Occupancy {
    holders: [AtomicUsize; NAMES.len()],
    overlaps: AtomicUsize,
}

impl Occupancy {
    fn index(name: &str) -> usize {
        NAMES.iter().position(|n| *n == name).unwrap()
    }

    fn enter(&self, names: &[&str]) {
        for name in names {
            if self.holders[Self::index(name)].fetch_add(1, Ordering::SeqCst) != 0 {
                self.overlaps.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn leave(&self, names: &[&str]) {
        for name in names {
            self.holders[Self::index(name)].fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Checks that no lock ever had two holders.
    fn assert_no_overlap(&self) {
        assert_eq!(
            self.overlaps.load(Ordering::SeqCst),
            0,
            "mutual exclusion broken"
        );
    }
}

/// A one-shot flag a task can await.
#[derive(Default)]
struct Signal {
    state: Mutex<(bool, Option<Waker>)>,
}

impl Signal {
    fn set(&self) {
        let waker = {
            let mut state = self.state.lock().unwrap();
            state.0 = true;
            state.1.take()
        };
        waker.into_iter().for_each(Waker::wake);
    }

    async fn wait(&self) {
        future::poll_fn(|cx: &mut Context<'_>| {
            let mut state = self.state.lock().unwrap();
            if state.0 {
                Poll::Ready(())
            } else {
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

// === Scenarios ===

/// Eight tasks take overlapping sets, requested in conflicting orders, many times over, holding
/// them across await points. Taking locks in request order would deadlock; lockorder must
/// finish every round, never let two tasks hold one lock, and hand out guards in order.
pub(crate) fn ordered_acquire_under_contention<R: Runtime>(rt: &R) {
    const ROUNDS: usize = 25;
    const SETS: [&[&str]; 8] = [
        &["a", "c", "e"],
        &["e", "c", "a"],
        &["b", "c"],
        &["c", "b", "d"],
        &["f", "a"],
        &["d", "f", "b", "a"],
        &["e"],
        &["c", "e", "f", "a"],
    ];
    let m = manager(rt);
    let occupancy = Arc::new(Occupancy::default());
    let done = Arc::new(AtomicUsize::new(0));
    run(rt, "ordered_acquire_under_contention", async {
        let tasks: Vec<_> = SETS
            .iter()
            .enumerate()
            .map(|(task, &set)| {
                let (m, occupancy, done, timer) =
                    (m.clone(), occupancy.clone(), done.clone(), rt.timer());
                rt.spawn(async move {
                    for round in 0..ROUNDS {
                        let guard = m.acquire(set).await.unwrap();
                        let taken: Vec<&str> = guard.locks().map(|l| l.name()).collect();
                        let mut expected = set.to_vec();
                        expected.sort_unstable();
                        assert_eq!(taken, expected, "task {task}: the guard covers its set");
                        occupancy.enter(set);
                        for _ in 0..=(round % 3) {
                            future::yield_now().await;
                        }
                        if (task + round) % 5 == 0 {
                            timer.sleep(Duration::from_millis(1)).await;
                        }
                        occupancy.leave(set);
                        drop(guard);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
    occupancy.assert_no_overlap();
    assert_eq!(done.load(Ordering::SeqCst), SETS.len() * ROUNDS);
    assert_all_free(&m, "after contention");
}

/// A timeout at the second lock releases the first one, never takes the third, names the busy
/// lock, wakes a task that was waiting for the released lock, and is not early.
pub(crate) fn timeout_releases_partial_locks<R: Runtime>(rt: &R) {
    const TIMEOUT: Duration = Duration::from_millis(30);
    let m = manager(rt);
    run(rt, "timeout_releases_partial_locks", async {
        let busy = m.try_acquire(["c"]).unwrap();
        let timer = rt.timer();
        let start = timer.now();
        let mut acquire = pin!(m.acquire(["e", "a", "c"]).timeout(TIMEOUT));
        assert!(future::poll_once(acquire.as_mut()).await.is_none());
        assert!(
            m.is_locked("a").unwrap(),
            "`a` is taken before waiting at `c`"
        );
        assert!(!m.is_locked("e").unwrap(), "`e` comes after the busy `c`");

        // Waits for `a`, which only the timeout gives back.
        let waiter = {
            let m = m.clone();
            rt.spawn(async move { m.acquire(["a"]).await.map(drop) })
        };

        match acquire.await {
            Err(Error::Timeout { lock }) => assert_eq!(lock, "c"),
            other => panic!("expected a timeout at `c`, got {other:?}"),
        }
        assert!(timer.now() - start >= TIMEOUT, "timed out early");
        assert!(!m.is_locked("e").unwrap());
        assert!(m.is_locked("c").unwrap(), "the other holder still has `c`");
        waiter
            .await
            .expect("the waiter for `a` got it once the timeout released it");
        drop(busy);
    });
    assert_all_free(&m, "after the timeout");
}

/// Several tasks queue behind one holder, each already listening when it lets go. Each release
/// must wake the next in line, also after a waiter has taken the lock: nobody else comes along to
/// wake the last ones.
pub(crate) fn queued_waiters_all_get_through<R: Runtime>(rt: &R) {
    const WAITERS: usize = 4;
    let m = manager(rt);
    let occupancy = Arc::new(Occupancy::default());
    run(rt, "queued_waiters_all_get_through", async {
        let holder = m.try_acquire(["c"]).unwrap();
        let mut waiters = Vec::new();
        for _ in 0..WAITERS {
            let listening = Arc::new(Signal::default());
            let (m, occupancy, signal) = (m.clone(), occupancy.clone(), listening.clone());
            waiters.push(rt.spawn(async move {
                let mut acquire = pin!(m.acquire(["c", "a"]));
                let waited = future::poll_once(acquire.as_mut()).await.is_none();
                signal.set();
                let guard = acquire.await.unwrap();
                occupancy.enter(&["a", "c"]);
                future::yield_now().await;
                occupancy.leave(&["a", "c"]);
                drop(guard);
                waited
            }));
            // One at a time, so that every waiter is queued before the holder lets go.
            listening.wait().await;
        }
        drop(holder);
        for waiter in waiters {
            assert!(waiter.await, "every waiter had to wait for the holder");
        }
    });
    occupancy.assert_no_overlap();
    assert_all_free(&m, "after the queue drained");
}

/// Dropping a pending acquire that was just woken releases its locks and passes the wake-up on:
/// the next waiter, in another task, proceeds without anyone else waking it.
pub(crate) fn cancel_passes_the_wakeup_on<R: Runtime>(rt: &R) {
    let m = manager(rt);
    run(rt, "cancel_passes_the_wakeup_on", async {
        let holder = m.try_acquire(["d"]).unwrap();

        // First in line for `d`, holding `b`.
        let mut first = Box::pin(m.acquire(["d", "b"]));
        assert!(future::poll_once(first.as_mut()).await.is_none());
        assert!(m.is_locked("b").unwrap());

        // Second in line, in its own task; it signals once it waits.
        let listening = Arc::new(Signal::default());
        let second = {
            let (m, listening) = (m.clone(), listening.clone());
            rt.spawn(async move {
                let mut acquire = pin!(m.acquire(["d"]));
                let waited = future::poll_once(acquire.as_mut()).await.is_none();
                listening.set();
                (waited, acquire.await.map(drop))
            })
        };
        listening.wait().await;

        // The release notifies `first` only; dropping `first` unused must hand that on.
        drop(holder);
        drop(first);
        assert!(
            !m.is_locked("b").unwrap(),
            "a cancelled acquire keeps nothing"
        );
        let (waited, result) = second.await;
        assert!(waited, "the second acquire had to wait");
        result.expect("the wake-up was passed on to the second waiter");
    });
    assert_all_free(&m, "after cancellation");
}

/// Many tasks abandon acquires at random points (racing them against short sleeps) while two
/// patient tasks wait without a timeout: no cancellation may leak a lock or strand a waiter.
pub(crate) fn cancellation_under_contention<R: Runtime>(rt: &R) {
    const ROUNDS: usize = 20;
    const SETS: [&[&str]; 6] = [
        &["a", "b", "c"],
        &["c", "a"],
        &["b", "d"],
        &["d", "c", "b"],
        &["a", "d"],
        &["b"],
    ];
    let m = manager(rt);
    let occupancy = Arc::new(Occupancy::default());
    let patient_done = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    run(rt, "cancellation_under_contention", async {
        let tasks: Vec<_> = SETS
            .iter()
            .enumerate()
            .map(|(task, &set)| {
                let (m, occupancy, timer) = (m.clone(), occupancy.clone(), rt.timer());
                let (patient_done, cancelled) = (patient_done.clone(), cancelled.clone());
                let patient = task < 2;
                rt.spawn(async move {
                    for round in 0..ROUNDS {
                        let guard = if patient {
                            Some(m.acquire(set).await.unwrap())
                        } else {
                            let give_up = Duration::from_millis(1 + (task + round) as u64 % 3);
                            let guard =
                                future::or(async { Some(m.acquire(set).await.unwrap()) }, {
                                    let timer = timer.clone();
                                    async move {
                                        timer.sleep(give_up).await;
                                        None
                                    }
                                })
                                .await;
                            if guard.is_none() {
                                cancelled.fetch_add(1, Ordering::SeqCst);
                            }
                            guard
                        };
                        if let Some(guard) = guard {
                            occupancy.enter(set);
                            future::yield_now().await;
                            if round % 4 == 0 {
                                timer.sleep(Duration::from_millis(1)).await;
                            }
                            occupancy.leave(set);
                            drop(guard);
                        }
                        if patient {
                            patient_done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
    occupancy.assert_no_overlap();
    assert_eq!(patient_done.load(Ordering::SeqCst), 2 * ROUNDS);
    assert_all_free(&m, "after cancellations");
}

/// Nesting through a guard across tasks: a nested guard releases only what it took, so a task
/// waiting for that lock proceeds while the outer guard still holds its own; a nested request
/// below the held order is refused; a nested timeout leaves the outer locks held.
pub(crate) fn nesting<R: Runtime>(rt: &R) {
    let m = manager(rt);
    run(rt, "nesting", async {
        let mut outer = m.acquire(["b"]).await.unwrap();
        let mut inner = outer.acquire(["c", "b"]).await.unwrap();
        assert!(inner.holds("b") && inner.holds("c"));
        assert_eq!(
            inner.own_locks().map(|l| l.name()).collect::<Vec<_>>(),
            ["c"]
        );
        match inner.acquire(["a"]).await {
            Err(Error::OrderViolation { requested, held }) => {
                assert_eq!((requested.name(), held.name()), ("a", "c"));
            }
            other => panic!("expected an order violation, got {other:?}"),
        }
        assert!(
            !m.is_locked("a").unwrap(),
            "a refused request takes nothing"
        );

        let wants_c = {
            let m = m.clone();
            rt.spawn(async move {
                let g = m.acquire(["c"]).await.unwrap();
                // Still held by the outer guard, which outlives this task.
                m.is_locked("b").unwrap() && g.holds("c")
            })
        };
        let wants_b_released = Arc::new(AtomicBool::new(false));
        let mut wants_b = {
            let (m, released) = (m.clone(), wants_b_released.clone());
            rt.spawn(async move {
                let g = m.acquire(["b"]).await.unwrap();
                // The outer guard must be gone by now.
                released.load(Ordering::SeqCst) && g.holds("b")
            })
        };

        drop(inner);
        assert!(
            m.is_locked("b").unwrap(),
            "dropping the nested guard keeps the outer lock"
        );
        assert!(
            wants_c.await,
            "`c` was granted while `b` was still held by the outer guard"
        );
        assert!(
            future::poll_once(wants_b.as_mut()).await.is_none(),
            "`b` was granted while the outer guard held it"
        );

        // A nested acquire that times out gives up only its own request.
        let other = m.try_acquire(["e"]).unwrap();
        match outer.acquire(["e"]).timeout(Duration::from_millis(5)).await {
            Err(Error::Timeout { lock }) => assert_eq!(lock, "e"),
            other => panic!("expected a timeout at `e`, got {other:?}"),
        }
        assert!(m.is_locked("b").unwrap());
        drop(other);

        wants_b_released.store(true, Ordering::SeqCst);
        drop(outer);
        assert!(
            wants_b.await,
            "`b` was granted only after the outer guard released it"
        );
    });
    assert_all_free(&m, "after nesting");
}

/// Readers and writers over overlapping mixed-mode sets: eight tasks, six of which read most of
/// their locks and write one, two of which write everything they take. A writer never overlaps
/// anyone on a lock; readers overlap each other (shown first by a reader spawned while another
/// holds the lock, since the mixed rounds may or may not overlap readers, as scheduling decides);
/// every task finishes.
pub(crate) fn readers_and_writers<R: Runtime>(rt: &R) {
    const ROUNDS: usize = 25;
    // (exclusive, shared) per task.
    const SETS: [(&[&str], &[&str]); 8] = [
        (&["f"], &["a", "c"]),
        (&["e"], &["c", "a"]),
        (&[], &["a", "b", "c"]),
        (&[], &["c", "b"]),
        (&["d"], &["a"]),
        (&[], &["a", "c", "e"]),
        (&["a", "c"], &[]),
        (&["c"], &["f", "a"]),
    ];
    #[derive(Default)]
    struct Modes {
        readers: [AtomicUsize; NAMES.len()],
        writers: [AtomicUsize; NAMES.len()],
        conflicts: AtomicUsize,
    }
    let m = manager(rt);
    let modes = Arc::new(Modes::default());
    run(rt, "readers_and_writers", async {
        let first = m.acquire_shared(["a"]).await.unwrap();
        let second = rt.spawn({
            let m = m.clone();
            async move {
                let g = m
                    .acquire_shared(["a"])
                    .timeout(Duration::from_secs(5))
                    .await;
                g.map(|g| g.mode("a"))
            }
        });
        assert!(
            matches!(second.await, Ok(Some(lockorder::Mode::Shared))),
            "a second reader did not get in beside the first"
        );
        drop(first);
        let tasks: Vec<_> = SETS
            .iter()
            .map(|&(exclusive, shared)| {
                let (m, modes) = (m.clone(), modes.clone());
                rt.spawn(async move {
                    for round in 0..ROUNDS {
                        let guard = m.acquire(exclusive).shared(shared).await.unwrap();
                        for name in exclusive {
                            assert_eq!(guard.mode(*name), Some(lockorder::Mode::Exclusive));
                            let i = Occupancy::index(name);
                            let others = modes.writers[i].fetch_add(1, Ordering::SeqCst)
                                + modes.readers[i].load(Ordering::SeqCst);
                            if others != 0 {
                                modes.conflicts.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        for name in shared {
                            let i = Occupancy::index(name);
                            modes.readers[i].fetch_add(1, Ordering::SeqCst);
                            if modes.writers[i].load(Ordering::SeqCst) != 0 {
                                modes.conflicts.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        for _ in 0..=(round % 3) {
                            future::yield_now().await;
                        }
                        for name in exclusive {
                            modes.writers[Occupancy::index(name)].fetch_sub(1, Ordering::SeqCst);
                        }
                        for name in shared {
                            modes.readers[Occupancy::index(name)].fetch_sub(1, Ordering::SeqCst);
                        }
                        drop(guard);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
    assert_eq!(
        modes.conflicts.load(Ordering::SeqCst),
        0,
        "a writer overlapped someone"
    );
    assert_all_free(&m, "after readers and writers");
}

/// A writer waits behind a reader; new readers queue behind the writer instead of overlapping the
/// first reader. When that reader leaves, the writer and the queued readers are all woken (woken
/// waiters no longer yield), so on a runtime with several workers a reader may get in first; then
/// the writer, passed over, reserves the lock and gets the next holding. Either way each gets the
/// lock once. A writer that gives up lets waiting readers in.
pub(crate) fn writers_are_not_starved<R: Runtime>(rt: &R) {
    let m = manager(rt);
    run(rt, "writers_are_not_starved", async {
        let first = m.acquire_shared(["b"]).await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let (m, order) = (m.clone(), order.clone());
            rt.spawn(async move {
                let g = m.acquire(["b"]).await.unwrap();
                order.lock().unwrap().push("writer");
                future::yield_now().await;
                drop(g);
            })
        };
        // Let the writer start waiting.
        while m.try_acquire_shared(["b"]).is_ok() {
            future::yield_now().await;
        }
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (m, order) = (m.clone(), order.clone());
                rt.spawn(async move {
                    let g = m.acquire_shared(["b"]).await.unwrap();
                    order.lock().unwrap().push("reader");
                    future::yield_now().await;
                    drop(g);
                })
            })
            .collect();
        for _ in 0..10 {
            future::yield_now().await;
        }
        assert!(
            order.lock().unwrap().is_empty(),
            "nobody overlaps the first reader's writer"
        );
        drop(first);
        writer.await;
        for r in readers {
            r.await;
        }
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), 4, "{order:?}");
        assert_eq!(
            order.iter().filter(|&&o| o == "writer").count(),
            1,
            "{order:?}"
        );

        // A writer that gives up lets the readers that yielded to it in.
        let first = m.acquire_shared(["c"]).await.unwrap();
        let quitter = m.acquire(["c"]).timeout(Duration::from_millis(20));
        let waiting_reader = {
            let m = m.clone();
            rt.spawn(async move { drop(m.acquire_shared(["c"]).await.unwrap()) })
        };
        assert!(matches!(
            quitter.await,
            Err(lockorder::Error::Timeout { .. })
        ));
        waiting_reader.await;
        drop(first);
    });
    assert_all_free(&m, "after the writer scenario");
}
