//! The acquire future's packed fields at their edges: timeouts kept as nanoseconds (zero, one,
//! around `u64::MAX`, `Duration::MAX`).
#![cfg(not(loom))]

mod common;

use core::time::Duration;
use std::task::Poll;

use common::{assert_all_free, timed, Task};
use lockorder::{Error, LockManager, ManualTimer};

const NS: Duration = Duration::from_nanos(1);
const YEAR: u64 = 365 * 24 * 3600;

fn ab() -> (LockManager<ManualTimer>, ManualTimer) {
    timed(&[("a", 10), ("b", 20)])
}

#[track_caller]
fn timed_out<G: std::fmt::Debug>(r: Poll<Result<G, Error>>, lock: &str) {
    match r {
        Poll::Ready(Err(Error::Timeout { lock: l })) if l == lock => {}
        other => panic!("expected a timeout at `{lock}`, got {other:?}"),
    }
}

// === Timeouts ===

/// However long a timeout is, the clock must reach it before it fires: timeouts beyond what
/// nanoseconds in a `u64` hold are not cut to 584 years (a virtual clock gets there).
#[test]
fn a_far_timeout_never_fires_before_it_is_due() {
    for timeout in [
        Duration::MAX,
        Duration::new(u64::MAX, 0),
        Duration::from_secs(600 * YEAR),
        Duration::from_nanos(u64::MAX),
        Duration::from_nanos(u64::MAX - 1),
    ] {
        let (m, timer) = ab();
        let g = m.try_acquire(["a"]).unwrap();
        let mut t = Task::new(m.acquire(["a"]).timeout(timeout));
        t.pending();
        timer.advance(timeout - NS);
        assert!(
            t.poll().is_pending(),
            "{timeout:?}: fired at {:?}, before it was due",
            timer.now()
        );
        drop(g);
        drop(t.ready().unwrap());
        assert_all_free(&m);
    }
}

/// Just below the longest exact timeout, a timeout fires exactly when due.
#[test]
fn timeouts_below_u64_max_nanos_fire_exactly_when_due() {
    for nanos in [1, 2, 999_999_999, 1_000_000_001, u64::MAX / 2, u64::MAX - 2] {
        let timeout = Duration::from_nanos(nanos);
        let (m, timer) = ab();
        let g = m.try_acquire(["a"]).unwrap();
        let mut t = Task::new(m.acquire(["a"]).timeout(timeout));
        t.pending();
        assert_eq!(timer.next_deadline(), Some(timeout), "{nanos} ns");
        timer.advance(timeout - NS);
        assert!(t.poll().is_pending(), "{nanos} ns fired early");
        timer.advance(NS);
        timed_out(t.poll(), "a");
        drop(g);
        assert_all_free(&m);
    }
}

/// The manager keeps the default it was given; the futures wait as long.
#[test]
fn a_far_default_timeout_reads_back_and_waits_as_long() {
    for timeout in [
        Duration::MAX,
        Duration::new(u64::MAX, 0),
        Duration::from_nanos(u64::MAX),
    ] {
        let timer = ManualTimer::new();
        let mut b = LockManager::builder()
            .timer(timer.clone())
            .default_timeout(timeout);
        b.register("a", 1).unwrap();
        let m = b.build();
        assert!(
            m.default_timeout().is_some_and(|d| d >= timeout),
            "{timeout:?} read back as {:?}",
            m.default_timeout()
        );
        let g = m.try_acquire(["a"]).unwrap();
        let mut t = Task::new(m.acquire(["a"]));
        t.pending();
        timer.advance(timeout - NS);
        assert!(t.poll().is_pending(), "default {timeout:?} fired early");
        drop(g);
        drop(t.ready().unwrap());
    }
    let (m, _) = ab();
    assert_eq!(m.default_timeout(), None);
    let mut b = LockManager::builder()
        .timer(ManualTimer::new())
        .default_timeout(Duration::from_nanos(u64::MAX - 2));
    b.register("a", 1).unwrap();
    assert_eq!(
        b.build().default_timeout(),
        Some(Duration::from_nanos(u64::MAX - 2))
    );
}

/// Zero tries once and makes no sleep; one nanosecond waits one nanosecond.
#[test]
fn zero_tries_once_and_one_nanosecond_waits_one() {
    let (m, timer) = ab();
    let g = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(m.acquire(["a", "b"]).timeout(Duration::ZERO));
    timed_out(t.poll(), "b");
    assert_eq!(timer.sleeps(), 0, "a zero timeout makes no sleep");
    assert!(!m.is_locked("a").unwrap(), "the partial set was given back");
    let free = Task::new(m.acquire(["a"]).timeout(Duration::ZERO)).ready();
    drop(free.unwrap());
    let mut t = Task::new(m.acquire(["a", "b"]).timeout(NS));
    t.pending();
    assert!(m.is_locked("a").unwrap());
    assert_eq!(timer.next_deadline(), Some(NS));
    timer.advance(NS);
    timed_out(t.poll(), "b");
    drop(g);
    assert_all_free(&m);
}

/// Per call, `.timeout()` and `.no_timeout()` override the manager's default, the last one set
/// winning; a zero default tries once unless the call says otherwise.
#[test]
fn per_call_timeouts_override_the_default_in_either_order() {
    for default in [Duration::ZERO, NS, Duration::from_secs(10), Duration::MAX] {
        let timer = ManualTimer::new();
        let mut b = LockManager::builder()
            .timer(timer.clone())
            .default_timeout(default);
        b.register("a", 1).unwrap();
        let m = b.build();
        let g = m.try_acquire(["a"]).unwrap();
        let mut none = Task::new(m.acquire(["a"]).timeout(Duration::ZERO).no_timeout());
        let mut one = Task::new(
            m.acquire(["a"])
                .no_timeout()
                .timeout(Duration::from_secs(1)),
        );
        let mut zero = Task::new(m.acquire(["a"]).no_timeout().timeout(Duration::ZERO));
        let mut default_task = Task::new(m.acquire(["a"]));
        none.pending();
        one.pending();
        timed_out(zero.poll(), "a");
        let first = default_task.poll();
        if default == Duration::ZERO {
            timed_out(first, "a");
        } else {
            assert!(first.is_pending(), "default {default:?}");
        }
        timer.advance(Duration::from_secs(1) - NS);
        assert!(one.poll().is_pending());
        timer.advance(NS);
        timed_out(one.poll(), "a");
        timer.advance(Duration::from_secs(1000 * YEAR));
        assert!(none.poll().is_pending(), "no timeout, default {default:?}");
        drop(g);
        drop(none.ready().unwrap());
        drop(default_task);
        assert_all_free(&m);
    }
}

/// A blocking wait with the longest timeouts waits for the lock rather than giving up.
#[test]
#[cfg_attr(miri, ignore)] // a thread that sleeps
fn a_blocking_wait_with_a_far_timeout_waits_for_the_lock() {
    for timeout in [
        Duration::MAX,
        Duration::from_nanos(u64::MAX),
        Duration::from_nanos(u64::MAX - 1),
    ] {
        let (m, _timer) = ab();
        let g = m.try_acquire(["b"]).unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                drop(g);
            });
            let got = m.acquire(["a", "b"]).timeout(timeout).wait();
            assert!(got.is_ok(), "{timeout:?}: {got:?}");
        });
        assert_all_free(&m);
    }
}

/// A real clock's sleep of the longest timeouts does not fire (nor panic on the deadline's
/// arithmetic).
#[test]
#[cfg_attr(miri, ignore)] // StdTimer's helper thread
fn a_std_timer_never_fires_a_far_timeout() {
    use lockorder::StdTimer;
    for timeout in [
        Duration::MAX,
        Duration::from_nanos(u64::MAX),
        Duration::from_nanos(u64::MAX - 1),
        Duration::from_secs(600 * YEAR),
    ] {
        let mut b = LockManager::builder().timer(StdTimer::new());
        b.register("a", 1).unwrap();
        let m = b.build();
        let g = m.try_acquire(["a"]).unwrap();
        let mut t = Task::new(m.acquire(["a"]).timeout(timeout));
        t.pending();
        std::thread::sleep(Duration::from_millis(5));
        assert!(t.poll().is_pending(), "{timeout:?}");
        drop(g);
        drop(t.ready().unwrap());
    }
}
