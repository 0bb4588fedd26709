//! `LockManager`: the frozen set of locks and the entry points to take them.

use core::fmt;
use core::time::Duration;

use crate::acquire::Acquire;
use crate::error::Error;
use crate::guard::Guard;
use crate::registry::{self, Builder, Key, LockId, LockInfo, Table};
use crate::timer::{MaybeTimer, NoTimer, TimerName};

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

    /// What was registered for `id`; `None` for an id of another manager.
    pub fn info(&self, id: LockId) -> Option<&LockInfo> {
        let pos = self.table.position_of(id).ok()?;
        Some(&self.table.slots[pos].info)
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
        let pos = registry::sealed::Sealed::position(&key, &self.table)?;
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
    pub fn acquire<I>(&self, keys: I) -> Acquire<'_, T>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        Acquire::new(self, registry::resolve(&self.table, keys), None, None)
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
    pub fn try_acquire<I>(&self, keys: I) -> Result<Guard<'_, T>, Error>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.acquire(keys).try_now()
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
