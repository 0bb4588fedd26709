//! A small bank on tokio: accounts as a lock family with `Protected` balances, transfers in
//! both directions under contention, each task with its task key, and a blocking auditor
//! thread that stops the world through the shared ledger lock and checks that money is
//! conserved. Run with `cargo run --example bank`; it exits non-zero if the total ever changes.
//!
//! Lock hierarchy:
//!
//! | lock | order | who |
//! |---|---|---|
//! | `ledger` | 10 | transfers hold it shared, the auditor exclusive |
//! | `account#0` … `account#7` | 100..=107 | a family: 16 accounts fold onto 8 stripes |
//! | `fees` | 200 | a helper called while a transfer holds its accounts |

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lockorder::{Error, LockManager, Protected, StdTimer, TaskKey};

const ACCOUNTS: u64 = 16;
const STRIPES: u32 = 8;
const OPENING: i64 = 1_000;
const TASKS: u64 = 8;
const TRANSFERS: u64 = 2_000;

type Manager = LockManager<StdTimer>;

struct Bank {
    locks: Manager,
    /// One balance per account, each bound to its account's member lock.
    balances: Vec<Protected<i64>>,
    /// Fees collected, under `fees`.
    fees: Protected<i64>,
    /// The totals each audit found, under `ledger`.
    audits: Protected<Vec<i64>>,
}

impl Bank {
    fn open() -> Result<Self, Error> {
        let locks = LockManager::builder()
            .timer(StdTimer::new())
            // A safety net: nothing here should wait that long.
            .default_timeout(Duration::from_secs(10))
            .with_lock_described("ledger", 10, "transfers shared, audits exclusive")?
            .with_family("account", 100, STRIPES)?
            .with_lock("fees", 200)?
            .build();
        let balances = (0..ACCOUNTS)
            .map(|id| locks.protect(locks.member("account", id)?, OPENING))
            .collect::<Result<_, _>>()?;
        let fees = locks.protect("fees", 0)?;
        let audits = locks.protect("ledger", Vec::new())?;
        Ok(Self {
            locks,
            balances,
            fees,
            audits,
        })
    }

    /// Moves `amount` from one account to another, paying a fee of 1 from the sender.
    async fn transfer(&self, key: &TaskKey, from: u64, to: u64, amount: i64) -> Result<(), Error> {
        let m = &self.locks;
        // One request, any order in: the ledger shared, both accounts exclusive (one lock when
        // they share a stripe). A→B and B→A take their locks in the same order.
        let mut g = m
            .acquire([m.member("account", from)?, m.member("account", to)?])
            .shared(["ledger"])
            .key(key)
            .await?;
        let [a, b] =
            g.get_disjoint_mut([&self.balances[from as usize], &self.balances[to as usize]])?;
        let amount = amount.min(*a - 1).max(0);
        *a -= amount + 1;
        *b += amount;
        // A helper that takes a lock of its own, with the task's key: "fees" ranks above the
        // accounts, so it is allowed.
        self.collect_fee(key, 1).await?;
        drop(g);
        Ok(())
    }

    async fn collect_fee(&self, key: &TaskKey, fee: i64) -> Result<(), Error> {
        let mut g = self.locks.acquire(["fees"]).key(key).await?;
        *g.get_mut(&self.fees)? += fee;
        Ok(())
    }

    /// The bug keys catch: a helper that wants the ledger exclusive while its caller holds
    /// accounts. Unkeyed it would wait for the caller's own shared ledger, or deadlock against
    /// the auditor; keyed it is refused at once.
    async fn buggy_helper(&self, key: &TaskKey) -> Result<(), Error> {
        let m = &self.locks;
        let _g = m
            .acquire([m.member("account", 0)?])
            .shared(["ledger"])
            .key(key)
            .await?;
        let nested_bug = m.acquire(["ledger"]).key(key).await;
        match nested_bug {
            Err(Error::OrderViolation { .. }) => Ok(()),
            other => panic!("a helper taking the ledger under accounts was not refused: {other:?}"),
        }
    }

    /// Sums every balance and the fees, holding the ledger exclusive (no transfer in flight)
    /// and, nested, every account and the fees. Blocking: for a plain thread.
    fn audit(&self) -> Result<i64, Error> {
        let m = &self.locks;
        let mut ledger = m.acquire(["ledger"]).owner("auditor").wait()?;
        let members = (0..STRIPES)
            .map(|stripe| m.member("account", u64::from(stripe)))
            .collect::<Result<Vec<_>, _>>()?;
        let all = ledger.acquire_shared(members).shared(["fees"]).wait()?;
        let total: i64 = self
            .balances
            .iter()
            .map(|b| all.get(b).copied())
            .sum::<Result<i64, Error>>()?
            + *all.get(&self.fees)?;
        drop(all);
        ledger.get_mut(&self.audits)?.push(total);
        Ok(total)
    }
}

fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> Result<(), Error> {
    let bank = Arc::new(Bank::open()?);
    let expected = OPENING * ACCOUNTS as i64;
    let done = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicU64::new(0));

    let auditor = {
        let (bank, done) = (bank.clone(), done.clone());
        std::thread::spawn(move || -> Result<Vec<i64>, Error> {
            let mut totals = Vec::new();
            while !done.load(Ordering::Relaxed) {
                totals.push(bank.audit()?);
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(totals)
        })
    };

    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (bank, refused) = (bank.clone(), refused.clone());
            tokio::spawn(async move {
                let key = bank.locks.task_key(); // one key per task
                let mut seed = 0x9e37_79b9_7f4a_7c15 ^ (t + 1);
                for i in 0..TRANSFERS {
                    let from = next(&mut seed) % ACCOUNTS;
                    let to = (from + 1 + next(&mut seed) % (ACCOUNTS - 1)) % ACCOUNTS;
                    let amount = (next(&mut seed) % 50) as i64;
                    bank.transfer(&key, from, to, amount).await?;
                    // And back the other way, so opposite directions contend.
                    bank.transfer(&key, to, from, amount / 2).await?;
                    if i % 500 == 0 {
                        bank.buggy_helper(&key).await?;
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    if i % 16 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
                Ok::<(), Error>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a transfer task panicked")?;
    }
    done.store(true, Ordering::Relaxed);
    let totals = auditor.join().expect("the auditor panicked")?;

    let last = bank.audit()?;
    let recorded = {
        let g = bank.locks.acquire_shared(["ledger"]).wait()?;
        g.get(&bank.audits)?.len()
    };
    let wrong: Vec<_> = totals.iter().filter(|&&t| t != expected).collect();
    println!(
        "{} transfers in {TASKS} tasks; {} audits during them ({recorded} recorded); \
         {} buggy helper calls refused with OrderViolation; total {last}, expected {expected}",
        2 * TASKS * TRANSFERS,
        totals.len(),
        refused.load(Ordering::Relaxed),
    );
    if last != expected || !wrong.is_empty() {
        eprintln!("money was not conserved: final {last}, audits that differed: {wrong:?}");
        std::process::exit(1);
    }
    println!("conserved");
    Ok(())
}
