//! lockorder on smol, with `AsyncIoTimer` (smol's timers are async-io's) for timeouts; owned
//! guards move into spawned tasks.
//!
//! Run with `cargo run -p lockorder-compat --example smol`.

mod common;

use lockorder::{AsyncIoTimer, Error};

fn main() -> Result<(), Error> {
    let m = common::manager(AsyncIoTimer::new())?;
    smol::block_on(common::demo(&m, smol::spawn))
}
