//! One cycle of `inbox-exec run`: lock, thermal window, then for each approved draft, oldest
//! first: verify → refuse → claim → dispatch → record.
//!
//! At most once: the claim (approved → executing) is committed durably, with
//! `synchronous=FULL`, *before* the handler starts, and nothing ever moves a draft back to
//! approved. A crash after the claim leaves the draft in `executing` for a human to settle
//! with `reconcile`; a crash before it leaves the draft approved and untouched.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use serde::Serialize;

use crate::config::Config;
use crate::dispatch::{Dispatched, Handlers};
use crate::draft::{KeyRing, VerifyError, verify};
use crate::lock::RunLock;
use crate::notify::Notifier;
use crate::registry::{
    AttemptKind, AttemptOutcome, Claimer, DraftRow, MoveFields, OpenMode, Registry, RegistryError,
    Status, Writer,
};
use crate::statefile::{self, Contents};
use crate::thermal::Thermal;

/// File names inside the state directory.
pub const LOCK_FILE: &str = "inbox-exec.lock";
/// The thermal sidecar.
pub const THERMAL_FILE: &str = "thermal.json";
/// The last run's summary.
pub const SUMMARY_FILE: &str = "last-run.json";

/// What the cycle did as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Drafts were processed.
    Ran,
    /// Nothing was approved.
    Idle,
    /// The thermal cutout is in force.
    Paused,
    /// Another run holds the lock; nothing was touched.
    Skipped,
    /// The cycle stopped on an error (only ever in the summary file).
    Failed,
}

/// What happened to one draft (the reference's outcome words, plus `would_execute` for
/// `--dry-run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Dispatched and done.
    Executed,
    /// Dispatched and failed, or refused by its handler before the claim.
    ExecuteFailed,
    /// Did not verify at execute time.
    VerifyFailed,
    /// A non-delegable kind.
    RefusedNonDelegable,
    /// Another executor moved it first.
    LostRace,
    /// Left approved because the thermal cutout tripped.
    DeferredThermal,
    /// `--dry-run`: would be dispatched.
    WouldExecute,
}

impl Outcome {
    /// The word, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::ExecuteFailed => "execute_failed",
            Outcome::VerifyFailed => "verify_failed",
            Outcome::RefusedNonDelegable => "refused_non_delegable",
            Outcome::LostRace => "lost_race",
            Outcome::DeferredThermal => "deferred_thermal",
            Outcome::WouldExecute => "would_execute",
        }
    }
}

/// One draft's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct DraftResult {
    /// The draft.
    pub draft_id: String,
    /// Its kind.
    pub kind: String,
    /// What happened.
    pub outcome: Outcome,
    /// Why, for anything but success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The URL the action produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executed_url: Option<String>,
}

/// What one cycle did.
#[derive(Debug, Clone, Serialize)]
pub struct CycleReport {
    /// The cycle as a whole.
    pub status: RunStatus,
    /// How many drafts were looked at.
    pub processed: usize,
    /// One entry per draft.
    pub results: Vec<DraftResult>,
    /// When the cutout lifts, if it is in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_until: Option<i64>,
    /// True for `--dry-run`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// What stopped a failed cycle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The summary file could not be written after the cycle ran: the drafts are recorded,
    /// the report is still worth printing, and the run must still fail.
    #[serde(skip)]
    pub summary_error: Option<String>,
}

impl CycleReport {
    fn new(status: RunStatus, dry_run: bool) -> CycleReport {
        CycleReport {
            status,
            processed: 0,
            results: Vec::new(),
            paused_until: None,
            dry_run,
            error: None,
            summary_error: None,
        }
    }

    /// How many results had `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.results.iter().filter(|r| r.outcome == outcome).count()
    }
}

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
    /// Where alerts go.
    pub notifier: &'a mut Notifier,
    /// The current Unix time; called at each step, never cached across a dispatch.
    pub clock: &'a dyn Fn() -> i64,
    /// This process, recorded with each claim.
    pub claimer: Claimer,
    /// Set by SIGTERM or SIGINT: finish the draft in hand, record it, claim nothing more.
    pub stop: &'a AtomicBool,
}

impl Cycle<'_> {
    /// Runs one cycle. `Err` means the cycle could not run or could not record what it did
    /// (registry gone, key refused, state directory unwritable); every draft handled before
    /// that is fully recorded, and a draft whose side effect ran stays in `executing`.
    pub fn run(&mut self, opts: RunOptions) -> anyhow::Result<CycleReport> {
        let state_dir = self.config.state_dir.clone();
        if opts.dry_run {
            let mut registry = open_registry(&self.config.db, OpenMode::ReadOnly)?;
            return self.cycle(&mut registry, &state_dir, opts);
        }
        statefile::ensure_dir(&state_dir)
            .with_context(|| format!("creating state directory {}", state_dir.display()))?;
        let lock_path = state_dir.join(LOCK_FILE);
        let lock = RunLock::try_acquire(&lock_path)
            .with_context(|| format!("taking the run lock {}", lock_path.display()))?;
        let Some(_lock) = lock else {
            log::info!("another run holds {}", lock_path.display());
            return Ok(CycleReport::new(RunStatus::Skipped, false));
        };
        let cycle = open_registry(&self.config.db, OpenMode::Create)
            .and_then(|mut registry| self.cycle(&mut registry, &state_dir, opts));
        let mut report = match cycle {
            Ok(report) => report,
            Err(e) => {
                // Still under the lock, so the summary's running totals cannot race another
                // run's: `status --check` sees the failure.
                record_failure(&state_dir, &format!("{e:#}"), (self.clock)());
                return Err(e);
            }
        };
        if let Err(e) = write_summary(&state_dir.join(SUMMARY_FILE), &report, (self.clock)()) {
            report.summary_error = Some(format!(
                "{e:#} (the drafts above were processed and their outcomes recorded)"
            ));
        }
        Ok(report)
    }

    fn cycle(
        &mut self,
        registry: &mut Registry,
        state_dir: &Path,
        opts: RunOptions,
    ) -> anyhow::Result<CycleReport> {
        let thermal_path = state_dir.join(THERMAL_FILE);
        let (mut thermal, saved) = self.load_thermal(registry, &thermal_path, !opts.dry_run)?;
        if !opts.dry_run {
            self.alert_stuck(registry)?;
        }
        let status;
        let mut report = CycleReport::new(RunStatus::Idle, opts.dry_run);
        if thermal.is_paused((self.clock)()) {
            status = RunStatus::Paused;
        } else {
            let drafts = registry
                .batch_keys(Status::Approved, opts.batch)
                .context("listing approved drafts")?;
            status = if drafts.is_empty() {
                RunStatus::Idle
            } else {
                RunStatus::Ran
            };
            let keys = KeyRing::new(self.config.keys.clone());
            let mut batch = Batch {
                registry,
                outcome: None,
            };
            for (done, &rowid) in drafts.iter().enumerate() {
                if self.stop.load(Ordering::Relaxed) {
                    log::warn!(
                        "stopping on a signal: {} approved draft(s) left for the next run",
                        drafts.len() - done
                    );
                    break;
                }
                let row = match batch.registry.get_row(rowid) {
                    Ok(Some(row)) => row,
                    // Nothing deletes drafts; if something did, there is nothing to do.
                    Ok(None) => continue,
                    Err(e) => {
                        if let Err(flush) = batch.flush() {
                            log::error!("{flush:#}");
                        }
                        return Err(anyhow::Error::new(e).context("reading an approved draft"));
                    }
                };
                let row = &row;
                let result = if thermal.is_paused((self.clock)()) {
                    Ok(result(row, Outcome::DeferredThermal, None, None))
                } else {
                    self.one(&mut batch, &keys, &mut thermal, row, opts.dry_run)
                };
                let result = match result {
                    Ok(r) => r,
                    Err(e) => {
                        // Stopping the cycle: the outcome already in hand still gets recorded.
                        if let Err(flush) = batch.flush() {
                            log::error!("{flush:#}");
                        }
                        return Err(e);
                    }
                };
                log::info!(
                    "{} {} {}",
                    result.outcome.as_str(),
                    result.draft_id,
                    result.kind
                );
                report.results.push(result);
            }
            batch.flush()?;
        }
        report.status = status;
        report.processed = report.results.len();
        if thermal.is_paused((self.clock)()) {
            report.paused_until = Some(thermal.paused_until);
        }
        if !opts.dry_run {
            thermal.high_water = registry
                .newest_attempt()
                .context("reading the newest attempt")?
                .unwrap_or(0);
        }
        let fresh = thermal.to_json();
        // A cycle that changed nothing (idle, paused) would write the same bytes again: the
        // sidecar is saved whenever it changes, and an fsync per idle cycle buys nothing.
        if !opts.dry_run
            && saved.as_deref() != Some(fresh.as_slice())
            && let Err(e) = statefile::write_atomic(&thermal_path, &fresh)
        {
            // Not fatal: the next cycle rebuilds the window from the attempts table.
            log::warn!(
                "cannot save the thermal sidecar {}: {e}",
                thermal_path.display()
            );
        }
        Ok(report)
    }

    /// The sidecar, or a window rebuilt from `attempts` when the sidecar is missing, unusable
    /// or behind the table (a run crashed before saving it); with the sidecar's bytes when
    /// it was used as it is.
    fn load_thermal(
        &mut self,
        registry: &Registry,
        path: &Path,
        alert: bool,
    ) -> anyhow::Result<(Thermal, Option<Vec<u8>>)> {
        let now = (self.clock)();
        let cfg = &self.config.thermal;
        let newest = registry
            .newest_attempt()
            .context("reading the newest attempt")?
            .unwrap_or(0);
        let (floor, unusable) = match statefile::read(path) {
            Contents::Missing => (0, None),
            Contents::Unusable(why) => (0, Some(why)),
            Contents::Bytes(bytes) => match Thermal::from_json(&bytes) {
                Ok(mut t) if t.high_water >= newest => {
                    t.prune(now, cfg);
                    return Ok((t, Some(bytes)));
                }
                Ok(t) => {
                    log::info!("thermal sidecar is behind the attempts table; rebuilding it");
                    (t.paused_until, None)
                }
                Err(e) => (0, Some(format!("it does not parse ({e})"))),
            },
        };
        let actions = registry
            .actions_since(Thermal::rebuild_horizon(now, cfg))
            .context("reading recent claims")?;
        let mut thermal = Thermal::rebuild(&actions, floor, now, cfg);
        thermal.high_water = newest;
        if let Some(why) = unusable {
            log::warn!(
                "thermal sidecar {} is unusable: {why}; rebuilt the window from the attempts table",
                path.display()
            );
            if alert {
                self.notifier.alert(
                    "thermal history rebuilt",
                    format!(
                        "The thermal sidecar {} was unusable: {why}.\n\nThe rate-limit window was rebuilt from the attempts table ({} recent actions{}). No action is needed unless this repeats; if it does, check the state directory's disk and permissions.",
                        path.display(),
                        thermal.recent_action_times.len(),
                        if thermal.is_paused(now) { ", paused" } else { "" },
                    ),
                );
            }
        }
        Ok((thermal, None))
    }

    /// Alerts once about each draft that has sat in `executing` longer than `stuck_after`.
    fn alert_stuck(&mut self, registry: &mut Registry) -> anyhow::Result<()> {
        let now = (self.clock)();
        let stuck_after = i64::try_from(self.config.stuck_after.as_secs()).unwrap_or(i64::MAX);
        let fresh: Vec<_> = registry
            .executing(now.saturating_sub(stuck_after))
            .context("listing drafts stuck in executing")?
            .into_iter()
            .filter(|e| !e.alerted)
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        registry
            .write(|w| {
                for e in &fresh {
                    w.mark_stuck_alerted(&e.id, now)?;
                }
                Ok(())
            })
            .context("recording stuck-draft alerts")?;
        let me = crate::process::this_process();
        for e in fresh {
            let alive = crate::process::liveness(e.claimer.as_ref(), &me);
            self.notifier.alert(
                &format!("draft {} stuck in executing", e.id),
                format!(
                    "Draft {} (kind {}) was claimed {} ago and has no recorded outcome. Its claimer is {}{}.\n\nIts side effect may or may not have happened: check the target ({}), then settle it:\n\n  inbox-exec reconcile resolve {} --as completed [--url URL]\n  inbox-exec reconcile resolve {} --as failed --note \"what you found\"\n\nThis alert is sent once per draft.",
                    e.id,
                    e.kind,
                    crate::report::span(now.saturating_sub(e.claimed_at)),
                    alive.word(),
                    match &alive {
                        crate::process::Liveness::Unknown(why) => format!(" ({why})"),
                        _ => String::new(),
                    },
                    e.target,
                    e.id,
                    e.id,
                ),
            );
        }
        Ok(())
    }

    /// One draft, start to finish. `Err` only for what stops the cycle.
    fn one(
        &mut self,
        batch: &mut Batch<'_>,
        keys: &KeyRing,
        thermal: &mut Thermal,
        row: &DraftRow,
        dry_run: bool,
    ) -> anyhow::Result<DraftResult> {
        let id = row.id.as_str();
        let now = (self.clock)();

        // a. Re-verify: a draft approved a day ago may have expired or been edited since.
        let verified = match verify(&row.signed, keys, now, self.config.ttl_seconds()) {
            Ok(v) => v,
            Err(VerifyError::Key(e)) => {
                return Err(anyhow::Error::new(e).context(format!("verifying draft {id}")));
            }
            Err(e) => {
                let reason = e.to_string();
                let alert = (
                    format!("draft {id} failed verification"),
                    format!(
                        "Draft {id} (kind {}) was approved but failed verification at execute time:\n\n  {reason}\n\nIt was marked completed_with_error and will not run. No retry: if the action is still wanted, sign and approve a new draft.",
                        row.kind()
                    ),
                );
                return self.refuse(
                    batch,
                    row,
                    dry_run,
                    Refusal {
                        outcome: Outcome::VerifyFailed,
                        to: Status::CompletedWithError,
                        last_error: format!("verify failed at execute time: {reason}"),
                        attempt: (AttemptKind::Verify, AttemptOutcome::Failed),
                        reason,
                        alert,
                    },
                );
            }
        };

        // b. Non-delegable kinds are refused whatever the configuration says.
        if self.config.is_non_delegable(&verified.kind) {
            let kind = &verified.kind;
            let alert = (
                format!("draft {id} refused: {kind} is non-delegable"),
                format!(
                    "Draft {id} has kind {kind}, which is on the non-delegable list. It was marked terminal_unrecoverable and will not run.\n\nThis action needs fresh, per-invocation attestation through another channel than an approval in the registry."
                ),
            );
            return self.refuse(
                batch,
                row,
                dry_run,
                Refusal {
                    outcome: Outcome::RefusedNonDelegable,
                    to: Status::TerminalUnrecoverable,
                    last_error: "kind is on the non-delegable refusal list".into(),
                    attempt: (AttemptKind::Execute, AttemptOutcome::Skipped),
                    reason: format!("{kind} is non-delegable"),
                    alert,
                },
            );
        }

        // c0. Validate against the handler before claiming, so a draft that cannot run never
        // sits in `executing` with nothing behind it.
        let invocation = match self.handlers.prepare(&verified) {
            Ok(inv) => inv,
            Err(reason) => {
                let alert = failure_alert(id, &verified.kind, &reason, false);
                return self.refuse(
                    batch,
                    row,
                    dry_run,
                    Refusal {
                        outcome: Outcome::ExecuteFailed,
                        to: Status::CompletedWithError,
                        last_error: reason.clone(),
                        attempt: (AttemptKind::Execute, AttemptOutcome::Skipped),
                        reason,
                        alert,
                    },
                );
            }
        };
        if dry_run {
            return Ok(result(row, Outcome::WouldExecute, None, None));
        }

        // c. Claim, durably, before the side effect. The verify attempt, the claim record and
        // the previous draft's outcome ride in the same transaction: one fsync.
        let claimer = &self.claimer;
        let claimed = batch
            .write(|w| {
                let moved = w.transition(
                    id,
                    Status::Approved,
                    Status::Executing,
                    &MoveFields::default(),
                    now,
                )?;
                if moved {
                    w.record_attempt(id, AttemptKind::Verify, AttemptOutcome::Ok, None, None, now)?;
                    w.record_claim(id, claimer, now)?;
                }
                Ok(moved)
            })
            .with_context(|| format!("claiming draft {id} (it stays approved)"))?;
        if !claimed {
            return Ok(result(row, Outcome::LostRace, None, None));
        }

        // d. The side effect.
        let Dispatched {
            ok,
            executed_url,
            reason,
        } = self.handlers.dispatch(&verified.kind, &invocation);

        // e. The outcome is committed with the next write of this batch (see `Batch`).
        let done_at = (self.clock)();
        let reason = if ok {
            None
        } else {
            Some(reason.unwrap_or_else(|| "handler failed".into()))
        };
        batch.outcome = Some(Recorded {
            id: id.to_owned(),
            ok,
            reason: reason.clone(),
            executed_url: executed_url.clone(),
            at: done_at,
        });

        // f. Count it; trip the cutout when the window is over the limit, before the next
        // draft is looked at.
        let cfg = &self.config.thermal;
        if thermal.record(done_at, cfg) {
            self.notifier.alert(
                "thermal cutout tripped",
                format!(
                    "{} actions in the last {}, more than the limit of {}. Execution is paused until {} ({} from now); the drafts left in this batch stay approved and run after the pause.\n\nIf this burst was not expected, look at who approved these drafts before the pause ends.",
                    thermal.recent_action_times.len(),
                    humantime::format_duration(cfg.window),
                    cfg.max_actions,
                    thermal.paused_until,
                    humantime::format_duration(cfg.cooldown),
                ),
            );
        }
        match reason {
            None => Ok(result(row, Outcome::Executed, None, executed_url)),
            Some(reason) => {
                let (subject, body) = failure_alert(id, &verified.kind, &reason, true);
                self.notifier.alert(&subject, body);
                Ok(result(row, Outcome::ExecuteFailed, Some(reason), None))
            }
        }
    }

    /// Ends an approved draft without claiming it (verify failure, refusal, a handler that
    /// cannot take it): the move and its attempt in one transaction, then the alert. A draft
    /// another executor moved first is a lost race, and no alert.
    fn refuse(
        &mut self,
        batch: &mut Batch<'_>,
        row: &DraftRow,
        dry_run: bool,
        refusal: Refusal,
    ) -> anyhow::Result<DraftResult> {
        let Refusal {
            outcome,
            to,
            last_error,
            attempt,
            reason,
            alert,
        } = refusal;
        if !dry_run {
            let id = row.id.as_str();
            let now = (self.clock)();
            let fields = MoveFields {
                last_error: Some(&last_error),
                completed: true,
                ..MoveFields::default()
            };
            // By rowid: this path also ends rows whose draft_id no lookup can match. Their
            // attempt cannot be recorded (attempts need a draft_id); the alert still goes.
            let rowid = row.rowid;
            let text_id = matches!(row.signed.draft_id, crate::draft::SqlValue::Text(_));
            let moved = batch
                .write(|w| {
                    let moved = w.transition_row(rowid, Status::Approved, to, &fields, now)?;
                    if moved && text_id {
                        w.record_attempt(id, attempt.0, attempt.1, Some(&reason), None, now)?;
                    }
                    Ok(moved)
                })
                .with_context(|| {
                    format!("recording the refusal of draft {id} (it stays approved)")
                })?;
            if !moved {
                return Ok(result(row, Outcome::LostRace, None, None));
            }
            self.notifier.alert(&alert.0, alert.1);
        }
        Ok(result(row, outcome, Some(reason), None))
    }
}

/// How a draft is ended without a claim.
struct Refusal {
    outcome: Outcome,
    to: Status,
    last_error: String,
    attempt: (AttemptKind, AttemptOutcome),
    reason: String,
    /// Subject and body.
    alert: (String, String),
}

fn failure_alert(id: &str, kind: &str, reason: &str, dispatched: bool) -> (String, String) {
    let what = if dispatched {
        "Its handler ran and failed"
    } else {
        "It was refused before its handler ran (nothing was done)"
    };
    (
        format!(
            "draft {id} failed: {}",
            crate::dispatch::child::tail(reason, 120)
        ),
        format!(
            "Draft {id} (kind {kind}) failed. {what}:\n\n  {reason}\n\nIt was marked completed_with_error. No retry: if the action is still wanted, check what happened (`inbox-exec show {id}`), then sign and approve a new draft."
        ),
    )
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

/// The registry as one cycle writes it: each draft's outcome rides in the next commit (the
/// next draft's claim or refusal), so a batch of N dispatched drafts costs N + 1 durable
/// commits instead of 2N. This never weakens at-most-once: the claim still commits before
/// its side effect, and a crash before an outcome's commit leaves that draft in `executing`,
/// exactly as a crash during its dispatch would.
struct Batch<'r> {
    registry: &'r mut Registry,
    outcome: Option<Recorded>,
}

/// A dispatched draft's outcome, waiting for the next commit.
struct Recorded {
    id: String,
    ok: bool,
    reason: Option<String>,
    executed_url: Option<String>,
    at: i64,
}

impl Batch<'_> {
    /// Runs `f` in one transaction that first records the waiting outcome, if any.
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Writer<'_>) -> Result<T, RegistryError>,
    ) -> anyhow::Result<T> {
        let outcome = self.outcome.take();
        let written = self.registry.write(|w| {
            if let Some(o) = &outcome {
                record_outcome(w, o)?;
            }
            f(w)
        });
        match written {
            Ok(value) => Ok(value),
            Err(e) => {
                // Keep the outcome in hand: the cycle stops, and `flush` tries it once more
                // on its own before giving up.
                self.outcome = outcome;
                Err(e.into())
            }
        }
    }

    /// Commits the waiting outcome on its own, at the end of the batch (or when the cycle
    /// stops on an error). When even that fails, the error says what the outcome was, so the
    /// operator can settle the draft by hand.
    fn flush(&mut self) -> anyhow::Result<()> {
        let Some(o) = self.outcome.take() else {
            return Ok(());
        };
        self.registry.write(|w| record_outcome(w, &o)).with_context(|| {
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

fn record_outcome(w: &Writer<'_>, o: &Recorded) -> Result<(), RegistryError> {
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

fn open_registry(path: &Path, mode: OpenMode) -> anyhow::Result<Registry> {
    Registry::open(path, mode).with_context(|| format!("opening registry {}", path.display()))
}

/// Running totals kept in the summary across invocations.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Invocations that wrote a summary.
    pub cycles: u64,
    /// Drafts looked at.
    pub processed: u64,
    /// Drafts executed.
    pub executed: u64,
    /// Drafts whose dispatch failed.
    pub execute_failed: u64,
    /// Drafts that failed verification.
    pub verify_failed: u64,
    /// Drafts refused as non-delegable.
    pub refused_non_delegable: u64,
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    finished_at: i64,
    #[serde(flatten)]
    report: &'a CycleReport,
    totals: Totals,
}

/// Records a cycle that stopped on an error in the summary, so `status --check` sees it.
/// Best effort: the error itself is what the caller reports.
fn record_failure(state_dir: &Path, error: &str, now: i64) {
    if !state_dir.is_dir() {
        return;
    }
    let mut report = CycleReport::new(RunStatus::Failed, false);
    report.error = Some(error.to_owned());
    if let Err(e) = write_summary(&state_dir.join(SUMMARY_FILE), &report, now) {
        log::warn!("the failure could not be recorded either: {e:#}");
    }
}

fn write_summary(path: &Path, report: &CycleReport, now: i64) -> anyhow::Result<()> {
    let mut totals = match statefile::read(path) {
        Contents::Missing => Totals::default(),
        Contents::Bytes(bytes) => {
            #[derive(serde::Deserialize)]
            struct Previous {
                #[serde(default)]
                totals: Totals,
            }
            serde_json::from_slice::<Previous>(&bytes)
                .map(|p| p.totals)
                .unwrap_or_else(|e| {
                    log::warn!(
                        "previous summary {} does not parse ({e}); running totals restart",
                        path.display()
                    );
                    Totals::default()
                })
        }
        Contents::Unusable(why) => {
            log::warn!(
                "previous summary {} is unusable ({why}); running totals restart",
                path.display()
            );
            Totals::default()
        }
    };
    let count = |o| report.count(o) as u64;
    totals.cycles += 1;
    totals.processed += report.processed as u64;
    totals.executed += count(Outcome::Executed);
    totals.execute_failed += count(Outcome::ExecuteFailed);
    totals.verify_failed += count(Outcome::VerifyFailed);
    totals.refused_non_delegable += count(Outcome::RefusedNonDelegable);
    let summary = Summary {
        finished_at: now,
        report,
        totals,
    };
    let mut bytes = serde_json::to_vec_pretty(&summary).expect("plain data serializes");
    bytes.push(b'\n');
    // A symlink planted at the summary's name is replaced, never followed: rename swaps
    // the directory entry itself. No fsync: the summary is a report that the next run (30 s
    // later under the timer) rewrites, and the one fsync an idle run would make. After a
    // power loss `status --check` may find the previous summary (stale: exit 4) or an
    // unreadable one (exit 4, "no run has finished yet") until the next run.
    statefile::write_report(path, &bytes)
        .with_context(|| format!("writing the run summary {}", path.display()))
}
