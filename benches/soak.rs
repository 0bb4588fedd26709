//! A soak run of the contended workload (W2, W4) against `lockorder` alone: T tasks repeat
//! operations on one manager, without the rounds of the benchmark, until the time is up. If no
//! operation finishes for 2 s, it prints the status table and exits with status 1: tasks that
//! wait while locks are free have lost a wake-up. Not a timed benchmark: `cargo bench` skips it.
//!
//! ```text
//! cargo bench -p lockorder-benches --bench soak -- [T] [write %] [seconds] [one-writer]
//! ```
//!
//! Defaults: T = 64, 100 % writing (W2's mix), 60 s. `10 one-writer` is W4's second mix.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::contended::{runtime, Kind, Mix, Rng};
use common::{manager, Args};

fn main() {
    let args = Args::new();
    let tasks = args.number(0, 64);
    let mix = Mix {
        write_pct: args.number(1, 100) as usize,
        one_writer: args.has("one-writer"),
        hold_yield: true,
    };
    let seconds = args.number(2, 60);
    let (m, ids) = manager();
    let (m, ids) = (Arc::new(m), Arc::<[_]>::from(ids));
    let done = Arc::new(AtomicU64::new(0));
    let rt = runtime();
    for t in 0..tasks {
        let (m, ids, done) = (m.clone(), ids.clone(), done.clone());
        rt.spawn(async move {
            let mut rng = Rng::new(t + 1);
            loop {
                let op = rng.op(mix);
                let [a, b, c] = op.locks.map(|i| ids[i]);
                let guard = match op.kind {
                    Kind::Write => m.acquire([a, b, c]).await,
                    Kind::Read => m.acquire_shared([a, b, c]).await,
                    Kind::OneWriter => m.acquire([a]).shared([b, c]).await,
                }
                .expect("known ids");
                tokio::task::yield_now().await;
                drop(guard);
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let start = Instant::now();
    let mut last = (0, Instant::now());
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_millis(100));
        let now = done.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(2) {
            println!(
                "STALLED: T = {tasks}, {mix:?}: no operation finished for 2 s, after {now} \
                 operations in {:.1} s. Status:\n{}",
                start.elapsed().as_secs_f64(),
                m.status()
            );
            std::process::exit(1);
        }
    }
    println!(
        "T = {tasks}, {mix:?}: {} operations in {seconds} s, no stall",
        done.load(Ordering::Relaxed)
    );
    std::process::exit(0);
}
