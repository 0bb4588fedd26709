//! A throwaway PostgreSQL cluster for tests and examples.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A throwaway PostgreSQL cluster started from the installed binaries: a new data directory
/// in a temporary directory, reachable through a unix socket in that directory and on the
/// loopback address (`127.0.0.1`, for tests of TCP behaviour), stopped and deleted on drop.
///
/// For tests and examples: the crate's own tests use one when `DATABASE_URL` is unset. The
/// binaries are looked up in `/usr/lib/postgresql/<newest>/bin`, then on `PATH` (`initdb` and
/// `pg_ctl`). Run as root, they run as the `postgres` system user (`initdb` refuses root), and
/// the directory belongs to that user.
///
/// A helper shell process watches this process and stops the cluster and deletes its directory
/// once this process is gone, also when it never drops the cluster (a `static`), panics with
/// `panic = "abort"`, or is killed.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let cluster = lockorder_postgres::TempCluster::start()?;
/// let mut b = lockorder::LockManager::builder();
/// b.register("db", 10)?;
/// let locks = lockorder_postgres::PgLockManager::connect(&cluster.connection_string(), b).await?;
/// # Ok(()) }
/// ```
pub struct TempCluster {
    dir: PathBuf,
    port: u16,
    bindir: Option<PathBuf>,
    as_postgres: bool,
    watchdog: Option<Child>,
}

impl fmt::Debug for TempCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempCluster")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish()
    }
}

fn newest_bindir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn check(what: &str, out: io::Result<std::process::Output>) -> io::Result<String> {
    let out = out?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(io::Error::other(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

impl TempCluster {
    /// Creates and starts a cluster. Takes about a second.
    ///
    /// # Errors
    ///
    /// When the binaries are missing ([`io::ErrorKind::NotFound`]; install PostgreSQL, e.g.
    /// `apt-get install postgresql`) or a step fails (the error has its output).
    pub fn start() -> io::Result<Self> {
        let bindir = newest_bindir();
        if bindir.is_none() && !(on_path("initdb") && on_path("pg_ctl")) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "PostgreSQL's initdb and pg_ctl were not found (in /usr/lib/postgresql/*/bin or \
                 on PATH): install PostgreSQL, or point DATABASE_URL at a server",
            ));
        }
        let as_postgres = is_root();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut mktemp = Self::command_as(as_postgres, Path::new("mktemp"));
        mktemp.args(["-d", "/tmp/lockorder-pg.XXXXXX"]);
        let dir = PathBuf::from(check("mktemp", mktemp.output())?.trim());
        let mut cluster = Self {
            dir,
            port,
            bindir,
            as_postgres,
            watchdog: None,
        };
        cluster.watchdog = Some(cluster.spawn_watchdog()?);
        let data = cluster.data();
        let mut initdb = cluster.tool("initdb");
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        check("initdb", initdb.output())?;
        cluster.start_again()?;
        Ok(cluster)
    }

    fn command_as(as_postgres: bool, program: &Path) -> Command {
        if as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn tool(&self, name: &str) -> Command {
        let program = match &self.bindir {
            Some(b) => b.join(name),
            None => PathBuf::from(name),
        };
        let mut c = Self::command_as(self.as_postgres, &program);
        c.stdin(Stdio::null());
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Stops the cluster when this process is gone, however it ends. The watchdog gets a process
    /// group of its own, so that killing this process's group (as `timeout` or a CI runner may)
    /// leaves it to do its job.
    fn spawn_watchdog(&self) -> io::Result<Child> {
        use std::os::unix::process::CommandExt as _;
        let pg_ctl = match &self.bindir {
            Some(b) => b.join("pg_ctl"),
            None => PathBuf::from("pg_ctl"),
        };
        Command::new("sh")
            .arg("-c")
            .arg(
                r#"while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
                if [ "$4" = 1 ]; then runuser -u postgres -- "$2" -D "$3/data" stop -m immediate
                else "$2" -D "$3/data" stop -m immediate; fi >/dev/null 2>&1
                rm -rf "$3""#,
            )
            .arg("lockorder-pg-watchdog")
            .arg(std::process::id().to_string())
            .arg(pg_ctl)
            .arg(&self.dir)
            .arg(if self.as_postgres { "1" } else { "0" })
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
    }

    /// The directory holding the data directory, the log and the socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The port: it names the socket file, and the server listens on it at `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A tokio-postgres connection string for the cluster: its socket, user and database
    /// `postgres`.
    pub fn connection_string(&self) -> String {
        format!(
            "host={} port={} user=postgres dbname=postgres",
            self.dir.display(),
            self.port
        )
    }

    /// A tokio-postgres connection string for the cluster over TCP on the loopback address.
    pub fn tcp_connection_string(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    /// The server log so far (for diagnostics).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Stops the server (fast shutdown: sessions are ended, their locks released).
    ///
    /// # Errors
    ///
    /// When `pg_ctl stop` fails.
    pub fn stop(&self) -> io::Result<()> {
        let mut c = self.tool("pg_ctl");
        c.arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]);
        check("pg_ctl stop", c.output()).map(drop)
    }

    /// Starts the server again after [`stop`](Self::stop) (also used by [`start`](Self::start)).
    ///
    /// # Errors
    ///
    /// When `pg_ctl start` fails.
    pub fn start_again(&self) -> io::Result<()> {
        let opts = format!(
            "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.dir.display(),
            self.port
        );
        let mut c = self.tool("pg_ctl");
        c.arg("-D")
            .arg(self.data())
            .arg("-o")
            .arg(opts)
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "start"]);
        // pg_ctl's server keeps the output pipes open: give it none.
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let status = c.status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "pg_ctl start failed ({status}); server log:\n{}",
                self.log()
            )))
        }
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
        let mut c = self.tool("pg_ctl");
        c.arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = c.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
