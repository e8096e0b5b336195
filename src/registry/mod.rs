//! The SQLite draft registry: the only module with SQL in it.
//!
//! One connection per process. Every write runs in a `BEGIN IMMEDIATE` transaction: a
//! deferred one that reads and then writes can fail with `SQLITE_BUSY_SNAPSHOT` under
//! concurrent writers, which `busy_timeout` does not retry. `synchronous=FULL` makes each
//! commit durable before it returns, which is what lets a claim stand before a side effect.

mod schema;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params,
};

use crate::draft::{Signed, SqlValue, StoredDraft};

/// The hot queries, named so the query-plan test checks exactly what runs.
mod sql {
    /// One draft by id.
    pub(super) const GET: &str = "SELECT rowid AS row_key, * FROM drafts WHERE draft_id = ?1";
    /// The executor's batch: drafts in a status, oldest first.
    /// The executor's batch, as rowids only: each row is read when its turn comes, so a
    /// batch of large drafts is never all in memory at once.
    pub(super) const BATCH_KEYS: &str =
        "SELECT rowid FROM drafts WHERE status = ?1 ORDER BY created_at, draft_id LIMIT ?2";
    /// One row by rowid.
    pub(super) const GET_ROW: &str = "SELECT rowid AS row_key, * FROM drafts WHERE rowid = ?1";
    pub(super) const BY_STATUS: &str = "SELECT rowid AS row_key, * FROM drafts WHERE status = ?1 ORDER BY created_at, draft_id LIMIT ?2";
    /// A draft's attempts.
    pub(super) const ATTEMPTS: &str =
        "SELECT kind, outcome, reason, executed_url, attempted_at FROM attempts
             WHERE draft_id = ?1 ORDER BY attempt_id";
    /// Claims since a moment (thermal rebuild).
    pub(super) const ACTIONS_SINCE: &str = "SELECT attempt_id, attempted_at FROM attempts
             WHERE kind = 'verify' AND attempted_at >= ?1 AND outcome = 'ok'";
    /// Drafts per status.
    pub(super) const COUNTS: &str = "SELECT status, count(*) FROM drafts GROUP BY status";
    /// The oldest approved draft.
    pub(super) const OLDEST_APPROVED: &str =
        "SELECT min(created_at) FROM drafts WHERE status = 'approved'";
    /// The newest attempt of any kind: the rowid maximum, a single b-tree descent.
    pub(super) const NEWEST_ATTEMPT: &str = "SELECT max(attempt_id) FROM attempts";
    /// Drafts in executing, with their claims and attempts.
    pub(super) const EXECUTING: &str = "SELECT d.draft_id, d.draft_kind, d.target_json,
                    COALESCE(c.claimed_at, d.updated_at) AS claimed_at,
                    c.pid, c.host, c.boot_id, c.process_start,
                    (SELECT count(*) FROM attempts a WHERE a.draft_id = d.draft_id),
                    (SELECT a.kind || ' ' || a.outcome FROM attempts a
                      WHERE a.draft_id = d.draft_id ORDER BY a.attempt_id DESC LIMIT 1),
                    EXISTS (SELECT 1 FROM stuck_alerts s WHERE s.draft_id = d.draft_id)
             FROM drafts d LEFT JOIN claims c ON c.draft_id = d.draft_id
             WHERE d.status = 'executing' AND COALESCE(c.claimed_at, d.updated_at) <= ?1
             ORDER BY claimed_at, d.draft_id";

    /// Every query above with sample parameters, for `EXPLAIN QUERY PLAN`.
    #[cfg(test)]
    pub(super) const ALL: &[(&str, &str)] = &[
        (GET, "GET"),
        (BY_STATUS, "BY_STATUS"),
        (BATCH_KEYS, "BATCH_KEYS"),
        (GET_ROW, "GET_ROW"),
        (ATTEMPTS, "ATTEMPTS"),
        (ACTIONS_SINCE, "ACTIONS_SINCE"),
        (COUNTS, "COUNTS"),
        (OLDEST_APPROVED, "OLDEST_APPROVED"),
        (NEWEST_ATTEMPT, "NEWEST_ATTEMPT"),
        (EXECUTING, "EXECUTING"),
    ];
}

use sql::{
    ACTIONS_SINCE, ATTEMPTS, BATCH_KEYS, BY_STATUS, COUNTS, EXECUTING, GET, GET_ROW,
    NEWEST_ATTEMPT, OLDEST_APPROVED,
};

/// The page cache, in KiB as SQLite's negative `cache_size` means it: each process lives for
/// one short command and reads each page about once (a miss is a `pread` from the OS's
/// cache), so a larger cache only adds to peak memory: a batch of 1,000 at a million drafts
/// fills 512 KiB (measured in BENCHMARKS.md).
const CACHE_KIB: i64 = -256;

/// How long a writer waits for another writer's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// SQLite's automatic checkpoint, in WAL pages, for our read-write connections: raised from
/// its 1,000 so that a cycle's commits are not interrupted by checkpoints (three fsyncs
/// each, one every ~60 drafts at a million drafts); the WAL is truncated once, when the
/// process closes the registry (see [`WAL_BOUND_WRITER`]). It still bounds the WAL of an
/// unusually long batch (~128 MiB).
const AUTOCHECKPOINT_PAGES: i64 = 32_768;

/// A process that wrote leaves the WAL as it is up to this size and truncates it with a
/// checkpoint beyond: a cycle's commits stay N + 1 fsyncs, and a large write (a migration,
/// a big batch) never leaves a WAL that every later process has to read while rebuilding
/// its index (~1 µs a page).
const WAL_BOUND_WRITER: u64 = 4 * 1024 * 1024;

/// A process that did not write truncates any WAL over this size (about 60 pages): the idle
/// runs that follow a write then open an empty WAL, whatever the history.
const WAL_BOUND_IDLE: u64 = 256 * 1024;

/// Errors opening or using the registry that callers branch on; the rest pass through as
/// SQLite errors.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry file does not exist and this command does not create it.
    #[error(
        "registry {0} does not exist: create it with `inbox-exec init`, or point --db at the right file"
    )]
    Missing(PathBuf),
    /// The file exists but is not a SQLite database; it was not modified.
    #[error("{0} is not a SQLite database (it was not modified): check --db or the config's `db`")]
    NotADatabase(PathBuf),
    /// A schema version newer than this program knows.
    #[error(
        "the registry was migrated by a newer program ({key} = {found}, this inbox-exec knows up to {known}): upgrade inbox-exec"
    )]
    NewerSchema {
        /// The `db_meta` key.
        key: String,
        /// The version found.
        found: usize,
        /// The newest version known here.
        known: usize,
    },
    /// A `db_meta` version that is not a number.
    #[error("db_meta {key} = {value:?} is not a version number")]
    BadMeta {
        /// The `db_meta` key.
        key: String,
        /// The value found.
        value: String,
    },
    /// Filesystem trouble around the database file.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The registry (or its -wal/-shm files or directory) cannot be written.
    #[error(
        "registry {path} is read-only or cannot be written: check the permissions of the file, its -wal and -shm files and its directory, and that the filesystem is mounted read-write"
    )]
    ReadOnly {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// Another process held the write lock past the busy timeout.
    #[error("registry {path} is locked: another process held its write lock for more than {}s; nothing was changed, run again", BUSY_TIMEOUT.as_secs())]
    Busy {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The disk is full.
    #[error("the disk holding registry {path} is full: free some space")]
    DiskFull {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// An error from SQLite.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl RegistryError {
    /// Names the file and the remedy for the SQLite errors an operator can act on.
    fn explained(self, path: &Path) -> RegistryError {
        use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, ReadOnly};
        let RegistryError::Sqlite(source) = self else {
            return self;
        };
        let path = path.to_owned();
        match source.sqlite_error_code() {
            Some(ReadOnly | CannotOpen) => RegistryError::ReadOnly { path, source },
            Some(DatabaseBusy | DatabaseLocked) => RegistryError::Busy { path, source },
            Some(DiskFull) => RegistryError::DiskFull { path, source },
            _ => RegistryError::Sqlite(source),
        }
    }
}

/// Draft statuses (DESIGN.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Signed and waiting for a human.
    Pending,
    /// Approved by a human; the executor will take it.
    Approved,
    /// Claimed by an executor; its side effect may be under way.
    Executing,
    /// Done.
    Completed,
    /// Refused at execute time or failed.
    CompletedWithError,
    /// Pending past its TTL.
    Expired,
    /// Cancelled while pending.
    Cancelled,
    /// Refused for good (a non-delegable kind) or settled so by a human.
    TerminalUnrecoverable,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 8] = [
        Status::Pending,
        Status::Approved,
        Status::Executing,
        Status::Completed,
        Status::CompletedWithError,
        Status::Expired,
        Status::Cancelled,
        Status::TerminalUnrecoverable,
    ];

    /// The word stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Executing => "executing",
            Status::Completed => "completed",
            Status::CompletedWithError => "completed_with_error",
            Status::Expired => "expired",
            Status::Cancelled => "cancelled",
            Status::TerminalUnrecoverable => "terminal_unrecoverable",
        }
    }

    /// The status a stored word names, if any.
    pub fn parse(word: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// Whether the move is one DESIGN.md §3 allows (reconcile's moves included).
    pub fn may_become(self, to: Status) -> bool {
        use Status::{
            Approved, Cancelled, Completed, CompletedWithError, Executing, Expired, Pending,
            TerminalUnrecoverable,
        };
        matches!(
            (self, to),
            (Pending, Approved | Expired | Cancelled)
                | (
                    Approved,
                    Executing | CompletedWithError | TerminalUnrecoverable
                )
                | (
                    Executing,
                    Completed | CompletedWithError | TerminalUnrecoverable
                )
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `attempts.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    /// A verification at execute time.
    Verify,
    /// A dispatch.
    Execute,
    /// A human's decision through `reconcile`.
    Reconcile,
}

impl AttemptKind {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptKind::Verify => "verify",
            AttemptKind::Execute => "execute",
            AttemptKind::Reconcile => "reconcile",
        }
    }
}

/// `attempts.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// It worked.
    Ok,
    /// It did not.
    Failed,
    /// It was not tried.
    Skipped,
}

impl AttemptOutcome {
    /// The stored word.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Skipped => "skipped",
        }
    }
}

/// One `drafts` row, read leniently: a malformed row still loads, and its verdict says why.
#[derive(Debug, Clone)]
pub struct DraftRow {
    /// SQLite's rowid: the one handle on a row whose `draft_id` is not usable text.
    pub rowid: i64,
    /// The draft id as text (for display and lookups).
    pub id: String,
    /// The signed columns, storage classes preserved.
    pub signed: StoredDraft,
    /// The `status` column as stored.
    pub status: String,
    /// `led_ref`.
    pub led_ref: Option<String>,
    /// `approval_subject`.
    pub approval_subject: Option<String>,
    /// `executed_url`.
    pub executed_url: Option<String>,
    /// `last_error`.
    pub last_error: Option<String>,
    /// `created_at`.
    pub created_at: Option<i64>,
    /// `updated_at`.
    pub updated_at: Option<i64>,
    /// `completed_at`.
    pub completed_at: Option<i64>,
}

impl DraftRow {
    /// The kind as text, for display (a non-text kind shows as its value).
    pub fn kind(&self) -> String {
        self.signed.draft_kind.to_string()
    }
}

/// One `attempts` row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    /// `verify`, `execute` or `reconcile`.
    pub kind: String,
    /// `ok`, `failed` or `skipped`.
    pub outcome: String,
    /// Why, when there is a reason.
    pub reason: Option<String>,
    /// The URL the action produced.
    pub executed_url: Option<String>,
    /// Unix seconds.
    pub attempted_at: i64,
}

/// What a status move writes besides the status (the reference's `transition` fields).
#[derive(Debug, Default, Clone)]
pub struct MoveFields<'a> {
    /// Sets `executed_url` when given.
    pub executed_url: Option<&'a str>,
    /// Sets `last_error` when given.
    pub last_error: Option<&'a str>,
    /// Sets `completed_at` to now.
    pub completed: bool,
}

/// Whether `open` may create the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file (and its directory) when missing.
    Create,
    /// The file must exist.
    Existing,
    /// The file must exist, and nothing is written: no journal switch, no migration. For
    /// `verify`, `show` and `run --dry-run`, which read only the reference's own tables.
    ReadOnly,
}

/// An open registry: one connection, migrated.
#[derive(Debug)]
pub struct Registry {
    conn: Connection,
    path: PathBuf,
    /// False for [`OpenMode::ReadOnly`]: such a connection never checkpoints.
    writable: bool,
}

impl Drop for Registry {
    /// Bounds the WAL the next process will find: every process opens the WAL index afresh
    /// (a `-shm` left by an exited process is not trusted) by reading each WAL frame, so a
    /// large WAL would cost every later start, forever. Never waits: a reader holding the
    /// WAL leaves it for the next process.
    fn drop(&mut self) {
        if !self.writable {
            return;
        }
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let Ok(size) = fs::metadata(&wal).map(|m| m.len()) else {
            return;
        };
        let bound = if self.conn.total_changes() > 0 {
            WAL_BOUND_WRITER
        } else {
            WAL_BOUND_IDLE
        };
        if size <= bound {
            return;
        }
        let checkpoint = self.conn.busy_timeout(Duration::ZERO).and_then(|()| {
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                })
        });
        match checkpoint {
            Ok(0) => log::debug!("truncated a WAL of {size} bytes"),
            Ok(_) => log::debug!("WAL of {size} bytes left: another connection is using it"),
            Err(e) => log::debug!("WAL of {size} bytes left: {e}"),
        }
    }
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

impl Registry {
    /// Opens (or, with [`OpenMode::Create`], creates) the registry at `path`, sets the
    /// connection pragmas and applies pending migrations once.
    pub fn open(path: &Path, mode: OpenMode) -> Result<Registry, RegistryError> {
        Registry::open_inner(path, mode).map_err(|e| e.explained(path))
    }

    fn open_inner(path: &Path, mode: OpenMode) -> Result<Registry, RegistryError> {
        let io_err = |source: io::Error| RegistryError::Io {
            path: path.to_owned(),
            source,
        };
        match File::open(path) {
            Ok(mut file) => {
                // Look before SQLite does: it would happily start a new database in an empty
                // file, and a truncated registry must be reported, not silently replaced.
                let mut magic = [0u8; 16];
                let looks_right = file.read_exact(&mut magic).is_ok() && &magic == SQLITE_MAGIC;
                if !looks_right {
                    return Err(RegistryError::NotADatabase(path.to_owned()));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if mode != OpenMode::Create {
                    return Err(RegistryError::Missing(path.to_owned()));
                }
                log::warn!("created a new, empty registry {}", path.display());
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                        .map_err(io_err)?;
                }
                // Created here with 0600 so SQLite, which copies the database's mode onto its
                // -wal and -shm files, never makes the drafts readable by others.
                match OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
            Err(e) => return Err(io_err(e)),
        }
        if mode == OpenMode::ReadOnly {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "cache_size", CACHE_KIB)?;
            // Only the checks: a read-only look must not even add our own index.
            schema::check(&conn)?;
            return Ok(Registry {
                conn,
                path: path.to_owned(),
                writable: false,
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let journal: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(RegistryError::Io {
                path: path.to_owned(),
                source: io::Error::other(format!(
                    "cannot switch the journal to WAL (got {journal}); is the file on a network filesystem?"
                )),
            });
        }
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "cache_size", CACHE_KIB)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // A checkpoint on close costs every short-lived process (each run is one) two or three
        // fsyncs for nothing; `Drop` checkpoints only a WAL that has grown past a bound.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )?;
        conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)?;
        schema::migrate(&mut conn)?;
        Ok(Registry {
            conn,
            path: path.to_owned(),
            writable: true,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed (durably) when `f` succeeds.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&Writer<'_>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let path = self.path.clone();
        let run = || {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&Writer { tx: &tx })?;
            tx.commit()?;
            Ok(out)
        };
        run().map_err(|e: RegistryError| e.explained(&path))
    }

    /// One draft by id.
    pub fn get(&self, id: &str) -> Result<Option<DraftRow>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(GET)?;
        Ok(stmt.query_row([id], read_draft).optional()?)
    }

    /// Rowids of drafts in `status`, oldest first, at most `limit`.
    pub fn batch_keys(&self, status: Status, limit: usize) -> Result<Vec<i64>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(BATCH_KEYS)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![status.as_str(), limit], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One draft by rowid (gone: `None`).
    pub fn get_row(&self, rowid: i64) -> Result<Option<DraftRow>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(GET_ROW)?;
        Ok(stmt.query_row([rowid], read_draft).optional()?)
    }

    /// Drafts in `status`, oldest first (by `created_at`, then id), at most `limit`.
    pub fn by_status(&self, status: Status, limit: usize) -> Result<Vec<DraftRow>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(BY_STATUS)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![status.as_str(), limit], read_draft)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every draft, oldest first.
    pub fn all(&self) -> Result<Vec<DraftRow>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rowid AS row_key, * FROM drafts ORDER BY created_at, draft_id",
        )?;
        let rows = stmt.query_map([], read_draft)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A draft's attempts, in order.
    pub fn attempts(&self, id: &str) -> Result<Vec<Attempt>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(ATTEMPTS)?;
        let rows = stmt.query_map([id], |r| {
            Ok(Attempt {
                kind: r.get(0)?,
                outcome: r.get(1)?,
                reason: r.get(2)?,
                executed_url: r.get(3)?,
                attempted_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Claims at or after `since`, as `(attempt_id, attempted_at)`: the durable record the
    /// thermal window is rebuilt from. A claim's `verify ok` attempt commits before its side
    /// effect, while the outcome may never be recorded (a crash mid-dispatch), so counting
    /// claims cannot undercount what reached a handler.
    pub fn actions_since(&self, since: i64) -> Result<Vec<(i64, i64)>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(ACTIONS_SINCE)?;
        let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Drafts in `executing` claimed at or before `claimed_before`, oldest claim first, with
    /// who claimed them and their attempts. Rows claimed by the reference have no claim
    /// record; their claim time is `updated_at`.
    pub fn executing(&self, claimed_before: i64) -> Result<Vec<Executing>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(EXECUTING)?;
        let rows = stmt.query_map([claimed_before], |r| {
            let claimer = match r.get::<_, Option<i64>>(4)? {
                Some(pid) => Some(Claimer {
                    pid: u32::try_from(pid).unwrap_or(0),
                    host: r.get::<_, Option<String>>(5)?.unwrap_or_default(),
                    boot_id: r.get(6)?,
                    process_start: r.get(7)?,
                }),
                None => None,
            };
            Ok(Executing {
                id: sql_value(r.get_ref(0)?).to_string(),
                kind: sql_value(r.get_ref(1)?).to_string(),
                target: sql_value(r.get_ref(2)?).to_string(),
                claimed_at: sql_value(r.get_ref(3)?).as_integral().unwrap_or(0),
                claimer,
                attempts: r.get(8)?,
                last_attempt: r.get(9)?,
                alerted: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many drafts are in each status (statuses with none are left out).
    pub fn counts(&self) -> Result<Vec<(String, i64)>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(COUNTS)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the oldest approved draft was created.
    pub fn oldest_approved(&self) -> Result<Option<i64>, RegistryError> {
        // Read leniently: a row written by other tools may hold text here.
        Ok(self.conn.query_row(OLDEST_APPROVED, [], |r| {
            Ok(sql_value(r.get_ref(0)?).as_integral())
        })?)
    }

    /// The newest attempt's id, if any: what the thermal sidecar records as its high-water
    /// mark, so a sidecar saved before the newest attempt is known to be behind.
    pub fn newest_attempt(&self) -> Result<Option<i64>, RegistryError> {
        Ok(self.conn.query_row(NEWEST_ATTEMPT, [], |r| r.get(0))?)
    }
}

/// Writes inside one transaction of [`Registry::write`].
pub struct Writer<'a> {
    tx: &'a Transaction<'a>,
}

impl Writer<'_> {
    /// Inserts a freshly signed draft as `pending`.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_draft(
        &self,
        signed: &Signed,
        kind: &str,
        issued_at: i64,
        key_version: u32,
        led_ref: Option<&str>,
        now: i64,
    ) -> Result<(), RegistryError> {
        self.tx.execute(
            "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
                 key_version, schema_version, content_hash, signature, status, led_ref,
                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
            params![
                signed.draft_id,
                kind,
                signed.target_json,
                signed.payload_json,
                issued_at,
                key_version,
                crate::draft::SCHEMA_VERSION,
                signed.content_hash,
                signed.signature,
                Status::Pending.as_str(),
                led_ref,
                now,
            ],
        )?;
        Ok(())
    }

    /// Moves a draft `from` → `to` when it is in `from`; true when exactly one row changed.
    /// Fields are written as the reference's `transition` writes them (`COALESCE`: a `None`
    /// keeps the stored value).
    pub fn transition(
        &self,
        id: &str,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError> {
        self.transition_where("draft_id", &id, from, to, fields, now)
    }

    /// [`Writer::transition`] by rowid: for a row whose `draft_id` is NULL, a BLOB or not
    /// valid text, which `WHERE draft_id = ?` can never match. Such a row must still be
    /// ended, or it would sit at the head of the queue for ever.
    pub fn transition_row(
        &self,
        rowid: i64,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError> {
        self.transition_where("rowid", &rowid, from, to, fields, now)
    }

    fn transition_where(
        &self,
        column: &str,
        key: &dyn rusqlite::ToSql,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError> {
        debug_assert!(from.may_become(to), "illegal move {from} -> {to}");
        let changed = self.tx.execute(
            &format!(
                "UPDATE drafts SET
                     status       = ?1,
                     executed_url = COALESCE(?2, executed_url),
                     last_error   = COALESCE(?3, last_error),
                     completed_at = CASE WHEN ?4 THEN ?5 ELSE completed_at END,
                     updated_at   = ?5
                 WHERE {column} = ?6 AND status = ?7"
            ),
            params![
                to.as_str(),
                fields.executed_url,
                fields.last_error,
                fields.completed,
                now,
                key,
                from.as_str()
            ],
        )?;
        Ok(changed == 1)
    }

    /// Appends an attempt; returns its `attempt_id`.
    pub fn record_attempt(
        &self,
        id: &str,
        kind: AttemptKind,
        outcome: AttemptOutcome,
        reason: Option<&str>,
        executed_url: Option<&str>,
        now: i64,
    ) -> Result<i64, RegistryError> {
        self.tx.execute(
            "INSERT INTO attempts (draft_id, kind, outcome, reason, executed_url, attempted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                kind.as_str(),
                outcome.as_str(),
                reason,
                executed_url,
                now
            ],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Records who claimed a draft.
    pub fn record_claim(&self, id: &str, claimer: &Claimer, now: i64) -> Result<(), RegistryError> {
        self.tx.execute(
            "INSERT OR REPLACE INTO claims (draft_id, claimed_at, pid, host, boot_id, process_start)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, now, claimer.pid, claimer.host, claimer.boot_id, claimer.process_start],
        )?;
        Ok(())
    }

    /// Remembers that `run` alerted about a stuck draft.
    pub fn mark_stuck_alerted(&self, id: &str, now: i64) -> Result<(), RegistryError> {
        self.tx.execute(
            "INSERT OR IGNORE INTO stuck_alerts (draft_id, alerted_at) VALUES (?1, ?2)",
            params![id, now],
        )?;
        Ok(())
    }

    /// Moves pending drafts issued before `cutoff` to `expired`; returns how many.
    pub fn expire_pending(&self, cutoff: i64, now: i64) -> Result<usize, RegistryError> {
        Ok(self.tx.execute(
            "UPDATE drafts SET status = 'expired', updated_at = ?1
             WHERE status = 'pending' AND issued_at < ?2",
            params![now, cutoff],
        )?)
    }
}

/// A draft in `executing`, as `reconcile` and `status` show it.
#[derive(Debug, Clone)]
pub struct Executing {
    /// The draft.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its stored target JSON.
    pub target: String,
    /// When it was claimed (`updated_at` for rows claimed by the reference).
    pub claimed_at: i64,
    /// Who claimed it, when recorded.
    pub claimer: Option<Claimer>,
    /// How many attempts it has.
    pub attempts: i64,
    /// The last attempt's kind and outcome, e.g. `verify ok`.
    pub last_attempt: Option<String>,
    /// Whether `run` has alerted about it.
    pub alerted: bool,
}

/// The process that claims drafts: enough to tell later whether it is still alive.
#[derive(Debug, Clone)]
pub struct Claimer {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// `/proc/sys/kernel/random/boot_id`, when readable: a pid means nothing across boots.
    pub boot_id: Option<String>,
    /// The process start time in clock ticks since boot (`/proc/self/stat` field 22): a pid
    /// can be reused, the pair cannot.
    pub process_start: Option<i64>,
}

fn sql_value(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(r) => SqlValue::Real(r),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => SqlValue::Text(s.to_owned()),
            Err(_) => SqlValue::BadText(t.to_vec()),
        },
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

fn text(row: &Row<'_>, name: &str) -> rusqlite::Result<Option<String>> {
    Ok(match sql_value(row.get_ref(name)?) {
        SqlValue::Null => None,
        SqlValue::Text(s) => Some(s),
        other => Some(other.to_string()),
    })
}

fn integer(row: &Row<'_>, name: &str) -> rusqlite::Result<Option<i64>> {
    Ok(sql_value(row.get_ref(name)?).as_integral())
}

fn read_draft(row: &Row<'_>) -> rusqlite::Result<DraftRow> {
    let col = |name: &str| row.get_ref(name).map(sql_value);
    let signed = StoredDraft {
        draft_id: col("draft_id")?,
        draft_kind: col("draft_kind")?,
        target_json: col("target_json")?,
        payload_json: col("payload_json")?,
        issued_at: col("issued_at")?,
        key_version: col("key_version")?,
        schema_version: col("schema_version")?,
        content_hash: col("content_hash")?,
        signature: col("signature")?,
    };
    Ok(DraftRow {
        rowid: row.get("row_key")?,
        id: match &signed.draft_id {
            SqlValue::Text(s) => s.clone(),
            other => other.to_string(),
        },
        status: text(row, "status")?.unwrap_or_default(),
        led_ref: text(row, "led_ref")?,
        approval_subject: text(row, "approval_subject")?,
        executed_url: text(row, "executed_url")?,
        last_error: text(row, "last_error")?,
        created_at: integer(row, "created_at")?,
        updated_at: integer(row, "updated_at")?,
        completed_at: integer(row, "completed_at")?,
        signed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No hot query may walk a whole table: on a registry of a million drafts that is the
    /// difference between a millisecond and a second.
    #[test]
    fn hot_queries_use_indexes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = Registry::open(&dir.path().join("r.db"), OpenMode::Create).expect("open");
        for (query, name) in sql::ALL {
            let mut stmt = registry
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {query}"))
                .expect("explain");
            let params = stmt.parameter_count();
            let values: Vec<rusqlite::types::Value> = (0..params)
                .map(|_| rusqlite::types::Value::Integer(1))
                .collect();
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(values), |r| {
                    r.get::<_, String>(3)
                })
                .expect("plan")
                .collect::<Result<_, _>>()
                .expect("plan rows");
            for step in &plan {
                // COUNTS walks the status index (a covering index), never the table.
                let full_scan = step.starts_with("SCAN ") && !step.contains("USING");
                assert!(!full_scan, "{name} scans a table: {plan:?}");
                // Sorting every matching row to keep one is a scan in disguise.
                let sorts_all = step.contains("TEMP B-TREE") && *name != "EXECUTING";
                assert!(!sorts_all, "{name} sorts its rows: {plan:?}");
            }
        }
    }

    #[test]
    fn legal_moves_are_the_designs() {
        assert!(Status::Pending.may_become(Status::Approved));
        assert!(Status::Approved.may_become(Status::Executing));
        assert!(Status::Executing.may_become(Status::TerminalUnrecoverable));
        assert!(!Status::Executing.may_become(Status::Approved));
        assert!(!Status::Completed.may_become(Status::Approved));
        assert!(!Status::Approved.may_become(Status::Pending));
    }
}
