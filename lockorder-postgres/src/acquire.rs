//! The `Acquire` future: one statement per acquire, on one session.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use lockorder::{Key, Mode};

use crate::error::Error;
use crate::guard::{PgGuard, Slot};
use crate::hierarchy::{self, Held, Request};
use crate::manager::PgLockManager;
use crate::session::Session;
use crate::sql;
use crate::status::{self, Level};
use tokio_postgres::types::ToSql;

/// The options of one acquire.
#[derive(Debug, Default)]
pub(crate) struct Options {
    /// `None`: the manager's default; `Some(None)`: wait as long as it takes.
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) owner: Option<String>,
    pub(crate) try_only: bool,
}

/// Where an acquire runs: a session of its own, or its parent guard's.
pub(crate) enum Target<'a> {
    Root(PgLockManager),
    Nested {
        mgr: PgLockManager,
        session: &'a mut Session,
        depth: usize,
        label: &'a str,
    },
}

impl Target<'_> {
    fn manager(&self) -> &PgLockManager {
        match self {
            Target::Root(mgr) | Target::Nested { mgr, .. } => mgr,
        }
    }
}

type Running<'a> = Pin<Box<dyn Future<Output = Result<PgGuard<'a>, Error>> + Send + 'a>>;

enum State<'a> {
    /// Not polled yet: the options can still change.
    Start {
        target: Target<'a>,
        request: Result<Request, Error>,
        options: Options,
    },
    /// Polled: the statement is under way (or about to be).
    Running(Running<'a>),
    /// Finished; polling again is [`lockorder::Error::PolledAfterCompletion`].
    Done,
}

/// The future returned by [`PgLockManager::acquire`] (and `acquire_shared`, `try_acquire`) and by
/// [`PgGuard::acquire`]: resolves to a [`PgGuard`] holding the whole set.
///
/// Options are set before the first poll: [`timeout`](Self::timeout),
/// [`no_timeout`](Self::no_timeout), [`owner`](Self::owner), [`shared`](Self::shared).
///
/// # Cancel safety
///
/// * Dropped before its statement was sent (not yet polled, or while an outermost acquire is
///   still connecting): nothing was taken, nothing happens.
/// * Dropped while its statement runs on the server (perhaps waiting for a busy lock): what
///   the server has taken so far is unknown to the client, so the session is closed — a cancel
///   request stops the wait, and closing the connection releases every lock of the session.
///   For an outermost acquire that session was its own. **For a nested acquire it is the
///   parent's**: the parent guard's locks are released with it, and the parent then reports them
///   lost ([`PgGuard::is_lost`], [`PgGuard::check`]). Prefer [`timeout`](Self::timeout), which
///   the server enforces and which keeps the parent intact, to cancelling a nested acquire.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Acquire<'a> {
    state: State<'a>,
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Start { options, .. } => format!("Start({options:?})"),
            State::Running(_) => "Running".to_owned(),
            State::Done => "Done".to_owned(),
        };
        f.debug_struct("Acquire").field("state", &state).finish()
    }
}

impl<'a> Acquire<'a> {
    pub(crate) fn new(
        target: Target<'a>,
        request: Result<Request, Error>,
        options: Options,
    ) -> Self {
        Self {
            state: State::Start {
                target,
                request,
                options,
            },
        }
    }

    fn options(&mut self) -> Option<&mut Options> {
        match &mut self.state {
            State::Start { options, .. } => Some(options),
            _ => None,
        }
    }

    /// Gives up after `timeout`, counted from the first wait (the uncontended prefix is not
    /// counted), with [`lockorder::Error::Timeout`] naming the lock still busy; everything
    /// this acquire took is released first. A zero timeout tries once: a busy lock is a timeout,
    /// a free one is taken. The server measures the wait for locks (`lock_timeout`).
    ///
    /// One deadline covers every wait of an outermost acquire: for a session when all
    /// [`max_sessions`](crate::PgBuilder::max_sessions) are in use ([`Error::NoSession`] when it
    /// runs out there), then for the locks, and, when a pooled session died under the acquire
    /// and it retries on a new one, the retry gets only what is left.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Some(o) = self.options() {
            o.timeout = Some(Some(timeout));
        }
        self
    }

    /// Waits as long as it takes, whatever the manager's default timeout.
    pub fn no_timeout(mut self) -> Self {
        if let Some(o) = self.options() {
            o.timeout = Some(None);
        }
        self
    }

    /// A label for the holder, shown by [`PgLockManager::status`] in every process (copied; the
    /// guard's [`PgGuard::owner`] keeps all of it, the server keeps what fits of it in 63 bytes of
    /// `application_name`, non-ASCII characters as `?`). Without one, an outermost acquire is
    /// labelled `pid <this process id>` and a nested one inherits its parent's label.
    pub fn owner(mut self, label: &str) -> Self {
        if let Some(o) = self.options() {
            o.owner = Some(label.to_owned());
        }
        self
    }

    /// Adds locks to take shared (`pg_advisory_lock_shared`). A lock in both lists is taken
    /// exclusive.
    pub fn shared<I>(mut self, keys: I) -> Self
    where
        I: IntoIterator,
        I::Item: Key,
    {
        if let State::Start {
            target, request, ..
        } = &mut self.state
        {
            if let Ok(r) = request {
                let h = &target.manager().inner.hierarchy;
                if let Err(e) = hierarchy::add_keys(h, r, keys, Mode::Shared) {
                    *request = Err(e);
                }
            }
        }
        self
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<PgGuard<'a>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if matches!(this.state, State::Start { .. }) {
            let State::Start {
                target,
                request,
                options,
            } = std::mem::replace(&mut this.state, State::Done)
            else {
                unreachable!()
            };
            this.state = State::Running(Box::pin(run(target, request, options)));
        }
        match &mut this.state {
            State::Running(fut) => {
                let out = std::task::ready!(fut.as_mut().poll(cx));
                this.state = State::Done;
                Poll::Ready(out)
            }
            _ => Poll::Ready(Err(Error::Lock(lockorder::Error::PolledAfterCompletion))),
        }
    }
}

async fn run<'a>(
    target: Target<'a>,
    request: Result<Request, Error>,
    options: Options,
) -> Result<PgGuard<'a>, Error> {
    let request = request?;
    match target {
        Target::Root(mgr) => acquire_root(mgr, request, options).await,
        Target::Nested {
            mgr,
            session,
            depth,
            label,
        } => {
            if let Some(reason) = session.broken() {
                return Err(lost(&mgr, session, reason));
            }
            let new = hierarchy::plan_nested(&mgr.inner.hierarchy, &session.held, &request)?;
            let label = options.owner.clone().unwrap_or_else(|| label.to_owned());
            let timeout = options.timeout.unwrap_or(mgr.inner.default_timeout);
            match call(&mgr, session, &new, &options, timeout, depth, &label).await? {
                Ok(token) => Ok(PgGuard::new(
                    mgr,
                    Slot::Nested(session),
                    depth,
                    label,
                    token,
                )),
                Err(pos) => Err(busy(&mgr, pos, &options)),
            }
        }
    }
}

async fn acquire_root(
    mgr: PgLockManager,
    request: Request,
    options: Options,
) -> Result<PgGuard<'static>, Error> {
    let label = options
        .owner
        .clone()
        .unwrap_or_else(|| mgr.inner.default_label.clone());
    // One deadline across everything that waits: for a session, then on the server, then on
    // a retry. What a wait used is gone from the timeout of what follows.
    let timeout = options.timeout.unwrap_or(mgr.inner.default_timeout);
    let no_session = |e: Error| match e {
        Error::NoSession {
            max_sessions,
            waited,
            ..
        } => Error::NoSession {
            locks: request
                .iter()
                .map(|&(pos, _)| mgr.inner.hierarchy.lock_ref(pos))
                .collect(),
            max_sessions,
            waited,
        },
        e => e,
    };
    let (mut session, mut reused, mut spent) =
        mgr.checkout(timeout, false).await.map_err(no_session)?;
    loop {
        let left = timeout.map(|t| t.saturating_sub(spent));
        let sent = Instant::now();
        match call(&mgr, &mut session, &request, &options, left, 0, &label).await {
            Ok(Ok(token)) => {
                return Ok(PgGuard::new(
                    mgr,
                    Slot::Root(Some(session)),
                    0,
                    label,
                    token,
                ))
            }
            Ok(Err(pos)) => {
                mgr.checkin(session);
                return Err(busy(&mgr, pos, &options));
            }
            // An idle session that died in the pool (a server restart, a terminated backend),
            // perhaps while this statement waited on it: it held nothing, so try once more on a
            // new one, with what is left of the timeout (counted from when the failed statement
            // was sent, which is at or before its first busy lock).
            Err(Error::Database(e)) if reused && session_ended(&e) => {
                drop(session);
                spent += sent.elapsed();
                let left = timeout.map(|t| t.saturating_sub(spent));
                let (fresh, _, waited) = mgr.checkout(left, true).await.map_err(no_session)?;
                session = fresh;
                spent += waited;
                reused = false;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether the error says the session is gone (so it holds nothing): the connection closed, or
/// the server ended the session (a FATAL error, such as `pg_terminate_backend`'s or a shutdown's).
fn session_ended(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || e.as_db_error()
            .is_some_and(|d| d.parsed_severity() == Some(tokio_postgres::error::Severity::Fatal))
}

fn busy(mgr: &PgLockManager, pos: usize, options: &Options) -> Error {
    let lock = mgr.inner.hierarchy.lock_ref(pos);
    Error::Lock(if options.try_only {
        lockorder::Error::WouldBlock { lock }
    } else {
        lockorder::Error::Timeout { lock }
    })
}

pub(crate) fn lost(mgr: &PgLockManager, session: &Session, reason: String) -> Error {
    Error::Lost {
        locks: session
            .held
            .iter()
            .map(|h| mgr.inner.hierarchy.lock_ref(h.pos))
            .collect(),
        reason,
    }
}

/// Closes the session if dropped while armed: its statement's effect is unknown.
struct InFlight<'s> {
    session: Option<&'s mut Session>,
}

impl<'s> InFlight<'s> {
    fn disarm(mut self) -> &'s mut Session {
        self.session.take().expect("armed once")
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            session.kill("an acquire on this session was cancelled while its statement ran");
        }
    }
}

/// Runs one acquire statement (the function or the fast path) and reads its answer:
/// `(time or -index, token)`. Any error, or dropping this future while the statement runs,
/// closes the session.
async fn run_acquire(
    session: &mut Session,
    stmt: &tokio_postgres::Statement,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(i64, Option<i64>), Error> {
    let flight = InFlight {
        session: Some(session),
    };
    let s: &Session = flight.session.as_deref().expect("armed");
    let result = s.client.query_one(stmt, params).await;
    let session = flight.disarm();
    match result.and_then(|row| row.try_get::<_, Vec<Option<i64>>>(0)) {
        Ok(answer) => match answer[..] {
            [Some(at_ms), token, ..] => Ok((at_ms, token)),
            _ => Ok((i64::MAX, None)),
        },
        Err(e) => {
            session.kill(&format!(
                "an acquire statement failed: {}",
                crate::error::describe(&e)
            ));
            Err(Error::Database(e))
        }
    }
}

/// Runs the acquire statement for `new` (positions not held yet) at `depth`: `Ok(Ok(token))`,
/// the fencing token drawn once all of `new` was held (with `new` empty, a token alone: a nested
/// guard's token is above its parent's even when it takes nothing new). `Ok(Err(pos))`: `pos`
/// was busy and nothing of `new` is held. Any error closes the session.
async fn call(
    mgr: &PgLockManager,
    session: &mut Session,
    new: &Request,
    options: &Options,
    timeout: Option<Duration>,
    depth: usize,
    label: &str,
) -> Result<Result<u64, usize>, Error> {
    let h = &mgr.inner.hierarchy;
    let (keys, shared): (Vec<i32>, Vec<bool>) = new
        .iter()
        .map(|&(pos, mode)| (hierarchy::key2(h.entries[pos].order), mode == Mode::Shared))
        .unzip();
    let first_order = new.first().map_or(0, |&(pos, _)| h.entries[pos].order);
    let (head, base) = status::app_head(&session.levels, first_order);
    // Nothing new: no level of its own, the session's name stays.
    let head = (!new.is_empty()).then_some(head);
    let clean = status::clean_label(label);
    // `lock_timeout` takes at most i32::MAX ms (about 24.8 days): a longer timeout is none.
    let timeout_ms = timeout
        .map(|d| d.as_secs_f64() * 1000.0)
        .filter(|&ms| ms < f64::from(i32::MAX));
    let ns = mgr.inner.namespace;
    let seq = mgr.inner.sequence;
    let mut answer = None;
    // Small sets first try the fast path (plain SQL); it answers a busy lock itself, which
    // ends a try or a zero timeout, and otherwise the function below waits.
    if (1..=sql::FAST_MAX).contains(&new.len()) {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&ns, &seq, &head, &base, &clean];
        for (k, sh) in keys.iter().zip(&shared) {
            params.push(k);
            params.push(sh);
        }
        let stmt = session.stmts.fast[new.len() - 1].clone();
        let (at_ms, token) = run_acquire(session, &stmt, &params).await?;
        let gives_up = options.try_only || timeout_ms.is_some_and(|ms| ms <= 0.0);
        if at_ms >= 0 || gives_up {
            answer = Some((at_ms, token));
        }
    }
    let (at_ms, token) = match answer {
        Some(a) => a,
        None => {
            let stmt = session.stmts.acquire.clone();
            run_acquire(
                session,
                &stmt,
                &[
                    &ns,
                    &keys,
                    &shared,
                    &options.try_only,
                    &timeout_ms,
                    &head,
                    &base,
                    &clean,
                    &seq,
                ],
            )
            .await?
        }
    };
    if at_ms < 0 {
        let index = usize::try_from(-at_ms - 1).unwrap_or(usize::MAX);
        return match new.get(index) {
            Some(&(pos, _)) => Ok(Err(pos)),
            None => {
                session.kill("the acquire function answered out of range");
                Err(lost(
                    mgr,
                    session,
                    "the acquire function answered out of range".into(),
                ))
            }
        };
    }
    let Some(token) = token.and_then(|t| u64::try_from(t).ok()) else {
        session.kill("the acquire function answered without a fencing token");
        return Err(lost(
            mgr,
            session,
            "the acquire function answered without a fencing token".into(),
        ));
    };
    if new.is_empty() {
        return Ok(Ok(token));
    }
    let first_order = if session.levels.is_empty() {
        0
    } else {
        first_order
    };
    session
        .held
        .extend(new.iter().map(|&(pos, mode)| Held { pos, mode, depth }));
    session.levels.push(Level {
        depth,
        first_order,
        at_ms,
        label: clean,
    });
    Ok(Ok(token))
}
