//! `run`: one bounded cycle (the executor), with the signal wiring that lets the draft in hand
//! finish, and the human rendering of its report.

use std::cell::LazyCell;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;

use crate::cli::RunArgs;
use crate::clock::unix_now;
use crate::config::{Config, HostEnv};
use crate::cycle_report::{CycleReport, DraftResult, RunStatus};
use crate::dispatch::{ChildEnv, Handlers};
use crate::executor::{Cycle, RunOptions};
use crate::notify::Mailer;
use crate::registry::Claimer;
use crate::report::{Output, ago, date, table};

/// Runs one cycle. The alerts it wrote to the outbox are sent at the end, whatever happened.
/// `json`: the output is the `--json` document (only the form that will be printed is built).
pub fn run(config: &Config, args: &RunArgs, env: &HostEnv, json: bool) -> anyhow::Result<Output> {
    let handlers = Handlers::new(config, ChildEnv::new(env.vars.clone()));
    let password = env
        .vars
        .get(std::ffi::OsStr::new("INBOX_EXEC_SMTP_PASSWORD"))
        .map(|v| v.to_string_lossy().into_owned());
    let mailer = config
        .notify
        .clone()
        .map(|notify| Mailer::new(notify, password));
    let clock = unix_now;
    let options = RunOptions {
        batch: usize::from(config.batch),
        dry_run: args.dry_run,
    };
    let stop = stop_on_signals()?;
    let claimer: LazyCell<Claimer> = LazyCell::new(crate::process::this_process);
    let result = Cycle {
        config,
        handlers: &handlers,
        mailer: mailer.as_ref(),
        clock: &clock,
        claimer: &claimer,
        stop: &stop,
    }
    .run(options);
    let report = result?;
    let output = Output::done_as(json, || run_text(&report, clock()), &report);
    Ok(match report.summary_error {
        Some(e) => output.failed(e),
        None => output,
    })
}

/// Stop requests (`crate::stop`): the first finishes the draft in hand and claims no more;
/// a second exits at once, killing the handler in hand first.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = crate::stop::install().context("installing the signal handlers")?;
    // A parent that ignores SIGCHLD passes that on through exec, and the kernel then reaps
    // each handler the moment it exits: waitid(2) finds no child, and a comment that was
    // posted would be recorded as a failure. Any handler of ours undoes the ignoring; this
    // one only notes the signal (poll(2) and waitid(2) here already retry on EINTR).
    signal_hook::flag::register(
        signal_hook::consts::SIGCHLD,
        Arc::new(AtomicBool::new(false)),
    )
    .context("installing the SIGCHLD handler")?;
    Ok(stop)
}

fn run_text(report: &CycleReport, now: i64) -> String {
    let dry = if report.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    let mut text = match report.status {
        RunStatus::Skipped => return "skipped: another run holds the lock\n".to_owned(),
        RunStatus::Failed => String::from("failed\n"),
        RunStatus::Idle => format!("idle: no approved drafts{dry}\n"),
        RunStatus::Paused => String::new(),
        RunStatus::Ran => format!("ran: {} draft(s){dry}\n", report.processed),
    };
    text.push_str(&result_rows(&report.results));
    if !report.recorded_late.is_empty() {
        text.push_str("recorded from an earlier run that could not write them:\n");
        text.push_str(&result_rows(&report.recorded_late));
    }
    if let Some(until) = report.paused_until {
        text.push_str(&format!(
            "paused: thermal cutout in force until {} ({})\n",
            date(until),
            ago(until, now)
        ));
    }
    text
}

fn result_rows(results: &[DraftResult]) -> String {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                format!("  {}", r.outcome.as_str()),
                r.draft_id.clone(),
                r.kind.clone(),
                r.reason
                    .clone()
                    .or_else(|| r.executed_url.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&rows)
}
