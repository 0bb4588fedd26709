//! A single-threaded executor on virtual time: when no task can run, it moves a [`ManualTimer`]
//! to the next deadline. Runs are deterministic, take no real time, and a lost wake-up shows up
//! as a stall (no runnable task, no pending sleep), which panics instead of hanging.

use std::cell::RefCell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use lockorder::ManualTimer;

use crate::scenarios::{BoxFuture, Runtime};

/// Set when the task it belongs to should be polled.
#[derive(Default)]
struct Flag(AtomicBool);

impl Flag {
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

struct Task {
    future: Pin<Box<dyn Future<Output = ()>>>,
    flag: Arc<Flag>,
    waker: Waker,
}

/// The executor: tasks polled round-robin when woken; virtual time moves only when all sleep.
pub(crate) struct VirtualTime {
    timer: ManualTimer,
    spawned: RefCell<Vec<Task>>,
}

impl VirtualTime {
    pub(crate) fn new() -> Self {
        Self {
            timer: ManualTimer::new(),
            spawned: RefCell::new(Vec::new()),
        }
    }
}

/// The output slot of a spawned task.
struct Join<T> {
    state: Mutex<(Option<T>, Option<Waker>)>,
}

impl Runtime for VirtualTime {
    type Timer = ManualTimer;

    fn timer(&self) -> ManualTimer {
        self.timer.clone()
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        let main_flag = Arc::new(Flag(AtomicBool::new(true)));
        let main_waker = Waker::from(main_flag.clone());
        let mut main = pin!(f);
        let mut tasks: Vec<Task> = Vec::new();
        loop {
            if main_flag.take() {
                if let Poll::Ready(out) = main.as_mut().poll(&mut Context::from_waker(&main_waker))
                {
                    return out;
                }
            }
            tasks.append(&mut self.spawned.borrow_mut());
            tasks.retain_mut(|task| {
                !task.flag.take()
                    || task
                        .future
                        .as_mut()
                        .poll(&mut Context::from_waker(&task.waker))
                        .is_pending()
            });
            let runnable = main_flag.0.load(Ordering::SeqCst)
                || tasks.iter().any(|t| t.flag.0.load(Ordering::SeqCst))
                || !self.spawned.borrow().is_empty();
            if !runnable {
                let Some(deadline) = self.timer.next_deadline() else {
                    panic!(
                        "virtual time: every task waits and no sleep is pending \
                         (a lost wake-up or a deadlock)"
                    );
                };
                self.timer
                    .advance(deadline.saturating_sub(self.timer.now()));
            }
        }
    }

    fn spawn<T: Send + 'static>(
        &self,
        f: impl Future<Output = T> + Send + 'static,
    ) -> BoxFuture<T> {
        let join = Arc::new(Join {
            state: Mutex::new((None, None)),
        });
        let slot = join.clone();
        let flag = Arc::new(Flag(AtomicBool::new(true)));
        self.spawned.borrow_mut().push(Task {
            future: Box::pin(async move {
                let out = f.await;
                let waker = {
                    let mut state = slot.state.lock().unwrap();
                    state.0 = Some(out);
                    state.1.take()
                };
                waker.into_iter().for_each(Waker::wake);
            }),
            waker: Waker::from(flag.clone()),
            flag,
        });
        Box::pin(futures_lite::future::poll_fn(move |cx| {
            let mut state = join.state.lock().unwrap();
            match state.0.take() {
                Some(out) => Poll::Ready(out),
                None => {
                    state.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }))
    }
}
