//! Ordered lock sets across processes, on PostgreSQL.
//!
//! ```text
//! DATABASE_URL="host=/run/postgresql user=app dbname=app" cargo run -p lockorder-postgres --example postgres
//! cargo run -p lockorder-postgres --example postgres   # a throwaway cluster from the installed binaries
//! ```
//!
//! Run it from two terminals against the same server to see the second wait for the first.

use std::time::Duration;

use lockorder_postgres::{Error, PgLockManager, TempCluster};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A server: DATABASE_URL, or a cluster of our own (stopped when `_cluster` drops).
    let (url, _cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let cluster = TempCluster::start()?;
            println!("started a throwaway cluster in {}", cluster.dir().display());
            (cluster.connection_string(), Some(cluster))
        }
    };

    // One hierarchy for every process: the core crate's builder.
    let mut b = lockorder::LockManager::builder();
    b.register_with("config", 10, "service configuration")?
        .register_with("accounts", 20, "the accounts table")?
        .register_with("audit", 25, "the audit trail")?
        .register_with("ledger", 30, "the ledger")?
        .register_with("report", 40, "nightly report output")?;
    let locks = PgLockManager::connect(&url, b).await?;
    println!(
        "namespace {} (advisory keys are (namespace, order)); locks: {:?}",
        locks.namespace(),
        locks
            .locks()
            .map(|(name, order, _)| (name, order))
            .collect::<Vec<_>>()
    );

    // Any order in, ascending order taken, one round trip; config only read.
    let mut g = locks
        .acquire(["ledger", "accounts"])
        .shared(["config"])
        .owner(&format!("transfer-{}", std::process::id()))
        .timeout(Duration::from_secs(10))
        .await?;
    println!(
        "holding {:?}",
        g.locks().map(|l| l.name()).collect::<Vec<_>>()
    );

    // Another session (as another process would) cannot get in.
    match locks.try_acquire(["accounts"]).await {
        Err(Error::Lock(lockorder::Error::WouldBlock { lock })) => {
            println!("someone else asking for {lock}: would block")
        }
        other => println!("unexpected: {other:?}"),
    }

    // Nesting through the guard: checked against what is held.
    match g.acquire(["accounts"]).shared(["config"]).await {
        Ok(inner) => println!(
            "nested: already held, {} locks covered",
            inner.locks().count()
        ),
        Err(e) => println!("nested: {e}"),
    }
    if let Err(e) = g.acquire(["audit"]).await {
        println!("nested: {e}");
    }
    if let Err(e) = g.acquire(["config"]).await {
        println!("nested: {e}");
    }
    let report = g.acquire(["report"]).await?;

    // What every process can see.
    println!("\n{}", locks.status().await?);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for warning in locks.long_held(Duration::from_millis(100)).await? {
        println!("warning: {warning}");
    }

    report.release().await?;
    g.release().await?;
    println!(
        "\nreleased; free again: {}",
        !locks.status().await?[3].is_locked()
    );
    Ok(())
}
