//! Timeouts: counted from the first contention, exact on a virtual clock, releasing everything.

mod common;

use std::time::Duration;

use common::{assert_all_free, locked, timed, Task, ABC};
use futures_lite::future::block_on;
use lockorder::{Error, LockManager, ManualTimer};

const MS: Duration = Duration::from_millis(1);
const NS: Duration = Duration::from_nanos(1);

#[test]
fn fires_exactly_at_the_deadline() {
    let (m, timer) = timed(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut t = Task::new(m.acquire(["a"]).timeout(10 * MS));
    t.pending();
    timer.advance(10 * MS - NS);
    assert!(!t.woken());
    t.pending();
    timer.advance(NS);
    assert!(t.woken());
    match t.ready() {
        Err(Error::Timeout { lock }) => assert_eq!(lock, "a"),
        other => panic!("unexpected: {other:?}"),
    }
    drop(g);
}

#[test]
fn partial_locks_are_released_before_the_error() {
    let (m, timer) = timed(ABC);
    let b = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(m.acquire(["c", "b", "a"]).timeout(5 * MS));
    t.pending();
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a", "b"]);
    timer.advance(5 * MS);
    let err = t.ready().unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { lock } if lock == "b"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`b`"));
    assert_eq!(locked(&m, &["a", "b", "c"]), ["b"]);
    drop(b);
    assert_all_free(&m);
}

#[test]
fn the_sleep_is_created_only_at_the_first_contention_and_only_once() {
    let (m, timer) = timed(ABC);
    let g = block_on(m.acquire(["a", "b", "c"]).timeout(MS)).unwrap();
    drop(g);
    assert_eq!(
        timer.sleeps(),
        0,
        "an uncontended acquire never asks for a sleep"
    );

    let g = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(m.acquire(["a", "b"]).timeout(10 * MS));
    t.pending();
    assert_eq!(timer.sleeps(), 1);
    // A barging re-take: the waiter is woken and polled again, still busy.
    drop(g);
    let g = m.try_acquire(["b"]).unwrap();
    t.pending();
    t.pending();
    assert_eq!(timer.sleeps(), 1, "the sleep is kept across polls");
    drop(g);
    assert!(t.ready().is_ok());
}

#[test]
fn the_timeout_counts_from_the_first_contention() {
    let (m, timer) = timed(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut t = Task::new(m.acquire(["a"]).timeout(10 * MS));
    timer.advance(50 * MS); // before the first poll: does not count
    t.pending();
    timer.advance(9 * MS);
    t.pending();
    timer.advance(MS);
    assert!(matches!(t.ready(), Err(Error::Timeout { .. })));
    drop(g);
}

#[test]
fn zero_timeout_tries_once() {
    let (m, timer) = timed(ABC);
    let g = block_on(m.acquire(["a"]).timeout(Duration::ZERO)).unwrap();
    let err = block_on(m.acquire(["b", "a"]).timeout(Duration::ZERO)).unwrap_err();
    assert!(matches!(err, Error::Timeout { lock } if lock == "a"));
    assert_eq!(locked(&m, &["a", "b", "c"]), ["a"], "nothing kept");
    assert_eq!(timer.sleeps(), 0);
    drop(g);
}

#[test]
fn default_timeout_applies_and_per_call_options_override_it() {
    let timer = ManualTimer::new();
    let mut b = LockManager::builder()
        .timer(timer.clone())
        .default_timeout(20 * MS);
    b.register("a", 1).unwrap();
    let m = b.build();
    assert_eq!(m.default_timeout(), Some(20 * MS));
    let g = m.try_acquire(["a"]).unwrap();

    let mut by_default = Task::new(m.acquire(["a"]));
    let mut shorter = Task::new(m.acquire(["a"]).timeout(5 * MS));
    let mut forever = Task::new(m.acquire(["a"]).no_timeout());
    by_default.pending();
    shorter.pending();
    forever.pending();
    timer.advance(5 * MS);
    assert!(shorter.ready().is_err());
    by_default.pending();
    timer.advance(15 * MS);
    assert!(by_default.ready().is_err());
    timer.advance(Duration::from_secs(3600));
    forever.pending();
    drop(g);
    assert!(forever.ready().is_ok());
}

#[test]
fn a_timer_alone_sets_no_default_timeout() {
    let (m, timer) = timed(ABC);
    assert_eq!(m.default_timeout(), None);
    let g = m.try_acquire(["a"]).unwrap();
    let mut t = Task::new(m.acquire(["a"]));
    t.pending();
    timer.advance(Duration::from_secs(86_400));
    t.pending();
    assert_eq!(timer.sleeps(), 0);
    drop(g);
    assert!(t.ready().is_ok());
}

#[test]
fn a_grant_in_the_same_instant_as_the_deadline_wins() {
    let (m, timer) = timed(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut t = Task::new(m.acquire(["a"]).timeout(MS));
    t.pending();
    drop(g);
    timer.advance(MS);
    assert!(t.ready().is_ok(), "locks are polled before the timer");
}

#[test]
fn a_timed_out_waiter_does_not_strand_the_next() {
    let (m, timer) = timed(ABC);
    let g = m.try_acquire(["a"]).unwrap();
    let mut short = Task::new(m.acquire(["a"]).timeout(MS));
    let mut patient = Task::new(m.acquire(["a"]));
    short.pending();
    patient.pending();
    timer.advance(MS);
    assert!(short.ready().is_err());
    drop(g);
    assert!(patient.woken());
    assert!(patient.ready().is_ok());
}

#[test]
fn asking_the_manager_again_for_a_held_lock_times_out_instead_of_hanging() {
    let (m, timer) = timed(ABC);
    let mut mine = block_on(m.acquire(["a"])).unwrap();
    // Reentrancy goes through the guard; this waits for `mine` itself.
    let mut again = Task::new(m.acquire(["a"]).timeout(MS));
    again.pending();
    timer.advance(MS);
    assert!(matches!(again.ready(), Err(Error::Timeout { .. })));
    // Through the guard it is reentrant.
    assert!(mine.try_acquire(["a"]).is_ok());
}
