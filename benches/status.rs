//! What reading status costs an acquirer.
//!
//! Run with `cargo bench --bench status`. One thread acquires and releases 4 locks (by id,
//! uncontended) while, in the other rows, a second thread reads `status()` or `long_held()` in a
//! tight loop, or `status()` once a millisecond. Readers only load atomics, so the acquirer's cost should change only by cache-line
//! traffic on the slots it owns. The same rows are timed with a clock-backed timer, where each
//! acquire also takes one `now()` for its timestamp. `status_read` times one `status()` of 16
//! locks, from the reader's side.

mod common;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use lockorder::{LockId, LockManager, MaybeTimer, Timer};

use common::{manager, ready, LOCKS};

const K: usize = 4;

/// A monotonic clock from `Instant`; its sleeps never complete (uncontended rows never sleep).
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Timer for Clock {
    type Sleep = std::future::Pending<()>;

    fn now(&self) -> Duration {
        self.0.elapsed()
    }

    fn sleep(&self, _: Duration) -> Self::Sleep {
        std::future::pending()
    }
}

fn timed_manager() -> (LockManager<Clock>, Vec<LockId>) {
    let mut b = LockManager::builder().timer(Clock(Instant::now()));
    for i in 0..LOCKS {
        b.register(&format!("lock-{i:02}"), i as u32 * 10).unwrap();
    }
    let m = b.build();
    let ids = m.locks().map(|l| l.id()).collect();
    (m, ids)
}

#[derive(Clone, Copy, Debug)]
enum Reader {
    None,
    /// `status()` in a tight loop: the worst case.
    Status,
    /// `long_held()` in a tight loop.
    LongHeld,
    /// `status()` once a millisecond, a watchdog's pace (and faster than most).
    StatusEveryMs,
}

fn rows<T>(c: &mut Criterion, label: &str, m: &LockManager<T>, ids: &[LockId])
where
    T: MaybeTimer + Sync,
{
    let mut g = c.benchmark_group("status_cost");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40);
    for reader in [
        Reader::None,
        Reader::Status,
        Reader::LongHeld,
        Reader::StatusEveryMs,
    ] {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let stop = &stop;
            if !matches!(reader, Reader::None) {
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match reader {
                            Reader::Status => drop(black_box(m.status())),
                            Reader::LongHeld => drop(black_box(m.long_held(Duration::ZERO))),
                            Reader::StatusEveryMs => {
                                drop(black_box(m.status()));
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            Reader::None => {}
                        }
                    }
                });
            }
            let id = BenchmarkId::new(format!("{label}/acquire-{K}"), format!("{reader:?}"));
            g.bench_function(id, |b| {
                b.iter(|| drop(black_box(ready(m.acquire(&ids[..K])).unwrap())));
            });
            stop.store(true, Ordering::Relaxed);
        });
    }
    g.finish();
}

fn status_cost(c: &mut Criterion) {
    let (m, ids) = manager();
    rows(c, "no-timer", &m, &ids);
    let (m, ids) = timed_manager();
    rows(c, "clock", &m, &ids);

    let mut g = c.benchmark_group("status_read");
    let guard = ready(m.acquire(&ids[..K]).owner("bench")).unwrap();
    g.bench_function("status-16-locks", |b| b.iter(|| black_box(m.status())));
    drop(guard);
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    status_cost(&mut c);
    c.final_summary();
}
