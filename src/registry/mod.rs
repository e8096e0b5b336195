//! The draft registry's interface: what the commands and the cycle may ask of a backend, and
//! the types they exchange. SQL lives only in the backends (`sqlite.rs`, with `schema.rs` for
//! its migrations); nothing outside this module knows which backend it talks to.
//!
//! Reads go through [`Registry`]; writes through a [`Transaction`] from [`Registry::begin`],
//! durable when [`Transaction::commit`] returns and rolled back when it is dropped uncommitted.
//! Every status move is `UPDATE … WHERE <key> AND status = <from>` and counts only when
//! exactly one row changed (DESIGN.md §3).

pub mod postgres;
pub mod schema;
mod sqlite;
#[cfg(test)]
mod tests;
#[cfg(test)]
#[allow(clippy::duplicate_mod)] // the same interface tests, on the second backend
#[path = "tests.rs"]
mod tests_on_postgres;

use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::draft::{Signed, StoredDraft};

/// How long a writer waits for another writer's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Errors opening or using the registry that callers branch on; the rest pass through as
/// SQLite errors.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry file does not exist and this command does not create it.
    #[error(
        "registry {0} does not exist: create it with `inbox-exec init`, or point --db at the right file"
    )]
    Missing(PathBuf),
    /// The registry, or its -wal or -shm file, is not a regular file (or cannot be opened).
    #[error(transparent)]
    File(#[from] crate::fsutil::OpenError),
    /// The registry file has more than one name.
    #[error(
        "registry {path} has {links} hard links: SQLite keys its WAL and locks on the path, so two names would run drafts twice; give it a single name (`cp {path} NEW && mv NEW {path}`, with no run in progress) and remove the other names"
    )]
    HardLinked {
        /// The database file.
        path: PathBuf,
        /// Its link count.
        links: u64,
    },
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
    #[error(
        "db_meta {key} = {value} is not a version number: the registry's schema version is unknown, so nothing was read or changed"
    )]
    BadMeta {
        /// The `db_meta` key.
        key: String,
        /// The value found.
        value: String,
    },
    /// Filesystem trouble around the database file. The cause is the source, printed once
    /// by whoever prints the chain.
    #[error("cannot create or open {path}")]
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
    #[error("registry {path} is locked: another process held its write lock for more than {}s", BUSY_TIMEOUT.as_secs())]
    Busy {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The disk is full.
    #[error(
        "the disk holding registry {path} is full (or a table ran out of row ids): free some space"
    )]
    DiskFull {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// An error from SQLite.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// An error from the PostgreSQL registry.
    #[error(transparent)]
    Postgres(postgres::PgError),
}

/// Opens (or, with [`OpenMode::Create`], creates) the registry at `db` and migrates it once:
/// a `postgres://` URL is the PostgreSQL registry (with `pg`'s settings), anything else a
/// SQLite file.
pub fn open(
    db: &Path,
    pg: &postgres::PgSettings,
    mode: OpenMode,
) -> Result<Box<dyn Registry>, RegistryError> {
    match db.to_str().filter(|d| postgres::is_postgres_url(d)) {
        Some(url) => Ok(Box::new(postgres::PgRegistry::open(url, pg, mode)?)),
        None => Ok(Box::new(sqlite::Sqlite::open(db, mode)?)),
    }
}

/// The registry as messages name it: a path, or a URL with any password hidden.
pub fn shown(db: &Path) -> String {
    let text = db.to_string_lossy();
    if postgres::is_postgres_url(&text) {
        postgres::redact(&text)
    } else {
        db.display().to_string()
    }
}

impl RegistryError {
    /// Whether the message already names the registry's file, so a caller adds no context
    /// that would name it again.
    pub fn names_file(&self) -> bool {
        matches!(
            self,
            RegistryError::Missing(_)
                | RegistryError::File(_)
                | RegistryError::HardLinked { .. }
                | RegistryError::NotADatabase(_)
                | RegistryError::Io { .. }
                | RegistryError::ReadOnly { .. }
                | RegistryError::Busy { .. }
                | RegistryError::DiskFull { .. }
        )
    }
}

/// [`open`] for a command: an error names the registry exactly once, and a registry this
/// call had to create (`OpenMode::Create` on first use) is reported once it exists, never
/// before: a warning for a creation that then failed would be a lie.
pub fn open_named(
    db: &Path,
    pg: &postgres::PgSettings,
    mode: OpenMode,
) -> anyhow::Result<Box<dyn Registry>> {
    // A database server's schema is created by `init` only (a URL is never "first use").
    let existed = mode != OpenMode::Create
        || db.symlink_metadata().is_ok()
        || postgres::is_postgres_url(&db.to_string_lossy());
    let registry = open(db, pg, mode).map_err(|e| named(e, db))?;
    if !existed {
        log::warn!("created a new, empty registry {}", registry.location());
    }
    Ok(registry)
}

/// [`open`] for `init`: creating the registry is what was asked, so it says nothing about it.
pub fn init(db: &Path, pg: &postgres::PgSettings) -> anyhow::Result<Box<dyn Registry>> {
    open(db, pg, OpenMode::Create).map_err(|e| named(e, db))
}

/// `e`, with the registry's name added when its message lacks it.
fn named(e: RegistryError, db: &Path) -> anyhow::Error {
    if e.names_file() {
        e.into()
    } else {
        anyhow::Error::new(e).context(format!("registry {}", shown(db)))
    }
}

/// How `run` and `draft new` open the registry: only the default one may be created, on first
/// use. A path someone named that is not there is a typo or a missing mount, and a default
/// registry missing after earlier runs (their files are in the state directory) vanished: an
/// empty one in its place would report "idle" while the real queue never runs.
pub fn first_use_mode(config: &crate::config::Config) -> OpenMode {
    let ran_before = || {
        [
            crate::lock::LOCK_FILE,
            crate::thermal::THERMAL_FILE,
            crate::summary::SUMMARY_FILE,
        ]
        .iter()
        .any(|f| std::fs::symlink_metadata(config.state_dir.join(f)).is_ok())
    };
    if config.db_is_default && !ran_before() {
        OpenMode::Create
    } else {
        OpenMode::Existing
    }
}

/// Runs `f` in one transaction and commits it (durably) when `f` succeeds; an error rolls
/// everything back.
pub fn write<T>(
    registry: &mut dyn Registry,
    f: impl FnOnce(&mut dyn Transaction) -> Result<T, RegistryError>,
) -> Result<T, RegistryError> {
    let mut tx = registry.begin()?;
    let out = f(&mut *tx)?;
    tx.commit()?;
    Ok(out)
}

/// A status move a command asked for that could not happen, with what the operator can do
/// about it.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    /// No such draft.
    #[error("no draft {id} in registry {db}: check the id with `inbox-exec verify --all`")]
    NotFound {
        /// The id asked for.
        id: String,
        /// The registry searched ([`Registry::location`]).
        db: String,
    },
    /// The draft is not in the status the move starts from.
    #[error("draft {id} is {status}, not {expected}: only {expected} drafts can be {action}")]
    WrongStatus {
        /// The draft.
        id: String,
        /// Its status now.
        status: String,
        /// The status the move needs.
        expected: Status,
        /// The move, as a past participle.
        action: &'static str,
    },
    /// The draft could not be read.
    #[error("reading draft {id}")]
    Read {
        /// The draft.
        id: String,
        /// Why.
        source: RegistryError,
    },
    /// The move could not be written.
    #[error("updating draft {id}")]
    Update {
        /// The draft.
        id: String,
        /// Why.
        source: RegistryError,
    },
}

/// The draft `id`, which must exist.
pub fn find(registry: &mut dyn Registry, id: &str) -> Result<DraftRow, TransitionError> {
    registry
        .get(id)
        .map_err(|source| TransitionError::Read {
            id: id.to_owned(),
            source,
        })?
        .ok_or_else(|| TransitionError::NotFound {
            id: id.to_owned(),
            db: registry.location(),
        })
}

/// Moves draft `id` from `from` to `to` for a command, writing `fields` with the status
/// (`action` names the move, as a past participle, for the message); someone moving it first
/// is a [`TransitionError::WrongStatus`].
pub fn move_draft(
    registry: &mut dyn Registry,
    id: &str,
    from: Status,
    to: Status,
    fields: &MoveFields<'_>,
    action: &'static str,
    now: i64,
) -> Result<(), TransitionError> {
    let moved = write(registry, |w| w.transition(id, from, to, fields, now)).map_err(|source| {
        TransitionError::Update {
            id: id.to_owned(),
            source,
        }
    })?;
    if moved {
        return Ok(());
    }
    // Someone else moved it between our read and our write.
    Err(TransitionError::WrongStatus {
        id: id.to_owned(),
        status: find(registry, id)?.status,
        expected: from,
        action,
    })
}

/// The reads a backend answers, and the door to its writes. Reads take `&mut self`: a
/// network client needs it for every query.
pub trait Registry {
    /// Where the registry is, for messages: a path, or a URL without its password.
    fn location(&self) -> String;

    /// Marks this process as the executor's cycle. A SQLite registry then leaves the WAL its
    /// commits wrote for the next process to go on appending to (up to a bound), so that a
    /// cycle's commits stay one fsync each; every other writer (a command a person or an
    /// agent runs) checkpoints a WAL holding over 256 KiB as it closes and restarts it in
    /// place, so that the cycles after it neither read its frames again nor grow the file.
    /// A database server has no such file: nothing to do.
    fn cycle_writer(&mut self) {}

    /// One draft by id.
    fn get(&mut self, id: &str) -> Result<Option<DraftRow>, RegistryError>;

    /// One draft by its row key (gone: `None`).
    fn get_row(&mut self, key: &RowKey) -> Result<Option<DraftRow>, RegistryError>;

    /// The keys of drafts in `status`, oldest first (by `created_at`, then id), at most
    /// `limit`: each row is read when its turn comes, so a batch of large drafts is never all
    /// in memory at once.
    fn batch_keys(&mut self, status: Status, limit: usize) -> Result<Vec<RowKey>, RegistryError>;

    /// Calls `visit` with each draft in `status`, oldest first, or with every draft for
    /// `None`, in the order the backend stores them (no sort over the whole table), one row
    /// at a time, until it breaks.
    fn for_each(
        &mut self,
        status: Option<Status>,
        visit: &mut dyn FnMut(DraftRow) -> ControlFlow<()>,
    ) -> Result<(), RegistryError>;

    /// A draft's attempts, in order.
    fn attempts(&mut self, id: &str) -> Result<Vec<Attempt>, RegistryError>;

    /// Actions recorded at or after `since` (and any dated later than now): the registry's
    /// side of the thermal window. Our claims (their `verify ok` attempt commits with the
    /// claim, before the side effect, so a crash mid-dispatch cannot hide one) and every
    /// dispatch's `execute` attempt, ok or failed (all the reference records of one); never
    /// a verification alone, which the reference also records for drafts it then refuses.
    fn actions_since(&mut self, since: i64) -> Result<Vec<RecordedAction>, RegistryError>;

    /// Drafts in `executing` claimed at or before `claimed_before`, oldest claim first, with
    /// who claimed them and their attempts. Rows claimed by the reference have no claim
    /// record; their claim time is `updated_at`.
    fn executing(&mut self, claimed_before: i64) -> Result<Vec<Executing>, RegistryError>;

    /// How many drafts are in each status (statuses with none are left out).
    fn counts(&mut self) -> Result<Vec<(String, i64)>, RegistryError>;

    /// When the oldest approved draft was created.
    fn oldest_approved(&mut self) -> Result<Option<i64>, RegistryError>;

    /// Alerts waiting in the outbox whose next try is due at `now`, oldest first, at most
    /// `limit`. Read leniently: a row another program wrote badly still goes out, as text.
    fn alerts_due(&mut self, now: i64, limit: usize) -> Result<Vec<OutboxAlert>, RegistryError>;

    /// The alerts not yet delivered.
    fn alerts_waiting(&mut self) -> Result<AlertsWaiting, RegistryError>;

    /// Whether executors on other hosts claim from this registry at the same time
    /// (PostgreSQL), so the window must be merged from it again at each claim
    /// ([`Transaction::shared_actions`]) and `status` shows it merged; on SQLite runs on one
    /// registry take turns under the lock on its file.
    fn shared_thermal(&self) -> bool {
        false
    }

    /// Starts a write transaction that holds the registry's write lock from its first
    /// statement (SQLite: `BEGIN IMMEDIATE`), so what it reads stays true until it commits.
    fn begin(&mut self) -> Result<Box<dyn Transaction + '_>, RegistryError>;
}

/// Writes (and the reads that decide them) inside one transaction. Dropped without
/// [`Transaction::commit`], everything in it is rolled back.
pub trait Transaction {
    /// One draft by its row key, read under the transaction's lock.
    fn get_row(&mut self, key: &RowKey) -> Result<Option<DraftRow>, RegistryError>;

    /// Inserts a freshly signed draft as `pending`.
    fn insert_draft(
        &mut self,
        signed: &Signed,
        kind: &str,
        issued_at: i64,
        key_version: u32,
        led_ref: Option<&str>,
        now: i64,
    ) -> Result<(), RegistryError>;

    /// Moves a draft `from` → `to` when it is in `from`; true when exactly one row changed.
    /// Fields are written as the reference's `transition` writes them (a `None` keeps the
    /// stored value).
    fn transition(
        &mut self,
        id: &str,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError>;

    /// [`Transaction::transition`] by row key: for a row whose `draft_id` is NULL, a BLOB or
    /// not valid text, which a lookup by id can never match. Such a row must still be ended,
    /// or it would sit at the head of the queue for ever.
    fn transition_row(
        &mut self,
        key: &RowKey,
        from: Status,
        to: Status,
        fields: &MoveFields<'_>,
        now: i64,
    ) -> Result<bool, RegistryError>;

    /// Appends an attempt; returns its `attempt_id`.
    fn record_attempt(
        &mut self,
        id: &str,
        kind: AttemptKind,
        outcome: AttemptOutcome,
        reason: Option<&str>,
        executed_url: Option<&str>,
        now: i64,
    ) -> Result<i64, RegistryError>;

    /// Records who claimed a draft.
    fn record_claim(&mut self, id: &str, claimer: &Claimer, now: i64) -> Result<(), RegistryError>;

    /// Remembers that `run` alerted about a stuck draft (by its row key: the id may not be
    /// text); false when some run already had, so the alert goes once for all executors.
    fn mark_stuck_alerted(&mut self, key: &RowKey, now: i64) -> Result<bool, RegistryError>;

    /// Puts an alert in the outbox, due at `now`; returns its id.
    fn enqueue_alert(
        &mut self,
        subject: &str,
        body: &str,
        draft_id: Option<&str>,
        now: i64,
    ) -> Result<i64, RegistryError>;

    /// Records that an alert was delivered.
    fn alert_delivered(&mut self, id: i64, now: i64) -> Result<(), RegistryError>;

    /// Records a failed try: the alert has now failed `tries` times, `error` says why, and it
    /// is tried again at `next_try_at`.
    fn alert_failed(
        &mut self,
        id: i64,
        tries: i64,
        error: &str,
        now: i64,
        next_try_at: i64,
    ) -> Result<(), RegistryError>;

    /// Moves pending drafts issued before `cutoff` to `expired`; returns how many.
    fn expire_pending(&mut self, cutoff: i64, now: i64) -> Result<usize, RegistryError>;

    /// On a registry whose thermal window is shared ([`Registry::shared_thermal`]): waits
    /// until no other executor is between its thermal check and its claim commit, and returns
    /// the actions ([`Registry::actions_since`]) at or after `since`, so the check and the
    /// claim in this transaction are one atomic step across hosts. `None` elsewhere.
    fn shared_actions(&mut self, since: i64) -> Result<Option<Vec<RecordedAction>>, RegistryError> {
        let _ = since;
        Ok(None)
    }

    /// Inserts a row copied from another registry, every column as stored; false (and
    /// nothing written) when a draft with its id is already here.
    fn copy_draft(&mut self, row: &DraftRow) -> Result<bool, RegistryError>;

    /// Appends an attempt copied from another registry.
    fn copy_attempt(&mut self, id: &str, attempt: &Attempt) -> Result<(), RegistryError>;

    /// Commits, durably: when this returns `Ok`, the writes survive a crash.
    fn commit(self: Box<Self>) -> Result<(), RegistryError>;
}

/// An action as the registry records it (see [`Registry::actions_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAction {
    /// `attempts.attempt_id`.
    pub attempt_id: i64,
    /// `attempts.draft_id`, as text.
    pub draft_id: String,
    /// `attempts.attempted_at`.
    pub at: i64,
}

/// A backend's handle on one `drafts` row, opaque outside this module. On SQLite it is the
/// rowid: the one handle on a row whose `draft_id` is not usable text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowKey(KeyRepr);

impl RowKey {
    /// A key for unit tests that build rows by hand and never look a row up with it.
    #[cfg(test)]
    pub(crate) fn for_tests() -> RowKey {
        RowKey(KeyRepr::Rowid(0))
    }
}

/// What a [`RowKey`] holds, per backend.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyRepr {
    /// SQLite's rowid.
    Rowid(i64),
    /// PostgreSQL: the draft id (the primary key, always text there).
    Id(String),
    /// PostgreSQL, from a batch of approved drafts: this draft, or the oldest approved one
    /// no other executor holds when it is taken.
    Queued(String),
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
    /// The backend's handle on this row, whatever its `draft_id` holds.
    pub key: RowKey,
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

    /// `Ok` when the draft is in `expected`, the status a move (`action`) starts from.
    pub fn require(&self, expected: Status, action: &'static str) -> Result<(), TransitionError> {
        if self.status == expected.as_str() {
            return Ok(());
        }
        Err(TransitionError::WrongStatus {
            id: self.id.clone(),
            status: self.status.clone(),
            expected,
            action,
        })
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
    /// Unix seconds (`None` when the stored value is not a time).
    pub attempted_at: Option<i64>,
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
    /// Sets `approval_subject` when given (`approve --subject`): who or what approved it.
    pub approval_subject: Option<&'a str>,
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
    /// Whether the claimer's database session still holds its lock on the draft, seen from
    /// any host (PostgreSQL); `None` when the backend or the claim cannot tell (SQLite, a
    /// claim by the reference), and the claiming process is looked up on this host instead.
    pub session_alive: Option<bool>,
    /// The draft's row key: the handle on a row whose `draft_id` is not text.
    pub key: RowKey,
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

impl Claimer {
    /// The pid of a stored claim, if it is one a process can have (1 to `i32::MAX`, as
    /// `pid_t`). Any other value says nothing about the claimer, so the claim reads as no
    /// claim record (liveness unknown), never as a dead claimer a human may overrule.
    pub(crate) fn stored_pid(raw: Option<i64>) -> Option<u32> {
        raw.and_then(|p| i32::try_from(p).ok())
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0)
    }
}

/// An alert in the outbox, as the delivery phase reads it.
#[derive(Debug, Clone)]
pub struct OutboxAlert {
    /// Its row.
    pub id: i64,
    /// The subject.
    pub subject: String,
    /// The body.
    pub body: String,
    /// The draft it is about, if any.
    pub draft_id: Option<String>,
    /// Failed tries so far.
    pub tries: i64,
}

/// The alerts not yet delivered, as `status` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertsWaiting {
    /// How many.
    pub count: i64,
    /// When the oldest was written.
    pub oldest_created_at: Option<i64>,
    /// The error of the latest failed try, if any.
    pub last_error: Option<String>,
}
