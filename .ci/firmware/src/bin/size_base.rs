//! Size baseline: the workload of `size_lockorder` and `size_mutex` without any lock. Their
//! sizes minus this one's are what each locking scheme adds.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use embassy_time::Timer;
use lockorder_firmware::{self as rt, size, size::ROUNDS};
use panic_semihosting as _;

#[embassy_executor::task(pool_size = 3)]
async fn worker(_set: [usize; 2]) {
    for _ in 0..ROUNDS {
        Timer::after_ticks(1).await;
    }
    size::done().await;
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    size::start("size-base");
    size::spawn(spawner, worker);
    size::finished().await;
    rt::pass(format_args!("3 tasks, {ROUNDS} rounds each, no locks"));
    rt::finish(1);
}
