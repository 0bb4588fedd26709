//! The one error type of the crate.

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::panic::Location;

/// A lock named in an [`Error`]: its name and its order.
///
/// Cloning is cheap (the name is shared with the manager), so errors can be built on the
/// acquire path without allocating. Compares equal to a `&str` holding its name:
///
/// ```
/// # use lockorder::{Error, LockManager};
/// let mut b = LockManager::builder();
/// b.register("db", 10)?;
/// let m = b.build();
/// let _held = m.try_acquire(["db"])?;
/// match m.try_acquire(["db"]) {
///     Err(Error::WouldBlock { lock }) => {
///         assert_eq!(lock, "db");
///         assert_eq!(lock.order(), 10);
///     }
///     other => panic!("unexpected: {other:?}"),
/// }
/// # Ok::<(), Error>(())
/// ```
///
/// In an [`Error::OrderViolation`], the `held` lock also tells where it was acquired
/// ([`acquired_at`](Self::acquired_at)). Equality compares name and order only.
#[derive(Clone)]
pub struct LockRef {
    name: Arc<str>,
    order: u32,
    acquired_at: Option<&'static Location<'static>>,
}

impl LockRef {
    pub(crate) fn new(name: Arc<str>, order: u32) -> Self {
        Self {
            name,
            order,
            acquired_at: None,
        }
    }

    pub(crate) fn acquired_at_location(mut self, at: &'static Location<'static>) -> Self {
        self.acquired_at = Some(at);
        self
    }

    /// Where the lock was acquired (the caller of `acquire`), when the error knows it: for the
    /// `held` lock of an [`Error::OrderViolation`].
    pub fn acquired_at(&self) -> Option<&'static Location<'static>> {
        self.acquired_at
    }

    /// The lock's registered name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The lock's registered order.
    pub fn order(&self) -> u32 {
        self.order
    }
}

impl fmt::Debug for LockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}@{}", &*self.name, self.order)
    }
}

impl fmt::Display for LockRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` (order {})", self.name, self.order)
    }
}

impl PartialEq for LockRef {
    fn eq(&self, other: &Self) -> bool {
        self.order == other.order && self.name == other.name
    }
}

impl Eq for LockRef {}

impl core::hash::Hash for LockRef {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.order.hash(state);
    }
}

impl PartialEq<str> for LockRef {
    fn eq(&self, other: &str) -> bool {
        *self.name == *other
    }
}

impl PartialEq<&str> for LockRef {
    fn eq(&self, other: &&str) -> bool {
        *self.name == **other
    }
}

/// Everything that can go wrong in `lockorder`.
///
/// Every message names the lock or locks involved and says what to do about it. A failed call
/// never keeps a lock: when an acquisition fails, every lock it had taken is released first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A lock of this name is already registered on the builder.
    DuplicateName {
        /// The name given twice.
        name: String,
    },
    /// Another lock already has this order.
    DuplicateOrder {
        /// The order given twice.
        order: u32,
        /// The lock that was being registered.
        name: String,
        /// The lock registered earlier with the same order.
        existing: String,
    },
    /// A lock name was empty.
    EmptyName {
        /// The order the nameless lock was to have.
        order: u32,
    },
    /// No lock of this name (or id) exists in this manager.
    UnknownLock {
        /// The name asked for, or a description of the foreign [`LockId`](crate::LockId).
        name: String,
    },
    /// A nested acquisition asked for a lock ordered below a lock the guard already holds.
    ///
    /// Granting it could deadlock against a task taking the same locks in ascending order, so it
    /// is refused instead.
    OrderViolation {
        /// The lowest-ordered lock that was asked for and is not already held.
        requested: LockRef,
        /// The highest-ordered lock held by the guard, with where it was acquired
        /// ([`LockRef::acquired_at`]).
        held: LockRef,
    },
    /// A nested acquisition asked for exclusive use of a lock that the guard holds shared.
    ///
    /// Upgrading a shared holding deadlocks as soon as two holders try it (each waits for the
    /// other to leave), so it is refused instead. Take the lock exclusive from the start.
    UpgradeRefused {
        /// The lock held shared and asked for exclusive.
        lock: LockRef,
    },
    /// The timeout passed while waiting for `lock`; everything taken so far was released.
    Timeout {
        /// The lock that was still busy.
        lock: LockRef,
    },
    /// A single try ([`try_acquire`](crate::LockManager::try_acquire),
    /// [`Acquire::try_now`](crate::futures::Acquire::try_now)) found `lock` busy; nothing is kept.
    ///
    /// Busy means held in a conflicting mode (or, for a shared try, by the most readers a lock
    /// can have, 16,382), or kept for a waiter: a shared try yields to a waiting writer, and
    /// every try yields to a waiter that a newcomer passed over.
    WouldBlock {
        /// The lock that was busy.
        lock: LockRef,
    },
    /// An [`Acquire`](crate::futures::Acquire) future was polled again after it had completed.
    PolledAfterCompletion,
    /// The registration of a global manager ([`global::get_or_try_init`](crate::global::get_or_try_init),
    /// [`Global::get_or_try_init`](crate::global::Global::get_or_try_init)) asked for that same
    /// global, which would wait for itself forever.
    ReentrantInit,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DuplicateName { name } => write!(
                f,
                "lock name `{name}` is already registered; give each lock a unique name"
            ),
            Error::DuplicateOrder {
                order,
                name,
                existing,
            } => write!(
                f,
                "cannot register lock `{name}` with order {order}: lock `{existing}` already has \
                 that order; give each lock a unique order"
            ),
            Error::EmptyName { order } => write!(
                f,
                "the lock registered with order {order} has an empty name; give it a name"
            ),
            Error::UnknownLock { name } => write!(
                f,
                "unknown lock `{name}`: register it on the builder of this manager before build()"
            ),
            Error::OrderViolation { requested, held } => {
                write!(
                    f,
                    "order violation (potential deadlock): requested lock {requested} while \
                     holding lock {held}"
                )?;
                if let Some(at) = held.acquired_at {
                    write!(f, " (acquired at {at})")?;
                }
                write!(
                    f,
                    "; take {requested} in the same acquire as {held}, or before it"
                )
            }
            Error::UpgradeRefused { lock } => write!(
                f,
                "upgrade refused (potential deadlock): lock {lock} is held shared and was asked \
                 for exclusive; take it exclusive in the outer acquire instead"
            ),
            Error::Timeout { lock } => write!(
                f,
                "timed out waiting for lock {lock}; every lock this acquire had taken was released"
            ),
            Error::WouldBlock { lock } => write!(
                f,
                "lock {lock} is held elsewhere, or kept for a waiter; nothing was acquired (try again, or await acquire)"
            ),
            Error::PolledAfterCompletion => write!(
                f,
                "an acquire future was polled after it had completed; create a new one"
            ),
            Error::ReentrantInit => write!(
                f,
                "the registration of a global lock manager asked for that same global, which \
                 would wait for itself forever; register locks on the builder it is given instead"
            ),
        }
    }
}

impl core::error::Error for Error {}
