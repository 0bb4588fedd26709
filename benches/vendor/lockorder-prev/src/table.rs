//! The frozen table of one manager: a slot per lock, in order, each with its raw lock, the
//! record of its holding and its statistics, plus the name index.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, LockRef};
use crate::raw::RawLock;
use crate::record::Record;
use crate::registry::{Index, LockId, LockInfo};
use crate::set::LockSet;
use crate::stats::Stats;

/// One frozen lock: what was registered, the lock itself, the record of its holding and its
/// statistics.
pub(crate) struct Slot {
    pub(crate) info: LockInfo,
    pub(crate) raw: RawLock,
    pub(crate) record: Record,
    pub(crate) stats: Stats,
}

/// The frozen, order-sorted locks of one manager. Not generic over the timer, so that the code
/// that walks it is compiled once.
pub(crate) struct Table {
    pub(crate) slots: Box<[Slot]>,
    pub(crate) index: Index,
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
        Self { slots, index }
    }

    /// The position of the lock named `name`.
    pub(crate) fn position(&self, name: &str) -> Result<usize, Error> {
        self.index.position(name)
    }

    /// The position of the lock `id`, checking that it belongs to this table.
    #[inline]
    pub(crate) fn position_of(&self, id: LockId) -> Result<usize, Error> {
        self.index.position_of(id)
    }

    pub(crate) fn lock_ref(&self, pos: usize) -> LockRef {
        self.slots[pos].info.lock_ref()
    }

    #[inline]
    pub(crate) fn empty_set(&self) -> LockSet {
        self.index.empty_set()
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.slots.iter().map(|s| &s.info))
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use crate::registry::Builder;

    /// A slot outside any manager, for unit tests of the per-slot machinery.
    pub(crate) fn slot(name: &str, order: u32) -> Slot {
        let mut b = Builder::new();
        b.register(name, order).unwrap();
        let frozen = b.freeze();
        let table = Table::new(frozen.infos, frozen.index);
        table.slots.into_vec().into_iter().next().unwrap()
    }
}
