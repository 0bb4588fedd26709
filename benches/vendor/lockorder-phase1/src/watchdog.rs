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
    /// reads the manager's status, which never blocks or slows an acquirer.
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
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
            for hold in &holds {
                let key = (hold.lock.order(), hold.generation);
                if !this.reported.contains(&key) {
                    (this.report)(hold);
                }
            }
            // Forget holdings that ended, so the list stays as short as the current long holds.
            this.reported.clear();
            this.reported
                .extend(holds.iter().map(|h| (h.lock.order(), h.generation)));
        }
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
