//! The process-wide manager and the foundation preset.
//!
//! The process-wide manager is one per test binary, so its whole life is one test, in order:
//! a failing registration, a panicking one, then eight threads racing to be first.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use lockorder::global::{self, Global};
use lockorder::{presets, Error, LockManager, ManualTimer};

/// The foundation hierarchy as `presets::foundation`'s documentation states it: the table in its
/// doc comment, read from the source. The code's constant is checked against the documentation,
/// so the two can never drift apart.
fn documented_foundation() -> Vec<(String, u32, String)> {
    include_str!("../src/presets.rs")
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("/// | `"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (
                cells[0].trim_end_matches('`').to_owned(),
                cells[1].parse().expect("an order"),
                cells[2].to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_process_wide_manager_retries_failures_and_is_built_once() {
    assert!(global::get().is_none());

    // A registration that fails leaves nothing behind.
    let err = global::get_or_try_init(|b| {
        presets::foundation(b)?;
        b.register("foundation.async.config", 999)?;
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(err, Error::DuplicateName { .. }));
    assert!(global::get().is_none());

    // So does one that panics (with `std`; without it a panic poisons the global).
    #[cfg(feature = "std")]
    let panicked = std::panic::catch_unwind(|| {
        global::get_or_try_init(|b| {
            b.register("half", 1)?;
            panic!("registration blew up");
        })
    });
    #[cfg(feature = "std")]
    {
        assert!(panicked.is_err());
        assert!(global::get().is_none());
    }

    // Eight threads race to be first: one registration runs, all get the same manager.
    let runs = AtomicUsize::new(0);
    let start = Barrier::new(8);
    let managers: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    let m = global::get_or_try_init(|b| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        // Slow enough that the others arrive while it runs.
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        presets::foundation(b)
                    })
                    .unwrap();
                    assert_eq!(m.len(), 8, "a caller saw a half-registered manager");
                    m as *const LockManager as usize
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(managers.windows(2).all(|w| w[0] == w[1]));

    // Later calls never run the registration.
    let m = global::get_or_try_init(|_| panic!("must not run")).unwrap();
    assert_eq!(m as *const LockManager as usize, managers[0]);
    let g = m.try_acquire(["foundation.async.config"]).unwrap();
    assert!(g.holds("foundation.async.config"));
}

#[test]
fn a_global_with_a_timer_of_your_choice() {
    static LOCKS: Global<ManualTimer> = Global::new();
    assert!(LOCKS.get().is_none());
    assert!(format!("{LOCKS:?}").contains("None"));
    let err = LOCKS
        .get_or_try_init(|| Err(Error::EmptyName { order: 1 }))
        .unwrap_err();
    assert_eq!(err, Error::EmptyName { order: 1 });
    let m = LOCKS
        .get_or_try_init(|| {
            let mut b = LockManager::builder().timer(ManualTimer::new());
            b.register("db", 10)?;
            Ok(b.build())
        })
        .unwrap();
    assert!(std::ptr::eq(m, LOCKS.get().unwrap()));
    assert_eq!(m.id("db").map(|id| m.info(id).unwrap().order()), Ok(10));
}

#[test]
fn the_foundation_preset_is_the_seed_hierarchy_exactly() {
    let mut b = LockManager::builder();
    presets::foundation(&mut b).unwrap();
    let m = b.build();
    let got: Vec<_> = m
        .locks()
        .map(|l| (l.name().to_owned(), l.order(), l.description().to_owned()))
        .collect();
    let documented = documented_foundation();
    assert_eq!(
        documented.len(),
        8,
        "the doc table has the seed's eight rows"
    );
    assert_eq!(documented[0].0, "foundation.async.hub.init");
    assert_eq!(got, documented);
}

#[test]
fn the_preset_registers_all_or_nothing() {
    let mut b = LockManager::builder();
    b.register("mine", 110).unwrap(); // clashes with foundation.async.logger.setup
    let err = presets::foundation(&mut b).unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateOrder { order: 110, existing, .. } if existing == "mine"),
        "{err:?}"
    );
    assert_eq!(b.len(), 1);
    assert!(!b.contains("foundation.async.hub.init"));
    // The builder is still usable, and the preset fits once the clash is gone.
    let mut b2 = LockManager::builder();
    b2.register("mine", 300).unwrap();
    presets::foundation(&mut b2).unwrap();
    assert_eq!(b2.len(), 9);
}

/// A registration that asks for the global it is building gets an error instead of waiting for
/// itself for ever (it used to block silently). The outer call then fails with that error, and
/// the global stays empty.
#[test]
fn a_registration_that_asks_for_its_own_global_is_refused() {
    static LOCKS: Global<ManualTimer> = Global::new();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut inner = None;
        let outer = LOCKS.get_or_try_init(|| {
            inner = Some(
                LOCKS
                    .get_or_try_init(|| unreachable!("never runs"))
                    .map(drop),
            );
            Err(Error::EmptyName { order: 1 })
        });
        let _ = tx.send((inner, outer.map(drop)));
    });
    let (inner, outer) = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the re-entrant call did not return within ten seconds");
    assert_eq!(inner, Some(Err(Error::ReentrantInit)));
    assert!(Error::ReentrantInit
        .to_string()
        .contains("asked for that same global"));
    assert_eq!(outer, Err(Error::EmptyName { order: 1 }));
    assert!(LOCKS.get().is_none());
    // Another thread still builds it normally afterwards.
    let m = std::thread::spawn(|| {
        LOCKS
            .get_or_try_init(|| {
                let mut b = LockManager::builder().timer(ManualTimer::new());
                b.register("db", 1)?;
                Ok(b.build())
            })
            .map(|m| m.len())
    })
    .join()
    .unwrap();
    assert_eq!(m, Ok(1));
}
