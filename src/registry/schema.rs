//! The registry's DDL and migration bookkeeping.
//!
//! The reference's schema is applied verbatim and counted under its own `db_schema_version`;
//! our additions are additive only and counted under `inbox_exec_schema_version`, so a
//! database stays usable by the reference whichever program created it.

use rusqlite::{Connection, TransactionBehavior};

use super::RegistryError;

/// The reference's migrations, in order; index + 1 is the `db_schema_version` it sets.
const REFERENCE_MIGRATIONS: &[&str] = &["
    CREATE TABLE IF NOT EXISTS drafts (
        draft_id           TEXT PRIMARY KEY,
        draft_kind         TEXT NOT NULL,
        target_json        TEXT NOT NULL,
        payload_json       TEXT NOT NULL,
        issued_at          INTEGER NOT NULL,
        key_version        INTEGER NOT NULL,
        schema_version     TEXT NOT NULL,
        content_hash       TEXT NOT NULL,
        signature          TEXT NOT NULL,
        status             TEXT NOT NULL,
        led_ref            TEXT,
        approval_subject   TEXT,
        executed_url       TEXT,
        last_error         TEXT,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        completed_at       INTEGER
    );

    CREATE INDEX IF NOT EXISTS idx_drafts_status ON drafts(status);
    CREATE INDEX IF NOT EXISTS idx_drafts_issued_at ON drafts(issued_at);
    CREATE INDEX IF NOT EXISTS idx_drafts_led_ref ON drafts(led_ref);

    CREATE TABLE IF NOT EXISTS attempts (
        attempt_id   INTEGER PRIMARY KEY AUTOINCREMENT,
        draft_id     TEXT NOT NULL,
        kind         TEXT NOT NULL,           -- \"verify\" | \"execute\"
        outcome      TEXT NOT NULL,           -- \"ok\" | \"failed\" | \"skipped\"
        reason       TEXT,
        executed_url TEXT,
        attempted_at INTEGER NOT NULL,
        FOREIGN KEY (draft_id) REFERENCES drafts(draft_id)
    );

    CREATE INDEX IF NOT EXISTS idx_attempts_draft_id ON attempts(draft_id);

    CREATE TABLE IF NOT EXISTS db_meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
"];

/// Our own additive migrations; index + 1 is the `inbox_exec_schema_version` it sets.
const OUR_MIGRATIONS: &[&str] = &[
    "
    -- The executor's batch query: approved drafts, oldest first.
    CREATE INDEX IF NOT EXISTS idx_drafts_status_created
        ON drafts(status, created_at, draft_id);
    -- Rebuilding the thermal window: claims (verify ok attempts) since a moment.
    CREATE INDEX IF NOT EXISTS idx_attempts_kind_attempted
        ON attempts(kind, attempted_at);
    -- Who claimed a draft (approved -> executing), so reconcile can tell a dead claimer
    -- from a slow one. Rows claimed by the reference have none.
    CREATE TABLE IF NOT EXISTS claims (
        draft_id      TEXT PRIMARY KEY REFERENCES drafts(draft_id),
        claimed_at    INTEGER NOT NULL,
        pid           INTEGER NOT NULL,
        host          TEXT NOT NULL,
        boot_id       TEXT,
        process_start INTEGER
    );
",
    "
    -- Drafts stuck in executing that `run` has already alerted about, so it alerts once.
    CREATE TABLE IF NOT EXISTS stuck_alerts (
        draft_id   TEXT PRIMARY KEY REFERENCES drafts(draft_id),
        alerted_at INTEGER NOT NULL
    );
",
    "
    -- The alert outbox: each alert is inserted in the transaction that records the outcome it
    -- reports, and sent at the end of the cycle; one that fails is retried by later runs
    -- (next_try_at, with backoff). Delivered rows stay, as the record of what was sent.
    -- draft_id is informational, without a foreign key: nothing about an alert may make the
    -- outcome's transaction fail.
    CREATE TABLE IF NOT EXISTS alert_outbox (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at   INTEGER NOT NULL,
        subject      TEXT NOT NULL,
        body         TEXT NOT NULL,
        draft_id     TEXT,
        tries        INTEGER NOT NULL DEFAULT 0,
        next_try_at  INTEGER NOT NULL,
        last_try_at  INTEGER,
        last_error   TEXT,
        delivered_at INTEGER
    );
    -- Only the alerts still waiting: a run with nothing to send checks it with one probe of an
    -- empty index, however many alerts were ever sent.
    CREATE INDEX IF NOT EXISTS idx_alert_outbox_waiting
        ON alert_outbox(id) WHERE delivered_at IS NULL;
",
];

/// The schema versions this program migrates a registry to: the reference's and ours.
pub fn known_versions() -> (usize, usize) {
    (REFERENCE_MIGRATIONS.len(), OUR_MIGRATIONS.len())
}

const REFERENCE_KEY: &str = "db_schema_version";
const OUR_KEY: &str = "inbox_exec_schema_version";

/// Brings the schema up to date. A database that is already current is only read, so the
/// common case costs no write transaction and no fsync.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), RegistryError> {
    if versions(conn)? == (REFERENCE_MIGRATIONS.len(), OUR_MIGRATIONS.len()) {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS db_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let (reference, ours) = versions(&tx)?;
    apply(&tx, REFERENCE_MIGRATIONS, reference, REFERENCE_KEY)?;
    apply(&tx, OUR_MIGRATIONS, ours, OUR_KEY)?;
    tx.commit()?;
    Ok(())
}

fn apply(
    conn: &Connection,
    migrations: &[&str],
    current: usize,
    key: &str,
) -> Result<(), RegistryError> {
    for (i, sql) in migrations.iter().enumerate().skip(current) {
        conn.execute_batch(sql)?;
        conn.execute(
            "INSERT OR REPLACE INTO db_meta (key, value) VALUES (?1, ?2)",
            (key, (i + 1).to_string()),
        )?;
    }
    Ok(())
}

/// A stored schema version, or the value shown for a message (cut short: a megabyte of junk
/// is not worth echoing).
fn version_of(value: rusqlite::types::ValueRef<'_>) -> Result<usize, String> {
    use rusqlite::types::ValueRef;
    let text = match value {
        ValueRef::Integer(i) => return usize::try_from(i).map_err(|_| i.to_string()),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => match s.trim().parse() {
                Ok(v) => return Ok(v),
                Err(_) => format!("{s:?}"),
            },
            Err(_) => format!("{}-byte text that is not UTF-8", t.len()),
        },
        ValueRef::Null => "NULL".to_owned(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Blob(b) => format!("a {}-byte BLOB", b.len()),
    };
    Err(match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}… ({} bytes)", &text[..cut], text.len()),
        None => text,
    })
}

/// Refuses a registry migrated by a newer program, without migrating anything.
pub(super) fn check(conn: &Connection) -> Result<(), RegistryError> {
    versions(conn).map(|_| ())
}

/// `(db_schema_version, inbox_exec_schema_version)`, refusing versions newer than ours: a
/// newer program may have changed what the rows mean.
fn versions(conn: &Connection) -> Result<(usize, usize), RegistryError> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'db_meta')",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok((0, 0));
    }
    // Both keys in one statement: every process opens the registry, so each statement on
    // this path is paid by every run. Read as whatever is stored: the value column is
    // anyone's to write.
    let mut found: [Option<Result<usize, String>>; 2] = [None, None];
    let mut stmt = conn.prepare("SELECT key, value FROM db_meta WHERE key IN (?1, ?2)")?;
    let mut rows = stmt.query([REFERENCE_KEY, OUR_KEY])?;
    while let Some(row) = rows.next()? {
        // The IN matched the row under the column's collation; tell the two keys apart the
        // same way.
        let slot = match row.get_ref(0)? {
            rusqlite::types::ValueRef::Text(k) if k.eq_ignore_ascii_case(OUR_KEY.as_bytes()) => 1,
            _ => 0,
        };
        found[slot] = Some(version_of(row.get_ref(1)?));
    }
    let check = |key: &str, value: Option<Result<usize, String>>, known: usize| {
        let Some(version) = value else { return Ok(0) };
        let version = version.map_err(|value| RegistryError::BadMeta {
            key: key.to_owned(),
            value,
        })?;
        if version > known {
            return Err(RegistryError::NewerSchema {
                key: key.to_owned(),
                found: version,
                known,
            });
        }
        Ok(version)
    };
    let [reference, ours] = found;
    Ok((
        check(REFERENCE_KEY, reference, REFERENCE_MIGRATIONS.len())?,
        check(OUR_KEY, ours, OUR_MIGRATIONS.len())?,
    ))
}
