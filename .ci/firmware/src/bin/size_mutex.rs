//! Size: `size_lockorder`'s workload on embassy-sync mutexes, taken one by one in ascending
//! order, each lock with a 100 ms timeout.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::mutex::Mutex;
use embassy_time::{with_timeout, Duration, Timer};
use lockorder_firmware::{self as rt, size, size::ROUNDS};
use panic_semihosting as _;

static LOCKS: [Mutex<CriticalSectionRawMutex, ()>; 3] = [const { Mutex::new(()) }; 3];

#[embassy_executor::task(pool_size = 3)]
async fn worker(set: [usize; 2]) {
    let timeout = Duration::from_millis(100);
    for _ in 0..ROUNDS {
        let Ok(first) = with_timeout(timeout, LOCKS[set[0]].lock()).await else {
            rt::fail(format_args!("timed out"));
        };
        let Ok(second) = with_timeout(timeout, LOCKS[set[1]].lock()).await else {
            rt::fail(format_args!("timed out"));
        };
        size::enter(set);
        Timer::after_ticks(1).await;
        size::leave(set);
        drop(second);
        drop(first);
    }
    size::done().await;
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    size::start("size-mutex");
    size::spawn(spawner, worker);
    size::finished().await;
    rt::pass(format_args!("3 tasks, {ROUNDS} rounds each"));
    rt::finish(1);
}
