//! What moving an acquire future costs. Not a criterion benchmark: `cargo bench` skips it.
//!
//! ```text
//! cargo bench -p lockorder-benches --bench moves
//! ```
//!
//! W2's operation without a yield (3 random locks of 16, exclusive, a tiny critical section),
//! one task on a single-threaded tokio runtime, so that nothing waits and the time per operation
//! is the cost of taking and releasing a set through the layers of `async` code around it (the
//! operation, the wait counter, `take`). Subjects, timed in rounds whose order rotates, after one
//! round of each to warm up (fastest and median round, ns per operation):
//!
//! * `lockorder-id`: W2's subject, an `async fn` that builds and awaits its acquire future;
//! * `lockorder-id-moved`: the acquire future built first and captured by the `async` block
//!   that awaits it, so that it is moved, freshly written, with every future around it (as when
//!   a caller passes the future on: to a combinator, a `select!`, a helper);
//! * `async-lock`, `futures`: W2's peers, whose `take` is an `async fn` that builds its lock
//!   futures where it awaits them;
//! * `async-lock, boxed`: `async-lock` with its `take` future boxed, so that the layers move a
//!   pointer (the baseline of the next row);
//! * `async-lock, padded`: the boxed row with as many bytes as `lockorder`'s acquire future
//!   beside the box, written when the future is built and moved with it: against the boxed row,
//!   what moving that many fresh bytes costs (writing them included, a few ns).
//!
//! A future larger than a few words is moved with a call to `memcpy`, whose wide loads of bytes
//! just written by narrower stores wait for those stores to retire (a store-to-load forwarding
//! stall).

mod common;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use common::contended::{ById, ByIdMoved, Contended, Exclusive, Locks, Mix, OneByOne, Op, Subject};
use lockorder::futures::Acquire;
use lockorder::NoTimer;

/// Operations per round.
const OPS: usize = 200_000;
/// Rounds per subject, alternating between the subjects.
const ROUNDS: usize = 15;

/// Bytes of `lockorder`'s acquire future (no timer), in words (rounded up).
const ACQUIRE_WORDS: usize = size_of::<Acquire<'static, NoTimer>>().div_ceil(size_of::<u64>());

type AsyncLock = OneByOne<Exclusive<async_lock::Mutex<()>>>;
type FuturesLock = OneByOne<Exclusive<futures::lock::Mutex<()>>>;

/// A peer whose `take` future carries `N` words more, written when it is built.
struct Padded<L, const N: usize>(L);

struct PaddedFuture<F, const N: usize> {
    pad: [u64; N],
    fut: Pin<Box<F>>,
}

impl<F: Future, const N: usize> Future for PaddedFuture<F, N> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        black_box(&self.pad);
        self.fut.as_mut().poll(cx)
    }
}

impl<L: Locks, const N: usize> Locks for Padded<L, N> {
    const NAME: &'static str = if N == 0 {
        "async-lock, boxed"
    } else {
        "async-lock, padded"
    };
    type Held<'a> = L::Held<'a>;

    fn new() -> Self {
        Self(L::new())
    }

    fn take(&self, op: Op) -> impl Future<Output = Self::Held<'_>> + Send {
        let mut pad = [0u64; N];
        for (i, word) in pad.iter_mut().enumerate() {
            *word = black_box(i as u64);
        }
        // Boxed, so that the padding is the only size added and the inner future is not moved
        // with it; one allocation per operation, which the padded row pays on top.
        PaddedFuture {
            pad,
            fut: Box::pin(self.0.take(op)),
        }
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let subjects: Vec<Box<dyn Subject>> = vec![
        Box::new(Contended::<ById>::new()),
        Box::new(Contended::<ByIdMoved>::new()),
        Box::new(Contended::<AsyncLock>::new()),
        Box::new(Contended::<Padded<AsyncLock, 0>>::new()),
        Box::new(Contended::<Padded<AsyncLock, ACQUIRE_WORDS>>::new()),
        Box::new(Contended::<FuturesLock>::new()),
    ];
    let run = |subject: &dyn Subject| {
        let start = Instant::now();
        subject.round(&rt, 1, OPS, Mix::EXCLUSIVE_NO_YIELD, false);
        start.elapsed().as_nanos() as f64 / OPS as f64
    };
    for subject in &subjects {
        run(subject.as_ref());
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
    for round in 0..ROUNDS {
        for i in 0..subjects.len() {
            let i = (i + round) % subjects.len();
            times[i].push(run(subjects[i].as_ref()));
        }
    }
    println!(
        "lockorder's acquire future (no timer): {} bytes; padding: {} bytes",
        size_of::<Acquire<'static, NoTimer>>(),
        ACQUIRE_WORDS * 8
    );
    println!("{:<22} {:>12} {:>12}", "subject", "min ns/op", "med ns/op");
    for (subject, times) in subjects.iter().zip(&mut times) {
        times.sort_by(f64::total_cmp);
        println!(
            "{:<22} {:>12.1} {:>12.1}",
            subject.name(),
            times[0],
            times[times.len() / 2]
        );
    }
}
