//! Errors show what the server said: its message and SQLSTATE code, whatever the variant.

mod common;

use common::*;
use lockorder_postgres::{Error, PgLockManager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

async fn start(ns: i32, b: lockorder::Builder) -> std::result::Result<PgLockManager, Error> {
    PgLockManager::builder(b)
        .namespace(ns)
        .connect(database().parse().unwrap())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_a_description_is_shown_as_the_server_said_it() -> Result {
    let mut b = lockorder::LockManager::builder();
    b.register_with("a", 10, "bad\0description")?;
    let e = start(namespace("errors-nul"), b).await.unwrap_err();
    assert!(matches!(e, Error::Database(_)), "{e:?}");
    let shown = e.to_string();
    assert!(shown.contains("0x00"), "{shown}");
    assert!(shown.contains("SQLSTATE 22021"), "{shown}");
    assert!(!shown.contains("db error"), "{shown}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_too_long_for_the_index_is_shown_as_the_server_said_it() -> Result {
    // Incompressible, so that the index entry really is too big.
    let mut rng = Rng(0x1234_5678);
    let name: String = (0..9000)
        .map(|_| char::from(b'a' + rng.below(26) as u8))
        .collect();
    let mut b = lockorder::LockManager::builder();
    b.register(&name, 10)?;
    let e = start(namespace("errors-long"), b).await.unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("SQLSTATE 54000"), "{shown}");
    assert!(shown.contains("index row"), "{shown}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_connections_is_shown_as_the_server_said_it() -> Result {
    let c = client().await;
    let role = format!(
        "lockorder_test_nolimit_{}",
        namespace("errors-limit").unsigned_abs()
    );
    c.batch_execute(&format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT 0"))
        .await?;
    let mut config: lockorder_postgres::Config = database().parse()?;
    config.user(&role);
    let e = PgLockManager::builder(builder(ABCD))
        .connect(config)
        .await
        .unwrap_err();
    c.batch_execute(&format!("DROP ROLE {role}")).await?;
    assert!(matches!(e, Error::Connect(_)), "{e:?}");
    let shown = e.to_string();
    assert!(shown.contains("too many connections"), "{shown}");
    assert!(shown.contains("SQLSTATE 53300"), "{shown}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_session_says_what_the_server_said() -> Result {
    let ns = namespace("errors-lost");
    let m = manager_in(ns, ABCD).await;
    let c = client().await;
    let mut g = m.acquire(["b"]).await?;
    c.execute(
        "SELECT pg_terminate_backend($1, 5000)",
        &[&g.backend_pid().unwrap()],
    )
    .await?;
    eventually(std::time::Duration::from_secs(5), "loss seen", || async {
        g.is_lost()
    })
    .await;
    let e = g.check().await.unwrap_err();
    let shown = e.to_string();
    assert!(shown.contains("`b` (order 20)"), "{shown}");
    assert!(shown.contains("administrator command"), "{shown}");
    assert!(shown.contains("SQLSTATE 57P01"), "{shown}");
    Ok(())
}
