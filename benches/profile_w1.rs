//! A fixed amount of uncontended work (W1 of `benches/lockorder.rs`), for instruction-level
//! profiles. Not a timed benchmark: `cargo bench` skips it.
//!
//! ```text
//! cargo bench --bench profile_w1 --no-run        # prints the binary's path
//! valgrind --tool=callgrind target/release/deps/profile_w1-HASH lockorder-id 4 100000
//! ```
//!
//! The difference between the instruction counts of two runs with different N, divided by the
//! difference of N, is the cost of one iteration, setup excluded.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{lock_each, manager, names, ready, Peer, LOCKS};

const VARIANTS: &str = "lockorder-id | lockorder-shared | lockorder-name | lockorder-try | \
                        lockorder-nested | \
                        async-lock | tokio | futures | maitake-sync | atomic-floor";

fn peer<M: Peer>(k: usize, n: u64) {
    let locks: Vec<M> = (0..LOCKS).map(|_| M::new()).collect();
    let mut guards = Vec::with_capacity(LOCKS);
    for _ in 0..n {
        lock_each(&locks[..k], &mut guards);
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
        "lockorder-id" => {
            for _ in 0..n {
                drop(black_box(ready(m.acquire(&ids[..k])).unwrap()));
            }
        }
        "lockorder-shared" => {
            for _ in 0..n {
                drop(black_box(ready(m.acquire_shared(&ids[..k])).unwrap()));
            }
        }
        "lockorder-name" => {
            for _ in 0..n {
                let keys = names[..k].iter().map(String::as_str);
                drop(black_box(ready(m.acquire(keys)).unwrap()));
            }
        }
        "lockorder-try" => {
            for _ in 0..n {
                drop(black_box(m.try_acquire(&ids[..k]).unwrap()));
            }
        }
        "lockorder-nested" => {
            let half = k / 2;
            for _ in 0..n {
                let mut outer = ready(m.acquire(&ids[..half])).unwrap();
                let inner = ready(outer.acquire(&ids[half..k])).unwrap();
                drop(black_box(inner));
                drop(black_box(outer));
            }
        }
        "async-lock" => peer::<async_lock::Mutex<()>>(k, n),
        "tokio" => peer::<tokio::sync::Mutex<()>>(k, n),
        "futures" => peer::<futures::lock::Mutex<()>>(k, n),
        "maitake-sync" => peer::<maitake_sync::Mutex<()>>(k, n),
        "atomic-floor" => {
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
        other => panic!("unknown variant {other:?}: expected one of {VARIANTS}"),
    }
}
