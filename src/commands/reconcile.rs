//! `reconcile`: the drafts a crash left in `executing`, and a human's decision about each.
//! Nothing here ever runs a handler: at most once means a human decides.

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::cli::{ReconcileAction, ReconcileArgs, Resolution, ResolveArgs};
use crate::config::{Config, parse_duration};
use crate::process::{Liveness, liveness, this_process};
use crate::registry::{self, AttemptKind, AttemptOutcome, MoveFields, OpenMode, Status};
use crate::report::{Output, ago, table};
use crate::stuck::stuck;

/// `reconcile [--older-than D]` lists the drafts in executing; `reconcile resolve` settles one.
pub fn run(config: &Config, args: &ReconcileArgs, now: i64) -> anyhow::Result<Output> {
    if let Some(ReconcileAction::Resolve(resolve_args)) = &args.action {
        return resolve(config, resolve_args, now);
    }
    let older = match &args.older_than {
        Some(text) => {
            i64::try_from(parse_duration(text, "--older-than")?.as_secs()).unwrap_or(i64::MAX)
        }
        None => 0,
    };
    let mut reg = registry::open(&config.db, OpenMode::Existing)
        .with_context(|| format!("opening registry {}", config.db.display()))?;
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
            "\nA running claimer may still be acting: wait for it. For the others, check the target, then\n  inbox-exec reconcile resolve ID --as completed [--url URL] | --as failed --note TEXT | --as terminal --note TEXT\n",
        );
        text
    };
    Ok(Output::done(text, &list))
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
    let mut reg = registry::open(&config.db, OpenMode::Existing)
        .with_context(|| format!("opening registry {}", config.db.display()))?;
    registry::find(&mut *reg, id)?.require(Status::Executing, "reconciled")?;
    let claim = reg.executing(i64::MAX)?.into_iter().find(|e| e.id == id);
    if let Some(claim) = &claim
        && liveness(claim.claimer.as_ref(), &this_process()) == Liveness::Running
    {
        let by = claim.claimer.as_ref().map_or(0, |c| c.pid);
        bail!(
            "draft {id} was claimed by process {by}, which is still running: its handler may still be acting; wait for it to finish (or stop it) before settling the draft"
        );
    }
    let reason = note.unwrap_or_else(|| "settled as completed by a human".into());
    let fields = MoveFields {
        executed_url: args.url.as_deref(),
        last_error: (to != Status::Completed).then_some(reason.as_str()),
        completed: true,
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
