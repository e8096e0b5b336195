//! Outcome batching: a dispatched draft's outcome is committed inside the next draft's
//! transaction (its claim or refusal), so a batch of N dispatched drafts costs N + 1 durable
//! commits instead of 2N.
//!
//! This never weakens at-most-once: each claim still commits before its side effect, and a
//! crash before an outcome's commit leaves that draft in `executing`, exactly as a crash
//! during its dispatch would.
//!
//! Alerts ride the same way: an alert held here goes into the outbox in the next commit, so
//! an outcome and the alert that reports it are durable together or not at all, and a
//! SIGKILL after that commit cannot lose the alert.
//!
//! An outcome the registry will not take at all (its write lock held past the busy timeout,
//! a full disk) goes to the outcome journal with the alerts in hand, and the next run records
//! them before anything else.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cycle_report::{DraftResult, Outcome};
use crate::journal::{self, KeptAlert, Unrecorded};
use crate::notify::Mail;
use crate::outbox;
use crate::registry::{
    self, AttemptKind, AttemptOutcome, MoveFields, Registry, RegistryError, Status, Transaction,
};

/// The outcome and the alerts in hand: written first in every transaction the cycle begins,
/// and let go only once a commit carried them, or the journal did.
#[derive(Debug)]
pub(super) struct Batch {
    waiting: Option<Unrecorded>,
    alerts: Vec<(Mail, i64)>,
    /// Where an outcome the registry will not take is kept for the next run.
    journal: PathBuf,
    /// A commit carrying what is in hand failed: on a database server it may still have
    /// gone through (the reply lost with the connection), so it is looked for before it is
    /// written again.
    uncertain: bool,
}

impl Batch {
    /// A batch whose unrecordable outcomes go to the journal at `journal`.
    pub(super) fn new(journal: PathBuf) -> Batch {
        Batch {
            waiting: None,
            alerts: Vec::new(),
            journal,
            uncertain: false,
        }
    }

    /// Begins the next draft's transaction, with the waiting outcome already written in it.
    pub(super) fn begin<'r>(
        &self,
        registry: &'r mut dyn Registry,
    ) -> Result<Box<dyn Transaction + 'r>, RegistryError> {
        let mut tx = registry.begin()?;
        self.write_held(&mut *tx)?;
        Ok(tx)
    }

    /// Commits a transaction from [`Batch::begin`]; the outcome it carried is then settled.
    /// On error it stays in hand for [`Batch::flush`].
    pub(super) fn commit(&mut self, tx: Box<dyn Transaction + '_>) -> Result<(), RegistryError> {
        if let Err(e) = tx.commit() {
            self.uncertain = true;
            return Err(e);
        }
        self.waiting = None;
        self.alerts.clear();
        Ok(())
    }

    /// Holds an alert (raised at `at`) for the next commit.
    pub(super) fn hold_alert(&mut self, mail: Mail, at: i64) {
        self.alerts.push((mail, at));
    }

    fn write_held(&self, tx: &mut dyn Transaction) -> Result<(), RegistryError> {
        if let Some(outcome) = &self.waiting {
            record_outcome(tx, outcome)?;
        }
        for (mail, at) in &self.alerts {
            outbox::enqueue(tx, mail, *at)?;
        }
        Ok(())
    }

    /// Holds a dispatched draft's outcome for the next commit.
    pub(super) fn hold(&mut self, outcome: Unrecorded) {
        debug_assert!(self.waiting.is_none(), "an outcome was left unrecorded");
        self.waiting = Some(outcome);
    }

    /// Commits the waiting outcome and alerts on their own, at the end of the cycle. When the
    /// registry will not take an outcome, it goes to the journal with the alerts (durably,
    /// before the run gives up), and the error says which draft ran, what its handler did,
    /// and where its outcome is.
    pub(super) fn flush(&mut self, registry: &mut dyn Registry) -> anyhow::Result<()> {
        let Err(e) = self.write_alone(registry) else {
            return Ok(());
        };
        let e = anyhow::Error::new(e);
        Err(match self.keep() {
            Some(said) => e.context(said),
            None => e.context("recording this cycle's alerts in the outbox"),
        })
    }

    /// Stops the cycle on `e`: what is in hand is still recorded, or journalled, and the
    /// error then says so.
    pub(super) fn stop(&mut self, registry: &mut dyn Registry, e: anyhow::Error) -> anyhow::Error {
        let Err(again) = self.write_alone(registry) else {
            return e;
        };
        log::warn!("recording what the cycle had in hand: {again}");
        match self.keep() {
            Some(said) => e.context(said),
            None => e,
        }
    }

    /// Commits what is in hand in a transaction of its own.
    fn write_alone(&mut self, registry: &mut dyn Registry) -> Result<(), RegistryError> {
        if self.waiting.is_none() && self.alerts.is_empty() {
            return Ok(());
        }
        if self.uncertain && self.already_recorded(registry)? {
            // The failed commit went through: the alerts rode in it too.
            self.waiting = None;
            self.alerts.clear();
            return Ok(());
        }
        registry::write(registry, |w| self.write_held(w))?;
        self.waiting = None;
        self.alerts.clear();
        Ok(())
    }

    /// Whether the outcome in hand is in the registry already: a draft is dispatched at most
    /// once, so it has at most one `execute` attempt.
    fn already_recorded(&self, registry: &mut dyn Registry) -> Result<bool, RegistryError> {
        let Some(o) = &self.waiting else {
            return Ok(false);
        };
        let attempts = registry.attempts(&o.draft_id)?;
        let recorded = attempts
            .iter()
            .any(|a| a.kind == AttemptKind::Execute.as_str());
        if recorded {
            log::info!(
                "the outcome of draft {} was recorded by a commit whose reply was lost",
                o.draft_id
            );
        }
        Ok(recorded)
    }

    /// Journals what is in hand, which the registry would not take; returns what to tell the
    /// operator when an outcome was among it.
    fn keep(&mut self) -> Option<String> {
        let alerts: Vec<KeptAlert> = std::mem::take(&mut self.alerts)
            .into_iter()
            .map(|(mail, at)| KeptAlert {
                subject: mail.subject,
                body: mail.body,
                draft_id: mail.draft_id,
                at,
            })
            .collect();
        let log_alerts = |alerts: &[KeptAlert]| {
            // Not lost without a trace: the log has every alert the registry would not take.
            for a in alerts {
                log::warn!("alert not recorded: {}\n{}", a.subject, a.body);
            }
        };
        let Some(o) = self.waiting.take() else {
            log_alerts(&alerts);
            return None;
        };
        let id = &o.draft_id;
        let what = o.describe();
        Some(match journal::keep(&self.journal, &o, &alerts) {
            Ok(()) => format!(
                "draft {id} ran and its handler {what}, but the registry would not take its outcome: it is kept in {} and the next run records it (the draft is executing until then)",
                self.journal.display()
            ),
            Err(je) => {
                log_alerts(&alerts);
                format!(
                    "the outcome of draft {id} was not recorded: its handler {what}; it stays executing, settle it with `inbox-exec reconcile resolve {id}` ({je})"
                )
            }
        })
    }
}

impl Drop for Batch {
    /// An outcome still in hand when the batch goes away is journalled, never dropped (alerts
    /// without one are logged). Every path through the cycle commits it or hands it to
    /// [`Batch::flush`] or [`Batch::stop`]; what reaches here is a panic between a dispatch
    /// and the commit that records it, which would otherwise leave the draft in `executing`
    /// with its side effect done and its outcome known to no one. The next run records it
    /// from the journal. (An abort, unlike a panic, still loses it.)
    fn drop(&mut self) {
        if self.waiting.is_none() && self.alerts.is_empty() {
            return;
        }
        if let Some(said) = self.keep() {
            log::error!("{said}");
        }
    }
}

/// Records what earlier runs kept in the journal at `path` (outcomes, and the alerts that
/// were to ride with them), then removes it. An outcome already in the registry (the journal
/// outlived its recording) is not recorded twice: a draft is dispatched at most once, so it
/// has at most one `execute` attempt.
pub(super) fn record_journal(
    registry: &mut dyn Registry,
    path: &Path,
) -> anyhow::Result<Vec<DraftResult>> {
    let kept = journal::read(path)?;
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    let mut fresh = Vec::new();
    for o in kept.outcomes {
        let attempts = registry
            .attempts(&o.draft_id)
            .with_context(|| format!("reading the attempts of draft {}", o.draft_id))?;
        if attempts
            .iter()
            .any(|a| a.kind == AttemptKind::Execute.as_str())
        {
            log::info!(
                "the journalled outcome of draft {} is already recorded",
                o.draft_id
            );
        } else {
            fresh.push(o);
        }
    }
    registry::write(registry, |w| {
        for o in &fresh {
            record_outcome(w, o)?;
        }
        for a in &kept.alerts {
            w.enqueue_alert(&a.subject, &a.body, a.draft_id.as_deref(), a.at)?;
        }
        Ok(())
    })
    .with_context(|| {
        format!(
            "recording the outcomes kept in {} (they stay there for the next run)",
            path.display()
        )
    })?;
    if let Err(e) = journal::remove(path) {
        // The next run finds the outcomes recorded (its alerts would go out twice).
        log::warn!("cannot remove the outcome journal {}: {e}", path.display());
    }
    Ok(fresh
        .into_iter()
        .map(|o| {
            log::warn!(
                "recorded the outcome of draft {} from an earlier run: its handler {}",
                o.draft_id,
                o.describe()
            );
            DraftResult {
                outcome: if o.ok {
                    Outcome::Executed
                } else {
                    Outcome::ExecuteFailed
                },
                draft_id: o.draft_id,
                kind: o.kind,
                reason: o.reason,
                executed_url: o.executed_url,
            }
        })
        .collect())
}

/// The execute attempt and executing → completed / completed_with_error, in `w`.
fn record_outcome(w: &mut dyn Transaction, o: &Unrecorded) -> Result<(), RegistryError> {
    let (outcome, to) = if o.ok {
        (AttemptOutcome::Ok, Status::Completed)
    } else {
        (AttemptOutcome::Failed, Status::CompletedWithError)
    };
    w.record_attempt(
        &o.draft_id,
        AttemptKind::Execute,
        outcome,
        o.reason.as_deref(),
        o.executed_url.as_deref(),
        o.at,
    )?;
    let fields = MoveFields {
        executed_url: o.executed_url.as_deref(),
        last_error: o.reason.as_deref(),
        completed: true,
        ..MoveFields::default()
    };
    if !w.transition(&o.draft_id, Status::Executing, to, &fields, o.at)? {
        log::warn!(
            "draft {} left executing while its handler ran (settled by hand?); its outcome is recorded as an attempt",
            o.draft_id
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_in_hand_at_a_panic_is_journalled() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(journal::FILE);
        let outcome = Unrecorded {
            draft_id: "01ARZ3NDEKTSV4RRFFQ69G5FAV".into(),
            kind: "github_comment".into(),
            ok: true,
            reason: None,
            executed_url: Some("https://example.test/1".into()),
            at: 1000,
        };
        let held = outcome.clone();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut batch = Batch::new(path.clone());
            batch.hold(held);
            panic!("between a dispatch and its recording");
        }));

        assert!(panicked.is_err());
        assert_eq!(
            journal::read(&path).expect("journal").outcomes,
            vec![outcome]
        );
    }

    #[test]
    fn a_batch_with_nothing_in_hand_leaves_no_journal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(journal::FILE);
        drop(Batch::new(path.clone()));
        assert!(!path.exists());
    }
}
