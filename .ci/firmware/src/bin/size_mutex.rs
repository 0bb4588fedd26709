//! Size: `size_lockorder`'s workload on embassy-sync mutexes, taken one by one in ascending
//! order, each lock with a 100 ms timeout.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering::SeqCst};

use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_sync::mutex::Mutex;
use embassy_time::{with_timeout, Duration, Timer};
use lockorder_firmware::{self as rt, ensure};
use panic_semihosting as _;

const ROUNDS: u32 = 20;
static LOCKS: [Mutex<CriticalSectionRawMutex, ()>; 3] = [const { Mutex::new(()) }; 3];
static INSIDE: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];
static DONE: Channel<CriticalSectionRawMutex, (), 3> = Channel::new();

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
        for i in set {
            ensure!(INSIDE[i].fetch_add(1, SeqCst) == 0, "two holders");
        }
        Timer::after_ticks(1).await;
        for i in set {
            INSIDE[i].fetch_sub(1, SeqCst);
        }
        drop(second);
        drop(first);
    }
    DONE.send(()).await;
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    rt::init(3_000);
    rt::check("size-mutex");
    for set in [[0, 1], [1, 2], [0, 2]] {
        match worker(set) {
            Ok(token) => spawner.spawn(token),
            Err(_) => rt::fail(format_args!("spawn")),
        }
    }
    for _ in 0..3 {
        DONE.receive().await;
    }
    rt::pass(format_args!("3 tasks, {ROUNDS} rounds each"));
    rt::finish(1);
}
