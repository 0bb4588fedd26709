//! Several workers take overlapping sets of locks, each naming them in its own order; one of them
//! gives up after a timeout. Run with `cargo run --example quickstart`.
//!
//! No async runtime is needed: each worker is a thread driving its future with
//! `futures_lite::future::block_on`, and the timer is a tiny thread-based `Timer`, which shows how
//! to plug in any clock. With tokio, async-std or smol, use their timers instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use lockorder::{Error, LockManager, Timer};

fn main() -> Result<(), Error> {
    let timer = ThreadTimer::new();
    let mut b = LockManager::builder()
        .timer(timer.clone())
        .default_timeout(Duration::from_secs(5));
    b.register_with("config", 10, "application settings")?
        .register_with("db", 20, "database connection pool")?
        .register_with("cache", 30, "read-through cache")?
        .register_with("audit", 40, "audit log")?;
    let locks = b.build();
    let locks = &locks;

    println!("locks, in the order they are always taken:");
    for info in locks.locks() {
        println!(
            "  {:>3}  {:<7} {}",
            info.order(),
            info.name(),
            info.description()
        );
    }
    println!();

    let say = |who: &str, what: String| {
        println!("[{:>4} ms] {who:<9} {what}", timer.now().as_millis());
    };

    thread::scope(|s| {
        // Each worker names its locks in a different order; all are taken in ascending order, so
        // none of them can deadlock another.
        let workers: [(&str, &[&str], u64, u64); 3] = [
            ("billing", &["cache", "db"], 0, 300),
            ("reporting", &["audit", "config", "db"], 20, 100),
            ("sync", &["db", "audit", "cache"], 40, 100),
        ];
        for (who, wanted, start_ms, hold_ms) in workers {
            s.spawn(move || {
                thread::sleep(Duration::from_millis(start_ms));
                say(who, format!("asks for {wanted:?}"));
                let guard = block_on(locks.acquire(wanted).owner(who)).expect("acquire");
                let taken: Vec<_> = guard.locks().map(|l| l.name()).collect();
                say(who, format!("holds {taken:?}"));
                thread::sleep(Duration::from_millis(hold_ms));
                drop(guard);
                say(who, "released everything".into());
            });
        }
        // This one will not wait long: "cache" is busy for longer than it is willing to wait.
        s.spawn(move || {
            thread::sleep(Duration::from_millis(60));
            say(
                "impatient",
                "asks for [\"cache\"], waiting at most 50 ms".into(),
            );
            let attempt = locks
                .acquire(["cache"])
                .owner("impatient")
                .timeout(Duration::from_millis(50));
            match block_on(attempt) {
                Ok(_guard) => say("impatient", "got its locks".into()),
                Err(e) => say("impatient", format!("gave up: {e}")),
            }
        });
    });

    println!();
    let free = locks
        .locks()
        .all(|l| !locks.is_locked(l.id()).unwrap_or(true));
    println!("all locks free at the end: {free}");
    Ok(())
}

/// A `Timer` built on threads: good enough for a demo, runtime-agnostic.
#[derive(Clone)]
struct ThreadTimer {
    start: Instant,
}

impl ThreadTimer {
    fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Timer for ThreadTimer {
    type Sleep = Sleep;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep {
            deadline: Instant::now() + duration,
            waker: None,
        }
    }
}

/// Completes at its deadline; a helper thread wakes the task then.
struct Sleep {
    deadline: Instant,
    waker: Option<Arc<Mutex<Waker>>>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.waker {
            Some(waker) => waker.lock().unwrap().clone_from(cx.waker()),
            None => {
                let waker = Arc::new(Mutex::new(cx.waker().clone()));
                let (deadline, shared) = (self.deadline, waker.clone());
                thread::spawn(move || {
                    thread::sleep(deadline.saturating_duration_since(Instant::now()));
                    shared.lock().unwrap().wake_by_ref();
                });
                self.waker = Some(waker);
            }
        }
        Poll::Pending
    }
}
