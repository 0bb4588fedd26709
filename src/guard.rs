//! `Guard`: one guard for a whole set of locks, and nested acquisition through it.

use alloc::sync::Arc;
use core::fmt;
use core::panic::Location;

use crate::acquire::{unlock_all, Acquire, Origin, Parent};
use crate::error::Error;
use crate::manager::LockManager;
use crate::registry::{self, Key, LockInfo, Table};
use crate::set::LockSet;
use crate::stats;
use crate::status::{HolderId, Label, Owner};
use crate::timer::{MaybeTimer, NoTimer, TimerName};

// === Held: what every guard records ===

/// The locks a guard holds and what it knows about them: the part of a guard that does not
/// depend on how it holds its manager.
pub(crate) struct Held {
    /// The locks this guard took, and releases.
    own: LockSet,
    /// For a nested guard: every lock it covers (its parent's and its own).
    covered: Option<LockSet>,
    owner: Option<Label>,
    holder: Option<HolderId>,
    /// Where the highest covered lock was taken.
    top_at: &'static Location<'static>,
}

impl Held {
    #[inline]
    pub(crate) fn new(
        own: LockSet,
        holder: Option<HolderId>,
        owner: Option<Label>,
        origin: Origin<'_>,
    ) -> Self {
        let top_at = match &origin.parent {
            Some(parent) if own.is_empty() => parent.top_at,
            _ => origin.caller,
        };
        let covered = origin.parent.map(|parent| {
            let mut covered = parent.covered.clone();
            covered.union_with(&own);
            covered
        });
        Self {
            own,
            covered,
            owner,
            holder,
            top_at,
        }
    }

    fn covered(&self) -> &LockSet {
        self.covered.as_ref().unwrap_or(&self.own)
    }

    fn locks<'s, 't>(&'s self, table: &'t Table) -> impl Iterator<Item = &'t LockInfo> + 's
    where
        't: 's,
    {
        self.covered().iter().map(move |pos| &table.slots[pos].info)
    }

    fn own_locks<'s, 't>(&'s self, table: &'t Table) -> impl Iterator<Item = &'t LockInfo> + 's
    where
        't: 's,
    {
        self.own.iter().map(move |pos| &table.slots[pos].info)
    }

    fn holds<K: Key>(&self, table: &Table, key: K) -> bool {
        registry::sealed::Sealed::position(&key, table)
            .is_ok_and(|pos| self.covered().contains(pos))
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

    /// A nested acquisition of `keys` through this guard, on `manager` (its manager).
    #[inline]
    fn nest<'a, T, I>(
        &'a self,
        manager: &'a LockManager<T>,
        keys: I,
        caller: &'static Location<'static>,
    ) -> Acquire<'a, T>
    where
        T: MaybeTimer,
        I: IntoIterator,
        I::Item: Key,
    {
        let table = &manager.table;
        let covered = self.covered();
        let want = registry::resolve(table, keys).and_then(|requested| {
            nest(covered, requested).map_err(|(requested, held)| Error::OrderViolation {
                requested: table.lock_ref(requested),
                held: table.lock_ref(held).acquired_at_location(self.top_at),
            })
        });
        let origin = Origin {
            caller,
            parent: Some(Parent {
                covered,
                top_at: self.top_at,
            }),
        };
        Acquire::new(manager, want, origin, self.holder, self.owner)
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
            unlock_all(slots, self.own.iter_rev_below(usize::MAX));
        }
    }

    fn debug(&self, table: &Table, f: &mut fmt::DebugStruct<'_, '_>) {
        let names = |set: &LockSet| {
            set.iter()
                .map(|pos| table.slots[pos].info.name())
                .collect::<alloc::vec::Vec<_>>()
        };
        f.field("locks", &names(self.covered()))
            .field("own", &names(&self.own))
            .field("owner", &self.owner());
    }
}

/// Releases `own` and records each lock's hold time (feature `stats`, with a timer).
///
/// The clock is foreign code and is read while the locks are still held (a lock's acquisition
/// time is in its record only until it is released): if it panics, the locks are released while
/// unwinding, so no panic keeps a lock.
#[cold]
fn release_with_hold_times<T: MaybeTimer>(own: &LockSet, manager: &LockManager<T>) {
    struct Release<'a> {
        slots: &'a [crate::registry::Slot],
        own: &'a LockSet,
    }
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            unlock_all(self.slots, self.own.iter_rev_below(usize::MAX));
        }
    }
    let slots = &manager.table.slots;
    let release = Release { slots, own };
    let now = manager.timer.now_opt();
    for pos in own.iter() {
        if let Some(hold) = stats::hold_time(slots[pos].record.acquired_at(), now) {
            slots[pos].stats.released(hold);
        }
    }
    drop(release);
}

/// The locks a nested request must still take, or `(requested, held)` when taking them would
/// break the order: a requested lock ranked below the highest one held.
pub(crate) fn nest(covered: &LockSet, mut requested: LockSet) -> Result<LockSet, (usize, usize)> {
    requested.subtract(covered);
    match (requested.first(), covered.last()) {
        (Some(low), Some(high)) if low < high => Err((low, high)),
        _ => Ok(requested),
    }
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
    held: Held,
}

impl<'a, T: MaybeTimer> Guard<'a, T> {
    #[inline]
    pub(crate) fn from_held(manager: &'a LockManager<T>, held: Held) -> Self {
        Self { manager, held }
    }

    /// Whether this guard covers the lock `key` (taken by it or, for a nested guard, by a parent).
    /// An unknown key is simply not held.
    pub fn holds<K: Key>(&self, key: K) -> bool {
        self.held.holds(&self.manager.table, key)
    }

    /// The locks this guard covers, in ascending order (a nested guard's include its parents').
    pub fn locks(&self) -> impl Iterator<Item = &'a LockInfo> + '_ {
        self.held.locks(&self.manager.table)
    }

    /// The locks this guard itself took and will release, in ascending order.
    pub fn own_locks(&self) -> impl Iterator<Item = &'a LockInfo> + '_ {
        self.held.own_locks(&self.manager.table)
    }

    /// The owner label given at acquisition (or inherited from the parent guard), as stored: cut
    /// to [`Label::CAPACITY`] bytes.
    pub fn owner(&self) -> Option<&str> {
        self.held.owner()
    }

    /// Who holds these locks, as status reports show it: the label, or the automatic holder id
    /// (`None` for a guard of no locks at all).
    pub fn holder(&self) -> Option<Owner> {
        self.held.holder()
    }

    /// The manager the locks belong to.
    pub fn manager(&self) -> &'a LockManager<T> {
        self.manager
    }

    /// Acquires more locks while holding these: a nested acquisition.
    ///
    /// Locks this guard covers are skipped. The request is refused with
    /// [`Error::OrderViolation`] (on first poll) if a new lock is ordered below the highest lock
    /// held, and with [`Error::UnknownLock`] for an unknown key; nothing is taken then. The
    /// returned guard borrows this one mutably until it is dropped, and releases only the locks
    /// it took. Options and cancel safety are those of [`Acquire`].
    #[track_caller]
    #[inline]
    pub fn acquire<I>(&mut self, keys: I) -> Acquire<'_, T>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.held.nest(self.manager, keys, Location::caller())
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
    held: Held,
}

impl<T: MaybeTimer> OwnedGuard<T> {
    #[inline]
    pub(crate) fn from_held(manager: Arc<LockManager<T>>, held: Held) -> Self {
        Self { manager, held }
    }

    /// Whether this guard covers the lock `key`. An unknown key is simply not held.
    pub fn holds<K: Key>(&self, key: K) -> bool {
        self.held.holds(&self.manager.table, key)
    }

    /// The locks this guard covers (and releases), in ascending order.
    pub fn locks(&self) -> impl Iterator<Item = &LockInfo> + '_ {
        self.held.locks(&self.manager.table)
    }

    /// The owner label given at acquisition, as stored: cut to [`Label::CAPACITY`] bytes.
    pub fn owner(&self) -> Option<&str> {
        self.held.owner()
    }

    /// Who holds these locks, as status reports show it: the label, or the automatic holder id
    /// (`None` for a guard of no locks at all).
    pub fn holder(&self) -> Option<Owner> {
        self.held.holder()
    }

    /// The manager the locks belong to.
    pub fn manager(&self) -> &Arc<LockManager<T>> {
        &self.manager
    }

    /// Acquires more locks while holding these: a nested acquisition, checked as
    /// [`Guard::acquire`] is. The nested guard borrows this one mutably.
    #[track_caller]
    #[inline]
    pub fn acquire<I>(&mut self, keys: I) -> Acquire<'_, T>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.held.nest(&self.manager, keys, Location::caller())
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn set(items: &[usize]) -> LockSet {
        let mut s = LockSet::with_len(16);
        items.iter().for_each(|&i| {
            s.insert(i);
        });
        s
    }

    fn ok(covered: &[usize], requested: &[usize]) -> Vec<usize> {
        nest(&set(covered), set(requested))
            .unwrap()
            .iter()
            .collect()
    }

    #[test]
    fn held_locks_are_skipped() {
        assert_eq!(ok(&[2], &[2, 5]), [5]);
        assert_eq!(ok(&[2, 5], &[5, 2]), Vec::<usize>::new());
    }

    #[test]
    fn higher_locks_are_allowed() {
        assert_eq!(ok(&[1, 3], &[4, 9]), [4, 9]);
        assert_eq!(ok(&[], &[0, 3]), [0, 3]);
    }

    #[test]
    fn lower_locks_are_violations_naming_lowest_request_and_highest_held() {
        assert_eq!(nest(&set(&[1, 5]), set(&[3, 7])), Err((3, 5)));
        assert_eq!(nest(&set(&[5]), set(&[0, 2, 5])), Err((0, 5)));
        // A gap below the highest held lock is still a violation.
        assert_eq!(nest(&set(&[1, 5]), set(&[2])), Err((2, 5)));
    }
}
