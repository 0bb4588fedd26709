//! `LockManager`: the frozen set of locks (the entry points that take them are in `entry`).

use core::fmt;
use core::time::Duration;

use crate::error::Error;
use crate::key::TaskKey;
use crate::registry::{self, Builder, Key, LockId, LockInfo};
use crate::table::Table;
use crate::timer::{MaybeTimer, NoTimer, Timeout, TimerName};

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
    /// Kept as the futures carry it, converted once.
    default_timeout: Timeout,
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
    pub(crate) const fn from_parts(
        table: Table,
        timer: T,
        default_timeout: Option<Duration>,
    ) -> Self {
        Self {
            table,
            timer,
            default_timeout: Timeout::new(default_timeout),
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
    /// One of `u64::MAX - 1` nanoseconds (584 years) or more reads back as `Duration::MAX`,
    /// which is how long they wait.
    pub fn default_timeout(&self) -> Option<Duration> {
        self.default_timeout.get()
    }

    /// [`default_timeout`](Self::default_timeout) as an acquire future carries it.
    #[inline]
    pub(crate) fn default_timeout_raw(&self) -> Timeout {
        self.default_timeout
    }
}

impl<T: MaybeTimer> fmt::Debug for LockManager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockManager")
            .field("locks", &self.table)
            .field("timer", &TimerName::<T>::new())
            .field("default_timeout", &self.default_timeout.get())
            .finish()
    }
}
