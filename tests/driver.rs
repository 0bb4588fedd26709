//! The three ways to drive an acquire future (`.await`, `.wait()`, `try_now()`) run one step
//! function: each may take over a future another left half-way, in any state it can be left in
//! (waiting, sleeping, unwound in foreign code, completed, refused), with any timeout.
#![cfg(not(loom))]

mod common;

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use common::{assert_all_free, locked, Task, ABC};
use lockorder::{Error, LockManager, Timer};

/// A sleep that never fires, or panics when polled.
struct Sleep {
    panics: bool,
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        assert!(!self.panics, "the sleep panicked");
        Poll::Pending
    }
}

/// A timer whose sleep panics when created (`in_sleep`) or when polled (`in_poll`).
#[derive(Clone, Copy)]
struct Hostile {
    in_sleep: bool,
    in_poll: bool,
}

impl Timer for Hostile {
    type Sleep = Sleep;
    fn now(&self) -> Duration {
        Duration::ZERO
    }
    fn sleep(&self, _: Duration) -> Sleep {
        assert!(!self.in_sleep, "the timer panicked creating a sleep");
        Sleep {
            panics: self.in_poll,
        }
    }
}

fn hostile(in_sleep: bool, in_poll: bool) -> LockManager<Hostile> {
    let mut b = LockManager::builder()
        .timer(Hostile { in_sleep, in_poll })
        .default_timeout(Duration::from_secs(60));
    for &(name, order) in ABC {
        b.register(name, order).unwrap();
    }
    b.build()
}

/// A poll that unwound in the timer (creating the sleep, or polling it) leaves a future that
/// `try_now` and `wait` take over from where it is: "a" still held, "b" still wanted.
#[test]
fn try_now_and_wait_take_over_a_future_whose_poll_unwound_in_the_timer() {
    for (in_sleep, in_poll) in [(true, false), (false, true)] {
        let m = hostile(in_sleep, in_poll);
        let b = m.try_acquire(["b"]).unwrap();
        let mut task = Task::new(m.acquire(["a", "b"]));
        assert!(catch_unwind(AssertUnwindSafe(|| task.poll())).is_err());
        assert_eq!(locked(&m, &["a", "b"]), ["a", "b"], "the future kept \"a\"");
        let err = task.into_inner().try_now().unwrap_err();
        assert!(
            matches!(err, Error::WouldBlock { ref lock } if lock == "b"),
            "{err}"
        );
        assert_eq!(
            locked(&m, &["a", "b"]),
            ["b"],
            "the single try released \"a\""
        );

        let mut task = Task::new(m.acquire(["a", "b"]));
        assert!(catch_unwind(AssertUnwindSafe(|| task.poll())).is_err());
        let fut = task.into_inner();
        thread::scope(|s| {
            s.spawn(|| {
                thread::sleep(Duration::from_millis(20));
                drop(b);
            });
            // The blocking wait never creates or polls the timer's sleep.
            let g = fut.wait().unwrap();
            assert_eq!(g.locks().map(|l| l.name()).collect::<Vec<_>>(), ["a", "b"]);
        });
        assert_all_free(&m);
    }
}

/// After an unwound poll, polling again goes on; once the lock comes free it is taken.
#[test]
fn a_poll_that_unwound_in_the_sleep_goes_on_when_the_lock_comes_free() {
    let m = hostile(false, true);
    let b = m.try_acquire(["b"]).unwrap();
    let mut task = Task::new(m.acquire(["a", "b"]));
    assert!(catch_unwind(AssertUnwindSafe(|| task.poll())).is_err());
    drop(b);
    assert!(task.woken(), "the release woke the future that listens");
    let g = task.ready().unwrap();
    assert!(g.holds("a") && g.holds("b"));
    drop(g);
    assert_all_free(&m);
}

/// A future that timed out, or completed, answers every driver with `PolledAfterCompletion`;
/// one refused at its first poll answers the refusal once, then the same.
#[test]
fn every_driver_of_a_finished_future_says_polled_after_completion() {
    let (m, timer) = common::timed(ABC);
    let b = m.try_acquire(["b"]).unwrap();
    let mut task = Task::new(m.acquire(["a", "b"]).timeout(Duration::from_secs(1)));
    task.pending();
    timer.advance(Duration::from_secs(1));
    let err = task.ready().unwrap_err();
    assert!(
        matches!(err, Error::Timeout { ref lock } if lock == "b"),
        "{err}"
    );
    assert!(matches!(
        task.poll(),
        Poll::Ready(Err(Error::PolledAfterCompletion))
    ));
    let fut = task.into_inner();
    assert!(matches!(fut.try_now(), Err(Error::PolledAfterCompletion)));
    drop(b);

    let mut task = Task::new(m.acquire(["a"]));
    drop(task.ready().unwrap());
    assert!(matches!(
        task.into_inner().wait(),
        Err(Error::PolledAfterCompletion)
    ));

    let mut task = Task::new(m.acquire(["nope"]));
    assert!(matches!(task.ready(), Err(Error::UnknownLock { .. })));
    assert!(matches!(
        task.into_inner().wait(),
        Err(Error::PolledAfterCompletion)
    ));
    assert!(matches!(
        m.acquire(["nope"]).wait(),
        Err(Error::UnknownLock { .. })
    ));
    assert_all_free(&m);
}

/// `wait` on a future a poll left sleeping: the timer's sleep (a virtual clock that never moves)
/// is ignored; the timeout counts again, by the thread's clock, from the first busy lock the
/// wait meets, and giving up releases what the poll took.
#[test]
fn wait_after_a_sleeping_poll_times_out_by_the_thread_clock() {
    let (m, _timer) = common::timed(ABC);
    let c = m.try_acquire(["c"]).unwrap();
    let mut task = Task::new(m.acquire(["a", "c"]).timeout(Duration::from_millis(30)));
    task.pending();
    assert_eq!(locked(&m, &["a", "c"]), ["a", "c"]);
    let err = task.into_inner().wait().unwrap_err();
    assert!(
        matches!(err, Error::Timeout { ref lock } if lock == "c"),
        "{err}"
    );
    assert_eq!(locked(&m, &["a", "c"]), ["c"]);
    drop(c);
    assert_all_free(&m);
}

/// A zero timeout tries once with every driver; a huge one (a deadline past what `Instant` or
/// the timer can represent) waits without overflowing, for ever, until the lock comes free.
#[test]
fn zero_and_huge_timeouts_with_every_driver() {
    let (m, _timer) = common::timed(ABC);
    let b = m.try_acquire_shared(["b"]).unwrap();
    // Shared holders let readers in and keep writers out.
    assert!(m
        .acquire_shared(["a", "b"])
        .timeout(Duration::ZERO)
        .wait()
        .is_ok());
    let once = |e: Result<_, Error>| matches!(e, Err(Error::Timeout { ref lock }) if lock == "b");
    assert!(once(
        m.acquire(["a", "b"])
            .timeout(Duration::ZERO)
            .wait()
            .map(drop)
    ));
    let mut task = Task::new(m.acquire(["a", "b"]).timeout(Duration::ZERO));
    assert!(
        once(task.ready().map(drop)),
        "a zero timeout is one try when polled"
    );
    assert!(matches!(
        m.acquire(["a", "b"]).timeout(Duration::MAX).try_now(),
        Err(Error::WouldBlock { .. })
    ));
    assert_eq!(locked(&m, &["a", "b"]), ["b"]);

    let fut = m.acquire(["a", "b"]).shared(["c"]).timeout(Duration::MAX);
    thread::scope(|s| {
        s.spawn(|| {
            thread::sleep(Duration::from_millis(20));
            drop(b);
        });
        let g = fut.wait().unwrap();
        assert_eq!(g.mode("c"), Some(lockorder::Mode::Shared));
    });
    let mut task = Task::new(m.acquire(["a", "b"]).timeout(Duration::MAX));
    let g = m.try_acquire(["b"]).unwrap();
    task.pending();
    drop(g);
    assert!(task.woken());
    drop(task.ready().unwrap());
    assert_all_free(&m);
}

/// A clock that panics from reading number `limit` on (counted from `reads`).
struct FailingClock {
    reads: AtomicUsize,
    limit: AtomicUsize,
}

impl Timer for FailingClock {
    type Sleep = Sleep;
    fn now(&self) -> Duration {
        let read = self.reads.fetch_add(1, SeqCst) + 1;
        assert!(read < self.limit.load(SeqCst), "the clock panicked");
        Duration::ZERO
    }
    fn sleep(&self, _: Duration) -> Sleep {
        Sleep { panics: false }
    }
}

/// A clock that panics on a blocking wait's second step (the first that listens, with "a"
/// taken), or on a single try's only one: the panic leaves `wait` and `try_now`, and nothing
/// stays held.
#[test]
fn a_clock_that_panics_inside_wait_or_try_now_keeps_no_lock() {
    for (limit, blocking) in [(2, true), (1, false)] {
        let clock = FailingClock {
            reads: AtomicUsize::new(0),
            limit: AtomicUsize::new(usize::MAX),
        };
        let mut b = LockManager::builder().timer(clock);
        for &(name, order) in ABC {
            b.register(name, order).unwrap();
        }
        let m = b.build();
        let busy = m.try_acquire(["b"]).unwrap();
        let fut = m.acquire(["a", "b"]).timeout(Duration::from_secs(60));
        m.timer().reads.store(0, SeqCst);
        m.timer().limit.store(limit, SeqCst);
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            if blocking {
                fut.wait().map(drop)
            } else {
                fut.try_now().map(drop)
            }
        }));
        assert!(unwound.is_err(), "reading {limit} of the clock panicked");
        m.timer().limit.store(usize::MAX, SeqCst);
        drop(busy);
        assert_all_free(&m);
    }
}
