//! Registration and the frozen table: `Builder`, `LockInfo`, `LockId`, `Key`.
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
use crate::manager::LockManager;
use crate::raw::RawLock;
use crate::set::LockSet;
use crate::status::Record;
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

    pub(crate) fn lock_ref(&self) -> LockRef {
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

/// One frozen lock: what was registered, the lock itself, and the record of its holding.
pub(crate) struct Slot {
    pub(crate) info: LockInfo,
    pub(crate) raw: RawLock,
    pub(crate) record: Record,
    #[cfg(feature = "stats")]
    pub(crate) stats: crate::stats::Stats,
}

/// The frozen, order-sorted locks of one manager. Not generic over the timer, so that the code
/// that walks it is compiled once.
pub(crate) struct Table {
    manager: usize,
    pub(crate) slots: Box<[Slot]>,
    index: HashMap<Arc<str>, u32>,
}

impl Table {
    /// The position of the lock named `name`.
    pub(crate) fn position(&self, name: &str) -> Result<usize, Error> {
        self.index
            .get(name)
            .map(|&pos| pos as usize)
            .ok_or_else(|| Error::UnknownLock { name: name.into() })
    }

    /// The position of the lock `id`, checking that it belongs to this table.
    #[inline]
    pub(crate) fn position_of(&self, id: LockId) -> Result<usize, Error> {
        let pos = id.pos as usize;
        if id.manager == self.manager && pos < self.slots.len() {
            Ok(pos)
        } else {
            Err(Error::UnknownLock {
                name: alloc::format!("{id:?} (an id of another manager)"),
            })
        }
    }

    pub(crate) fn lock_ref(&self, pos: usize) -> LockRef {
        self.slots[pos].info.lock_ref()
    }

    #[inline]
    pub(crate) fn empty_set(&self) -> LockSet {
        LockSet::with_len(self.slots.len())
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.slots.iter().map(|s| &s.info))
            .finish()
    }
}

/// Anything that names a lock: `str`, `String`, [`LockId`], and references to those.
///
/// This trait is sealed. A name is looked up in the manager's index (one hash); a `LockId` is a
/// checked array index.
pub trait Key: sealed::Sealed {}

pub(crate) mod sealed {
    // The trait must be public to seal `Key`; `Table` stays private behind it.
    #![allow(unreachable_pub, private_interfaces)]
    use super::{Error, LockId, Table};

    pub trait Sealed {
        fn position(&self, table: &Table) -> Result<usize, Error>;
    }

    impl Sealed for str {
        fn position(&self, table: &Table) -> Result<usize, Error> {
            table.position(self)
        }
    }

    impl Sealed for alloc::string::String {
        fn position(&self, table: &Table) -> Result<usize, Error> {
            table.position(self)
        }
    }

    impl Sealed for LockId {
        #[inline]
        fn position(&self, table: &Table) -> Result<usize, Error> {
            table.position_of(*self)
        }
    }

    impl<K: Sealed + ?Sized> Sealed for &K {
        #[inline]
        fn position(&self, table: &Table) -> Result<usize, Error> {
            (**self).position(table)
        }
    }
}

impl Key for str {}
impl Key for String {}
impl Key for LockId {}
impl<K: Key + ?Sized> Key for &K {}

/// Resolves `keys` into a set over `table`; the first unknown key is the error.
#[inline(always)]
pub(crate) fn resolve<I>(table: &Table, keys: I) -> Result<LockSet, Error>
where
    I: IntoIterator,
    I::Item: Key,
{
    let mut set = table.empty_set();
    for key in keys {
        let pos = sealed::Sealed::position(&key, table)?;
        set.insert(pos);
    }
    Ok(set)
}

struct Entry {
    name: Arc<str>,
    order: u32,
    description: Box<str>,
}

/// Collects locks, then freezes them into a [`LockManager`].
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
    /// A builder without a timer. Same as [`LockManager::builder`].
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

    /// Freezes the registered locks into a manager, sorted by order.
    pub fn build(self) -> LockManager<T>
    where
        T: MaybeTimer,
    {
        LockManager::from_parts(freeze(self.entries), self.timer, self.default_timeout)
    }
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

fn freeze(mut entries: Vec<Entry>) -> Table {
    entries.sort_unstable_by_key(|e| e.order);
    let manager = NEXT_MANAGER.fetch_add(1, Ordering::Relaxed);
    let mut index = HashMap::with_capacity(entries.len());
    let slots: Box<[Slot]> = entries
        .into_iter()
        .enumerate()
        .map(|(pos, e)| {
            // Positions fit in u32: orders are unique u32s, so there are at most 2^32 locks, and
            // a table that large could not be allocated anyway.
            let pos = pos as u32;
            index.insert(e.name.clone(), pos);
            Slot {
                info: LockInfo {
                    name: e.name,
                    order: e.order,
                    description: e.description,
                    id: LockId { manager, pos },
                },
                raw: RawLock::new(),
                record: Record::new(),
                #[cfg(feature = "stats")]
                stats: crate::stats::Stats::default(),
            }
        })
        .collect();
    Table {
        manager,
        slots,
        index,
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A slot outside any manager, for unit tests of the per-slot machinery.
    pub(crate) fn slot(name: &str, order: u32) -> Slot {
        let mut b = Builder::new();
        b.register(name, order).unwrap();
        let mut t = freeze(b.entries);
        let slots = core::mem::take(&mut t.slots).into_vec();
        slots.into_iter().next().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn orders(t: &Table) -> Vec<(&str, u32)> {
        t.slots
            .iter()
            .map(|s| (s.info.name(), s.info.order()))
            .collect()
    }

    #[test]
    fn freeze_sorts_by_order_and_indexes_names() {
        let mut b = Builder::new();
        b.register("c", 30).unwrap();
        b.register("a", 10).unwrap();
        b.register_with("b", 20, "bee").unwrap();
        let t = freeze(b.entries);
        assert_eq!(orders(&t), [("a", 10), ("b", 20), ("c", 30)]);
        assert_eq!(t.position("b"), Ok(1));
        assert_eq!(t.slots[1].info.description(), "bee");
        assert_eq!(t.slots[0].info.description(), "");
        assert!(matches!(t.position("zz"), Err(Error::UnknownLock { name }) if name == "zz"));
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
        let id = ta.slots[0].info.id();
        assert_eq!(ta.position_of(id), Ok(0));
        assert!(matches!(tb.position_of(id), Err(Error::UnknownLock { .. })));
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
        let t = freeze(b.entries);
        let id = t.slots[1].info.id();
        let set = resolve(&t, ["b", "a", "b"]).unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(resolve(&t, [id]).unwrap().iter().collect::<Vec<_>>(), [1]);
        let owned = ["a".to_string()];
        assert_eq!(resolve(&t, &owned).unwrap().len(), 1);
        assert!(resolve(&t, ["a", "nope"]).is_err());
    }
}
