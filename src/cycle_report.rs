//! What a `run` cycle reports: its status, and one result per draft with the reference's
//! outcome words. The executor fills it in, `run` prints it (`--json` serializes it), the
//! summary file keeps it.

use serde::Serialize;

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
    /// Outcomes an earlier run could not write to the registry, recorded by this one from the
    /// outcome journal before anything else.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recorded_late: Vec<DraftResult>,
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
    /// An empty report.
    pub fn new(status: RunStatus, dry_run: bool) -> CycleReport {
        CycleReport {
            status,
            processed: 0,
            results: Vec::new(),
            recorded_late: Vec::new(),
            paused_until: None,
            dry_run,
            error: None,
            summary_error: None,
        }
    }

    /// How many results (late ones included) had `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.results
            .iter()
            .chain(&self.recorded_late)
            .filter(|r| r.outcome == outcome)
            .count()
    }
}
