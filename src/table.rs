//! The frozen table of one manager: a slot per lock, in order, each with its raw lock, the
//! record of its holding and its statistics, plus the name index.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use core::time::Duration;

use crate::error::{Error, HeldBy, LockRef};
use crate::raw::RawLock;
use crate::record::{read, Record};
use crate::registry::{Identity, Index, LockId, LockInfo};
use crate::set::LockSet;
use crate::stats::Stats;
use crate::sync::Arc;

/// One frozen lock: what was registered, the lock itself, the record of its holding and its
/// statistics. Public only for [`hierarchy!`](crate::hierarchy)'s `static` arrays of them.
// A slot starts a cache line, with `std` (the Cortex-M0 and M3 of the firmware have no data cache,
// so there the bytes would be wasted). Unaligned (216 bytes on x86-64 with the default features),
// W1 by id at K = 16 took 8.5-8.7 ns per lock; aligned, 7.8-8.0 (`docs/performance.md`), for 40
// bytes more per lock (256; with every feature 272 -> 320).
#[doc(hidden)]
#[cfg_attr(loom, allow(unreachable_pub))] // no `hierarchy!` under loom
#[cfg_attr(feature = "std", repr(align(64)))]
pub struct Slot {
    pub(crate) info: LockInfo,
    pub(crate) raw: RawLock,
    pub(crate) record: Record,
    pub(crate) stats: Stats,
}

/// The frozen, order-sorted locks of one manager. Not generic over the timer, so that the code
/// that walks it is compiled once.
pub(crate) struct Table {
    pub(crate) slots: Slots,
    pub(crate) index: Index,
}

/// A table's slots: built at run time, or declared in a `static` ([`hierarchy!`](crate::hierarchy)).
pub(crate) enum Slots {
    Boxed(Box<[Slot]>),
    Fixed(&'static [Slot]),
}

impl Deref for Slots {
    type Target = [Slot];

    #[inline]
    fn deref(&self) -> &[Slot] {
        match self {
            Slots::Boxed(slots) => slots,
            Slots::Fixed(slots) => slots,
        }
    }
}

impl Table {
    /// A table for `infos`, sorted by order, with their `index`.
    pub(crate) fn new(infos: Vec<LockInfo>, index: Index) -> Self {
        let slots = infos
            .into_iter()
            .map(|info| Slot {
                info,
                raw: RawLock::new(),
                record: Record::new(),
                stats: Stats::new(),
            })
            .collect();
        Self {
            slots: Slots::Boxed(slots),
            index,
        }
    }

    /// A table over declared slots and their index, in const context.
    pub(crate) const fn fixed(slots: &'static [Slot], index: Index) -> Self {
        Self {
            slots: Slots::Fixed(slots),
            index,
        }
    }

    /// The position of the lock named `name`.
    pub(crate) fn position(&self, name: &str) -> Result<usize, Error> {
        crate::registry::sealed::Sealed::position(name, &self.index)
    }

    /// The position of the lock `id`, checking that it belongs to this table.
    #[inline]
    pub(crate) fn position_of(&self, id: LockId) -> Result<usize, Error> {
        crate::registry::sealed::Sealed::position(&id, &self.index)
    }

    pub(crate) fn lock_ref(&self, pos: usize) -> LockRef {
        self.slots[pos].info.lock_ref()
    }

    /// The lock at `pos` with who holds it right now (for a timeout or a refused try): its
    /// owner, mode and, given the clock's `now`, how long it has been held.
    #[cold]
    pub(crate) fn busy_lock_ref(&self, pos: usize, now: Option<Duration>) -> LockRef {
        let slot = &self.slots[pos];
        let lock = slot.info.lock_ref();
        // Naming the holder allocates (the error boxes it); without `std`, where an allocator may
        // refuse, a refusal allocates nothing and names the lock alone.
        if !cfg!(feature = "std") {
            return lock;
        }
        let reading = read(&slot.raw, &slot.record);
        match (reading.holding, reading.owner) {
            (Some(holding), Some(owner)) => lock.with_holder(HeldBy::new(
                owner.text(),
                holding.mode,
                holding.readers,
                reading
                    .acquired_at
                    .zip(now)
                    .map(|(at, now)| now.saturating_sub(at)),
            )),
            _ => lock,
        }
    }

    #[inline]
    pub(crate) fn empty_set(&self) -> LockSet {
        self.index.empty_set()
    }

    /// This manager's identity, for data bound to it ([`Protected`](crate::Protected)).
    pub(crate) fn bound(&self) -> Bound {
        match (self.index.identity(), &self.slots) {
            (Some(identity), _) => Bound::Built(Arc::clone(identity)),
            (None, slots) => Bound::Declared(slots.as_ptr() as usize),
        }
    }

    /// Whether `bound` is this manager's identity.
    #[inline]
    pub(crate) fn is(&self, bound: &Bound) -> bool {
        match (bound, &self.slots) {
            (Bound::Built(identity), _) => self
                .index
                .identity()
                .is_some_and(|own| Arc::ptr_eq(own, identity)),
            (Bound::Declared(addr), Slots::Fixed(slots)) => slots.as_ptr() as usize == *addr,
            (Bound::Declared(_), Slots::Boxed(_)) => false,
        }
    }
}

/// The identity of one manager as data bound to it keeps it: never another live manager's.
///
/// * A built manager's is an allocation that every clone keeps alive, so no other manager can
///   have its address, even after this one is gone.
/// * A declared manager's ([`hierarchy!`](crate::hierarchy)) is the address of its `static`
///   slots, which hold atomics (so the compiler cannot merge two declarations' arrays) and are
///   never freed.
#[derive(Clone)]
pub(crate) enum Bound {
    Built(Arc<Identity>),
    Declared(usize),
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.slots.iter().map(|s| &s.info))
            .finish()
    }
}
