//! The SQL the crate runs: the objects installed at start-up and the statements of a session.
//!
//! The functions carry a version suffix (`_v2`). Their bodies never change under a name: a
//! release that needs different bodies installs `_v3` beside them, so processes of different
//! versions can run against one database while they agree on the hierarchy.
//!
//! No text of the user's (the schema name) is ever pasted into a function body: the bodies are
//! constants, they call only built-in functions (`SET search_path = pg_catalog, pg_temp`), and
//! the fencing sequence reaches the acquire function as an OID parameter. Start-up compares what
//! is installed with these constants ([`FUNCTIONS`]).

use std::fmt::Write as _;

/// The key, in the one-`bigint` advisory key space, that serializes start-up (installation and
/// the hierarchy check) across processes: the ASCII bytes of "lockordr". The locks of a hierarchy
/// use the two-`int4` key space, which PostgreSQL keeps apart from this one, so it can never be a
/// lock of any namespace.
pub(crate) const INSTALL_KEY: i64 = 0x6C6F_636B_6F72_6472;

/// The `SET` option every installed function has, as `pg_proc.proconfig` shows it.
pub(crate) const FUNCTION_CONFIG: &str = "search_path=pg_catalog, pg_temp";

/// The names of the installed objects, qualified with their schema.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub(crate) schema: String,
    pub(crate) table: String,
    pub(crate) sequence: String,
    pub(crate) acquire: String,
    pub(crate) release: String,
}

/// Quotes an SQL identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One installed function: its name (unqualified), argument types, result and body.
#[derive(Debug)]
pub(crate) struct Function {
    pub(crate) name: &'static str,
    pub(crate) args: &'static str,
    pub(crate) arg_types: &'static str,
    pub(crate) returns: &'static str,
    /// `pg_get_function_arguments(oid) || ' -> ' || pg_get_function_result(oid)`, as the server
    /// shows the crate's own definition.
    pub(crate) shown: &'static str,
    pub(crate) body: &'static str,
}

/// The acquire function: takes `keys` (in the order given: ascending lock order) on the calling
/// session.
///
/// * `try_only`: all or nothing; at the first busy lock, release what this call took and
///   return `{-i, NULL}`, `i` being the busy lock's 1-based index.
/// * `timeout_ms`: `NULL` waits as long as it takes; otherwise the time allowed from the first
///   busy lock on (0: try once). When it passes, release what this call took, return `{-i, NULL}`.
/// * Otherwise return `{time, token}`: the acquisition time (milliseconds since the Unix epoch,
///   server clock) and the fencing token, `nextval(seq)`, drawn once every lock is held; and set
///   `application_name` to `app_head || to_hex(time - base_ms) || ' ' || label` (left alone when
///   `app_head` is `NULL`). With no keys, only the time and a token.
///
/// Session-level advisory locks are not undone by an aborted (sub)transaction, so the exception
/// block around a bounded wait only ends that wait; what was taken stays taken until released
/// here.
///
/// It returns an array rather than a row: a scalar call needs no function scan, which costs
/// several microseconds per call.
pub(crate) const ACQUIRE: Function = Function {
    name: "lockorder_acquire_v2",
    args: "ns int4, keys int4[], shared bool[], try_only bool, timeout_ms float8, \
           app_head text, base_ms int8, label text, seq oid",
    arg_types: "int4,int4[],bool[],bool,float8,text,int8,text,oid",
    returns: "int8[]",
    shown: "ns integer, keys integer[], shared boolean[], try_only boolean, \
            timeout_ms double precision, app_head text, base_ms bigint, label text, seq oid \
            -> bigint[]",
    body: r#"
DECLARE
    n int4 := coalesce(array_length(keys, 1), 0);
    i int4 := 1;
    j int4;
    ok bool;
    deadline timestamptz;
    remaining float8;
    at_ms int8;
    token int8;
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
        IF timeout_ms IS NOT NULL AND NOT try_only THEN
            deadline := clock_timestamp() + timeout_ms * interval '1 millisecond';
        END IF;
        WHILE i <= n LOOP
            IF shared[i] THEN
                ok := pg_try_advisory_lock_shared(ns, keys[i]);
            ELSE
                ok := pg_try_advisory_lock(ns, keys[i]);
            END IF;
            IF NOT ok AND NOT try_only AND timeout_ms IS NULL THEN
                PERFORM set_config('lock_timeout', '0', true);
                IF shared[i] THEN
                    PERFORM pg_advisory_lock_shared(ns, keys[i]);
                ELSE
                    PERFORM pg_advisory_lock(ns, keys[i]);
                END IF;
                ok := true;
            ELSIF NOT ok AND NOT try_only THEN
                remaining := extract(epoch FROM deadline - clock_timestamp()) * 1000;
                IF remaining > 0 THEN
                    BEGIN
                        PERFORM set_config('lock_timeout', ceil(remaining)::int8::text, true);
                        IF shared[i] THEN
                            PERFORM pg_advisory_lock_shared(ns, keys[i]);
                        ELSE
                            PERFORM pg_advisory_lock(ns, keys[i]);
                        END IF;
                        ok := true;
                    EXCEPTION WHEN lock_not_available THEN
                        ok := false;
                    END;
                END IF;
            END IF;
            IF NOT ok THEN
                -- Give back what this call took, newest first.
                FOR j IN REVERSE i - 1..1 LOOP
                    IF shared[j] THEN
                        PERFORM pg_advisory_unlock_shared(ns, keys[j]);
                    ELSE
                        PERFORM pg_advisory_unlock(ns, keys[j]);
                    END IF;
                END LOOP;
                RETURN ARRAY[-i, NULL];
            END IF;
            i := i + 1;
        END LOOP;
    END IF;
    token := nextval(seq::regclass);
    at_ms := floor(date_part('epoch', clock_timestamp()) * 1000)::int8;
    IF app_head IS NOT NULL THEN
        -- An assignment, not PERFORM: a simple expression, evaluated without a query.
        app_head := set_config('application_name', app_head || to_hex(at_ms - base_ms) || ' ' || label, false);
    END IF;
    RETURN ARRAY[at_ms, token];
END
"#,
};

/// The release function: releases `keys` newest first; returns how many of them the session did
/// not hold. Sets `application_name` unless `app_name` is `NULL`.
pub(crate) const RELEASE: Function = Function {
    name: "lockorder_release_v2",
    args: "ns int4, keys int4[], shared bool[], app_name text",
    arg_types: "int4,int4[],bool[],text",
    returns: "int4",
    shown: "ns integer, keys integer[], shared boolean[], app_name text -> integer",
    body: r#"
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
        app_name := set_config('application_name', app_name, false);
    END IF;
    RETURN missing;
END
"#,
};

/// Every function start-up installs and verifies.
pub(crate) const FUNCTIONS: [&Function; 2] = [&RELEASE, &ACQUIRE];

impl Function {
    /// `"schema".name`.
    pub(crate) fn qualified(&self, schema: &str) -> String {
        format!("{}.{}", ident(schema), self.name)
    }

    /// The signature `to_regprocedure` takes.
    pub(crate) fn signature(&self, schema: &str) -> String {
        format!("{}({})", self.qualified(schema), self.arg_types)
    }

    /// The `CREATE FUNCTION` statement. The schema appears only as the function's qualifier; the
    /// body is the constant, dollar-quoted with a tag it does not contain.
    pub(crate) fn create(&self, schema: &str) -> String {
        debug_assert!(!self.body.contains("$lockorder$"));
        format!(
            "CREATE FUNCTION {}({}) RETURNS {} LANGUAGE plpgsql VOLATILE \
             SET search_path = pg_catalog, pg_temp AS $lockorder${}$lockorder$",
            self.qualified(schema),
            self.args,
            self.returns,
            self.body
        )
    }
}

impl Names {
    pub(crate) fn new(schema: &str) -> Self {
        let s = ident(schema);
        Self {
            schema: schema.to_owned(),
            table: format!("{s}.lockorder_hierarchy"),
            sequence: format!("{s}.lockorder_fencing_token"),
            acquire: ACQUIRE.qualified(schema),
            release: RELEASE.qualified(schema),
        }
    }

    /// The table that records every process's hierarchy.
    pub(crate) fn create_table(&self) -> String {
        format!(
            "CREATE TABLE {t} (
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

    /// The sequence fencing tokens come from: one per schema, so tokens increase across every
    /// namespace of the schema. `CACHE 1` (each `nextval` goes to the shared sequence, never a
    /// session's private batch) and `NO CYCLE`.
    pub(crate) fn create_sequence(&self) -> String {
        format!(
            "CREATE SEQUENCE {} AS int8 INCREMENT BY 1 MINVALUE 1 START WITH 1 CACHE 1 NO CYCLE",
            self.sequence
        )
    }

    /// `SELECT acquire(...)`, prepared once per session.
    pub(crate) fn call_acquire(&self) -> String {
        format!(
            "SELECT {}($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            self.acquire
        )
    }

    /// `SELECT release(...)`, prepared once per session.
    pub(crate) fn call_release(&self) -> String {
        format!("SELECT {}($1, $2, $3, $4)", self.release)
    }
}

/// The largest set the fast path takes ([`fast_acquire`]); larger ones go to the function.
pub(crate) const FAST_MAX: usize = 4;

/// The fast path of an acquire of `k` locks (1 to [`FAST_MAX`]): plain SQL, no function, so it
/// costs about what one built-in call does, where the PL/pgSQL function costs a fixed price per
/// call. It tries each lock once, in order (nested `CASE`s: PostgreSQL evaluates only the branch
/// taken, in order, and folds no volatile call), and answers like the acquire function:
///
/// * all taken: `{time, token, _}`, the token drawn (`nextval`) once every lock is held, and
///   `application_name` set as the function sets it (unless `$3` is `NULL`); the time is the
///   statement's start, which for locks that were all free is when they were taken;
/// * lock `j` busy: `{-j, NULL, _}` with every lock this statement took released (in the
///   `ELSE` of each level). The caller then answers `WouldBlock`/a zero timeout, or runs the
///   function, which waits.
///
/// Parameters: `$1` namespace, `$2` the sequence's OID, `$3` head of `application_name`, `$4`
/// base time, `$5` label, then per lock its key and whether it is shared.
pub(crate) fn fast_acquire(k: usize) -> String {
    let key = |i: usize| 6 + 2 * (i - 1);
    let try_lock = |i: usize| {
        format!(
            "CASE WHEN ${} THEN pg_try_advisory_lock_shared($1, ${}) \
             ELSE pg_try_advisory_lock($1, ${}) END",
            key(i) + 1,
            key(i),
            key(i)
        )
    };
    let unlock = |i: usize| {
        format!(
            "(CASE WHEN ${} THEN pg_advisory_unlock_shared($1, ${}) \
             ELSE pg_advisory_unlock($1, ${}) END) IS NULL",
            key(i) + 1,
            key(i),
            key(i)
        )
    };
    let time = "floor(date_part('epoch', statement_timestamp()) * 1000)::int8";
    let mut expr = format!(
        "ARRAY[{time}, nextval($2::regclass), CASE WHEN $3 IS NULL THEN 0 ELSE \
         length(set_config('application_name', $3 || to_hex({time} - $4) || ' ' || $5, false)) \
         END]::int8[]"
    );
    for i in (1..=k).rev() {
        // Every operand of the OR is false, so all of them run: each lock taken is released.
        let release = if i == 1 {
            "NULL".to_owned()
        } else {
            let all: Vec<String> = (1..i).rev().map(unlock).collect();
            format!("CASE WHEN {} THEN 0 END", all.join(" OR "))
        };
        expr = format!(
            "CASE WHEN {} THEN {expr} ELSE ARRAY[-{i}, NULL, {release}]::int8[] END",
            try_lock(i)
        );
    }
    format!("SELECT {expr}")
}

/// What start-up compares between an installed function and the crate's own: its source, its
/// `SET` options, and the attributes that change how it runs.
pub(crate) const INSTALLED_FUNCTION: &str = "SELECT p.prosrc, p.proconfig, p.prosecdef,
        l.lanname, p.provolatile::text, p.proisstrict,
        pg_get_function_arguments(p.oid) || ' -> ' || pg_get_function_result(p.oid),
        pg_get_userbyid(p.proowner)
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.oid = to_regprocedure($1)";

/// The installed sequence's definition.
pub(crate) const INSTALLED_SEQUENCE: &str = "SELECT s.seqtypid::regtype::text, s.seqincrement,
        s.seqcycle, s.seqcache, c.oid::int8
    FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid
    WHERE c.oid = to_regclass($1)";

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

/// Server-side TCP settings a session gets unless the caller's options set them: a backend
/// whose client host died (or whose network is cut) notices within about 30 s, ends, and frees
/// the session's locks. Keepalive probes start after 10 s of silence and repeat every 5 s; 4
/// unanswered ones, or 20 s of unacknowledged data (`tcp_user_timeout`), end the connection.
/// PostgreSQL ignores them on unix sockets (no host can die there without its kernel).
pub(crate) const TCP_OPTIONS: [(&str, &str); 4] = [
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "4"),
    ("tcp_user_timeout", "20000"),
];

/// Session settings sent at connection start-up (no extra round trip): the TCP settings, which
/// the caller's own options may override, then the caller's options, then the settings the crate
/// relies on. Timeouts set by the server's configuration must not end a wait or a holding
/// session behind the crate's back; a backend whose client vanished mid-wait notices within the
/// check interval.
pub(crate) fn startup_options(existing: Option<&str>) -> String {
    let mut s = String::new();
    for (k, v) in TCP_OPTIONS {
        let _ = write!(s, "-c {k}={v} ");
    }
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
            .starts_with("SELECT \"app\".lockorder_acquire_v2($1"));
    }

    #[test]
    fn startup_options_keep_the_callers() {
        let o = startup_options(Some("-c search_path=x -c tcp_keepalives_idle=3"));
        assert!(o.starts_with("-c tcp_keepalives_idle=10 "));
        assert!(o.contains("-c search_path=x -c tcp_keepalives_idle=3 -c statement_timeout=0"));
        assert!(o.ends_with("client_connection_check_interval=250"));
        assert!(!startup_options(None).starts_with(' '));
    }
}
