//! Fencing tokens against the grant order of each lock, with every way of granting mixed: sets
//! of 1 to 6 locks (the plain-SQL fast path up to 4, the function above, and the function after
//! the fast path found a lock busy), shared and exclusive, nested guards that take nothing new,
//! try-acquires, two managers. While it holds a lock, each holder compares its token with the
//! last exclusive holder's and (if exclusive) with every earlier shared holder's, and checks
//! that no one else holds it in a conflicting mode.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const SIX: &[(&str, u32)] = &[
    ("l0", 10),
    ("l1", 20),
    ("l2", 30),
    ("l3", 40),
    ("l4", 50),
    ("l5", 60),
];

/// Per lock: the last exclusive holder's token, the largest shared holder's token since, and
/// how many hold it now in each mode.
#[derive(Default, Clone, Copy)]
struct Seen {
    exclusive: u64,
    shared: u64,
    holding_exclusive: u32,
    holding_shared: u32,
}

/// Before a holder lets go.
fn leave(seen: &Mutex<Vec<Seen>>, set: &[usize], shared: bool) {
    let mut seen = seen.lock().unwrap();
    for &l in set {
        if shared {
            seen[l].holding_shared -= 1;
        } else {
            seen[l].holding_exclusive -= 1;
        }
    }
}

fn record(seen: &Mutex<Vec<Seen>>, set: &[usize], token: u64, shared: bool) {
    let mut seen = seen.lock().unwrap();
    for &l in set {
        let s = &mut seen[l];
        assert_eq!(
            s.holding_exclusive, 0,
            "l{l}: held exclusive by two at once"
        );
        assert!(
            token > s.exclusive,
            "l{l}: token {token} after exclusive holder {}",
            s.exclusive
        );
        if shared {
            s.shared = s.shared.max(token);
            s.holding_shared += 1;
        } else {
            assert_eq!(s.holding_shared, 0, "l{l}: exclusive while held shared");
            assert!(
                token > s.shared,
                "l{l}: exclusive token {token} after shared holder {}",
                s.shared
            );
            *s = Seen {
                exclusive: token,
                shared: 0,
                holding_exclusive: 1,
                holding_shared: 0,
            };
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_follow_the_grant_order_of_every_lock_on_every_path() -> Result {
    let ns = namespace("fencing-mixed");
    let managers = [manager_in(ns, SIX).await, manager_in(ns, SIX).await];
    let seen = Arc::new(Mutex::new(vec![Seen::default(); SIX.len()]));
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let m = managers[i as usize % 2].clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut rng = Rng(0x5851_f42d ^ ((i + 1) * 0x9e37));
                let mut grants = 0;
                for _ in 0..40 {
                    let set: Vec<usize> = (0..SIX.len()).filter(|_| rng.below(3) == 0).collect();
                    if set.is_empty() {
                        continue;
                    }
                    let names: Vec<&str> = set.iter().map(|&l| SIX[l].0).collect();
                    let shared = rng.below(3) == 0;
                    let acquire = match (shared, rng.below(4)) {
                        (true, _) => m.acquire_shared(names.iter().copied()),
                        (false, 0) => m.try_acquire(names.iter().copied()),
                        (false, _) => m.acquire(names.iter().copied()),
                    };
                    let Ok(mut g) = acquire.timeout(Duration::from_secs(20)).await else {
                        continue; // a busy try
                    };
                    let token = g.fencing_token();
                    record(&seen, &set, token, shared);
                    grants += 1;
                    if rng.below(2) == 0 {
                        // Nothing new: a token of its own, above the parent's.
                        let inner = if shared {
                            g.acquire_shared([names[0]]).await
                        } else {
                            g.acquire([names[0]]).await
                        }
                        .unwrap();
                        assert!(inner.fencing_token() > token);
                        // Covered by its parent: the order of tokens only.
                        leave(&seen, &set, shared);
                        record(&seen, &set, inner.fencing_token(), shared);
                        drop(inner);
                    }
                    tokio::time::sleep(Duration::from_micros(rng.below(800))).await;
                    leave(&seen, &set, shared);
                    if rng.below(2) == 0 {
                        g.release().await.unwrap();
                    } else {
                        drop(g);
                    }
                }
                grants
            })
        })
        .collect();
    let mut grants = 0;
    for t in tasks {
        grants += t.await?;
    }
    eprintln!("{grants} grants checked");
    assert!(grants > 150, "only {grants} grants");
    Ok(())
}
