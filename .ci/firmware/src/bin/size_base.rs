//! Size baseline: the workload of `size_lockorder` and `size_mutex` without any lock. Their
//! sizes minus this one's are what each locking scheme adds.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use embassy_time::Timer;
use lockorder_firmware as rt;
use panic_semihosting as _;

const ROUNDS: u32 = 20;
static DONE: Channel<CriticalSectionRawMutex, (), 3> = Channel::new();

#[embassy_executor::task(pool_size = 3)]
async fn worker(_set: [usize; 2]) {
    for _ in 0..ROUNDS {
        Timer::after_ticks(1).await;
    }
    DONE.send(()).await;
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    rt::init(3_000);
    rt::check("size-base");
    for set in [[0, 1], [1, 2], [0, 2]] {
        match worker(set) {
            Ok(token) => spawner.spawn(token),
            Err(_) => rt::fail(format_args!("spawn")),
        }
    }
    for _ in 0..3 {
        DONE.receive().await;
    }
    rt::pass(format_args!("3 tasks, {ROUNDS} rounds each, no locks"));
    rt::finish(1);
}
