//! One cycle of `inbox-exec run`, top to bottom: lock → thermal window → for each approved
//! draft, oldest first: verify → refuse → validate → claim → dispatch → record.
//!
//! At most once: the claim (approved → executing) is committed durably, with
//! `synchronous=FULL`, *before* the handler starts, and nothing ever moves a draft back to
//! approved. A crash after the claim leaves the draft in `executing` for a human to settle
//! with `reconcile`; a crash before it leaves the draft approved and untouched. Each draft is
//! read again inside the transaction that claims or refuses it, so the decision and the move
//! rest on the same row.

mod batch;

use std::cell::LazyCell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;

use crate::alerts::Alert;
use crate::config::Config;
use crate::cycle_report::{CycleReport, DraftResult, Outcome, RunStatus};
use crate::dispatch::{Dispatched, Handlers, Prepared};
use crate::draft::{KeyRing, SqlValue, VerifyError, verify};
use crate::fsutil::OpenError;
use crate::idle;
use crate::journal::{self, Unrecorded};
use crate::lock::{LOCK_FILE, RunLock};
use crate::metrics;
use crate::notify::{Mail, Mailer};
use crate::outbox;
use crate::process::{claim_liveness, this_process};
use crate::registry::{
    self, AttemptKind, AttemptOutcome, Claimer, DraftRow, MoveFields, OpenMode, Registry, RowKey,
    Status, Transaction,
};
use crate::statefile;
use crate::summary;
use crate::thermal::{Action, ClaimsLog, THERMAL_FILE, Thermal};
use batch::Batch;

/// How to run the cycle.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// At most this many drafts.
    pub batch: usize,
    /// Change nothing.
    pub dry_run: bool,
}

/// The cycle's collaborators.
pub struct Cycle<'a> {
    /// Settings.
    pub config: &'a Config,
    /// The handler table.
    pub handlers: &'a Handlers,
    /// Where alerts are mailed; `None` logs them.
    pub mailer: Option<&'a Mailer>,
    /// The current Unix time; called at each step, never cached across a dispatch.
    pub clock: &'a dyn Fn() -> i64,
    /// This process, recorded with each claim: looked up (`/proc`, the boot id) on the first
    /// claim, so an idle cycle does not.
    pub claimer: &'a LazyCell<Claimer>,
    /// Set by SIGTERM or SIGINT: finish the draft in hand, record it, claim nothing more.
    pub stop: &'a AtomicBool,
}

/// What verify → refuse → validate made of a draft.
enum Decision<'h> {
    /// Ended without a claim.
    Refuse(Refusal),
    /// Ready to claim and dispatch.
    Dispatch {
        /// The verified kind.
        kind: String,
        /// What its handler will run.
        prepared: Prepared<'h>,
    },
}

/// What the claim transaction decided.
enum Claim {
    /// Claimed, committed: dispatch it.
    Claimed,
    /// Another executor moved the draft first.
    Lost,
    /// The window shared with the other executors is paused: left approved.
    Deferred,
}

/// How a draft is ended without a claim.
struct Refusal {
    outcome: Outcome,
    to: Status,
    last_error: String,
    attempt: (AttemptKind, AttemptOutcome),
    reason: String,
    alert: Alert,
}

impl<'a> Cycle<'a> {
    /// Runs one cycle. `Err` means the cycle could not run or could not record what it did
    /// (registry gone, key refused, state directory unwritable); every draft handled before
    /// that is fully recorded, and a draft whose side effect ran stays in `executing`.
    /// On a SQLite registry that nothing has written since a quiet cycle left its idle mark
    /// (`crate::idle`), the run reports idle without opening it.
    pub fn run(&mut self, opts: RunOptions) -> anyhow::Result<CycleReport> {
        let state_dir = self.config.state_dir.clone();
        if opts.dry_run {
            // Read-only: no lock, no migration, no transaction.
            let mut registry = self.open_registry(OpenMode::ReadOnly)?;
            return self.cycle(&mut *registry, &state_dir, opts);
        }
        // Decided before the state directory is created: earlier runs leave files there, and a
        // default registry that vanished after them must not come back empty.
        let mode = registry::first_use_mode(self.config);
        statefile::ensure_dir(&state_dir)?;
        let lock_path = state_dir.join(LOCK_FILE);
        let lock = RunLock::try_acquire(&lock_path).context("taking the run lock")?;
        let Some(_lock) = lock else {
            log::info!("another run holds {}", lock_path.display());
            return Ok(CycleReport::new(RunStatus::Skipped, false));
        };
        // Taken before the registry is opened (never while it is: closing a descriptor of
        // its files would drop SQLite's locks on them), so that a write from then on shows
        // in the fingerprint taken after it is closed.
        let before = idle::Fingerprint::take(self.config);
        if let Some(report) = before.as_ref().and_then(|f| self.skip(&state_dir, f)) {
            return Ok(report);
        }
        idle::forget(&state_dir);
        // The registry's own lock: two state directories on one registry never run at once.
        let mut snapshot = None;
        let mut quiet = None;
        let cycle = match self.open_locked(mode) {
            Ok(Some(mut locked)) => {
                locked.registry.cycle_writer();
                let cycle = self.cycle(&mut *locked.registry, &state_dir, opts);
                // Whatever happened to the cycle, the alerts it committed go out now: under the
                // lock (two runs never send one alert twice), before the summary says it ended.
                self.deliver(&mut *locked.registry);
                snapshot = self.snapshot(&mut *locked.registry);
                if before.is_some() && cycle.as_ref().is_ok_and(is_quiet) {
                    quiet = self.quiet(&mut *locked.registry);
                }
                cycle
            }
            Ok(None) => return Ok(self.registry_held()),
            Err(e) => Err(e),
        };
        let report = match cycle {
            Ok(report) => report,
            Err(e) => {
                // Still under the lock, so the summary's running totals cannot race another
                // run's: `status --check` sees the failure.
                let now = (self.clock)();
                let (failed, totals) = summary::record_failure(&state_dir, &format!("{e:#}"), now);
                self.write_metrics(&failed, totals.as_ref(), snapshot.as_ref(), now);
                return Err(e);
            }
        };
        let report = self.finish(&state_dir, report, snapshot);
        // The registry is closed, its files as this cycle leaves them: unchanged since
        // before it was opened, nobody wrote while the cycle looked. The state files are as
        // this cycle wrote them.
        if let (Some(before), Some(quiet), None) = (&before, quiet, &report.summary_error)
            && let Some(after) = idle::Fingerprint::take(self.config)
            && after.same_registry(before)
            && let Err(e) = idle::leave(&state_dir, &after, quiet, (self.clock)())
        {
            log::warn!(
                "cannot write the idle mark in {} ({e})",
                state_dir.display()
            );
        }
        Ok(report)
    }

    /// The run, when the idle mark matches `fingerprint`: idle (summary and metrics written,
    /// the registry not opened), or skipped when a run of another state directory holds the
    /// registry, as a full cycle would be. `None`: the full cycle runs.
    fn skip(&self, state_dir: &Path, fingerprint: &idle::Fingerprint) -> Option<CycleReport> {
        let quiet = idle::matching(state_dir, fingerprint, (self.clock)())?;
        match lock_file(&self.config.db) {
            Ok(Held::Locked(_registry_lock)) => {
                log::info!(
                    "idle: the registry is as the last quiet cycle left it; not opened ({})",
                    state_dir.join(idle::IDLE_FILE).display()
                );
                let snapshot = self.config.metrics_file.as_ref().map(|_| quiet.snapshot());
                let report = CycleReport::new(RunStatus::Idle, false);
                Some(self.finish(state_dir, report, snapshot))
            }
            Ok(Held::ByAnother) => Some(self.registry_held()),
            // Gone or unreadable since the fingerprint was taken: the full cycle says what is
            // wrong, and records it in the summary.
            Ok(Held::NoFile) | Err(_) => None,
        }
    }

    /// The report of a run that found the registry's lock held by a run of another state
    /// directory: nothing touched, no summary.
    fn registry_held(&self) -> CycleReport {
        log::info!(
            "another run holds the registry {}",
            self.config.db.display()
        );
        CycleReport::new(RunStatus::Skipped, false)
    }

    /// The summary and the metrics of a cycle that ran to its end, or of a run that skipped
    /// the registry.
    fn finish(
        &self,
        state_dir: &Path,
        mut report: CycleReport,
        snapshot: Option<metrics::Snapshot>,
    ) -> CycleReport {
        let now = (self.clock)();
        let totals = match summary::write(state_dir, &report, now) {
            Ok(totals) => Some(totals),
            Err(e) => {
                report.summary_error = Some(format!(
                    "{e:#} (the drafts above were processed and their outcomes recorded)"
                ));
                None
            }
        };
        self.write_metrics(&report, totals.as_ref(), snapshot.as_ref(), now);
        report
    }

    /// After a cycle that found nothing to do: whether nothing in the registry will become
    /// due with time alone, so that runs may skip it until something writes to it. Every
    /// draft in `executing` must be past `stuck_after` and alerted about (else an alert
    /// falls due), and no alert may be waiting (its retry falls due).
    fn quiet(&self, registry: &mut dyn Registry) -> Option<idle::Quiet> {
        let now = (self.clock)();
        let stuck_after = self.config.stuck_after_s();
        let executing = registry.executing(i64::MAX).ok()?;
        let settled = executing
            .iter()
            .all(|e| e.alerted && e.claimed_at <= now.saturating_sub(stuck_after));
        let waiting = registry.alerts_waiting().ok()?.count;
        (settled && waiting == 0).then_some(idle::Quiet {
            executing: executing.len(),
        })
    }

    /// The registry's state for the metrics file, when one is configured.
    fn snapshot(&self, registry: &mut dyn Registry) -> Option<metrics::Snapshot> {
        self.config.metrics_file.as_ref()?;
        metrics::Snapshot::read(registry, self.config, (self.clock)())
            .map_err(|e| log::error!("reading the registry for the metrics file: {e:#}"))
            .ok()
    }

    /// Rewrites `[run] metrics_file`, if configured. A failure is logged, not fatal: the
    /// drafts are recorded, and a monitor sees the file go stale.
    fn write_metrics(
        &self,
        report: &CycleReport,
        totals: Option<&summary::Totals>,
        snapshot: Option<&metrics::Snapshot>,
        now: i64,
    ) {
        let Some(path) = &self.config.metrics_file else {
            return;
        };
        let text = metrics::render(report, totals, snapshot, now);
        if let Err(e) = metrics::write(path, &text) {
            log::error!("cannot write the metrics file {}: {e}", path.display());
        }
    }

    fn open_registry(&self, mode: OpenMode) -> anyhow::Result<Box<dyn Registry>> {
        let db = &self.config.db;
        registry::open_named(db, &self.config.postgres, mode)
    }

    /// The registry under a lock on its file; `None` when another run holds it.
    fn open_locked(&self, mode: OpenMode) -> anyhow::Result<Option<Locked>> {
        let db = &self.config.db;
        let lock = match lock_file(db)? {
            Held::Locked(lock) => lock,
            Held::ByAnother => return Ok(None),
            Held::NoFile => {
                // A first run creates the (default) registry, then locks it; any other missing
                // registry is an error naming `init`. A registry that is still no file (a
                // database server) serialises runs itself.
                let registry = self.open_registry(mode)?;
                return Ok(match lock_file(db)? {
                    Held::Locked(lock) => Some(Locked {
                        registry,
                        _lock: Some(lock),
                    }),
                    Held::ByAnother => None,
                    Held::NoFile => Some(Locked {
                        registry,
                        _lock: None,
                    }),
                });
            }
        };
        Ok(Some(Locked {
            registry: self.open_registry(mode)?,
            _lock: Some(lock),
        }))
    }

    /// The delivery phase: the outbox's due alerts, within `[notify] deadline`.
    fn deliver(&self, registry: &mut dyn Registry) {
        let deadline = self
            .config
            .notify
            .as_ref()
            .map_or(Duration::ZERO, |n| n.deadline);
        outbox::deliver_due(registry, self.mailer, deadline, self.clock);
    }

    /// Under the lock: the thermal window, the stuck-draft alerts, the batch, the window saved.
    fn cycle(
        &mut self,
        registry: &mut dyn Registry,
        state_dir: &Path,
        opts: RunOptions,
    ) -> anyhow::Result<CycleReport> {
        let mut report = CycleReport::new(RunStatus::Paused, opts.dry_run);
        let journal_path = state_dir.join(journal::FILE);
        if !opts.dry_run {
            // Before anything else: what earlier runs did and could not record.
            report.recorded_late = batch::record_journal(registry, &journal_path)?;
        }
        let thermal_path = state_dir.join(THERMAL_FILE);
        // Every write of the cycle goes through the batch, so alerts ride with the outcomes
        // they report.
        let mut batch = Batch::new(journal_path);
        let mut claims_log = ClaimsLog::beside(&thermal_path);
        let (mut thermal, on_disk) = self.load_thermal(
            registry,
            &mut batch,
            &thermal_path,
            &mut claims_log,
            !opts.dry_run,
        )?;
        if !opts.dry_run
            && let Err(e) = self.alert_stuck(registry, &mut batch)
        {
            return Err(batch.stop(registry, e));
        }
        let mut done = Ok(());
        if !thermal.is_paused((self.clock)()) {
            let mut window = Window {
                thermal: &mut thermal,
                log: &mut claims_log,
            };
            done = self.batch(registry, &mut batch, &mut window, opts, &mut report);
        }
        // The last outcome, and any alert still in hand (a rebuilt window when nothing else
        // was written), are committed before the sidecar that reflects them is saved.
        if done.is_ok() && !opts.dry_run {
            done = batch.flush(registry);
        }
        // A cycle that claimed saves its window even when it fails: the claims are in it, and
        // the claims log is then no longer needed. One that failed before claiming does not:
        // an unusable sidecar stays for the next run to find, and to alert about again, since
        // the registry refused this run's alert.
        if !opts.dry_run
            && (done.is_ok() || claims_log.claimed())
            && thermal.save(&thermal_path, on_disk.as_deref())
        {
            claims_log.clear();
        }
        done?;
        report.processed = report.results.len();
        if thermal.is_paused((self.clock)()) {
            report.paused_until = Some(thermal.paused_until);
        }
        Ok(report)
    }

    /// The thermal window, with an alert when an unusable sidecar had to be rebuilt or times
    /// from the future were brought back, and the sidecar's bytes as they were read.
    fn load_thermal(
        &mut self,
        registry: &mut dyn Registry,
        batch: &mut Batch,
        path: &Path,
        log: &mut ClaimsLog,
        alert: bool,
    ) -> anyhow::Result<(Thermal, Option<Vec<u8>>)> {
        let now = (self.clock)();
        let cfg = &self.config.thermal;
        let loaded = Thermal::load(registry, path, log, now, cfg)?;
        if let (Some(why), true) = (&loaded.unusable, alert) {
            let alert = Alert::thermal_rebuilt(path, why, &loaded.thermal, cfg, now);
            batch.hold_alert(Mail::new(&alert), now);
        }
        if let (Some(why), true) = (&loaded.log_unusable, alert) {
            let alert = Alert::thermal_log_unusable(log.path(), why);
            batch.hold_alert(Mail::new(&alert), now);
        }
        if loaded.clamped.any() {
            let future = Alert::thermal_future(&loaded.clamped, &loaded.thermal, cfg, now);
            log::warn!("{}", future.what);
            if alert {
                batch.hold_alert(Mail::new(&future), now);
            }
        }
        Ok((loaded.thermal, loaded.on_disk))
    }

    /// Alerts once about each draft that has sat in `executing` longer than `stuck_after`:
    /// the alert and the mark that it was raised are one commit, so a draft is never marked
    /// alerted without its alert in the outbox.
    fn alert_stuck(
        &mut self,
        registry: &mut dyn Registry,
        batch: &mut Batch,
    ) -> anyhow::Result<()> {
        let now = (self.clock)();
        let stuck_after = self.config.stuck_after_s();
        let fresh: Vec<_> = registry
            .executing(now.saturating_sub(stuck_after))
            .context("listing drafts stuck in executing")?
            .into_iter()
            .filter(|e| !e.alerted)
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let me = this_process();
        let mut tx = batch
            .begin(registry)
            .context("recording stuck-draft alerts")?;
        for e in &fresh {
            let alive = claim_liveness(e.session_alive, e.claimer.as_ref(), &me);
            let mail = Mail::new(&Alert::stuck(e, &alive, now)).about(&e.id);
            // Alerted only by the run that marks it: another executor sharing the registry
            // may have marked (and alerted about) it a moment ago.
            tx.mark_stuck_alerted(&e.key, now)
                .and_then(|marked| {
                    if marked {
                        outbox::enqueue(&mut *tx, &mail, now)?;
                    }
                    Ok(())
                })
                .context("recording stuck-draft alerts")?;
        }
        batch.commit(tx).context("recording stuck-draft alerts")
    }

    /// Up to `opts.batch` approved drafts, oldest first, until a stop signal: `report` gets
    /// the status (idle or ran) and a result per draft.
    fn batch(
        &mut self,
        registry: &mut dyn Registry,
        batch: &mut Batch,
        window: &mut Window<'_>,
        opts: RunOptions,
        report: &mut CycleReport,
    ) -> anyhow::Result<()> {
        let drafts = registry
            .batch_keys(Status::Approved, opts.batch)
            .context("listing approved drafts")?;
        report.status = if drafts.is_empty() {
            RunStatus::Idle
        } else {
            RunStatus::Ran
        };
        let ring = KeyRing::new(self.config.keys.clone());
        for (done, key) in drafts.iter().enumerate() {
            if self.stop.load(Ordering::Relaxed) {
                log::warn!(
                    "stopping on a signal: {} approved draft(s) left for the next run",
                    drafts.len() - done
                );
                break;
            }
            let result = match self.one(registry, batch, &ring, window, key, opts.dry_run) {
                Ok(Some(result)) => result,
                // Nothing deletes drafts; if something did, there is nothing to do.
                Ok(None) => continue,
                // Stopping the cycle: the outcome already in hand still gets recorded (or
                // journalled, and the error says so).
                Err(e) => return Err(batch.stop(registry, e)),
            };
            log::info!(
                "{} {} {}",
                result.outcome.as_str(),
                result.draft_id,
                result.kind
            );
            report.results.push(result);
        }
        Ok(())
    }

    /// One draft, start to finish; `None` when its row is gone. `Err` only for what stops
    /// the cycle.
    fn one(
        &mut self,
        registry: &mut dyn Registry,
        batch: &mut Batch,
        ring: &KeyRing,
        window: &mut Window<'_>,
        key: &RowKey,
        dry_run: bool,
    ) -> anyhow::Result<Option<DraftResult>> {
        if dry_run || window.thermal.is_paused((self.clock)()) {
            // Nothing will be written for this draft: a plain read will do.
            let Some(row) = registry.get_row(key).context("reading an approved draft")? else {
                return Ok(None);
            };
            return self.preview(&row, ring, window.thermal).map(Some);
        }
        let mut tx = batch
            .begin(registry)
            .context("starting the next draft's transaction (it stays approved)")?;
        let Some(row) = tx.get_row(key).context("reading an approved draft")? else {
            batch.commit(tx).context("recording the previous outcome")?;
            return Ok(None);
        };
        if row.status != Status::Approved.as_str() {
            // Another executor (or a human) moved it after the batch was listed.
            batch.commit(tx).context("recording the previous outcome")?;
            return Ok(Some(result(&row, Outcome::LostRace, None, None)));
        }
        let now = (self.clock)();
        match self.decide(&row, ring, now)? {
            Decision::Refuse(refusal) => self.refuse(batch, tx, &row, refusal, now).map(Some),
            Decision::Dispatch { kind, prepared } => {
                match self.claim(batch, tx, window.thermal, &row, now)? {
                    Claim::Claimed => {}
                    Claim::Lost => return Ok(Some(result(&row, Outcome::LostRace, None, None))),
                    Claim::Deferred => {
                        return Ok(Some(result(&row, Outcome::DeferredThermal, None, None)));
                    }
                }
                // Logged before the side effect, so neither a crash during the dispatch nor a
                // registry writer erasing the claim takes it out of the window.
                window.log.append_unsaved(window.thermal);
                // e. The side effect.
                let dispatched = prepared.dispatch();
                Ok(Some(self.record(batch, &row, &kind, dispatched)))
            }
        }
    }

    /// What the cycle would do with a draft it must not touch: deferred while the cutout is
    /// in force, otherwise (`--dry-run`) its verdict, with nothing written.
    fn preview(
        &self,
        row: &DraftRow,
        ring: &KeyRing,
        thermal: &Thermal,
    ) -> anyhow::Result<DraftResult> {
        let now = (self.clock)();
        if thermal.is_paused(now) {
            return Ok(result(row, Outcome::DeferredThermal, None, None));
        }
        Ok(match self.decide(row, ring, now)? {
            Decision::Refuse(r) => result(row, r.outcome, Some(r.reason), None),
            Decision::Dispatch { .. } => result(row, Outcome::WouldExecute, None, None),
        })
    }

    /// a. verify → b. refuse non-delegable → c. validate against the handler. `Err` only for
    /// a key the program refuses to use, which stops the cycle.
    fn decide(&self, row: &DraftRow, ring: &KeyRing, now: i64) -> anyhow::Result<Decision<'a>> {
        let id = row.id.as_str();
        // a. Re-verify: a draft approved a day ago may have expired or been edited since.
        let verified = match verify(&row.signed, ring, now, self.config.ttl_seconds()) {
            Ok(v) => v,
            Err(VerifyError::Key(e)) => {
                return Err(anyhow::Error::new(e).context(format!("verifying draft {id}")));
            }
            Err(e) => {
                let reason = e.to_string();
                return Ok(Decision::Refuse(Refusal {
                    outcome: Outcome::VerifyFailed,
                    to: Status::CompletedWithError,
                    last_error: format!("verify failed at execute time: {reason}"),
                    attempt: (AttemptKind::Verify, AttemptOutcome::Failed),
                    alert: Alert::verify_failed(id, &row.kind(), &reason),
                    reason,
                }));
            }
        };
        // b. Non-delegable kinds are refused whatever the configuration says.
        let kind = verified.kind.as_str();
        if self.config.is_non_delegable(kind) {
            return Ok(Decision::Refuse(Refusal {
                outcome: Outcome::RefusedNonDelegable,
                to: Status::TerminalUnrecoverable,
                last_error: "kind is on the non-delegable refusal list".into(),
                attempt: (AttemptKind::Execute, AttemptOutcome::Skipped),
                reason: format!("{kind} is non-delegable"),
                alert: Alert::non_delegable(id, kind),
            }));
        }
        // c. Validate against the handler before claiming, so a draft that cannot run never
        // sits in `executing` with nothing behind it.
        let handlers: &'a Handlers = self.handlers;
        match handlers.prepare(&verified) {
            Ok(prepared) => Ok(Decision::Dispatch {
                kind: verified.kind,
                prepared,
            }),
            Err(reason) => Ok(Decision::Refuse(Refusal {
                outcome: Outcome::ExecuteFailed,
                to: Status::CompletedWithError,
                last_error: reason.clone(),
                attempt: (AttemptKind::Execute, AttemptOutcome::Skipped),
                alert: Alert::dispatch_failed(id, kind, &reason, false),
                reason,
            })),
        }
    }

    /// Ends an approved draft without claiming it (verify failure, refusal, a handler that
    /// cannot take it): the move, its attempt and its alert in `tx`, committed together.
    fn refuse(
        &mut self,
        batch: &mut Batch,
        mut tx: Box<dyn Transaction + '_>,
        row: &DraftRow,
        refusal: Refusal,
        now: i64,
    ) -> anyhow::Result<DraftResult> {
        let id = row.id.as_str();
        let fields = MoveFields {
            last_error: Some(&refusal.last_error),
            completed: true,
            ..MoveFields::default()
        };
        // By row key: this path also ends rows whose draft_id no lookup can match. Their
        // attempt cannot be recorded (attempts need a draft_id); the alert still goes.
        let text_id = matches!(row.signed.draft_id, SqlValue::Text(_));
        let (kind, outcome) = refusal.attempt;
        let mail = Mail::new(&refusal.alert).about(id);
        let moved = tx
            .transition_row(&row.key, Status::Approved, refusal.to, &fields, now)
            .and_then(|moved| {
                if moved && text_id {
                    tx.record_attempt(id, kind, outcome, Some(&refusal.reason), None, now)?;
                }
                if moved {
                    outbox::enqueue(&mut *tx, &mail, now)?;
                }
                batch.commit(tx)?;
                Ok(moved)
            })
            .with_context(|| format!("recording the refusal of draft {id} (it stays approved)"))?;
        if !moved {
            return Ok(result(row, Outcome::LostRace, None, None));
        }
        Ok(result(row, refusal.outcome, Some(refusal.reason), None))
    }

    /// d. Claims the draft in `tx` and commits, durably, before the side effect. The verify
    /// attempt, the claim record and the previous draft's outcome ride in the same commit,
    /// and so does the thermal alert when this claim trips the cutout: the claim is counted
    /// before its side effect, and still runs (it is claimed), the `+ 1` of the bound.
    fn claim(
        &self,
        batch: &mut Batch,
        mut tx: Box<dyn Transaction + '_>,
        thermal: &mut Thermal,
        row: &DraftRow,
        now: i64,
    ) -> anyhow::Result<Claim> {
        let id = row.id.as_str();
        let (from, to) = (Status::Approved, Status::Executing);
        let cfg = &self.config.thermal;
        // On a registry shared by executors on several hosts (PostgreSQL), every executor's
        // claims are merged into the window under a lock each takes before it claims, held
        // until this commit: the check and the claim are one step across hosts.
        let shared = match tx.shared_actions(Thermal::horizon(now, cfg)) {
            Ok(Some(recorded)) => {
                thermal.merge(&recorded, now, cfg);
                thermal.is_paused(now)
            }
            Ok(None) => false,
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context(format!("claiming draft {id} (it stays approved)")));
            }
        };
        if shared {
            batch.commit(tx).context("recording the previous outcome")?;
            return Ok(Claim::Deferred);
        }
        let moved = tx
            .transition(id, from, to, &MoveFields::default(), now)
            .and_then(|moved| {
                if moved {
                    // `ok` as the reason, as the reference's verify_draft returns it.
                    let attempt_id = tx.record_attempt(
                        id,
                        AttemptKind::Verify,
                        AttemptOutcome::Ok,
                        Some("ok"),
                        None,
                        now,
                    )?;
                    tx.record_claim(id, self.claimer, now)?;
                    let action = Action {
                        at: now,
                        draft_id: Some(id.to_owned()),
                        attempt_id: Some(attempt_id),
                    };
                    if thermal.record(action, now, cfg) {
                        let alert = Alert::thermal_tripped(thermal, cfg, now);
                        outbox::enqueue(&mut *tx, &Mail::new(&alert), now)?;
                    }
                }
                Ok(moved)
            })
            .with_context(|| format!("claiming draft {id} (it stays approved)"))?;
        // A database server may have committed it and lost the reply with the connection: the
        // claim is then in doubt, never the dispatch, which has not started.
        batch.commit(tx).with_context(|| {
            format!(
                "committing the claim of draft {id}: if it is now executing, the claim went through but its handler never ran; settle it with `inbox-exec reconcile resolve {id} --as failed --note \"never dispatched\"`"
            )
        })?;
        Ok(if moved { Claim::Claimed } else { Claim::Lost })
    }

    /// f. After the side effect: hold the outcome for the next commit (see `batch`), alert
    /// on failure (the alert held to ride in the same commit as the outcome).
    fn record(
        &mut self,
        batch: &mut Batch,
        row: &DraftRow,
        kind: &str,
        dispatched: Dispatched,
    ) -> DraftResult {
        let Dispatched {
            ok,
            executed_url,
            reason,
        } = dispatched;
        let done_at = (self.clock)();
        let reason = if ok {
            None
        } else {
            Some(reason.unwrap_or_else(|| "handler failed".into()))
        };
        batch.hold(Unrecorded {
            draft_id: row.id.clone(),
            kind: kind.to_owned(),
            ok,
            reason: reason.clone(),
            executed_url: executed_url.clone(),
            at: done_at,
        });
        if let Some(reason) = &reason {
            let alert = Alert::dispatch_failed(&row.id, kind, reason, true);
            batch.hold_alert(Mail::new(&alert).about(&row.id), done_at);
        }
        match reason {
            None => result(row, Outcome::Executed, None, executed_url),
            Some(reason) => result(row, Outcome::ExecuteFailed, Some(reason), None),
        }
    }
}

/// A cycle that found nothing approved (and so ran nothing, and is not paused: a pause
/// starts only with a claim). Outcomes it recorded for an earlier run were written to the
/// registry, which changes its fingerprint, so they leave no mark either.
fn is_quiet(report: &CycleReport) -> bool {
    report.status == RunStatus::Idle
}

fn result(
    row: &DraftRow,
    outcome: Outcome,
    reason: Option<String>,
    url: Option<String>,
) -> DraftResult {
    DraftResult {
        draft_id: row.id.clone(),
        kind: row.kind(),
        outcome,
        reason,
        executed_url: url,
    }
}

/// The thermal window in hand, and the log its new entries go to before each dispatch.
struct Window<'w> {
    thermal: &'w mut Thermal,
    log: &'w mut ClaimsLog,
}

/// The registry, opened under the lock on its file. Fields drop in order: the connection
/// closes before the lock's descriptor does, as it must (closing any descriptor of the
/// database while SQLite holds its POSIX locks on it would drop them).
struct Locked {
    registry: Box<dyn Registry>,
    _lock: Option<RunLock>,
}

/// Whether the lock on the registry's file is ours.
enum Held {
    Locked(RunLock),
    ByAnother,
    /// No such file.
    NoFile,
}

fn lock_file(db: &Path) -> anyhow::Result<Held> {
    if crate::registry::postgres::is_postgres_url(&db.to_string_lossy()) {
        // A database server, not a file: its own locks serialise what must be.
        return Ok(Held::NoFile);
    }
    match RunLock::try_acquire_existing(db) {
        Ok(Some(lock)) => Ok(Held::Locked(lock)),
        Ok(None) => Ok(Held::ByAnother),
        Err(OpenError::Missing(_)) => Ok(Held::NoFile),
        Err(e) => Err(anyhow::Error::new(e).context("taking the run lock on the registry")),
    }
}
