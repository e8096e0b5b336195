//! The SQLite backend of the registry (DESIGN.md §3): single-host, byte-compatible with the
//! reference's database.
//!
//! One connection per process. Every write runs in a `BEGIN IMMEDIATE` transaction: a
//! deferred one that reads and then writes can fail with `SQLITE_BUSY_SNAPSHOT` under
//! concurrent writers, which `busy_timeout` does not retry. `synchronous=FULL` makes each
//! commit durable before it returns, which is what lets a claim stand before a side effect.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::ops::ControlFlow;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use super::{
    AlertsWaiting, Attempt, AttemptKind, AttemptOutcome, BUSY_TIMEOUT, Claimer, DraftRow,
    Executing, KeyRepr, MoveFields, OpenMode, OutboxAlert, RecordedAction, Registry, RegistryError,
    RowKey, Status, Transaction, schema,
};
use crate::draft::{Signed, SqlValue, StoredDraft};
use crate::fsutil::{self, Links, OpenError};

/// The hot queries, named so the query-plan test checks exactly what runs.
mod sql {
    /// One draft by id.
    pub(super) const GET: &str = "SELECT rowid AS row_key, * FROM drafts WHERE draft_id = ?1";
    /// The executor's batch, as rowids only: each row is read when its turn comes, so a
    /// batch of large drafts is never all in memory at once.
    pub(super) const BATCH_KEYS: &str =
        "SELECT rowid FROM drafts WHERE status = ?1 ORDER BY created_at, draft_id LIMIT ?2";
    /// One row by rowid.
    pub(super) const GET_ROW: &str = "SELECT rowid AS row_key, * FROM drafts WHERE rowid = ?1";
    /// Drafts in a status, oldest first (`verify`, one row at a time).
    pub(super) const BY_STATUS: &str =
        "SELECT rowid AS row_key, * FROM drafts WHERE status = ?1 ORDER BY created_at, draft_id";
    /// Every draft, in the order they were stored (`verify --all`: it reads the whole table
    /// by definition). Table order, not `created_at`: no index leads with `created_at`, and
    /// sorting a million drafts wrote ~420 MB of temporary files.
    pub(super) const ALL_DRAFTS: &str = "SELECT rowid AS row_key, * FROM drafts ORDER BY rowid";
    /// A draft's attempts.
    pub(super) const ATTEMPTS: &str =
        "SELECT kind, outcome, reason, executed_url, attempted_at FROM attempts
             WHERE draft_id = ?1 ORDER BY attempt_id";
    /// Actions since a moment (the thermal window): our claims (a `verify ok` attempt of a
    /// draft with a claim record; the reference writes `verify ok` also for drafts it then
    /// refuses) and dispatches (`execute` ok or failed, all the reference records of one).
    pub(super) const ACTIONS_SINCE: &str = "SELECT attempt_id, draft_id, attempted_at FROM attempts
             WHERE kind = 'execute' AND attempted_at >= ?1 AND outcome IN ('ok', 'failed')
         UNION ALL
         SELECT a.attempt_id, a.draft_id, a.attempted_at FROM attempts a
             WHERE a.kind = 'verify' AND a.attempted_at >= ?1 AND a.outcome = 'ok'
               AND EXISTS (SELECT 1 FROM claims c WHERE c.draft_id = a.draft_id)";
    /// Drafts per status.
    pub(super) const COUNTS: &str = "SELECT status, count(*) FROM drafts GROUP BY status";
    /// The oldest approved draft.
    pub(super) const OLDEST_APPROVED: &str =
        "SELECT min(created_at) FROM drafts WHERE status = 'approved'";
    /// Whether any draft is in executing: one probe of the status index, so a cycle with
    /// none (nearly every cycle) does not prepare [`EXECUTING`], the costliest statement to
    /// compile on the idle path.
    pub(super) const ANY_EXECUTING: &str =
        "SELECT 1 FROM drafts WHERE status = 'executing' LIMIT 1";
    /// Drafts in executing, with their claims and attempts.
    pub(super) const EXECUTING: &str = "SELECT d.draft_id, d.draft_kind, d.target_json,
                    COALESCE(c.claimed_at, d.updated_at) AS claimed_at,
                    c.pid, c.host, c.boot_id, c.process_start,
                    (SELECT count(*) FROM attempts a WHERE a.draft_id = d.draft_id),
                    (SELECT a.kind || ' ' || a.outcome FROM attempts a
                      WHERE a.draft_id = d.draft_id ORDER BY a.attempt_id DESC LIMIT 1),
                    EXISTS (SELECT 1 FROM stuck_alerts s WHERE s.draft_id = d.draft_id),
                    d.rowid
             FROM drafts d LEFT JOIN claims c ON c.draft_id = d.draft_id
             WHERE d.status = 'executing' AND COALESCE(c.claimed_at, d.updated_at) <= ?1
             ORDER BY claimed_at, d.draft_id";
    /// Alerts due for a try, oldest first (through the index of waiting alerts only).
    pub(super) const ALERTS_DUE: &str = "SELECT id, subject, body, draft_id, tries
             FROM alert_outbox
             WHERE delivered_at IS NULL AND next_try_at <= ?1 ORDER BY id LIMIT ?2";
    /// The alerts waiting: how many, and since when.
    pub(super) const ALERTS_WAITING: &str =
        "SELECT count(*), min(created_at) FROM alert_outbox WHERE delivered_at IS NULL";
    /// The error of the latest failed try among the alerts waiting. With a single max(),
    /// SQLite takes the bare column from the row holding the maximum.
    pub(super) const ALERTS_LAST_ERROR: &str = "SELECT last_error, max(last_try_at)
             FROM alert_outbox WHERE delivered_at IS NULL AND last_error IS NOT NULL";

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
        (ANY_EXECUTING, "ANY_EXECUTING"),
        (EXECUTING, "EXECUTING"),
        (ALERTS_DUE, "ALERTS_DUE"),
        (ALERTS_WAITING, "ALERTS_WAITING"),
        (ALERTS_LAST_ERROR, "ALERTS_LAST_ERROR"),
    ];
}

use sql::{
    ACTIONS_SINCE, ALERTS_DUE, ALERTS_LAST_ERROR, ALERTS_WAITING, ALL_DRAFTS, ANY_EXECUTING,
    ATTEMPTS, BATCH_KEYS, BY_STATUS, COUNTS, EXECUTING, GET, GET_ROW, OLDEST_APPROVED,
};

/// The page cache, in KiB as SQLite's negative `cache_size` means it: each process lives for
/// one short command and reads each page about once (a miss is a `pread` from the OS's
/// cache), so a larger cache only adds to peak memory: a batch of 1,000 at a million drafts
/// fills 512 KiB (measured in BENCHMARKS.md).
const CACHE_KIB: i64 = -256;

/// Compiled statements kept per connection: every statement a cycle runs (about twenty,
/// each a few KiB), so none is compiled twice in one process.
const STATEMENT_CACHE: usize = 32;

/// SQLite's automatic checkpoint, in WAL pages, for our read-write connections: raised from
/// its 1,000 so that a cycle's commits are not interrupted by checkpoints (three fsyncs
/// each, one every ~60 drafts at a million drafts); the WAL is bounded once, when the
/// process closes the registry (truncated past [`WAL_BOUND_CYCLE`], or restarted past
/// [`WAL_BOUND`] by a command that wrote). It still bounds the WAL of an unusually long
/// batch (~128 MiB).
const AUTOCHECKPOINT_PAGES: i64 = 32_768;

/// A cycle ([`Registry::cycle_writer`]) leaves up to this much of WAL for the next process,
/// as does a command that wrote nothing, and truncates it with a checkpoint beyond: a
/// cycle's commits stay N + 1 fsyncs, and a large write (a big batch) never leaves a WAL that
/// every later process has to read while rebuilding its index (~1 µs a page).
const WAL_BOUND_CYCLE: u64 = 4 * 1024 * 1024;

/// A command that wrote (a draft, an approval, a migration: one at a time, where a
/// checkpoint's fsyncs cost nothing anyone waits for) leaves at most this much (about 60
/// pages): the cycle after it, and the processes between, read a short WAL whatever the
/// history.
const WAL_BOUND: u64 = 256 * 1024;

/// The WAL file's size that a restarted WAL keeps (`journal_size_limit`): the space the
/// next writers overwrite instead of growing the file. A commit that overwrites costs its
/// fsync about half what one that appends does, which writes the file's size and block map
/// too (0.13 against 0.23 ms on the benchmark machine, BENCHMARKS.md).
const WAL_KEEP: u64 = WAL_BOUND_CYCLE;

/// The WAL's frame header, before each page.
const WAL_FRAME_HEADER: u64 = 24;

/// The WAL's file header.
const WAL_HEADER: u64 = 32;

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

/// An open SQLite registry: one connection, migrated.
#[derive(Debug)]
pub(super) struct Sqlite {
    conn: Connection,
    path: PathBuf,
    /// False for [`OpenMode::ReadOnly`]: such a connection never checkpoints.
    writable: bool,
    /// Set by [`Registry::cycle_writer`]: the WAL may be left up to [`WAL_BOUND_CYCLE`].
    cycle: bool,
}

impl Drop for Sqlite {
    /// Bounds the WAL the next process will find: every process opens the WAL index afresh
    /// (a `-shm` left by an exited process is not trusted) by reading each of the WAL's
    /// frames, so a WAL that holds many would cost every later start, forever. Never waits:
    /// a reader holding the WAL leaves it for the next process.
    fn drop(&mut self) {
        if !self.writable {
            return;
        }
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let Ok(size) = fs::metadata(&wal).map(|m| m.len()) else {
            return;
        };
        // A command that wrote keeps the WAL short for the cycle after it; anything else (a
        // cycle, or a command that only read, such as the `status` a monitor runs after each
        // cycle) leaves a cycle's WAL for the next command to restart, and truncates only
        // more than a cycle keeps (left by another program or a killed process).
        let restarts = self.conn.total_changes() > 0 && !self.cycle;
        let bound = if restarts { WAL_BOUND } else { WAL_BOUND_CYCLE };
        // The frames a new process reads lie within the file; a restarted WAL holds fewer
        // than its size, so the file's size alone only says when there is nothing to do.
        if size <= bound {
            return;
        }
        let held = match self.wal_held() {
            Ok(held) if held <= bound => return,
            Ok(held) => held,
            Err(e) => {
                log::debug!("WAL of {size} bytes left: {e}");
                return;
            }
        };
        let _ = self.conn.busy_timeout(std::time::Duration::ZERO);
        // A command restarts the WAL, keeping the file for the cycle to overwrite; the rest
        // truncate (two fsyncs, where restarting takes four: a batch's fsyncs stay N + 5).
        let done = if restarts {
            self.restart_wal()
        } else {
            self.truncate_wal()
        };
        match done {
            Ok(true) => log::debug!("checkpointed a WAL holding {held} bytes"),
            Ok(false) => log::debug!("WAL of {held} bytes left: another connection is using it"),
            Err(e) => log::debug!("WAL of {held} bytes left: {e}"),
        }
    }
}

impl Sqlite {
    /// The bytes of WAL a new process would read: the frames it holds (SQLite's count, as a
    /// checkpoint that does no work reports it), not the file's size.
    fn wal_held(&self) -> rusqlite::Result<u64> {
        let frames: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(NOOP)", [], |r| r.get(1))?;
        let page: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let frames = u64::try_from(frames).unwrap_or(0);
        let page = u64::try_from(page).unwrap_or(0);
        Ok(WAL_HEADER + frames * (page + WAL_FRAME_HEADER))
    }

    /// Copies the WAL into the database and empties the file: the next writer appends
    /// from its start. False when a reader kept it from finishing.
    fn truncate_wal(&self) -> rusqlite::Result<bool> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        Ok(busy == 0)
    }

    /// Copies the WAL into the database and starts it again at its beginning, keeping the
    /// file (up to [`WAL_KEEP`]) for the next writers to overwrite. SQLite restarts a WAL
    /// at the first write after a complete checkpoint, and only in the process that
    /// checkpointed (a new one rebuilds the WAL index with nothing marked copied), so one
    /// write follows: the schema's user version set to itself (read and set in one
    /// transaction, so a value another program sets meanwhile is never overwritten), which
    /// nothing reads, the reference included. The WAL then holds that one frame. False when
    /// a reader kept the checkpoint from finishing.
    fn restart_wal(&mut self) -> rusqlite::Result<bool> {
        let (busy, frames, copied): (i64, i64, i64) =
            self.conn
                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
        if busy != 0 || copied < frames {
            return Ok(false);
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
        tx.commit()?;
        Ok(true)
    }
}

const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

impl Sqlite {
    /// Opens (or, with [`OpenMode::Create`], creates) the registry at `path`, sets the
    /// connection pragmas and applies pending migrations once.
    pub(super) fn open(path: &Path, mode: OpenMode) -> Result<Sqlite, RegistryError> {
        Sqlite::open_inner(path, mode).map_err(|e| e.explained(path))
    }

    fn open_inner(path: &Path, mode: OpenMode) -> Result<Sqlite, RegistryError> {
        let io_err = |source: io::Error| RegistryError::Io {
            path: path.to_owned(),
            source,
        };
        // Every file SQLite will open must be a regular file: a FIFO would block its open
        // for ever, a directory or socket fails with an opaque "disk I/O error".
        for companion in ["-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(companion);
            fsutil::check_regular(Path::new(&name), Links::Follow)?;
        }
        match fsutil::open_regular(path, Links::Follow) {
            Ok((mut file, meta)) => {
                // SQLite names its WAL and locks after the path, so a second name is a second,
                // unlocked view of the same database: two runs would execute drafts twice.
                if meta.nlink() > 1 {
                    return Err(RegistryError::HardLinked {
                        path: path.to_owned(),
                        links: meta.nlink(),
                    });
                }
                // Look before SQLite does: it would happily start a new database in an empty
                // file, and a truncated registry must be reported, not silently replaced.
                let mut magic = [0u8; 16];
                let looks_right = file.read_exact(&mut magic).is_ok() && &magic == SQLITE_MAGIC;
                if !looks_right {
                    return Err(RegistryError::NotADatabase(path.to_owned()));
                }
            }
            Err(OpenError::Missing(_)) => {
                if mode != OpenMode::Create {
                    return Err(RegistryError::Missing(path.to_owned()));
                }
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
            Err(e) => return Err(e.into()),
        }
        if mode == OpenMode::ReadOnly {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags)?;
            conn.busy_timeout(BUSY_TIMEOUT)?;
            conn.pragma_update(None, "cache_size", CACHE_KIB)?;
            // Only the checks: a read-only look must not even add our own index.
            schema::check(&conn)?;
            return Ok(Sqlite {
                conn,
                path: path.to_owned(),
                writable: false,
                cycle: false,
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
        conn.pragma_update(None, "journal_size_limit", WAL_KEEP.to_string())?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        schema::migrate(&mut conn)?;
        Ok(Sqlite {
            conn,
            path: path.to_owned(),
            writable: true,
            cycle: false,
        })
    }
}

impl Registry for Sqlite {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn cycle_writer(&mut self) {
        self.cycle = true;
    }

    fn get(&mut self, id: &str) -> Result<Option<DraftRow>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(GET)?;
        Ok(stmt.query_row([id], read_draft).optional()?)
    }

    fn get_row(&mut self, key: &RowKey) -> Result<Option<DraftRow>, RegistryError> {
        get_row(&self.conn, key)
    }

    fn batch_keys(&mut self, status: Status, limit: usize) -> Result<Vec<RowKey>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(BATCH_KEYS)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![status.as_str(), limit], |r| {
            r.get(0).map(|k| RowKey(KeyRepr::Rowid(k)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn for_each(
        &mut self,
        status: Option<Status>,
        visit: &mut dyn FnMut(DraftRow) -> ControlFlow<()>,
    ) -> Result<(), RegistryError> {
        let (mut stmt, params) = match status {
            Some(status) => (self.conn.prepare_cached(BY_STATUS)?, vec![status.as_str()]),
            None => (self.conn.prepare_cached(ALL_DRAFTS)?, vec![]),
        };
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        while let Some(row) = rows.next()? {
            if visit(read_draft(row)?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn attempts(&mut self, id: &str) -> Result<Vec<Attempt>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(ATTEMPTS)?;
        // Read leniently: any column of a row written by other tools may hold anything.
        let rows = stmt.query_map([id], |r| {
            Ok(Attempt {
                kind: lenient_text(r.get_ref(0)?).unwrap_or_default(),
                outcome: lenient_text(r.get_ref(1)?).unwrap_or_default(),
                reason: lenient_text(r.get_ref(2)?),
                executed_url: lenient_text(r.get_ref(3)?),
                attempted_at: sql_value(r.get_ref(4)?).as_integral(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn actions_since(&mut self, since: i64) -> Result<Vec<RecordedAction>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(ACTIONS_SINCE)?;
        let rows = stmt.query_map([since], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                sql_value(r.get_ref(1)?),
                sql_value(r.get_ref(2)?).as_integral(),
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            // A time that is not a number is no action of ours or the reference's.
            let (attempt_id, draft_id, Some(at)) = row? else {
                continue;
            };
            let draft_id = match draft_id {
                SqlValue::Text(s) => s,
                other => other.to_string(),
            };
            out.push(RecordedAction {
                attempt_id,
                draft_id,
                at,
            });
        }
        Ok(out)
    }

    fn executing(&mut self, claimed_before: i64) -> Result<Vec<Executing>, RegistryError> {
        let any = self
            .conn
            .query_row(ANY_EXECUTING, [], |_| Ok(()))
            .optional()?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare_cached(EXECUTING)?;
        let rows = stmt.query_map([claimed_before], |r| {
            let claimer = match Claimer::stored_pid(sql_value(r.get_ref(4)?).as_integral()) {
                Some(pid) => Some(Claimer {
                    pid,
                    host: lenient_text(r.get_ref(5)?).unwrap_or_default(),
                    boot_id: lenient_text(r.get_ref(6)?),
                    process_start: sql_value(r.get_ref(7)?).as_integral(),
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
                last_attempt: lenient_text(r.get_ref(9)?),
                alerted: r.get(10)?,
                session_alive: None,
                key: RowKey(KeyRepr::Rowid(r.get(11)?)),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn counts(&mut self) -> Result<Vec<(String, i64)>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(COUNTS)?;
        // A status that is not one of ours still counts, under a name showing what it is.
        let rows = stmt.query_map([], |r| {
            let status = match sql_value(r.get_ref(0)?) {
                SqlValue::Text(s) => s,
                SqlValue::Null => "NULL".to_owned(),
                other => other.to_string(),
            };
            Ok((status, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn oldest_approved(&mut self) -> Result<Option<i64>, RegistryError> {
        // Read leniently: a row written by other tools may hold text here.
        Ok(self.conn.query_row(OLDEST_APPROVED, [], |r| {
            Ok(sql_value(r.get_ref(0)?).as_integral())
        })?)
    }

    fn alerts_due(&mut self, now: i64, limit: usize) -> Result<Vec<OutboxAlert>, RegistryError> {
        let mut stmt = self.conn.prepare_cached(ALERTS_DUE)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![now, limit], |r| {
            let text = |i| r.get_ref(i).map(|v| sql_value(v).to_string());
            Ok(OutboxAlert {
                id: r.get(0)?,
                subject: text(1)?,
                body: text(2)?,
                draft_id: optional_text(r.get_ref(3)?),
                tries: sql_value(r.get_ref(4)?).as_integral().unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn alerts_waiting(&mut self) -> Result<AlertsWaiting, RegistryError> {
        let (count, oldest_created_at) = self.conn.query_row(ALERTS_WAITING, [], |r| {
            Ok((r.get(0)?, sql_value(r.get_ref(1)?).as_integral()))
        })?;
        let last_error = self
            .conn
            .query_row(ALERTS_LAST_ERROR, [], |r| Ok(optional_text(r.get_ref(0)?)))?;
        Ok(AlertsWaiting {
            count,
            oldest_created_at,
            last_error,
        })
    }

    fn begin(&mut self) -> Result<Box<dyn Transaction + '_>, RegistryError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| RegistryError::from(e).explained(&self.path))?;
        Ok(Box::new(SqliteTransaction {
            tx,
            path: &self.path,
        }))
    }
}

fn rowid(key: &RowKey) -> i64 {
    match key.0 {
        KeyRepr::Rowid(rowid) => rowid,
        _ => unreachable!("a PostgreSQL row key on the SQLite registry"),
    }
}

fn get_row(conn: &Connection, key: &RowKey) -> Result<Option<DraftRow>, RegistryError> {
    let mut stmt = conn.prepare_cached(GET_ROW)?;
    Ok(stmt.query_row([rowid(key)], read_draft).optional()?)
}

/// Moves one draft from status `?7` to `?1` where `$column = ?6`, setting the fields a move
/// carries; one text per key column, so each is compiled once and cached.
macro_rules! transition_sql {
    ($column:literal) => {
        concat!(
            "UPDATE drafts SET
                 status       = ?1,
                 executed_url = COALESCE(?2, executed_url),
                 last_error   = COALESCE(?3, last_error),
                 completed_at = CASE WHEN ?4 THEN ?5 ELSE completed_at END,
                 updated_at   = ?5,
                 approval_subject = COALESCE(?8, approval_subject)
             WHERE ",
            $column,
            " = ?6 AND status = ?7"
        )
    };
}

/// A move by draft id.
const TRANSITION_BY_ID: &str = transition_sql!("draft_id");
/// A move by rowid.
const TRANSITION_BY_ROWID: &str = transition_sql!("rowid");

/// One `BEGIN IMMEDIATE` transaction. Its errors name the file and the remedy, as every
/// write's do.
struct SqliteTransaction<'c> {
    tx: rusqlite::Transaction<'c>,
    path: &'c Path,
}

impl SqliteTransaction<'_> {
    /// Runs one write through the connection's statement cache: a cycle runs the same
    /// handful of statements for every draft, and compiling them afresh for each draft cost
    /// 7.7 % of a 10-draft run's instructions (BENCHMARKS.md).
    fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, RegistryError> {
        self.tx
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params))
            .map_err(|e| RegistryError::from(e).explained(self.path))
    }

    /// `sql` is [`TRANSITION_BY_ID`] or [`TRANSITION_BY_ROWID`], with `key` to match.
    fn transition_where(
        &self,
        sql: &str,
        key: &dyn rusqlite::ToSql,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError> {
        debug_assert!(from.may_become(to), "illegal move {from} -> {to}");
        let changed = self.execute(
            sql,
            params![
                to.as_str(),
                fields.executed_url,
                fields.last_error,
                fields.completed,
                now,
                key,
                from.as_str(),
                fields.approval_subject
            ],
        )?;
        Ok(changed == 1)
    }
}

impl Transaction for SqliteTransaction<'_> {
    fn get_row(&mut self, key: &RowKey) -> Result<Option<DraftRow>, RegistryError> {
        get_row(&self.tx, key).map_err(|e| e.explained(self.path))
    }

    fn insert_draft(
        &mut self,
        signed: &Signed,
        kind: &str,
        issued_at: i64,
        key_version: u32,
        led_ref: Option<&str>,
        now: i64,
    ) -> Result<(), RegistryError> {
        self.execute(
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

    fn transition(
        &mut self,
        id: &str,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError> {
        self.transition_where(TRANSITION_BY_ID, &id, from, to, fields, now)
    }

    fn transition_row(
        &mut self,
        key: &RowKey,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError> {
        self.transition_where(TRANSITION_BY_ROWID, &rowid(key), from, to, fields, now)
    }

    fn record_attempt(
        &mut self,
        id: &str,
        kind: AttemptKind,
        outcome: AttemptOutcome,
        reason: Option<&str>,
        executed_url: Option<&str>,
        now: i64,
    ) -> Result<i64, RegistryError> {
        self.execute(
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

    fn record_claim(&mut self, id: &str, claimer: &Claimer, now: i64) -> Result<(), RegistryError> {
        self.execute(
            "INSERT OR REPLACE INTO claims (draft_id, claimed_at, pid, host, boot_id, process_start)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, now, claimer.pid, claimer.host, claimer.boot_id, claimer.process_start],
        )?;
        Ok(())
    }

    fn mark_stuck_alerted(&mut self, key: &RowKey, now: i64) -> Result<bool, RegistryError> {
        // By rowid, copying the stored id as it is: the foreign key holds even for an id that
        // is not text.
        let inserted = self.execute(
            "INSERT OR IGNORE INTO stuck_alerts (draft_id, alerted_at)
                 SELECT draft_id, ?2 FROM drafts WHERE rowid = ?1",
            params![rowid(key), now],
        )?;
        Ok(inserted == 1)
    }

    fn enqueue_alert(
        &mut self,
        subject: &str,
        body: &str,
        draft_id: Option<&str>,
        now: i64,
    ) -> Result<i64, RegistryError> {
        self.execute(
            "INSERT INTO alert_outbox (created_at, subject, body, draft_id, next_try_at)
             VALUES (?1, ?2, ?3, ?4, ?1)",
            params![now, subject, body, draft_id],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn alert_delivered(&mut self, id: i64, now: i64) -> Result<(), RegistryError> {
        self.execute(
            "UPDATE alert_outbox SET delivered_at = ?2, last_try_at = ?2
             WHERE id = ?1 AND delivered_at IS NULL",
            params![id, now],
        )?;
        Ok(())
    }

    fn alert_failed(
        &mut self,
        id: i64,
        tries: i64,
        error: &str,
        now: i64,
        next_try_at: i64,
    ) -> Result<(), RegistryError> {
        self.execute(
            "UPDATE alert_outbox SET tries = ?2, last_error = ?3, last_try_at = ?4,
                 next_try_at = ?5
             WHERE id = ?1 AND delivered_at IS NULL",
            params![id, tries, error, now, next_try_at],
        )?;
        Ok(())
    }

    fn expire_pending(&mut self, cutoff: i64, now: i64) -> Result<usize, RegistryError> {
        self.execute(
            "UPDATE drafts SET status = 'expired', updated_at = ?1
             WHERE status = 'pending' AND issued_at < ?2",
            params![now, cutoff],
        )
    }

    fn copy_draft(&mut self, row: &DraftRow) -> Result<bool, RegistryError> {
        let d = &row.signed;
        let inserted = self.execute(
            "INSERT OR IGNORE INTO drafts (draft_id, draft_kind, target_json, payload_json,
                 issued_at, key_version, schema_version, content_hash, signature, status,
                 led_ref, approval_subject, executed_url, last_error, created_at, updated_at,
                 completed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
            params![
                value_ref(&d.draft_id),
                value_ref(&d.draft_kind),
                value_ref(&d.target_json),
                value_ref(&d.payload_json),
                value_ref(&d.issued_at),
                value_ref(&d.key_version),
                value_ref(&d.schema_version),
                value_ref(&d.content_hash),
                value_ref(&d.signature),
                row.status,
                row.led_ref,
                row.approval_subject,
                row.executed_url,
                row.last_error,
                row.created_at.unwrap_or(0),
                row.updated_at.unwrap_or(0),
                row.completed_at,
            ],
        )?;
        Ok(inserted == 1)
    }

    fn copy_attempt(&mut self, id: &str, a: &Attempt) -> Result<(), RegistryError> {
        self.execute(
            "INSERT INTO attempts (draft_id, kind, outcome, reason, executed_url, attempted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id,
                a.kind,
                a.outcome,
                a.reason,
                a.executed_url,
                a.attempted_at
            ],
        )?;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), RegistryError> {
        let path = self.path;
        self.tx
            .commit()
            .map_err(|e| RegistryError::from(e).explained(path))
    }
}

/// A stored value as SQLite takes it back, storage class and bytes unchanged.
fn value_ref(v: &SqlValue) -> rusqlite::types::ToSqlOutput<'_> {
    rusqlite::types::ToSqlOutput::Borrowed(match v {
        SqlValue::Null => ValueRef::Null,
        SqlValue::Integer(i) => ValueRef::Integer(*i),
        SqlValue::Real(r) => ValueRef::Real(*r),
        SqlValue::Text(t) => ValueRef::Text(t.as_bytes()),
        SqlValue::BadText(b) => ValueRef::Text(b),
        SqlValue::Blob(b) => ValueRef::Blob(b),
    })
}

/// NULL as `None`, anything else as text.
fn optional_text(v: ValueRef<'_>) -> Option<String> {
    match sql_value(v) {
        SqlValue::Null => None,
        other => Some(other.to_string()),
    }
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

/// Any stored value as text for display: `None` for NULL, other storage classes shown as
/// their value (`b'..'` for bytes).
fn lenient_text(v: ValueRef<'_>) -> Option<String> {
    match sql_value(v) {
        SqlValue::Null => None,
        SqlValue::Text(s) => Some(s),
        other => Some(other.to_string()),
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
        key: RowKey(KeyRepr::Rowid(row.get("row_key")?)),
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
        let registry = Sqlite::open(&dir.path().join("r.db"), OpenMode::Create).expect("open");
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

    /// `verify --all` reads every draft, so it scans the table; but it never sorts them,
    /// which would spill the whole table to temporary files first.
    #[test]
    fn every_draft_is_read_without_a_sort() {
        let dir = tempfile::tempdir().expect("temp dir");
        let registry = Sqlite::open(&dir.path().join("r.db"), OpenMode::Create).expect("open");
        let plan: Vec<String> = registry
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", sql::ALL_DRAFTS))
            .expect("explain")
            .query_map([], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan rows");
        assert!(
            plan.iter().all(|step| !step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}
