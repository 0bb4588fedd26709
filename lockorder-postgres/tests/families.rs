//! Lock families across processes: two managers built from the same core hierarchy map an
//! entity id to the same member, hence the same advisory key, and exclude each other on it.

mod common;

use common::*;
use lockorder_postgres::{Error, PgLockManager};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The hierarchy each "process" builds on its own: a ledger and 64 account stripes.
fn accounts(first: &str) -> lockorder::Builder {
    lockorder::LockManager::builder()
        .with_lock(first, 10)
        .unwrap()
        .with_family("account", 100, 64)
        .unwrap()
}

/// The member name of `id`, as a core manager over the same hierarchy computes it.
fn member_name(id: u64) -> String {
    let core = accounts("ledger").build();
    let member = core.member("account", id).unwrap();
    core.info(member).unwrap().name().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_map_to_the_same_advisory_key_in_every_manager() -> Result {
    let ns = namespace("families");
    let connect = |b| async move {
        PgLockManager::builder(b)
            .namespace(ns)
            .connect(database().parse().unwrap())
            .await
    };
    let one = connect(accounts("ledger")).await?;
    let two = connect(accounts("ledger")).await?;
    for id in [0, 17, 63, 64 + 17, 1 << 40, u64::MAX] {
        let name = member_name(id);
        assert_eq!(name, format!("account#{}", id % 64));
        let key = one.advisory_key(name.as_str())?;
        assert_eq!(key, (ns, 100 + (id % 64) as i32), "{name}");
        assert_eq!(two.advisory_key(name.as_str())?, key, "{name}");
    }
    // The member of account 17 in one manager is the member of account 81 in the other: the
    // same stripe, the same lock on the server.
    let g = one.acquire([member_name(17).as_str(), "ledger"]).await?;
    let e = two
        .try_acquire([member_name(81).as_str()])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Lock(lockorder::Error::WouldBlock { lock }) if lock == "account#17"),
        "{e}"
    );
    let other = two.try_acquire([member_name(18).as_str()]).await?;
    drop(other);
    g.release().await?;
    let again = two.try_acquire([member_name(81).as_str()]).await?;
    assert!(again.holds("account#17"));
    Ok(())
}
