//! The holder named in errors, at the edges: huge virtual times, labels cut at capacity, shared
//! holdings with many readers.
#![cfg(not(loom))]

mod common;

use core::time::Duration;
use std::task::Poll;

use common::{assert_all_free, Task};
use lockorder::{Error, LockManager, ManualTimer, Mode};

fn manager(timer: ManualTimer) -> LockManager<ManualTimer> {
    let mut b = LockManager::builder().timer(timer);
    b.register("acct-3", 103).unwrap();
    b.build()
}

/// A clock at its end: the hold time is read, a timeout taken there fails at once or waits,
/// but nothing overflows, and the error names the holder.
#[test]
fn a_clock_at_its_end_names_the_holder_without_overflow() {
    let timer = ManualTimer::new();
    let m = manager(timer.clone());
    let long = "w".repeat(200);
    let g = futures_lite::future::block_on(m.acquire(["acct-3"]).owner(long.clone())).unwrap();
    timer.advance(Duration::MAX);
    let err = m.try_acquire(["acct-3"]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("acct-3"), "{text}");
    let Error::WouldBlock { lock } = &err else {
        panic!("{err:?}")
    };
    let held = lock.held_by().expect("the holder is named");
    assert!(long.starts_with(held.owner()) && !held.owner().is_empty());
    assert_eq!(held.mode(), Mode::Exclusive);
    assert_eq!(held.held_for(), Some(Duration::MAX));
    let mut t = Task::new(m.acquire(["acct-3"]).timeout(Duration::from_secs(1)));
    match t.poll() {
        Poll::Pending => {}
        Poll::Ready(r) => {
            let e = r.unwrap_err();
            assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
        }
    }
    timer.advance(Duration::from_secs(2));
    drop(g);
    drop(t);
    assert_all_free(&m);
}

/// Many readers: the error counts them and names one.
#[test]
fn many_readers_are_counted_in_the_error() {
    let timer = ManualTimer::new();
    let m = manager(timer.clone());
    let guards: Vec<_> = (0..50)
        .map(|i| {
            futures_lite::future::block_on(m.acquire_shared(["acct-3"]).owner(format!("r{i}")))
                .unwrap()
        })
        .collect();
    timer.advance(Duration::from_millis(1500));
    let err = m.try_acquire(["acct-3"]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("acct-3") && text.contains("49 more readers"),
        "{text}"
    );
    assert!(text.contains("for 1.500s"), "{text}");
    drop(guards);
    assert_all_free(&m);
}
