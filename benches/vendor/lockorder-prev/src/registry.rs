//! Registration and keys: `Builder`, `LockInfo`, `LockId`, `Key`, and the name index.
//!
//! Everything here is plain data checked without atomics, wakers or timers. A `Builder` collects
//! `(name, order, description)`; `freeze` sorts them by order into a boxed array of slots plus a
//! name index. A lock's position in that array is its rank.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;

use hashbrown::HashMap;

use crate::error::{Error, LockRef};
use crate::set::LockSet;
use crate::timer::{MaybeTimer, NoTimer, Timer, TimerName};

/// Gives every manager an identity, so that a `LockId` of one manager is never taken for a lock of
/// another. Starts at 1; wraps only after `usize::MAX` managers.
static NEXT_MANAGER: AtomicUsize = AtomicUsize::new(1);

/// A handle to a registered lock: the fastest key (no hashing).
///
/// An id remembers the manager it came from: used with another manager it is
/// [`Error::UnknownLock`], never some other lock.
///
/// ```
/// # use lockorder::LockManager;
/// let mut b = LockManager::builder();
/// b.register("db", 10)?;
/// let m = b.build();
/// let db = m.id("db")?;
/// assert_eq!(m.info(db).unwrap().name(), "db");
/// # Ok::<(), lockorder::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockId {
    manager: usize,
    pos: u32,
}

impl fmt::Debug for LockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LockId(#{} of manager {})", self.pos, self.manager)
    }
}

/// What was registered for one lock: name, order, description.
pub struct LockInfo {
    pub(crate) name: Arc<str>,
    order: u32,
    description: Box<str>,
    id: LockId,
}

impl LockInfo {
    /// The lock's unique name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lock's unique order: locks are always taken in ascending order.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// The description given at registration (`""` when none).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The lock's id in its manager.
    pub fn id(&self) -> LockId {
        self.id
    }

    /// The lock as errors name it (name and order); cheap to clone. For code that builds its own
    /// errors around this crate's, such as a lock service over the same hierarchy.
    pub fn lock_ref(&self) -> LockRef {
        LockRef::new(self.name.clone(), self.order)
    }
}

impl fmt::Debug for LockInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockInfo")
            .field("name", &&*self.name)
            .field("order", &self.order)
            .field("description", &&*self.description)
            .finish()
    }
}

/// The name index of a frozen set of locks: each name's position, and which manager's ids are
/// valid in it. Plain data: keys are resolved against it without touching a lock.
pub(crate) struct Index {
    manager: usize,
    names: HashMap<Arc<str>, u32>,
    len: usize,
}

impl Index {
    /// The position of the lock named `name`.
    pub(crate) fn position(&self, name: &str) -> Result<usize, Error> {
        self.names
            .get(name)
            .map(|&pos| pos as usize)
            .ok_or_else(|| Error::UnknownLock { name: name.into() })
    }

    /// The position of the lock `id`, checking that it belongs to this index's manager.
    #[inline]
    pub(crate) fn position_of(&self, id: LockId) -> Result<usize, Error> {
        let pos = id.pos as usize;
        if id.manager == self.manager && pos < self.len {
            Ok(pos)
        } else {
            Err(Error::UnknownLock {
                name: alloc::format!("{id:?} (an id of another manager)"),
            })
        }
    }

    /// An empty set able to hold every lock.
    #[inline]
    pub(crate) fn empty_set(&self) -> LockSet {
        LockSet::with_len(self.len)
    }
}

/// Anything that names a lock: `str`, `String`, [`LockId`], and references to those.
///
/// This trait is sealed. A name is looked up in the manager's index (one hash); a `LockId` is a
/// checked array index.
pub trait Key: sealed::Sealed {}

pub(crate) mod sealed {
    // The trait must be public to seal `Key`; `Index` stays private behind it.
    #![allow(unreachable_pub, private_interfaces)]
    use super::{Error, Index, LockId};

    pub trait Sealed {
        fn position(&self, index: &Index) -> Result<usize, Error>;
    }

    impl Sealed for str {
        fn position(&self, index: &Index) -> Result<usize, Error> {
            index.position(self)
        }
    }

    impl Sealed for alloc::string::String {
        fn position(&self, index: &Index) -> Result<usize, Error> {
            index.position(self)
        }
    }

    impl Sealed for LockId {
        #[inline]
        fn position(&self, index: &Index) -> Result<usize, Error> {
            index.position_of(*self)
        }
    }

    impl<K: Sealed + ?Sized> Sealed for &K {
        #[inline]
        fn position(&self, index: &Index) -> Result<usize, Error> {
            (**self).position(index)
        }
    }
}

impl Key for str {}
impl Key for String {}
impl Key for LockId {}
impl<K: Key + ?Sized> Key for &K {}

/// Resolves `keys` into a set over `index`; the first unknown key is the error.
#[inline(always)]
pub(crate) fn resolve<I>(index: &Index, keys: I) -> Result<LockSet, Error>
where
    I: IntoIterator,
    I::Item: Key,
{
    let mut set = index.empty_set();
    for key in keys {
        let pos = sealed::Sealed::position(&key, index)?;
        set.insert(pos);
    }
    Ok(set)
}

struct Entry {
    name: Arc<str>,
    order: u32,
    description: Box<str>,
}

/// Collects locks, then freezes them into a [`LockManager`](crate::LockManager).
///
/// ```
/// use lockorder::{Error, LockManager};
///
/// let mut b = LockManager::builder();
/// b.register("db", 10)?
///     .register_with("cache", 20, "read-through cache")?;
/// // A failed registration changes nothing:
/// assert!(matches!(b.register("db", 30), Err(Error::DuplicateName { .. })));
/// assert!(matches!(b.register("queue", 10), Err(Error::DuplicateOrder { .. })));
/// let m = b.build();
/// assert_eq!(m.locks().map(|l| l.name()).collect::<Vec<_>>(), ["db", "cache"]);
/// # Ok::<(), Error>(())
/// ```
pub struct Builder<T = NoTimer> {
    entries: Vec<Entry>,
    names: HashMap<Arc<str>, u32>,
    orders: HashMap<u32, Arc<str>>,
    timer: T,
    default_timeout: Option<Duration>,
}

impl Builder<NoTimer> {
    /// A builder without a timer. Same as [`LockManager::builder`](crate::LockManager::builder).
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            names: HashMap::new(),
            orders: HashMap::new(),
            timer: NoTimer,
            default_timeout: None,
        }
    }
}

impl Default for Builder<NoTimer> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Builder<T> {
    /// Registers a lock with an empty description.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateName`], [`Error::DuplicateOrder`] or [`Error::EmptyName`]; the builder is
    /// then unchanged.
    pub fn register(&mut self, name: &str, order: u32) -> Result<&mut Self, Error> {
        self.register_with(name, order, "")
    }

    /// Registers a lock with a description, shown in status reports.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    pub fn register_with(
        &mut self,
        name: &str,
        order: u32,
        description: &str,
    ) -> Result<&mut Self, Error> {
        if name.is_empty() {
            return Err(Error::EmptyName { order });
        }
        if self.names.contains_key(name) {
            return Err(Error::DuplicateName { name: name.into() });
        }
        if let Some(existing) = self.orders.get(&order) {
            return Err(Error::DuplicateOrder {
                order,
                name: name.into(),
                existing: (**existing).to_owned(),
            });
        }
        let name: Arc<str> = name.into();
        self.names.insert(name.clone(), order);
        self.orders.insert(order, name.clone());
        self.entries.push(Entry {
            name,
            order,
            description: description.into(),
        });
        Ok(self)
    }

    /// Registers a lock and hands the builder back by value, so that a builder chains from
    /// [`LockManager::builder`](crate::LockManager::builder) to [`build`](Self::build) in one expression.
    ///
    /// ```
    /// use lockorder::{LockManager, ManualTimer};
    ///
    /// let m = LockManager::builder()
    ///     .timer(ManualTimer::new())
    ///     .with_lock("db", 10)?
    ///     .with_lock_described("cache", 20, "read-through cache")?
    ///     .build();
    /// assert_eq!(m.len(), 2);
    /// # Ok::<(), lockorder::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register); the builder is dropped with the error.
    pub fn with_lock(self, name: &str, order: u32) -> Result<Self, Error> {
        self.with_lock_described(name, order, "")
    }

    /// [`with_lock`](Self::with_lock) with a description, shown in status reports.
    ///
    /// # Errors
    ///
    /// As [`register`](Self::register).
    pub fn with_lock_described(
        mut self,
        name: &str,
        order: u32,
        description: &str,
    ) -> Result<Self, Error> {
        self.register_with(name, order, description)?;
        Ok(self)
    }

    /// Registers several locks, all or none: on an error the builder is unchanged.
    pub(crate) fn register_all(&mut self, locks: &[(&str, u32, &str)]) -> Result<(), Error> {
        let before = self.entries.len();
        for &(name, order, description) in locks {
            if let Err(e) = self.register_with(name, order, description) {
                for entry in self.entries.drain(before..) {
                    self.names.remove(&entry.name);
                    self.orders.remove(&entry.order);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Whether a lock of this name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// How many locks are registered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no lock is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Gives the manager a [`Timer`], for timeouts and timestamps.
    ///
    /// A timer alone sets no default timeout: without
    /// [`default_timeout`](Self::default_timeout), an acquire waits until it gets its locks.
    pub fn timer<U: Timer>(self, timer: U) -> Builder<U> {
        Builder {
            entries: self.entries,
            names: self.names,
            orders: self.orders,
            timer,
            default_timeout: self.default_timeout,
        }
    }

    /// The registered locks sorted by order, with their index, and the timer and default
    /// timeout: what [`build`](Self::build) freezes into a manager.
    pub(crate) fn freeze(self) -> Frozen<T> {
        let (infos, index) = freeze(self.entries);
        Frozen {
            infos,
            index,
            timer: self.timer,
            default_timeout: self.default_timeout,
        }
    }
}

/// A builder's locks, sorted and indexed, ready to become a manager's table.
pub(crate) struct Frozen<T> {
    pub(crate) infos: Vec<LockInfo>,
    pub(crate) index: Index,
    pub(crate) timer: T,
    pub(crate) default_timeout: Option<Duration>,
}

impl<T: Timer> Builder<T> {
    /// The timeout of every acquire that does not set its own
    /// ([`Acquire::timeout`](crate::futures::Acquire::timeout),
    /// [`no_timeout`](crate::futures::Acquire::no_timeout)).
    ///
    /// A zero timeout means "try once".
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = Some(timeout);
        self
    }
}

impl<T: MaybeTimer> fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field(
                "locks",
                &self
                    .entries
                    .iter()
                    .map(|e| (&*e.name, e.order))
                    .collect::<Vec<_>>(),
            )
            .field("timer", &TimerName::<T>::new())
            .field("default_timeout", &self.default_timeout)
            .finish()
    }
}

fn freeze(mut entries: Vec<Entry>) -> (Vec<LockInfo>, Index) {
    entries.sort_unstable_by_key(|e| e.order);
    let manager = NEXT_MANAGER.fetch_add(1, Ordering::Relaxed);
    let mut names = HashMap::with_capacity(entries.len());
    let len = entries.len();
    let infos = entries
        .into_iter()
        .enumerate()
        .map(|(pos, e)| {
            // Positions fit in u32: orders are unique u32s, so there are at most 2^32 locks, and
            // a table that large could not be allocated anyway.
            let pos = pos as u32;
            names.insert(e.name.clone(), pos);
            LockInfo {
                name: e.name,
                order: e.order,
                description: e.description,
                id: LockId { manager, pos },
            }
        })
        .collect();
    (
        infos,
        Index {
            manager,
            names,
            len,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn orders(t: &(Vec<LockInfo>, Index)) -> Vec<(&str, u32)> {
        t.0.iter().map(|i| (i.name(), i.order())).collect()
    }

    #[test]
    fn freeze_sorts_by_order_and_indexes_names() {
        let mut b = Builder::new();
        b.register("c", 30).unwrap();
        b.register("a", 10).unwrap();
        b.register_with("b", 20, "bee").unwrap();
        let t = freeze(b.entries);
        assert_eq!(orders(&t), [("a", 10), ("b", 20), ("c", 30)]);
        assert_eq!(t.1.position("b"), Ok(1));
        assert_eq!(t.0[1].description(), "bee");
        assert_eq!(t.0[0].description(), "");
        assert!(matches!(t.1.position("zz"), Err(Error::UnknownLock { name }) if name == "zz"));
    }

    #[test]
    fn failed_registration_changes_nothing() {
        let mut b = Builder::new();
        b.register("a", 1).unwrap();
        assert_eq!(
            b.register("a", 2).unwrap_err(),
            Error::DuplicateName { name: "a".into() }
        );
        assert_eq!(
            b.register("b", 1).unwrap_err(),
            Error::DuplicateOrder {
                order: 1,
                name: "b".into(),
                existing: "a".into()
            }
        );
        assert_eq!(
            b.register("", 3).unwrap_err(),
            Error::EmptyName { order: 3 }
        );
        assert_eq!(b.len(), 1);
        assert!(!b.contains("b"));
        // Order 2 and name "b" are still free.
        b.register("b", 2).unwrap();
        assert_eq!(orders(&freeze(b.entries)), [("a", 1), ("b", 2)]);
    }

    #[test]
    fn errors_name_both_locks() {
        let mut b = Builder::new();
        b.register("db", 10).unwrap();
        let msg = b.register("cache", 10).unwrap_err().to_string();
        assert!(msg.contains("`cache`") && msg.contains("`db`") && msg.contains("10"));
    }

    #[test]
    fn ids_of_another_table_are_unknown() {
        let mut a = Builder::new();
        a.register("x", 1).unwrap();
        let mut b = Builder::new();
        b.register("x", 1).unwrap();
        let (ta, tb) = (freeze(a.entries), freeze(b.entries));
        let id = ta.0[0].id();
        assert_eq!(ta.1.position_of(id), Ok(0));
        assert!(matches!(
            tb.1.position_of(id),
            Err(Error::UnknownLock { .. })
        ));
    }

    #[test]
    fn extreme_orders_are_fine() {
        let mut b = Builder::new();
        b.register("max", u32::MAX).unwrap();
        b.register("min", 0).unwrap();
        assert_eq!(orders(&freeze(b.entries)), [("min", 0), ("max", u32::MAX)]);
    }

    #[test]
    fn keys_resolve_and_fold() {
        let mut b = Builder::new();
        b.register("a", 1).unwrap().register("b", 2).unwrap();
        let (infos, t) = freeze(b.entries);
        let id = infos[1].id();
        let t = &t;
        let set = resolve(t, ["b", "a", "b"]).unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(resolve(t, [id]).unwrap().iter().collect::<Vec<_>>(), [1]);
        let owned = ["a".to_string()];
        assert_eq!(resolve(t, &owned).unwrap().len(), 1);
        assert!(resolve(t, ["a", "nope"]).is_err());
    }
}
