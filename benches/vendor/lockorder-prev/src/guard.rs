//! `Guard`: one guard for a whole set of locks, and nested acquisition through it.

use alloc::sync::Arc;
use core::fmt;
use core::panic::Location;

use crate::acquire::{Acquire, Origin};
use crate::error::Error;
use crate::manager::LockManager;
use crate::record::{HolderId, Label, Owner};
use crate::registry::{self, Key, LockInfo};
use crate::set::Mode;
use crate::set::{LockSet, Request};
use crate::stats;
use crate::table::Table;
use crate::timer::{MaybeTimer, NoTimer, TimerName};
use crate::walk::{mode_of, unlock_all};

// === Held: what every guard records ===

/// The locks a guard holds and what it knows about them: the part of a guard that does not
/// depend on how it holds its manager.
///
/// A nested guard points at its parent's record (it borrows the parent mutably, so the parent
/// cannot change or go away meanwhile): what a guard covers is its own locks and its parents',
/// looked up along that short chain rather than copied into every child.
pub(crate) struct Held<'p> {
    /// The locks this guard took, and releases; `own.shared` says which it holds shared.
    own: Request,
    /// For a nested guard: its parent's record.
    parent: Option<&'p Held<'p>>,
    owner: Option<Label>,
    holder: Option<HolderId>,
    /// Where the highest covered lock was taken.
    top_at: &'static Location<'static>,
}

impl<'p> Held<'p> {
    #[inline]
    pub(crate) fn new(
        own: Request,
        holder: Option<HolderId>,
        owner: Option<Label>,
        origin: Origin<'p>,
    ) -> Self {
        let top_at = match origin.parent {
            Some(parent) if own.want.is_empty() => parent.top_at,
            _ => origin.caller,
        };
        Self {
            own,
            parent: origin.parent,
            owner,
            holder,
            top_at,
        }
    }

    /// This record and its parents', innermost first.
    fn chain(&self) -> impl Iterator<Item = &Held<'_>> + '_ {
        core::iter::successors(Some(self), |h| h.parent.map(|p| p as &Held<'_>))
    }

    /// How this guard, with its parents, holds the lock at `pos`.
    fn covers(&self, pos: usize) -> Option<Mode> {
        self.chain()
            .find(|h| h.own.want.contains(pos))
            .map(|h| mode_of(&h.own.shared, pos))
    }

    /// Every lock this guard covers, and which of them are held shared only. A nested request
    /// never takes a lock its parents cover, so the levels' sets are disjoint and modes add up.
    pub(crate) fn covered(&self, table: &Table) -> Request {
        if self.parent.is_none() {
            return self.own.clone();
        }
        let mut covered = Request {
            want: table.empty_set(),
            shared: table.empty_set(),
        };
        for h in self.chain() {
            covered.want.union_with(&h.own.want);
            covered.shared.union_with(&h.own.shared);
        }
        covered
    }

    /// Where the highest covered lock was taken.
    pub(crate) fn top_at(&self) -> &'static Location<'static> {
        self.top_at
    }

    fn locks<'t>(&self, table: &'t Table) -> impl Iterator<Item = &'t LockInfo> {
        self.covered(table)
            .want
            .into_iter()
            .map(move |pos| &table.slots[pos].info)
    }

    fn own_locks<'s, 't>(&'s self, table: &'t Table) -> impl Iterator<Item = &'t LockInfo> + 's
    where
        't: 's,
    {
        self.own.want.iter().map(move |pos| &table.slots[pos].info)
    }

    fn mode<K: Key>(&self, table: &Table, key: K) -> Option<Mode> {
        let pos = registry::sealed::Sealed::position(&key, &table.index).ok()?;
        self.covers(pos)
    }

    fn holds<K: Key>(&self, table: &Table, key: K) -> bool {
        self.mode(table, key).is_some()
    }

    fn owner(&self) -> Option<&str> {
        self.owner.as_ref().map(Label::as_str)
    }

    fn holder(&self) -> Option<Owner> {
        match (self.owner, self.holder) {
            (Some(label), _) => Some(Owner::Label(label)),
            (None, Some(id)) => Some(Owner::Holder(id)),
            (None, None) => None,
        }
    }

    /// A nested acquisition of `keys` (in `mode`) through this guard, on `manager` (its
    /// manager). It is checked against this guard at its first poll, once every option is set.
    #[inline]
    fn nest<'a, T, I>(
        &'a self,
        manager: &'a LockManager<T>,
        keys: I,
        mode: Mode,
        caller: &'static Location<'static>,
    ) -> Acquire<'a, T>
    where
        T: MaybeTimer,
        I: IntoIterator,
        I::Item: Key,
    {
        let table = &manager.table;
        let request = registry::resolve(&table.index, keys).map(|set| match mode {
            Mode::Exclusive => Request {
                want: set,
                shared: table.empty_set(),
            },
            Mode::Shared => Request {
                want: table.empty_set(),
                shared: set,
            },
        });
        let origin = Origin {
            caller,
            parent: Some(self),
        };
        Acquire::new(manager, request, origin, self.holder, self.owner)
    }

    /// Releases the guard's own locks, newest first.
    ///
    /// No panic keeps a lock: a waker that panics while a release wakes the next waiter, or a
    /// clock that panics when read for hold times (feature `stats`), leaves every lock released.
    #[inline]
    fn release<T: MaybeTimer>(&mut self, manager: &LockManager<T>) {
        let slots = &manager.table.slots;
        if stats::ENABLED && T::HAS_TIMER {
            release_with_hold_times(&self.own, manager);
        } else {
            unlock_all(slots, &self.own, usize::MAX);
        }
    }

    fn debug(&self, table: &Table, f: &mut fmt::DebugStruct<'_, '_>) {
        let names = |set: &LockSet| {
            set.iter()
                .map(|pos| table.slots[pos].info.name())
                .collect::<alloc::vec::Vec<_>>()
        };
        let covered = self.covered(table);
        f.field("locks", &names(&covered.want))
            .field("shared", &names(&covered.shared))
            .field("own", &names(&self.own.want))
            .field("owner", &self.owner());
    }
}

/// Releases `own` and records each lock's hold time (feature `stats`, with a timer).
///
/// The clock is foreign code and is read while the locks are still held (a lock's acquisition
/// time is in its record only until it is released): if it panics, the locks are released while
/// unwinding, so no panic keeps a lock.
#[cold]
fn release_with_hold_times<T: MaybeTimer>(own: &Request, manager: &LockManager<T>) {
    struct Release<'a> {
        slots: &'a [crate::table::Slot],
        own: &'a Request,
    }
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            unlock_all(self.slots, self.own, usize::MAX);
        }
    }
    let slots = &manager.table.slots;
    let release = Release { slots, own };
    let now = manager.timer.now_opt();
    // Hold times of exclusive holdings only: a shared holding's record is its first reader's.
    for pos in own.want.iter().filter(|&pos| !own.shared.contains(pos)) {
        if let Some(hold) = stats::hold_time(slots[pos].record.acquired_at(), now) {
            slots[pos].stats.released(hold);
        }
    }
    drop(release);
}

// === What both guards share ===

/// The inspection and nesting methods of [`Guard`] and [`OwnedGuard`], written once.
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
        /// stored: cut to [`Label::CAPACITY`] bytes.
        pub fn owner(&self) -> Option<&str> {
            self.held.owner()
        }

        /// Who holds these locks, as status reports show it: the label, or the automatic holder
        /// id (`None` without a label when this guard and its parents took every lock by
        /// joining other readers, or took nothing).
        pub fn holder(&self) -> Option<Owner> {
            self.held.holder()
        }

        /// Acquires more locks while holding these: a nested acquisition.
        ///
        /// Locks this guard covers are skipped. The request is refused, at its first poll and
        /// with nothing taken, with [`Error::OrderViolation`] if a new lock is ordered below the
        /// highest lock held, with [`Error::UpgradeRefused`] if it asks for exclusive use of a
        /// lock held shared, and with [`Error::UnknownLock`] for an unknown key. The returned
        /// guard borrows this one mutably until it is dropped (one child at a time), and
        /// releases only the locks it took. Options and cancel safety are those of
        /// [`Acquire`], including [`shared`](Acquire::shared).
        #[track_caller]
        #[inline]
        pub fn acquire<I>(&mut self, keys: I) -> Acquire<'_, T>
        where
            I: IntoIterator,
            I::Item: Key,
        {
            self.held
                .nest(&self.manager, keys, Mode::Exclusive, Location::caller())
        }

        /// A nested [`acquire`](Self::acquire) that tries once: all or nothing.
        ///
        /// # Errors
        ///
        /// As [`Acquire::try_now`].
        #[track_caller]
        pub fn try_acquire<I>(&mut self, keys: I) -> Result<Guard<'_, T>, Error>
        where
            I: IntoIterator,
            I::Item: Key,
        {
            self.acquire(keys).try_now()
        }

        /// A nested acquisition of `keys` in shared mode; a lock this guard covers, in either
        /// mode, is skipped. Otherwise as [`acquire`](Self::acquire).
        #[track_caller]
        #[inline]
        pub fn acquire_shared<I>(&mut self, keys: I) -> Acquire<'_, T>
        where
            I: IntoIterator,
            I::Item: Key,
        {
            self.held
                .nest(&self.manager, keys, Mode::Shared, Location::caller())
        }

        /// A nested [`acquire_shared`](Self::acquire_shared) that tries once: all or nothing.
        ///
        /// # Errors
        ///
        /// As [`Acquire::try_now`].
        #[track_caller]
        pub fn try_acquire_shared<I>(&mut self, keys: I) -> Result<Guard<'_, T>, Error>
        where
            I: IntoIterator,
            I::Item: Key,
        {
            self.acquire_shared(keys).try_now()
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
/// is refused with [`Error::OrderViolation`] instead of risking a deadlock. The nested guard
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
/// itself; with a timeout that becomes [`Error::Timeout`].
#[must_use = "if unused the locks are immediately released"]
#[clippy::has_significant_drop]
pub struct Guard<'a, T: MaybeTimer = NoTimer> {
    manager: &'a LockManager<T>,
    held: Held<'a>,
}

impl<'a, T: MaybeTimer> Guard<'a, T> {
    #[inline]
    pub(crate) fn from_held(manager: &'a LockManager<T>, held: Held<'a>) -> Self {
        Self { manager, held }
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
        self.held.release(self.manager);
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
    manager: Arc<LockManager<T>>,
    held: Held<'static>,
}

impl<T: MaybeTimer> OwnedGuard<T> {
    #[inline]
    pub(crate) fn from_held(manager: Arc<LockManager<T>>, held: Held<'static>) -> Self {
        Self { manager, held }
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
        self.held.release(&self.manager);
    }
}

impl<T: MaybeTimer> fmt::Debug for OwnedGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OwnedGuard");
        self.held.debug(&self.manager.table, &mut d);
        d.field("timer", &TimerName::<T>::new()).finish()
    }
}
