//! A fixed amount of uncontended work (W1 of `benches/lockorder.rs`), for instruction-level
//! profiles. Not a timed benchmark: `cargo bench` skips it.
//!
//! ```text
//! cargo bench --bench profile_w1 --no-run        # prints the binary's path
//! valgrind --tool=callgrind target/release/deps/profile_w1-HASH lockorder-id 4 100000
//! ```
//!
//! The difference between the instruction counts of two runs with different N, divided by the
//! difference of N, is the cost of one iteration, setup excluded. `benches/chart.py --callgrind`
//! does that for every variant.
//!
//! Each variant's loop is a function of its own that is never inlined: were they all inlined into
//! `main`, the inliner's budget for one variant would depend on the code of the others, and a
//! peer's count could move by a third when an unrelated variant is added.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{lock_each, manager, manager_of, names, ready, Peer, LOCKS};
use lockorder::{LockId, LockManager};

const VARIANTS: &str = "lockorder-id | lockorder-shared | lockorder-name | lockorder-try | \
                        lockorder-nested | lockorder-phase1 | lockorder-prev | \
                        async-lock | tokio | futures | maitake-sync | atomic-floor";

#[inline(never)]
fn by_id(m: &LockManager, ids: &[LockId], n: u64) {
    for _ in 0..n {
        drop(black_box(ready(m.acquire(ids)).unwrap()));
    }
}

/// [`by_id`] on an earlier core of the library, vendored under `benches/vendor/`.
macro_rules! by_id_on {
    ($name:ident, $core:ident) => {
        #[inline(never)]
        fn $name(k: usize, n: u64) {
            let (m, ids) = manager_of!($core);
            for _ in 0..n {
                drop(black_box(ready(m.acquire(&ids[..k])).unwrap()));
            }
        }
    };
}
by_id_on!(by_id_phase1, lockorder_phase1);
by_id_on!(by_id_prev, lockorder_prev);

#[inline(never)]
fn shared(m: &LockManager, ids: &[LockId], n: u64) {
    for _ in 0..n {
        drop(black_box(ready(m.acquire_shared(ids)).unwrap()));
    }
}

#[inline(never)]
fn by_name(m: &LockManager, names: &[String], n: u64) {
    for _ in 0..n {
        let keys = names.iter().map(String::as_str);
        drop(black_box(ready(m.acquire(keys)).unwrap()));
    }
}

#[inline(never)]
fn try_now(m: &LockManager, ids: &[LockId], n: u64) {
    for _ in 0..n {
        drop(black_box(m.try_acquire(ids).unwrap()));
    }
}

#[inline(never)]
fn nested(m: &LockManager, ids: &[LockId], n: u64) {
    let (outer_ids, inner_ids) = ids.split_at(ids.len() / 2);
    for _ in 0..n {
        let mut outer = ready(m.acquire(outer_ids)).unwrap();
        let inner = ready(outer.acquire(inner_ids)).unwrap();
        drop(black_box(inner));
        drop(black_box(outer));
    }
}

#[inline(never)]
fn peer<M: Peer>(k: usize, n: u64) {
    let locks: Vec<M> = (0..LOCKS).map(|_| M::new()).collect();
    let mut guards = Vec::with_capacity(LOCKS);
    for _ in 0..n {
        lock_each(&locks[..k], &mut guards);
    }
}

#[inline(never)]
fn atomic_floor(k: usize, n: u64) {
    let flags: Vec<AtomicBool> = (0..LOCKS).map(|_| AtomicBool::new(false)).collect();
    for _ in 0..n {
        for f in &flags[..k] {
            assert!(f
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok());
        }
        for f in flags[..k].iter().rev() {
            f.store(false, Ordering::Release);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [variant, k, n] = match &args[..] {
        [v, k, n] => [v.as_str(), k, n],
        _ => {
            eprintln!("usage: profile_w1 <{VARIANTS}> <K: 1..=16> <N iterations>");
            return;
        }
    };
    let k: usize = k.parse().expect("K is a number");
    let n: u64 = n.parse().expect("N is a number");
    assert!((1..=LOCKS).contains(&k), "K must be in 1..={LOCKS}");
    let (m, ids) = manager();
    let names = names();
    match variant {
        "lockorder-id" => by_id(&m, &ids[..k], n),
        "lockorder-shared" => shared(&m, &ids[..k], n),
        "lockorder-name" => by_name(&m, &names[..k], n),
        "lockorder-try" => try_now(&m, &ids[..k], n),
        "lockorder-nested" => nested(&m, &ids[..k], n),
        "lockorder-phase1" => by_id_phase1(k, n),
        "lockorder-prev" => by_id_prev(k, n),
        "async-lock" => peer::<async_lock::Mutex<()>>(k, n),
        "tokio" => peer::<tokio::sync::Mutex<()>>(k, n),
        "futures" => peer::<futures::lock::Mutex<()>>(k, n),
        "maitake-sync" => peer::<maitake_sync::Mutex<()>>(k, n),
        "atomic-floor" => atomic_floor(k, n),
        other => panic!("unknown variant {other:?}: expected one of {VARIANTS}"),
    }
}
