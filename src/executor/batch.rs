//! Outcome batching: a dispatched draft's outcome is committed inside the next draft's
//! transaction (its claim or refusal), so a batch of N dispatched drafts costs N + 1 durable
//! commits instead of 2N.
//!
//! This never weakens at-most-once: each claim still commits before its side effect, and a
//! crash before an outcome's commit leaves that draft in `executing`, exactly as a crash
//! during its dispatch would. An outcome the registry will not take at all (its write lock
//! held past the busy timeout, a full disk) goes to the outcome journal, and the next run
//! records it before anything else.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::cycle_report::{DraftResult, Outcome};
use crate::journal::{self, Unrecorded};
use crate::registry::{
    self, AttemptKind, AttemptOutcome, MoveFields, Registry, RegistryError, Status, Transaction,
};

/// The outcome in hand, if any: written first in every transaction the cycle begins, and let
/// go only once a commit carried it, or the journal did.
#[derive(Debug)]
pub(super) struct Batch {
    waiting: Option<Unrecorded>,
    /// Where an outcome the registry will not take is kept for the next run.
    journal: PathBuf,
}

impl Batch {
    /// A batch whose unrecordable outcomes go to the journal at `journal`.
    pub(super) fn new(journal: PathBuf) -> Batch {
        Batch {
            waiting: None,
            journal,
        }
    }

    /// Begins the next draft's transaction, with the waiting outcome already written in it.
    pub(super) fn begin<'r>(
        &self,
        registry: &'r mut dyn Registry,
    ) -> Result<Box<dyn Transaction + 'r>, RegistryError> {
        let mut tx = registry.begin()?;
        if let Some(outcome) = &self.waiting {
            record_outcome(&mut *tx, outcome)?;
        }
        Ok(tx)
    }

    /// Commits a transaction from [`Batch::begin`]; the outcome it carried is then settled.
    /// On error it stays in hand for [`Batch::flush`].
    pub(super) fn commit(&mut self, tx: Box<dyn Transaction + '_>) -> Result<(), RegistryError> {
        tx.commit()?;
        self.waiting = None;
        Ok(())
    }

    /// Holds a dispatched draft's outcome for the next commit.
    pub(super) fn hold(&mut self, outcome: Unrecorded) {
        debug_assert!(self.waiting.is_none(), "an outcome was left unrecorded");
        self.waiting = Some(outcome);
    }

    /// Commits the waiting outcome on its own, at the end of the batch. When the registry
    /// will not take it, it goes to the journal (durably, before the run gives up), and the
    /// error says which draft ran, what its handler did, and where its outcome is.
    pub(super) fn flush(&mut self, registry: &mut dyn Registry) -> anyhow::Result<()> {
        let Some(o) = self.waiting.take() else {
            return Ok(());
        };
        let Err(e) = registry::write(registry, |w| record_outcome(w, &o)) else {
            return Ok(());
        };
        Err(anyhow::Error::new(e).context(self.keep(&o)))
    }

    /// Stops the cycle on `e`: the outcome in hand is still recorded, or journalled, and the
    /// error then says so.
    pub(super) fn stop(&mut self, registry: &mut dyn Registry, e: anyhow::Error) -> anyhow::Error {
        let Some(o) = self.waiting.take() else {
            return e;
        };
        match registry::write(registry, |w| record_outcome(w, &o)) {
            Ok(()) => e,
            Err(again) => {
                log::warn!("recording the outcome of draft {}: {again}", o.draft_id);
                e.context(self.keep(&o))
            }
        }
    }

    /// Journals an outcome the registry would not take; returns what to tell the operator.
    fn keep(&self, o: &Unrecorded) -> String {
        let id = &o.draft_id;
        let what = o.describe();
        match journal::keep(&self.journal, o) {
            Ok(()) => format!(
                "draft {id} ran and its handler {what}, but the registry would not take its outcome: it is kept in {} and the next run records it (the draft is executing until then)",
                self.journal.display()
            ),
            Err(je) => format!(
                "the outcome of draft {id} was not recorded: its handler {what}; it stays executing, settle it with `inbox-exec reconcile resolve {id}` ({je})"
            ),
        }
    }
}

/// Records the outcomes an earlier run kept in the journal at `path`, then removes it. An
/// outcome already in the registry (the journal outlived its recording) is not recorded twice:
/// a draft is dispatched at most once, so it has at most one `execute` attempt.
pub(super) fn record_journal(
    registry: &mut dyn Registry,
    path: &Path,
) -> anyhow::Result<Vec<DraftResult>> {
    let kept = journal::read(path)?;
    if kept.is_empty() {
        return Ok(Vec::new());
    }
    let mut fresh = Vec::new();
    for o in kept {
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
        fresh.iter().try_for_each(|o| record_outcome(w, o))
    })
    .with_context(|| {
        format!(
            "recording the outcomes kept in {} (they stay there for the next run)",
            path.display()
        )
    })?;
    if let Err(e) = journal::remove(path) {
        // Harmless: the next run finds them recorded, and removes it then.
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
    };
    if !w.transition(&o.draft_id, Status::Executing, to, &fields, o.at)? {
        log::warn!(
            "draft {} left executing while its handler ran (settled by hand?); its outcome is recorded as an attempt",
            o.draft_id
        );
    }
    Ok(())
}
