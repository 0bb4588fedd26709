//! The SQL the crate runs: the objects installed at start-up and the statements of a session.
//!
//! The functions carry a version suffix (`_v1`). Their bodies never change under a name: a
//! release that needs different bodies installs `_v2` beside them, so processes of different
//! versions can run against one database while they agree on the hierarchy.

use std::fmt::Write as _;

/// The key, in the one-`bigint` advisory key space, that serializes start-up (installation and
/// the hierarchy check) across processes: the ASCII bytes of "lockordr". The locks of a hierarchy
/// use the two-`int4` key space, which PostgreSQL keeps apart from this one, so it can never be a
/// lock of any namespace.
pub(crate) const INSTALL_KEY: i64 = 0x6C6F_636B_6F72_6472;

/// The names of the installed objects, qualified with their schema.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) schema: String,
    pub(crate) table: String,
    pub(crate) acquire: String,
    pub(crate) release: String,
}

/// Quotes an SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Names {
    pub(crate) fn new(schema: &str) -> Self {
        let s = ident(schema);
        Self {
            schema: schema.to_owned(),
            table: format!("{s}.lockorder_hierarchy"),
            acquire: format!("{s}.lockorder_acquire_v1"),
            release: format!("{s}.lockorder_release_v1"),
        }
    }

    /// The table that records every process's hierarchy.
    pub(crate) fn create_table(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {t} (
                namespace int4 NOT NULL,
                lock_order int8 NOT NULL,
                name text NOT NULL,
                description text NOT NULL DEFAULT '',
                registered_by text NOT NULL DEFAULT '',
                registered_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (namespace, lock_order),
                UNIQUE (namespace, name)
            )",
            t = self.table
        )
    }

    /// The argument types of the acquire function, as `to_regprocedure` wants them.
    pub(crate) fn acquire_signature(&self) -> String {
        format!(
            "{}(int4,int4[],bool[],bool,float8,text,int8,text)",
            self.acquire
        )
    }

    /// The argument types of the release function.
    pub(crate) fn release_signature(&self) -> String {
        format!("{}(int4,int4[],bool[],text)", self.release)
    }

    /// Takes `keys` (in the order given: ascending lock order) on the calling session.
    ///
    /// * `try_only`: all or nothing; at the first busy lock, release what this call took and
    ///   return `-i`, `i` being the busy lock's 1-based index.
    /// * `timeout_ms`: `NULL` waits as long as it takes; otherwise the time allowed from the first
    ///   busy lock on (0: try once). When it passes, release what this call took, return `-i`.
    /// * Otherwise return the acquisition time (milliseconds since the Unix epoch, server clock)
    ///   and set `application_name` to `app_head || to_hex(time - base_ms) || ' ' || label`
    ///   (left alone when `app_head` is `NULL`).
    ///
    /// Session-level advisory locks are not undone by an aborted (sub)transaction, so the
    /// exception block around a bounded wait only ends that wait; what was taken stays taken
    /// until released here.
    pub(crate) fn create_acquire(&self) -> String {
        let release = &self.release;
        format!(
            r#"CREATE FUNCTION {name}(
    ns int4, keys int4[], shared bool[], try_only bool, timeout_ms float8,
    app_head text, base_ms int8, label text)
RETURNS int8 LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    n int4 := coalesce(array_length(keys, 1), 0);
    i int4 := 1;
    ok bool;
    deadline timestamptz;
    remaining float8;
    t int8;
BEGIN
    -- Fast path: one try per lock, in order.
    WHILE i <= n LOOP
        IF shared[i] THEN
            ok := pg_try_advisory_lock_shared(ns, keys[i]);
        ELSE
            ok := pg_try_advisory_lock(ns, keys[i]);
        END IF;
        EXIT WHEN NOT ok;
        i := i + 1;
    END LOOP;
    IF i <= n THEN
        -- Lock i is busy: the first contention, from which a timeout counts.
        IF try_only OR timeout_ms <= 0 THEN
            PERFORM {release}(ns, keys[1:i-1], shared[1:i-1], NULL);
            RETURN -i;
        END IF;
        IF timeout_ms IS NOT NULL THEN
            deadline := clock_timestamp() + timeout_ms * interval '1 millisecond';
        END IF;
        WHILE i <= n LOOP
            IF shared[i] THEN
                ok := pg_try_advisory_lock_shared(ns, keys[i]);
            ELSE
                ok := pg_try_advisory_lock(ns, keys[i]);
            END IF;
            IF NOT ok THEN
                IF deadline IS NULL THEN
                    PERFORM set_config('lock_timeout', '0', true);
                    IF shared[i] THEN
                        PERFORM pg_advisory_lock_shared(ns, keys[i]);
                    ELSE
                        PERFORM pg_advisory_lock(ns, keys[i]);
                    END IF;
                ELSE
                    remaining := extract(epoch FROM deadline - clock_timestamp()) * 1000;
                    IF remaining <= 0 THEN
                        PERFORM {release}(ns, keys[1:i-1], shared[1:i-1], NULL);
                        RETURN -i;
                    END IF;
                    BEGIN
                        PERFORM set_config('lock_timeout', ceil(remaining)::int8::text, true);
                        IF shared[i] THEN
                            PERFORM pg_advisory_lock_shared(ns, keys[i]);
                        ELSE
                            PERFORM pg_advisory_lock(ns, keys[i]);
                        END IF;
                    EXCEPTION WHEN lock_not_available THEN
                        PERFORM {release}(ns, keys[1:i-1], shared[1:i-1], NULL);
                        RETURN -i;
                    END;
                END IF;
            END IF;
            i := i + 1;
        END LOOP;
    END IF;
    t := floor(extract(epoch FROM clock_timestamp()) * 1000)::int8;
    IF app_head IS NOT NULL THEN
        PERFORM set_config('application_name', app_head || to_hex(t - base_ms) || ' ' || label, false);
    END IF;
    RETURN t;
END
$fn$"#,
            name = self.acquire,
        )
    }

    /// Releases `keys` newest first; returns how many of them the session did not hold. Sets
    /// `application_name` unless `app_name` is `NULL`.
    pub(crate) fn create_release(&self) -> String {
        format!(
            r#"CREATE FUNCTION {name}(ns int4, keys int4[], shared bool[], app_name text)
RETURNS int4 LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    missing int4 := 0;
    ok bool;
BEGIN
    FOR i IN REVERSE coalesce(array_length(keys, 1), 0)..1 LOOP
        IF shared[i] THEN
            ok := pg_advisory_unlock_shared(ns, keys[i]);
        ELSE
            ok := pg_advisory_unlock(ns, keys[i]);
        END IF;
        IF NOT ok THEN
            missing := missing + 1;
        END IF;
    END LOOP;
    IF app_name IS NOT NULL THEN
        PERFORM set_config('application_name', app_name, false);
    END IF;
    RETURN missing;
END
$fn$"#,
            name = self.release,
        )
    }

    /// `SELECT acquire(...)`, prepared once per session.
    pub(crate) fn call_acquire(&self) -> String {
        format!("SELECT {}($1, $2, $3, $4, $5, $6, $7, $8)", self.acquire)
    }

    /// `SELECT release(...)`, prepared once per session.
    pub(crate) fn call_release(&self) -> String {
        format!("SELECT {}($1, $2, $3, $4)", self.release)
    }
}

/// The advisory locks of one namespace that a session holds, among the given keys.
pub(crate) const CHECK: &str = "SELECT count(*)::int4 FROM pg_locks
    WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND objsubid = 2 AND classid::int8 = $1 AND objid::int8 = ANY($2::int8[])";

/// Every advisory lock of one namespace, held or waited for, with its session's details, and
/// the server's clock.
pub(crate) const STATUS: &str = "SELECT l.objid::int8, l.mode = 'ShareLock', l.granted, l.pid,
        a.application_name, host(a.client_addr), a.client_port,
        floor(extract(epoch FROM clock_timestamp()) * 1000)::int8
    FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory'
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.objsubid = 2 AND l.classid::int8 = $1";

/// Releases every advisory lock of the session: what a guard dropped without `release` queues.
pub(crate) const UNLOCK_ALL: &str = "SELECT pg_advisory_unlock_all()";

/// Session settings sent at connection start-up (no extra round trip). Timeouts set by the
/// server's configuration must not end a wait or a holding session behind the crate's back; a
/// backend whose client vanished mid-wait notices within the check interval.
pub(crate) fn startup_options(existing: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(existing) = existing {
        s.push_str(existing);
        s.push(' ');
    }
    for (k, v) in [
        ("statement_timeout", "0"),
        ("lock_timeout", "0"),
        ("idle_in_transaction_session_timeout", "0"),
        ("idle_session_timeout", "0"),
        ("client_connection_check_interval", "250"),
    ] {
        let _ = write!(s, "-c {k}={v} ");
    }
    s.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(ident("public"), "\"public\"");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        let n = Names::new("app");
        assert_eq!(n.table, "\"app\".lockorder_hierarchy");
        assert!(n
            .call_acquire()
            .starts_with("SELECT \"app\".lockorder_acquire_v1($1"));
    }

    #[test]
    fn startup_options_keep_the_callers() {
        let o = startup_options(Some("-c search_path=x"));
        assert!(o.starts_with("-c search_path=x -c statement_timeout=0"));
        assert!(o.ends_with("client_connection_check_interval=250"));
        assert!(!startup_options(None).starts_with(' '));
    }
}
