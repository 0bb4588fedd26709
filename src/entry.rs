//! The entry points that build acquire futures: [`LockManager::acquire`] and its kin, and
//! nested acquisition through a guard ([`Guard::acquire`]). Above the manager, the guards and
//! the futures, so that none of them imports another's entry points.

use core::panic::Location;

use crate::acquire::{Acquire, AcquireOwned};
use crate::error::Error;
use crate::guard::{Guard, OwnedGuard};
use crate::held::{Held, Origin};
use crate::manager::LockManager;
use crate::registry::{self, Key};
use crate::set::{LockSet, Mode, Request};
use crate::sync::Arc;
use crate::timer::MaybeTimer;

impl<T: MaybeTimer> LockManager<T> {
    /// Acquires the locks named by `keys`, in ascending order, as one [`Guard`].
    ///
    /// Keys may come in any order and repeat; an empty set is ready at once. The future waits
    /// until every lock is free for it, or until its timeout (the manager's default, or
    /// [`Acquire::timeout`]) passes. Unknown keys are reported as [`Error::UnknownLock`] when the
    /// future is first polled.
    ///
    /// A lock already held by the same task *through another guard* is not special: asking the
    /// manager for it again waits for that guard. Use [`Guard::acquire`] to nest.
    #[track_caller]
    #[inline(always)]
    pub fn acquire<I>(&self, keys: I) -> Acquire<'_, T>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        let origin = Origin::new(Location::caller());
        let request = registry::resolve(&self.table.index, keys).map(|want| Request {
            want,
            shared: LockSet::EMPTY,
        });
        Acquire::new(self, request, origin, None, None)
    }

    /// Acquires the locks named by `keys` in shared (read) mode, as one [`Guard`]: many shared
    /// holders at once (up to 16,382 per lock; more wait for a place), none while an exclusive
    /// holder has the lock.
    ///
    /// Same as `self.acquire([]).shared(keys)`; mix modes in one set with
    /// [`Acquire::shared`]. Writers are not starved: once a writer waits for a lock, new shared
    /// requests for it wait too.
    ///
    /// ```
    /// # use lockorder::{Error, LockManager, Mode};
    /// let m = LockManager::builder().with_lock("config", 10)?.with_lock("db", 20)?.build();
    /// let r1 = m.try_acquire_shared(["config"])?;
    /// let r2 = m.try_acquire_shared(["config"])?; // readers share
    /// assert!(matches!(m.try_acquire(["config"]), Err(Error::WouldBlock { .. })));
    /// let w = m.acquire(["db"]).shared(["config"]).try_now()?; // one set, two modes
    /// assert_eq!(w.mode("config"), Some(Mode::Shared));
    /// # drop((r1, r2, w));
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    #[inline]
    pub fn acquire_shared<I>(&self, keys: I) -> Acquire<'_, T>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        let origin = Origin::new(Location::caller());
        let request = registry::resolve(&self.table.index, keys).map(|shared| Request {
            want: self.table.empty_set(),
            shared,
        });
        Acquire::new(self, request, origin, None, None)
    }

    /// Tries once to take every lock named by `keys` in shared mode: all or nothing.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] naming the first lock held exclusively, or one a writer waits for;
    /// [`Error::UnknownLock`].
    #[track_caller]
    pub fn try_acquire_shared<I>(&self, keys: I) -> Result<Guard<'_, T>, Error>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.acquire_shared(keys).try_now()
    }

    /// Acquires the locks named by `keys` as one [`OwnedGuard`], which holds the manager through
    /// this `Arc`: the guard can move into a spawned task or live in a struct.
    ///
    /// Everything else is as [`acquire`](Self::acquire): options, errors, cancel safety (the
    /// future is an [`AcquireOwned`], the same state machine). Building the future clones the
    /// `Arc`; nothing is allocated.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use lockorder::LockManager;
    /// # use futures_lite::future::block_on;
    /// let mut b = LockManager::builder();
    /// b.register("db", 10)?.register("cache", 20)?;
    /// let m = Arc::new(b.build());
    /// let g = block_on(m.acquire_owned(["cache", "db"]).owner("job"))?;
    /// let task = std::thread::spawn(move || g.locks().count()); // 'static: it moves
    /// assert_eq!(task.join().unwrap(), 2);
    /// # Ok::<(), lockorder::Error>(())
    /// ```
    #[cfg(target_has_atomic = "ptr")]
    #[track_caller]
    #[inline(always)]
    pub fn acquire_owned<I>(self: &Arc<Self>, keys: I) -> AcquireOwned<T>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        let request = registry::resolve(&self.table.index, keys).map(|want| Request {
            want,
            shared: LockSet::EMPTY,
        });
        AcquireOwned::new(Arc::clone(self), request)
    }

    /// Tries once to take every lock named by `keys`, as one [`OwnedGuard`]: all or nothing.
    ///
    /// Same as `self.acquire_owned(keys).try_now()`.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    #[cfg(target_has_atomic = "ptr")]
    #[track_caller]
    pub fn try_acquire_owned<I>(self: &Arc<Self>, keys: I) -> Result<OwnedGuard<T>, Error>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.acquire_owned(keys).try_now()
    }

    /// Tries once to take every lock named by `keys`: all or nothing.
    ///
    /// Same as `self.acquire(keys).try_now()`.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] naming the first busy lock, with nothing kept; [`Error::UnknownLock`].
    ///
    /// ```
    /// # use lockorder::{Error, LockManager};
    /// let mut b = LockManager::builder();
    /// b.register("db", 10)?.register("cache", 20)?;
    /// let m = b.build();
    /// let cache = m.try_acquire(["cache"])?;
    /// let err = m.try_acquire(["db", "cache"]).unwrap_err();
    /// assert!(matches!(err, Error::WouldBlock { lock } if lock == "cache"));
    /// assert!(!m.is_locked("db")?); // nothing kept
    /// # drop(cache);
    /// # Ok::<(), Error>(())
    /// ```
    #[track_caller]
    pub fn try_acquire<I>(&self, keys: I) -> Result<Guard<'_, T>, Error>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.acquire(keys).try_now()
    }
}

/// A nested acquisition of `keys` (in `mode`) through the guard whose record is `held`, on
/// `manager` (its manager), called from the caller's caller. It is checked against the guard at
/// its first poll, once every option is set.
#[inline]
#[track_caller]
fn nest<'a, T, I>(
    held: &'a Held<'a>,
    manager: &'a LockManager<T>,
    keys: I,
    mode: Mode,
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
        caller: Location::caller(),
        parent: Some(held),
    };
    Acquire::new(manager, request, origin, held.holder, held.owner)
}

/// The nesting methods of [`Guard`] and [`OwnedGuard`], written once.
macro_rules! nest_methods {
    () => {
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
            nest(&self.held, &self.manager, keys, Mode::Exclusive)
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
            nest(&self.held, &self.manager, keys, Mode::Shared)
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

impl<'a, T: MaybeTimer> Guard<'a, T> {
    nest_methods!();
}

impl<T: MaybeTimer> OwnedGuard<T> {
    nest_methods!();
}
