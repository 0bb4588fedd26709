//! `Guard`: one guard for a whole set of locks, and nested acquisition through it.

use core::fmt;

use core::panic::Location;

use crate::acquire::{Acquire, Origin, Parent};
use crate::error::Error;
use crate::manager::LockManager;
use crate::registry::{self, Key, LockInfo};
use crate::set::LockSet;
use crate::status::{HolderId, Label, Owner};
use crate::timer::{MaybeTimer, NoTimer, TimerName};

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
/// borrows its parent, so release is stack-like by construction: the child releases only what it
/// took, before the parent can release the rest.
///
/// ```
/// # use lockorder::{Error, LockManager};
/// # use futures_lite::future::block_on;
/// let mut b = LockManager::builder();
/// b.register("config", 10)?.register("db", 20)?.register("cache", 30)?;
/// let m = b.build();
/// block_on(async {
///     let outer = m.acquire(["db"]).await?;
///     let inner = outer.acquire(["db", "cache"]).await?; // "db" is held: skipped
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
/// A task that holds a lock and asks the *manager* (not its guard) for it again waits for
/// itself; with a timeout that becomes [`Error::Timeout`].
#[must_use = "if unused the locks are immediately released"]
#[clippy::has_significant_drop]
pub struct Guard<'a, T: MaybeTimer = NoTimer> {
    manager: &'a LockManager<T>,
    /// The locks this guard took, and releases.
    own: LockSet,
    /// For a nested guard: every lock it covers (its parent's and its own).
    covered: Option<LockSet>,
    owner: Option<&'static str>,
    holder: Option<HolderId>,
    /// Where the highest covered lock was taken.
    top_at: &'static Location<'static>,
}

impl<'a, T: MaybeTimer> Guard<'a, T> {
    #[inline]
    pub(crate) fn new(
        manager: &'a LockManager<T>,
        own: LockSet,
        holder: Option<HolderId>,
        owner: Option<&'static str>,
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
            manager,
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

    /// Whether this guard covers the lock `key` (taken by it or, for a nested guard, by a parent).
    /// An unknown key is simply not held.
    pub fn holds<K: Key>(&self, key: K) -> bool {
        registry::sealed::Sealed::position(&key, &self.manager.table)
            .is_ok_and(|pos| self.covered().contains(pos))
    }

    /// The locks this guard covers, in ascending order (a nested guard's include its parents').
    pub fn locks(&self) -> impl Iterator<Item = &'a LockInfo> + '_ {
        let slots = &self.manager.table.slots;
        self.covered().iter().map(move |pos| &slots[pos].info)
    }

    /// The locks this guard itself took and will release, in ascending order.
    pub fn own_locks(&self) -> impl Iterator<Item = &'a LockInfo> + '_ {
        let slots = &self.manager.table.slots;
        self.own.iter().map(move |pos| &slots[pos].info)
    }

    /// The owner label given at acquisition (or inherited from the parent guard).
    pub fn owner(&self) -> Option<&'static str> {
        self.owner
    }

    /// Who holds these locks, as status reports show it: the label, or the automatic holder id
    /// (`None` for a guard of no locks at all).
    pub fn holder(&self) -> Option<Owner> {
        match (self.owner, self.holder) {
            (Some(label), _) => Some(Owner::Label(Label::new(label))),
            (None, Some(id)) => Some(Owner::Holder(id)),
            (None, None) => None,
        }
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
    /// returned guard releases only the locks it took. Options and cancel safety are those of
    /// [`Acquire`].
    #[track_caller]
    pub fn acquire<I>(&self, keys: I) -> Acquire<'_, T>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        let table = &self.manager.table;
        let covered = self.covered();
        let want = registry::resolve(table, keys).and_then(|requested| {
            nest(covered, requested).map_err(|(requested, held)| Error::OrderViolation {
                requested: table.lock_ref(requested),
                held: table.lock_ref(held).acquired_at_location(self.top_at),
            })
        });
        let origin = Origin {
            caller: Location::caller(),
            parent: Some(Parent {
                covered,
                top_at: self.top_at,
            }),
        };
        Acquire::new(self.manager, want, origin, self.holder, self.owner)
    }

    /// A nested [`acquire`](Self::acquire) that tries once: all or nothing.
    ///
    /// # Errors
    ///
    /// As [`Acquire::try_now`].
    #[track_caller]
    pub fn try_acquire<I>(&self, keys: I) -> Result<Guard<'_, T>, Error>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.acquire(keys).try_now()
    }
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

impl<T: MaybeTimer> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        let slots = &self.manager.table.slots;
        #[cfg(feature = "stats")]
        let now = self.manager.timer.now_opt();
        for pos in self.own.iter_rev_below(usize::MAX) {
            #[cfg(feature = "stats")]
            if let (Some(now), Some(since)) = (now, slots[pos].record.acquired_at()) {
                slots[pos].stats.released(now.saturating_sub(since));
            }
            slots[pos].raw.unlock();
        }
    }
}

impl<T: MaybeTimer> fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |set: &LockSet| {
            set.iter()
                .map(|pos| self.manager.table.slots[pos].info.name())
                .collect::<alloc::vec::Vec<_>>()
        };
        f.debug_struct("Guard")
            .field("locks", &names(self.covered()))
            .field("own", &names(&self.own))
            .field("owner", &self.owner)
            .field("timer", &TimerName::<T>::new())
            .finish()
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
