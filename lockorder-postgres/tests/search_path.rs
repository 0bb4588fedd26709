//! The statements the crate runs outside its functions (the fast path, status, the check) are
//! immune to objects planted on the session's `search_path`: a role that may create in a schema
//! on it (as every role could on `public` before PostgreSQL 15) defines an operator that is an
//! exact match where the built-in one needs a cast, and whose function releases the caller's
//! advisory locks. The crate must never call it.

mod common;

use common::*;
use lockorder_postgres::{Error, PgLockManager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_operator_on_the_search_path_is_never_called() -> Result {
    let c = client().await;
    let id = namespace("search-path").unsigned_abs();
    let (schema, app, mallory) = (
        format!("lockorder_test_sp_{id}"),
        format!("lockorder_test_app_{id}"),
        format!("lockorder_test_mal_{id}"),
    );
    // Operators that match exactly where the built-in ones need a cast (`float8 * int4`, as in
    // `date_part(...) * 1000`, and `numeric * int4`, as in `extract(...) * 1000`), each of which
    // records its call and releases the caller's advisory locks.
    let planted: String = [(1, "float8"), (2, "numeric")]
        .iter()
        .map(|(n, ty)| {
            format!(
                "CREATE FUNCTION {schema}.times_{n}({ty}, int4) RETURNS {ty} LANGUAGE sql AS
                     'INSERT INTO {schema}.planted_calls VALUES ({n});
                      SELECT pg_advisory_unlock_all();
                      SELECT $1 * $2::{ty}';
                 CREATE OPERATOR {schema}.* (LEFTARG = {ty}, RIGHTARG = int4,
                     FUNCTION = {schema}.times_{n});"
            )
        })
        .collect();
    // `schema` is like `public` before PostgreSQL 15: every role may create in it, and it is on
    // the application role's search_path.
    c.batch_execute(&format!(
        "CREATE ROLE {app} LOGIN; CREATE ROLE {mallory} LOGIN;
         CREATE SCHEMA {schema}; GRANT USAGE, CREATE ON SCHEMA {schema} TO PUBLIC;
         ALTER ROLE {app} SET search_path = \"$user\", {schema};
         CREATE TABLE {schema}.planted_calls (n int);
         GRANT INSERT ON {schema}.planted_calls TO PUBLIC;
         SET ROLE {mallory};
         {}
         RESET ROLE;",
        planted
    ))
    .await?;
    let ns = (id as i32) & 0x3fff_ffff;
    let mut config: lockorder_postgres::Config = database().parse().unwrap();
    config.user(&app);
    let victim = PgLockManager::builder(builder(ABCD))
        .namespace(ns)
        .schema(&schema)
        .connect(config)
        .await?;
    let other = PgLockManager::builder(builder(ABCD))
        .namespace(ns)
        .schema(&schema)
        .connect(database().parse().unwrap())
        .await?;

    let mut g = victim.acquire(["a", "b"]).await?;
    // Status and the check run on the victim's sessions too.
    let status = victim.status().await?;
    assert_eq!(status[0].holders.len(), 1, "{status:?}");
    g.check().await?;
    assert!(
        matches!(
            other.try_acquire(["a"]).await,
            Err(Error::Lock(lockorder::Error::WouldBlock { .. }))
        ),
        "a second holder of a: the victim's locks were released by a planted operator"
    );
    let calls: i64 = c
        .query_one(&format!("SELECT count(*) FROM {schema}.planted_calls"), &[])
        .await?
        .get(0);
    assert_eq!(calls, 0, "the planted operator ran as the victim");
    g.release().await?;
    drop((victim, other));
    c.batch_execute(&format!(
        "DROP SCHEMA {schema} CASCADE; DROP OWNED BY {app}, {mallory};
         DROP ROLE {app}; DROP ROLE {mallory};"
    ))
    .await?;
    Ok(())
}
