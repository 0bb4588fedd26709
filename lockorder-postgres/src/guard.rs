//! `PgGuard`: a set of advisory locks held on one session.

use std::fmt;

use lockorder::{Key, LockRef, Mode};

use crate::acquire::{lost, Acquire, Options, Target};
use crate::error::Error;
use crate::hierarchy::{self, Request};
use crate::manager::PgLockManager;
use crate::session::Session;
use crate::status;

/// The session a guard holds its locks on: its own (outermost guards), or its parent's.
pub(crate) enum Slot<'a> {
    /// `None` once released.
    Root(Option<Box<Session>>),
    Nested(&'a mut Session),
}

/// Locks held on one PostgreSQL session, taken by [`PgLockManager::acquire`] or nested through
/// [`PgGuard::acquire`].
///
/// An outermost guard (`PgGuard<'static>`) owns its session: it can be moved into a spawned
/// task. A nested guard borrows its parent mutably, so a guard has at most one live child and
/// the parent cannot be released first.
///
/// # Releasing
///
/// [`release`](Self::release)`.await` unlocks on the server, reports locks lost with their
/// session, and gives the session back to the pool. Dropping a guard instead queues the
/// unlock on its session at once, without waiting for the answer (tokio-postgres sends a
/// statement when its future is first polled and runs statements in that order, so the unlock
/// runs before anything later on that session): an outermost guard queues
/// `pg_advisory_unlock_all()` and returns the session to the pool, a nested guard queues the
/// unlock of its own locks. A session that cannot be trusted is closed instead, which releases
/// everything it held. The queued unlock is written by the session's connection task, so it goes
/// out once the runtime runs that task (see the [crate docs](crate#releasing-dropping-cancelling)).
#[must_use = "if unused the locks are immediately released"]
#[clippy::has_significant_drop]
pub struct PgGuard<'a> {
    mgr: PgLockManager,
    slot: Slot<'a>,
    depth: usize,
    label: String,
    token: u64,
}

impl fmt::Debug for PgGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgGuard")
            .field("locks", &self.locks().collect::<Vec<_>>())
            .field("depth", &self.depth)
            .field("owner", &self.label)
            .field("fencing_token", &self.token)
            .field("lost", &self.is_lost())
            .finish()
    }
}

impl<'a> PgGuard<'a> {
    pub(crate) fn new(
        mgr: PgLockManager,
        slot: Slot<'a>,
        depth: usize,
        label: String,
        token: u64,
    ) -> Self {
        Self {
            mgr,
            slot,
            depth,
            label,
            token,
        }
    }

    fn session(&self) -> Option<&Session> {
        match &self.slot {
            Slot::Root(s) => s.as_deref(),
            Slot::Nested(s) => Some(s),
        }
    }

    /// Whether this guard (with its ancestors) holds `key`, in either mode. `false` for an
    /// unknown key.
    pub fn holds<K: Key>(&self, key: K) -> bool {
        self.mode(key).is_some()
    }

    /// How this guard (with its ancestors) holds `key`; `None` when it does not, or for an
    /// unknown key.
    pub fn mode<K: Key>(&self, key: K) -> Option<Mode> {
        let pos = self.mgr.inner.hierarchy.position(key).ok()?;
        self.session()?
            .held
            .iter()
            .find(|h| h.pos == pos)
            .map(|h| h.mode)
    }

    /// The locks this guard covers (its own and its ancestors'), ascending.
    pub fn locks(&self) -> impl Iterator<Item = &LockRef> + '_ {
        let h = &self.mgr.inner.hierarchy;
        self.session()
            .into_iter()
            .flat_map(|s| s.held.iter())
            .map(move |x| &h.entries[x.pos].lock_ref)
    }

    /// The fencing token of this guard: a number drawn on the server when its locks were granted
    /// (`nextval` of the sequence `lockorder_fencing_token` in the manager's schema, in the same
    /// statement that took the locks). Tokens increase strictly over every grant of every
    /// manager and process using the schema, so a later holder of a lock always has a larger
    /// token than an earlier one; a nested guard's token is larger than its parent's (a nested
    /// acquire that takes nothing new still draws one). It never changes.
    ///
    /// Pass it with every write to the resource the locks protect, and have the resource refuse
    /// a token lower than the highest it has seen: a holder that lost its locks without knowing
    /// (paused, then its session ended) is then refused. See the crate's README, "Fencing".
    ///
    /// ```no_run
    /// # async fn f(locks: lockorder_postgres::PgLockManager,
    /// #            store: tokio_postgres::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let g = locks.acquire(["ledger"]).await?;
    /// let token = g.fencing_token() as i64;
    /// // The store keeps the highest token it has seen, and refuses older ones.
    /// let n = store
    ///     .execute(
    ///         "UPDATE ledger SET balance = balance + 1, token = $1 WHERE id = 1 AND token <= $1",
    ///         &[&token],
    ///     )
    ///     .await?;
    /// assert!(n == 1, "a newer holder wrote: this one's locks were lost");
    /// g.release().await?;
    /// # Ok(()) }
    /// ```
    pub fn fencing_token(&self) -> u64 {
        self.token
    }

    /// The holder's label: what [`Acquire::owner`] was given, complete, or the default.
    pub fn owner(&self) -> &str {
        &self.label
    }

    /// The PostgreSQL server process of the session holding the locks (as in `pg_locks` and
    /// [`Holder::backend_pid`](crate::Holder::backend_pid)).
    pub fn backend_pid(&self) -> Option<i32> {
        self.session().map(|s| s.backend_pid)
    }

    /// The manager this guard came from.
    pub fn manager(&self) -> &PgLockManager {
        &self.mgr
    }

    /// Whether the client already knows the locks are lost: the session ended (the server
    /// terminated it, restarted, or the connection broke) or was closed because a statement on
    /// it was cancelled. No round trip: it reads what the task driving the session's connection
    /// recorded, so it turns `true` only once that task has run after the connection ended (on
    /// a busy current-thread runtime, that can be long after; [`lost`](Self::lost) wakes the
    /// caller at that moment instead of being polled). A loss the client has not noticed yet
    /// needs [`check`](Self::check).
    pub fn is_lost(&self) -> bool {
        self.session().is_none_or(|s| s.broken().is_some())
    }

    /// Resolves when this guard's session ends, and so its locks are lost: the server ended it
    /// (`pg_terminate_backend`, a shutdown), the connection broke, or it was closed because a
    /// statement on it was cancelled. Pending for as long as the locks are held; at once when
    /// they are already known lost. Afterwards [`is_lost`](Self::is_lost) is `true` and
    /// [`check`](Self::check) is [`Error::Lost`].
    ///
    /// No polling and no round trip: it wakes when the task that drives the session's
    /// connection sees the connection end, which for a session the server ends is as soon as
    /// that task runs (within milliseconds on a runtime that is not starved; a current-thread
    /// runtime must get back to its scheduler). A server host that vanishes without closing the
    /// connection is noticed by TCP keepalive (see the crate docs, "Faults").
    ///
    /// Select on it beside the work the locks protect, to stop that work when they go:
    ///
    /// ```no_run
    /// # async fn f(locks: lockorder_postgres::PgLockManager) -> Result<(), Box<dyn std::error::Error>> {
    /// # async fn work() {}
    /// let g = locks.acquire(["ledger"]).await?;
    /// tokio::select! {
    ///     () = work() => g.release().await?,
    ///     () = g.lost() => eprintln!("the ledger lock was lost; work stopped"),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping it does nothing.
    pub async fn lost(&self) {
        let ended = match self.session() {
            Some(s) if s.broken().is_none() => s.ended(),
            _ => return,
        };
        ended.await;
    }

    /// Asks the server whether this session still holds every lock of this guard (and its
    /// ancestors). One round trip.
    ///
    /// # Errors
    ///
    /// [`Error::Lost`] naming the locks and what happened, when the session is gone or does not
    /// hold them all any more.
    pub async fn check(&mut self) -> Result<(), Error> {
        let mgr = self.mgr.clone();
        let Some(session) = (match &mut self.slot {
            Slot::Root(s) => s.as_deref_mut(),
            Slot::Nested(s) => Some(&mut **s),
        }) else {
            return Err(Error::Lost {
                locks: Vec::new(),
                reason: "the guard was released".into(),
            });
        };
        if let Some(reason) = session.broken() {
            return Err(lost(&mgr, session, reason));
        }
        let orders: Vec<i64> = session
            .held
            .iter()
            .map(|h| i64::from(mgr.inner.hierarchy.entries[h.pos].order))
            .collect();
        let ns = i64::from(mgr.inner.namespace as u32);
        let held: Result<i32, _> = session
            .client
            .query_one(&session.stmts.check, &[&ns, &orders])
            .await
            .map(|r| r.get(0));
        match held {
            Ok(n) if usize::try_from(n) == Ok(orders.len()) => Ok(()),
            Ok(n) => {
                let reason = format!(
                    "the server shows {n} of the session's {} locks held",
                    orders.len()
                );
                session.kill(&reason);
                Err(lost(&mgr, session, reason))
            }
            Err(e) => {
                let reason = session
                    .broken()
                    .unwrap_or_else(|| format!("the check failed: {}", crate::error::describe(&e)));
                session.kill(&reason);
                Err(lost(&mgr, session, reason))
            }
        }
    }

    /// The session holding the locks, to run statements on: a statement sent here runs only
    /// while the locks are held, since they end together (a terminated session runs nothing).
    ///
    /// Use it for statements that need no transaction; for several writes that must commit
    /// only with the locks still held, use [`transaction`](Self::transaction).
    ///
    /// The crate relies on the session's state: do not release advisory locks here
    /// (`pg_advisory_unlock*`, `DISCARD ALL`), and leave the session as you found it (settings
    /// changed with `SET` stay with the pooled session; `SET LOCAL` inside a transaction does
    /// not). Prepared statements of your own stay with the session too.
    ///
    /// # Errors
    ///
    /// [`Error::Lost`] when the client already knows the session ended.
    pub fn client(&self) -> Result<&tokio_postgres::Client, Error> {
        let session = self.session().ok_or_else(|| Error::Lost {
            locks: Vec::new(),
            reason: "the guard was released".into(),
        })?;
        match session.broken() {
            Some(reason) => Err(lost(&self.mgr, session, reason)),
            None => Ok(&session.client),
        }
    }

    /// Starts a transaction on the session holding the locks: its writes commit only if the
    /// session, and so every lock of this guard, is still there at `COMMIT`. A holder that
    /// lost its locks without knowing (it was paused while the server ended its session, and
    /// another process took them) finds its `COMMIT`, or an earlier statement, failing, and
    /// nothing of the transaction is written. The guard is borrowed until the transaction ends;
    /// dropping it uncommitted rolls it back.
    ///
    /// This protects writes to the same database. For anything else, use
    /// [`fencing_token`](Self::fencing_token).
    ///
    /// ```no_run
    /// # async fn f(locks: lockorder_postgres::PgLockManager) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut g = locks.acquire(["ledger"]).await?;
    /// let tx = g.transaction().await?;
    /// tx.execute("UPDATE ledger SET balance = balance - 10 WHERE id = 1", &[]).await?;
    /// tx.execute("UPDATE ledger SET balance = balance + 10 WHERE id = 2", &[]).await?;
    /// tx.commit().await?; // fails, writing nothing, if the locks' session ended
    /// g.release().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Lost`] when the client already knows the session ended; [`Error::Database`]
    /// when `BEGIN` fails (the session ended meanwhile, or the guard's session is already in a
    /// transaction of yours).
    pub async fn transaction(&mut self) -> Result<tokio_postgres::Transaction<'_>, Error> {
        let mgr = self.mgr.clone();
        let session = match &mut self.slot {
            Slot::Root(s) => s.as_deref_mut(),
            Slot::Nested(s) => Some(&mut **s),
        }
        .ok_or_else(|| Error::Lost {
            locks: Vec::new(),
            reason: "the guard was released".into(),
        })?;
        if let Some(reason) = session.broken() {
            return Err(lost(&mgr, session, reason));
        }
        session.client.transaction().await.map_err(Error::Database)
    }

    /// Takes more locks on this guard's session, exclusive: locks it already covers are skipped
    /// (reentrancy through the guard); a new lock must be ordered above every lock held, or the
    /// request is [`lockorder::Error::OrderViolation`] naming both (an error, never a deadlock);
    /// an exclusive request for a lock held shared is [`lockorder::Error::UpgradeRefused`]. The nested
    /// guard releases only what it took.
    ///
    /// Cancelling the returned future while its statement runs closes this guard's session:
    /// see [`Acquire`]'s cancel safety.
    pub fn acquire<I>(&mut self, keys: I) -> Acquire<'_>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.nested(keys, Mode::Exclusive, false)
    }

    /// Like [`acquire`](Self::acquire), every lock shared. A shared request for a lock held in
    /// either mode is covered.
    pub fn acquire_shared<I>(&mut self, keys: I) -> Acquire<'_>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.nested(keys, Mode::Shared, false)
    }

    /// Like [`acquire`](Self::acquire), trying once, all or nothing:
    /// [`lockorder::Error::WouldBlock`] names a busy lock.
    pub fn try_acquire<I>(&mut self, keys: I) -> Acquire<'_>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.nested(keys, Mode::Exclusive, true)
    }

    fn nested<I>(&mut self, keys: I, mode: Mode, try_only: bool) -> Acquire<'_>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        let mgr = self.mgr.clone();
        let mut request = Request::new();
        let request =
            hierarchy::add_keys(&mgr.inner.hierarchy, &mut request, keys, mode).map(|()| request);
        let options = Options {
            try_only,
            ..Options::default()
        };
        let depth = self.depth + 1;
        let label = self.label.as_str();
        let session = match &mut self.slot {
            Slot::Root(Some(s)) => s,
            Slot::Nested(s) => &mut **s,
            Slot::Root(None) => unreachable!("a released guard is consumed"),
        };
        Acquire::new(
            Target::Nested {
                mgr,
                session,
                depth,
                label,
            },
            request,
            options,
        )
    }

    /// Releases this guard's own locks and gives an outermost guard's session back to the pool.
    ///
    /// An outermost guard runs the built-in `pg_advisory_unlock_all()`: only this crate takes or
    /// releases advisory locks on its sessions (statements run through [`client`](Self::client)
    /// and [`transaction`](Self::transaction) must not), so the session holds exactly the
    /// guard's locks, and a session
    /// that answers still held them (locks are lost only with their session). A nested guard
    /// unlocks its own locks, newest first, and checks that the session held each.
    ///
    /// If this future is dropped before it completes, the guard is dropped with it (see
    /// [Releasing](Self#releasing)).
    ///
    /// # Errors
    ///
    /// [`Error::Lost`] when the session had lost them (it ended, or the server no longer showed
    /// them held). The locks are not held either way.
    pub async fn release(mut self) -> Result<(), Error> {
        let mgr = self.mgr.clone();
        let depth = self.depth;
        let (session, owned) = match &mut self.slot {
            Slot::Root(s) => match s.take() {
                Some(s) => (SessionRef::Owned(s), true),
                None => return Ok(()),
            },
            Slot::Nested(s) => (SessionRef::Borrowed(s), false),
        };
        // From here the session is out of the guard (outermost) or the guard must not touch it
        // again (nested): dropping `self` does nothing more.
        self.depth = usize::MAX;
        let mut session = session;
        let s = session.get();
        let result = release_on(&mgr, s, depth).await;
        if let (SessionRef::Owned(s), true) = (session, owned) {
            mgr.checkin(s);
        }
        result
    }
}

enum SessionRef<'a> {
    Owned(Box<Session>),
    Borrowed(&'a mut Session),
}

impl SessionRef<'_> {
    fn get(&mut self) -> &mut Session {
        match self {
            SessionRef::Owned(s) => s,
            SessionRef::Borrowed(s) => s,
        }
    }
}

/// Unlocks the locks at `depth` and deeper on `session`. Any failure closes the session.
async fn release_on(mgr: &PgLockManager, session: &mut Session, depth: usize) -> Result<(), Error> {
    if let Some(reason) = session.broken() {
        let e = lost(mgr, session, reason);
        session.pop_to(depth);
        return Err(e);
    }
    let (keys, shared) = session.keys_from(depth, |pos| mgr.inner.hierarchy.entries[pos].order);
    if keys.is_empty() {
        session.pop_to(depth);
        return Ok(());
    }
    let mine: Vec<LockRef> = session
        .held
        .iter()
        .filter(|h| h.depth >= depth)
        .map(|h| mgr.inner.hierarchy.lock_ref(h.pos))
        .collect();
    let mut after = session.levels.clone();
    after.retain(|l| l.depth < depth);
    let app = status::app_name(&after);
    let ns = mgr.inner.namespace;
    // Forget them before the statement goes out: if this future is dropped once it was sent,
    // the server still runs the release, and the session's record already agrees.
    session.pop_to(depth);
    // An outermost guard holds everything its session holds: the built-in
    // pg_advisory_unlock_all() releases it all for less than the function. Only this crate
    // unlocks on its sessions (statements run through `client`/`transaction` must not), so a
    // session that answers still held every lock it took (locks are lost only with their
    // session); the function's count checks the nested case.
    let result = if depth == 0 {
        session
            .client
            .execute(&session.stmts.unlock_all, &[])
            .await
            .map(|_| 0)
    } else {
        session
            .client
            .query_one(&session.stmts.release, &[&ns, &keys, &shared, &app])
            .await
            .map(|row| row.get::<_, i32>(0))
    };
    match result {
        Ok(0) => Ok(()),
        Ok(missing) => {
            let reason = format!("the session no longer held {missing} of them at release");
            session.kill(&reason);
            Err(Error::Lost {
                locks: mine,
                reason,
            })
        }
        Err(e) => {
            let reason = session
                .broken()
                .unwrap_or_else(|| format!("the release failed: {}", crate::error::describe(&e)));
            session.kill(&reason);
            Err(Error::Lost {
                locks: mine,
                reason,
            })
        }
    }
}

impl Drop for PgGuard<'_> {
    fn drop(&mut self) {
        if self.depth == usize::MAX {
            return; // released
        }
        match &mut self.slot {
            Slot::Root(s) => {
                if let Some(mut s) = s.take() {
                    if s.broken().is_none() {
                        s.send_and_forget(&s.stmts.unlock_all, &[]);
                        s.pop_to(0);
                        self.mgr.checkin(s);
                    }
                }
            }
            Slot::Nested(s) => {
                let (keys, shared) = s.keys_from(self.depth, |pos| {
                    self.mgr.inner.hierarchy.entries[pos].order
                });
                let mut after = s.levels.clone();
                after.retain(|l| l.depth < self.depth);
                let app = status::app_name(&after);
                if !keys.is_empty() && s.broken().is_none() {
                    let ns = self.mgr.inner.namespace;
                    s.send_and_forget(&s.stmts.release, &[&ns, &keys, &shared, &app]);
                }
                s.pop_to(self.depth);
            }
        }
    }
}
