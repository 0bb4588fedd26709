//! The one error type of the crate.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
use core::panic::Location;
use core::time::Duration;

use crate::set::Mode;

use crate::text::{Label, Text};

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
/// ([`acquired_at`](Self::acquired_at)); in an [`Error::Timeout`] or [`Error::WouldBlock`], the
/// busy lock tells who held it when the error was made ([`held_by`](Self::held_by)). Equality
/// compares name and order only.
#[derive(Clone)]
pub struct LockRef {
    name: Text,
    order: u32,
    acquired_at: Option<&'static Location<'static>>,
    held_by: Option<Box<HeldBy>>,
}

/// Who held a lock when an error was made: read from the lock's status record at that moment
/// (the holding may have ended since). Found in [`LockRef::held_by`].
///
/// ```
/// # use core::time::Duration;
/// # use lockorder::{Error, LockManager, ManualTimer, Mode};
/// # use futures_lite::future::block_on;
/// let timer = ManualTimer::new();
/// let mut b = LockManager::builder().timer(timer.clone());
/// b.register("acct-3", 103)?;
/// let m = b.build();
/// let _held = m.acquire(["acct-3"]).owner("worker-3").try_now()?;
/// timer.advance(Duration::from_millis(1200));
/// let err = block_on(m.acquire(["acct-3"]).timeout(Duration::ZERO)).unwrap_err();
/// let Error::Timeout { lock } = &err else { unreachable!() };
/// let holder = lock.held_by().unwrap();
/// assert_eq!(holder.owner(), "worker-3");
/// assert_eq!(holder.mode(), Mode::Exclusive);
/// assert_eq!(holder.held_for(), Some(Duration::from_millis(1200)));
/// assert!(err.to_string().contains("held by `worker-3` (exclusive) for 1.200s at the time"));
/// # Ok::<(), Error>(())
/// ```
/// Recorded with feature `std` only: the error then keeps it in one small allocation, on the error
/// path. Without `std` (an embedded target, where an allocator may refuse), errors name the lock
/// alone and never allocate for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldBy {
    owner: Label,
    mode: Mode,
    readers: u32,
    held_for: Option<Duration>,
}

impl HeldBy {
    pub(crate) fn new(owner: Label, mode: Mode, readers: u32, held_for: Option<Duration>) -> Self {
        Self {
            owner,
            mode,
            readers,
            held_for,
        }
    }

    /// The holder's owner label, or its holder id (`holder-N.M`) when it gave none; for a lock
    /// held shared, the reader that made it shared-held.
    pub fn owner(&self) -> &str {
        self.owner.as_str()
    }

    /// How the lock was held.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// How many readers held it (0 when held exclusive).
    pub fn readers(&self) -> u32 {
        self.readers
    }

    /// How long it had been held (by that owner, or since it became shared-held), when the
    /// manager has a timer.
    pub fn held_for(&self) -> Option<Duration> {
        self.held_for
    }
}

impl fmt::Display for HeldBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "held by `{}`", self.owner.as_str())?;
        match self.mode {
            Mode::Exclusive => write!(f, " (exclusive)")?,
            Mode::Shared if self.readers > 1 => {
                write!(f, " and {} more readers (shared)", self.readers - 1)?
            }
            Mode::Shared => write!(f, " (shared)")?,
        }
        if let Some(d) = self.held_for {
            write!(f, " for {}.{:03}s", d.as_secs(), d.subsec_millis())?;
        }
        write!(f, " at the time")
    }
}

impl LockRef {
    pub(crate) fn new(name: Text, order: u32) -> Self {
        Self {
            name,
            order,
            acquired_at: None,
            held_by: None,
        }
    }

    pub(crate) fn with_holder(mut self, held_by: HeldBy) -> Self {
        self.held_by = Some(Box::new(held_by));
        self
    }

    /// Who held the lock when the error was made, when the error knows it: for the busy lock of
    /// an [`Error::Timeout`] or an [`Error::WouldBlock`] that was held (rather than kept free for
    /// a waiter).
    pub fn held_by(&self) -> Option<&HeldBy> {
        self.held_by.as_deref()
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
        /// ([`LockRef::acquired_at`]). Under a [task key](crate::TaskKey), the highest lock
        /// claimed under the key: where it was acquired is known when the guard (or a parent)
        /// took it, not when another guard under the key did.
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
    /// A lock family ([`Builder::with_family`](crate::Builder::with_family)) with no stripes,
    /// more than 65,536, or one whose last member's order would run past `u32::MAX`. Nothing
    /// was registered.
    InvalidFamily {
        /// The family's name.
        name: String,
        /// The order asked for its first member.
        first_order: u32,
        /// How many members were asked for.
        stripes: u32,
    },
    /// A [`TaskKey`](crate::TaskKey) made by another manager was given to an acquisition, or a
    /// nested acquisition was given a key other than its parent guard's. Nothing was taken.
    ForeignKey {
        /// The lowest lock the refused request asked for (`None` for an empty request).
        lock: Option<LockRef>,
    },
    /// A guard was asked for [`Protected`](crate::Protected) data whose lock it does not hold
    /// (nor an ancestor of it), or data bound to another manager.
    NotHeld {
        /// The lock the data is bound to.
        lock: LockRef,
    },
    /// [`get_disjoint_mut`](crate::Guard::get_disjoint_mut) was given one
    /// [`Protected`](crate::Protected) twice: two `&mut` to one value are refused.
    DuplicateAccess {
        /// The lock of the data named twice.
        lock: LockRef,
    },
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
            Error::Timeout { lock } => {
                write!(f, "timed out waiting for lock {lock}")?;
                if let Some(holder) = lock.held_by() {
                    write!(
                        f,
                        ", {holder} (if that holder is this same task, acquire through its guard: \
                         guard.acquire(..))"
                    )?;
                }
                write!(f, "; every lock this acquire had taken was released")
            }
            Error::WouldBlock { lock } => match lock.held_by() {
                Some(holder) => write!(
                    f,
                    "lock {lock} is busy, {holder}; nothing was acquired (try again, or await \
                     acquire)"
                ),
                None => write!(
                    f,
                    "lock {lock} is held elsewhere, or kept for a waiter; nothing was acquired \
                     (try again, or await acquire)"
                ),
            },
            Error::PolledAfterCompletion => write!(
                f,
                "an acquire future was polled after it had completed; create a new one"
            ),
            Error::ReentrantInit => write!(
                f,
                "the registration of a global lock manager asked for that same global, which \
                 would wait for itself forever; register locks on the builder it is given instead"
            ),
            Error::InvalidFamily {
                name,
                first_order,
                stripes: 0,
            } => write!(
                f,
                "lock family `{name}` (first order {first_order}) has no stripes; give it at \
                 least one"
            ),
            Error::InvalidFamily {
                name,
                first_order,
                stripes: stripes @ 65_537..,
            } => write!(
                f,
                "lock family `{name}` (first order {first_order}) asks for {stripes} stripes, \
                 more than a family may have (65536); give it fewer stripes"
            ),
            Error::InvalidFamily {
                name,
                first_order,
                stripes,
            } => write!(
                f,
                "lock family `{name}` of {stripes} stripes from order {first_order} runs past \
                 the highest order ({}); start it lower or give it fewer stripes",
                u32::MAX
            ),
            Error::NotHeld { lock } => write!(
                f,
                "data protected by lock {lock} asked for through a guard that does not hold \
                 that lock (or of another lock manager); acquire {lock} first, or ask the guard \
                 that holds it"
            ),
            Error::DuplicateAccess { lock } => write!(
                f,
                "the data protected by lock {lock} was named twice in one get_disjoint_mut; \
                 name each protected value once"
            ),
            Error::ForeignKey { lock } => {
                write!(f, "task key refused")?;
                if let Some(lock) = lock {
                    write!(f, " for lock {lock}")?;
                }
                write!(
                    f,
                    ": it was made by another lock manager, or differs from the key of the guard \
                     this acquire is nested in; use the key of this manager's task_key() that \
                     the task's guards were acquired with"
                )
            }
        }
    }
}

impl core::error::Error for Error {}
