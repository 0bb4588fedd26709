//! [`StdTimer`]: timeouts from the standard library's clock, for code without a runtime.

use std::boxed::Box;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::Timer;

/// A [`Timer`] on the standard library's monotonic clock, for threads and for executors that have
/// no timer of their own (`futures_lite::future::block_on`, `pollster`, hand-written ones).
///
/// [`now`](Timer::now) is the time since the timer was created ([`Instant`]). Sleeps are woken by
/// one helper thread, `lockorder-timer`, started at the first sleep that has to wait and shared
/// by every `StdTimer` of the process. On a runtime that has timers, prefer its adapter
/// (`TokioTimer`, `AsyncIoTimer`), which needs no extra thread. Enabled by the `std` feature.
///
/// ```
/// use std::time::Duration;
/// use futures_lite::future::block_on;
/// use lockorder::{Error, LockManager, StdTimer};
///
/// let m = LockManager::builder().timer(StdTimer::new()).with_lock("db", 10)?.build();
/// let held = m.try_acquire(["db"])?;
/// // No runtime anywhere: the helper thread wakes the acquire after 20 ms.
/// let err = block_on(m.acquire(["db"]).timeout(Duration::from_millis(20))).unwrap_err();
/// assert!(matches!(err, Error::Timeout { lock } if lock == "db"));
/// drop(held);
/// # Ok::<(), Error>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
#[derive(Debug, Clone, Copy)]
pub struct StdTimer {
    start: Instant,
}

impl StdTimer {
    /// A timer whose clock starts now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Default for StdTimer {
    /// Same as [`StdTimer::new`]: the clock starts now.
    fn default() -> Self {
        Self::new()
    }
}

impl Timer for StdTimer {
    type Sleep = StdSleep;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Completes once `duration` has passed; a duration too long to represent sleeps for ever.
    fn sleep(&self, duration: Duration) -> StdSleep {
        StdSleep {
            deadline: Instant::now().checked_add(duration),
            entry: None,
        }
    }
}

/// The sleep future of a [`StdTimer`].
#[cfg_attr(docsrs, doc(cfg(feature = "std")))]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct StdSleep {
    /// `None`: too far away to represent; never completes.
    deadline: Option<Instant>,
    /// Registered with the helper thread (under this id) once polled before the deadline.
    entry: Option<(u64, Arc<Entry>)>,
}

impl StdSleep {
    /// When this sleep completes (`None`: never).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

impl Future for StdSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            return Poll::Pending;
        };
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        match &self.entry {
            Some((_, entry)) => {
                let mut waker = lock(&entry.waker);
                if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    let old = waker.replace(cx.waker().clone());
                    drop(waker);
                    // A replaced waker is dropped outside the lock.
                    drop(old);
                }
            }
            None => {
                let entry = Arc::new(Entry {
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                let id = helper().add(deadline, Arc::downgrade(&entry));
                self.entry = Some((id, entry));
            }
        }
        Poll::Pending
    }
}

impl Drop for StdSleep {
    /// A sleep dropped before its deadline (an acquire that got its locks) leaves the helper's
    /// queue at once, so a long timeout does not keep memory for every contended acquire.
    fn drop(&mut self) {
        if let Some((id, _)) = self.entry.take() {
            helper().remove(id);
        }
    }
}

impl fmt::Debug for StdSleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdSleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.entry.is_some())
            .finish()
    }
}

/// A sleep's registration: the helper holds it weakly, and a dropped sleep removes it.
struct Entry {
    waker: Mutex<Option<Waker>>,
}

/// The helper thread's queue of deadlines, earliest first.
struct Helper {
    queue: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    entries: std::collections::HashMap<u64, Weak<Entry>>,
    next_id: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing in these locks can be left half-updated by a panic (no user code runs under them).
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn helper() -> &'static Helper {
    static HELPER: OnceLock<&'static Helper> = OnceLock::new();
    HELPER.get_or_init(|| {
        let helper: &'static Helper = Box::leak(Box::new(Helper {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        }));
        thread::Builder::new()
            .name("lockorder-timer".into())
            .spawn(move || helper.run())
            .expect("lockorder: could not start the StdTimer helper thread");
        helper
    })
}

impl Helper {
    /// Registers a sleep's deadline; returns its id.
    fn add(&self, deadline: Instant, entry: Weak<Entry>) -> u64 {
        let mut queue = lock(&self.queue);
        let id = queue.next_id;
        queue.next_id += 1;
        let earliest = queue
            .heap
            .peek()
            .is_none_or(|Reverse((d, _))| deadline < *d);
        queue.heap.push(Reverse((deadline, id)));
        queue.entries.insert(id, entry);
        drop(queue);
        if earliest {
            self.changed.notify_one();
        }
        id
    }

    /// Forgets a sleep dropped before its deadline. Its deadline stays in the heap until it
    /// passes or until removed ones outnumber the live ones, when the heap is rebuilt: memory
    /// stays proportional to the sleeps alive, whatever their durations.
    fn remove(&self, id: u64) {
        let mut queue = lock(&self.queue);
        if queue.entries.remove(&id).is_some() && queue.heap.len() > 2 * queue.entries.len() + 64 {
            let Queue { heap, entries, .. } = &mut *queue;
            heap.retain(|Reverse((_, id))| entries.contains_key(id));
        }
    }

    fn run(&self) {
        let mut queue = lock(&self.queue);
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(&Reverse((deadline, id))) = queue.heap.peek() {
                if deadline > now {
                    break;
                }
                queue.heap.pop();
                if let Some(entry) = queue.entries.remove(&id).and_then(|e| e.upgrade()) {
                    due.push(entry);
                }
            }
            if !due.is_empty() {
                // Wake outside the queue's lock: a woken task may register a new sleep at once.
                drop(queue);
                for entry in due {
                    let waker = lock(&entry.waker).take();
                    if let Some(waker) = waker {
                        waker.wake();
                    }
                }
                queue = lock(&self.queue);
                continue;
            }
            queue = match queue.heap.peek() {
                Some(&Reverse((deadline, _))) => {
                    let wait = deadline.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(queue, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .changed
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(sleep: &mut StdSleep, waker: &Waker) -> Poll<()> {
        Pin::new(sleep).poll(&mut Context::from_waker(waker))
    }

    // The helper thread outlives the test; Miri refuses a thread left running at exit.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_sleep_completes_after_its_duration_and_wakes_its_task() {
        let timer = StdTimer::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let start = Instant::now();
        let mut sleep = timer.sleep(Duration::from_millis(30));
        assert!(poll(&mut sleep, &waker).is_pending());
        while count.0.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "never woken");
            thread::sleep(Duration::from_millis(1));
        }
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(poll(&mut sleep, &waker), Poll::Ready(()));
        assert!(timer.now() >= Duration::from_millis(30));
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn a_dropped_sleep_wakes_nobody_and_an_endless_one_never_completes() {
        let timer = StdTimer::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut sleep = timer.sleep(Duration::from_millis(5));
        assert!(poll(&mut sleep, &waker).is_pending());
        drop(sleep);
        let mut endless = timer.sleep(Duration::MAX);
        assert!(endless.deadline().is_none());
        assert!(poll(&mut endless, &waker).is_pending());
        // A later sleep proves the helper got past the dropped one's deadline.
        let mut later = timer.sleep(Duration::from_millis(20));
        let later_count = Arc::new(Count(AtomicUsize::new(0)));
        assert!(poll(&mut later, &Waker::from(later_count.clone())).is_pending());
        let start = Instant::now();
        while later_count.0.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "never woken");
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    /// Sleeps of an hour, each dropped after one poll (an acquire that waited, then got its
    /// locks): the helper's queue must not keep them.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn dropped_sleeps_leave_the_queue_at_once() {
        let timer = StdTimer::new();
        for _ in 0..10_000 {
            let mut sleep = timer.sleep(Duration::from_secs(3600));
            assert!(poll(&mut sleep, Waker::noop()).is_pending());
            drop(sleep);
        }
        // Other tests of this process may hold a few sleeps of their own meanwhile.
        let queue = lock(&helper().queue);
        assert!(queue.entries.len() < 100, "{} entries", queue.entries.len());
        assert!(queue.heap.len() < 400, "{} deadlines", queue.heap.len());
    }

    #[test]
    fn a_zero_sleep_is_ready_at_once() {
        let mut sleep = StdTimer::new().sleep(Duration::ZERO);
        assert_eq!(poll(&mut sleep, Waker::noop()), Poll::Ready(()));
    }
}
