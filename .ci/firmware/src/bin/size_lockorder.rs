//! Size: three tasks take overlapping pairs of three locks through lockorder, each acquire with
//! a 100 ms timeout, and check that no lock ever has two holders. Compare with `size_mutex`
//! (the same on embassy-sync mutexes) and `size_base` (no locks).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering::SeqCst};
use core::time::Duration;

use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::Timer;
use lockorder::global::Global;
use lockorder::{EmbassyTimer, LockManager};
use lockorder_firmware::{self as rt, ensure};
use panic_semihosting as _;

const ROUNDS: u32 = 20;
const NAMES: [&str; 3] = ["a", "b", "c"];
static LOCKS: Global<EmbassyTimer> = Global::new();
static INSIDE: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];
static DONE: Channel<CriticalSectionRawMutex, (), 3> = Channel::new();

#[embassy_executor::task(pool_size = 3)]
async fn worker(m: &'static LockManager<EmbassyTimer>, set: [usize; 2]) {
    for _ in 0..ROUNDS {
        let keys = [NAMES[set[0]], NAMES[set[1]]];
        let Ok(guard) = m.acquire(keys).timeout(Duration::from_millis(100)).await else {
            rt::fail(format_args!("timed out"));
        };
        for i in set {
            ensure!(INSIDE[i].fetch_add(1, SeqCst) == 0, "two holders");
        }
        Timer::after_ticks(1).await;
        for i in set {
            INSIDE[i].fetch_sub(1, SeqCst);
        }
        drop(guard);
    }
    DONE.send(()).await;
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    rt::heap!(2048);
    rt::init(3_000);
    rt::check("size-lockorder");
    let built = LOCKS.get_or_try_init(|| {
        let mut b = LockManager::builder().timer(EmbassyTimer::new());
        for (order, name) in (10..).step_by(10).zip(NAMES) {
            b.register(name, order)?;
        }
        Ok(b.build())
    });
    let Ok(m) = built else {
        rt::fail(format_args!("registration failed"));
    };
    let manager = rt::HEAP.used();
    for set in [[0, 1], [1, 2], [0, 2]] {
        match worker(m, set) {
            Ok(token) => spawner.spawn(token),
            Err(_) => rt::fail(format_args!("spawn")),
        }
    }
    for _ in 0..3 {
        DONE.receive().await;
    }
    rt::pass(format_args!(
        "3 tasks, {ROUNDS} rounds each; heap in use: {} bytes, manager {manager}",
        rt::HEAP.used()
    ));
    rt::finish(1);
}
