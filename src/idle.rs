//! The idle mark: an idle run does not open a SQLite registry that nothing has written since
//! a cycle found nothing to do in it. Opening SQLite in a fresh process and parsing the
//! registry's schema is most of what an idle run costs (BENCHMARKS.md), and the timer starts
//! one every 30 s.
//!
//! A full cycle that found nothing approved, no draft in `executing` still to alert about, no
//! alert waiting and no thermal pause, and that saw the registry's files the same before it
//! opened the registry and after it closed it, leaves `<state_dir>/idle.json`: a fingerprint
//! of those files, of the state files a cycle reads and of the configuration. A later run
//! whose fingerprint matches reports idle without opening the registry. Any write to the
//! registry changes the fingerprint:
//! - a commit rewrites the WAL-index header at the start of `-shm` (its frame count and the
//!   checksum of the last frame committed), and writes frames into `-wal` (past its end, or
//!   over the frames of a WAL restarted in place, whose header it then rewrote with new
//!   salts);
//! - a writer that checkpoints and deletes the WAL when it closes removes `-wal` and `-shm`,
//!   and a fingerprint needs both there (so a registry in rollback-journal mode, which has
//!   neither, never gets a mark);
//! - a file replaced, truncated, moved aside, linked or restored changes its inode, size,
//!   link count or times.
//!
//! What becomes due with time alone, with nothing written, gets no mark: a draft in
//! `executing` not yet alerted about, an alert waiting for its retry, a thermal pause. A mark
//! older than [`MAX_AGE_S`], by the wall clock or by the time since boot, or dated after now
//! by either, is not trusted, so whatever a fingerprint could miss waits that long at most.
//! A PostgreSQL registry has no files, and no mark.

use std::fmt::Write as _;
use std::fs::{self, Metadata};
use std::hash::{DefaultHasher, Hasher};
use std::io;
use std::io::Read as _;
use std::ops::Range;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::fsutil::{self, Links, OpenError};
use crate::journal;
use crate::metrics;
use crate::registry::postgres::is_postgres_url;
use crate::statefile::{self, Contents};
use crate::thermal::{CLAIMS_FILE, THERMAL_FILE};

/// The mark's file name inside the state directory.
pub const IDLE_FILE: &str = "idle.json";

/// A mark is trusted for this long (seconds) after the full cycle that left it: every tenth
/// run under the 30 s timer opens the registry whatever the fingerprint says.
pub const MAX_AGE_S: i64 = 300;

/// Bumped whenever what the fingerprint covers changes, so an older mark never matches.
const VERSION: u32 = 1;

/// What a quiet cycle found that a run it lets skip the registry still reports (the metrics
/// file's gauges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quiet {
    /// Drafts in `executing`: every one past `stuck_after` and already alerted about.
    pub executing: usize,
}

impl Quiet {
    /// The metrics file's gauges, as a full cycle would read them from the registry: nothing
    /// approved, nothing waiting, no pause, every draft in `executing` stuck.
    pub fn snapshot(self) -> metrics::Snapshot {
        metrics::Snapshot {
            approved: 0,
            stuck: self.executing,
            oldest_approved_age_s: None,
            alerts_waiting: 0,
            paused: false,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Mark {
    version: u32,
    /// When the full cycle that left it ran: Unix time, and seconds since boot (a clock
    /// that steps back cannot stretch the mark's life).
    at: i64,
    boot_at: i64,
    quiet: Quiet,
    fingerprint: String,
}

/// Seconds since boot, suspend included.
fn since_boot() -> i64 {
    rustix::time::clock_gettime(rustix::time::ClockId::Boottime).tv_sec
}

/// Whether a mark made at `at` is fresh at `now`.
fn fresh(at: i64, now: i64) -> bool {
    at <= now && now.saturating_sub(at) < MAX_AGE_S
}

/// The registry's files and the cycle's state files as they are now, hashed with the
/// settings that decide what a quiet cycle reports. The two halves are kept apart: a cycle
/// writes the state files itself, under the run lock, so only the registry's half must be
/// the same before and after the cycle for its mark to stand.
///
/// SipHash (std's `DefaultHasher::new`, the same in every process of one build; another
/// build may hash otherwise, which costs one full cycle): a change detector, not a defence,
/// since whoever can write the state directory can write the mark itself. A tenth of what
/// SHA-256 cost here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    registry: u64,
    state: u64,
}

impl Fingerprint {
    /// `None` when no mark can stand on the files: a PostgreSQL registry, a registry that is
    /// missing or a symbolic link (SQLite would use the `-wal` beside its target), no `-wal`
    /// or no `-shm` beside it (a writer removed them, or the registry is in rollback-journal
    /// mode), any of the files unreadable or not a regular file. The full cycle then runs,
    /// and says what is wrong.
    pub fn take(config: &Config) -> Option<Fingerprint> {
        let db = &config.db;
        if is_postgres_url(&db.to_string_lossy()) {
            return None;
        }
        let mut hash = DefaultHasher::new();
        hash.write_u32(VERSION);
        // Another program, or any other setting (the thermal bound, a handler, the registry's
        // path), may make a full cycle end otherwise: the whole of it is hashed, as written
        // (no string is built).
        // The schema versions too: a build with a new migration must open the registry.
        write!(
            Hashed(&mut hash),
            "{} {:?} {config:?}",
            env!("CARGO_PKG_VERSION"),
            crate::registry::schema::known_versions()
        )
        .ok()?;
        // The database header (bytes 0..100) holds the change counter and the journal mode;
        // the WAL header (0..32) its salts. The WAL-index header's first copy (0..48) holds
        // the last commit: frame count, page count, the last frame's running checksum and the
        // salts at 12..40; its commit counter (8..12) and its own checksum (40..48) are left
        // out, because a process that rebuilds the index (the first to open the registry
        // after the writer closed it) starts that counter again. `-shm` is written through a
        // shared mapping, so its mtime moves with every rebuild: it is keyed on bytes alone.
        // Only the database's ctime is taken: SQLite, run as root, hands `-wal` and `-shm` to
        // the database's owner at every open, which moves theirs.
        registry_file(&mut hash, db, 0..100, Times::All, true)?;
        for (suffix, head, times, required) in [
            ("-wal", 0..32, Times::Mtime, true),
            ("-shm", 12..40, Times::None, true),
            // A journal left beside a WAL registry (a writer that switched modes and died).
            ("-journal", 0..0, Times::Mtime, false),
        ] {
            registry_file(&mut hash, &sibling(db, suffix), head, times, required)?;
        }
        let registry = hash.finish();
        let mut hash = DefaultHasher::new();
        for name in [THERMAL_FILE, CLAIMS_FILE, journal::FILE] {
            state_file(&mut hash, &config.state_dir.join(name))?;
        }
        Some(Fingerprint {
            registry,
            state: hash.finish(),
        })
    }

    /// Whether the registry's files are as they were in `other`.
    pub fn same_registry(&self, other: &Fingerprint) -> bool {
        self.registry == other.registry
    }

    fn hex(&self) -> String {
        format!("{:016x}{:016x}", self.registry, self.state)
    }
}

/// Feeds what is formatted into a hasher.
struct Hashed<'h>(&'h mut DefaultHasher);

impl std::fmt::Write for Hashed<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// What the mark in `state_dir` carries when it matches `fingerprint` and is fresh at `now`.
pub fn matching(state_dir: &Path, fingerprint: &Fingerprint, now: i64) -> Option<Quiet> {
    let Contents::Bytes(bytes) = statefile::read(&state_dir.join(IDLE_FILE)) else {
        return None;
    };
    let mark: Mark = serde_json::from_slice(&bytes)
        .inspect_err(|e| log::debug!("the idle mark does not parse ({e}): not used"))
        .ok()?;
    let fresh = fresh(mark.at, now) && fresh(mark.boot_at, since_boot());
    (mark.version == VERSION && fresh && mark.fingerprint == fingerprint.hex())
        .then_some(mark.quiet)
}

/// Leaves the mark. Not fsynced: a mark lost to a power loss costs one full cycle.
pub fn leave(
    state_dir: &Path,
    fingerprint: &Fingerprint,
    quiet: Quiet,
    now: i64,
) -> io::Result<()> {
    let mark = Mark {
        version: VERSION,
        at: now,
        boot_at: since_boot(),
        quiet,
        fingerprint: fingerprint.hex(),
    };
    statefile::write_report(&state_dir.join(IDLE_FILE), |out| {
        serde_json::to_writer(out, &mark).map_err(io::Error::from)
    })
}

/// Removes the mark before a full cycle, so that only a cycle that ends quiet leaves one.
pub fn forget(state_dir: &Path) {
    let path = state_dir.join(IDLE_FILE);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => log::warn!("cannot remove the idle mark {} ({e})", path.display()),
    }
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Which of a file's times its fingerprint takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Times {
    None,
    Mtime,
    All,
}

/// Hashes whether the file is there, its identity and its bytes in `head`; `None` when a
/// `required` file is missing.
fn registry_file(
    hash: &mut DefaultHasher,
    path: &Path,
    head: Range<usize>,
    times: Times,
    required: bool,
) -> Option<()> {
    let (file, meta) = match fsutil::open_regular(path, Links::Refuse) {
        Ok(found) => found,
        Err(OpenError::Missing(_)) if !required => {
            hash.write_u8(0);
            return Some(());
        }
        Err(_) => return None,
    };
    hash.write_u8(1);
    identity(hash, &meta, times);
    // Just opened: the file's offset is 0. `take` stops at the end of the range, or of a
    // shorter file.
    let mut bytes = Vec::with_capacity(head.end);
    (&file).take(head.end as u64).read_to_end(&mut bytes).ok()?;
    hash.write_usize(bytes.len());
    hash.write(bytes.get(head.start..).unwrap_or_default());
    Some(())
}

/// Hashes whether a state file is there and its identity, without opening it.
fn state_file(hash: &mut DefaultHasher, path: &Path) -> Option<()> {
    match fsutil::check_regular(path, Links::Refuse).ok()? {
        None => hash.write_u8(0),
        Some(meta) => {
            hash.write_u8(1);
            identity(hash, &meta, Times::Mtime);
        }
    }
    Some(())
}

fn identity(hash: &mut DefaultHasher, meta: &Metadata, times: Times) {
    // The link count: a full cycle refuses a registry with two names. The database's ctime
    // also moves with a link, a chmod or a chown.
    for field in [meta.dev(), meta.ino(), meta.len(), meta.nlink()] {
        hash.write_u64(field);
    }
    if times != Times::None {
        hash.write_i64(meta.mtime());
        hash.write_i64(meta.mtime_nsec());
    }
    if times == Times::All {
        hash.write_i64(meta.ctime());
        hash.write_i64(meta.ctime_nsec());
    }
}
