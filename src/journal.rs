//! The outcome journal: outcomes of dispatched drafts that the registry would not take (its
//! write lock held past the busy timeout, the disk full), and the alerts that were to ride
//! with them, kept in the state directory beside the run lock until a later run records them,
//! so a side effect that happened is never left in `executing` for a human to rediscover.
//!
//! Written durably (temp file, fsync, rename, fsync of the directory) before the run gives
//! up; read and applied by the next run under the lock, before anything else; removed once
//! the registry holds every outcome in it.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::statefile::{self, Contents};

/// The journal's name in the state directory.
pub const FILE: &str = "unrecorded-outcomes.json";

/// A dispatched draft's outcome, as the registry will record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unrecorded {
    /// The draft.
    pub draft_id: String,
    /// Its kind, for the report.
    pub kind: String,
    /// Whether its handler succeeded.
    pub ok: bool,
    /// Why it failed.
    pub reason: Option<String>,
    /// The URL the handler printed.
    pub executed_url: Option<String>,
    /// When the handler finished (Unix seconds).
    pub at: i64,
}

impl Unrecorded {
    /// The outcome in words, for messages: `succeeded (URL)`, `failed (why)`.
    pub fn describe(&self) -> String {
        match (self.ok, &self.executed_url, &self.reason) {
            (true, Some(url), _) => format!("succeeded ({url})"),
            (true, None, _) => "succeeded".to_owned(),
            (false, _, Some(reason)) => format!("failed ({reason})"),
            (false, _, None) => "failed".to_owned(),
        }
    }
}

/// An alert that was to go into the outbox with an outcome the registry would not take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeptAlert {
    /// The subject, as mailed.
    pub subject: String,
    /// The body, as mailed.
    pub body: String,
    /// The draft it is about.
    pub draft_id: Option<String>,
    /// When it was raised (Unix seconds).
    pub at: i64,
}

/// What the journal holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Outcomes of drafts whose handlers ran.
    #[serde(default)]
    pub outcomes: Vec<Unrecorded>,
    /// Alerts for the outbox.
    #[serde(default)]
    pub alerts: Vec<KeptAlert>,
}

impl Journal {
    /// Whether there is nothing to record.
    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty() && self.alerts.is_empty()
    }
}

/// Why the journal cannot be used; the outcomes in it are not recorded anywhere else.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// It exists but cannot be read or parsed.
    #[error(
        "the outcome journal {path} is unusable ({why}): it holds outcomes of drafts that ran and were not recorded; settle the drafts left executing with `inbox-exec reconcile`, then move the file away"
    )]
    Unusable {
        /// The journal.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// It could not be written.
    #[error("cannot write the outcome journal {path}")]
    Write {
        /// The journal.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
}

/// What is kept at `path`; nothing when there is no journal.
pub fn read(path: &Path) -> Result<Journal, JournalError> {
    let unusable = |why: String| JournalError::Unusable {
        path: path.display().to_string(),
        why,
    };
    match statefile::read(path) {
        Contents::Missing => Ok(Journal::default()),
        Contents::Unusable(why) => Err(unusable(why)),
        Contents::Bytes(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| unusable(format!("it does not parse: {e}")))
        }
    }
}

/// Adds `outcome` and `alerts` to the journal at `path`, durably: when this returns `Ok`,
/// they survive a crash or a power loss.
pub fn keep(path: &Path, outcome: &Unrecorded, alerts: &[KeptAlert]) -> Result<(), JournalError> {
    let mut all = read(path)?;
    all.outcomes.push(outcome.clone());
    all.alerts.extend_from_slice(alerts);
    let mut bytes = serde_json::to_vec_pretty(&all).expect("plain data serializes");
    bytes.push(b'\n');
    statefile::write_durable(path, &bytes).map_err(|source| JournalError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Removes the journal once its outcomes are in the registry.
pub fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: &str) -> Unrecorded {
        Unrecorded {
            draft_id: id.into(),
            kind: "github_comment".into(),
            ok: true,
            reason: None,
            executed_url: Some("https://example.test/1".into()),
            at: 1000,
        }
    }

    #[test]
    fn outcomes_accumulate_and_are_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(FILE);
        assert!(read(&path).expect("no journal").is_empty());
        let alert = KeptAlert {
            subject: "s".into(),
            body: "b".into(),
            draft_id: Some("b".into()),
            at: 1000,
        };
        keep(&path, &outcome("a"), &[]).expect("keep a");
        keep(&path, &outcome("b"), std::slice::from_ref(&alert)).expect("keep b");
        let kept = read(&path).expect("read");
        assert_eq!(kept.outcomes, vec![outcome("a"), outcome("b")]);
        assert_eq!(kept.alerts, vec![alert]);
        remove(&path).expect("remove");
        remove(&path).expect("removing twice is fine");
        assert!(read(&path).expect("gone").is_empty());
    }

    #[test]
    fn removing_a_missing_journal_is_fine_and_any_other_failure_is_reported() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(remove(&dir.path().join("absent.json")).is_ok());
        // unlink(2) refuses a directory: a failure that is not "already gone".
        let not_a_file = dir.path().join("journal.json");
        std::fs::create_dir(&not_a_file).expect("mkdir");
        assert!(remove(&not_a_file).is_err());
    }

    #[test]
    fn a_damaged_journal_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(FILE);
        std::fs::write(&path, b"{\"outcomes\": [{\"draft_id\": 3").expect("write");
        let e = read(&path).expect_err("damaged");
        assert!(e.to_string().contains("reconcile"), "{e}");
        assert!(
            keep(&path, &outcome("a"), &[]).is_err(),
            "never overwritten"
        );
    }
}
