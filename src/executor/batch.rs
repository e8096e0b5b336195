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

use anyhow::Context as _;

use crate::notify::Mail;
use crate::outbox;
use crate::registry::{
    self, AttemptKind, AttemptOutcome, MoveFields, Registry, RegistryError, Status, Transaction,
};

/// A dispatched draft's outcome, waiting for the next commit.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    /// The draft.
    pub(super) id: String,
    /// Whether its handler succeeded.
    pub(super) ok: bool,
    /// Why it failed.
    pub(super) reason: Option<String>,
    /// The URL it produced.
    pub(super) executed_url: Option<String>,
    /// When the handler finished.
    pub(super) at: i64,
}

/// The outcome and the alerts in hand: written first in every transaction the cycle begins,
/// and let go only once a commit carried them.
#[derive(Debug, Default)]
pub(super) struct Batch {
    waiting: Option<Recorded>,
    alerts: Vec<(Mail, i64)>,
}

impl Batch {
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
        tx.commit()?;
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
    pub(super) fn hold(&mut self, outcome: Recorded) {
        debug_assert!(self.waiting.is_none(), "an outcome was left unrecorded");
        self.waiting = Some(outcome);
    }

    /// Commits the waiting outcome on its own, at the end of the batch (or when the cycle
    /// stops on an error). When even that fails, the error says what the outcome was, so the
    /// operator can settle the draft by hand.
    pub(super) fn flush(&mut self, registry: &mut dyn Registry) -> anyhow::Result<()> {
        if self.waiting.is_none() && self.alerts.is_empty() {
            return Ok(());
        }
        let written = registry::write(registry, |w| self.write_held(w));
        let alerts = std::mem::take(&mut self.alerts);
        let waiting = self.waiting.take();
        if written.is_ok() {
            return Ok(());
        }
        // Not lost without a trace: the log has every alert the registry would not take.
        for (mail, _) in &alerts {
            log::warn!("alert not recorded: {}\n{}", mail.subject, mail.body);
        }
        let Some(o) = waiting else {
            return written.context("recording this cycle's alerts in the outbox");
        };
        written.with_context(|| {
            let what = match (o.ok, &o.executed_url, &o.reason) {
                (true, Some(url), _) => format!("succeeded ({url})"),
                (true, None, _) => "succeeded".to_owned(),
                (false, _, Some(reason)) => format!("failed ({reason})"),
                (false, _, None) => "failed".to_owned(),
            };
            format!(
                "the outcome of draft {} was not recorded: its handler {what}; it stays executing, settle it with `inbox-exec reconcile resolve {}`",
                o.id, o.id
            )
        })
    }
}

/// The execute attempt and executing → completed / completed_with_error, in `w`.
fn record_outcome(w: &mut dyn Transaction, o: &Recorded) -> Result<(), RegistryError> {
    let (outcome, to) = if o.ok {
        (AttemptOutcome::Ok, Status::Completed)
    } else {
        (AttemptOutcome::Failed, Status::CompletedWithError)
    };
    w.record_attempt(
        &o.id,
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
    if !w.transition(&o.id, Status::Executing, to, &fields, o.at)? {
        log::warn!(
            "draft {} left executing while its handler ran (settled by hand?); its outcome is recorded as an attempt",
            o.id
        );
    }
    Ok(())
}
