//! The privileges the README documents, as they are: a first role installs (it needs CREATE
//! on the schema); a second role starts, locks and reads status with exactly the documented
//! grants, and a missing grant is refused at start-up with the GRANT to run.

mod common;

use std::time::Duration;

use common::*;
use lockorder_postgres::{Error, PgLockManager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

async fn start_as(
    role: &str,
    schema: &str,
    ns: i32,
    locks: &[(&str, u32)],
) -> std::result::Result<PgLockManager, Error> {
    let mut config: lockorder_postgres::Config = database().parse().unwrap();
    config.user(role);
    PgLockManager::builder(builder(locks))
        .namespace(ns)
        .schema(schema)
        .connect(config)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_role_works_with_exactly_the_documented_grants() -> Result {
    let c = client().await;
    let id = namespace("privileges").unsigned_abs();
    let (schema, installer, user, short) = (
        format!("lockorder_test_priv_{id}"),
        format!("lockorder_test_inst_{id}"),
        format!("lockorder_test_user_{id}"),
        format!("lockorder_test_short_{id}"),
    );
    // Plain login roles; only the installer may create in the schema.
    c.batch_execute(&format!(
        "CREATE ROLE {installer} LOGIN; CREATE ROLE {user} LOGIN; CREATE ROLE {short} LOGIN;
         CREATE SCHEMA {schema};
         GRANT USAGE, CREATE ON SCHEMA {schema} TO {installer};"
    ))
    .await?;
    let ns = id as i32 & 0x3fff_ffff;
    let first = start_as(&installer, &schema, ns, &[("a", 10), ("b", 20)]).await?;

    // The documented grants for every other role: USAGE on the schema from its owner, the rest
    // from the installing role, which owns the objects (EXECUTE on functions and CONNECT on the
    // database are PUBLIC's by default).
    let grants = |role: &str| {
        format!(
            "GRANT USAGE ON SCHEMA {schema} TO {role};
             SET ROLE {installer};
             GRANT SELECT, INSERT ON {schema}.lockorder_hierarchy TO {role};
             GRANT USAGE ON SEQUENCE {schema}.lockorder_fencing_token TO {role};
             RESET ROLE;"
        )
    };
    c.batch_execute(&grants(&user)).await?;
    // It records a lock the first did not have (INSERT), and starts again (no CREATE needed).
    let second = start_as(&user, &schema, ns, &[("a", 10), ("b", 20), ("c", 30)]).await?;
    drop(start_as(&user, &schema, ns, &[("a", 10)]).await?);

    let g1 = first.acquire(["a"]).owner("first role").await?;
    let t1 = g1.fencing_token();
    assert!(matches!(
        second.try_acquire(["a"]).await,
        Err(Error::Lock(lockorder::Error::WouldBlock { .. }))
    ));
    // Status across roles: holders, pids and labels of the other role's sessions are visible.
    let status = second.status().await?;
    assert_eq!(status[0].holders.len(), 1);
    assert_eq!(status[0].holders[0].label, "first role");
    assert_eq!(Some(status[0].holders[0].backend_pid), g1.backend_pid());
    g1.release().await?;
    let mut g2 = second
        .acquire(["a", "c"])
        .timeout(Duration::from_secs(5))
        .await?;
    assert!(g2.fencing_token() > t1);
    let inner = g2.acquire(["b"]).await;
    assert!(inner.is_err(), "b is below c: an order violation");
    drop(inner);
    g2.check().await?;
    g2.release().await?;

    // Without the sequence's grant, start-up says which GRANT is missing.
    c.batch_execute(&format!(
        "{} SET ROLE {installer};
         REVOKE USAGE ON SEQUENCE {schema}.lockorder_fencing_token FROM {short}; RESET ROLE;",
        grants(&short)
    ))
    .await?;
    match start_as(&short, &schema, ns, &[("a", 10)])
        .await
        .unwrap_err()
    {
        e @ Error::MissingPrivilege { .. } => {
            let shown = e.to_string();
            assert!(
                shown.contains(&format!(
                    "GRANT USAGE ON SEQUENCE \"{schema}\".lockorder_fencing_token TO \"{short}\""
                )),
                "{shown}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Without INSERT, it starts only when its locks are all recorded.
    c.batch_execute(&format!(
        "SET ROLE {installer};
         GRANT USAGE ON SEQUENCE {schema}.lockorder_fencing_token TO {short};
         REVOKE INSERT ON {schema}.lockorder_hierarchy FROM {short}; RESET ROLE"
    ))
    .await?;
    drop(start_as(&short, &schema, ns, &[("a", 10), ("c", 30)]).await?);
    match start_as(&short, &schema, ns, &[("a", 10), ("d", 40)]).await {
        Err(e @ Error::MissingPrivilege { .. }) => {
            assert!(e.to_string().contains("GRANT INSERT ON TABLE"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    drop((first, second));
    Ok(())
}
