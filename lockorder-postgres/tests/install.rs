//! Start-up trusts only its own objects: a function or sequence planted under the crate's name is
//! refused with an error naming it; no user text reaches a function body.

mod common;

use common::*;
use lockorder_postgres::{Error, PgLockManager};
use tokio_postgres::Client;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

async fn start_in(schema: &str) -> std::result::Result<PgLockManager, Error> {
    PgLockManager::builder(builder(ABCD))
        .namespace(namespace(schema))
        .schema(schema)
        .connect(database().parse().unwrap())
        .await
}

fn quoted(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

async fn fresh_schema(c: &Client, test: &str) -> Result<String> {
    let schema = format!("lockorder_test_{}", namespace(test).unsigned_abs());
    c.batch_execute(&format!("CREATE SCHEMA {schema}")).await?;
    Ok(schema)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_acquire_function_is_refused() -> Result {
    let c = client().await;
    let schema = fresh_schema(&c, "install-planted").await?;
    // Right name and signature, a body that takes nothing and claims success.
    c.batch_execute(&format!(
        "CREATE FUNCTION {schema}.lockorder_acquire_v2(ns int4, keys int4[], shared bool[],
             try_only bool, timeout_ms float8, app_head text, base_ms int8, label text, seq oid)
         RETURNS int8[] LANGUAGE sql AS $$ SELECT ARRAY[1, 1]::int8[] $$"
    ))
    .await?;
    let e = start_in(&schema).await.unwrap_err();
    match &e {
        Error::ForeignObject { object, found } => {
            assert!(object.contains("lockorder_acquire_v2"), "{object}");
            assert!(found.contains("another body"), "{found}");
            assert!(found.contains("LANGUAGE sql"), "{found}");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("is not lockorder's own"), "{e}");
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crates_own_body_with_other_set_options_is_refused() -> Result {
    let c = client().await;
    let genuine = fresh_schema(&c, "install-genuine").await?;
    start_in(&genuine).await?;
    let body: String = c
        .query_one(
            &format!(
                "SELECT prosrc FROM pg_proc WHERE oid =
                 to_regprocedure('{genuine}.lockorder_release_v2(int4,int4[],bool[],text)')"
            ),
            &[],
        )
        .await?
        .get(0);
    let schema = fresh_schema(&c, "install-set").await?;
    c.execute(
        "SELECT set_config('lockorder_test.body', $1, false)",
        &[&body],
    )
    .await?;
    // The same body, but with the caller's search_path instead of the crate's.
    c.batch_execute(&format!(
        "DO $do$ BEGIN EXECUTE format(
            'CREATE FUNCTION {schema}.lockorder_release_v2(ns int4, keys int4[], shared bool[],
                 app_name text) RETURNS int4 LANGUAGE plpgsql SET search_path = public AS %L',
            current_setting('lockorder_test.body'));
         END $do$"
    ))
    .await?;
    match start_in(&schema).await.unwrap_err() {
        Error::ForeignObject { object, found } => {
            assert!(object.contains("lockorder_release_v2"), "{object}");
            assert!(found.contains("SET options"), "{found}");
            assert!(found.contains("search_path=public"), "{found}");
            assert!(!found.contains("another body"), "{found}");
        }
        other => panic!("{other:?}"),
    }
    c.batch_execute(&format!(
        "DROP SCHEMA {schema} CASCADE; DROP SCHEMA {genuine} CASCADE"
    ))
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_sequence_is_refused() -> Result {
    let c = client().await;
    let schema = fresh_schema(&c, "install-sequence").await?;
    // Tokens that go down would let an old holder's writes through.
    c.batch_execute(&format!(
        "CREATE SEQUENCE {schema}.lockorder_fencing_token INCREMENT BY -1"
    ))
    .await?;
    match start_in(&schema).await.unwrap_err() {
        Error::ForeignObject { object, found } => {
            assert!(object.contains("lockorder_fencing_token"), "{object}");
            assert!(found.contains("INCREMENT BY -1"), "{found}");
        }
        other => panic!("{other:?}"),
    }
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .await?;
    Ok(())
}

/// The schema name appears in statements only as a quoted identifier, never inside a function
/// body: dollar-quote tags, quotes and spaces in it are harmless.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_name_with_dollar_quotes_works() -> Result {
    let c = client().await;
    let schema = format!(
        "we\"ird $fn$ $lockorder$ {}",
        namespace("install-dollar").unsigned_abs()
    );
    c.batch_execute(&format!("CREATE SCHEMA {}", quoted(&schema)))
        .await?;
    let m = start_in(&schema).await?;
    let mut g = m.acquire(["a", "c"]).await?;
    let inner = g.acquire(["d"]).await?;
    assert!(inner.fencing_token() > 0);
    inner.release().await?;
    g.release().await?;
    // A second start finds and accepts what the first installed.
    drop(start_in(&schema).await?);
    c.batch_execute(&format!("DROP SCHEMA {} CASCADE", quoted(&schema)))
        .await?;
    Ok(())
}
