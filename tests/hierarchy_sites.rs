//! `hierarchy!` declarations that share a call site: one macro that declares a hierarchy in
//! several modules or function bodies, under the same static name.
#![cfg(not(loom))]

use lockorder::{hierarchy, Error, LockId, LockManager, NoTimer};

/// One invocation, two modules, the same names: the same file, line, column and static name.
macro_rules! in_two_modules {
    () => {
        mod left {
            lockorder::hierarchy! {
                pub(crate) static LOCKS: lockorder::LockManager<lockorder::NoTimer> =
                    lockorder::NoTimer;
                pub(crate) const X = ("x", 1);
            }
        }
        mod right {
            lockorder::hierarchy! {
                pub(crate) static LOCKS: lockorder::LockManager<lockorder::NoTimer> =
                    lockorder::NoTimer;
                pub(crate) const X = ("x", 1);
            }
        }
    };
}

in_two_modules!();

#[test]
fn same_name_in_two_modules_from_one_site_are_distinct() {
    assert_ne!(left::X, right::X);
    assert!(left::LOCKS.info(right::X).is_none());
    assert!(matches!(
        right::LOCKS.try_acquire([left::X]),
        Err(Error::UnknownLock { .. })
    ));
    let _held = left::LOCKS.try_acquire([left::X]).unwrap();
    // Were the ids the same, this would be the left lock's id taking the right lock.
    assert!(right::LOCKS.try_acquire([right::X]).is_ok());
}

/// One invocation, two function bodies, the same static name, in one module.
macro_rules! in_two_functions {
    () => {
        fn first() -> (&'static LockManager<NoTimer>, LockId) {
            hierarchy! {
                static LOCKS: LockManager<NoTimer> = NoTimer;
                const X = ("x", 1);
            }
            (&LOCKS, X)
        }
        fn second() -> (&'static LockManager<NoTimer>, LockId) {
            hierarchy! {
                static LOCKS: LockManager<NoTimer> = NoTimer;
                const X = ("x", 1);
            }
            (&LOCKS, X)
        }
    };
}

in_two_functions!();

#[test]
fn same_name_in_two_function_bodies_from_one_site_are_distinct() {
    let (a, a_x) = first();
    let (b, b_x) = second();
    assert_ne!(a_x, b_x);
    assert!(b.info(a_x).is_none());
    assert!(matches!(
        b.try_acquire([a_x]),
        Err(Error::UnknownLock { .. })
    ));
    let _held = a.try_acquire([a_x]).unwrap();
    assert!(b.try_acquire([b_x]).is_ok());
}
