//! `reconcile`: the drafts a crash left in `executing`, and a human's decision about each.
//! Nothing here ever runs a handler: at most once means a human decides.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::cli::{ReconcileAction, ReconcileArgs, Resolution, ResolveArgs};
use crate::config::Config;
use crate::process::{Liveness, claim_liveness, this_process};
use crate::registry::{self, AttemptKind, AttemptOutcome, Executing, MoveFields, OpenMode, Status};
use crate::report::{Output, ago, span, table};
use crate::stuck::stuck;

/// `reconcile [--older-than D]` lists the drafts in executing; `reconcile resolve` settles one.
pub fn run(config: &Config, args: &ReconcileArgs, now: i64) -> anyhow::Result<Output> {
    if let Some(ReconcileAction::Resolve(resolve_args)) = &args.action {
        return resolve(config, resolve_args, now);
    }
    let older = args
        .older_than
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut reg = registry::open_named(&config.db, &config.postgres, OpenMode::Existing)?;
    let rows = reg
        .executing(now.saturating_sub(older))
        .context("listing drafts in executing")?;
    let list = stuck(rows, now);
    let text = if list.is_empty() {
        "no drafts stuck in executing\n".to_owned()
    } else {
        let mut rows = vec![
            [
                "DRAFT", "KIND", "CLAIMED", "ATTEMPTS", "LAST", "CLAIMER", "TARGET",
            ]
            .map(String::from)
            .to_vec(),
        ];
        rows.extend(list.iter().map(|d| {
            vec![
                d.draft_id.clone(),
                d.kind.clone(),
                ago(d.claimed_at, now),
                d.attempts.to_string(),
                d.last_attempt.clone().unwrap_or_else(|| "-".into()),
                match &d.claimed_by {
                    Some(by) => format!("{} ({by})", d.claimer),
                    None => d.claimer.to_owned(),
                },
                d.target.clone(),
            ]
        }));
        let mut text = table(&rows);
        text.push_str(
            "\nA running claimer may still be acting: wait for it. A dead one's handler may outlive it (a run killed outright does not take its handler along): check that none still runs, and check the target, then\n  inbox-exec reconcile resolve ID --as completed [--url URL] | --as failed --note TEXT | --as terminal --note TEXT\n",
        );
        text
    };
    Ok(Output::done(text, &list))
}

/// Refuses to settle a draft whose claimer may still be dispatching it: a human's "failed"
/// while a handler is still running would record an outcome the handler then contradicts.
fn may_settle(
    id: &str,
    claim: Option<&Executing>,
    stuck_after: Duration,
    now: i64,
) -> anyhow::Result<()> {
    let Some(claim) = claim else {
        bail!(
            "draft {id} has no readable claim time, so whether its claimer may still be acting is unknown: check that no executor is dispatching it, then pass --force"
        );
    };
    let alive = claim_liveness(claim.session_alive, claim.claimer.as_ref(), &this_process());
    if alive == Liveness::Running {
        let by = claim.claimer.as_ref().map_or(0, |c| c.pid);
        bail!(
            "draft {id} was claimed by process {by}, which is still running: its handler may still be acting; wait for it to finish (or stop it), or pass --force"
        );
    }
    let stuck_after = i64::try_from(stuck_after.as_secs()).unwrap_or(i64::MAX);
    let age = now.saturating_sub(claim.claimed_at);
    if age < stuck_after {
        bail!(
            "draft {id} was claimed {} ago, less than stuck_after ({}): its claimer may still be dispatching it; wait until then, or pass --force if you know it is not",
            span(age.max(0)),
            span(stuck_after)
        );
    }
    match alive {
        Liveness::Unknown(why) => bail!(
            "draft {id}'s claimer may still be running and cannot be checked from here ({why}): make sure no executor is still dispatching it, then pass --force"
        ),
        Liveness::Dead | Liveness::Running => Ok(()),
    }
}

fn resolve(config: &Config, args: &ResolveArgs, now: i64) -> anyhow::Result<Output> {
    let id = args.id.as_str();
    let (to, note) = match args.resolution {
        Resolution::Completed => (Status::Completed, args.note.clone()),
        Resolution::Failed | Resolution::Terminal => {
            let Some(note) = args.note.clone().filter(|n| !n.trim().is_empty()) else {
                bail!(
                    "--note is required with --as failed or --as terminal: say what you checked and found"
                );
            };
            let to = if args.resolution == Resolution::Failed {
                Status::CompletedWithError
            } else {
                Status::TerminalUnrecoverable
            };
            (to, Some(note))
        }
    };
    if args.url.is_some() && to != Status::Completed {
        bail!("--url goes with --as completed only");
    }
    let mut reg = registry::open_named(&config.db, &config.postgres, OpenMode::Existing)?;
    registry::find(&mut *reg, id)?.require(Status::Executing, "reconciled")?;
    let claim = reg.executing(i64::MAX)?.into_iter().find(|e| e.id == id);
    if !args.force {
        may_settle(id, claim.as_ref(), config.stuck_after, now)?;
    }
    let reason = note.unwrap_or_else(|| "settled as completed by a human".into());
    let fields = MoveFields {
        executed_url: args.url.as_deref(),
        last_error: (to != Status::Completed).then_some(reason.as_str()),
        completed: true,
        ..MoveFields::default()
    };
    let moved = registry::write(&mut *reg, |w| {
        let moved = w.transition(id, Status::Executing, to, &fields, now)?;
        if moved {
            let outcome = if to == Status::Completed {
                AttemptOutcome::Ok
            } else {
                AttemptOutcome::Failed
            };
            w.record_attempt(
                id,
                AttemptKind::Reconcile,
                outcome,
                Some(&reason),
                args.url.as_deref(),
                now,
            )?;
        }
        Ok(moved)
    })
    .with_context(|| format!("settling draft {id}"))?;
    if !moved {
        bail!(
            "draft {id} left executing while you were settling it: look again with `inbox-exec show {id}`"
        );
    }
    Ok(Output::done(
        format!("{id} {to}\n"),
        json!({ "draft_id": id, "status": to.as_str() }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RowKey;

    /// A claim `age` seconds old whose claimer is known to be gone.
    fn dead_claim(now: i64, age: i64) -> Executing {
        Executing {
            id: "d1".into(),
            kind: "ledger_done".into(),
            target: "{}".into(),
            claimed_at: now - age,
            claimer: None,
            attempts: 1,
            last_attempt: None,
            alerted: false,
            session_alive: Some(false),
            key: RowKey::for_tests(),
        }
    }

    /// `stuck_after` is where a claim becomes stuck: one second younger still needs
    /// `--force`, exactly that old does not.
    #[test]
    fn a_dead_claim_may_be_settled_from_exactly_stuck_after_on() {
        let now = 1_700_000_000;
        let stuck_after = Duration::from_secs(600);
        let early = may_settle("d1", Some(&dead_claim(now, 599)), stuck_after, now)
            .expect_err("a claim younger than stuck_after needs --force");
        assert!(
            early.to_string().contains("less than stuck_after"),
            "{early}"
        );
        may_settle("d1", Some(&dead_claim(now, 600)), stuck_after, now)
            .expect("a claim exactly stuck_after old is stuck");
    }
}
