//! `Guard`: one guard for a whole set of locks, and nested acquisition through it.

use crate::sync::Arc;
use core::fmt;

use crate::held::Held;
use crate::manager::LockManager;
use crate::record::Owner;
use crate::registry::{Key, LockInfo};
use crate::set::Mode;
use crate::table::Table;
use crate::timer::{MaybeTimer, NoTimer, TimerName};

// === What both guards share ===

/// The inspection methods of [`Guard`] and [`OwnedGuard`], written once (the nesting ones are
/// in `entry`).
macro_rules! guard_methods {
    () => {
        /// Whether this guard covers the lock `key` (taken by it or, for a nested guard, by a
        /// parent), in either mode. An unknown key is simply not held.
        pub fn holds<K: Key>(&self, key: K) -> bool {
            self.held.holds(&self.manager.table, key)
        }

        /// How this guard, with its parents, holds the lock `key`: `None` when it does not
        /// cover it (or the key is unknown).
        ///
        /// ```
        /// # use lockorder::{LockManager, Mode};
        /// let m = LockManager::builder().with_lock("db", 1)?.with_lock("config", 2)?.build();
        /// let mut g = m.acquire(["db"]).shared(["config"]).try_now()?;
        /// assert_eq!(g.mode("db"), Some(Mode::Exclusive));
        /// assert_eq!(g.mode("config"), Some(Mode::Shared));
        /// let inner = g.try_acquire_shared(["config"])?; // covered: nothing new is taken
        /// assert_eq!(inner.mode("config"), Some(Mode::Shared));
        /// # Ok::<(), lockorder::Error>(())
        /// ```
        pub fn mode<K: Key>(&self, key: K) -> Option<Mode> {
            self.held.mode(&self.manager.table, key)
        }

        /// The owner label given at acquisition (or inherited from the parent guard), as
        /// stored: cut to [`Label::CAPACITY`](crate::Label::CAPACITY) bytes.
        pub fn owner(&self) -> Option<&str> {
            self.held.owner()
        }

        /// Who holds these locks, as status reports show it: the label, or the automatic holder
        /// id (`None` without a label when this guard and its parents took every lock by
        /// joining other readers, or took nothing).
        pub fn holder(&self) -> Option<Owner> {
            self.held.holder()
        }
    };
}

// === Guard ===

/// Holds a set of locks; dropping it releases them, newest (highest order) first.
///
/// A guard is returned by [`LockManager::acquire`] (and [`try_acquire`](LockManager::try_acquire)).
/// Release also happens while unwinding from a panic.
///
/// # Nesting
///
/// [`Guard::acquire`] asks for more locks while holding these. Locks the guard already covers are
/// skipped (reentrancy goes *through the guard*); a new lock ordered below the highest lock held
/// is refused with [`Error::OrderViolation`](crate::Error::OrderViolation) instead of risking a deadlock. The nested guard
/// borrows its parent **mutably**, so a guard has at most one live child and nesting is a stack
/// by construction: the child releases only what it took, before the parent can release the rest,
/// and the parent's order check sees every lock held through it.
///
/// ```
/// # use lockorder::{Error, LockManager};
/// # use futures_lite::future::block_on;
/// let mut b = LockManager::builder();
/// b.register("config", 10)?.register("db", 20)?.register("cache", 30)?;
/// let m = b.build();
/// block_on(async {
///     let mut outer = m.acquire(["db"]).await?;
///     let mut inner = outer.acquire(["db", "cache"]).await?; // "db" is held: skipped
///     assert!(inner.holds("db") && inner.holds("cache"));
///     let err = inner.acquire(["config"]).await.unwrap_err();
///     assert!(matches!(err, Error::OrderViolation { .. }));
///     drop(inner); // releases "cache" only
///     assert!(m.is_locked("db")? && !m.is_locked("cache")?);
///     Ok::<(), Error>(())
/// })?;
/// # Ok::<(), Error>(())
/// ```
///
/// Two children of one guard at once ("siblings") do not compile: the second would be checked
/// against the parent only, not against the locks the first holds, and could deadlock.
///
/// ```compile_fail,E0499
/// # use lockorder::LockManager;
/// # use futures_lite::future::block_on;
/// # let mut b = LockManager::builder();
/// # b.register("a", 10).unwrap().register("b", 20).unwrap().register("c", 30).unwrap();
/// # let m = b.build();
/// block_on(async {
///     let mut g = m.acquire(["a"]).await.unwrap();
///     let c = g.acquire(["c"]).await.unwrap();
///     let b = g.acquire(["b"]).await.unwrap(); // a sibling of `c`: refused by the compiler
///     drop((b, c));
/// });
/// ```
///
/// Its twin, with the first child gone before the second is asked for, compiles:
///
/// ```
/// # use lockorder::LockManager;
/// # use futures_lite::future::block_on;
/// # let mut b = LockManager::builder();
/// # b.register("a", 10).unwrap().register("b", 20).unwrap().register("c", 30).unwrap();
/// # let m = b.build();
/// block_on(async {
///     let mut g = m.acquire(["a"]).await.unwrap();
///     let c = g.acquire(["c"]).await.unwrap();
///     drop(c);
///     let b = g.acquire(["b"]).await.unwrap();
///     drop(b);
/// });
/// ```
///
/// The same holds for [`try_acquire`](Self::try_acquire):
///
/// ```compile_fail,E0499
/// # use lockorder::LockManager;
/// # let mut b = LockManager::builder();
/// # b.register("a", 10).unwrap().register("b", 20).unwrap().register("c", 30).unwrap();
/// # let m = b.build();
/// let mut g = m.try_acquire(["a"]).unwrap();
/// let c = g.try_acquire(["c"]).unwrap();
/// let b = g.try_acquire(["b"]).unwrap(); // a sibling of `c`: refused by the compiler
/// drop((b, c));
/// ```
///
/// ```
/// # use lockorder::LockManager;
/// # let mut b = LockManager::builder();
/// # b.register("a", 10).unwrap().register("b", 20).unwrap().register("c", 30).unwrap();
/// # let m = b.build();
/// let mut g = m.try_acquire(["a"]).unwrap();
/// let c = g.try_acquire(["c"]).unwrap();
/// drop(c);
/// let b = g.try_acquire(["b"]).unwrap();
/// drop(b);
/// ```
///
/// A task that holds a lock and asks the *manager* (not its guard) for it again waits for
/// itself; with a timeout that becomes [`Error::Timeout`](crate::Error::Timeout).
#[must_use = "if unused the locks are immediately released"]
#[clippy::has_significant_drop]
pub struct Guard<'a, T: MaybeTimer = NoTimer> {
    pub(crate) manager: &'a LockManager<T>,
    pub(crate) held: Held<'a>,
}

impl<'a, T: MaybeTimer> Guard<'a, T> {
    #[inline]
    pub(crate) fn from_held(manager: &'a LockManager<T>, held: Held<'a>) -> Self {
        Self { manager, held }
    }

    /// The guard's record and its manager's table, for data access ([`crate::Protected`]).
    #[inline]
    pub(crate) fn parts(&self) -> (&Held<'a>, &Table) {
        (&self.held, &self.manager.table)
    }

    guard_methods!();

    /// The locks this guard covers, in ascending order (a nested guard's include its parents').
    pub fn locks(&self) -> impl Iterator<Item = &'a LockInfo> {
        self.held.locks(&self.manager.table)
    }

    /// The locks this guard itself took and will release, in ascending order.
    pub fn own_locks(&self) -> impl Iterator<Item = &'a LockInfo> + '_ {
        self.held.own_locks(&self.manager.table)
    }

    /// The manager the locks belong to.
    pub fn manager(&self) -> &'a LockManager<T> {
        self.manager
    }
}

impl<T: MaybeTimer> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.held.release(&self.manager.table, &self.manager.timer);
    }
}

impl<T: MaybeTimer> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Guard");
        self.held.debug(&self.manager.table, &mut d);
        d.field("timer", &TimerName::<T>::new()).finish()
    }
}

// === OwnedGuard ===

/// Holds a set of locks, like a [`Guard`], and keeps its manager alive through an `Arc`: it can
/// move into a spawned task or live in a struct. Returned by
/// [`LockManager::acquire_owned`] and [`try_acquire_owned`](LockManager::try_acquire_owned).
///
/// It is `Send + Sync + 'static` when the timer is `Send + Sync + 'static`. The manager lives as
/// long as the last `Arc` or owned guard. Nesting works as on a [`Guard`]: a child borrows the
/// owned guard mutably and is a plain [`Guard`], not `'static`.
///
/// ```
/// # use std::sync::Arc;
/// # use lockorder::{Error, LockManager, OwnedGuard};
/// # use futures_lite::future::block_on;
/// struct Job {
///     locks: OwnedGuard, // held for the job's life, beside the Arc it came from
/// }
/// let mut b = LockManager::builder();
/// b.register("db", 10)?.register("audit", 20)?;
/// let m = Arc::new(b.build());
/// let mut job = Job { locks: m.try_acquire_owned(["db"])? };
/// let inner = block_on(job.locks.acquire(["audit"]))?; // nesting: a borrowed Guard
/// assert!(inner.holds("db") && inner.holds("audit"));
/// drop(inner);
/// assert!(Arc::ptr_eq(job.locks.manager(), &m));
/// drop(m); // the guard keeps the manager alive
/// assert!(job.locks.manager().is_locked("db")?);
/// # Ok::<(), Error>(())
/// ```
#[must_use = "if unused the locks are immediately released"]
#[clippy::has_significant_drop]
pub struct OwnedGuard<T: MaybeTimer = NoTimer> {
    pub(crate) manager: Arc<LockManager<T>>,
    pub(crate) held: Held<'static>,
}

impl<T: MaybeTimer> OwnedGuard<T> {
    #[inline]
    pub(crate) fn from_held(manager: Arc<LockManager<T>>, held: Held<'static>) -> Self {
        Self { manager, held }
    }

    /// The guard's record and its manager's table, for data access ([`crate::Protected`]).
    #[inline]
    pub(crate) fn parts(&self) -> (&Held<'static>, &Table) {
        (&self.held, &self.manager.table)
    }

    guard_methods!();

    /// The locks this guard covers (and releases), in ascending order.
    pub fn locks(&self) -> impl Iterator<Item = &LockInfo> + '_ {
        self.held.locks(&self.manager.table)
    }

    /// The manager the locks belong to.
    pub fn manager(&self) -> &Arc<LockManager<T>> {
        &self.manager
    }
}

impl<T: MaybeTimer> Drop for OwnedGuard<T> {
    #[inline]
    fn drop(&mut self) {
        self.held.release(&self.manager.table, &self.manager.timer);
    }
}

impl<T: MaybeTimer> fmt::Debug for OwnedGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OwnedGuard");
        self.held.debug(&self.manager.table, &mut d);
        d.field("timer", &TimerName::<T>::new()).finish()
    }
}
