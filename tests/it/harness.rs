//! A small builder around the real binary, one temp directory per test, and the helpers
//! every test file shares: file modes, run reports, and visible skips.
//!
//! The registry backend comes from the module a test sits in: the suites that
//! `tests/it/main.rs` includes a second time under `mod postgres` run each test against a
//! fresh PostgreSQL database ([`crate::pgdb`]); everything else runs on a SQLite file.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::pgdb::PgDb;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_inbox-exec");

/// Which registry a test's world uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the world's directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend of the running test: its module path (the test thread's name) starts
    /// with `postgres::` for the suites included under `mod postgres`.
    pub fn current() -> Backend {
        match std::thread::current().name() {
            Some(name) if name.starts_with("postgres::") => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

/// A scratch world: a home directory, a registry, a key path, a state dir.
pub struct World {
    pub dir: TempDir,
    pub home: PathBuf,
    /// The SQLite registry's path (unused on PostgreSQL).
    pub db: PathBuf,
    pub key: PathBuf,
    pub state: PathBuf,
    /// The PostgreSQL database, for a test in the postgres suites.
    pub pg: Option<PgDb>,
    /// A registry URL of the test's own (a server it started), instead of either.
    pub db_url: Option<String>,
}

impl World {
    /// A world on the backend of the running test. Without a PostgreSQL server a postgres
    /// test says so (SKIPPED …, a failure with INBOX_EXEC_NO_SKIP=1) and runs on SQLite.
    pub fn new() -> World {
        World::on(Backend::current())
    }

    /// A world on `backend`, whatever module the test is in.
    pub fn on(backend: Backend) -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_owned();
        let home = root.join("home");
        fs::create_dir_all(&home).expect("home");
        let pg = match backend {
            Backend::Postgres => PgDb::or_skip(),
            Backend::Sqlite => None,
        };
        World {
            home,
            db: root.join("drafts.db"),
            key: root.join("hmac.key"),
            state: root.join("state"),
            dir,
            pg,
            db_url: None,
        }
    }

    /// Whether this world's registry is on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.pg.is_some()
    }

    /// What `--db` / `INBOX_EXEC_DB` names: the SQLite path or the PostgreSQL URL.
    pub fn db_arg(&self) -> std::ffi::OsString {
        if let Some(url) = &self.db_url {
            return url.into();
        }
        match &self.pg {
            Some(pg) => pg.url().into(),
            None => self.db.clone().into_os_string(),
        }
    }

    /// A world with a key and an initialised registry.
    pub fn ready() -> World {
        World::ready_on(Backend::current())
    }

    /// [`World::ready`] on `backend`.
    pub fn ready_on(backend: Backend) -> World {
        let w = World::on(backend);
        w.cmd(&["keygen"]).ok();
        w.cmd(&["init"]).ok();
        w
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with a cleared environment: HOME, and the registry, key and state dir
    /// through their INBOX_EXEC_* variables.
    pub fn cmd(&self, args: &[&str]) -> Run {
        let mut cmd = self.bare(args);
        cmd.env("INBOX_EXEC_DB", self.db_arg())
            .env("INBOX_EXEC_KEY", &self.key)
            .env("INBOX_EXEC_STATE_DIR", &self.state);
        Run { cmd }
    }

    /// The binary with only HOME set.
    pub fn bare(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", "/usr/bin:/bin")
            .current_dir(self.dir.path());
        cmd
    }

    /// `draft new --kind KIND` with an empty target and payload, not yet run: for tests of
    /// how it fails.
    pub fn draft_new(&self, kind: &str) -> Run {
        self.cmd(&draft_new_args(kind))
    }

    /// Signs and inserts a draft; returns its id.
    pub fn draft(&self, kind: &str, target: &str, payload: &str) -> String {
        self.draft_with(kind, target, payload, &[])
    }

    /// Signs and inserts a draft as if signed at `issued_at`; returns its id.
    pub fn draft_at(&self, kind: &str, target: &str, payload: &str, issued_at: i64) -> String {
        self.draft_with(
            kind,
            target,
            payload,
            &["--issued-at", &issued_at.to_string()],
        )
    }

    /// Tests of `run`'s own defences need drafts it must refuse: `--allow-unrunnable` lets
    /// them in, as a writer other than `draft new` could.
    fn draft_with(&self, kind: &str, target: &str, payload: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "draft",
            "new",
            "--allow-unrunnable",
            "--kind",
            kind,
            "--target",
            target,
            "--payload",
            payload,
        ];
        args.extend_from_slice(extra);
        self.cmd(&args).ok().stdout.trim().to_owned()
    }

    /// Signs, inserts and approves a draft; returns its id.
    pub fn approved(&self, kind: &str, target: &str, payload: &str) -> String {
        let id = self.draft(kind, target, payload);
        self.cmd(&["approve", &id, "--allow-unrunnable"]).ok();
        id
    }

    /// Runs SQL against the registry (SQLite through rusqlite, or the PostgreSQL database
    /// with the registry's schema first on the search path).
    pub fn sql(&self, sql: &str) {
        match &self.pg {
            Some(pg) => pg.client().batch_execute(sql).expect("sql"),
            None => {
                let conn = rusqlite::Connection::open(&self.db).expect("open registry");
                conn.execute_batch(sql).expect("sql");
            }
        }
    }

    /// One column of every row, as text (`NULL` for a null).
    pub fn column(&self, sql: &str) -> Vec<String> {
        match &self.pg {
            Some(pg) => pg_rows(&mut pg.client(), sql)
                .into_iter()
                .map(|mut r| r.swap_remove(0))
                .collect(),
            None => {
                let conn = rusqlite::Connection::open(&self.db).expect("open registry");
                let mut stmt = conn.prepare(sql).expect("prepare");
                let rows = stmt
                    .query_map([], |r| Ok(sqlite_text(r.get(0)?)))
                    .expect("query");
                rows.collect::<Result<_, _>>().expect("rows")
            }
        }
    }

    /// Whether the registry has a table of that name.
    pub fn has_table(&self, name: &str) -> bool {
        let sql = match &self.pg {
            Some(_) => format!(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'inbox_exec' AND tablename = '{name}'"
            ),
            None => format!(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{name}'"
            ),
        };
        self.query(&sql) == "1"
    }

    /// One string column of one row.
    pub fn query(&self, sql: &str) -> String {
        self.column(sql)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no row: {sql}"))
    }

    /// Every row of the registry's tables, as text: for "nothing changed" assertions.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for table in ["drafts", "attempts", "claims", "db_meta"] {
            let sql = format!("SELECT * FROM {table} ORDER BY 1");
            let rows: Vec<Vec<String>> = match &self.pg {
                Some(pg) => pg_rows(&mut pg.client(), &sql),
                None => {
                    let conn = rusqlite::Connection::open(&self.db).expect("open registry");
                    let mut stmt = conn.prepare(&sql).expect("prepare dump");
                    let columns = stmt.column_count();
                    let mut rows = stmt.query([]).expect("dump query");
                    let mut all = Vec::new();
                    while let Some(row) = rows.next().expect("dump row") {
                        all.push(
                            (0..columns)
                                .map(|i| {
                                    format!(
                                        "{:?}",
                                        row.get::<_, rusqlite::types::Value>(i)
                                            .expect("dump value")
                                    )
                                })
                                .collect(),
                        );
                    }
                    all
                }
            };
            for row in rows {
                out.push_str(table);
                for v in row {
                    out.push('|');
                    out.push_str(&v);
                }
                out.push('\n');
            }
        }
        out
    }

    pub fn status(&self, id: &str) -> String {
        self.query(&format!(
            "SELECT status FROM drafts WHERE draft_id = '{id}'"
        ))
    }
}

fn sqlite_text(v: rusqlite::types::Value) -> String {
    match v {
        rusqlite::types::Value::Null => "NULL".to_owned(),
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Real(f) => f.to_string(),
        rusqlite::types::Value::Text(t) => t,
        rusqlite::types::Value::Blob(b) => format!("{b:?}"),
    }
}

/// Every row as text, as the SQLite side shows it: NULL as `NULL`, a boolean as 1 or 0.
fn pg_rows(client: &mut postgres::Client, sql: &str) -> Vec<Vec<String>> {
    use postgres::types::Type;
    let rows = client.query(sql, &[]).expect("query");
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    let ty = row.columns()[i].type_();
                    let text = if *ty == Type::BOOL {
                        row.get::<_, Option<bool>>(i)
                            .map(|b| u8::from(b).to_string())
                    } else if *ty == Type::INT8 {
                        row.get::<_, Option<i64>>(i).map(|n| n.to_string())
                    } else if *ty == Type::INT4 {
                        row.get::<_, Option<i32>>(i).map(|n| n.to_string())
                    } else if *ty == Type::INT2 {
                        row.get::<_, Option<i16>>(i).map(|n| n.to_string())
                    } else if *ty == Type::FLOAT8 {
                        row.get::<_, Option<f64>>(i).map(|n| n.to_string())
                    } else {
                        row.get::<_, Option<String>>(i)
                    };
                    text.unwrap_or_else(|| "NULL".to_owned())
                })
                .collect()
        })
        .collect()
}

/// Writes a file private to its owner (a group- or world-writable config is refused).
pub fn write_private(path: &Path, body: &str) {
    fs::write(path, body).expect("write file");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// The names in a directory, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("read the directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A file's permission bits.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Whether the tests run as root (some need it, some must work around it).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A run report's results.
pub fn results(doc: &Value) -> Vec<Value> {
    doc["results"].as_array().expect("results").clone()
}

/// One draft's result in a run report.
pub fn outcome_of(doc: &Value, id: &str) -> Value {
    results(doc)
        .into_iter()
        .find(|r| r["draft_id"] == id)
        .unwrap_or_else(|| panic!("no result for {id} in {doc}"))
}

/// The environment variable that turns an unexpected skip into a failure (CI sets it).
pub const NO_SKIP: &str = "INBOX_EXEC_NO_SKIP";
/// The comma-separated needs a skip may name while [`NO_SKIP`] is set.
pub const ALLOWED_SKIPS: &str = "INBOX_EXEC_ALLOWED_SKIPS";

/// Records that `test` (or part of it) did not run because the machine lacks `need`: one of
/// `root`, `mount`, `systemd-analyze`, `script` (and `postgres`, reserved for the PostgreSQL
/// tests). The line goes straight to the process's stderr, past the test harness's capture
/// (which takes only `print!`/`eprint!`), so a passing run still shows what it did not
/// test. With `INBOX_EXEC_NO_SKIP=1` a skip whose need is not listed in
/// `INBOX_EXEC_ALLOWED_SKIPS` fails the test instead.
pub fn skip(test: &str, need: &str, reason: &str) {
    // One line per skip, whatever the reason quotes (a tool's multi-line stderr).
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = format!("SKIPPED {test}: needs {need} ({reason})\n");
    // Best effort: a closed stderr must not turn a skip into a failure.
    let _ = std::io::stderr().write_all(line.as_bytes());
    if std::env::var(NO_SKIP).is_ok_and(|v| v == "1") {
        let allowed = std::env::var(ALLOWED_SKIPS).unwrap_or_default();
        assert!(
            allowed.split(',').map(str::trim).any(|a| a == need),
            "{test} was skipped (needs {need}: {reason}), and {NO_SKIP}=1 allows only \
             skips for [{allowed}] ({ALLOWED_SKIPS})"
        );
    }
}

/// Kills, on drop, the process group whose leader's pid a handler wrote to `pid_file`, after
/// checking that the pid still runs the command the test started (`marker` in its argv).
pub struct KillGroupOnDrop {
    pub pid_file: PathBuf,
    pub marker: &'static str,
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        let Ok(text) = fs::read_to_string(&self.pid_file) else {
            return;
        };
        let Some(pid) = text
            .trim()
            .parse()
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return;
        };
        let ours = fs::read(format!("/proc/{}/cmdline", pid.as_raw_nonzero()))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(self.marker));
        if ours {
            // ESRCH (it ended meanwhile) is fine.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

/// Writes an executable script.
pub fn script(path: &Path, body: &str) {
    fs::write(path, body).expect("write script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod script");
}

/// A command about to run.
#[must_use]
pub struct Run {
    pub cmd: Command,
}

/// A finished command.
#[derive(Debug)]
pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Done {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl Run {
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Run {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Run {
        self.cmd.env_remove(key);
        self
    }

    pub fn output(mut self) -> Done {
        self.cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("spawn inbox-exec");
        drop(child.stdin.take());
        let Output {
            status,
            stdout,
            stderr,
        } = child.wait_with_output().expect("wait");
        Done {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// The same command started through `wrapper` (a shell that sets a limit first, perl
    /// that ignores a signal): the wrapper's program and arguments, then ours, with our
    /// environment and working directory. The wrapper ends by exec'ing what follows it.
    pub fn through(self, wrapper: &[&str]) -> Command {
        let (program, args) = wrapper.split_first().expect("a wrapper program");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .arg(self.cmd.get_program())
            .args(self.cmd.get_args())
            .env_clear()
            .envs(self.cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .current_dir(
                self.cmd
                    .get_current_dir()
                    .expect("the harness sets a directory"),
            );
        cmd
    }

    /// Runs and asserts exit 0.
    pub fn ok(self) -> Done {
        self.code(0)
    }

    /// Runs and asserts the exit code.
    pub fn code(self, expected: i32) -> Done {
        let done = self.output();
        assert_eq!(
            done.code, expected,
            "exit code {} (expected {expected})\nstdout:\n{}\nstderr:\n{}",
            done.code, done.stdout, done.stderr
        );
        done
    }

    /// Runs, asserts exit 1 and that stderr mentions every fragment.
    pub fn fails_with(self, fragments: &[&str]) -> Done {
        let done = self.code(1);
        for f in fragments {
            assert!(
                done.stderr.contains(f),
                "stderr should mention {f:?}:\n{}",
                done.stderr
            );
        }
        done
    }
}

/// Asserts that a process the test started itself exited 0, showing what it printed if not.
pub fn assert_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The arguments of `draft new --kind KIND` with an empty target and payload.
pub fn draft_new_args(kind: &str) -> [&str; 8] {
    [
        "draft",
        "new",
        "--kind",
        kind,
        "--target",
        "{}",
        "--payload",
        "{}",
    ]
}

/// A program on the test process's PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}
