//! `LockManager`: the frozen set of locks and the entry points to take them.

use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use core::panic::Location;

use alloc::sync::Arc;

use crate::acquire::{Acquire, AcquireOwned, Origin};
use crate::error::Error;
use crate::guard::{Guard, OwnedGuard};
use crate::key::TaskKey;
use crate::record;
use crate::registry::{self, Builder, Key, LockId, LockInfo};
use crate::set::Mode;
use crate::set::{LockSet, Request};
use crate::status::{LockStatus, LongHold, Status};
use crate::table::Table;
use crate::timer::{MaybeTimer, NoTimer, Timer, TimerName};
use crate::watchdog::Watchdog;

/// A frozen set of named, ordered locks.
///
/// Built once by a [`Builder`]; afterwards nothing is registered or removed, so taking locks needs
/// no manager-wide lock. Every acquisition takes its locks in ascending order, which is why two
/// acquisitions can never wait for each other in a cycle.
///
/// `T` is the manager's timer: [`NoTimer`] (no timeouts) or a [`Timer`](crate::Timer).
///
/// ```
/// use lockorder::LockManager;
/// use futures_lite::future::block_on;
///
/// let mut b = LockManager::builder();
/// b.register("db", 10)?.register_with("cache", 20, "read-through cache")?;
/// let m = b.build();
///
/// block_on(async {
///     let g = m.acquire(["cache", "db"]).await?; // taken as db, then cache
///     assert!(g.holds("db") && g.holds("cache"));
///     Ok::<(), lockorder::Error>(())
/// })?;
/// # Ok::<(), lockorder::Error>(())
/// ```
pub struct LockManager<T = NoTimer> {
    pub(crate) table: Table,
    pub(crate) timer: T,
    default_timeout: Option<Duration>,
}

impl<T: MaybeTimer> Builder<T> {
    /// Freezes the registered locks into a manager, sorted by order.
    pub fn build(self) -> LockManager<T> {
        let frozen = self.freeze();
        LockManager::from_parts(
            Table::new(frozen.infos, frozen.index),
            frozen.timer,
            frozen.default_timeout,
        )
    }
}

impl LockManager<NoTimer> {
    /// A new [`Builder`], without a timer.
    pub fn builder() -> Builder<NoTimer> {
        Builder::new()
    }
}

impl<T> LockManager<T> {
    pub(crate) fn from_parts(table: Table, timer: T, default_timeout: Option<Duration>) -> Self {
        Self {
            table,
            timer,
            default_timeout,
        }
    }

    /// The id of the lock named `name`: the fastest key to acquire by.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLock`] if no such lock is registered.
    pub fn id(&self, name: &str) -> Result<LockId, Error> {
        let pos = self.table.position(name)?;
        Ok(self.table.slots[pos].info.id())
    }

    /// The lock of entity `id` in the lock family `name` (registered with
    /// [`Builder::with_family`]): member `id % stripes`, named `name#<stripe>`. The same id maps
    /// to the same member in every process and build; ids on one stripe share its lock.
    ///
    /// ```
    /// # use lockorder::{Error, LockManager};
    /// let m = LockManager::builder().with_family("account", 100, 8)?.build();
    /// let a = m.member("account", 3)?;
    /// assert_eq!(m.info(a).unwrap().order(), 103);
    /// assert_eq!(m.member("account", 11)?, a); // 11 % 8 == 3
    /// assert!(matches!(m.member("user", 3), Err(Error::UnknownLock { .. })));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLock`] if no family of that name is registered (a plain lock's name is
    /// not a family).
    pub fn member(&self, name: &str, id: u64) -> Result<LockId, Error> {
        let pos = self.table.index.member(name, id)?;
        Ok(self.table.slots[pos].info.id())
    }

    /// A new [`TaskKey`] for one task: acquisitions made with it
    /// ([`Acquire::key`](crate::futures::Acquire::key)) are checked against every lock held
    /// under it, through any guard.
    pub fn task_key(&self) -> TaskKey {
        TaskKey::new(self.table.index.manager(), self.table.empty_set())
    }

    /// What was registered for `id`; `None` for an id of another manager.
    pub fn info(&self, id: LockId) -> Option<&LockInfo> {
        let pos = self.table.position_of(id).ok()?;
        Some(&self.table.slots[pos].info)
    }

    /// What was registered for the lock `key` names, whatever kind of key it is.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLock`] for an unknown name or an id of another manager.
    pub fn lock_info<K: Key>(&self, key: K) -> Result<&LockInfo, Error> {
        let pos = registry::sealed::Sealed::position(&key, &self.table.index)?;
        Ok(&self.table.slots[pos].info)
    }

    /// Every lock, in ascending order.
    pub fn locks(&self) -> impl ExactSizeIterator<Item = &LockInfo> + DoubleEndedIterator {
        self.table.slots.iter().map(|slot| &slot.info)
    }

    /// How many locks the manager has.
    pub fn len(&self) -> usize {
        self.table.slots.len()
    }

    /// Whether the manager has no lock.
    pub fn is_empty(&self) -> bool {
        self.table.slots.is_empty()
    }

    /// Whether the lock `key` is held right now, by anyone (a snapshot).
    ///
    /// # Errors
    ///
    /// [`Error::UnknownLock`] for an unknown key.
    pub fn is_locked<K: Key>(&self, key: K) -> Result<bool, Error> {
        let pos = registry::sealed::Sealed::position(&key, &self.table.index)?;
        Ok(self.table.slots[pos].raw.is_locked())
    }

    /// The manager's timer.
    pub fn timer(&self) -> &T {
        &self.timer
    }

    /// The timeout of acquisitions that set none; `None` means they wait as long as it takes.
    pub fn default_timeout(&self) -> Option<Duration> {
        self.default_timeout
    }
}

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

impl<T: MaybeTimer> LockManager<T> {
    /// A snapshot of every lock: who holds it, since when, and (feature `stats`) its statistics.
    ///
    /// Reading never blocks an acquirer and takes no lock: each lock costs the reader a handful
    /// of atomic loads, and the fields of each entry are checked to belong to one holding. It is
    /// not free for acquirers, though: the reader pulls the slots' cache lines to its core, and a
    /// holder must pull them back. Read at a watchdog's pace (once a millisecond), that costs
    /// nothing measurable; read in a tight loop from another core, it made an uncontended
    /// 4-lock acquire 3 to 14 times slower in our runs (`cargo bench --bench status`). See
    /// [`Status`] for an example.
    pub fn status(&self) -> Status<'_> {
        let now = self.timer.now_opt();
        let locks = self
            .table
            .slots
            .iter()
            .map(|slot| {
                let reading = record::read(&slot.raw, &slot.record);
                LockStatus {
                    name: slot.info.name(),
                    order: slot.info.order(),
                    description: slot.info.description(),
                    owner: reading.owner,
                    acquired_at: reading.acquired_at,
                    is_locked: reading.holding.is_some(),
                    mode: reading.holding.map(|h| h.mode),
                    readers: reading
                        .holding
                        .filter(|h| h.mode == Mode::Shared)
                        .map_or(0, |h| h.readers),
                    #[cfg(feature = "stats")]
                    stats: slot.stats.snapshot(),
                }
            })
            .collect();
        Status::new(locks, now)
    }

    /// The locks held strictly longer than `threshold`, in ascending order.
    ///
    /// Hold times come from the timer, so a manager without one ([`NoTimer`]) reports none. The
    /// seed of this crate warned at 30 seconds; here the caller chooses. To be told of each long
    /// hold once, as it happens, run a [`Watchdog`](crate::futures::Watchdog).
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use lockorder::{LockManager, ManualTimer};
    /// let timer = ManualTimer::new();
    /// let mut b = LockManager::builder().timer(timer.clone());
    /// b.register("db", 10)?;
    /// let m = b.build();
    /// let g = m.acquire(["db"]).owner("worker-3").try_now()?;
    /// timer.advance(Duration::from_secs(30));
    /// assert!(m.long_held(Duration::from_secs(30)).is_empty()); // not strictly longer
    /// timer.advance(Duration::from_millis(1));
    /// let warnings = m.long_held(Duration::from_secs(30));
    /// assert_eq!(
    ///     warnings[0].to_string(),
    ///     "potential deadlock: lock `db` (order 10) held by worker-3 for 30.001s \
    ///      (more than 30.000s); check that its holder is not stuck"
    /// );
    /// # drop(g);
    /// # Ok::<(), lockorder::Error>(())
    /// ```
    pub fn long_held(&self, threshold: Duration) -> Vec<LongHold> {
        let Some(now) = self.timer.now_opt() else {
            return Vec::new();
        };
        self.table
            .slots
            .iter()
            .filter_map(|slot| {
                let reading = record::read(&slot.raw, &slot.record);
                let generation = reading.generation()?;
                let held_for = now.saturating_sub(reading.acquired_at?);
                (held_for > threshold).then(|| LongHold {
                    lock: slot.info.lock_ref(),
                    owner: reading.owner,
                    held_for,
                    threshold,
                    generation,
                })
            })
            .collect()
    }
}

impl<T: Timer> LockManager<T> {
    /// A [`Watchdog`] future reporting, every `period`, each lock held longer than `threshold` —
    /// once per holding. Spawn it on any executor; it never completes.
    pub fn watchdog<F>(
        &self,
        period: Duration,
        threshold: Duration,
        report: F,
    ) -> Watchdog<'_, T, F>
    where
        F: FnMut(&LongHold),
    {
        Watchdog::new(self, period, threshold, report)
    }
}

impl<T: MaybeTimer> fmt::Debug for LockManager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockManager")
            .field("locks", &self.table)
            .field("timer", &TimerName::<T>::new())
            .field("default_timeout", &self.default_timeout)
            .finish()
    }
}
