//! `lockorder`'s ordered, checked lock sets across processes, on PostgreSQL advisory locks.
//!
//! When a service runs as several processes, in-process locks stop protecting what they name.
//! This crate keeps the core crate's promise there: one hierarchy of named, ordered locks,
//! defined with [`lockorder::Builder`]; a set asked for in any order is taken in ascending order
//! on one database session, so no two processes can wait on each other in a cycle; nesting goes
//! through the guard and is order-checked; timeouts name the lock; cancellation never leaves a
//! lock held by a live session.
//!
//! ```no_run
//! use std::time::Duration;
//! use lockorder_postgres::{Error, PgLockManager};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut b = lockorder::LockManager::builder();
//! b.register("config", 10)?.register("db", 20)?.register("cache", 30)?;
//! let locks = PgLockManager::connect("host=/run/postgresql user=app dbname=app", b).await?;
//!
//! // Any order in, ascending order taken: one round trip when nothing is busy.
//! let mut g = locks
//!     .acquire(["cache"])
//!     .shared(["config"])
//!     .owner("worker-3")
//!     .timeout(Duration::from_secs(5))
//!     .await?;
//! // Nesting through the guard, checked: "db" (20) is below "cache" (30).
//! match g.acquire(["db"]).await {
//!     Err(Error::Lock(lockorder::Error::OrderViolation { requested, held })) => {
//!         assert_eq!((requested.name(), held.name()), ("db", "cache"));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! g.release().await?;
//! # Ok(()) }
//! ```
//!
//! # The key mapping
//!
//! Lock `order` of a manager in namespace `ns` is the advisory lock `pg_advisory_lock(ns,
//! order)` in PostgreSQL's two-`int4` form, the order's 32 bits read as an `int4` (so orders
//! from 2³¹ up are negative keys). In `pg_locks` it shows as `locktype = 'advisory'`, `classid
//! = ns` and `objid = order` (both as unsigned `oid`), `objsubid = 2`. The namespace defaults to
//! [`DEFAULT_NAMESPACE`] (`0x6C6F636B`, "lock" in ASCII) and is set with
//! [`PgBuilder::namespace`]. This mapping is stable: tools and hand-written SQL may rely on it.
//! Advisory locks belong to a database: processes that share locks connect to the same one.
//!
//! # One hierarchy, everywhere
//!
//! At start-up ([`PgBuilder::connect`]) the manager records its locks in the table
//! `lockorder_hierarchy` (namespace, order, name, description, who recorded it and when) and
//! refuses to start with [`Error::HierarchyConflict`], naming both sides, when another process
//! recorded the same order under another name or the same name at another order. Locks only
//! one side has are fine. To rename or renumber a lock, stop the processes that use the old
//! hierarchy and delete its rows (`DELETE FROM lockorder_hierarchy WHERE namespace = ...`).
//! Start-up also installs two PL/pgSQL functions, `lockorder_acquire_v2` and
//! `lockorder_release_v2`, and the sequence `lockorder_fencing_token` (see
//! [`PgGuard::fencing_token`]), when they are missing.
//!
//! # Privileges
//!
//! Tested with two roles (`tests/privileges.rs`):
//!
//! * **The first role to start** in a schema creates what is missing there: the table
//!   `lockorder_hierarchy`, the sequence `lockorder_fencing_token` and the two functions. It
//!   needs `USAGE` and `CREATE` on the schema, and owns the objects.
//! * **Every other role** needs, and start-up checks ([`Error::MissingPrivilege`] gives the
//!   `GRANT` to run): `USAGE` on the schema (from the schema's owner); `SELECT` on the table,
//!   and `INSERT` on it to record locks not recorded yet; `USAGE` on the sequence (from the
//!   objects' owner); `EXECUTE` on the functions and `CONNECT` on the database, which
//!   PostgreSQL gives `PUBLIC` by default. No `CREATE` once the objects exist.
//!
//!   ```sql
//!   GRANT USAGE ON SCHEMA app TO worker;                         -- as the schema's owner
//!   GRANT SELECT, INSERT ON app.lockorder_hierarchy TO worker;   -- as the installing role
//!   GRANT USAGE ON SEQUENCE app.lockorder_fencing_token TO worker;
//!   ```
//! * [`PgLockManager::status`] reads `pg_locks` and `pg_stat_activity`, which every role may
//!   read; other roles' sessions show their pid and label (`application_name`) but not their
//!   client address or port unless the reader has `pg_read_all_stats`.
//!
//! Start-up refuses functions and a sequence that are not the crate's own
//! ([`Error::ForeignObject`]), but a role that owns them, or may write to the table, can still
//! change things later: whoever may `UPDATE`/`DELETE` rows of `lockorder_hierarchy` can make
//! processes with conflicting hierarchies start (two that give one name different orders take
//! different advisory locks for it, so both can hold it at once; two that order two names
//! oppositely can deadlock, which PostgreSQL breaks by cancelling one wait); the owner of the
//! functions can replace them,
//! and the owner of the sequence can reset it (`setval`), which defeats fencing. Give those
//! rights only to the installing role, and only `SELECT, INSERT` and `USAGE` to the others.
//!
//! # One round trip
//!
//! An uncontended acquire is one prepared statement. For sets of 1 to 4 locks it is plain SQL:
//! `pg_try_advisory_lock(_shared)` on each lock in ascending order (nested `CASE`s, which
//! PostgreSQL evaluates in order and only as far as needed), then the fencing token and the
//! `application_name` update; at a busy lock it releases what it took and names the lock, which
//! answers a `try_acquire` or a zero timeout. Otherwise, and for larger sets, the statement calls
//! `lockorder_acquire_v2`, which walks the set the same way and, at the first busy lock, waits on
//! the server (`pg_advisory_lock`) under `lock_timeout` set to the time left, then goes on with
//! the rest in order; on a timeout it releases what it took, newest first, and answers which lock
//! was busy. (A PL/pgSQL call costs a fixed price per call, measured at 10-30 µs more than a
//! built-in call on a loaded 2-core machine, which the plain-SQL path avoids when nothing
//! waits.) A contended acquire of up to 4 locks thus takes one more round trip before it waits.
//! A release is one statement too.
//!
//! # Releasing, dropping, cancelling
//!
//! * [`PgGuard::release`]`.await` unlocks and gives the session back to the pool clean, or
//!   reports [`Error::Lost`] when the session ended (releasing the locks) before.
//! * A guard **dropped** without `release` queues its unlock on the session at once
//!   (`pg_advisory_unlock_all()` for an outermost guard, which then returns its session to the
//!   pool; the unlock of its own locks for a nested one). tokio-postgres sends a statement when
//!   its future is first polled and runs a session's statements in that order, so the unlock
//!   comes before anything later on that session. The session's connection task writes it to the
//!   socket: at once on a multi-thread runtime, and on a current-thread runtime when the runtime
//!   next runs (a program that drops a guard and then blocks its only runtime thread keeps the
//!   locks until it returns to the runtime, or drops it, which closes the connections).
//! * An [`Acquire`](futures::Acquire) **dropped** while its statement runs (perhaps waiting on
//!   the server) leaves the session in an unknown state, so the session is closed: a cancel
//!   request stops the wait, and PostgreSQL releases every session lock of a closed
//!   connection. For a nested acquire that session is the parent's, whose locks go with it
//!   (the parent then reports them lost). Before its statement is sent, dropping it does
//!   nothing.
//! * A session that can no longer be trusted (a statement failed, the server ended it) is
//!   closed rather than pooled.
//!
//! Sessions get `statement_timeout`, `lock_timeout`, `idle_session_timeout` and
//! `idle_in_transaction_session_timeout` 0 (a server's defaults must not end a holder behind its
//! back) and `client_connection_check_interval` 250 ms (a backend waiting for a client that
//! vanished notices). These settings need PostgreSQL 14 or later.
//!
//! # Faults
//!
//! * A holder process that dies (even `SIGKILL`): the kernel closes its sockets, its backends
//!   end, and PostgreSQL releases their locks; the others proceed.
//! * A backend ended by the server (`pg_terminate_backend`, a restart): its locks are gone; the
//!   guard tells with [`PgGuard::lost`] (a future that resolves at once), [`PgGuard::is_lost`]
//!   (no round trip, once the client saw the connection end) and [`PgGuard::check`] (asks the
//!   server). New acquires use new sessions.
//! * A holder paused while its locks moved on: see [`PgGuard::fencing_token`] and
//!   [`PgGuard::transaction`], and the README's "Fencing" section.
//! * A client host that dies, or a cut network, over TCP: sessions start with keepalive probes
//!   after 10 s idle, every 5 s, 4 of them, and `tcp_user_timeout` 20 s, on the server's side
//!   (so the backend ends and frees the locks) and the client's (so guards report the loss):
//!   about 30 s, against about 2 h 11 min with the defaults. Options of the caller's own
//!   (`-c tcp_keepalives_idle=...` in the config's options, the driver's keepalive settings)
//!   win.
//! * A server restarting: acquires fail with [`Error::Connect`] meanwhile, then succeed.
//!
//! Errors the server sent show its message and SQLSTATE in their `Display`.
//!
//! # Status across processes
//!
//! [`PgLockManager::status`] reads `pg_locks` and `pg_stat_activity`: for each lock of the
//! hierarchy, its holders (backend pid, label, client address, since when) and how many
//! sessions wait; [`PgLockManager::long_held`] lists holdings older than a threshold. Labels and
//! acquisition times travel in each session's `application_name` (PostgreSQL records no grant
//! time for advisory locks, and a row per acquire would cost more than the acquire): see
//! [`Holder`].
//!
//! # Reentrancy goes through the guard
//!
//! As in the core crate: [`PgGuard::acquire`] skips locks the guard covers. Asking the
//! manager again for a lock this task holds through a guard uses *another session*, which
//! waits for the first: a timeout turns that into [`lockorder::Error::Timeout`], and without
//! one it waits forever. Pass the guard down instead.
//!
//! # When not to use it
//!
//! * Within one process, use [`lockorder::LockManager`]: no round trips.
//! * To protect rows, use the database's own row locks and transactions.
//! * Through a pooler in transaction mode (PgBouncer's `pool_mode = transaction`): session
//!   locks need the same server session for the guard's whole life.
//!
//! The manager needs a tokio runtime with I/O and time enabled: each session's connection is
//! driven by a spawned task. Only `NoTls` connections are made (unix sockets, loopback, or a
//! network you trust).
#![forbid(unsafe_code)]

mod acquire;
mod cluster;
mod error;
mod guard;
mod hierarchy;
mod manager;
mod session;
mod sql;
mod status;

pub use cluster::TempCluster;
pub use error::Error;
pub use guard::PgGuard;
/// The core's key trait, re-exported: the same names and [`lockorder::LockId`]s name locks in
/// both crates. A `LockId` for a [`PgLockManager`] comes from [`PgLockManager::id`] (an id of
/// another manager, such as a core one, is [`lockorder::Error::UnknownLock`]).
pub use lockorder::Key;
/// The core's modes, re-exported: [`Shared`](Mode::Shared) is `pg_advisory_lock_shared`,
/// [`Exclusive`](Mode::Exclusive) is `pg_advisory_lock`. A lock asked for in both modes by one
/// request is taken exclusive.
pub use lockorder::Mode;
pub use manager::{
    PgBuilder, PgLockManager, DEFAULT_MAX_IDLE, DEFAULT_MAX_SESSIONS, DEFAULT_NAMESPACE,
};
pub use status::{Holder, PgLockStatus, PgLongHold, PgStatus};
/// The driver's connection configuration, re-exported.
pub use tokio_postgres::Config;

/// The named futures of this crate.
pub mod futures {
    pub use crate::acquire::Acquire;
}
