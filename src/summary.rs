//! The run summary `<state_dir>/last-run.json`: the last cycle's report plus running totals
//! across invocations, written atomically after every run (a failed one included), so
//! `status --check` can tell a healthy timer from a dead or failing one.

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use serde_json::Value;

use crate::cycle_report::{CycleReport, Outcome, RunStatus};
use crate::statefile::{self, Contents};

/// The summary's file name inside the state directory.
pub const SUMMARY_FILE: &str = "last-run.json";

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

/// Records a cycle that stopped on an error in the summary, so `status --check` sees it, and
/// returns the failed report with the running totals (`None` when they could not be written).
/// Best effort: the error itself is what the caller reports.
pub fn record_failure(state_dir: &Path, error: &str, now: i64) -> (CycleReport, Option<Totals>) {
    let mut report = CycleReport::new(RunStatus::Failed, false);
    report.error = Some(error.to_owned());
    if !state_dir.is_dir() {
        return (report, None);
    }
    match write(state_dir, &report, now) {
        Ok(totals) => (report, Some(totals)),
        Err(e) => {
            log::warn!("the failure could not be recorded either: {e:#}");
            (report, None)
        }
    }
}

/// Writes the summary of `report`, adding it to the running totals found in the previous one;
/// returns the new totals.
pub fn write(state_dir: &Path, report: &CycleReport, now: i64) -> anyhow::Result<Totals> {
    let path = &state_dir.join(SUMMARY_FILE);
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
        totals: totals.clone(),
    };
    // A symlink planted at the summary's name is replaced, never followed: rename swaps
    // the directory entry itself. No fsync: the summary is a report that the next run (30 s
    // later under the timer) rewrites, and it was the one fsync an idle run made. After a
    // power loss `status --check` may find the previous summary (stale: exit 4) or an
    // unreadable one (exit 4, "no run has finished yet") until the next run. Streamed, so a
    // large report is never held whole.
    statefile::write_report(path, |out| {
        serde_json::to_writer_pretty(&mut *out, &summary).map_err(std::io::Error::from)?;
        out.write_all(b"\n")
    })
    .with_context(|| format!("writing the run summary {}", path.display()))?;
    Ok(totals)
}

/// The last run's summary without its per-draft results, for `status`: `Ok(None)` when there
/// is none (or it does not parse), `Err` saying why when the file is not one we can read (a
/// FIFO, a directory, a symlink), so a monitor hears about it.
pub fn last_run(state_dir: &Path) -> Result<Option<Value>, String> {
    let path = state_dir.join(SUMMARY_FILE);
    let bytes = match statefile::read(&path) {
        Contents::Bytes(bytes) => bytes,
        Contents::Missing => return Ok(None),
        Contents::Unusable(why) => {
            return Err(format!("run summary {} is unusable: {why}", path.display()));
        }
    };
    let Ok(mut summary) = serde_json::from_slice::<Value>(&bytes) else {
        return Ok(None);
    };
    if let Some(obj) = summary.as_object_mut() {
        obj.remove("results");
    }
    Ok(Some(summary))
}
