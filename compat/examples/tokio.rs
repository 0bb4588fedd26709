//! lockorder on tokio's multi-threaded runtime, with `TokioTimer` for timeouts; owned guards move
//! into spawned tasks.
//!
//! Run with `cargo run -p lockorder-compat --example tokio`.

mod common;

use lockorder::{Error, TokioTimer};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let m = common::manager(TokioTimer::new())?;
    common::demo(&m, |task| {
        let handle = tokio::spawn(task); // spawned now, awaited later
        async { handle.await.expect("a task panicked") }
    })
    .await
}
