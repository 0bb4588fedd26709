//! The cost of task keys, for instruction profiles: W1's uncontended acquire + release by id,
//! with and without a key. Not a timed benchmark: `cargo bench` skips it.
//!
//! ```text
//! CARGO_PROFILE_BENCH_DEBUG=true cargo bench -p lockorder-benches --bench profile_keys --no-run --target-dir target/profile
//! valgrind --tool=callgrind target/profile/release/deps/profile_keys-HASH keyed 4 10000
//! ```
//!
//! As with `profile_w1`, the difference of two runs' instruction counts over the difference of
//! their N is the cost of one iteration; `time` mode prints nanoseconds per iteration instead.

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{manager, ready, LOCKS};
use lockorder::{LockId, LockManager};

const VARIANTS: &str = "unkeyed | keyed | keyed-nested";

#[inline(never)]
fn unkeyed(m: &LockManager, ids: &[LockId], n: u64) {
    for _ in 0..n {
        drop(black_box(ready(m.acquire(ids)).unwrap()));
    }
}

#[inline(never)]
fn keyed(m: &LockManager, ids: &[LockId], n: u64) {
    let key = m.task_key();
    for _ in 0..n {
        drop(black_box(ready(m.acquire(ids).key(&key)).unwrap()));
    }
}

#[inline(never)]
fn keyed_nested(m: &LockManager, ids: &[LockId], n: u64) {
    let key = m.task_key();
    let (outer_ids, inner_ids) = ids.split_at(ids.len() / 2);
    for _ in 0..n {
        let mut outer = ready(m.acquire(outer_ids).key(&key)).unwrap();
        let inner = ready(outer.acquire(inner_ids)).unwrap();
        drop(black_box(inner));
        drop(black_box(outer));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (variant, k, n, time) = match &args[..] {
        [v, k, n] => (v.as_str(), k, n, false),
        [v, k, n, t] if t == "time" => (v.as_str(), k, n, true),
        _ => {
            eprintln!("usage: profile_keys <{VARIANTS}> <K: 1..=16> <N iterations> [time]");
            return;
        }
    };
    let k: usize = k.parse().expect("K is a number");
    let n: u64 = n.parse().expect("N is a number");
    assert!((1..=LOCKS).contains(&k), "K must be in 1..={LOCKS}");
    let (m, ids) = manager();
    let ids = &ids[..k];
    let run = |n| match variant {
        "unkeyed" => unkeyed(&m, ids, n),
        "keyed" => keyed(&m, ids, n),
        "keyed-nested" => keyed_nested(&m, ids, n),
        other => panic!("unknown variant {other:?}: expected one of {VARIANTS}"),
    };
    if time {
        run(n / 10); // warm-up
        let start = Instant::now();
        run(n);
        println!(
            "{variant} K={k}: {:.1} ns",
            start.elapsed().as_nanos() as f64 / n as f64
        );
    } else {
        run(n);
    }
}
