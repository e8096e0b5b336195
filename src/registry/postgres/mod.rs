//! The PostgreSQL registry: one queue for executors on many hosts.
//!
//! Every guarantee comes from PostgreSQL itself. A claim is one committed
//! `UPDATE … WHERE status = 'approved'` before the side effect; concurrent executors pick
//! disjoint drafts with `FOR UPDATE SKIP LOCKED`; the thermal window is the claims in
//! `attempts` and the pause a row, and check-and-claim is serialised across hosts by a
//! transaction-scoped advisory lock; a claimer holds a session advisory lock on its draft
//! while it dispatches, so any host tells a live claimer (lock held) from a dead one
//! (connection gone). The SQLite backend keeps its thermal window in a sidecar file in the
//! state directory; here the database is the one record, because the executors sharing it
//! share no directory.

pub mod connect;
mod schema;

use postgres::GenericClient;
use postgres::types::ToSql;

pub use connect::{ConnectError, PgSettings, PgUrl, SslMode, is_postgres_url, redact};
pub use schema::valid_schema_name;

use super::{Attempt, DraftRow, OpenMode, Status};
use crate::draft::{SqlValue, StoredDraft};

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
    /// An error from the server or the connection.
    #[error("PostgreSQL: {}", describe(.0))]
    Postgres(#[from] postgres::Error),
}

/// The server's own message when there is one (`ERROR: …` with its detail), else the
/// driver's: one cause, said once.
fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        },
        None if e.is_closed() => "the connection to the server was lost".to_owned(),
        None => e.to_string(),
    }
}

/// An open PostgreSQL registry: one connection, migrated.
pub struct PgRegistry {
    client: postgres::Client,
    url: String,
    schema: String,
}

impl std::fmt::Debug for PgRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgRegistry")
            .field("url", &self.url)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// Every column of `drafts`, in the order [`read_draft`] reads them.
const DRAFT_COLUMNS: &str = "draft_id, draft_kind, target_json, payload_json, issued_at,
    key_version, schema_version, content_hash, signature, status, led_ref, approval_subject,
    executed_url, last_error, created_at, updated_at, completed_at";

impl PgRegistry {
    /// Connects, and with [`OpenMode::Create`] creates the schema and its tables; otherwise
    /// the registry must exist. [`OpenMode::ReadOnly`] makes the session read-only, so a look
    /// cannot change anything even by mistake.
    pub fn open(url: &str, settings: &PgSettings, mode: OpenMode) -> Result<PgRegistry, PgError> {
        if !valid_schema_name(&settings.schema) {
            return Err(PgError::BadSchema(settings.schema.clone()));
        }
        let mut client = connect::connect(url, settings)?;
        let schema = settings.schema.clone();
        // Unqualified names resolve in the registry's schema, and nowhere else: the SQL
        // stays the same as SQLite's.
        client.batch_execute(&format!("SET search_path TO {schema}"))?;
        match mode {
            OpenMode::Create => schema::migrate(&mut client, &schema)?,
            OpenMode::Existing => {
                schema::check(&mut client, &schema)?;
                schema::migrate(&mut client, &schema)?;
            }
            OpenMode::ReadOnly => {
                schema::check(&mut client, &schema)?;
                client.batch_execute("SET default_transaction_read_only = on")?;
            }
        }
        Ok(PgRegistry {
            client,
            url: redact(url),
            schema,
        })
    }

    /// The URL (without secrets) and schema, for messages.
    pub fn location(&self) -> String {
        format!("{} (schema {})", self.url, self.schema)
    }

    /// The connection, for the backend's transactions.
    pub fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }

    /// One draft by id.
    pub fn get(&mut self, id: &str) -> Result<Option<DraftRow>, PgError> {
        get(&mut self.client, id, false)
    }

    /// Drafts in `status`, oldest first, at most `limit`.
    pub fn by_status(&mut self, status: Status, limit: usize) -> Result<Vec<DraftRow>, PgError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.client.query(
            &format!(
                "SELECT {DRAFT_COLUMNS} FROM drafts WHERE status = $1
                 ORDER BY created_at, draft_id LIMIT $2"
            ),
            &[&status.as_str(), &limit],
        )?;
        Ok(rows.iter().map(read_draft).collect())
    }

    /// Every draft, oldest first.
    pub fn all(&mut self) -> Result<Vec<DraftRow>, PgError> {
        let rows = self.client.query(
            &format!("SELECT {DRAFT_COLUMNS} FROM drafts ORDER BY created_at, draft_id"),
            &[],
        )?;
        Ok(rows.iter().map(read_draft).collect())
    }

    /// A draft's attempts, in order.
    pub fn attempts(&mut self, id: &str) -> Result<Vec<Attempt>, PgError> {
        let rows = self.client.query(
            "SELECT kind, outcome, reason, executed_url, attempted_at FROM attempts
             WHERE draft_id = $1 ORDER BY attempt_id",
            &[&id],
        )?;
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

    /// Claims at or after `since`, as `(attempt_id, attempted_at)`.
    pub fn actions_since(&mut self, since: i64) -> Result<Vec<(i64, i64)>, PgError> {
        let rows = self.client.query(
            "SELECT attempt_id, attempted_at FROM attempts
             WHERE kind = 'verify' AND attempted_at >= $1 AND outcome = 'ok'",
            &[&since],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// How many drafts are in each status.
    pub fn counts(&mut self) -> Result<Vec<(String, i64)>, PgError> {
        let rows = self
            .client
            .query("SELECT status, count(*) FROM drafts GROUP BY status", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// When the oldest approved draft was created.
    pub fn oldest_approved(&mut self) -> Result<Option<i64>, PgError> {
        Ok(self
            .client
            .query_one(
                "SELECT min(created_at) FROM drafts WHERE status = 'approved'",
                &[],
            )?
            .get(0))
    }

    /// The newest attempt's id, if any.
    pub fn newest_attempt(&mut self) -> Result<Option<i64>, PgError> {
        Ok(self
            .client
            .query_one("SELECT max(attempt_id) FROM attempts", &[])?
            .get(0))
    }
}

/// One draft by id; `lock` takes its row lock for the rest of the transaction, skipping it
/// (`None`) when another transaction holds it.
pub(crate) fn get(
    client: &mut impl GenericClient,
    id: &str,
    lock: bool,
) -> Result<Option<DraftRow>, PgError> {
    let suffix = if lock { " FOR UPDATE SKIP LOCKED" } else { "" };
    let params: [&(dyn ToSql + Sync); 1] = [&id];
    let row = client.query_opt(
        &format!("SELECT {DRAFT_COLUMNS} FROM drafts WHERE draft_id = $1{suffix}"),
        &params,
    )?;
    Ok(row.as_ref().map(read_draft))
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
        rowid: 0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// A scratch database on the local test server, dropped at the end; `None` (after a
    /// visible skip) without a server.
    struct Scratch {
        admin: postgres::Client,
        name: String,
    }

    impl Scratch {
        fn new() -> Option<Scratch> {
            let url = std::env::var("INBOX_EXEC_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let mut admin = match url
                .parse::<postgres::Config>()
                .and_then(|c| c.connect(postgres::NoTls))
            {
                Ok(c) => c,
                Err(e) => {
                    let strict = std::env::var("INBOX_EXEC_NO_SKIP").is_ok_and(|v| v == "1");
                    assert!(!strict, "needs postgres ({e})");
                    let _ = std::io::stderr()
                        .write_all(format!("SKIPPED: needs postgres ({e})\n").as_bytes());
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
            Some(Scratch { admin, name })
        }

        fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = self
                .admin
                .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name));
        }
    }

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
        assert_eq!(r.newest_attempt().expect("newest"), None);
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
            .client()
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
        r.client()
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
        assert_eq!(r.by_status(Status::Pending, 10).expect("list").len(), 1);
    }

    #[test]
    fn a_newer_registry_is_refused() {
        let Some(db) = Scratch::new() else { return };
        let mut r = PgRegistry::open(&db.url(), &settings(), OpenMode::Create).expect("create");
        r.client()
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
            .client()
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .expect("pg_stat_ssl")
            .get(0);
        assert!(ssl, "the session is encrypted");
    }
}

#[cfg(test)]
mod tls_tests;
