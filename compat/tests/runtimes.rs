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
        on_runtime!(@scenarios { $(#[$attr])* } $name, $rt, [
            ordered_acquire_under_contention,
            timeout_releases_partial_locks,
            queued_waiters_all_get_through,
            cancel_passes_the_wakeup_on,
            cancellation_under_contention,
            nesting,
            readers_and_writers,
            writers_are_not_starved,
        ]);
    };
    (@scenarios $attrs:tt $name:ident, $rt:expr, [$($scenario:ident),* $(,)?]) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(on_runtime!(@test $attrs $scenario, $rt);)*
        }
    };
    (@test { $($attr:tt)* } $scenario:ident, $rt:expr) => {
        #[test]
        $($attr)*
        fn $scenario() {
            crate::scenarios::$scenario(&$rt);
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

/// A runtime whose executor is global: a unit struct, a timer, and the executor's `block_on` and
/// `spawn` functions.
macro_rules! global_runtime {
    ($(#[$doc:meta])* $name:ident, $timer:ty, $block_on:path, $spawn:path) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl crate::scenarios::Runtime for $name {
            type Timer = $timer;

            fn timer(&self) -> $timer {
                <$timer>::new()
            }

            fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
                $block_on(f)
            }

            fn spawn<T: Send + 'static>(
                &self,
                f: impl std::future::Future<Output = T> + Send + 'static,
            ) -> crate::scenarios::BoxFuture<T> {
                Box::pin($spawn(f))
            }
        }
    };
}

mod global_rt {
    use lockorder::{AsyncIoTimer, EmbassyTimer};

    global_runtime!(
        /// async-std's global executor.
        AsyncStd,
        AsyncIoTimer,
        async_std::task::block_on,
        async_std::task::spawn
    );
    global_runtime!(
        /// smol's global executor.
        Smol,
        AsyncIoTimer,
        smol::block_on,
        smol::spawn
    );
    global_runtime!(
        /// `EmbassyTimer` under smol's executor, with embassy-time's host driver and generic
        /// queue.
        EmbassyOnSmol,
        EmbassyTimer,
        smol::block_on,
        smol::spawn
    );
}

// async-io needs timerfd_create, which Miri does not support.
on_runtime!(
    #[cfg_attr(miri, ignore)]
    async_std,
    crate::global_rt::AsyncStd
);
on_runtime!(
    #[cfg_attr(miri, ignore)]
    smol,
    crate::global_rt::Smol
);
on_runtime!(
    #[cfg_attr(miri, ignore)]
    embassy_time_on_smol,
    crate::global_rt::EmbassyOnSmol
);
