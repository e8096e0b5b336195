//! The PostgreSQL registry: one queue for executors on many hosts.
//!
//! Every guarantee comes from PostgreSQL itself. A claim is one committed
//! `UPDATE … WHERE status = 'approved'` before the side effect; concurrent executors pick
//! disjoint drafts with `FOR UPDATE SKIP LOCKED`; the thermal window is the claims in
//! `attempts` and the pause a row, and check-and-claim is serialised across hosts by a
//! transaction-scoped advisory lock; a claimer holds a session advisory lock on its draft
//! while it dispatches, so any host tells a live claimer (lock held) from a dead one
//! (connection gone). On SQLite, runs on one registry take turns under a lock on its file;
//! executors on many hosts share no file, so here each claim's transaction merges every
//! executor's recorded actions into the window under the advisory lock
//! ([`Transaction::shared_actions`]), and one executor at a time delivers the alert outbox.

pub mod connect;
mod schema;

use std::collections::HashMap;
use std::ops::ControlFlow;

use postgres::GenericClient;
use postgres::types::ToSql;

pub use connect::{ConnectError, PgSettings, PgUrl, SslMode, is_postgres_url, redact};
pub use schema::valid_schema_name;

use super::{
    AlertsWaiting, Attempt, AttemptKind, AttemptOutcome, Claimer, DraftRow, Executing, KeyRepr,
    MoveFields, OpenMode, OutboxAlert, RecordedAction, Registry, RegistryError, RowKey, Status,
    Transaction,
};
use crate::draft::{Signed, SqlValue, StoredDraft};

/// Errors of the PostgreSQL registry that callers branch on; the rest pass through.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The server could not be reached (URL, password, TLS, refused).
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The schema holds no registry and this command does not create one.
    #[error(
        "PostgreSQL schema {schema} holds no registry: create it with `inbox-exec init`, or check [postgres] schema"
    )]
    Missing {
        /// The schema.
        schema: String,
    },
    /// A schema name that would need quoting.
    #[error(
        "[postgres] schema = {0:?} is not a plain schema name: use lower-case letters, digits and _ (not starting with a digit or pg_)"
    )]
    BadSchema(String),
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
    /// A row whose stored value a typed PostgreSQL column cannot keep as it is (SQLite
    /// lets any column hold any type); converting it would change what was signed.
    #[error(
        "draft {id}: {column} holds {found}, which PostgreSQL cannot store unchanged: settle or cancel that draft in the source registry first"
    )]
    Uncopyable {
        /// The draft.
        id: String,
        /// The column.
        column: &'static str,
        /// What it holds.
        found: String,
    },
    /// An error from the server or the connection.
    #[error("PostgreSQL: {}", describe(.0))]
    Postgres(#[from] postgres::Error),
}

impl From<postgres::Error> for RegistryError {
    fn from(e: postgres::Error) -> RegistryError {
        RegistryError::Postgres(PgError::Postgres(e))
    }
}

impl From<PgError> for RegistryError {
    fn from(e: PgError) -> RegistryError {
        RegistryError::Postgres(e)
    }
}

/// The server's own message when there is one (with its detail), else the driver's: one
/// cause, said once.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None if e.is_closed() => "the connection to the server was lost".to_owned(),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// The session advisory locks this connection holds on the drafts it claimed, and those to
/// let go of at the next chance (a claim rolled back, an outcome recorded).
#[derive(Debug, Default)]
struct Locks {
    held: HashMap<String, i64>,
    release: Vec<i64>,
}

/// An open PostgreSQL registry: one connection, migrated.
pub struct PgRegistry {
    client: postgres::Client,
    url: String,
    shown: String,
    settings: PgSettings,
    read_only: bool,
    locks: Locks,
    prepared: Prepared,
}

/// Statements prepared on this session, by their text. A cycle runs the same dozen for every
/// draft, and a statement run from its text costs a round trip more each time (prepare, then
/// execute): a claim was about 26 round trips and is about 14 with these kept. They live as
/// long as the session, whatever becomes of the transaction that prepared them, and are
/// forgotten with it when the connection is made again. One the server invalidates while the
/// session lasts (a column's type changed by a newer `init` on another host) fails like any
/// registry error: the cycle stops, and the next run, a new process, prepares afresh.
#[derive(Default)]
struct Prepared(HashMap<String, postgres::Statement>);

impl Prepared {
    /// The statement for `sql`, prepared on `client`'s session the first time.
    fn get(
        &mut self,
        client: &mut impl GenericClient,
        sql: &str,
    ) -> Result<postgres::Statement, postgres::Error> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        self.0.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl std::fmt::Debug for PgRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRegistry")
            .field("url", &self.shown)
            .field("schema", &self.settings.schema)
            .finish_non_exhaustive()
    }
}

/// Every column of `drafts`, in the order [`read_draft`] reads them.
const DRAFT_COLUMNS: &str = "draft_id, draft_kind, target_json, payload_json, issued_at,
    key_version, schema_version, content_hash, signature, status, led_ref, approval_subject,
    executed_url, last_error, created_at, updated_at, completed_at";

/// Drafts in `executing`, with their claims, attempts, and whether the claimer's session
/// still holds its advisory lock (NULL when the claim recorded none: the reference's, or one
/// copied from SQLite).
const EXECUTING: &str = "SELECT d.draft_id, d.draft_kind, d.target_json,
        COALESCE(c.claimed_at, d.updated_at) AS claimed_at,
        c.pid, c.host, c.boot_id, c.process_start,
        (SELECT count(*) FROM attempts a WHERE a.draft_id = d.draft_id),
        (SELECT a.kind || ' ' || a.outcome FROM attempts a
          WHERE a.draft_id = d.draft_id ORDER BY a.attempt_id DESC LIMIT 1),
        EXISTS (SELECT 1 FROM stuck_alerts s WHERE s.draft_id = d.draft_id),
        CASE WHEN c.lock_key IS NULL THEN NULL ELSE EXISTS (
            SELECT 1 FROM pg_locks l
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
               AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND l.classid = oid((c.lock_key >> 32) & 4294967295)
               AND l.objid = oid(c.lock_key & 4294967295)) END
     FROM drafts d LEFT JOIN claims c ON c.draft_id = d.draft_id
     WHERE d.status = 'executing' AND COALESCE(c.claimed_at, d.updated_at) <= $1
     ORDER BY claimed_at, d.draft_id";

/// The advisory-lock key that lets one executor at a time deliver the registry's alerts.
const DELIVERY_LOCK_CLASS: i32 = 0x1b0c_0003;

/// The advisory-lock key serialising check-and-claim (the thermal window) across every
/// executor of one registry; the schema's hash is the second half.
const THERMAL_LOCK_CLASS: i32 = 0x1b0c_0002;

impl PgRegistry {
    /// Connects, and with [`OpenMode::Create`] creates the schema and its tables; otherwise
    /// the registry must exist. [`OpenMode::ReadOnly`] makes the session read-only, so a look
    /// cannot change anything even by mistake.
    pub fn open(url: &str, settings: &PgSettings, mode: OpenMode) -> Result<PgRegistry, PgError> {
        if !valid_schema_name(&settings.schema) {
            return Err(PgError::BadSchema(settings.schema.clone()));
        }
        let read_only = mode == OpenMode::ReadOnly;
        let mut client = session(url, settings, read_only)?;
        let schema = &settings.schema;
        match mode {
            OpenMode::Create => schema::migrate(&mut client, schema)?,
            OpenMode::Existing => {
                schema::check(&mut client, schema)?;
                schema::migrate(&mut client, schema)?;
            }
            OpenMode::ReadOnly => schema::check(&mut client, schema)?,
        }
        Ok(PgRegistry {
            client,
            url: url.to_owned(),
            shown: redact(url),
            settings: settings.clone(),
            read_only,
            locks: Locks::default(),
            prepared: Prepared::default(),
        })
    }

    /// The connection, opened again when the server dropped it (a restart, a network cut):
    /// the cycle's next write (an outcome waiting to be recorded) then gets its chance.
    /// The session locks died with the old connection.
    fn client(&mut self) -> Result<&mut postgres::Client, RegistryError> {
        if self.client.is_closed() {
            log::warn!(
                "the connection to {} was lost; connecting again",
                self.shown
            );
            self.client = session(&self.url, &self.settings, self.read_only)?;
            self.locks = Locks::default();
            self.prepared = Prepared::default();
        }
        Ok(&mut self.client)
    }

    /// Runs a read, once more on a new connection when the server dropped the old one (a
    /// read is safe to repeat): a restarted server or a killed session does not end the run.
    fn read<T>(
        &mut self,
        query: impl Fn(&mut postgres::Client) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        match query(self.client()?) {
            Err(_) if self.client.is_closed() => query(self.client()?),
            other => other,
        }
    }
}

/// One session on the registry's schema.
fn session(url: &str, settings: &PgSettings, read_only: bool) -> Result<postgres::Client, PgError> {
    let mut client = connect::connect(url, settings)?;
    // Unqualified names resolve in the registry's schema, and nowhere else: the SQL stays
    // the same as SQLite's.
    let mut setup = format!("SET search_path TO {}", settings.schema);
    if read_only {
        setup.push_str("; SET default_transaction_read_only = on");
    }
    client.batch_execute(&setup)?;
    Ok(client)
}

fn row_id(key: &RowKey) -> &str {
    match &key.0 {
        KeyRepr::Id(id) | KeyRepr::Queued(id) => id,
        KeyRepr::Rowid(_) => unreachable!("a SQLite row key on the PostgreSQL registry"),
    }
}

impl Registry for PgRegistry {
    fn location(&self) -> String {
        format!("{} (schema {})", self.shown, self.settings.schema)
    }

    fn get(&mut self, id: &str) -> Result<Option<DraftRow>, RegistryError> {
        self.read(|c| get(c, id))
    }

    fn get_row(&mut self, key: &RowKey) -> Result<Option<DraftRow>, RegistryError> {
        let id = row_id(key).to_owned();
        Ok(self.read(|c| get(c, &id))?.map(|row| keyed(row, key)))
    }

    fn batch_keys(&mut self, status: Status, limit: usize) -> Result<Vec<RowKey>, RegistryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.read(|c| {
            Ok(c.query(
                "SELECT draft_id FROM drafts WHERE status = $1 ORDER BY created_at, draft_id LIMIT $2",
                &[&status.as_str(), &limit],
            )?)
        })?;
        let queued = status == Status::Approved;
        Ok(rows
            .iter()
            .map(|r| {
                let id: String = r.get(0);
                RowKey(if queued {
                    KeyRepr::Queued(id)
                } else {
                    KeyRepr::Id(id)
                })
            })
            .collect())
    }

    fn for_each(
        &mut self,
        status: Option<Status>,
        visit: &mut dyn FnMut(DraftRow) -> ControlFlow<()>,
    ) -> Result<(), RegistryError> {
        use postgres::fallible_iterator::FallibleIterator as _;
        let word = status.map(Status::as_str);
        let client = self.client()?;
        let mut rows = match word {
            Some(w) => client.query_raw(
                &format!(
                    "SELECT {DRAFT_COLUMNS} FROM drafts WHERE status = $1 ORDER BY created_at, draft_id"
                ),
                [&w as &(dyn ToSql + Sync)],
            )?,
            None => client.query_raw(
                &format!("SELECT {DRAFT_COLUMNS} FROM drafts ORDER BY created_at, draft_id"),
                std::iter::empty::<&(dyn ToSql + Sync)>(),
            )?,
        };
        while let Some(row) = rows.next()? {
            if visit(read_draft(&row)).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn attempts(&mut self, id: &str) -> Result<Vec<Attempt>, RegistryError> {
        let rows = self.read(|c| {
            Ok(c.query(
                "SELECT kind, outcome, reason, executed_url, attempted_at FROM attempts
                 WHERE draft_id = $1 ORDER BY attempt_id",
                &[&id],
            )?)
        })?;
        Ok(rows
            .iter()
            .map(|r| Attempt {
                kind: r.get(0),
                outcome: r.get(1),
                reason: r.get(2),
                executed_url: r.get(3),
                attempted_at: r.get(4),
            })
            .collect())
    }

    fn actions_since(&mut self, since: i64) -> Result<Vec<RecordedAction>, RegistryError> {
        self.read(|c| Ok(recorded_actions(&c.query(ACTIONS_SINCE, &[&since])?)))
    }

    fn executing(&mut self, claimed_before: i64) -> Result<Vec<Executing>, RegistryError> {
        let rows = self.read(|c| Ok(c.query(EXECUTING, &[&claimed_before])?))?;
        Ok(rows
            .iter()
            .map(|r| {
                let claimer = Claimer::stored_pid(r.get(4)).map(|pid| Claimer {
                    pid,
                    host: r.get::<_, Option<String>>(5).unwrap_or_default(),
                    boot_id: r.get(6),
                    process_start: r.get(7),
                });
                Executing {
                    id: r.get(0),
                    kind: r.get(1),
                    target: r.get(2),
                    claimed_at: r.get(3),
                    claimer,
                    attempts: r.get(8),
                    last_attempt: r.get(9),
                    alerted: r.get(10),
                    session_alive: r.get(11),
                    key: RowKey(KeyRepr::Id(r.get(0))),
                }
            })
            .collect())
    }

    fn counts(&mut self) -> Result<Vec<(String, i64)>, RegistryError> {
        let rows = self
            .read(|c| Ok(c.query("SELECT status, count(*) FROM drafts GROUP BY status", &[])?))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn oldest_approved(&mut self) -> Result<Option<i64>, RegistryError> {
        self.read(|c| {
            Ok(c.query_one(
                "SELECT min(created_at) FROM drafts WHERE status = 'approved'",
                &[],
            )?
            .get(0))
        })
    }

    /// The due alerts, once this session holds the registry's delivery lock (a session
    /// advisory lock, kept until the run ends): executors on several hosts take turns, so two
    /// never send one alert at the same time. While another holds it, nothing is due here:
    /// that run delivers.
    fn alerts_due(&mut self, now: i64, limit: usize) -> Result<Vec<OutboxAlert>, RegistryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let schema = self.settings.schema.clone();
        self.read(|c| {
            let ours: bool = c
                .query_one(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))",
                    &[&DELIVERY_LOCK_CLASS, &schema],
                )?
                .get(0);
            if !ours {
                log::info!("another executor is delivering alerts; they are left to it");
                return Ok(Vec::new());
            }
            let rows = c.query(
                "SELECT id, subject, body, draft_id, tries FROM alert_outbox
                  WHERE delivered_at IS NULL AND next_try_at <= $1 ORDER BY id LIMIT $2",
                &[&now, &limit],
            )?;
            Ok(rows
                .iter()
                .map(|r| OutboxAlert {
                    id: r.get(0),
                    subject: r.get(1),
                    body: r.get(2),
                    draft_id: r.get(3),
                    tries: r.get(4),
                })
                .collect())
        })
    }

    fn alerts_waiting(&mut self) -> Result<AlertsWaiting, RegistryError> {
        self.read(|c| {
            let row = c.query_one(
                "SELECT count(*), min(created_at),
                        (SELECT last_error FROM alert_outbox
                          WHERE delivered_at IS NULL AND last_error IS NOT NULL
                          ORDER BY last_try_at DESC NULLS LAST LIMIT 1)
                   FROM alert_outbox WHERE delivered_at IS NULL",
                &[],
            )?;
            Ok(AlertsWaiting {
                count: row.get(0),
                oldest_created_at: row.get(1),
                last_error: row.get(2),
            })
        })
    }

    fn shared_thermal(&self) -> bool {
        true
    }

    fn begin(&mut self) -> Result<Box<dyn Transaction + '_>, RegistryError> {
        // The driver learns that the server dropped the connection only when it next uses
        // it: try it, and connect again once if it is gone, so an outcome waiting to be
        // recorded gets its write after a server restart or a killed session.
        self.client()?;
        let probe = self
            .prepared
            .get(&mut self.client, "SELECT 1")
            .and_then(|probe| self.client.execute(&probe, &[]));
        if let Err(e) = probe {
            if !self.client.is_closed() {
                return Err(e.into());
            }
            self.client()?;
        }
        let PgRegistry {
            client,
            locks,
            settings,
            prepared,
            ..
        } = self;
        if !locks.release.is_empty() {
            let unlock = prepared.get(client, "SELECT pg_advisory_unlock($1)")?;
            for key in locks.release.drain(..) {
                client.execute(&unlock, &[&key])?;
            }
        }
        let tx = client.transaction()?;
        Ok(Box::new(PgTransaction {
            tx: Some(tx),
            locks,
            prepared,
            schema: &settings.schema,
            acquired: Vec::new(),
            settled: Vec::new(),
        }))
    }
}

fn uncopyable(id: &str, column: &'static str, found: &SqlValue) -> RegistryError {
    let found = match found {
        SqlValue::Null => "NULL".to_owned(),
        SqlValue::Integer(i) => format!("the integer {i}"),
        SqlValue::Real(r) => format!("the real {r}"),
        SqlValue::Text(t) => format!("the text {t:?}"),
        SqlValue::BadText(_) => "text that is not valid UTF-8".to_owned(),
        SqlValue::Blob(_) => "a BLOB".to_owned(),
    };
    RegistryError::Postgres(PgError::Uncopyable {
        id: id.to_owned(),
        column,
        found,
    })
}

/// The row with `key` as its key when `key` names it: a row read through a batch key is the
/// row listed, key and all.
fn keyed(mut row: DraftRow, key: &RowKey) -> DraftRow {
    if row_id(key) == row.id {
        row.key = key.clone();
    }
    row
}

/// One draft by id.
fn get(client: &mut impl GenericClient, id: &str) -> Result<Option<DraftRow>, RegistryError> {
    let row = client.query_opt(
        &format!("SELECT {DRAFT_COLUMNS} FROM drafts WHERE draft_id = $1"),
        &[&id],
    )?;
    Ok(row.as_ref().map(read_draft))
}

/// The actions the thermal window counts, as on SQLite: every dispatch's `execute` attempt,
/// and our claims' `verify ok` (a claim commits before its side effect, so a crash
/// mid-dispatch cannot hide one).
const ACTIONS_SINCE: &str = "SELECT attempt_id, draft_id, attempted_at FROM attempts
      WHERE kind = 'execute' AND attempted_at >= $1 AND outcome IN ('ok', 'failed')
     UNION ALL
     SELECT a.attempt_id, a.draft_id, a.attempted_at FROM attempts a
      WHERE a.kind = 'verify' AND a.attempted_at >= $1 AND a.outcome = 'ok'
        AND EXISTS (SELECT 1 FROM claims c WHERE c.draft_id = a.draft_id)";

/// The rows of [`ACTIONS_SINCE`].
fn recorded_actions(rows: &[postgres::Row]) -> Vec<RecordedAction> {
    rows.iter()
        .map(|r| RecordedAction {
            attempt_id: r.get(0),
            draft_id: r.get(1),
            at: r.get(2),
        })
        .collect()
}

/// One transaction. The session locks it takes with a claim are kept when it commits and
/// let go of when it does not; those of drafts whose outcome it records are let go of after.
struct PgTransaction<'c> {
    tx: Option<postgres::Transaction<'c>>,
    locks: &'c mut Locks,
    prepared: &'c mut Prepared,
    schema: &'c str,
    acquired: Vec<(String, i64)>,
    settled: Vec<String>,
}

impl<'c> PgTransaction<'c> {
    /// The open transaction, and `sql`'s statement from the session's cache.
    fn cached(
        &mut self,
        sql: &str,
    ) -> Result<(&mut postgres::Transaction<'c>, postgres::Statement), RegistryError> {
        let tx = self
            .tx
            .as_mut()
            .expect("a transaction is open until it commits");
        let statement = self.prepared.get(tx, sql)?;
        Ok((tx, statement))
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, RegistryError> {
        let (tx, statement) = self.cached(sql)?;
        Ok(tx.execute(&statement, params)?)
    }

    fn query_one(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<postgres::Row, RegistryError> {
        let (tx, statement) = self.cached(sql)?;
        Ok(tx.query_one(&statement, params)?)
    }

    fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<postgres::Row>, RegistryError> {
        let (tx, statement) = self.cached(sql)?;
        Ok(tx.query_opt(&statement, params)?)
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, RegistryError> {
        let (tx, statement) = self.cached(sql)?;
        Ok(tx.query(&statement, params)?)
    }

    fn transition_where(
        &mut self,
        id: &str,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError> {
        debug_assert!(from.may_become(to), "illegal move {from} -> {to}");
        let changed = self.execute(
            "UPDATE drafts SET
                 status       = $1,
                 executed_url = COALESCE($2, executed_url),
                 last_error   = COALESCE($3, last_error),
                 completed_at = CASE WHEN $4 THEN $5 ELSE completed_at END,
                 updated_at   = $5
             WHERE draft_id = $6 AND status = $7",
            &[
                &to.as_str(),
                &fields.executed_url,
                &fields.last_error,
                &fields.completed,
                &now,
                &id,
                &from.as_str(),
            ],
        )?;
        if changed == 1 && from == Status::Executing {
            self.settled.push(id.to_owned());
        }
        Ok(changed == 1)
    }
}

impl Transaction for PgTransaction<'_> {
    /// Reads the row under a row lock, skipping a row another executor holds: executors on
    /// other hosts pick disjoint drafts instead of queueing on each other. A batch key whose
    /// draft is taken (locked, or no longer approved) stands for the oldest approved draft
    /// nobody holds, so concurrent batches spread over the queue, oldest first.
    fn get_row(&mut self, key: &RowKey) -> Result<Option<DraftRow>, RegistryError> {
        match &key.0 {
            KeyRepr::Queued(id) => {
                let id = id.clone();
                let wanted = self.query_opt(
                    &format!(
                        "SELECT {DRAFT_COLUMNS} FROM drafts
                         WHERE draft_id = $1 AND status = 'approved' FOR UPDATE SKIP LOCKED"
                    ),
                    &[&id],
                )?;
                let row = match wanted {
                    Some(row) => Some(row),
                    None => self.query_opt(
                        &format!(
                            "SELECT {DRAFT_COLUMNS} FROM drafts WHERE status = 'approved'
                             ORDER BY created_at, draft_id LIMIT 1 FOR UPDATE SKIP LOCKED"
                        ),
                        &[],
                    )?,
                };
                Ok(row.as_ref().map(|r| keyed(read_draft(r), key)))
            }
            _ => {
                let id = row_id(key).to_owned();
                let row = self.query_opt(
                    &format!("SELECT {DRAFT_COLUMNS} FROM drafts WHERE draft_id = $1 FOR UPDATE"),
                    &[&id],
                )?;
                Ok(row.as_ref().map(read_draft))
            }
        }
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            &[
                &signed.draft_id,
                &kind,
                &signed.target_json,
                &signed.payload_json,
                &issued_at,
                &i64::from(key_version),
                &crate::draft::SCHEMA_VERSION,
                &signed.content_hash,
                &signed.signature,
                &Status::Pending.as_str(),
                &led_ref,
                &now,
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
        self.transition_where(id, from, to, fields, now)
    }

    fn transition_row(
        &mut self,
        key: &RowKey,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError> {
        let id = row_id(key).to_owned();
        self.transition_where(&id, from, to, fields, now)
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
        Ok(self
            .query_one(
                "INSERT INTO attempts (draft_id, kind, outcome, reason, executed_url, attempted_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING attempt_id",
                &[
                    &id,
                    &kind.as_str(),
                    &outcome.as_str(),
                    &reason,
                    &executed_url,
                    &now,
                ],
            )?
            .get(0))
    }

    /// Records the claim and takes a session advisory lock on the draft, held until its
    /// outcome is recorded or the connection ends: while it is held, any host sees the
    /// claimer alive. Taken inside the claim's transaction, so there is no moment at which
    /// the draft is `executing` and its claimer looks dead.
    fn record_claim(&mut self, id: &str, claimer: &Claimer, now: i64) -> Result<(), RegistryError> {
        let lock_name = format!("{}/{id}", self.schema);
        let key: i64 = self
            .query_one(
                "INSERT INTO claims (draft_id, claimed_at, pid, host, boot_id, process_start,
                     lock_key, backend_pid)
                 VALUES ($1, $2, $3, $4, $5, $6, hashtextextended($7, 0), pg_backend_pid())
                 ON CONFLICT (draft_id) DO UPDATE SET claimed_at = EXCLUDED.claimed_at,
                     pid = EXCLUDED.pid, host = EXCLUDED.host, boot_id = EXCLUDED.boot_id,
                     process_start = EXCLUDED.process_start, lock_key = EXCLUDED.lock_key,
                     backend_pid = EXCLUDED.backend_pid
                 RETURNING lock_key",
                &[
                    &id,
                    &now,
                    &i64::from(claimer.pid),
                    &claimer.host,
                    &claimer.boot_id,
                    &claimer.process_start,
                    &lock_name,
                ],
            )?
            .get(0);
        self.execute("SELECT pg_advisory_lock($1)", &[&key])?;
        self.acquired.push((id.to_owned(), key));
        Ok(())
    }

    fn mark_stuck_alerted(&mut self, key: &RowKey, now: i64) -> Result<bool, RegistryError> {
        let id = row_id(key).to_owned();
        let inserted = self.execute(
            "INSERT INTO stuck_alerts (draft_id, alerted_at) VALUES ($1, $2)
             ON CONFLICT (draft_id) DO NOTHING",
            &[&id, &now],
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
        Ok(self
            .query_one(
                "INSERT INTO alert_outbox (created_at, subject, body, draft_id, next_try_at)
                 VALUES ($1, $2, $3, $4, $1) RETURNING id",
                &[&now, &subject, &body, &draft_id],
            )?
            .get(0))
    }

    fn alert_delivered(&mut self, id: i64, now: i64) -> Result<(), RegistryError> {
        self.execute(
            "UPDATE alert_outbox SET delivered_at = $2, last_try_at = $2
             WHERE id = $1 AND delivered_at IS NULL",
            &[&id, &now],
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
            "UPDATE alert_outbox SET tries = $2, last_error = $3, last_try_at = $4,
                 next_try_at = $5
             WHERE id = $1 AND delivered_at IS NULL",
            &[&id, &tries, &error, &now, &next_try_at],
        )?;
        Ok(())
    }

    fn expire_pending(&mut self, cutoff: i64, now: i64) -> Result<usize, RegistryError> {
        let n = self.execute(
            "UPDATE drafts SET status = 'expired', updated_at = $1
             WHERE status = 'pending' AND issued_at < $2",
            &[&now, &cutoff],
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// Serialises check-and-claim with every executor of this registry, on any host, until
    /// this transaction ends, and returns the claims the thermal window counts.
    fn shared_actions(&mut self, since: i64) -> Result<Option<Vec<RecordedAction>>, RegistryError> {
        let schema = self.schema.to_owned();
        self.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&THERMAL_LOCK_CLASS, &schema],
        )?;
        Ok(Some(recorded_actions(
            &self.query(ACTIONS_SINCE, &[&since])?,
        )))
    }

    fn copy_draft(&mut self, row: &DraftRow) -> Result<bool, RegistryError> {
        let d = &row.signed;
        let id = row.id.as_str();
        let text = |v: &SqlValue, column: &'static str| match v {
            SqlValue::Text(t) => Ok(Some(t.clone())),
            SqlValue::Null => Ok(None),
            other => Err(uncopyable(id, column, other)),
        };
        let int = |v: &SqlValue, column: &'static str| match v {
            SqlValue::Integer(i) => Ok(Some(*i)),
            SqlValue::Null => Ok(None),
            other => Err(uncopyable(id, column, other)),
        };
        let values = (
            text(&d.draft_id, "draft_id")?,
            text(&d.draft_kind, "draft_kind")?,
            text(&d.target_json, "target_json")?,
            text(&d.payload_json, "payload_json")?,
            int(&d.issued_at, "issued_at")?,
            int(&d.key_version, "key_version")?,
            text(&d.schema_version, "schema_version")?,
            text(&d.content_hash, "content_hash")?,
            text(&d.signature, "signature")?,
        );
        let inserted = self.execute(
            "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
                 key_version, schema_version, content_hash, signature, status, led_ref,
                 approval_subject, executed_url, last_error, created_at, updated_at,
                 completed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
             ON CONFLICT (draft_id) DO NOTHING",
            &[
                &values.0,
                &values.1,
                &values.2,
                &values.3,
                &values.4,
                &values.5,
                &values.6,
                &values.7,
                &values.8,
                &row.status,
                &row.led_ref,
                &row.approval_subject,
                &row.executed_url,
                &row.last_error,
                &row.created_at.unwrap_or(0),
                &row.updated_at.unwrap_or(0),
                &row.completed_at,
            ],
        )?;
        Ok(inserted == 1)
    }

    fn copy_attempt(&mut self, id: &str, a: &Attempt) -> Result<(), RegistryError> {
        self.execute(
            "INSERT INTO attempts (draft_id, kind, outcome, reason, executed_url, attempted_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &id,
                &a.kind,
                &a.outcome,
                &a.reason,
                &a.executed_url,
                &a.attempted_at,
            ],
        )?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), RegistryError> {
        let tx = self.tx.take().expect("a transaction commits once");
        tx.commit()?;
        let acquired = std::mem::take(&mut self.acquired);
        self.locks.held.extend(acquired);
        for id in std::mem::take(&mut self.settled) {
            if let Some(key) = self.locks.held.remove(&id) {
                self.locks.release.push(key);
            }
        }
        Ok(())
    }
}

impl Drop for PgTransaction<'_> {
    fn drop(&mut self) {
        // Rolled back: a session lock outlives its transaction, so the claims' locks taken
        // here are let go of at the next chance.
        for (_, key) in self.acquired.drain(..) {
            self.locks.release.push(key);
        }
    }
}
fn read_draft(row: &postgres::Row) -> DraftRow {
    let text = |i: usize| match row.get::<_, Option<String>>(i) {
        Some(s) => SqlValue::Text(s),
        None => SqlValue::Null,
    };
    let int = |i: usize| match row.get::<_, Option<i64>>(i) {
        Some(n) => SqlValue::Integer(n),
        None => SqlValue::Null,
    };
    let id: String = row.get(0);
    let signed = StoredDraft {
        draft_id: SqlValue::Text(id.clone()),
        draft_kind: text(1),
        target_json: text(2),
        payload_json: text(3),
        issued_at: int(4),
        key_version: int(5),
        schema_version: text(6),
        content_hash: text(7),
        signature: text(8),
    };
    DraftRow {
        key: RowKey(KeyRepr::Id(id.clone())),
        id,
        signed,
        status: row.get(9),
        led_ref: row.get(10),
        approval_subject: row.get(11),
        executed_url: row.get(12),
        last_error: row.get(13),
        created_at: row.get(14),
        updated_at: row.get(15),
        completed_at: row.get(16),
    }
}

/// A database of its own on the local test server for one unit test, dropped at the end.
#[cfg(test)]
pub(crate) mod scratch {
    use std::io::Write as _;

    /// The database; `new` is `None` (after a visible skip) without a server.
    pub(crate) struct Scratch {
        admin: postgres::Client,
        name: String,
        server: String,
    }

    impl Scratch {
        pub(crate) fn new() -> Option<Scratch> {
            let server = std::env::var("INBOX_EXEC_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let mut admin = match server
                .parse::<postgres::Config>()
                .and_then(|c| c.connect(postgres::NoTls))
            {
                Ok(c) => c,
                Err(e) => {
                    let strict = std::env::var("INBOX_EXEC_NO_SKIP").is_ok_and(|v| v == "1");
                    assert!(!strict, "needs postgres ({e})");
                    let test = std::thread::current().name().unwrap_or("a test").to_owned();
                    let _ = std::io::stderr()
                        .write_all(format!("SKIPPED {test}: needs postgres ({e})\n").as_bytes());
                    return None;
                }
            };
            let mut bytes = [0u8; 6];
            getrandom::fill(&mut bytes).expect("random");
            let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let name = format!("inbox_exec_unit_{name}");
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create database");
            Some(Scratch {
                admin,
                name,
                server,
            })
        }

        pub(crate) fn url(&self) -> String {
            let base = self.server.split('?').next().unwrap_or(&self.server);
            let (server, _) = base.rsplit_once('/').unwrap_or((base, ""));
            format!("{server}/{}", self.name)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = self
                .admin
                .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scratch::Scratch;
    use super::*;

    fn settings() -> PgSettings {
        PgSettings {
            schema: "inbox_exec".into(),
            ..PgSettings::default()
        }
    }

    #[test]
    fn init_creates_the_schema_once_and_looks_change_nothing() {
        let Some(db) = Scratch::new() else { return };
        let missing = PgRegistry::open(&db.url(), &settings(), OpenMode::Existing)
            .expect_err("no registry yet");
        assert!(matches!(missing, PgError::Missing { .. }), "{missing}");
        let mut r = PgRegistry::open(&db.url(), &settings(), OpenMode::Create).expect("create");
        assert_eq!(r.counts().expect("counts"), vec![]);
        assert_eq!(r.actions_since(0).expect("actions"), vec![]);
        drop(r);
        // Twice, and concurrently, is the same as once.
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let url = db.url();
                std::thread::spawn(move || {
                    PgRegistry::open(&url, &settings(), OpenMode::Create).map(|_| ())
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread").expect("open");
        }
        let mut look = PgRegistry::open(&db.url(), &settings(), OpenMode::ReadOnly).expect("look");
        let write = look
            .client
            .batch_execute("INSERT INTO db_meta VALUES ('x', 'y')")
            .expect_err("a read-only look cannot write");
        assert!(
            PgError::from(write).to_string().contains("read-only"),
            "the server says why"
        );
    }

    #[test]
    fn signed_json_is_stored_byte_for_byte() {
        let Some(db) = Scratch::new() else { return };
        let mut r = PgRegistry::open(&db.url(), &settings(), OpenMode::Create).expect("create");
        // Key order, spacing and number spelling JSONB would all rewrite.
        let target = r#"{"z":1,  "a":1.50,"big":12345678901234567890}"#;
        r.client
            .execute(
                "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
                   key_version, schema_version, content_hash, signature, status, created_at,
                   updated_at) VALUES ('d1', 'k', $1, '{}', 1, 1, 'v1', 'h', 's', 'pending', 1, 1)",
                &[&target],
            )
            .expect("insert");
        let row = r.get("d1").expect("get").expect("row");
        assert_eq!(row.signed.target_json, SqlValue::Text(target.to_owned()));
        assert_eq!(row.signed.issued_at, SqlValue::Integer(1));
        assert_eq!(r.batch_keys(Status::Pending, 10).expect("list").len(), 1);
    }

    #[test]
    fn a_newer_registry_is_refused() {
        let Some(db) = Scratch::new() else { return };
        let mut r = PgRegistry::open(&db.url(), &settings(), OpenMode::Create).expect("create");
        r.client
            .batch_execute(
                "UPDATE db_meta SET value = '99' WHERE key = 'inbox_exec_schema_version'",
            )
            .expect("bump");
        let e = PgRegistry::open(&db.url(), &settings(), OpenMode::Existing).expect_err("newer");
        assert!(e.to_string().contains("newer program"), "{e}");
    }

    #[test]
    fn tls_require_works_against_the_local_server() {
        let Some(db) = Scratch::new() else { return };
        let url = format!("{}?sslmode=require", db.url());
        let mut r = PgRegistry::open(&url, &settings(), OpenMode::Create).expect("TLS");
        let ssl: bool = r
            .client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .expect("pg_stat_ssl")
            .get(0);
        assert!(ssl, "the session is encrypted");
    }
}
