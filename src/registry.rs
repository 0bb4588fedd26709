//! Registration and keys: `Builder`, `LockInfo`, `LockId`, `Key`, and the name index.
//!
//! Everything here is plain data checked without atomics, wakers or timers. A `Builder` collects
//! `(name, order, description)`; `freeze` sorts them by order into a boxed array of slots plus a
//! name index. A lock's position in that array is its rank.

use crate::sync::plain::{AtomicUsize, Ordering};
use crate::sync::Arc;
use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use hashbrown::HashMap;

use crate::error::{Error, LockRef};
use crate::family::{self, Family};
use crate::set::LockSet;
use crate::text::Text;
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
    manager: Owner,
    pos: u32,
}

/// The manager an id belongs to: a built one's number, or where a declared one's index lives.
///
/// A declared manager ([`hierarchy!`](crate::hierarchy)) is a `static`, so the address of its
/// index is its own for the whole program: unlike a hash of where it was declared, two
/// declarations can never share it (one macro can declare a hierarchy in several modules or
/// function bodies under one name, from one call site).
#[derive(Clone, Copy)]
enum Owner {
    Built(usize),
    Declared(&'static Index),
}

impl PartialEq for Owner {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Owner::Built(a), Owner::Built(b)) => a == b,
            (Owner::Declared(a), Owner::Declared(b)) => core::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

impl Eq for Owner {}

impl core::hash::Hash for Owner {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        match self {
            Owner::Built(n) => n.hash(state),
            Owner::Declared(index) => core::ptr::hash(*index, state),
        }
    }
}

impl fmt::Debug for LockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.manager {
            Owner::Built(n) => write!(f, "LockId(#{} of manager {n})", self.pos),
            Owner::Declared(index) => {
                write!(f, "LockId(#{} of declared manager {index:p})", self.pos)
            }
        }
    }
}

/// What was registered for one lock: name, order, description.
pub struct LockInfo {
    pub(crate) name: Text,
    order: u32,
    description: Text,
    id: LockId,
}

impl LockId {
    /// The id at `pos` of the declared manager whose index is `index`
    /// ([`hierarchy!`](crate::hierarchy)).
    pub(crate) const fn fixed(index: &'static Index, pos: u32) -> Self {
        Self {
            manager: Owner::Declared(index),
            pos,
        }
    }
}

impl LockInfo {
    /// A lock declared in the program ([`hierarchy!`](crate::hierarchy)).
    pub(crate) const fn fixed(
        name: &'static str,
        order: u32,
        description: &'static str,
        id: LockId,
    ) -> Self {
        Self {
            name: Text::Static(name),
            order,
            description: Text::Static(description),
            id,
        }
    }
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
    names: Names,
    len: usize,
}

/// How an index finds a name.
enum Names {
    /// Registered at run time: hashed, with the families registered and the manager's identity.
    Hashed {
        names: HashMap<Arc<str>, u32>,
        families: HashMap<Arc<str>, Family>,
        /// The manager's identity for data bound to it ([`Protected`](crate::Protected)): an
        /// allocation that whoever holds a clone keeps alive, so its address is never another
        /// live manager's, even after this one is gone (a counter could wrap).
        identity: Arc<Identity>,
    },
    /// Declared in the program, in order ([`hierarchy!`](crate::hierarchy)): scanned. No
    /// families; the identity is the address of the declared slots (see
    /// [`Table::bound`](crate::table::Table::bound)).
    Fixed(&'static [&'static str]),
}

impl Index {
    /// The index of a declared manager whose locks are `names`, in order.
    pub(crate) const fn fixed(names: &'static [&'static str]) -> Self {
        Self {
            manager: 0, // unused: a declared index's identity is its address
            names: Names::Fixed(names),
            len: names.len(),
        }
    }

    /// The position of the lock named `name`, if there is one.
    #[inline]
    fn find(&self, name: &str) -> Option<usize> {
        match &self.names {
            Names::Hashed { names, .. } => names.get(name).map(|&pos| pos as usize),
            Names::Fixed(names) => names.iter().position(|n| *n == name),
        }
    }

    /// The position of the lock `id` if it belongs to this index's manager.
    #[inline]
    fn find_id(&self, id: LockId) -> Option<usize> {
        let pos = id.pos as usize;
        let ours = match (id.manager, &self.names) {
            (Owner::Built(n), Names::Hashed { .. }) => n == self.manager,
            (Owner::Declared(index), Names::Fixed(_)) => core::ptr::eq(index, self),
            _ => false,
        };
        (ours && pos < self.len).then_some(pos)
    }

    /// The position of the member of family `name` that holds entity `id`.
    pub(crate) fn member(&self, name: &str, id: u64) -> Result<usize, Error> {
        let family = match &self.names {
            Names::Hashed { families, .. } => families.get(name),
            Names::Fixed(_) => None,
        };
        match family {
            Some(family) => Ok(family.position(id)),
            None => Err(Error::UnknownLock {
                name: alloc::format!("{name} (as a lock family)"),
            }),
        }
    }

    /// The identity of the manager this index belongs to: a built one's number, or a declared
    /// one's address with the top bit set (built numbers count up from 1 and stay below it).
    #[inline]
    pub(crate) fn manager(&self) -> usize {
        match self.names {
            Names::Hashed { .. } => self.manager,
            Names::Fixed(_) => (self as *const Self as usize) | !(usize::MAX >> 1),
        }
    }

    /// A built manager's identity as data bound to it keeps it (compare with `Arc::ptr_eq`);
    /// `None` for a declared one.
    #[inline]
    pub(crate) fn identity(&self) -> Option<&Arc<Identity>> {
        match &self.names {
            Names::Hashed { identity, .. } => Some(identity),
            Names::Fixed(_) => None,
        }
    }

    /// An empty set able to hold every lock.
    #[inline]
    pub(crate) fn empty_set(&self) -> LockSet {
        LockSet::with_len(self.len)
    }
}

/// The error for a name that no lock of the index has. Out of line: the lookups stay small.
#[cold]
#[inline(never)]
fn unknown_name(name: &str) -> Error {
    Error::UnknownLock { name: name.into() }
}

/// The error for an id of another manager. Out of line: the lookups stay small.
#[cold]
fn unknown_id(id: LockId) -> Error {
    Error::UnknownLock {
        name: alloc::format!("{id:?} (an id of another manager)"),
    }
}

/// The identity of one manager (see [`Index::identity`]): nothing but its address.
#[derive(Debug)]
pub(crate) struct Identity;

/// Anything that names a lock: `str`, `String`, [`LockId`], and references to those.
///
/// This trait is sealed. A name is looked up in the manager's index (one hash); a `LockId` is a
/// checked array index.
///
/// Sealed means its methods are the crate's alone: code outside cannot implement it, nor call
/// the lookups it carries (they take the manager's index, which has no public name), so it
/// cannot build a lock error either:
///
/// ```compile_fail
/// fn error_of<K: lockorder::Key>(key: K) -> lockorder::Error {
///     key.unknown()
/// }
/// ```
pub trait Key: sealed::Sealed {}

pub(crate) mod sealed {
    // The trait must be public to seal `Key`; `Index` stays private behind it.
    #![allow(unreachable_pub, private_interfaces)]
    use super::{unknown_id, unknown_name, Error, Index, LockId};

    pub trait Sealed {
        /// The key's position in `index`, if it names one of its locks.
        fn find(&self, index: &Index) -> Option<usize>;

        /// The error for a key that [`find`](Self::find) does not find, built in a cold
        /// function: a caller's lookup loop then carries a small `Option` per key rather than a
        /// `Result` the size of an [`Error`]. `index` is unused; it keeps the method out of
        /// reach outside the crate, where an [`Index`] cannot be named (without it, any
        /// `K: Key` could build an `Error`, which is `#[non_exhaustive]`).
        fn unknown(&self, index: &Index) -> Error;

        #[inline]
        fn position(&self, index: &Index) -> Result<usize, Error> {
            match self.find(index) {
                Some(pos) => Ok(pos),
                None => Err(self.unknown(index)),
            }
        }
    }

    impl Sealed for str {
        fn find(&self, index: &Index) -> Option<usize> {
            index.find(self)
        }

        fn unknown(&self, _: &Index) -> Error {
            unknown_name(self)
        }
    }

    impl Sealed for alloc::string::String {
        fn find(&self, index: &Index) -> Option<usize> {
            index.find(self)
        }

        fn unknown(&self, _: &Index) -> Error {
            unknown_name(self)
        }
    }

    impl Sealed for LockId {
        #[inline]
        fn find(&self, index: &Index) -> Option<usize> {
            index.find_id(*self)
        }

        fn unknown(&self, _: &Index) -> Error {
            unknown_id(*self)
        }
    }

    impl<K: Sealed + ?Sized> Sealed for &K {
        #[inline]
        fn find(&self, index: &Index) -> Option<usize> {
            (**self).find(index)
        }

        fn unknown(&self, index: &Index) -> Error {
            (**self).unknown(index)
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
    // The loop carries each key's position, or the key itself, rather than a `Result` the size
    // of an `Error`: the error of the first unknown key is built out of line, after the loop.
    index
        .empty_set()
        .try_extend(
            keys.into_iter()
                .map(|key| match sealed::Sealed::find(&key, index) {
                    Some(pos) => Ok(pos),
                    None => Err(key),
                }),
        )
        .map_err(|key| sealed::Sealed::unknown(&key, index))
}

struct Entry {
    name: Arc<str>,
    order: u32,
    description: Arc<str>,
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
    /// Each family's name, first order and number of stripes.
    families: Vec<(Arc<str>, u32, u32)>,
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
            families: Vec::new(),
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

    /// Registers a family of `stripes` locks at the consecutive orders
    /// `first_order..first_order + stripes`, named `name#0`, `name#1`, …: one lock per stripe of
    /// entities created at run time (accounts, rows, users), found with
    /// [`LockManager::member`](crate::LockManager::member).
    ///
    /// An entity `id` belongs to stripe `id % stripes`, in every process and every build, so
    /// sequential ids spread over the stripes and ids on one stripe share its lock. Members are
    /// ordinary locks: they mix with other locks in one request, and status names them
    /// (`account#17`).
    ///
    /// ```
    /// use lockorder::{Error, LockManager};
    ///
    /// let m = LockManager::builder()
    ///     .with_lock("ledger", 10)?
    ///     .with_family("account", 100, 64)? // 64 locks at orders 100..=163
    ///     .build();
    /// let a = m.member("account", 17)?;
    /// assert_eq!(m.info(a).unwrap().name(), "account#17");
    /// assert_eq!(m.member("account", 17 + 64)?, a); // the same stripe: the same lock
    /// let g = m.try_acquire([a, m.member("account", 3)?, m.id("ledger")?])?;
    /// assert!(g.holds("account#3") && g.holds("ledger"));
    /// # drop(g);
    /// // Overlapping orders are refused like any duplicate order:
    /// let e = LockManager::builder().with_lock("audit", 130)?.with_family("account", 100, 64);
    /// assert!(matches!(e, Err(Error::DuplicateOrder { order: 130, .. })));
    /// # Ok::<(), Error>(())
    /// ```
    ///
    /// Each member is a lock of the table. A manager of more than 128 locks keeps its lock sets
    /// on the heap (an allocation per acquire), and every set is a bit set as wide as the whole
    /// manager, so an acquire's cost grows with the number of locks, not only with the number
    /// it takes: one lock of a 65,536-member family took about 1.5 µs to acquire and release,
    /// against about 60 ns in a manager of 127 locks (release build, one run). Size families
    /// with that in mind: stripes beyond the concurrency you expect buy little.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidFamily`] for zero stripes, more than 65,536, or orders past `u32::MAX`;
    /// [`Error::DuplicateOrder`] naming the lowest order of the range already taken;
    /// [`Error::DuplicateName`] for a family name given twice or a member name already
    /// registered; [`Error::EmptyName`]. The builder is then unchanged.
    pub fn register_family(
        &mut self,
        name: &str,
        first_order: u32,
        stripes: u32,
    ) -> Result<&mut Self, Error> {
        let last_order = family::check(name, first_order, stripes)?;
        if self.families.iter().any(|(n, _, _)| **n == *name) {
            return Err(Error::DuplicateName { name: name.into() });
        }
        if let Some((&order, existing)) = self
            .orders
            .iter()
            .filter(|(&o, _)| (first_order..=last_order).contains(&o))
            .min_by_key(|(&o, _)| o)
        {
            return Err(Error::DuplicateOrder {
                order,
                name: family::member_name(name, order - first_order),
                existing: (**existing).to_owned(),
            });
        }
        let before = self.entries.len();
        for stripe in 0..stripes {
            let member = family::member_name(name, stripe);
            if let Err(e) = self.register_with(&member, first_order + stripe, "") {
                self.forget_from(before);
                return Err(e);
            }
        }
        self.families.push((name.into(), first_order, stripes));
        Ok(self)
    }

    /// [`register_family`](Self::register_family), handing the builder back by value for
    /// chaining, like [`with_lock`](Self::with_lock).
    ///
    /// # Errors
    ///
    /// As [`register_family`](Self::register_family); the builder is dropped with the error.
    pub fn with_family(
        mut self,
        name: &str,
        first_order: u32,
        stripes: u32,
    ) -> Result<Self, Error> {
        self.register_family(name, first_order, stripes)?;
        Ok(self)
    }

    /// Unregisters every lock registered after the first `before`.
    fn forget_from(&mut self, before: usize) {
        for entry in self.entries.drain(before..) {
            self.names.remove(&entry.name);
            self.orders.remove(&entry.order);
        }
    }

    /// Registers several locks, all or none: on an error the builder is unchanged.
    pub(crate) fn register_all(&mut self, locks: &[(&str, u32, &str)]) -> Result<(), Error> {
        let before = self.entries.len();
        for &(name, order, description) in locks {
            if let Err(e) = self.register_with(name, order, description) {
                self.forget_from(before);
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
            families: self.families,
            timer,
            default_timeout: self.default_timeout,
        }
    }

    /// The registered locks sorted by order, with their index, and the timer and default
    /// timeout: what [`build`](Self::build) freezes into a manager.
    pub(crate) fn freeze(self) -> Frozen<T> {
        let (infos, index) = freeze(self.entries, &self.families);
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

// The `Timer` bound is the method's, so that a builder without a timer gets the trait's
// diagnostic (give the builder a timer) rather than "method not found".
impl<T> Builder<T> {
    /// The timeout of every acquire that does not set its own
    /// ([`Acquire::timeout`](crate::futures::Acquire::timeout),
    /// [`no_timeout`](crate::futures::Acquire::no_timeout)).
    ///
    /// A zero timeout means "try once". Needs a timer ([`timer`](Self::timer) first).
    pub fn default_timeout(mut self, timeout: Duration) -> Self
    where
        T: Timer,
    {
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

fn freeze(mut entries: Vec<Entry>, families: &[(Arc<str>, u32, u32)]) -> (Vec<LockInfo>, Index) {
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
                name: e.name.into(),
                order: e.order,
                description: e.description.into(),
                id: LockId {
                    manager: Owner::Built(manager),
                    pos,
                },
            }
        })
        .collect();
    // Members sit at consecutive positions from their first one's.
    let families = families
        .iter()
        .filter_map(|(name, _, stripes)| {
            let first_pos = *names.get(&*family::member_name(name, 0))?;
            Some((
                name.clone(),
                Family {
                    first_pos,
                    stripes: *stripes,
                },
            ))
        })
        .collect();
    (
        infos,
        Index {
            manager,
            names: Names::Hashed {
                names,
                families,
                identity: Arc::new(Identity),
            },
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
        let t = freeze(b.entries, &[]);
        assert_eq!(orders(&t), [("a", 10), ("b", 20), ("c", 30)]);
        assert_eq!(sealed::Sealed::position("b", &t.1), Ok(1));
        assert_eq!(t.0[1].description(), "bee");
        assert_eq!(t.0[0].description(), "");
        assert!(matches!(
            sealed::Sealed::position("zz", &t.1),
            Err(Error::UnknownLock { name }) if name == "zz"
        ));
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
        assert_eq!(orders(&freeze(b.entries, &[])), [("a", 1), ("b", 2)]);
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
        let (ta, tb) = (freeze(a.entries, &[]), freeze(b.entries, &[]));
        let id = ta.0[0].id();
        assert_eq!(sealed::Sealed::position(&id, &ta.1), Ok(0));
        assert!(matches!(
            sealed::Sealed::position(&id, &tb.1),
            Err(Error::UnknownLock { .. })
        ));
    }

    #[test]
    fn resolve_names_the_first_unknown_key_and_keeps_every_known_one() {
        for len in [3, 128, 129, 300] {
            let mut a = Builder::new();
            let mut b = Builder::new();
            for i in 0..len {
                a.register(&alloc::format!("l{i}"), i as u32).unwrap();
                b.register(&alloc::format!("l{i}"), i as u32).unwrap();
            }
            let (ta, tb) = (freeze(a.entries, &[]), freeze(b.entries, &[]));
            let top = alloc::format!("l{}", len - 1);
            let set = resolve(&ta.1, ["l1", top.as_str(), "l0", "l1"]).unwrap();
            assert_eq!(
                set.iter().collect::<Vec<_>>(),
                [0, 1, len - 1],
                "{len} locks"
            );
            // Names: the first of two unknown names.
            let e = resolve(&ta.1, ["l0", "x1", "x2"]).unwrap_err();
            assert!(
                matches!(&e, Error::UnknownLock { name } if name == "x1"),
                "{e:?}"
            );
            // Ids: the first foreign id, named as one, not the known ids around it.
            let (own, foreign) = (ta.0[len - 1].id(), tb.0[0].id());
            let e = resolve(&ta.1, [own, foreign, tb.0[1].id()]).unwrap_err();
            let expected = alloc::format!("{foreign:?} (an id of another manager)");
            assert!(
                matches!(&e, Error::UnknownLock { name } if *name == expected),
                "{e:?}"
            );
            let ids = resolve(&ta.1, [ta.0[0].id(), own]).unwrap();
            assert_eq!(ids.iter().collect::<Vec<_>>(), [0, len - 1]);
        }
    }

    #[test]
    fn extreme_orders_are_fine() {
        let mut b = Builder::new();
        b.register("max", u32::MAX).unwrap();
        b.register("min", 0).unwrap();
        assert_eq!(
            orders(&freeze(b.entries, &[])),
            [("min", 0), ("max", u32::MAX)]
        );
    }

    #[test]
    fn keys_resolve_and_fold() {
        let mut b = Builder::new();
        b.register("a", 1).unwrap().register("b", 2).unwrap();
        let (infos, t) = freeze(b.entries, &[]);
        let id = infos[1].id();
        let t = &t;
        let set = resolve(t, ["b", "a", "b"]).unwrap();
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(resolve(t, [id]).unwrap().iter().collect::<Vec<_>>(), [1]);
        let owned = ["a".to_string()];
        assert_eq!(resolve(t, &owned).unwrap().len(), 1);
        assert!(resolve(t, ["a", "nope"]).is_err());
    }

    fn family_builder() -> Builder {
        let mut b = Builder::new();
        b.register("ledger", 10).unwrap();
        b.register_family("account", 100, 4).unwrap();
        b.register("audit", 200).unwrap();
        b
    }

    #[test]
    fn a_family_is_consecutive_members_found_by_id() {
        let b = family_builder();
        let (infos, index) = freeze(b.entries, &b.families);
        let names: Vec<_> = infos.iter().map(|i| (i.name(), i.order())).collect();
        assert_eq!(
            names,
            [
                ("ledger", 10),
                ("account#0", 100),
                ("account#1", 101),
                ("account#2", 102),
                ("account#3", 103),
                ("audit", 200)
            ]
        );
        assert_eq!(index.member("account", 0), Ok(1));
        assert_eq!(index.member("account", 6), Ok(3));
        assert_eq!(
            index.member("account", u64::MAX),
            Ok(1 + (u64::MAX % 4) as usize)
        );
        assert_eq!(
            sealed::Sealed::position("account#2", &index),
            index.member("account", 2)
        );
        assert!(matches!(
            index.member("ledger", 0),
            Err(Error::UnknownLock { .. })
        ));
        assert!(matches!(
            index.member("nope", 0),
            Err(Error::UnknownLock { .. })
        ));
    }

    #[test]
    fn overlapping_families_name_the_clashing_order_and_change_nothing() {
        let mut b = family_builder();
        let before = b.len();
        let e = b.register_family("user", 90, 12).unwrap_err();
        assert_eq!(
            e,
            Error::DuplicateOrder {
                order: 100,
                name: "user#10".into(),
                existing: "account#0".into()
            }
        );
        let e = b.register_family("user", 103, 200).unwrap_err();
        assert!(
            matches!(e, Error::DuplicateOrder { order: 103, .. }),
            "{e:?}"
        );
        assert!(b
            .register("x", 102)
            .unwrap_err()
            .to_string()
            .contains("account#2"));
        assert_eq!(
            b.register_family("account", 300, 1).unwrap_err(),
            Error::DuplicateName {
                name: "account".into()
            }
        );
        // A member name taken by a plain lock: all or nothing.
        b.register("user#1", 500).unwrap();
        let e = b.register_family("user", 400, 3).unwrap_err();
        assert_eq!(
            e,
            Error::DuplicateName {
                name: "user#1".into()
            }
        );
        assert_eq!(b.len(), before + 1);
        assert!(!b.contains("user#0"));
        b.register_family("user", 400, 3).unwrap_err();
        b.register_family("member", 400, 3).unwrap();
        assert!(b.contains("member#2"));
    }

    #[test]
    fn families_at_the_edges_of_the_orders() {
        let mut b = Builder::new();
        b.register_family("top", u32::MAX - 1, 2).unwrap();
        b.register_family("bottom", 0, 1).unwrap();
        assert!(matches!(
            b.register_family("past", u32::MAX, 2),
            Err(Error::InvalidFamily { .. })
        ));
        assert!(matches!(
            b.register_family("none", 5, 0),
            Err(Error::InvalidFamily { stripes: 0, .. })
        ));
        let (_, index) = freeze(b.entries, &b.families);
        assert_eq!(index.member("top", u64::MAX), Ok(2));
        assert_eq!(index.member("bottom", 12345), Ok(0));
    }
}
