//! Task keys: every acquisition a task makes, checked against everything it holds.
//!
//! A [`TaskKey`] records the locks claimed under it: held by its guards, or being taken by its
//! acquisitions in flight. A keyed request must ask only for locks above every claimed one; it
//! claims them when it starts (before it takes or waits for anything) and gives them back when
//! it fails, is dropped, or its guard is dropped. The rule is [`check`]: plain data, tested
//! without a manager.

use crate::sync::Arc;
use core::fmt;

use crate::set::LockSet;

/// Why a keyed request is refused: its lowest new lock (`requested`) is at or below the highest
/// lock claimed under the key (`held`), by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Below {
    pub(crate) requested: usize,
    pub(crate) held: usize,
}

/// The key rule: the new locks `want` must all rank above every claimed lock.
pub(crate) fn check(want: &LockSet, claimed: &LockSet) -> Result<(), Below> {
    match (want.first(), claimed.last()) {
        (Some(requested), Some(held)) if requested <= held => Err(Below { requested, held }),
        _ => Ok(()),
    }
}

/// The keyed path of the guards (giving claims back), reached through a key only: a program
/// that never makes a [`TaskKey`] never references it, so the linker leaves it out (this
/// matters in firmware, where every byte of flash counts). The acquire futures' keyed start is
/// reached the same way, through the pointer `key()` stores (`acquire::Start`).
pub(crate) struct KeyOps {
    /// Gives back claims: [`KeyState::unclaim`].
    unclaim: fn(&KeyState, &LockSet),
}

/// The operations every key uses.
static OPS: KeyOps = KeyOps {
    unclaim: KeyState::unclaim_now,
};

/// What a key shares with the acquisitions and guards made under it.
pub(crate) struct KeyState {
    /// The keyed code paths (see [`KeyOps`]).
    pub(crate) ops: &'static KeyOps,
    /// The identity of the manager that made the key.
    manager: usize,
    /// The locks claimed under the key. Each is claimed once at most: a second claim of a lock
    /// is at or below the highest claimed, and refused.
    claimed: spin::Mutex<LockSet>,
}

impl KeyState {
    /// Whether the key was made by the manager of identity `manager`.
    #[inline]
    pub(crate) fn belongs_to(&self, manager: usize) -> bool {
        self.manager == manager
    }

    /// Checks `want` against the claimed locks and claims it, in one step: two requests of one
    /// key in flight at once (joined futures) see each other's claims.
    pub(crate) fn claim(&self, want: &LockSet) -> Result<(), Below> {
        let mut claimed = self.claimed.lock();
        check(want, &claimed)?;
        claimed.union_with(want);
        Ok(())
    }

    /// Gives back the claims of `set` (a guard's own locks, or a failed request's).
    #[inline]
    pub(crate) fn unclaim(&self, set: &LockSet) {
        (self.ops.unclaim)(self, set);
    }

    /// [`unclaim`](Self::unclaim)'s work, reached through [`KeyOps`].
    fn unclaim_now(&self, set: &LockSet) {
        self.claimed.lock().subtract(set);
    }

    /// The highest claimed lock, by position.
    pub(crate) fn highest(&self) -> Option<usize> {
        self.claimed.lock().last()
    }
}

/// A task's key: pass it to every acquisition of the task
/// ([`Acquire::key`](crate::futures::Acquire::key),
/// [`AcquireOwned::key`](crate::futures::AcquireOwned::key)), and each one is checked against
/// every lock held under it, through any guard, not only against the guard it is nested in.
///
/// Made by [`LockManager::task_key`](crate::LockManager::task_key). A keyed request for a lock at
/// or below the highest lock held under the key is refused at once with
/// [`Error::OrderViolation`](crate::Error::OrderViolation): nothing is taken, nothing waits, even
/// when the lock is busy. That closes the deadlock of a helper that takes locks of its own while
/// its caller holds others: with the key passed down, the helper's request is checked against
/// the caller's locks.
///
/// ```
/// # use lockorder::{Error, LockManager};
/// let m = LockManager::builder().with_lock("db", 10)?.with_lock("cache", 20)?.build();
/// let key = m.task_key();
/// let cache = m.acquire(["cache"]).key(&key).try_now()?;
/// // A helper asks the manager for "db" while its caller holds "cache": refused, not a deadlock.
/// match m.acquire(["db"]).key(&key).try_now() {
///     Err(Error::OrderViolation { requested, held }) => {
///         assert_eq!((requested.name(), held.name()), ("db", "cache"));
///     }
///     other => panic!("{other:?}"),
/// }
/// drop(cache); // guards of one key drop in any order
/// let db = m.acquire(["db"]).key(&key).try_now()?;
/// # drop(db);
/// # Ok::<(), Error>(())
/// ```
///
/// Guards nested in a keyed guard count under its key. Keys are `Send + Sync` but not `Clone`:
/// one task, one key, passed down by reference. A task that makes two keys, or acquires without
/// its key, is checked as two tasks would be: the key protects what goes through it. A key of
/// another manager is refused with [`Error::ForeignKey`](crate::Error::ForeignKey).
///
/// A key is not `Clone`: one task, one key. A second key is made, not copied:
///
/// ```compile_fail,E0599
/// # let m = lockorder::LockManager::builder().with_lock("db", 10).unwrap().build();
/// let key = m.task_key();
/// let copy = key.clone(); // no: a copy would let a task hide locks from its own key
/// ```
///
/// ```
/// # let m = lockorder::LockManager::builder().with_lock("db", 10).unwrap().build();
/// let key = m.task_key();
/// let other = m.task_key(); // another task's key
/// # drop((key, other));
/// ```
///
/// Cost: a keyed request clones the key's `Arc` and takes its small spin lock once when it
/// starts and once when its guard is dropped (about 270 instructions per acquire + release in
/// the W1 profile, whatever the number of locks). Unkeyed requests never take that path; the
/// key's fields in the future and the guard cost them about 25 to 28 instructions (see the
/// performance notes in `docs/performance.md`).
pub struct TaskKey {
    pub(crate) state: Arc<KeyState>,
}

impl TaskKey {
    pub(crate) fn new(manager: usize, empty: LockSet) -> Self {
        Self {
            state: Arc::new(KeyState {
                ops: &OPS,
                manager,
                claimed: spin::Mutex::new(empty),
            }),
        }
    }
}

impl fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskKey")
            .field("manager", &self.state.manager)
            .field("claimed", &*self.state.claimed.lock())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[usize]) -> LockSet {
        let mut s = LockSet::EMPTY;
        for &i in items {
            s.insert(i);
        }
        s
    }

    #[test]
    fn only_locks_above_every_claim_pass() {
        assert_eq!(check(&set(&[3, 5]), &set(&[])), Ok(()));
        assert_eq!(check(&set(&[3, 5]), &set(&[1, 2])), Ok(()));
        assert_eq!(check(&set(&[]), &set(&[4])), Ok(()));
        assert_eq!(
            check(&set(&[3, 5]), &set(&[1, 4])),
            Err(Below {
                requested: 3,
                held: 4
            })
        );
        // The key's own highest lock is refused too: it would be taken twice.
        assert_eq!(
            check(&set(&[4]), &set(&[4])),
            Err(Below {
                requested: 4,
                held: 4
            })
        );
    }

    #[test]
    fn claims_are_checked_and_given_back_in_any_order() {
        let key = TaskKey::new(7, LockSet::EMPTY);
        let k = &key.state;
        assert!(k.belongs_to(7) && !k.belongs_to(8));
        k.claim(&set(&[1])).unwrap();
        k.claim(&set(&[4, 6])).unwrap();
        assert_eq!(k.highest(), Some(6));
        assert!(k.claim(&set(&[5])).is_err());
        assert_eq!(k.highest(), Some(6), "a refused claim changes nothing");
        k.unclaim(&set(&[1])); // the first guard goes first
        assert_eq!(k.highest(), Some(6));
        assert!(k.claim(&set(&[2])).is_err());
        k.unclaim(&set(&[4, 6]));
        assert_eq!(k.highest(), None);
        k.claim(&set(&[0])).unwrap();
    }
}
