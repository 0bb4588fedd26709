//! `EmbassyTimer` on a host: embassy-time's `std` driver and its generic timer queue stand in
//! for a device's. The shared scenarios also run on it (`tests/runtimes.rs`).
#![cfg(not(loom))]

use std::time::Duration;

use futures_lite::future;
use lockorder::{EmbassyTimer, Error, LockManager, Timer};

#[test]
fn now_starts_near_zero_and_a_sleep_moves_it_forward_by_at_least_its_duration() {
    let timer = EmbassyTimer::new();
    let before = timer.now();
    future::block_on(timer.sleep(Duration::from_millis(3)));
    let after = timer.now();
    assert!(
        after >= before + Duration::from_millis(3),
        "{before:?} -> {after:?}"
    );
    // Copies share the starting point.
    let copy = timer;
    assert!(copy.now() >= after);
}

#[test]
fn a_sleep_too_long_for_the_tick_counter_waits_instead_of_panicking() {
    let timer = EmbassyTimer::new();
    let mut sleep = timer.sleep(Duration::MAX);
    assert!(future::block_on(future::poll_once(&mut sleep)).is_none());
    let mut sleep = timer.sleep(Duration::from_secs(u64::MAX / 1_000_000));
    assert!(future::block_on(future::poll_once(&mut sleep)).is_none());
}

#[test]
fn timeout_releases_partial_locks_and_a_zero_timeout_takes_free_locks() {
    let mut b = LockManager::builder().timer(EmbassyTimer::new());
    b.register("a", 1).unwrap().register("b", 2).unwrap();
    let m = b.build();
    let held = m.try_acquire(["b"]).unwrap();
    let err = future::block_on(m.acquire(["b", "a"]).timeout(Duration::from_millis(2)));
    assert!(matches!(err, Err(Error::Timeout { lock }) if lock == "b"));
    assert!(!m.is_locked("a").unwrap());
    drop(held);
    let g = future::block_on(m.acquire(["b", "a"]).timeout(Duration::ZERO)).unwrap();
    assert!(g.holds("a") && g.holds("b"));
}
