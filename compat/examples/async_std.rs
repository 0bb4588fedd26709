//! lockorder on async-std, with `AsyncIoTimer` (async-std's timers are async-io's) for timeouts;
//! owned guards move into spawned tasks.
//!
//! Run with `cargo run -p lockorder-compat --example async_std`.

mod common;

use lockorder::{AsyncIoTimer, Error};

fn main() -> Result<(), Error> {
    let m = common::manager(AsyncIoTimer::new())?;
    async_std::task::block_on(common::demo(&m, async_std::task::spawn))
}
