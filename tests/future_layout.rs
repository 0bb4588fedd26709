//! The acquire future's packed fields at their edges: timeouts kept as nanoseconds (zero, one,
//! around `u64::MAX`, `Duration::MAX`), the status timestamp kept as three words (a clock at
//! zero, past 2^32 seconds, none), the task key kept in the walk (dropped at every stage of a
//! request), and lock sets in words of the target's width (managers around the word sizes).
#![cfg(not(loom))]

mod common;

use core::time::Duration;
use std::task::Poll;

use common::{assert_all_free, timed, Task};
use lockorder::{Error, LockManager, ManualTimer, TaskKey};

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
        // The longest exact one: a deadline 584 years away, given to the timer's thread.
        Duration::from_nanos(u64::MAX - 2),
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

// === The status timestamp ===

/// `acquired_at` is the clock's reading, exactly, whatever its size: zero, past 2^32 seconds
/// (the high word), at the clock's end; none without a timer.
#[test]
fn acquired_at_is_exact_at_zero_past_two_to_the_32_seconds_and_at_the_end() {
    let (m, timer) = ab();
    let g = m.try_acquire(["a"]).unwrap();
    let status = m.status();
    assert_eq!(status.now(), Some(Duration::ZERO));
    assert_eq!(
        status.held().next().unwrap().acquired_at,
        Some(Duration::ZERO)
    );
    assert!(
        m.long_held(Duration::ZERO).is_empty(),
        "held for 0, not > 0"
    );
    timer.advance(NS);
    assert_eq!(m.long_held(Duration::ZERO)[0].held_for, NS);
    drop(g);

    for at in [
        Duration::new(1 << 32, 7),
        Duration::new((1 << 32) + 1, 999_999_999),
        Duration::new(u64::MAX - 10, 123_456_789),
        Duration::MAX - Duration::from_secs(5),
    ] {
        let (m, timer) = ab();
        timer.advance(at);
        let g = m.try_acquire(["a"]).unwrap();
        let status = m.status();
        let held = status.held().next().unwrap();
        assert_eq!(held.acquired_at, Some(at));
        timer.advance(Duration::from_secs(5));
        let long = m.long_held(Duration::from_secs(4));
        assert_eq!(long.len(), 1, "{at:?}");
        assert_eq!(long[0].held_for, Duration::from_secs(5), "{at:?}");
        // A waiter's error names the holder, held for as long.
        match m.try_acquire(["a"]) {
            Err(Error::WouldBlock { lock }) => assert_eq!(
                lock.held_by().and_then(|h| h.held_for()),
                Some(Duration::from_secs(5)),
                "{at:?}"
            ),
            other => panic!("{other:?}"),
        }
        drop(g);
    }

    let m = common::manager(&[("a", 1)]);
    let g = m.try_acquire(["a"]).unwrap();
    assert_eq!(m.status().held().next().unwrap().acquired_at, None);
    assert!(m.long_held(Duration::ZERO).is_empty());
    drop(g);
}

/// A request that waited is stamped with the poll that took the lock, not the first one.
#[test]
fn a_waiter_is_stamped_when_it_takes_the_lock() {
    let (m, timer) = ab();
    timer.advance(Duration::new(1 << 33, 5));
    let g = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(m.acquire(["a", "b"]).owner("w"));
    t.pending();
    timer.advance(Duration::from_secs(3));
    drop(g);
    let got = t.ready().unwrap();
    let status = m.status();
    let at: Vec<_> = status.held().map(|s| (s.name, s.acquired_at)).collect();
    let then = Some(Duration::new((1 << 33) + 3, 5));
    let first = Some(Duration::new(1 << 33, 5));
    assert_eq!(at, [("a", first), ("b", then)]);
    drop(got);
}

// === The task key, at every stage of a request ===

/// Nothing is claimed under `key` any more: a keyed request may take the lowest lock (which
/// must be free).
#[track_caller]
fn key_is_clean<T: lockorder::MaybeTimer>(m: &LockManager<T>, key: &TaskKey) {
    let first = m.locks().next().unwrap().id();
    match m.acquire([first]).key(key).try_now() {
        Ok(g) => drop(g),
        Err(e) => panic!("the key still claims locks: {e}"),
    }
}

#[test]
fn a_keyed_request_dropped_or_refused_at_any_stage_gives_its_key_back() {
    let (m, timer) = ab();
    let key = m.task_key();
    // Fresh, never polled.
    drop(m.acquire(["b"]).key(&key));
    key_is_clean(&m, &key);
    // Refused by an unknown key, given before or after the task key.
    let mut t = Task::new(m.acquire(["b"]).key(&key).shared(["nope"]));
    assert!(matches!(t.ready(), Err(Error::UnknownLock { .. })));
    drop(t);
    let mut t = Task::new(m.acquire(["b"]).shared(["nope"]).key(&key));
    assert!(matches!(t.ready(), Err(Error::UnknownLock { .. })));
    assert!(matches!(t.ready(), Err(Error::PolledAfterCompletion)));
    drop(t);
    key_is_clean(&m, &key);
    // Refused by the key rule.
    let b = m.acquire(["b"]).key(&key).try_now().unwrap();
    let mut t = Task::new(m.acquire(["a"]).key(&key));
    assert!(matches!(t.ready(), Err(Error::OrderViolation { .. })));
    drop(t);
    drop(b);
    key_is_clean(&m, &key);
    // After a poll that waited, dropped; then after a timeout.
    let busy = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(m.acquire(["a", "b"]).key(&key).no_timeout());
    t.pending();
    assert!(m.is_locked("a").unwrap());
    t.cancel();
    drop(busy);
    key_is_clean(&m, &key);
    let busy = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(
        m.acquire(["a", "b"])
            .key(&key)
            .timeout(Duration::from_secs(1)),
    );
    t.pending();
    timer.advance(Duration::from_secs(1));
    timed_out(t.poll(), "b");
    drop(busy);
    drop(t);
    key_is_clean(&m, &key);
}

#[test]
fn a_key_given_twice_is_counted_once_and_the_last_one_counts() {
    let m = common::manager(&[("a", 10), ("b", 20)]);
    let (k1, k2) = (m.task_key(), m.task_key());
    let g = m.acquire(["b"]).key(&k1).key(&k1).try_now().unwrap();
    drop(g);
    key_is_clean(&m, &k1);
    // The second key replaces the first: the request claims under k2 only.
    let g = m.acquire(["b"]).key(&k1).key(&k2).try_now().unwrap();
    key_is_clean(&m, &k1);
    assert!(matches!(
        m.acquire(["a"]).key(&k2).try_now(),
        Err(Error::OrderViolation { .. })
    ));
    drop(g);
    key_is_clean(&m, &k2);
    // Dropped unpolled with two keys given.
    drop(m.acquire(["b"]).key(&k1).key(&k2));
    key_is_clean(&m, &k1);
    key_is_clean(&m, &k2);
    // A key given after the first poll is ignored.
    let busy = m.try_acquire(["b"]).unwrap();
    let mut t = Task::new(m.acquire(["b"]).key(&k1));
    t.pending();
    let fut = t.into_inner().key(&k2);
    drop(busy);
    let g = fut.try_now().unwrap();
    key_is_clean(&m, &k2);
    drop(g);
    key_is_clean(&m, &k1);
}

/// `try_now` and `wait` on a keyed future a poll left waiting: the claims pass to the guard or
/// are given back.
#[test]
fn try_now_and_wait_after_a_keyed_poll_keep_or_give_back_the_claims() {
    let m = common::manager(&[("a", 10), ("b", 20), ("c", 30)]);
    let key = m.task_key();
    let busy = m.try_acquire(["c"]).unwrap();
    let mut t = Task::new(m.acquire(["a", "c"]).key(&key));
    t.pending();
    let fut = t.into_inner();
    assert!(matches!(fut.try_now(), Err(Error::WouldBlock { .. })));
    key_is_clean(&m, &key);
    let mut t = Task::new(m.acquire(["b", "c"]).key(&key));
    t.pending();
    let fut = t.into_inner();
    drop(busy);
    let g = fut.wait().unwrap();
    assert!(matches!(
        m.acquire(["a"]).key(&key).try_now(),
        Err(Error::OrderViolation { .. })
    ));
    drop(g);
    key_is_clean(&m, &key);
}

/// Nested requests under keyed guards: inherited, the same key given again, another key
/// (refused), each given back when refused or dropped unpolled.
#[test]
fn nested_requests_under_a_keyed_guard_give_every_claim_back() {
    let m = common::manager(&[("a", 10), ("b", 20), ("c", 30), ("d", 40)]);
    let (key, other) = (m.task_key(), m.task_key());
    let mut g = m.acquire(["b"]).key(&key).try_now().unwrap();
    drop(g.acquire(["c"]));
    drop(g.acquire(["c"]).key(&other));
    assert!(matches!(
        g.acquire(["c"]).key(&other).try_now(),
        Err(Error::ForeignKey { .. })
    ));
    key_is_clean(&m, &other);
    assert!(matches!(
        g.acquire(["a"]).key(&key).try_now(),
        Err(Error::OrderViolation { .. })
    ));
    let mut inner = g.acquire(["c"]).key(&key).try_now().unwrap();
    let deepest = inner.acquire(["d"]).try_now().unwrap();
    assert!(matches!(
        m.acquire(["c"]).key(&key).try_now(),
        Err(Error::OrderViolation { .. })
    ));
    drop(deepest);
    drop(inner);
    drop(g);
    key_is_clean(&m, &key);
}

// === Lock sets around the word sizes ===

/// Managers of 31 to 129 locks (one word of 32 or 64 bits, just over, two, inline's end, the
/// first heap size): the positions at each word's edges, exclusive and shared, top-level and
/// nested, and keyed, all taken and given back.
#[test]
fn sets_around_word_boundaries_take_and_give_back_every_edge() {
    for n in [31usize, 32, 33, 63, 64, 65, 127, 128, 129] {
        let mut b = LockManager::builder();
        for i in 0..n {
            b.register(&format!("l{i}"), i as u32).unwrap();
        }
        let m = b.build();
        let edges: Vec<usize> = [0, 1, 30, 31, 32, 33, 62, 63, 64, 65, 95, 96, 126, 127, 128]
            .into_iter()
            .filter(|&p| p < n)
            .collect();
        let id = |p: usize| m.id(&format!("l{p}")).unwrap();
        let ids: Vec<_> = edges.iter().map(|&p| id(p)).collect();
        let g = m.acquire(ids.clone()).try_now().unwrap();
        for &p in &edges {
            assert!(g.holds(id(p)), "n {n}: l{p}");
        }
        assert_eq!(g.locks().count(), edges.len(), "n {n}");
        drop(g);
        // Alternating modes; two shared holders together.
        let shared: Vec<_> = ids.iter().copied().skip(1).step_by(2).collect();
        let g1 = m
            .acquire(ids.iter().copied().step_by(2))
            .shared(shared.clone());
        let g1 = g1.try_now().unwrap();
        let g2 = m.acquire_shared(shared.clone()).try_now().unwrap();
        for &s in &shared {
            assert_eq!(g1.mode(s), Some(lockorder::Mode::Shared), "n {n}");
        }
        assert!(m.try_acquire([ids[0]]).is_err(), "n {n}");
        drop((g1, g2));
        // Nested: the parent holds the lower half; the child adds the upper half.
        let half = ids.len() / 2;
        let mut parent = m.acquire(ids[..half].iter().copied()).try_now().unwrap();
        let child = parent.acquire(ids.iter().copied()).try_now().unwrap();
        assert_eq!(child.own_locks().count(), ids.len() - half, "n {n}");
        drop(child);
        drop(parent);
        // Keyed: each edge in turn, then a lower one is refused naming the highest.
        let key = m.task_key();
        let top = *ids.last().unwrap();
        let g = m.acquire([top]).key(&key).try_now().unwrap();
        if ids.len() > 1 {
            match m.acquire([ids[0]]).key(&key).try_now() {
                Err(Error::OrderViolation { requested, held }) => {
                    assert_eq!(requested, format!("l{}", edges[0]).as_str());
                    assert_eq!(held, format!("l{}", edges[edges.len() - 1]).as_str());
                }
                other => panic!("n {n}: {other:?}"),
            }
        }
        drop(g);
        key_is_clean(&m, &key);
        for &p in edges.iter().rev() {
            // Order violations and upgrades are refused whatever the word.
            let mut parent = m.acquire_shared([id(p)]).try_now().unwrap();
            assert!(matches!(
                parent.acquire([id(p)]).try_now(),
                Err(Error::UpgradeRefused { .. })
            ));
            if p > 0 {
                assert!(matches!(
                    parent.acquire([id(p - 1)]).try_now(),
                    Err(Error::OrderViolation { .. })
                ));
            }
            drop(parent);
        }
        assert_all_free(&m);
    }
}
