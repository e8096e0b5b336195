//! `status`: what an operator (or a monitor) needs at a glance.

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::StatusArgs;
use crate::config::Config;
use crate::exit::Outcome;
use crate::registry::{self, OpenMode, Status};
use crate::report::{Output, ago, span, table};
use crate::stuck::{StuckDraft, stuck};
use crate::summary;
use crate::thermal::{THERMAL_FILE, Thermal};

/// The thermal cutout as `status` shows it.
#[derive(Debug, Serialize)]
pub struct ThermalState {
    /// Actions in the current window.
    pub recent_actions: usize,
    /// When the pause ends, while paused.
    pub paused_until: Option<i64>,
}

/// The alert outbox as `status` shows it.
#[derive(Debug, Serialize)]
pub struct AlertsState {
    /// Alerts not yet delivered.
    pub waiting: i64,
    /// Age of the oldest of them, in seconds.
    pub oldest_age_s: Option<i64>,
    /// Why the latest try failed, if one did.
    pub last_error: Option<String>,
}

/// The status report.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Drafts per status (every status, zeros included).
    pub counts: serde_json::Map<String, Value>,
    /// Drafts stuck in executing (claimed longer ago than `stuck_after`).
    pub stuck: Vec<StuckDraft>,
    /// Age of the oldest approved draft, in seconds.
    pub oldest_approved_age_s: Option<i64>,
    /// The thermal cutout.
    pub thermal: ThermalState,
    /// The last run's summary (without its per-draft results).
    pub last_run: Option<Value>,
    /// Alerts waiting in the outbox.
    pub alerts: AlertsState,
}

/// `status [--check]`: the report, and with `--check` an exit code for monitoring.
pub fn run(config: &Config, args: &StatusArgs, now: i64) -> anyhow::Result<Output> {
    let mut reg = registry::open(&config.db, OpenMode::Existing)
        .with_context(|| format!("opening registry {}", config.db.display()))?;
    let mut counts = serde_json::Map::new();
    for s in Status::ALL {
        counts.insert(s.as_str().to_owned(), json!(0));
    }
    for (status, n) in reg.counts().context("counting drafts")? {
        counts.insert(status, json!(n));
    }
    let stuck_after = i64::try_from(config.stuck_after.as_secs()).unwrap_or(i64::MAX);
    let stuck = stuck(
        reg.executing(now.saturating_sub(stuck_after))
            .context("listing stuck drafts")?,
        now,
    );
    let oldest_approved_age_s = reg.oldest_approved()?.map(|t| now.saturating_sub(t));
    let waiting = reg.alerts_waiting().context("reading the alert outbox")?;
    let alerts = AlertsState {
        waiting: waiting.count,
        oldest_age_s: waiting
            .oldest_created_at
            .map(|t| now.saturating_sub(t).max(0)),
        last_error: waiting.last_error,
    };

    let mut sidecar = Thermal::peek(&config.state_dir.join(THERMAL_FILE));
    sidecar.prune(now, &config.thermal);
    let thermal = ThermalState {
        recent_actions: sidecar.recent_action_times.len(),
        paused_until: sidecar.is_paused(now).then_some(sidecar.paused_until),
    };
    let last_run = summary::last_run(&config.state_dir);
    let report = StatusReport {
        counts,
        stuck,
        oldest_approved_age_s,
        thermal,
        last_run,
        alerts,
    };
    let undelivered_after = config
        .notify
        .as_ref()
        .map_or(crate::config::DEFAULT_UNDELIVERED_AFTER, |n| {
            n.undelivered_after
        });
    let undelivered_after = i64::try_from(undelivered_after.as_secs()).unwrap_or(i64::MAX);
    let (outcome, problem) = health(&report, now, stuck_after, undelivered_after);
    let mut text = render(&report, now);
    if let Some(problem) = &problem {
        text.push_str(&format!("needs attention: {problem}\n"));
    }
    let output = Output::done(text, &report);
    Ok(if args.check {
        output.with_outcome(outcome)
    } else {
        output
    })
}

/// The first problem, in the order `status --check` documents.
fn health(
    report: &StatusReport,
    now: i64,
    stale_after: i64,
    undelivered_after: i64,
) -> (Outcome, Option<String>) {
    let last = report.last_run.as_ref();
    let finished = last.and_then(|l| l["finished_at"].as_i64());
    let failed = last.is_some_and(|l| l["status"] == "failed");
    if failed {
        return (Outcome::LastRunFailed, Some("the last run failed".into()));
    }
    match finished {
        None => {
            return (
                Outcome::LastRunFailed,
                Some("no run has finished yet: is the timer running?".into()),
            );
        }
        Some(t) if now.saturating_sub(t) > stale_after => {
            return (
                Outcome::LastRunFailed,
                Some(format!(
                    "the last run finished {} ago: is the timer running?",
                    span(now.saturating_sub(t))
                )),
            );
        }
        Some(_) => {}
    }
    if !report.stuck.is_empty() {
        return (
            Outcome::Stuck,
            Some(format!(
                "{} draft(s) stuck in executing: see `inbox-exec reconcile`",
                report.stuck.len()
            )),
        );
    }
    if report.thermal.paused_until.is_some() {
        return (Outcome::Paused, Some("the thermal cutout is paused".into()));
    }
    if let Some(age) = report.alerts.oldest_age_s
        && age > undelivered_after
    {
        return (
            Outcome::AlertsUndelivered,
            Some(format!(
                "{} alert(s) waiting, the oldest undeliverable for {}{}: check [notify] and the mail server",
                report.alerts.waiting,
                span(age),
                report
                    .alerts
                    .last_error
                    .as_ref()
                    .map_or_else(String::new, |e| format!(" (last error: {e})")),
            )),
        );
    }
    (Outcome::Done, None)
}

fn render(report: &StatusReport, now: i64) -> String {
    let mut rows: Vec<Vec<String>> = report
        .counts
        .iter()
        .map(|(status, n)| vec![status.clone(), n.to_string()])
        .collect();
    rows.push(vec![
        "oldest approved".into(),
        report
            .oldest_approved_age_s
            .map_or_else(|| "-".into(), span),
    ]);
    rows.push(vec!["stuck".into(), report.stuck.len().to_string()]);
    rows.push(vec![
        "thermal".into(),
        match report.thermal.paused_until {
            Some(until) => format!(
                "paused until {until} ({}), {} recent actions",
                ago(until, now),
                report.thermal.recent_actions
            ),
            None => format!("{} recent actions", report.thermal.recent_actions),
        },
    ]);
    rows.push(vec![
        "alerts waiting".into(),
        match (report.alerts.oldest_age_s, &report.alerts.last_error) {
            (None, _) => "0".into(),
            (Some(age), None) => format!("{}, oldest {} old", report.alerts.waiting, span(age)),
            (Some(age), Some(e)) => format!(
                "{}, oldest {} old, last error: {}",
                report.alerts.waiting,
                span(age),
                crate::dispatch::child::tail(e, 160)
            ),
        },
    ]);
    rows.push(vec![
        "last run".into(),
        match &report.last_run {
            Some(l) => format!(
                "{} {} ({} processed)",
                l["status"].as_str().unwrap_or("?"),
                l["finished_at"]
                    .as_i64()
                    .map_or_else(|| "?".into(), |t| ago(t, now)),
                l["processed"]
            ),
            None => "none".into(),
        },
    ]);
    table(&rows)
}
