//! A small builder around the real binary, one temp directory per test.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_inbox-exec");

/// A scratch world: a home directory, a registry path, a key path, a state dir.
pub struct World {
    pub dir: TempDir,
    pub home: PathBuf,
    pub db: PathBuf,
    pub key: PathBuf,
    pub state: PathBuf,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_owned();
        let home = root.join("home");
        fs::create_dir_all(&home).expect("home");
        World {
            home,
            db: root.join("drafts.db"),
            key: root.join("hmac.key"),
            state: root.join("state"),
            dir,
        }
    }

    /// A world with a key and an initialised registry.
    pub fn ready() -> World {
        let w = World::new();
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
        cmd.env("INBOX_EXEC_DB", &self.db)
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

    /// Runs SQL against the registry with the system's sqlite3 semantics, through rusqlite.
    pub fn sql(&self, sql: &str) {
        let conn = rusqlite::Connection::open(&self.db).expect("open registry");
        conn.execute_batch(sql).expect("sql");
    }

    /// One string column of one row.
    pub fn query(&self, sql: &str) -> String {
        let conn = rusqlite::Connection::open(&self.db).expect("open registry");
        conn.query_row(sql, [], |r| {
            let v: rusqlite::types::Value = r.get(0)?;
            Ok(match v {
                rusqlite::types::Value::Null => "NULL".to_owned(),
                rusqlite::types::Value::Integer(i) => i.to_string(),
                rusqlite::types::Value::Real(f) => f.to_string(),
                rusqlite::types::Value::Text(t) => t,
                rusqlite::types::Value::Blob(b) => format!("{b:?}"),
            })
        })
        .expect("query")
    }

    /// Every row of the registry's tables, as text: for "nothing changed" assertions.
    pub fn dump(&self) -> String {
        let conn = rusqlite::Connection::open(&self.db).expect("open registry");
        let mut out = String::new();
        for table in ["drafts", "attempts", "claims", "db_meta"] {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
                .expect("prepare dump");
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).expect("dump query");
            while let Some(row) = rows.next().expect("dump row") {
                out.push_str(table);
                for i in 0..columns {
                    let v: rusqlite::types::Value = row.get(i).expect("dump value");
                    out.push_str(&format!("|{v:?}"));
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
