//! What a guard records of the locks it holds ([`Held`]), and where an acquisition comes from
//! ([`Origin`]): built by the acquire futures, kept by the guards, so below both.

use crate::sync::Arc;
use core::fmt;
use core::panic::Location;

use crate::key::KeyState;
use crate::record::{HolderId, Label, Owner};
use crate::registry::{self, Key, LockInfo};
use crate::set::{LockSet, Mode, Request};
use crate::stats;
use crate::table::Table;
use crate::timer::MaybeTimer;
use crate::walk::{mode_of, unlock_all};

/// Where an acquisition comes from, carried from the call into its guard.
#[derive(Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// Where `acquire` was called.
    pub(crate) caller: &'static Location<'static>,
    /// For a nested acquisition: the parent guard's record.
    pub(crate) parent: Option<&'a Held<'a>>,
}

impl fmt::Debug for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("caller", &self.caller)
            .field("nested", &self.parent.is_some())
            .finish()
    }
}

impl Origin<'_> {
    /// A top-level acquisition called from `caller`.
    #[inline]
    pub(crate) fn new(caller: &'static Location<'static>) -> Self {
        Self {
            caller,
            parent: None,
        }
    }
}

/// The locks a guard holds and what it knows about them: the part of a guard that does not
/// depend on how it holds its manager.
///
/// A nested guard points at its parent's record (it borrows the parent mutably, so the parent
/// cannot change or go away meanwhile): what a guard covers is its own locks and its parents',
/// looked up along that short chain rather than copied into every child.
///
/// The record is built by the acquire's poll and then moved at least twice on the uncontended
/// path (out of the poll's `Poll<Result<..>>`, into the caller's guard), so its layout is fixed
/// (`repr(C)`) for those moves: the request and the origin are copied in from the future in
/// 16-byte pieces, and `Tail` at the end (64-bit targets) keeps the tags of the `Result` and
/// `Poll` around it there. With the tags in the request's first word, as the compiler chose
/// before, each move copied the record from its eighth byte on, every 16-byte load straddling
/// two of the stores that had just written it, and waited for them to retire (a store-to-load
/// forwarding stall: on an AMD EPYC, about a quarter of the samples of an uncontended one-lock
/// acquire and release, which the fixed layout made 13 % faster).
#[repr(C)]
pub(crate) struct Held<'p> {
    /// The locks this guard took, and releases; `own.shared` says which it holds shared.
    own: Request,
    /// Where `acquire` was called, and for a nested guard its parent's record (from which
    /// [`top_at`](Self::top_at) follows).
    origin: Origin<'p>,
    pub(crate) owner: Option<Label>,
    /// The task key this guard's locks are claimed under, if any: released with them.
    key: Option<Arc<KeyState>>,
    pub(crate) holder: Option<HolderId>,
    #[cfg(target_pointer_width = "64")]
    tail: Tail,
}

/// A word with one valid value, at the end of [`Held`]: its invalid values are the largest
/// niche in the record (one more than a lock set's tag has), so enums around the record keep
/// their tags in it. Only on 64-bit targets, whose CPUs cannot forward two stores to one load
/// that spans them; an MCU has no such stall, and its guards stay eight bytes smaller.
#[cfg(target_pointer_width = "64")]
#[repr(usize)]
#[derive(Clone, Copy)]
enum Tail {
    Only = 0,
}

impl<'p> Held<'p> {
    #[inline]
    pub(crate) fn new(
        own: Request,
        holder: Option<HolderId>,
        owner: Option<Label>,
        origin: Origin<'p>,
        key: Option<Arc<KeyState>>,
    ) -> Self {
        Self {
            own,
            origin,
            owner,
            key,
            holder,
            #[cfg(target_pointer_width = "64")]
            tail: Tail::Only,
        }
    }

    /// The task key this guard counts under: its children inherit it.
    #[inline]
    pub(crate) fn key(&self) -> Option<&Arc<KeyState>> {
        self.key.as_ref()
    }

    /// This record and its parents', innermost first.
    pub(crate) fn chain(&self) -> impl Iterator<Item = &Held<'_>> + '_ {
        core::iter::successors(Some(self), |h| h.origin.parent.map(|p| p as &Held<'_>))
    }

    /// How this guard, with its parents, holds the lock at `pos`.
    pub(crate) fn covers(&self, pos: usize) -> Option<Mode> {
        self.chain()
            .find(|h| h.own.want.contains(pos))
            .map(|h| mode_of(&h.own.shared, pos))
    }

    /// Every lock this guard covers, and which of them are held shared only. A nested request
    /// never takes a lock its parents cover, so the levels' sets are disjoint and modes add up.
    pub(crate) fn covered(&self, table: &Table) -> Request {
        if self.origin.parent.is_none() {
            return self.own.clone();
        }
        let mut covered = Request {
            want: table.empty_set(),
            shared: table.empty_set(),
        };
        for h in self.chain() {
            covered.want.union_with(&h.own.want);
            covered.shared.union_with(&h.own.shared);
        }
        covered
    }

    /// Where the highest covered lock was taken.
    pub(crate) fn top_at(&self) -> &'static Location<'static> {
        // A nested guard that took nothing new covers its parent's locks alone.
        let mut h = self;
        while let (Some(parent), true) = (h.origin.parent, h.own.want.is_empty()) {
            h = parent;
        }
        h.origin.caller
    }

    pub(crate) fn locks<'t>(&self, table: &'t Table) -> impl Iterator<Item = &'t LockInfo> {
        self.covered(table)
            .want
            .into_iter()
            .map(move |pos| &table.slots[pos].info)
    }

    pub(crate) fn own_locks<'s, 't>(
        &'s self,
        table: &'t Table,
    ) -> impl Iterator<Item = &'t LockInfo> + 's
    where
        't: 's,
    {
        self.own.want.iter().map(move |pos| &table.slots[pos].info)
    }

    pub(crate) fn mode<K: Key>(&self, table: &Table, key: K) -> Option<Mode> {
        let pos = registry::sealed::Sealed::position(&key, &table.index).ok()?;
        self.covers(pos)
    }

    pub(crate) fn holds<K: Key>(&self, table: &Table, key: K) -> bool {
        self.mode(table, key).is_some()
    }

    pub(crate) fn owner(&self) -> Option<&str> {
        self.owner.as_ref().map(Label::as_str)
    }

    pub(crate) fn holder(&self) -> Option<Owner> {
        match (self.owner, self.holder) {
            (Some(label), _) => Some(Owner::Label(label)),
            (None, Some(id)) => Some(Owner::Holder(id)),
            (None, None) => None,
        }
    }

    /// Releases the guard's own locks, newest first.
    ///
    /// No panic keeps a lock: a waker that panics while a release wakes the next waiter, or a
    /// clock that panics when read for hold times (feature `stats`), leaves every lock released.
    #[inline]
    pub(crate) fn release<T: MaybeTimer>(&mut self, table: &Table, timer: &T) {
        // The claims go first: if an unlock below unwinds, the key is not left claiming locks
        // nobody holds. Releasing never waits, so the locks still held meanwhile are harmless.
        if let Some(key) = &self.key {
            key.unclaim(&self.own.want);
        }
        if stats::ENABLED && T::HAS_TIMER {
            release_with_hold_times(&self.own, &table.slots, timer);
        } else {
            unlock_all(&table.slots, &self.own, usize::MAX);
        }
    }

    pub(crate) fn debug(&self, table: &Table, f: &mut fmt::DebugStruct<'_, '_>) {
        let names = |set: &LockSet| {
            set.iter()
                .map(|pos| table.slots[pos].info.name())
                .collect::<alloc::vec::Vec<_>>()
        };
        let covered = self.covered(table);
        f.field("locks", &names(&covered.want))
            .field("shared", &names(&covered.shared))
            .field("own", &names(&self.own.want))
            .field("owner", &self.owner());
    }
}

/// Releases `own` and records each lock's hold time (feature `stats`, with a timer).
///
/// The clock is foreign code and is read while the locks are still held (a lock's acquisition
/// time is in its record only until it is released): if it panics, the locks are released while
/// unwinding, so no panic keeps a lock.
#[cold]
fn release_with_hold_times<T: MaybeTimer>(own: &Request, slots: &[crate::table::Slot], timer: &T) {
    struct Release<'a> {
        slots: &'a [crate::table::Slot],
        own: &'a Request,
    }
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            unlock_all(self.slots, self.own, usize::MAX);
        }
    }
    let release = Release { slots, own };
    let now = timer.now_opt();
    // Hold times of exclusive holdings only: a shared holding's record is its first reader's.
    for pos in own.want.iter().filter(|&pos| !own.shared.contains(pos)) {
        if let Some(hold) = stats::hold_time(slots[pos].record.acquired_at(), now) {
            slots[pos].stats.released(hold);
        }
    }
    drop(release);
}
