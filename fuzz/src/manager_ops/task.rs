//! Tasks: stacks of nested guards, one frame per guard.
//!
//! A task is an `async` function that holds its stack in recursive frames: `level` waits for
//! commands at one guard (or at the manager, for the root), and `hold` keeps a guard while the
//! frame above it runs. The compiler checks every borrow; the harness polls a task once per
//! command, with a no-op waker, and the task polls its own acquire future with the counting waker
//! of the model.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use std::sync::Arc;

use super::hostile::quietly;
use super::input::{NewWaker, Request};
use super::real::{AnyFuture, AnyGuard, Source};
use super::requests::{begin, poll_one, try_one};
use super::world::World;
use super::{Manager, MAX_DEPTH};

pub(crate) enum Cmd<'m> {
    Acquire(Request),
    Poll {
        waker: NewWaker,
    },
    DropFuture,
    /// Drop the future, then the top guard.
    Pop,
    /// A try, or a `wait()` that cannot block.
    Try(Request, bool),
    /// A pool guard becomes the root of the (empty) stack.
    Enter(u64, AnyGuard<'m>),
    Unwind,
    Inspect,
}

/// Why a frame returned: its guard is dropped, and for `Unwind` the one below it too.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Exit {
    Pop,
    Unwind,
}

/// What a task shares with the harness.
#[derive(Default)]
pub(crate) struct TaskBox<'m> {
    pub(crate) mail: RefCell<Option<Cmd<'m>>>,
    /// Guards on the stack.
    pub(crate) depth: Cell<usize>,
    /// The model id of the future in flight at the top.
    pub(crate) future: Cell<Option<u64>>,
}

pub(crate) struct Shared<'m> {
    pub(crate) m: &'m Arc<Manager>,
    pub(crate) world: RefCell<World>,
    pub(crate) tasks: Vec<TaskBox<'m>>,
}

pub(crate) type Task<'s> = Pin<Box<dyn Future<Output = ()> + 's>>;

pub(crate) async fn recv<'m>(sh: &Shared<'m>, t: usize) -> Cmd<'m> {
    poll_fn(|_| match sh.tasks[t].mail.take() {
        Some(cmd) => Poll::Ready(cmd),
        None => Poll::Pending,
    })
    .await
}

pub(crate) enum Next<'a, 'm> {
    Idle,
    Then(Cmd<'m>),
    Granted(u64, AnyGuard<'a>),
}

/// Keeps an in-flight future at the top of task `t` until it is granted, dropped or replaced.
pub(crate) async fn drive<'a, 'm>(
    sh: &Shared<'m>,
    t: usize,
    id: u64,
    mut fut: AnyFuture<'a>,
) -> Next<'a, 'm> {
    sh.tasks[t].future.set(Some(id));
    let next = loop {
        match recv(sh, t).await {
            Cmd::Poll { waker } => {
                let mut w = sh.world.borrow_mut();
                if let Some((gid, guard)) = poll_one(&mut w, id, &mut fut, waker) {
                    break Next::Granted(gid, guard);
                }
            }
            Cmd::Inspect => {
                let _ = format!("{fut:?}");
            }
            Cmd::DropFuture => break Next::Idle,
            Cmd::Enter(..) => unreachable!("a task in flight takes no root"),
            cmd => break Next::Then(cmd),
        }
    };
    quietly(|| drop(fut));
    sh.tasks[t].future.set(None);
    let mut w = sh.world.borrow_mut();
    w.model.drop_future(id);
    w.check();
    next
}

/// Keeps guard `g` on the stack of task `t` while the frame above it runs.
pub(crate) async fn hold<'m>(sh: &Shared<'m>, t: usize, id: u64, mut g: AnyGuard<'_>) -> Exit {
    let task = &sh.tasks[t];
    task.depth.set(task.depth.get() + 1);
    let exit = Box::pin(level(sh, t, Some((id, &mut g)))).await;
    quietly(|| drop(g));
    task.depth.set(task.depth.get() - 1);
    let mut w = sh.world.borrow_mut();
    w.model.drop_guard(id);
    w.check();
    exit
}

/// One frame of task `t`: commands at its top guard (`None`: at the manager, the root frame,
/// which never returns).
pub(crate) async fn level<'m>(
    sh: &Shared<'m>,
    t: usize,
    mut top: Option<(u64, &mut AnyGuard<'_>)>,
) -> Exit {
    let mut next = None;
    loop {
        let cmd = match next.take() {
            Some(cmd) => cmd,
            None => recv(sh, t).await,
        };
        let pid = top.as_ref().map(|p| p.0);
        let full = sh.tasks[t].depth.get() >= MAX_DEPTH;
        let exit = match cmd {
            Cmd::Acquire(_) | Cmd::Try(..) if full => None,
            Cmd::Acquire(req) => {
                let (id, fut) = {
                    let mut w = sh.world.borrow_mut();
                    begin(&mut w, source(sh.m, &mut top, &req), pid, &req)
                };
                match drive(sh, t, id, fut).await {
                    Next::Idle => None,
                    Next::Then(cmd) => {
                        next = Some(cmd);
                        None
                    }
                    Next::Granted(gid, guard) => Some(hold(sh, t, gid, guard).await),
                }
            }
            Cmd::Try(req, blocking) => {
                let granted = {
                    let mut w = sh.world.borrow_mut();
                    try_one(&mut w, source(sh.m, &mut top, &req), pid, &req, blocking)
                };
                match granted {
                    Some((gid, guard)) => {
                        sh.world.borrow().check();
                        Some(hold(sh, t, gid, guard).await)
                    }
                    None => None,
                }
            }
            Cmd::Enter(gid, guard) => {
                assert!(top.is_none(), "a root moves into an empty task only");
                Some(hold(sh, t, gid, guard).await)
            }
            Cmd::Pop if top.is_some() => return Exit::Pop,
            Cmd::Unwind if top.is_some() => return Exit::Unwind,
            Cmd::Pop | Cmd::Unwind | Cmd::Poll { .. } | Cmd::DropFuture => None,
            Cmd::Inspect => {
                if let Some((id, g)) = &top {
                    let _ = format!("{g:?}");
                    sh.world.borrow().check_guard(g, *id);
                }
                None
            }
        };
        if exit == Some(Exit::Unwind) && top.is_some() {
            return Exit::Unwind;
        }
    }
}

/// Where a request of a frame is made: through its guard, or at the manager for the root frame.
fn source<'a, 'g>(
    m: &'a Arc<Manager>,
    top: &'a mut Option<(u64, &mut AnyGuard<'g>)>,
    req: &Request,
) -> Source<'a, 'g> {
    match top {
        Some((_, g)) => Source::Guard(g),
        None => Source::Manager {
            m,
            owned: req.owned,
        },
    }
}

/// Hands `cmd` to task `t` and runs it until it waits for the next command.
pub(crate) fn send<'m>(sh: &Shared<'m>, tasks: &mut [Task<'_>], t: usize, cmd: Cmd<'m>) {
    let task = &sh.tasks[t];
    assert!(task.mail.replace(Some(cmd)).is_none());
    let polled = tasks[t]
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert!(polled.is_pending(), "a task never ends");
    assert!(task.mail.take().is_none(), "task {t} left its command");
}

/// Polls the in-flight future of task `t` if it was woken.
pub(crate) fn poll_task_if_woken(sh: &Shared<'_>, tasks: &mut [Task<'_>], t: usize) {
    let woken = sh.tasks[t]
        .future
        .get()
        .is_some_and(|id| sh.world.borrow().model.futures[&id].woken());
    if woken {
        send(
            sh,
            tasks,
            t,
            Cmd::Poll {
                waker: NewWaker::Same,
            },
        );
    }
}
