//! `PgLockManager`: the hierarchy on a server, the pool of sessions, status.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockorder::{Key, LockId, LockManager, MaybeTimer, Mode};
use tokio::sync::{Notify, Semaphore};
use tokio_postgres::{Config, NoTls};

use crate::acquire::{Acquire, Options, Target};
use crate::error::Error;
use crate::hierarchy::{self, Hierarchy, Request};
use crate::session::Session;
use crate::sql::{self, Names};
use crate::status::{Holder, PgLockStatus, PgLongHold, PgStatus};

/// The namespace used unless [`PgBuilder::namespace`] sets another: the ASCII bytes of "lock",
/// `0x6C6F636B` (1819239275).
pub const DEFAULT_NAMESPACE: i32 = 0x6C6F_636B;

/// How many idle sessions a manager keeps for reuse unless [`PgBuilder::max_idle`] says otherwise.
pub const DEFAULT_MAX_IDLE: usize = 8;

/// How many sessions a manager has at most, unless [`PgBuilder::max_sessions`] says otherwise:
/// 16, a sixth of PostgreSQL's default `max_connections` (100), so that a few processes with a
/// manager each fit beside the other clients of the server.
pub const DEFAULT_MAX_SESSIONS: usize = 16;

/// Configures a [`PgLockManager`]: [`PgLockManager::builder`].
pub struct PgBuilder {
    hierarchy: Hierarchy,
    default_timeout: Option<Duration>,
    namespace: i32,
    schema: String,
    max_idle: usize,
    max_sessions: usize,
}

impl fmt::Debug for PgBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgBuilder")
            .field("locks", &self.hierarchy)
            .field("default_timeout", &self.default_timeout)
            .field("namespace", &self.namespace)
            .field("schema", &self.schema)
            .field("max_idle", &self.max_idle)
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

impl PgBuilder {
    /// The first advisory-lock key of every lock of this manager (default
    /// [`DEFAULT_NAMESPACE`]). Processes that share locks must use the same namespace; different
    /// hierarchies in one database use different namespaces.
    pub fn namespace(mut self, namespace: i32) -> Self {
        self.namespace = namespace;
        self
    }

    /// The schema of the hierarchy table and the functions (default `public`).
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = schema.to_owned();
        self
    }

    /// The timeout of acquires that set none (default: the core builder's `default_timeout`, if
    /// it had a timer and one; otherwise none, and acquires wait as long as it takes).
    pub fn default_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = Some(timeout);
        self
    }

    /// How many idle sessions to keep for reuse (default [`DEFAULT_MAX_IDLE`]). A session is
    /// taken from this pool by every outermost acquire, kept by its guard, and given back when the
    /// guard is released or dropped. Idle sessions count towards
    /// [`max_sessions`](Self::max_sessions).
    pub fn max_idle(mut self, max_idle: usize) -> Self {
        self.max_idle = max_idle;
        self
    }

    /// The most sessions (server connections) this manager has at once, idle pooled ones
    /// included (default [`DEFAULT_MAX_SESSIONS`]; 0 counts as 1). Each outermost guard, each
    /// pending outermost acquire and each [`status`](PgLockManager::status) call needs one;
    /// nested acquires use their parent's. When all are taken, further outermost acquires wait
    /// in this process, in order, for a session to come back or close; the wait counts towards
    /// their timeout, and one that runs out is [`Error::NoSession`] naming its locks. Start-up
    /// uses one more connection, closed before [`connect`](Self::connect) returns.
    ///
    /// A task that holds a guard and asks the manager (not the guard) for more needs a second
    /// session: with every session held by such tasks, they wait for each other until their
    /// timeouts. Nest through the guard instead.
    pub fn max_sessions(mut self, max_sessions: usize) -> Self {
        self.max_sessions = max_sessions.max(1);
        self
    }

    /// Connects, installs the table and functions if they are missing, records the hierarchy,
    /// and checks it against what other processes recorded.
    ///
    /// Start-up is serialized across processes by a transaction-level advisory lock on the
    /// one-`bigint` key `0x6C6F636B6F726472` ("lockordr"), a key space apart from the locks'.
    ///
    /// # Errors
    ///
    /// [`Error::HierarchyConflict`] when another process recorded the same order under another
    /// name, or the same name at another order, in this namespace (this manager then does not
    /// start); [`Error::Connect`] or [`Error::Database`] when the server cannot be reached or
    /// refuses (creating the objects needs the `CREATE` privilege on the schema the first time).
    ///
    /// Must be called inside a tokio runtime (the connections are driven by spawned tasks).
    pub async fn connect(self, config: Config) -> Result<PgLockManager, Error> {
        let mut config = config;
        let options = sql::startup_options(config.get_options());
        config.options(&options);
        // The client's side of the same bound: a server host that dies, or a cut network, ends
        // the connection (and so the guards report their locks lost) within about 30 s. Left
        // alone when the caller changed them from the driver's defaults.
        if config.get_keepalives_idle() == Duration::from_secs(2 * 60 * 60) {
            config.keepalives_idle(Duration::from_secs(10));
            config.keepalives_interval(Duration::from_secs(5));
            config.keepalives_retries(4);
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(20));
        }
        let names = Names::new(&self.schema);
        let sequence = install(&config, &names, &self.hierarchy, self.namespace).await?;
        Ok(PgLockManager {
            inner: Arc::new(Inner {
                hierarchy: self.hierarchy,
                config,
                names,
                namespace: self.namespace,
                sequence,
                default_timeout: self.default_timeout,
                max_idle: self.max_idle,
                max_sessions: self.max_sessions,
                sessions: Arc::new(Semaphore::new(self.max_sessions)),
                idle_ready: Notify::new(),
                idle: Mutex::new(Vec::new()),
                default_label: format!("pid {}", std::process::id()),
            }),
        })
    }
}

/// Creates what is missing, verifies what was there, and records the hierarchy, in one
/// transaction serialized across processes. Returns the fencing sequence's OID.
async fn install(config: &Config, names: &Names, h: &Hierarchy, ns: i32) -> Result<u32, Error> {
    let (mut client, connection) = config.connect(NoTls).await.map_err(Error::Connect)?;
    let conn = tokio::spawn(connection);
    let result = async {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&sql::INSTALL_KEY])
            .await?;
        // Created only when missing: `CREATE ... IF NOT EXISTS` would need the CREATE privilege
        // on the schema at every start, from every role.
        for (relation, create) in [
            (&names.table, names.create_table()),
            (&names.sequence, names.create_sequence()),
        ] {
            let exists: bool = tx
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[relation])
                .await?
                .get(0);
            if !exists {
                tx.batch_execute(&create).await?;
            }
        }
        for f in sql::FUNCTIONS {
            let signature = f.signature(&names.schema);
            let exists: bool = tx
                .query_one("SELECT to_regprocedure($1) IS NOT NULL", &[&signature])
                .await?
                .get(0);
            if !exists {
                tx.batch_execute(&f.create(&names.schema)).await?;
            }
            let row = tx.query_one(sql::INSTALLED_FUNCTION, &[&signature]).await?;
            if let Some(found) = foreign_function(f, &row) {
                return Ok(Err(Error::ForeignObject {
                    object: format!("function {signature}"),
                    found,
                }));
            }
        }
        let row = tx
            .query_one(sql::INSTALLED_SEQUENCE, &[&names.sequence])
            .await?;
        let (ty, increment, cycle, cache): (String, i64, bool, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        if (ty.as_str(), increment, cycle, cache) != ("bigint", 1, false, 1) {
            return Ok(Err(Error::ForeignObject {
                object: format!("sequence {}", names.sequence),
                found: format!(
                    "AS {ty} INCREMENT BY {increment} CACHE {cache}{}, where the crate creates \
                     AS bigint INCREMENT BY 1 CACHE 1 NO CYCLE",
                    if cycle { " CYCLE" } else { " NO CYCLE" }
                ),
            }));
        }
        let sequence = u32::try_from(row.get::<_, i64>(4)).unwrap_or(0);
        // What every acquire needs, checked now rather than at the first acquire.
        let needs = [
            (names.table.clone(), "TABLE", "SELECT"),
            (names.sequence.clone(), "SEQUENCE", "USAGE"),
            (
                sql::ACQUIRE.signature(&names.schema),
                "FUNCTION",
                "EXECUTE",
            ),
            (
                sql::RELEASE.signature(&names.schema),
                "FUNCTION",
                "EXECUTE",
            ),
        ];
        for (object, kind, privilege) in needs {
            let has = match kind {
                "TABLE" => "has_table_privilege($1, $2)",
                "SEQUENCE" => "has_sequence_privilege($1, $2)",
                _ => "has_function_privilege($1, $2)",
            };
            let ok: bool = tx
                .query_one(&format!("SELECT {has}"), &[&object, &privilege])
                .await?
                .get(0);
            if !ok {
                return Ok(Err(missing_privilege(&tx, privilege, kind, object).await?));
            }
        }
        let rows = tx
            .query(
                &format!(
                    "SELECT lock_order, name, registered_by || ' at ' || registered_at::text \
                     FROM {} WHERE namespace = $1",
                    names.table
                ),
                &[&ns],
            )
            .await?;
        let recorded: Vec<(u32, String, String)> = rows
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u32, r.get(1), r.get(2)))
            .collect();
        if let Some((e, r)) = find_conflict(h, &recorded) {
            let (e, r) = (&h.entries[e], &recorded[r]);
            return Ok(Err(Error::HierarchyConflict {
                namespace: ns,
                table: names.table.clone(),
                local: (e.name.clone(), e.order),
                recorded: (r.1.clone(), r.0),
                recorded_by: r.2.clone(),
            }));
        }
        let insert = format!(
            "INSERT INTO {} (namespace, lock_order, name, description, registered_by)
             SELECT $1, $2, $3, $4, format('%s (%s, backend %s)', current_setting('application_name'),
                    coalesce(host(inet_client_addr()), 'local socket'), pg_backend_pid())
             ON CONFLICT DO NOTHING",
            names.table
        );
        let unrecorded = h
            .entries
            .iter()
            .any(|e| !recorded.iter().any(|r| r.0 == e.order));
        if unrecorded {
            let ok: bool = tx
                .query_one(
                    "SELECT has_table_privilege($1, 'INSERT')",
                    &[&names.table],
                )
                .await?
                .get(0);
            if !ok {
                let table = names.table.clone();
                return Ok(Err(
                    missing_privilege(&tx, "INSERT", "TABLE", table).await?
                ));
            }
        }
        for e in &h.entries {
            if !recorded.iter().any(|r| r.0 == e.order) {
                tx.execute(
                    &insert,
                    &[&ns, &i64::from(e.order), &e.name, &e.description],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Ok(sequence))
    }
    .await;
    drop(client);
    let _ = conn.await;
    match result {
        Ok(inner) => inner,
        Err(e) => Err(Error::Database(e)),
    }
}

async fn missing_privilege(
    tx: &tokio_postgres::Transaction<'_>,
    privilege: &str,
    kind: &str,
    object: String,
) -> Result<Error, tokio_postgres::Error> {
    let role: String = tx.query_one("SELECT current_user::text", &[]).await?.get(0);
    Ok(Error::MissingPrivilege {
        grant: format!(
            "GRANT {privilege} ON {kind} {object} TO {}",
            sql::ident(&role)
        ),
        role,
    })
}

/// What differs between an installed function (a row of [`sql::INSTALLED_FUNCTION`]) and the
/// crate's own `f`, if anything.
fn foreign_function(f: &sql::Function, row: &tokio_postgres::Row) -> Option<String> {
    let src: String = row.get(0);
    let config: Option<Vec<String>> = row.get(1);
    let (secdef, lang, volatile, strict): (bool, String, String, bool) =
        (row.get(2), row.get(3), row.get(4), row.get(5));
    let (shown, owner): (String, String) = (row.get(6), row.get(7));
    let config = config.unwrap_or_default();
    let mut found = Vec::new();
    if src != f.body {
        found.push(format!(
            "another body ({} bytes, not the crate's {})",
            src.len(),
            f.body.len()
        ));
    }
    if config != [sql::FUNCTION_CONFIG] {
        found.push(format!(
            "SET options {config:?} instead of [{:?}]",
            sql::FUNCTION_CONFIG
        ));
    }
    if secdef {
        found.push("SECURITY DEFINER".to_owned());
    }
    if lang != "plpgsql" || volatile != "v" || strict {
        found.push(format!(
            "LANGUAGE {lang}, volatility {volatile}, strict {strict} instead of plpgsql, \
             VOLATILE, not strict"
        ));
    }
    if shown != f.shown {
        found.push(format!("the signature {shown} instead of {}", f.shown));
    }
    (!found.is_empty()).then(|| format!("{} (owner {owner})", found.join("; ")))
}

/// The first disagreement between this hierarchy and the recorded one (order, name, who): the
/// positions of the local entry and of the record.
fn find_conflict(h: &Hierarchy, recorded: &[(u32, String, String)]) -> Option<(usize, usize)> {
    for (i, e) in h.entries.iter().enumerate() {
        for (j, (order, name, _)) in recorded.iter().enumerate() {
            if (*order == e.order) != (*name == e.name) {
                return Some((i, j));
            }
        }
    }
    None
}

pub(crate) struct Inner {
    pub(crate) hierarchy: Hierarchy,
    config: Config,
    pub(crate) names: Names,
    pub(crate) namespace: i32,
    /// The OID of the fencing sequence, passed to the acquire function.
    pub(crate) sequence: u32,
    pub(crate) default_timeout: Option<Duration>,
    max_idle: usize,
    pub(crate) max_sessions: usize,
    /// One permit per session this manager may still open; each session keeps its own.
    sessions: Arc<Semaphore>,
    /// Notified when a session goes back to the pool, for acquires waiting for one.
    idle_ready: Notify,
    // Boxed: sessions move between the pool and guards without being copied or reboxed.
    #[allow(clippy::vec_box)]
    idle: Mutex<Vec<Box<Session>>>,
    pub(crate) default_label: String,
}

/// The same ordered, checked lock sets as [`lockorder::LockManager`], across processes, on
/// PostgreSQL advisory locks.
///
/// Cheap to clone (an `Arc`): clones share the hierarchy and the pool of sessions. See the
/// [crate docs](crate) for the key mapping, and for what dropping guards and futures does.
#[derive(Clone)]
pub struct PgLockManager {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for PgLockManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLockManager")
            .field("namespace", &self.inner.namespace)
            .field("schema", &self.inner.names.schema)
            .field("locks", &self.inner.hierarchy)
            .field("default_timeout", &self.inner.default_timeout)
            .field(
                "idle_sessions",
                &self.inner.idle.lock().map(|v| v.len()).unwrap_or(0),
            )
            .finish()
    }
}

impl PgLockManager {
    /// Starts configuring a manager for the hierarchy of `locks` (a core builder: names, orders,
    /// descriptions, and its default timeout if it has one). The hierarchy is frozen here.
    pub fn builder<T: MaybeTimer>(locks: lockorder::Builder<T>) -> PgBuilder {
        let core: LockManager<T> = locks.build();
        PgBuilder {
            hierarchy: Hierarchy::new(&core),
            default_timeout: core.default_timeout(),
            namespace: DEFAULT_NAMESPACE,
            schema: "public".to_owned(),
            max_idle: DEFAULT_MAX_IDLE,
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }

    /// `PgLockManager::builder(locks).connect(config)`, with `config` in either of
    /// tokio-postgres's forms (`host=/run/postgresql user=app` or `postgresql://...`).
    ///
    /// # Errors
    ///
    /// As [`PgBuilder::connect`]; a malformed `config` is [`Error::Connect`].
    pub async fn connect<T: MaybeTimer>(
        config: &str,
        locks: lockorder::Builder<T>,
    ) -> Result<Self, Error> {
        let config: Config = config.parse().map_err(Error::Connect)?;
        Self::builder(locks).connect(config).await
    }

    /// The namespace: the first advisory-lock key of every lock.
    pub fn namespace(&self) -> i32 {
        self.inner.namespace
    }

    /// The advisory-lock key of the lock `key`: `(namespace, order as i32)`, for
    /// `pg_advisory_lock(int4, int4)`.
    ///
    /// # Errors
    ///
    /// [`lockorder::Error::UnknownLock`] (as [`Error::Lock`]) for an unknown key.
    pub fn advisory_key<K: Key>(&self, key: K) -> Result<(i32, i32), Error> {
        let pos = self.inner.hierarchy.position(key)?;
        Ok((
            self.inner.namespace,
            hierarchy::key2(self.inner.hierarchy.entries[pos].order),
        ))
    }

    /// The id of the lock named `name`: a key for this manager and its guards. Ids are per
    /// manager, as in the core crate: an id of another manager (a core [`LockManager`] over the
    /// same locks included) is [`lockorder::Error::UnknownLock`], never another lock.
    ///
    /// # Errors
    ///
    /// [`lockorder::Error::UnknownLock`] (as [`Error::Lock`]).
    pub fn id(&self, name: &str) -> Result<LockId, Error> {
        self.inner.hierarchy.id(name)
    }

    /// Every lock: name, order, description, ascending by order.
    pub fn locks(&self) -> impl ExactSizeIterator<Item = (&str, u32, &str)> {
        self.inner
            .hierarchy
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.order, e.description.as_str()))
    }

    /// The timeout of acquires that set none.
    pub fn default_timeout(&self) -> Option<Duration> {
        self.inner.default_timeout
    }

    /// Acquires the locks named by `keys`, exclusive, in ascending order, on one session, as one
    /// guard. Keys may come in any order and repeat.
    ///
    /// Uncontended, this is one round trip. At a busy lock the server waits for it (and the
    /// locks above it, in order), for at most the timeout, counted from that first busy lock.
    /// See [`Acquire`] for the options and for cancel safety.
    pub fn acquire<I>(&self, keys: I) -> Acquire<'static>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.acquire_mode(keys, Mode::Exclusive, false)
    }

    /// Like [`acquire`](Self::acquire), every lock shared.
    pub fn acquire_shared<I>(&self, keys: I) -> Acquire<'static>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.acquire_mode(keys, Mode::Shared, false)
    }

    /// Tries once, all or nothing: a busy lock is [`lockorder::Error::WouldBlock`] naming it,
    /// with nothing kept. One round trip. Add shared locks with [`Acquire::shared`].
    pub fn try_acquire<I>(&self, keys: I) -> Acquire<'static>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        self.acquire_mode(keys, Mode::Exclusive, true)
    }

    fn acquire_mode<I>(&self, keys: I, mode: Mode, try_only: bool) -> Acquire<'static>
    where
        I: IntoIterator,
        I::Item: Key,
    {
        let mut request = Request::new();
        let request =
            hierarchy::add_keys(&self.inner.hierarchy, &mut request, keys, mode).map(|()| request);
        Acquire::new(
            Target::Root(self.clone()),
            request,
            Options {
                try_only,
                ..Options::default()
            },
        )
    }

    /// An idle session that still works, if the pool has one (broken ones are dropped, which
    /// frees their places).
    fn pop_idle(&self) -> Option<Box<Session>> {
        loop {
            let idle = self
                .inner
                .idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()?;
            if idle.broken().is_none() {
                return Some(idle);
            }
        }
    }

    /// A session for an outermost acquire: an idle one if there is one that still works
    /// (unless `fresh`), otherwise a new one once fewer than `max_sessions` exist. Waits for
    /// either for at most `limit`. Returns the session, whether it was reused, and how long it
    /// waited for a place (connecting is not waiting).
    ///
    /// # Errors
    ///
    /// [`Error::NoSession`] (without locks: the caller names them) when `limit` passed first;
    /// [`Error::Connect`] or [`Error::Database`] from connecting.
    pub(crate) async fn checkout(
        &self,
        limit: Option<Duration>,
        fresh: bool,
    ) -> Result<(Box<Session>, bool, Duration), Error> {
        let start = Instant::now();
        let permit = loop {
            if !fresh {
                if let Some(s) = self.pop_idle() {
                    return Ok((s, true, start.elapsed()));
                }
            }
            let sessions = self.inner.sessions.clone();
            if let Ok(p) = sessions.clone().try_acquire_owned() {
                break p;
            }
            // Registered before the pool is looked at again: a session given back after that
            // look wakes this wait.
            let notified = self.inner.idle_ready.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if !fresh {
                if let Some(s) = self.pop_idle() {
                    return Ok((s, true, start.elapsed()));
                }
            }
            let wait = async {
                tokio::select! {
                    p = sessions.acquire_owned() => p.ok(),
                    () = &mut notified => None,
                }
            };
            let got = match limit {
                None => wait.await,
                Some(limit) => {
                    let left = limit.saturating_sub(start.elapsed());
                    match tokio::time::timeout(left, wait).await {
                        Ok(got) => got,
                        Err(_) => {
                            return Err(Error::NoSession {
                                locks: Vec::new(),
                                max_sessions: self.inner.max_sessions,
                                waited: start.elapsed(),
                            })
                        }
                    }
                }
            };
            if let Some(p) = got {
                break p;
            }
        };
        let waited = start.elapsed();
        let mut session = self.connect_session().await?;
        session.place = Some(permit);
        Ok((session, false, waited))
    }

    async fn connect_session(&self) -> Result<Box<Session>, Error> {
        Ok(Box::new(
            Session::connect(&self.inner.config, &self.inner.names).await?,
        ))
    }

    /// Gives back a session that holds nothing; one that holds something, or is broken, is
    /// closed instead (which frees its place).
    pub(crate) fn checkin(&self, session: Box<Session>) {
        if session.held.is_empty() && session.broken().is_none() {
            let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < self.inner.max_idle {
                idle.push(session);
                drop(idle);
                self.inner.idle_ready.notify_one();
            }
        }
    }

    /// Every lock of the hierarchy as the server sees it now, across all processes: mode,
    /// holders (backend pid, label, client address, since when) and how many wait.
    ///
    /// It needs a session of this manager like an acquire does: with all
    /// [`max_sessions`](PgBuilder::max_sessions) held by guards it waits until one comes back.
    ///
    /// One query on `pg_locks` and `pg_stat_activity`. Holders that are not `lockorder`
    /// sessions (someone calling `pg_advisory_lock(namespace, order)` by hand) are shown with
    /// their `application_name` and no time.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] or [`Error::Database`].
    pub async fn status(&self) -> Result<PgStatus, Error> {
        let (session, _, _) = self.checkout(None, false).await?;
        let rows = session
            .client
            .query(sql::STATUS, &[&i64::from(self.inner.namespace as u32)])
            .await
            .map_err(Error::Database)?;
        self.checkin(session);
        let h = &self.inner.hierarchy;
        let mut locks: Vec<PgLockStatus> = h
            .entries
            .iter()
            .map(|e| PgLockStatus {
                name: e.name.clone(),
                order: e.order,
                description: e.description.clone(),
                mode: None,
                holders: Vec::new(),
                waiting: 0,
            })
            .collect();
        for row in &rows {
            let order = row.get::<_, i64>(0) as u32;
            let Some(pos) = h.position_of_order(order) else {
                continue;
            };
            let lock = &mut locks[pos];
            let shared: bool = row.get(1);
            if !row.get::<_, bool>(2) {
                lock.waiting += 1;
                continue;
            }
            lock.mode = Some(if shared {
                Mode::Shared
            } else {
                Mode::Exclusive
            });
            // A holder without a backend (a prepared transaction's) has no session to show.
            let Some(pid) = row.get::<_, Option<i32>>(3) else {
                continue;
            };
            lock.holders.push(Holder::new(
                pid,
                row.get::<_, Option<String>>(4).unwrap_or_default(),
                row.get(5),
                row.get(6),
                order,
                row.get(7),
            ));
        }
        for l in &mut locks {
            l.holders.sort_by_key(|h| h.since);
        }
        Ok(PgStatus { locks })
    }

    /// The holdings older than `threshold` (strictly), longest first: one per holder of each
    /// lock. Like the core's `long_held`, across processes.
    ///
    /// # Errors
    ///
    /// As [`status`](Self::status).
    pub async fn long_held(&self, threshold: Duration) -> Result<Vec<PgLongHold>, Error> {
        let status = self.status().await?;
        let mut out: Vec<PgLongHold> = status
            .iter()
            .flat_map(|l| {
                l.holders.iter().filter_map(move |h| {
                    let held_for = h.held_for?;
                    (held_for > threshold).then(|| PgLongHold {
                        name: l.name.clone(),
                        order: l.order,
                        holder: h.clone(),
                        held_for,
                    })
                })
            })
            .collect();
        out.sort_by_key(|l| std::cmp::Reverse(l.held_for));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_name_both_sides() {
        let mut b = LockManager::builder();
        b.register("db", 10).unwrap().register("cache", 20).unwrap();
        let h = Hierarchy::new(&b.build());
        let same = [
            (10, "db".to_owned(), String::new()),
            (30, "x".into(), String::new()),
        ];
        assert_eq!(find_conflict(&h, &same), None);
        let renamed = [(10, "database".to_owned(), String::new())];
        assert_eq!(find_conflict(&h, &renamed), Some((0, 0)));
        let moved = [
            (10, "db".to_owned(), String::new()),
            (25, "cache".into(), String::new()),
        ];
        assert_eq!(find_conflict(&h, &moved), Some((1, 1)));
    }
}
