//! One database session: the connection, its prepared statements, and what it holds.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

use lockorder::Mode;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_postgres::types::ToSql;
use tokio_postgres::{CancelToken, Client, Config, NoTls, Statement};

use crate::error::Error;
use crate::hierarchy::Held;
use crate::sql::{self, Names};
use crate::status::{self, Level};

/// The statements a session runs, prepared once when it connects.
pub(crate) struct Statements {
    pub(crate) acquire: Statement,
    /// The fast path for sets of 1 to `FAST_MAX` locks, at index `k - 1`.
    pub(crate) fast: Vec<Statement>,
    pub(crate) release: Statement,
    pub(crate) unlock_all: Statement,
    pub(crate) check: Statement,
}

/// A connection, what it holds, and whether it can still be trusted.
///
/// Dropping a `Session` closes its connection (the task driving it is aborted, which closes the
/// socket); PostgreSQL then releases every session lock it had.
pub(crate) struct Session {
    pub(crate) client: Client,
    conn: AbortHandle,
    cancel: CancelToken,
    /// Why the connection ended, when the task driving it saw an error.
    ended: Arc<Mutex<Option<String>>>,
    /// Closed (its sender dropped) when the task driving the connection ends, for whatever
    /// reason: the connection closed, or the session was killed (the task aborted).
    task_done: watch::Receiver<()>,
    pub(crate) stmts: Statements,
    /// The server process of this session.
    pub(crate) backend_pid: i32,
    /// Locks held, ascending by order (every nesting level takes locks above its ancestors').
    pub(crate) held: Vec<Held>,
    /// The guards on this session, outermost first.
    pub(crate) levels: Vec<Level>,
    /// Set when the session can no longer be trusted; it is then closed.
    pub(crate) poisoned: Option<String>,
    /// This session's place among the manager's `max_sessions`, freed when it is dropped.
    pub(crate) place: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("held", &self.held)
            .field("levels", &self.levels)
            .field("poisoned", &self.poisoned)
            .field("closed", &self.client.is_closed())
            .finish()
    }
}

impl Session {
    /// Connects and prepares the statements. Must run inside a tokio runtime: the connection is
    /// driven by a spawned task.
    pub(crate) async fn connect(config: &Config, names: &Names) -> Result<Self, Error> {
        let (client, connection) = config.connect(NoTls).await.map_err(Error::Connect)?;
        let ended = Arc::new(Mutex::new(None));
        let ended2 = ended.clone();
        let (done_tx, task_done) = watch::channel(());
        let conn = tokio::spawn(async move {
            let _done = done_tx;
            if let Err(e) = connection.await {
                *ended2.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(crate::error::describe(&e));
            }
        })
        .abort_handle();
        let cancel = client.cancel_token();
        use tokio_postgres::types::Type;
        let (call_acquire, call_release) = (names.call_acquire(), names.call_release());
        let acquire_types = [
            Type::INT4,
            Type::INT4_ARRAY,
            Type::BOOL_ARRAY,
            Type::BOOL,
            Type::FLOAT8,
            Type::TEXT,
            Type::INT8,
            Type::TEXT,
            Type::OID,
        ];
        let release_types = [Type::INT4, Type::INT4_ARRAY, Type::BOOL_ARRAY, Type::TEXT];
        let check_types = [Type::INT8, Type::INT8_ARRAY];
        let fast_sql: Vec<(String, Vec<Type>)> = (1..=sql::FAST_MAX)
            .map(|k| {
                let mut types = vec![Type::INT4, Type::OID, Type::TEXT, Type::INT8, Type::TEXT];
                for _ in 0..k {
                    types.extend([Type::INT4, Type::BOOL]);
                }
                (sql::fast_acquire(k), types)
            })
            .collect();
        let fast = futures_join_all(
            fast_sql
                .iter()
                .map(|(text, types)| client.prepare_typed(text, types))
                .collect(),
        );
        // Pipelined: one round trip for all of them.
        let prepared = tokio::try_join!(
            fast,
            client.prepare_typed(&call_acquire, &acquire_types),
            client.prepare_typed(&call_release, &release_types),
            client.prepare(sql::UNLOCK_ALL),
            client.prepare_typed(sql::CHECK, &check_types),
            client.query_one("SELECT pg_backend_pid()", &[]),
        );
        let (fast, acquire, release, unlock_all, check, pid) = match prepared {
            Ok(p) => p,
            Err(e) => {
                conn.abort();
                return Err(Error::Database(e));
            }
        };
        Ok(Self {
            client,
            conn,
            cancel,
            ended,
            task_done,
            stmts: Statements {
                acquire,
                fast,
                release,
                unlock_all,
                check,
            },
            backend_pid: pid.get(0),
            held: Vec::new(),
            levels: Vec::new(),
            poisoned: None,
            place: None,
        })
    }

    /// Why the session cannot be used, if it cannot.
    pub(crate) fn broken(&self) -> Option<String> {
        if let Some(p) = &self.poisoned {
            return Some(p.clone());
        }
        if self.client.is_closed() {
            let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return Some(match ended {
                Some(e) => format!("the session ended: {e}"),
                None => "the session ended".to_owned(),
            });
        }
        None
    }

    /// Resolves once the task driving the connection has ended (the connection closed, or the
    /// session was killed); [`broken`](Self::broken) is `Some` from then on.
    pub(crate) fn ended(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut done = self.task_done.clone();
        async move {
            // Nothing is ever sent: `changed` only returns once the sender is dropped.
            while done.changed().await.is_ok() {}
        }
    }

    /// Closes the session now because its state is unknown: a cancel request stops a statement
    /// that may still be waiting on the server, and the connection is closed, which releases
    /// every lock the session holds.
    pub(crate) fn kill(&mut self, reason: &str) {
        if self.poisoned.is_none() {
            self.poisoned = Some(reason.to_owned());
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let cancel = self.cancel.clone();
            rt.spawn(async move {
                let _ = cancel.cancel_query(NoTls).await;
            });
        }
        self.conn.abort();
    }

    /// Sends a statement whose answer nobody waits for. tokio-postgres sends a request when its
    /// future is first polled and runs requests in that order, so once this returns the
    /// statement is queued ahead of anything later on the session.
    pub(crate) fn send_and_forget(&self, stmt: &Statement, params: &[&(dyn ToSql + Sync)]) {
        let fut = pin!(self.client.execute(stmt, params));
        let mut cx = Context::from_waker(Waker::noop());
        let _ = fut.poll(&mut cx);
    }

    /// The locks held by guards at `depth` and deeper, as the release function takes them.
    pub(crate) fn keys_from(
        &self,
        depth: usize,
        orders: impl Fn(usize) -> u32,
    ) -> (Vec<i32>, Vec<bool>) {
        self.held
            .iter()
            .filter(|h| h.depth >= depth)
            .map(|h| {
                (
                    crate::hierarchy::key2(orders(h.pos)),
                    h.mode == Mode::Shared,
                )
            })
            .unzip()
    }

    /// Forgets the locks and levels of guards at `depth` and deeper, and returns the name the
    /// session should have afterwards.
    pub(crate) fn pop_to(&mut self, depth: usize) -> String {
        self.held.retain(|h| h.depth < depth);
        self.levels.retain(|l| l.depth < depth);
        status::app_name(&self.levels)
    }
}

/// Polls every future at once (so that their requests are all sent before any answer is
/// awaited) and collects their outputs in order.
async fn futures_join_all<F, T, E>(futures: Vec<F>) -> Result<Vec<T>, E>
where
    F: Future<Output = Result<T, E>>,
{
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(Ok(v)) => *slot = Some(v),
                    std::task::Poll::Ready(Err(e)) => return std::task::Poll::Ready(Err(e)),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(Ok(()))
        }
    })
    .await?;
    Ok(out
        .into_iter()
        .map(|v| v.expect("every future finished"))
        .collect())
}

impl Drop for Session {
    fn drop(&mut self) {
        self.conn.abort();
    }
}
