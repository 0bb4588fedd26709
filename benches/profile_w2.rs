//! W2's contended operation (`benches/lockorder.rs`) for one subject at a time, for `perf`
//! profiles: T tasks on W2's 2-worker tokio runtime take a random 3 of 16 locks exclusively,
//! run W2's critical section (which yields once while holding) and release, until the time is
//! up. (Not W2's variant without a yield: endless tasks that never yield would keep the two
//! workers to two of them.) Prints the operations per second, the CPU time per operation and how
//! many times the tasks were polled per operation (about one without waiting: the poll after the
//! yield releases and starts the next operation; the rest after wake-ups), so that two subjects'
//! profiles can be compared per operation. Not a timed benchmark: `cargo bench` skips it.
//!
//! ```text
//! cargo bench -p lockorder-benches --bench profile_w2 --no-run     # prints the binary's path
//! perf record -e cpu-clock -F 4000 target/release/deps/profile_w2-HASH lockorder-id 8 5
//! perf record -e cpu-clock -F 4000 target/release/deps/profile_w2-HASH async-lock 8 5
//! perf report --no-children --sort sym          # flat, by function
//! ```
//!
//! A profiler slows the two subjects unequally (`docs/performance.md`): compare shares of the
//! samples, and the CPU time per operation of runs without it.
//!
//! Arguments: the subject (`lockorder-id` or `async-lock`), T (default 8), seconds (default 5).

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use common::contended::{critical_section, runtime, ById, Exclusive, Locks, Mix, OneByOne, Rng};
use common::Args;

/// Counts the polls of the future it wraps, in the future itself (a shared counter would add
/// traffic on memory the workers share to what is measured).
struct PollCount<F> {
    inner: Pin<Box<F>>,
    polls: u64,
}

impl<F: Future> Future for PollCount<F> {
    type Output = (F::Output, u64);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls += 1;
        let polls = self.polls;
        self.inner.as_mut().poll(cx).map(|out| (out, polls))
    }
}

/// Runs `tasks` tasks on `L` for `seconds`; prints what the file's docs say.
fn run<L: Locks + 'static>(tasks: u64, seconds: u64) {
    let mix = Mix::EXCLUSIVE;
    let locks = Arc::new(L::new());
    let stop = Arc::new(AtomicBool::new(false));
    let rt = runtime();
    let cpu = common::contended::cpu_time();
    let start = Instant::now();
    let timer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(seconds));
            stop.store(true, Ordering::Relaxed);
        })
    };
    // Each task counts its operations and polls itself, and hands them back at the end.
    let (ops, polls) = rt.block_on(async {
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (locks, stop) = (locks.clone(), stop.clone());
                tokio::spawn(PollCount {
                    inner: Box::pin(async move {
                        let mut rng = Rng::new(t + 1);
                        let mut ops = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            let held = locks.take(rng.op(mix)).await;
                            critical_section(mix.hold_yield).await;
                            drop(held);
                            ops += 1;
                        }
                        ops
                    }),
                    polls: 0,
                })
            })
            .collect();
        let (mut ops, mut polls) = (0, 0);
        for h in handles {
            let (o, p) = h.await.expect("a task panicked");
            (ops, polls) = (ops + o, polls + p);
        }
        (ops.max(1), polls)
    });
    let elapsed = start.elapsed();
    timer.join().expect("the timer thread panicked");
    let cpu = cpu
        .zip(common::contended::cpu_time())
        .map(|(before, after)| format!("{:.0} ns", (after - before).as_nanos() as f64 / ops as f64))
        .unwrap_or_else(|| "-".into());
    println!(
        "{} T = {tasks}: {:.0} operations/s, CPU {cpu} per operation, {:.3} polls per operation",
        L::NAME,
        ops as f64 / elapsed.as_secs_f64(),
        polls as f64 / ops as f64,
    );
}

fn main() {
    let args = Args::new();
    let (tasks, seconds) = (args.number(1, 8), args.number(2, 5));
    match args.get(0).unwrap_or("lockorder-id") {
        "lockorder-id" => run::<ById>(tasks, seconds),
        "async-lock" => run::<OneByOne<Exclusive<async_lock::Mutex<()>>>>(tasks, seconds),
        other => {
            eprintln!("unknown subject {other}: lockorder-id | async-lock");
            std::process::exit(2);
        }
    }
}
