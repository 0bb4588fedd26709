//! Status across processes, and the `application_name` format that carries holders' labels and
//! acquisition times to other sessions.
//!
//! PostgreSQL does not record when an advisory lock was granted, and writing a row per acquire
//! would cost more than the acquire itself. So the acquire function sets its session's
//! `application_name` (shared memory, no write) to
//!
//! ```text
//! lo <t0>[;<order>+<dt>]* <label>
//! ```
//!
//! `t0` is when the outermost guard got its locks (milliseconds since the Unix epoch, server
//! clock, hex); each nested guard adds the lowest order it took and its own time as an offset
//! from `t0` (both hex). Nested guards only take locks above their ancestors', so a lock of order
//! `o` belongs to the deepest level whose order is at most `o`. PostgreSQL keeps 63 bytes of
//! printable ASCII: the label comes last and is what gets cut.

use std::fmt;
use std::ops::Deref;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lockorder::Mode;

/// PostgreSQL keeps this many bytes of `application_name`.
pub(crate) const APP_NAME_MAX: usize = 63;

/// The `application_name` of a session that holds nothing.
pub(crate) const IDLE: &str = "lo -";

/// One nesting level of a session: the lowest order it took (0 for the outermost), when, and its
/// label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Level {
    /// The nesting depth of the guard that took the level's locks.
    pub(crate) depth: usize,
    pub(crate) first_order: u32,
    pub(crate) at_ms: i64,
    pub(crate) label: String,
}

/// Printable ASCII only (PostgreSQL replaces anything else with `?` itself), at most what fits.
pub(crate) fn clean_label(label: &str) -> String {
    label
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .take(APP_NAME_MAX)
        .collect()
}

fn levels_text(levels: &[Level]) -> String {
    let mut s = String::from("lo ");
    let t0 = levels[0].at_ms;
    s.push_str(&format!("{t0:x}"));
    for l in &levels[1..] {
        s.push_str(&format!(";{:x}+{:x}", l.first_order, l.at_ms - t0));
    }
    s
}

/// The `application_name` of a session whose guards are `levels` (outermost first).
pub(crate) fn app_name(levels: &[Level]) -> String {
    let Some(last) = levels.last() else {
        return IDLE.to_owned();
    };
    let mut s = levels_text(levels);
    s.push(' ');
    s.push_str(&last.label);
    s.truncate(APP_NAME_MAX);
    s
}

/// What the acquire function needs to build the next level's name: the head (everything before
/// the new time) and the base its time is an offset from.
pub(crate) fn app_head(levels: &[Level], first_order: u32) -> (String, i64) {
    if levels.is_empty() {
        ("lo ".to_owned(), 0)
    } else {
        (
            format!("{};{first_order:x}+", levels_text(levels)),
            levels[0].at_ms,
        )
    }
}

/// Reads a name in the format above: the levels (order, time) and the label. `None` for a name
/// in another format (a session that is not a `lockorder` one, or an idle one).
pub(crate) fn decode(app: &str) -> Option<(Vec<(u32, i64)>, &str)> {
    let rest = app.strip_prefix("lo ")?;
    let (levels, label) = match rest.split_once(' ') {
        Some((levels, label)) => (levels, label),
        None => (rest, ""),
    };
    let mut parts = levels.split(';');
    let t0 = i64::from_str_radix(parts.next()?, 16).ok()?;
    let mut out = vec![(0, t0)];
    for part in parts {
        let (o, dt) = part.split_once('+')?;
        let o = u32::from_str_radix(o, 16).ok()?;
        let dt = i64::from_str_radix(dt, 16).ok()?;
        out.push((o, t0 + dt));
    }
    Some((out, label))
}

/// When the lock of order `order` was taken, by the levels of [`decode`].
pub(crate) fn since_ms(levels: &[(u32, i64)], order: u32) -> Option<i64> {
    levels
        .iter()
        .rev()
        .find(|&&(first, _)| first <= order)
        .map(|&(_, t)| t)
}

fn ms_to_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// A session holding a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The server process of the holding session (what `pg_terminate_backend` takes).
    pub backend_pid: i32,
    /// The label given with [`Acquire::owner`](crate::futures::Acquire::owner), or the default
    /// `pid <client process id>`; cut to fit, non-ASCII characters shown as `?`. For a session
    /// that is not a `lockorder` one, its whole `application_name`.
    pub label: String,
    /// The session's `application_name` as the server has it.
    pub application_name: String,
    /// The client's address; `None` for a unix-socket connection.
    pub client_addr: Option<String>,
    /// The client's port; `None` for a unix-socket connection.
    pub client_port: Option<i32>,
    /// When the holder took the lock (server clock, millisecond precision); `None` when the
    /// session is not a `lockorder` one.
    pub since: Option<SystemTime>,
    /// How long it has held it, by the server's clock; `None` with `since`.
    pub held_for: Option<Duration>,
}

impl Holder {
    pub(crate) fn new(
        backend_pid: i32,
        application_name: String,
        client_addr: Option<String>,
        client_port: Option<i32>,
        order: u32,
        now_ms: i64,
    ) -> Self {
        let decoded = decode(&application_name);
        let (label, since) = match &decoded {
            Some((levels, label)) => ((*label).to_owned(), since_ms(levels, order)),
            None => (application_name.clone(), None),
        };
        Self {
            backend_pid,
            label,
            client_addr,
            client_port: client_port.filter(|&p| p >= 0),
            since: since.map(ms_to_time),
            held_for: since.map(|s| Duration::from_millis(now_ms.saturating_sub(s).max(0) as u64)),
            application_name,
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` (backend {}", self.label, self.backend_pid)?;
        match (&self.client_addr, self.client_port) {
            (Some(a), Some(p)) => write!(f, ", {a}:{p}")?,
            (Some(a), None) => write!(f, ", {a}")?,
            _ => write!(f, ", local socket")?,
        }
        write!(f, ")")
    }
}

/// One lock of the hierarchy, as the server sees it now, across all processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgLockStatus {
    /// The lock's name.
    pub name: String,
    /// The lock's order (the second advisory-lock key).
    pub order: u32,
    /// The lock's description.
    pub description: String,
    /// How it is held; `None` when free.
    pub mode: Option<Mode>,
    /// Who holds it: one holder when exclusive, the readers when shared.
    pub holders: Vec<Holder>,
    /// How many sessions wait for it.
    pub waiting: u32,
}

impl PgLockStatus {
    /// Whether anyone holds the lock.
    pub fn is_locked(&self) -> bool {
        !self.holders.is_empty()
    }
}

/// The state of every lock of a hierarchy: [`PgLockManager::status`](crate::PgLockManager::status).
///
/// Derefs to the locks, ascending by order; `Display`s as a table.
#[derive(Debug, Clone)]
pub struct PgStatus {
    pub(crate) locks: Vec<PgLockStatus>,
}

impl Deref for PgStatus {
    type Target = [PgLockStatus];

    fn deref(&self) -> &[PgLockStatus] {
        &self.locks
    }
}

impl fmt::Display for PgStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:>10} {:<9} {:>7} {:>9}  holder",
            "lock", "order", "mode", "waiting", "held (s)"
        )?;
        for l in &self.locks {
            let mode = match l.mode {
                None => "free",
                Some(Mode::Shared) => "shared",
                Some(Mode::Exclusive) => "exclusive",
            };
            let first = l.holders.first();
            let held = first
                .and_then(|h| h.held_for)
                .map(|d| format!("{:.3}", d.as_secs_f64()))
                .unwrap_or_default();
            let holder = first.map(|h| h.to_string()).unwrap_or_default();
            let more = match l.holders.len() {
                0 | 1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            writeln!(
                f,
                "{:<28} {:>10} {:<9} {:>7} {:>9}  {holder}{more}",
                l.name, l.order, mode, l.waiting, held
            )?;
        }
        Ok(())
    }
}

/// A lock held longer than a threshold: [`PgLockManager::long_held`](crate::PgLockManager::long_held).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgLongHold {
    /// The lock's name.
    pub name: String,
    /// The lock's order.
    pub order: u32,
    /// Who holds it.
    pub holder: Holder,
    /// For how long, by the server's clock.
    pub held_for: Duration,
}

impl fmt::Display for PgLongHold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lock `{}` (order {}) held for {:.3} s by {}: a stuck holder, or work that should not \
             run under it",
            self.name,
            self.order,
            self.held_for.as_secs_f64(),
            self.holder
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(first_order: u32, at_ms: i64, label: &str) -> Level {
        Level {
            depth: 0,
            first_order,
            at_ms,
            label: label.to_owned(),
        }
    }

    #[test]
    fn names_round_trip_through_decode() {
        let levels = [
            level(0, 0x18c5a3b2f10, "job-1"),
            level(0x1e, 0x18c5a3b2f10 + 0x2f, "job-1"),
        ];
        let name = app_name(&levels);
        assert_eq!(name, "lo 18c5a3b2f10;1e+2f job-1");
        let (decoded, label) = decode(&name).unwrap();
        assert_eq!(label, "job-1");
        assert_eq!(decoded, [(0, 0x18c5a3b2f10), (0x1e, 0x18c5a3b2f10 + 0x2f)]);
        // Locks below the nested level's first order belong to the outer guard.
        assert_eq!(since_ms(&decoded, 10), Some(0x18c5a3b2f10));
        assert_eq!(since_ms(&decoded, 0x1e), Some(0x18c5a3b2f10 + 0x2f));
        assert_eq!(since_ms(&decoded, u32::MAX), Some(0x18c5a3b2f10 + 0x2f));
    }

    #[test]
    fn the_head_is_what_the_server_completes() {
        let (head, base) = app_head(&[], 0);
        assert_eq!((head.as_str(), base), ("lo ", 0));
        let outer = [level(0, 0x100, "x")];
        let (head, base) = app_head(&outer, 0x2a);
        assert_eq!((head.as_str(), base), ("lo 100;2a+", 0x100));
        // The server appends to_hex(t - base), a space and the label.
        let server = format!("{head}{:x} {}", 0x105 - base, "x");
        assert_eq!(
            server,
            app_name(&[outer[0].clone(), level(0x2a, 0x105, "x")])
        );
    }

    #[test]
    fn labels_are_cut_and_cleaned() {
        assert_eq!(clean_label("réq\n1"), "r?q?1");
        let long = "x".repeat(100);
        let name = app_name(&[level(0, 0x18c5a3b2f10, &clean_label(&long))]);
        assert_eq!(name.len(), APP_NAME_MAX);
        assert!(name.starts_with("lo 18c5a3b2f10 xxx"));
        assert_eq!(app_name(&[]), IDLE);
    }

    #[test]
    fn foreign_names_are_not_decoded() {
        assert_eq!(decode("psql"), None);
        assert_eq!(decode(IDLE), None);
        assert_eq!(decode("lo zz label"), None);
        let h = Holder::new(7, "psql".into(), Some("127.0.0.1".into()), Some(5000), 3, 0);
        assert_eq!(
            (h.label.as_str(), h.since, h.held_for),
            ("psql", None, None)
        );
        assert_eq!(h.to_string(), "`psql` (backend 7, 127.0.0.1:5000)");
    }

    #[test]
    fn holders_report_how_long_by_the_servers_clock() {
        let h = Holder::new(9, "lo 3e8 w".into(), None, Some(-1), 5, 3_500);
        assert_eq!(h.label, "w");
        assert_eq!(h.since, Some(UNIX_EPOCH + Duration::from_millis(1000)));
        assert_eq!(h.held_for, Some(Duration::from_millis(2500)));
        assert_eq!(h.client_port, None);
        assert_eq!(h.to_string(), "`w` (backend 9, local socket)");
    }
}
