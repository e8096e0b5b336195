//! The Prometheus textfile (`[run] metrics_file`): what a run did and what the registry looks
//! like after it, in the text exposition format node_exporter's textfile collector reads.
//!
//! Written at the end of every run that took the lock (a failed one included), atomically:
//! a temp file in the same directory (named so the collector, which reads `*.prom` only,
//! never sees it), then a rename. Per-run values are gauges; the `_total` counters are the
//! summary's running totals, which restart (as Prometheus counters may) when the summary is
//! lost.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use crate::config::Config;
use crate::cycle_report::{CycleReport, RunStatus};
use crate::registry::{Registry, RegistryError, Status};
use crate::statefile;
use crate::summary::Totals;
use crate::thermal::{THERMAL_FILE, Thermal};

/// The registry's state after a run, for the gauges that do not come from the run itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Drafts approved and waiting.
    pub approved: i64,
    /// Drafts in `executing` for longer than `stuck_after`.
    pub stuck: usize,
    /// Age of the oldest approved draft, in seconds.
    pub oldest_approved_age_s: Option<i64>,
    /// Alerts in the outbox not yet delivered.
    pub alerts_waiting: i64,
    /// Whether the thermal cutout is in force.
    pub paused: bool,
}

impl Snapshot {
    /// Reads the snapshot at `now`.
    pub fn read(
        registry: &mut dyn Registry,
        config: &Config,
        now: i64,
    ) -> Result<Snapshot, RegistryError> {
        let approved = registry
            .counts()?
            .into_iter()
            .find(|(status, _)| status == Status::Approved.as_str())
            .map_or(0, |(_, n)| n);
        let stuck_after = config.stuck_after_s();
        let stuck = registry.executing(now.saturating_sub(stuck_after))?.len();
        let oldest_approved_age_s = registry
            .oldest_approved()?
            .map(|t| now.saturating_sub(t).max(0));
        let alerts_waiting = registry.alerts_waiting()?.count;
        let paused =
            Thermal::peek(&config.state_dir.join(THERMAL_FILE), &config.thermal).is_paused(now);
        Ok(Snapshot {
            approved,
            stuck,
            oldest_approved_age_s,
            alerts_waiting,
            paused,
        })
    }
}

/// The statuses a written run can end with (a skipped run writes nothing).
const STATUSES: [(RunStatus, &str); 4] = [
    (RunStatus::Ran, "ran"),
    (RunStatus::Idle, "idle"),
    (RunStatus::Paused, "paused"),
    (RunStatus::Failed, "failed"),
];

/// The exposition text. `totals` is `None` when the summary could not be written; the
/// registry gauges are left out when `snapshot` is `None` (the registry could not be read).
pub fn render(
    report: &CycleReport,
    totals: Option<&Totals>,
    snapshot: Option<&Snapshot>,
    finished_at: i64,
) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, i64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    family(
        "inbox_exec_last_run_timestamp_seconds",
        "gauge",
        "When the last run finished, in Unix seconds.",
        &[(String::new(), finished_at)],
    );
    family(
        "inbox_exec_last_run_success",
        "gauge",
        "1 when the last run did its work (ran, idle or paused), 0 when it failed.",
        &[(String::new(), i64::from(report.status != RunStatus::Failed))],
    );
    let statuses: Vec<(String, i64)> = STATUSES
        .iter()
        .map(|(status, word)| {
            (
                labels(&[("status", word)]),
                i64::from(report.status == *status),
            )
        })
        .collect();
    family(
        "inbox_exec_last_run_status",
        "gauge",
        "The last run's status: 1 for the one that applies, 0 for the others.",
        &statuses,
    );
    let mut by_kind: Vec<((String, &str), i64)> = Vec::new();
    for r in &report.results {
        let key = (r.kind.clone(), r.outcome.as_str());
        match by_kind.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => by_kind.push((key, 1)),
        }
    }
    by_kind.sort();
    let drafts: Vec<(String, i64)> = by_kind
        .iter()
        .map(|((kind, outcome), n)| (labels(&[("kind", kind), ("outcome", outcome)]), *n))
        .collect();
    family(
        "inbox_exec_last_run_drafts",
        "gauge",
        "Drafts the last run handled, by kind and outcome (this run only).",
        &drafts,
    );
    if let Some(t) = totals {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        family(
            "inbox_exec_cycles_total",
            "counter",
            "Runs that wrote a summary, from the summary's running totals.",
            &[(String::new(), count(t.cycles))],
        );
        let outcomes = [
            ("executed", t.executed),
            ("execute_failed", t.execute_failed),
            ("verify_failed", t.verify_failed),
            ("refused_non_delegable", t.refused_non_delegable),
        ];
        let samples: Vec<(String, i64)> = outcomes
            .iter()
            .map(|(outcome, n)| (labels(&[("outcome", outcome)]), count(*n)))
            .collect();
        family(
            "inbox_exec_drafts_total",
            "counter",
            "Drafts handled, by outcome, from the summary's running totals.",
            &samples,
        );
    }
    if let Some(s) = snapshot {
        let gauges = [
            (
                "inbox_exec_approved_drafts",
                "Approved drafts waiting for a run.",
                s.approved,
            ),
            (
                "inbox_exec_stuck_drafts",
                "Drafts in executing for longer than stuck_after: settle them with inbox-exec reconcile.",
                i64::try_from(s.stuck).unwrap_or(i64::MAX),
            ),
            (
                "inbox_exec_oldest_approved_age_seconds",
                "Age of the oldest approved draft, 0 when there is none.",
                s.oldest_approved_age_s.unwrap_or(0),
            ),
            (
                "inbox_exec_alerts_waiting",
                "Alerts in the outbox not yet delivered.",
                s.alerts_waiting,
            ),
            (
                "inbox_exec_paused",
                "1 while the thermal cutout pauses execution.",
                i64::from(s.paused),
            ),
        ];
        for (name, help, value) in gauges {
            family(name, "gauge", help, &[(String::new(), value)]);
        }
    }
    out
}

/// `{name="value",…}` with the exposition format's escapes: a kind is whatever a draft says.
fn labels(pairs: &[(&str, &str)]) -> String {
    let escaped: Vec<String> = pairs
        .iter()
        .map(|(name, value)| {
            let value = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{name}=\"{value}\"")
        })
        .collect();
    format!("{{{}}}", escaped.join(","))
}

/// Replaces `path` with `text` atomically, readable by all: node_exporter runs as another
/// user. Not fsynced: the next run rewrites it, and a lost update only looks stale to a
/// monitor (see [`statefile::write_collected`]).
pub fn write(path: &Path, text: &str) -> io::Result<()> {
    statefile::write_collected(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle_report::{DraftResult, Outcome};

    #[test]
    fn labels_escape_what_a_draft_can_put_in_a_kind() {
        assert_eq!(
            labels(&[("kind", "a\"b\\c\nd"), ("outcome", "executed")]),
            r#"{kind="a\"b\\c\nd",outcome="executed"}"#
        );
    }

    #[test]
    fn every_sample_follows_its_help_and_type() {
        let mut report = CycleReport::new(RunStatus::Ran, false);
        for kind in ["b", "a", "b"] {
            report.results.push(DraftResult {
                draft_id: "X".into(),
                kind: kind.into(),
                outcome: Outcome::Executed,
                reason: None,
                executed_url: None,
            });
        }
        let text = render(
            &report,
            Some(&Totals::default()),
            Some(&Snapshot::default()),
            7,
        );
        assert!(text.contains(
            "inbox_exec_last_run_drafts{kind=\"a\",outcome=\"executed\"} 1\ninbox_exec_last_run_drafts{kind=\"b\",outcome=\"executed\"} 2\n"
        ));
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().expect("name").to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().expect("name");
                assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
            }
        }
    }
}
