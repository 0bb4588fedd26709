//! The frozen hierarchy, the key mapping, and the rules of a request: plain data and functions,
//! tested without a server.

use std::fmt;

use lockorder::{Key, LockId, LockManager, LockRef, MaybeTimer, Mode, NoTimer};

use crate::error::Error;

/// One registered lock.
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) order: u32,
    pub(crate) description: String,
    pub(crate) lock_ref: LockRef,
}

/// The locks of a manager, ascending by order. A lock's position here is its rank, as in the
/// core crate.
pub(crate) struct Hierarchy {
    /// The same locks in a core manager of this hierarchy's own, never used to lock: it resolves
    /// every key the core accepts ([`lockorder::Key`]), and its ids are the ones
    /// [`PgLockManager::id`](crate::PgLockManager::id) hands out. Timerless, so that the
    /// hierarchy is not generic over the user's timer.
    core: LockManager<NoTimer>,
    pub(crate) entries: Vec<Entry>,
}

impl fmt::Debug for Hierarchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|e| (&e.name, e.order)))
            .finish()
    }
}

impl Hierarchy {
    /// The hierarchy of `locks`' locks (names, orders, descriptions; its timer is not kept).
    pub(crate) fn new<T: MaybeTimer>(locks: &LockManager<T>) -> Self {
        let mut b = LockManager::builder();
        for info in locks.locks() {
            b.register_with(info.name(), info.order(), info.description())
                .expect("the locks of a built manager have unique names and orders");
        }
        let core = b.build();
        let entries = core
            .locks()
            .map(|info| Entry {
                name: info.name().to_owned(),
                order: info.order(),
                description: info.description().to_owned(),
                lock_ref: info.lock_ref(),
            })
            .collect();
        Self { core, entries }
    }

    /// The position of the lock `key` names: [`lockorder::Error::UnknownLock`] for an unknown
    /// name or an id of another manager.
    pub(crate) fn position<K: Key>(&self, key: K) -> Result<usize, Error> {
        let order = self.core.lock_info(key)?.order();
        Ok(self
            .position_of_order(order)
            .expect("the entries are the core's locks"))
    }

    /// The id of the lock named `name`.
    pub(crate) fn id(&self, name: &str) -> Result<LockId, Error> {
        Ok(self.core.id(name)?)
    }

    pub(crate) fn lock_ref(&self, pos: usize) -> LockRef {
        self.entries[pos].lock_ref.clone()
    }

    pub(crate) fn position_of_order(&self, order: u32) -> Option<usize> {
        self.entries.binary_search_by_key(&order, |e| e.order).ok()
    }
}

/// The advisory-lock key of a lock: PostgreSQL's two-`int4` form
/// `pg_advisory_lock(namespace, order)`, the order's 32 bits read as an `int4`.
///
/// In `pg_locks` such a lock shows `classid` = the namespace's 32 bits and `objid` = the order
/// (both as unsigned `oid`s) and `objsubid` = 2.
pub(crate) fn key2(order: u32) -> i32 {
    order as i32
}

/// What one request asks for: positions, ascending, each with its mode.
pub(crate) type Request = Vec<(usize, Mode)>;

/// Adds `keys` in `mode` to `request`, keeping it sorted and free of duplicates; a lock asked for
/// in both modes stays exclusive.
pub(crate) fn add_keys<I>(
    h: &Hierarchy,
    request: &mut Request,
    keys: I,
    mode: Mode,
) -> Result<(), Error>
where
    I: IntoIterator,
    I::Item: Key,
{
    for key in keys {
        let pos = h.position(key)?;
        match request.binary_search_by_key(&pos, |&(p, _)| p) {
            Ok(i) => {
                if mode == Mode::Exclusive {
                    request[i].1 = Mode::Exclusive;
                }
            }
            Err(i) => request.insert(i, (pos, mode)),
        }
    }
    Ok(())
}

/// A lock a session holds, and the nesting depth of the guard that took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) pos: usize,
    pub(crate) mode: Mode,
    pub(crate) depth: usize,
}

/// What a nested request still has to take, after the order rules.
///
/// `held` is ascending (every nesting level takes locks above all of its ancestors'). A lock held
/// in either mode covers a shared request; an exclusive request for a lock held shared is an
/// upgrade, refused (two readers upgrading wait for each other); a new lock must be ordered above
/// every held lock, or it is an order violation.
pub(crate) fn plan_nested(
    h: &Hierarchy,
    held: &[Held],
    request: &Request,
) -> Result<Request, Error> {
    let mut new = Request::new();
    for &(pos, mode) in request {
        match held.iter().find(|x| x.pos == pos) {
            Some(x) if mode == Mode::Exclusive && x.mode == Mode::Shared => {
                return Err(Error::Lock(lockorder::Error::UpgradeRefused {
                    lock: h.lock_ref(pos),
                }));
            }
            Some(_) => {}
            None => new.push((pos, mode)),
        }
    }
    if let (Some(&(first, _)), Some(top)) = (new.first(), held.last()) {
        if first < top.pos {
            return Err(Error::Lock(lockorder::Error::OrderViolation {
                requested: h.lock_ref(first),
                held: h.lock_ref(top.pos),
            }));
        }
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hierarchy() -> Hierarchy {
        let mut b = LockManager::builder();
        b.register("a", 10).unwrap();
        b.register_with("c", 30, "the third").unwrap();
        b.register("b", 20).unwrap();
        b.register("top", u32::MAX).unwrap();
        Hierarchy::new(&b.build())
    }

    fn req(h: &Hierarchy, ex: &[&str], sh: &[&str]) -> Result<Request, Error> {
        let mut r = Request::new();
        add_keys(h, &mut r, ex, Mode::Exclusive)?;
        add_keys(h, &mut r, sh, Mode::Shared)?;
        Ok(r)
    }

    #[test]
    fn entries_are_ascending_with_their_refs() {
        let h = hierarchy();
        let names: Vec<_> = h.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c", "top"]);
        assert_eq!(h.entries[2].description, "the third");
        assert_eq!(h.lock_ref(1), "b");
        assert_eq!(h.lock_ref(1).order(), 20);
        assert_eq!(h.position_of_order(30), Some(2));
        assert_eq!(h.position_of_order(31), None);
    }

    #[test]
    fn keys_fold_into_a_sorted_set_and_exclusive_wins() {
        let h = hierarchy();
        let r = req(&h, &["c", "a", "c"], &["b", "a"]).unwrap();
        assert_eq!(
            r,
            [
                (0, Mode::Exclusive),
                (1, Mode::Shared),
                (2, Mode::Exclusive)
            ]
        );
        match req(&h, &["nope"], &[]) {
            Err(Error::Lock(lockorder::Error::UnknownLock { name })) => assert_eq!(name, "nope"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_core_key_resolves() {
        let h = hierarchy();
        let c = String::from("c");
        let b = h.id("b").unwrap();
        assert_eq!(h.position("a").unwrap(), 0);
        assert_eq!(h.position(&c).unwrap(), 2);
        assert_eq!(h.position(c.clone()).unwrap(), 2);
        assert_eq!(h.position(b).unwrap(), 1);
        let by_ref: &LockId = &b;
        assert_eq!(h.position(by_ref).unwrap(), 1);
        assert_eq!(h.position("top").unwrap(), 3);
        match h.id("nope") {
            Err(Error::Lock(lockorder::Error::UnknownLock { name })) => assert_eq!(name, "nope"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ids_of_another_manager_are_unknown() {
        let h = hierarchy();
        let mut other = LockManager::builder();
        other.register("a", 10).unwrap();
        let other = other.build();
        let mut r = Request::new();
        let e = add_keys(&h, &mut r, [other.id("a").unwrap()], Mode::Exclusive).unwrap_err();
        assert!(matches!(
            e,
            Error::Lock(lockorder::Error::UnknownLock { .. })
        ));
        // Even the manager the hierarchy was made from is another manager: its ids are its own.
        let mut b = LockManager::builder();
        b.register("a", 10).unwrap();
        let source = b.build();
        let h = Hierarchy::new(&source);
        assert!(h.position(source.id("a").unwrap()).is_err());
        assert_eq!(h.position(h.id("a").unwrap()).unwrap(), 0);
    }

    #[test]
    fn the_key_is_the_orders_bits() {
        assert_eq!(key2(10), 10);
        assert_eq!(key2(u32::MAX), -1);
        assert_eq!(key2(1 << 31), i32::MIN);
    }

    #[test]
    fn nesting_skips_held_locks_and_checks_the_order() {
        let h = hierarchy();
        let held = [
            Held {
                pos: 0,
                mode: Mode::Exclusive,
                depth: 0,
            },
            Held {
                pos: 1,
                mode: Mode::Shared,
                depth: 0,
            },
        ];
        // Held locks are covered; the new one is above them.
        let r = req(&h, &["a", "c"], &["b"]).unwrap();
        assert_eq!(plan_nested(&h, &held, &r).unwrap(), [(2, Mode::Exclusive)]);
        // A shared request for an exclusively held lock is covered too.
        let r = req(&h, &[], &["a"]).unwrap();
        assert!(plan_nested(&h, &held, &r).unwrap().is_empty());
        // Below the highest held lock: refused, naming both.
        let mut only_c = held.to_vec();
        only_c[1] = Held {
            pos: 2,
            mode: Mode::Exclusive,
            depth: 1,
        };
        let r = req(&h, &["b"], &[]).unwrap();
        match plan_nested(&h, &only_c, &r) {
            Err(Error::Lock(lockorder::Error::OrderViolation { requested, held })) => {
                assert_eq!((requested.name(), held.name()), ("b", "c"));
            }
            other => panic!("{other:?}"),
        }
        // Exclusive over held-shared: an upgrade, refused.
        let r = req(&h, &["b"], &[]).unwrap();
        match plan_nested(&h, &held, &r) {
            Err(Error::Lock(lockorder::Error::UpgradeRefused { lock })) => assert_eq!(lock, "b"),
            other => panic!("{other:?}"),
        }
        // Nothing held: anything goes.
        let r = req(&h, &["a"], &[]).unwrap();
        assert_eq!(plan_nested(&h, &[], &r).unwrap(), r);
    }
}
