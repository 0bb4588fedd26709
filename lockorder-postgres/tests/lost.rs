//! `lost()` of a nested guard when the server stops (its connection closes under it), and of a
//! healthy guard: pending for as long as it holds, while other guards come and go.

mod common;

use std::time::{Duration, Instant};

use common::*;
use lockorder_postgres::{Error, PgLockManager, TempCluster};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A cluster of the test's own; `None` (the test skips) when `DATABASE_URL` names the server
/// and PostgreSQL's binaries are not here.
fn own_cluster() -> Option<TempCluster> {
    match TempCluster::start() {
        Ok(c) => Some(c),
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && std::env::var_os("DATABASE_URL").is_some() =>
        {
            eprintln!("SKIP: this test needs PostgreSQL's binaries here: {e}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_wakes_a_nested_guard_when_the_server_stops_and_never_a_healthy_one() -> Result {
    // This test stops its server, so it always has a cluster of its own.
    let Some(cluster) = own_cluster() else {
        return Ok(());
    };
    let m = PgLockManager::builder(builder(ABCD))
        .connect(cluster.connection_string().parse()?)
        .await?;

    // Healthy: pending while other guards are taken and released on other sessions and on its
    // own (nested), and while it is checked.
    let mut healthy = m.acquire(["d"]).await?;
    for _ in 0..5 {
        m.acquire(["a", "b"]).await?.release().await?;
        drop(m.acquire(["c"]).await?);
    }
    {
        let inner = healthy.acquire(["d"]).await?;
        assert!(
            tokio::time::timeout(Duration::from_millis(50), inner.lost())
                .await
                .is_err()
        );
        inner.release().await?;
    }
    healthy.check().await?;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), healthy.lost())
            .await
            .is_err(),
        "lost() resolved for a guard that holds its locks"
    );
    healthy.release().await?;

    let mut g = m.acquire(["a"]).await?;
    let inner = g.acquire(["b", "c"]).await?;
    let start = Instant::now();
    let stop = tokio::task::spawn_blocking(move || (cluster.stop(), cluster));
    tokio::time::timeout(Duration::from_secs(5), inner.lost())
        .await
        .expect("the nested guard's lost() resolves when the server stops");
    let waited = start.elapsed();
    let (stopped, cluster) = stop.await?;
    stopped?;
    eprintln!("nested lost() after {waited:?}");
    assert!(inner.is_lost());
    drop(inner);
    // The parent: at once, and check() says so.
    tokio::time::timeout(Duration::from_millis(10), g.lost()).await?;
    assert!(matches!(g.check().await, Err(Error::Lost { .. })));
    assert!(matches!(g.client(), Err(Error::Lost { .. })));
    assert!(matches!(g.transaction().await, Err(Error::Lost { .. })));
    assert!(matches!(g.release().await, Err(Error::Lost { .. })));
    cluster.start_again()?;
    m.acquire(["a", "b", "c"])
        .timeout(Duration::from_secs(5))
        .await?
        .release()
        .await?;
    Ok(())
}

/// A connection cut between client and server (a proxy in between stops): the guard's `lost()`
/// resolves, and the server frees the locks for another manager.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_wakes_a_guard_whose_connection_is_cut() -> Result {
    let Some(cluster) = own_cluster() else {
        return Ok(());
    };
    // A proxy on the loopback: every connection through it is copied both ways until `cut`.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let proxy_port = listener.local_addr()?.port();
    let server_port = cluster.port();
    let (cut, _) = tokio::sync::broadcast::channel::<()>(1);
    let proxy = tokio::spawn({
        let cut = cut.clone();
        async move {
            loop {
                let (mut inbound, _) = listener.accept().await.unwrap();
                let mut cut = cut.subscribe();
                tokio::spawn(async move {
                    let mut outbound = tokio::net::TcpStream::connect(("127.0.0.1", server_port))
                        .await
                        .unwrap();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        }
    });
    let through: lockorder_postgres::Config =
        format!("host=127.0.0.1 port={proxy_port} user=postgres dbname=postgres").parse()?;
    let m = PgLockManager::builder(builder(ABCD))
        .connect(through)
        .await?;
    let direct = PgLockManager::builder(builder(ABCD))
        .connect(cluster.connection_string().parse()?)
        .await?;
    let mut g = m.acquire(["a", "b"]).await?;
    assert!(tokio::time::timeout(Duration::from_millis(100), g.lost())
        .await
        .is_err());
    let start = Instant::now();
    cut.send(())?;
    tokio::time::timeout(Duration::from_secs(1), g.lost())
        .await
        .expect("lost() resolves within 1 s of the cut");
    let waited = start.elapsed();
    assert!(g.is_lost());
    assert!(matches!(g.check().await, Err(Error::Lost { .. })));
    // The server noticed too: the locks are free for another manager.
    let other = direct
        .acquire(["a", "b"])
        .timeout(Duration::from_secs(5))
        .await?;
    eprintln!(
        "lost() {waited:?} after the cut; the locks free {:?} after it",
        start.elapsed()
    );
    other.release().await?;
    drop(g);
    proxy.abort();
    Ok(())
}
