//! The error type of the crate.

use std::fmt;

use lockorder::LockRef;

/// Everything that can go wrong in `lockorder-postgres`.
///
/// Ordering, upgrades, timeouts and unknown keys are the core crate's [`lockorder::Error`],
/// wrapped in [`Error::Lock`]; the rest is about the database. A failed acquire never keeps a
/// lock: either it released what it took, or the session it ran on was closed (which releases
/// everything).
///
/// This crate no longer has an `UpgradeRefused` variant of its own: a refused upgrade is the
/// core's [`lockorder::Error::UpgradeRefused`], as `Error::Lock(lockorder::Error::UpgradeRefused
/// { lock })`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An error of the core crate's vocabulary: [`Timeout`](lockorder::Error::Timeout) (naming
    /// the busy lock), [`WouldBlock`](lockorder::Error::WouldBlock) (from `try_acquire`),
    /// [`OrderViolation`](lockorder::Error::OrderViolation) (a nested request below a held lock),
    /// [`UpgradeRefused`](lockorder::Error::UpgradeRefused) (a nested exclusive request for a
    /// lock the guard holds shared: upgrades deadlock, so take the lock exclusive from the
    /// start), [`UnknownLock`](lockorder::Error::UnknownLock), or a registration error.
    Lock(lockorder::Error),
    /// Another process recorded a different hierarchy in the same namespace: the same order under
    /// another name, or the same name at another order. Processes that disagree on the order can
    /// deadlock, so this manager refused to start.
    HierarchyConflict {
        /// The namespace (the first advisory-lock key).
        namespace: i32,
        /// The table that records the hierarchy.
        table: String,
        /// This process's lock: name and order.
        local: (String, u32),
        /// The conflicting record: name and order.
        recorded: (String, u32),
        /// Who recorded it (`application_name`, client address and backend pid at the time).
        recorded_by: String,
    },
    /// An object start-up found installed under the crate's name is not the crate's own: a
    /// function with another body, other `SET` options or another definition, or a sequence
    /// defined otherwise. Anyone who could create it could make locks or tokens mean nothing, so
    /// this manager refused to start.
    ForeignObject {
        /// The object, schema-qualified, with a function's argument types.
        object: String,
        /// What differs from the crate's own definition, and who owns it.
        found: String,
    },
    /// The role this manager connects as lacks a privilege every acquire needs (see the crate
    /// docs, "Privileges"); checked at start-up, so nothing started.
    MissingPrivilege {
        /// The role (`current_user`).
        role: String,
        /// The statement that grants what is missing, for the objects' owner to run.
        grant: String,
    },
    /// Every session of the manager was in use ([`PgBuilder::max_sessions`](crate::PgBuilder::max_sessions))
    /// for the whole timeout of an outermost acquire. Nothing is held.
    NoSession {
        /// The locks the acquire asked for.
        locks: Vec<LockRef>,
        /// The manager's `max_sessions`.
        max_sessions: usize,
        /// How long the acquire waited for a session.
        waited: std::time::Duration,
    },
    /// Connecting to the server failed (it may be down or restarting). Nothing is held.
    Connect(tokio_postgres::Error),
    /// A statement failed. When it was part of an acquire or a release, the session it ran on
    /// was closed, so nothing stays held by it.
    Database(tokio_postgres::Error),
    /// The session that held these locks is gone or can no longer be trusted: the server ended
    /// it (`pg_terminate_backend`, a restart), the connection broke, or a statement on it was
    /// cancelled mid-flight. PostgreSQL released the locks when the session ended; others may
    /// hold them now.
    Lost {
        /// The locks the guard (with its ancestors) believed it held.
        locks: Vec<LockRef>,
        /// What happened, as far as the client knows.
        reason: String,
    },
}

impl Error {
    /// The core crate's error, when this is one ([`Error::Lock`]).
    pub fn as_lock_error(&self) -> Option<&lockorder::Error> {
        match self {
            Error::Lock(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the error is [`lockorder::Error::Timeout`] or [`Error::NoSession`]: the
    /// timeout ran out, waiting for a lock or for a session.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Error::Lock(lockorder::Error::Timeout { .. }) | Error::NoSession { .. }
        )
    }
}

impl From<lockorder::Error> for Error {
    fn from(e: lockorder::Error) -> Self {
        Error::Lock(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Lock(e) => fmt::Display::fmt(e, f),
            Error::HierarchyConflict {
                namespace,
                table,
                local,
                recorded,
                recorded_by,
            } => write!(
                f,
                "lock hierarchy conflict in namespace {namespace}: this process has `{}` at \
                 order {}, but {table} records `{}` at order {} (recorded by {recorded_by}); \
                 processes that disagree on the order can deadlock, so this manager did not \
                 start. Align the hierarchies, or delete the stale row once no process uses it",
                local.0, local.1, recorded.0, recorded.1
            ),
            Error::ForeignObject { object, found } => write!(
                f,
                "{object} is not lockorder's own: {found}; another role may have created it to \
                 subvert the locks, so this manager did not start. Have its owner drop it (the \
                 next start installs the crate's own), or use another schema"
            ),
            Error::MissingPrivilege { role, grant } => write!(
                f,
                "role {role} lacks a privilege lockorder needs, so this manager did not start; \
                 have the objects' owner run: {grant}"
            ),
            Error::NoSession {
                locks,
                max_sessions,
                waited,
            } => {
                write!(f, "no session free for ")?;
                write_locks(f, locks)?;
                write!(
                    f,
                    " within {waited:?}: all {max_sessions} sessions of this manager \
                     (max_sessions) are in use; nothing is held. Release guards sooner, nest \
                     through a guard instead of asking the manager again, or raise max_sessions"
                )
            }
            Error::Connect(e) => write!(
                f,
                "cannot connect to the lock server: {}; nothing is held (is the server up?)",
                describe(e)
            ),
            Error::Database(e) => write!(
                f,
                "a lock statement failed: {}; its session was closed, so it holds nothing",
                describe(e)
            ),
            Error::Lost { locks, reason } => {
                write!(f, "locks lost (")?;
                write_locks(f, locks)?;
                write!(
                    f,
                    "): {reason}; the server released them, so others may hold them now"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Lock(e) => Some(e),
            Error::Connect(e) | Error::Database(e) => Some(e),
            _ => None,
        }
    }
}

fn write_locks(f: &mut fmt::Formatter<'_>, locks: &[LockRef]) -> fmt::Result {
    for (i, l) in locks.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{l}")?;
    }
    Ok(())
}

/// A driver error with what the server said: severity, message, SQLSTATE code, detail and hint
/// for an error the server sent; otherwise the driver's message and its causes. tokio-postgres's
/// own `Display` shows only "db error" for the former.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    if let Some(db) = e.as_db_error() {
        let mut s = format!(
            "the server said {}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            s.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            s.push_str(&format!("; hint: {hint}"));
        }
        return s;
    }
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(&format!(": {c}"));
        cause = c.source();
    }
    s
}
