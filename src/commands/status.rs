//! `status`: what an operator (or a monitor) needs at a glance.

use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::StatusArgs;
use crate::config::Config;
use crate::exit::{self, Outcome};
use crate::registry::{self, OpenMode, Status};
use crate::report::{Output, ago, date, printable, span, table};
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

/// How bad a problem is, in the monitoring-plugins sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing needs a human.
    Ok,
    /// Needs a look, and may clear by itself (a pause, mail trouble).
    Warning,
    /// Needs a human now: drafts are not being run, or may have run without a record.
    Critical,
}

impl Verdict {
    /// The monitoring-plugins word.
    fn word(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Warning => "WARNING",
            Verdict::Critical => "CRITICAL",
        }
    }

    /// The `status --plugin` outcome.
    fn plugin_outcome(self) -> Outcome {
        match self {
            Verdict::Ok => Outcome::Done,
            Verdict::Warning => Outcome::PluginWarning,
            Verdict::Critical => Outcome::PluginCritical,
        }
    }
}

/// One thing that needs a human.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// How bad it is.
    pub severity: Verdict,
    /// The code `status --check` exits with for it.
    pub check_exit_code: u8,
    /// What is wrong and what to do.
    pub message: String,
}

/// The health verdict of `status`, `--check` and `--plugin` alike.
#[derive(Debug, Serialize)]
pub struct Health {
    /// The worst severity among the problems.
    pub verdict: Verdict,
    /// What `status --check` exits with: the first problem's code, in the documented order.
    pub check_exit_code: u8,
    /// Every problem found, in `status --check`'s order.
    pub problems: Vec<Problem>,
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
    /// Whether anything needs a human.
    pub health: Health,
}

/// `status [--check | --plugin]`: the report, and an exit code for monitoring.
pub fn run(config: &Config, args: &StatusArgs, now: i64) -> anyhow::Result<Output> {
    let mut reg = registry::open_named(&config.db, &config.postgres, OpenMode::Existing)?;
    let mut counts = serde_json::Map::new();
    for s in Status::ALL {
        counts.insert(s.as_str().to_owned(), json!(0));
    }
    for (status, n) in reg.counts().context("counting drafts")? {
        counts.insert(status, json!(n));
    }
    let stuck_after = config.stuck_after_s();
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

    let mut sidecar = Thermal::peek(&config.state_dir.join(THERMAL_FILE), &config.thermal);
    if reg.shared_thermal() {
        // Every executor's actions, on every host, as the next claim will count them.
        let recorded = reg
            .actions_since(Thermal::horizon(now, &config.thermal))
            .context("reading recent actions")?;
        sidecar.merge(&recorded, now, &config.thermal);
    }
    // As the next run will see it: a pause dated by a clock that was ahead lasts at most
    // the cooldown.
    let pause = sidecar.clamped_pause(now, &config.thermal);
    let thermal = ThermalState {
        recent_actions: sidecar.in_window(now, &config.thermal),
        paused_until: (now < pause).then_some(pause),
    };
    let (last_run, summary_unusable) = match summary::last_run(&config.state_dir) {
        Ok(last_run) => (last_run, None),
        Err(why) => {
            log::warn!("{why}");
            (None, Some(why))
        }
    };
    let undelivered_after = config
        .notify
        .as_ref()
        .map_or(crate::config::DEFAULT_UNDELIVERED_AFTER, |n| {
            n.undelivered_after
        });
    let undelivered_after = i64::try_from(undelivered_after.as_secs()).unwrap_or(i64::MAX);
    let mut report = StatusReport {
        counts,
        stuck,
        oldest_approved_age_s,
        thermal,
        last_run,
        alerts,
        health: Health {
            verdict: Verdict::Ok,
            check_exit_code: exit::SUCCESS,
            problems: Vec::new(),
        },
    };
    report.health = health(
        &report,
        now,
        stuck_after,
        undelivered_after,
        summary_unusable.as_deref(),
    );
    if args.plugin {
        let (line, outcome) = plugin_line(&report, now);
        return Ok(Output::done(line, &report).with_outcome(outcome));
    }
    let mut text = render(&report, now);
    if let Some(problem) = report.health.problems.first() {
        text.push_str(&format!("needs attention: {}\n", problem.message));
    }
    let check = check_outcome(report.health.check_exit_code);
    let output = Output::done(text, &report);
    Ok(if args.check {
        output.with_outcome(check)
    } else {
        output
    })
}

/// `status --plugin` when the status could not be read at all: UNKNOWN, with the error.
pub fn unknown(error: &anyhow::Error) -> Output {
    let message = format!("{error:#}");
    let first = message.lines().next().unwrap_or_default();
    Output {
        text: format!("INBOX-EXEC UNKNOWN - {}\n", printable(first)),
        json: json!({ "error": message }),
        outcome: Outcome::PluginUnknown,
        error: Some(message),
        written: false,
    }
}

/// The `status --check` outcome for an exit code from [`health`].
fn check_outcome(code: u8) -> Outcome {
    match code {
        exit::LAST_RUN_FAILED => Outcome::LastRunFailed,
        exit::STUCK => Outcome::Stuck,
        exit::PAUSED => Outcome::Paused,
        exit::ALERTS_UNDELIVERED => Outcome::AlertsUndelivered,
        _ => Outcome::Done,
    }
}

/// The one line of the monitoring-plugins convention, `INBOX-EXEC STATE - text | perfdata`,
/// and its exit code.
fn plugin_line(report: &StatusReport, now: i64) -> (String, Outcome) {
    let verdict = report.health.verdict;
    let text = if report.health.problems.is_empty() {
        let approved = report.counts.get("approved").cloned().unwrap_or(json!(0));
        let last = report
            .last_run
            .as_ref()
            .and_then(|l| l["finished_at"].as_i64())
            .map_or_else(|| "never".to_owned(), |t| ago(t, now));
        format!("{approved} approved, last run {last}")
    } else {
        report
            .health
            .problems
            .iter()
            .map(|p| p.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    // Plugin output is one line and `|` starts the performance data.
    let text = printable(&text).replace('|', "/");
    let count = |status: &str| report.counts.get(status).cloned().unwrap_or(json!(0));
    let age = |v: Option<i64>| v.map_or_else(|| "U".to_owned(), |s| format!("{s}s"));
    let last_run_age = report
        .last_run
        .as_ref()
        .and_then(|l| l["finished_at"].as_i64())
        .map(|t| now.saturating_sub(t).max(0));
    let perfdata = [
        format!("approved={};;;0", count("approved")),
        format!("pending={};;;0", count("pending")),
        format!("executing={};;;0", count("executing")),
        format!("stuck={};;1;0", report.stuck.len()),
        format!(
            "paused={};1;;0;1",
            u8::from(report.thermal.paused_until.is_some())
        ),
        format!("recent_actions={};;;0", report.thermal.recent_actions),
        format!("alerts_waiting={};;;0", report.alerts.waiting),
        format!("oldest_approved={};;;0", age(report.oldest_approved_age_s)),
        format!("last_run_age={};;;0", age(last_run_age)),
    ]
    .join(" ");
    (
        format!("INBOX-EXEC {} - {text} | {perfdata}\n", verdict.word()),
        verdict.plugin_outcome(),
    )
}

/// Every problem, in the order `status --check` documents; the first sets its exit code.
/// Critical: the queue is not being worked (the last run failed, is missing or stale) or a
/// draft may have acted without a record (stuck). Warning: what clears by itself or only
/// delays a human's knowing (a pause, alerts not delivered).
/// An unusable summary (`summary_unusable`, why) leaves the last run's outcome unknown: a
/// critical problem of its own, in place of the last-run checks.
fn health(
    report: &StatusReport,
    now: i64,
    stale_after: i64,
    undelivered_after: i64,
    summary_unusable: Option<&str>,
) -> Health {
    let mut problems = Vec::new();
    let mut found = |severity, check_exit_code, message: String| {
        problems.push(Problem {
            severity,
            check_exit_code,
            message,
        });
    };
    let last = report.last_run.as_ref();
    let finished = last.and_then(|l| l["finished_at"].as_i64());
    if let Some(why) = summary_unusable {
        found(
            Verdict::Critical,
            exit::LAST_RUN_FAILED,
            format!("{why}: the last run's outcome is unknown"),
        );
    } else if last.is_some_and(|l| l["status"] == "failed") {
        found(
            Verdict::Critical,
            exit::LAST_RUN_FAILED,
            "the last run failed".into(),
        );
    } else {
        match finished {
            None => found(
                Verdict::Critical,
                exit::LAST_RUN_FAILED,
                "no run has finished yet: is the timer running?".into(),
            ),
            Some(t) if now.saturating_sub(t) > stale_after => found(
                Verdict::Critical,
                exit::LAST_RUN_FAILED,
                format!(
                    "the last run finished {} ago: is the timer running?",
                    span(now.saturating_sub(t))
                ),
            ),
            Some(_) => {}
        }
    }
    if !report.stuck.is_empty() {
        found(
            Verdict::Critical,
            exit::STUCK,
            format!(
                "{} draft(s) stuck in executing: see `inbox-exec reconcile`",
                report.stuck.len()
            ),
        );
    }
    if let Some(until) = report.thermal.paused_until {
        found(
            Verdict::Warning,
            exit::PAUSED,
            format!("the thermal cutout is paused until {}", date(until)),
        );
    }
    if let Some(age) = report.alerts.oldest_age_s
        && age > undelivered_after
    {
        found(
            Verdict::Warning,
            exit::ALERTS_UNDELIVERED,
            format!(
                "{} alert(s) waiting, the oldest undeliverable for {}{}: check [notify] and the mail server",
                report.alerts.waiting,
                span(age),
                report
                    .alerts
                    .last_error
                    .as_ref()
                    .map_or_else(String::new, |e| format!(" (last error: {e})")),
            ),
        );
    }
    Health {
        verdict: problems
            .iter()
            .map(|p| p.severity)
            .max()
            .unwrap_or(Verdict::Ok),
        check_exit_code: problems
            .first()
            .map_or(exit::SUCCESS, |p| p.check_exit_code),
        problems,
    }
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
                "paused until {} ({}), {} recent actions",
                date(until),
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
