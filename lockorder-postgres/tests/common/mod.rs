//! The server the tests run against, and helpers.
//!
//! `DATABASE_URL` when set; otherwise one throwaway cluster per test binary, started on first
//! use. Its watchdog stops it and deletes its directory once the test process is gone, however
//! the process ends (a `static` is never dropped).
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lockorder_postgres::{PgLockManager, TempCluster};
use tokio_postgres::{Client, NoTls};

/// The connection string of the server under test.
pub(crate) fn database() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return url;
    }
    static CLUSTER: OnceLock<TempCluster> = OnceLock::new();
    CLUSTER
        .get_or_init(|| {
            TempCluster::start().expect(
                "no DATABASE_URL and no throwaway cluster: install PostgreSQL \
                 (apt-get install postgresql) or set DATABASE_URL",
            )
        })
        .connection_string()
}

/// A namespace of this test's own, so that tests running at once (and earlier runs against the
/// same `DATABASE_URL`) never share a lock or a hierarchy row.
pub(crate) fn namespace(test: &str) -> i32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ nanos ^ (u64::from(std::process::id()) << 32);
    for b in test.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 33) as i32
}

/// A core builder with these locks.
pub(crate) fn builder(locks: &[(&str, u32)]) -> lockorder::Builder {
    let mut b = lockorder::LockManager::builder();
    for &(name, order) in locks {
        b.register_with(name, order, &format!("the {name} lock"))
            .unwrap();
    }
    b
}

/// The usual test hierarchy: a(10) < b(20) < c(30) < d(40).
pub(crate) const ABCD: &[(&str, u32)] = &[("a", 10), ("b", 20), ("c", 30), ("d", 40)];

/// A manager over `locks` in namespace `ns`.
pub(crate) async fn manager_in(ns: i32, locks: &[(&str, u32)]) -> PgLockManager {
    PgLockManager::builder(builder(locks))
        .namespace(ns)
        .connect(database().parse().unwrap())
        .await
        .expect("manager starts")
}

/// A plain client for looking at the server from outside the crate.
pub(crate) async fn client() -> Client {
    let (client, conn) = tokio_postgres::connect(&database(), NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// The advisory locks of namespace `ns` in `pg_locks`: (order, granted, backend pid).
pub(crate) async fn advisory(client: &Client, ns: i32) -> Vec<(u32, bool, i32)> {
    client
        .query(
            "SELECT objid::int8, granted, pid FROM pg_locks WHERE locktype = 'advisory'
               AND objsubid = 2 AND classid::int8 = $1 ORDER BY objid, pid",
            &[&i64::from(ns as u32)],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, i64>(0) as u32, r.get(1), r.get(2)))
        .collect()
}

/// Polls `cond` until it holds, for at most `limit`.
pub(crate) async fn eventually<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A small deterministic generator (xorshift64*), seeded per worker.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
