//! The same scenarios on every runtime lockorder supports: tokio (multi-threaded), async-std,
//! smol, and a single-threaded executor on virtual time driven by `ManualTimer`, the way an
//! embedded application would drive it.
#![cfg(not(loom))]

#[path = "runtimes/scenarios.rs"]
mod scenarios;
#[path = "runtimes/virtual_time.rs"]
mod virtual_executor;

/// One test per scenario, on the runtime `$rt` creates; `$attr`s go on every test.
macro_rules! on_runtime {
    ($(#[$attr:meta])* $name:ident, $rt:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            $(#[$attr])*
            fn ordered_acquire_under_contention() {
                crate::scenarios::ordered_acquire_under_contention(&$rt);
            }

            #[test]
            $(#[$attr])*
            fn timeout_releases_partial_locks() {
                crate::scenarios::timeout_releases_partial_locks(&$rt);
            }

            #[test]
            $(#[$attr])*
            fn queued_waiters_all_get_through() {
                crate::scenarios::queued_waiters_all_get_through(&$rt);
            }

            #[test]
            $(#[$attr])*
            fn cancel_passes_the_wakeup_on() {
                crate::scenarios::cancel_passes_the_wakeup_on(&$rt);
            }

            #[test]
            $(#[$attr])*
            fn cancellation_under_contention() {
                crate::scenarios::cancellation_under_contention(&$rt);
            }

            #[test]
            $(#[$attr])*
            fn nesting() {
                crate::scenarios::nesting(&$rt);
            }

            #[test]
            $(#[$attr])*
            fn readers_and_writers() {
                crate::scenarios::readers_and_writers(&$rt);
            }

            #[test]
            $(#[$attr])*
            fn writers_are_not_starved() {
                crate::scenarios::writers_are_not_starved(&$rt);
            }
        }
    };
}

on_runtime!(virtual_time, crate::virtual_executor::VirtualTime::new());

mod tokio_rt {
    use std::future::Future;

    use lockorder::TokioTimer;

    use crate::scenarios::{BoxFuture, Runtime};

    /// tokio's multi-threaded runtime, two workers.
    pub(crate) struct Tokio(tokio::runtime::Runtime);

    impl Tokio {
        pub(crate) fn new() -> Self {
            Self(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_time()
                    .build()
                    .unwrap(),
            )
        }
    }

    impl Runtime for Tokio {
        type Timer = TokioTimer;

        fn timer(&self) -> TokioTimer {
            TokioTimer::new()
        }

        fn block_on<F: Future>(&self, f: F) -> F::Output {
            self.0.block_on(f)
        }

        fn spawn<T: Send + 'static>(
            &self,
            f: impl Future<Output = T> + Send + 'static,
        ) -> BoxFuture<T> {
            let task = self.0.spawn(f);
            Box::pin(async move { task.await.unwrap() })
        }
    }
}

on_runtime!(tokio_multi_thread, crate::tokio_rt::Tokio::new());

mod async_io_rt {
    use std::future::Future;

    use lockorder::AsyncIoTimer;

    use crate::scenarios::{BoxFuture, Runtime};

    /// async-std's global executor.
    pub(crate) struct AsyncStd;

    impl Runtime for AsyncStd {
        type Timer = AsyncIoTimer;

        fn timer(&self) -> AsyncIoTimer {
            AsyncIoTimer::new()
        }

        fn block_on<F: Future>(&self, f: F) -> F::Output {
            async_std::task::block_on(f)
        }

        fn spawn<T: Send + 'static>(
            &self,
            f: impl Future<Output = T> + Send + 'static,
        ) -> BoxFuture<T> {
            Box::pin(async_std::task::spawn(f))
        }
    }

    /// smol's global executor.
    pub(crate) struct Smol;

    impl Runtime for Smol {
        type Timer = AsyncIoTimer;

        fn timer(&self) -> AsyncIoTimer {
            AsyncIoTimer::new()
        }

        fn block_on<F: Future>(&self, f: F) -> F::Output {
            smol::block_on(f)
        }

        fn spawn<T: Send + 'static>(
            &self,
            f: impl Future<Output = T> + Send + 'static,
        ) -> BoxFuture<T> {
            Box::pin(smol::spawn(f))
        }
    }
}

on_runtime!(
    #[cfg_attr(
        miri,
        ignore = "async-io needs timerfd_create, which Miri does not support"
    )]
    async_std,
    crate::async_io_rt::AsyncStd
);
on_runtime!(
    #[cfg_attr(
        miri,
        ignore = "async-io needs timerfd_create, which Miri does not support"
    )]
    smol,
    crate::async_io_rt::Smol
);

/// `EmbassyTimer` under smol's executor, with embassy-time's host driver and generic queue.
mod embassy_rt {
    use std::future::Future;

    use lockorder::EmbassyTimer;

    use crate::scenarios::{BoxFuture, Runtime};

    pub(crate) struct EmbassyOnSmol;

    impl Runtime for EmbassyOnSmol {
        type Timer = EmbassyTimer;

        fn timer(&self) -> EmbassyTimer {
            EmbassyTimer::new()
        }

        fn block_on<F: Future>(&self, f: F) -> F::Output {
            smol::block_on(f)
        }

        fn spawn<T: Send + 'static>(
            &self,
            f: impl Future<Output = T> + Send + 'static,
        ) -> BoxFuture<T> {
            Box::pin(smol::spawn(f))
        }
    }
}

on_runtime!(
    #[cfg_attr(
        miri,
        ignore = "async-io needs timerfd_create, which Miri does not support"
    )]
    embassy_time_on_smol,
    crate::embassy_rt::EmbassyOnSmol
);
