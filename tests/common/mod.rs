//! Test helpers: a counting waker, a hand-polled task, managers with and without a virtual clock.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use lockorder::futures::Acquire;
use lockorder::{Guard, HolderId, LockManager, ManualTimer, MaybeTimer, NoTimer, Owner};

/// A waker that counts its wake-ups and, if given a log, records its name there when woken.
pub struct CountingWaker {
    wakes: AtomicUsize,
    name: &'static str,
    log: Option<Arc<Mutex<Vec<&'static str>>>>,
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if let Some(log) = &self.log {
            log.lock().unwrap().push(self.name);
        }
    }
}

/// A future polled by hand with its own counting waker: "pending, woken, ready".
pub struct Task<F: Future> {
    fut: Option<Pin<Box<F>>>,
    waker: Arc<CountingWaker>,
    seen: usize,
}

impl<F: Future> Task<F> {
    pub fn new(fut: F) -> Self {
        Self::named(fut, "", None)
    }

    pub fn logged(fut: F, name: &'static str, log: &Arc<Mutex<Vec<&'static str>>>) -> Self {
        Self::named(fut, name, Some(log.clone()))
    }

    fn named(fut: F, name: &'static str, log: Option<Arc<Mutex<Vec<&'static str>>>>) -> Self {
        Self {
            fut: Some(Box::pin(fut)),
            waker: Arc::new(CountingWaker {
                wakes: AtomicUsize::new(0),
                name,
                log,
            }),
            seen: 0,
        }
    }

    /// Polls once. Panics if the future already completed and was taken.
    pub fn poll(&mut self) -> Poll<F::Output> {
        self.seen = self.wakes();
        let waker = Waker::from(self.waker.clone());
        let mut cx = Context::from_waker(&waker);
        self.fut
            .as_mut()
            .expect("future dropped")
            .as_mut()
            .poll(&mut cx)
    }

    /// Polls once and expects `Pending`.
    #[track_caller]
    pub fn pending(&mut self) {
        assert!(
            self.poll().is_pending(),
            "expected the future to be pending"
        );
    }

    /// Polls once and expects `Ready`, returning the output.
    #[track_caller]
    pub fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("expected the future to be ready"),
        }
    }

    /// How many times the waker was woken in all.
    pub fn wakes(&self) -> usize {
        self.waker.wakes.load(Ordering::SeqCst)
    }

    /// Whether the waker was woken since the last poll.
    pub fn woken(&self) -> bool {
        self.wakes() > self.seen
    }

    /// Drops the future (cancellation).
    pub fn cancel(&mut self) {
        self.fut = None;
    }

    /// The future itself, to go on with it by value.
    pub fn into_inner(mut self) -> F
    where
        F: Unpin,
    {
        *Pin::into_inner(self.fut.take().expect("future dropped"))
    }
}

/// A manager without a timer holding the given `(name, order)` locks.
pub fn manager(locks: &[(&str, u32)]) -> LockManager {
    let mut b = LockManager::builder();
    for &(name, order) in locks {
        b.register(name, order).unwrap();
    }
    b.build()
}

/// A manager with a virtual clock, and that clock.
pub fn timed(locks: &[(&str, u32)]) -> (LockManager<ManualTimer>, ManualTimer) {
    let timer = ManualTimer::new();
    let mut b = LockManager::builder().timer(timer.clone());
    for &(name, order) in locks {
        b.register(name, order).unwrap();
    }
    (b.build(), timer)
}

/// Two tasks that wait, in that order, for `a`, which `holder` holds; then drops `holder` and
/// checks that its release woke the first of them alone.
#[track_caller]
pub fn two_waiters_for_a<'m>(
    m: &'m LockManager,
    holder: Guard<'m>,
) -> (Task<Acquire<'m, NoTimer>>, Task<Acquire<'m, NoTimer>>) {
    let mut first = Task::new(m.acquire(["a"]));
    let mut second = Task::new(m.acquire(["a"]));
    first.pending();
    second.pending();
    drop(holder);
    assert!(first.woken());
    assert!(!second.woken());
    (first, second)
}

/// Which of `names` are locked right now.
pub fn locked<T>(m: &LockManager<T>, names: &[&'static str]) -> Vec<&'static str> {
    names
        .iter()
        .copied()
        .filter(|n| m.is_locked(*n).unwrap())
        .collect()
}

pub const ABC: &[(&str, u32)] = &[("a", 10), ("b", 20), ("c", 30)];

/// Every lock of `m` is free and can be taken again in both modes: each one alone, by a single
/// exclusive try and then a single shared try (a shared try also fails on a lock that is free but
/// kept for a waiter that no longer exists: a waiting-writer count or a reservation left behind).
#[track_caller]
pub fn assert_all_free<T: MaybeTimer>(m: &LockManager<T>) {
    for info in m.locks() {
        let name = info.name();
        assert!(!m.is_locked(info.id()).unwrap(), "`{name}` is still held");
        if let Err(e) = m.try_acquire([info.id()]) {
            panic!("`{name}` cannot be taken exclusive: {e}");
        }
        if let Err(e) = m.try_acquire_shared([info.id()]) {
            panic!("`{name}` cannot be taken shared: {e}");
        }
    }
}

/// Every lock of `m` still wakes its waiters: held, then waited for (exclusive, then shared),
/// then released, the waiter is woken and gets it. (A waker that panicked inside a
/// notification could once leave the waiter lists' counts wrong, so that a lock stopped
/// notifying.)
#[track_caller]
pub fn assert_waiters_are_woken<T: MaybeTimer>(m: &LockManager<T>) {
    for info in m.locks() {
        for shared in [false, true] {
            let mode = if shared { "shared" } else { "exclusive" };
            let holder = m.try_acquire([info.id()]).unwrap();
            let mut waiter = Task::new(if shared {
                m.acquire_shared([info.id()])
            } else {
                m.acquire([info.id()])
            });
            waiter.pending();
            drop(holder);
            assert!(
                waiter.woken(),
                "`{}`: a {mode} waiter was not woken",
                info.name()
            );
            assert!(waiter.ready().is_ok(), "`{}`: a {mode} waiter", info.name());
        }
    }
}

/// The holder id of a guard as its two halves (first position, generation), checked against
/// its `Display`.
#[track_caller]
pub fn holder_parts(owner: Option<Owner>) -> (u64, u64) {
    let (first, generation, _) = holder_id(owner);
    (first, generation)
}

/// As [`holder_parts`], with the id itself.
#[track_caller]
pub fn holder_id(owner: Option<Owner>) -> (u64, u64, HolderId) {
    let Some(Owner::Holder(id)) = owner else {
        panic!("expected a holder id, got {owner:?}");
    };
    let n = id.as_u64();
    let (first, generation) = (n >> 32, n & 0xffff_ffff);
    assert_eq!(id.to_string(), format!("holder-{first}.{generation}"));
    assert_eq!(format!("{id:?}"), id.to_string());
    (first, generation, id)
}

/// `n` locks `l0`, `l1`, ... at orders 0, 1, ...
pub fn many(n: u32) -> LockManager {
    let mut b = LockManager::builder();
    for i in 0..n {
        b.register(&format!("l{i}"), i).unwrap();
    }
    b.build()
}
