//! The `Watchdog` future: reports each long hold once, as it happens.

use alloc::vec::Vec;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;

use pin_project_lite::pin_project;

use crate::manager::LockManager;
use crate::status::LongHold;
use crate::timer::Timer;

pin_project! {
    /// The future returned by [`LockManager::watchdog`]: every `period` it looks for locks held
    /// longer than `threshold` and calls its callback once for each such holding.
    ///
    /// It never completes: spawn it on any executor, and drop it to stop watching. Each check
    /// reads every lock's status record, which never blocks an acquirer (see
    /// [`LockManager::status`] for what it costs one). A poll does at most one check, whatever
    /// the period (zero included): a watchdog never keeps its executor's thread to itself.
    ///
    /// ```
    /// # use core::time::Duration;
    /// # use futures_lite::future;
    /// # use lockorder::{LockManager, ManualTimer};
    /// let timer = ManualTimer::new();
    /// let mut b = LockManager::builder().timer(timer.clone());
    /// b.register("db", 10)?;
    /// let m = b.build();
    /// let mut warnings = Vec::new();
    /// let mut watchdog = Box::pin(m.watchdog(
    ///     Duration::from_secs(1),
    ///     Duration::from_secs(30),
    ///     |hold| warnings.push(hold.to_string()),
    /// ));
    /// let g = m.acquire(["db"]).owner("stuck").try_now()?;
    /// for _ in 0..40 {
    ///     timer.advance(Duration::from_secs(1));
    ///     assert!(future::block_on(future::poll_once(watchdog.as_mut())).is_none());
    /// }
    /// drop(watchdog);
    /// assert_eq!(warnings.len(), 1); // once per holding, not once per check
    /// assert!(warnings[0].contains("`db`") && warnings[0].contains("stuck"));
    /// # drop(g);
    /// # Ok::<(), lockorder::Error>(())
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Watchdog<'a, T: Timer, F> {
        manager: &'a LockManager<T>,
        period: Duration,
        threshold: Duration,
        report: F,
        // The holdings already reported: (order, generation).
        reported: Vec<(u32, u32)>,
        #[pin]
        sleep: Option<T::Sleep>,
    }
}

impl<'a, T: Timer, F: FnMut(&LongHold)> Watchdog<'a, T, F> {
    pub(crate) fn new(
        manager: &'a LockManager<T>,
        period: Duration,
        threshold: Duration,
        report: F,
    ) -> Self {
        Self {
            manager,
            period,
            threshold,
            report,
            reported: Vec::new(),
            sleep: None,
        }
    }
}

impl<T: Timer, F: FnMut(&LongHold)> Future for Watchdog<'_, T, F> {
    type Output = core::convert::Infallible;

    /// One poll does at most one check, so a zero or tiny period cannot keep it inside `poll`:
    /// when the next period has passed already, it wakes its own task and returns `Pending`,
    /// letting the executor run others first.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.sleep.is_none() {
            this.sleep.set(Some(this.manager.timer.sleep(*this.period)));
        }
        let Some(sleep) = this.sleep.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        if sleep.poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.sleep.set(None);
        let holds = this.manager.long_held(*this.threshold);
        let key = |h: &LongHold| (h.lock.order(), h.generation);
        // Forget holdings that ended (the list stays as short as the current long holds), and
        // mark each new one reported just before reporting it: if the callback panics, what was
        // reported stays reported and the rest is reported at the next check.
        let previous = core::mem::take(this.reported);
        this.reported
            .extend(holds.iter().map(key).filter(|k| previous.contains(k)));
        for hold in holds.iter().filter(|h| !previous.contains(&key(h))) {
            this.reported.push(key(hold));
            #[cfg(feature = "tracing")]
            crate::trace::long_hold(
                hold.lock.name(),
                hold.owner.as_ref().map(|o| o as _),
                hold.held_for,
            );
            (this.report)(hold);
        }
        // The next period starts now. A sleep that is over at once (a zero period) is not
        // polled again: the task wakes itself and the next poll starts a new period, so the
        // executor gets a turn between checks.
        this.sleep.set(Some(this.manager.timer.sleep(*this.period)));
        if let Some(sleep) = this.sleep.as_mut().as_pin_mut() {
            if sleep.poll(cx).is_ready() {
                this.sleep.set(None);
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

impl<T: Timer, F> fmt::Debug for Watchdog<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watchdog")
            .field("period", &self.period)
            .field("threshold", &self.threshold)
            .field("reported", &self.reported.len())
            .finish_non_exhaustive()
    }
}

impl<T: Timer> LockManager<T> {
    /// A [`Watchdog`] future reporting, every `period`, each lock held longer than `threshold` —
    /// once per holding. Spawn it on any executor; it never completes.
    pub fn watchdog<F>(
        &self,
        period: Duration,
        threshold: Duration,
        report: F,
    ) -> Watchdog<'_, T, F>
    where
        F: FnMut(&LongHold),
    {
        Watchdog::new(self, period, threshold, report)
    }
}
