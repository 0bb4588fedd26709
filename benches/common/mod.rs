//! What the benchmark binaries share: the peer mutexes behind one trait, and single-poll driving.

#![allow(dead_code)] // each binary uses a different part

pub(crate) mod contended;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use lockorder::{LockId, LockManager};

/// How many locks every benchmark manager (and every peer array) has.
pub(crate) const LOCKS: usize = 16;

/// The positional arguments of a benchmark binary run by hand (`cargo bench` adds `--bench`,
/// which is skipped).
pub(crate) struct Args(Vec<String>);

impl Args {
    pub(crate) fn new() -> Self {
        Self(
            std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with("--"))
                .collect(),
        )
    }

    /// The `i`-th argument as a number, or `default` if there is none.
    pub(crate) fn number(&self, i: usize, default: u64) -> u64 {
        self.0
            .get(i)
            .map_or(default, |a| a.parse().expect("a number"))
    }

    /// The `i`-th argument.
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i).map(String::as_str)
    }

    /// Whether `word` is one of the arguments.
    pub(crate) fn has(&self, word: &str) -> bool {
        self.0.iter().any(|a| a == word)
    }
}

/// Polls `fut` once with a no-op waker and returns its output; panics if it is not ready.
///
/// An uncontended acquire must complete on its first poll, so this measures the lock path and
/// nothing of an executor.
#[inline]
pub(crate) fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("an uncontended acquire was not ready on its first poll"),
    }
}

/// One uncontended iteration of a peer: takes `locks` one by one in order, each on its first poll,
/// then releases them newest first. `guards` is the caller's, so that no iteration allocates.
#[inline]
pub(crate) fn lock_each<'a, M: Peer>(locks: &'a [M], guards: &mut Vec<M::Guard<'a>>) {
    for l in locks {
        guards.push(ready(l.lock()));
    }
    while let Some(guard) = guards.pop() {
        drop(black_box(guard));
    }
}

/// The names of the benchmark locks, in ascending order.
pub(crate) fn names() -> Vec<String> {
    (0..LOCKS).map(|i| format!("bench.lock.{i:02}")).collect()
}

/// A manager of [`LOCKS`] locks (named by [`names`], at orders 0, 10, 20, ..) and their ids in
/// ascending order, from the crate `$core`: `lockorder` itself, or one of the earlier cores
/// vendored under `benches/vendor/` (`lockorder_phase1`, `lockorder_prev`), whose API is the same
/// for this.
macro_rules! manager_of {
    ($core:ident) => {{
        let mut b = $core::LockManager::builder();
        for (i, name) in $crate::common::names().iter().enumerate() {
            b.register(name, 10 * i as u32)
                .expect("distinct names and orders");
        }
        let m = b.build();
        let ids: Vec<$core::LockId> = $crate::common::names()
            .iter()
            .map(|n| m.id(n).expect("registered"))
            .collect();
        (m, ids)
    }};
}
#[allow(unused_imports)] // not every binary builds a vendored core
pub(crate) use manager_of;

/// A manager of [`LOCKS`] locks, and their ids in ascending order.
pub(crate) fn manager() -> (LockManager, Vec<LockId>) {
    manager_of!(lockorder)
}

/// An async mutex over `()`, taken the plain way: one lock at a time, in the caller's order.
pub(crate) trait Peer: Send + Sync + 'static {
    /// The name shown in reports.
    const NAME: &'static str;
    /// What `lock` resolves to; releases on drop.
    type Guard<'a>: Send
    where
        Self: 'a;

    fn new() -> Self;
    fn lock(&self) -> impl Future<Output = Self::Guard<'_>> + Send;
}

impl Peer for async_lock::Mutex<()> {
    const NAME: &'static str = "async-lock";
    type Guard<'a> = async_lock::MutexGuard<'a, ()>;

    fn new() -> Self {
        async_lock::Mutex::new(())
    }
    fn lock(&self) -> impl Future<Output = Self::Guard<'_>> + Send {
        async_lock::Mutex::lock(self)
    }
}

impl Peer for tokio::sync::Mutex<()> {
    const NAME: &'static str = "tokio";
    type Guard<'a> = tokio::sync::MutexGuard<'a, ()>;

    fn new() -> Self {
        tokio::sync::Mutex::new(())
    }
    fn lock(&self) -> impl Future<Output = Self::Guard<'_>> + Send {
        tokio::sync::Mutex::lock(self)
    }
}

impl Peer for futures::lock::Mutex<()> {
    const NAME: &'static str = "futures";
    type Guard<'a> = futures::lock::MutexGuard<'a, ()>;

    fn new() -> Self {
        futures::lock::Mutex::new(())
    }
    fn lock(&self) -> impl Future<Output = Self::Guard<'_>> + Send {
        futures::lock::Mutex::lock(self)
    }
}

impl Peer for maitake_sync::Mutex<()> {
    const NAME: &'static str = "maitake-sync";
    type Guard<'a> = maitake_sync::MutexGuard<'a, ()>;

    fn new() -> Self {
        maitake_sync::Mutex::new(())
    }
    fn lock(&self) -> impl Future<Output = Self::Guard<'_>> + Send {
        maitake_sync::Mutex::lock(self)
    }
}
